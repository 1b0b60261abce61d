/* coffer — org.freedesktop.Secret.Prompt objects.
 *
 * A prompt belongs to the peer that got it from Unlock or CreateCollection:
 * only that peer may call Prompt(), and the prompt is dismissed when that peer
 * leaves the bus.  Prompt() hands the work to the prompter (agent/prompt/),
 * which completes once the vault is unlocked; the prompt then runs its action
 * and sends Completed(false, result) to its owner.  Dismiss(), a cancelled
 * prompter or the owner leaving end it with Completed(true, empty result).
 *
 * Unlock prompts share one prompter request: a second Prompt() while one is
 * pending (from the same client or another) waits for the same answer
 * instead of opening a second dialog.  The request is cancelled only when
 * the last prompt waiting on it goes away.  A change-password prompt
 * (ChangeWithPrompt) runs its own request. */
#include "config.h"

#include <string.h>

#include "service/service-private.h"

typedef enum { PROMPT_UNLOCK, PROMPT_CHANGE_PASSWORD } PromptKind;

/* One prompter unlock request and the prompts waiting for it. */
struct CofferSharedUnlock {
  CofferService *service;
  GCancellable *cancellable;
  GPtrArray *waiters; /* CofferPrompt* (references) */
};

struct CofferPrompt {
  gint refs;
  PromptKind kind;
  CofferSharedUnlock *shared; /* the request this prompt waits for, or NULL */
  CofferService *service;     /* NULL once the prompt is finished */
  char *path;
  char *owner;
  CofferPromptAction action;
  gpointer data;
  GDestroyNotify data_free;
  GVariant *empty_result;
  GCancellable *cancellable;
  gboolean started;
};

static CofferPrompt *
prompt_ref(CofferPrompt *prompt)
{
  g_atomic_int_inc(&prompt->refs);
  return prompt;
}

void
coffer_prompt_unref(CofferPrompt *prompt)
{
  if (!g_atomic_int_dec_and_test(&prompt->refs))
    return;
  if (prompt->data_free != NULL)
    prompt->data_free(prompt->data);
  g_variant_unref(prompt->empty_result);
  g_object_unref(prompt->cancellable);
  g_free(prompt->owner);
  g_free(prompt->path);
  g_free(prompt);
}

static const char *
prompt_new(CofferService *service, PromptKind kind, const char *owner, CofferPromptAction action, gpointer data,
           GDestroyNotify data_free, GVariant *empty_result)
{
  CofferPrompt *prompt = g_new0(CofferPrompt, 1);

  prompt->refs = 1;
  prompt->kind = kind;
  prompt->service = service;
  prompt->path = g_strdup_printf(SECRET_PROMPT_PREFIX "/p%" G_GUINT64_FORMAT, ++service->next_prompt);
  prompt->owner = g_strdup(owner);
  prompt->action = action;
  prompt->data = data;
  prompt->data_free = data_free;
  prompt->empty_result = g_variant_ref_sink(empty_result);
  prompt->cancellable = g_cancellable_new();
  g_hash_table_replace(service->prompts, prompt->path, prompt);
  return prompt->path;
}

const char *
coffer_prompt_new(CofferService *service, const char *owner, CofferPromptAction action, gpointer data,
                  GDestroyNotify data_free, GVariant *empty_result)
{
  return prompt_new(service, PROMPT_UNLOCK, owner, action, data, data_free, empty_result);
}

const char *
coffer_prompt_new_change_password(CofferService *service, const char *owner, CofferPromptAction action, gpointer data,
                                  GDestroyNotify data_free, GVariant *empty_result)
{
  return prompt_new(service, PROMPT_CHANGE_PASSWORD, owner, action, data, data_free, empty_result);
}

/* Sends Completed once and unexports the prompt. */
static void
prompt_complete(CofferPrompt *prompt, gboolean dismissed, GVariant *result)
{
  CofferService *service = prompt->service;
  g_autoptr(GVariant) owned = result ? g_variant_ref_sink(result) : g_variant_ref(prompt->empty_result);

  if (service == NULL)
    return;
  prompt->service = NULL;
  coffer_service_emit(service, prompt->owner, prompt->path, SECRET_PROMPT_IFACE, "Completed",
                      g_variant_new("(bv)", dismissed, owned));
  g_hash_table_remove(service->prompts, prompt->path);
}

/* Runs the prompt's action once the prompter succeeded (error NULL), and
 * completes the prompt. */
static void
prompt_finish(CofferPrompt *prompt, const GError *prompter_error)
{
  g_autoptr(GError) error = prompter_error ? g_error_copy(prompter_error) : NULL;
  GVariant *value = NULL;

  if (prompt->service == NULL)
    return;
  if (error == NULL)
    value = prompt->action(prompt->service, prompt->data, &error);
  if (value == NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message("prompt %s did not complete: %s", prompt->path, error->message);
  prompt_complete(prompt, value == NULL, value);
}

static void
shared_unlock_free(CofferSharedUnlock *shared)
{
  g_ptr_array_unref(shared->waiters);
  g_object_unref(shared->cancellable);
  g_free(shared);
}

static void
on_shared_unlocked(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CofferSharedUnlock *shared = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) waiters = g_steal_pointer(&shared->waiters);

  coffer_prompter_unlock_finish(COFFER_PROMPTER(source), result, &error);
  /* With nobody waiting, the service forgot this request already (and may be
   * gone); otherwise it is still the pending one. */
  if (waiters->len > 0 && shared->service->pending_unlock == shared)
    shared->service->pending_unlock = NULL;
  shared->waiters = g_ptr_array_new();
  for (guint i = 0; i < waiters->len; i++) {
    CofferPrompt *prompt = waiters->pdata[i];
    prompt->shared = NULL;
    prompt_finish(prompt, error);
  }
  shared_unlock_free(shared);
}

/* Waits for the pending unlock request, starting one if there is none. */
static void
prompt_join_unlock(CofferService *service, CofferPrompt *prompt, const char *window_id)
{
  CofferSharedUnlock *shared = service->pending_unlock;
  gboolean start = shared == NULL;

  if (start) {
    shared = g_new0(CofferSharedUnlock, 1);
    shared->service = service;
    shared->cancellable = g_cancellable_new();
    shared->waiters = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_prompt_unref);
    service->pending_unlock = shared;
  }
  g_ptr_array_add(shared->waiters, prompt_ref(prompt));
  prompt->shared = shared;
  if (start)
    coffer_prompter_unlock_async(service->prompter, service->vault, window_id, shared->cancellable, on_shared_unlocked,
                                 shared);
}

/* Stops waiting; the request is cancelled when nobody else waits for it. */
static void
prompt_leave_unlock(CofferPrompt *prompt)
{
  CofferSharedUnlock *shared = prompt->shared;

  if (shared == NULL)
    return;
  prompt->shared = NULL;
  g_ptr_array_remove(shared->waiters, prompt);
  if (shared->waiters->len == 0) {
    if (shared->service->pending_unlock == shared)
      shared->service->pending_unlock = NULL;
    g_cancellable_cancel(shared->cancellable);
  }
}

static void
on_password_changed(GObject *source, GAsyncResult *result, gpointer user_data)
{
  CofferPrompt *prompt = user_data;
  g_autoptr(GError) error = NULL;

  coffer_prompter_change_password_finish(COFFER_PROMPTER(source), result, &error);
  prompt_finish(prompt, error);
  coffer_prompt_unref(prompt);
}

static void
prompt_prompt(CofferService *service, CofferPrompt *prompt, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *window_id;

  if (prompt->started) {
    g_dbus_method_invocation_return_error_literal(invocation, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_ALREADY_EXISTS,
                                                  "the prompt is already running");
    return;
  }
  g_variant_get(parameters, "(&s)", &window_id);
  prompt->started = TRUE;
  g_dbus_method_invocation_return_value(invocation, NULL);
  if (prompt->kind == PROMPT_UNLOCK)
    prompt_join_unlock(service, prompt, window_id);
  else
    coffer_prompter_change_password_async(service->prompter, service->vault, window_id, prompt->cancellable,
                                          on_password_changed, prompt_ref(prompt));
}

static void
prompt_dismiss(CofferService *service, CofferPrompt *prompt, GDBusMethodInvocation *invocation)
{
  g_dbus_method_invocation_return_value(invocation, NULL);
  prompt_leave_unlock(prompt);
  g_cancellable_cancel(prompt->cancellable);
  /* Complete now; a running prompter's late callback finds it finished. */
  prompt_complete(prompt, TRUE, NULL);
}

static void
prompt_method(GDBusConnection *connection, const char *sender, const char *path, const char *iface, const char *method,
              GVariant *parameters, GDBusMethodInvocation *invocation, gpointer user_data)
{
  CofferService *service = user_data;
  CofferPrompt *prompt = g_hash_table_lookup(service->prompts, path);

  if (prompt == NULL) {
    g_dbus_method_invocation_return_error_literal(invocation, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_NO_SUCH_OBJECT,
                                                  "no such prompt");
    return;
  }
  if (g_strcmp0(prompt->owner, sender) != 0) {
    g_dbus_method_invocation_return_dbus_error(invocation, DBUS_ERROR_ACCESS_DENIED,
                                               "the prompt belongs to another client");
    return;
  }
  if (strcmp(method, "Prompt") == 0)
    prompt_prompt(service, prompt, parameters, invocation);
  else
    prompt_dismiss(service, prompt, invocation);
}

void
coffer_prompts_forget_peer(CofferService *service, const char *name)
{
  GHashTableIter iter;
  CofferPrompt *prompt;
  g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_prompt_unref);

  g_hash_table_iter_init(&iter, service->prompts);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&prompt))
    if (strcmp(prompt->owner, name) == 0)
      g_ptr_array_add(gone, prompt_ref(prompt));
  for (guint i = 0; i < gone->len; i++) {
    prompt = gone->pdata[i];
    prompt_leave_unlock(prompt);
    g_cancellable_cancel(prompt->cancellable);
    prompt->service = NULL;
    g_hash_table_remove(service->prompts, prompt->path);
  }
}

const GDBusInterfaceVTable coffer_prompt_vtable = { prompt_method, NULL, NULL, { 0 } };
