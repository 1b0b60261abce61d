/* coffer — the prompter interface and the external prompter, which waits
 * for the vault to be unlocked through the control socket. */
#include "config.h"

#include "prompt/prompter.h"

G_DEFINE_INTERFACE(CofferPrompter, coffer_prompter, G_TYPE_OBJECT)

static void
coffer_prompter_default_init(CofferPrompterInterface *iface)
{
}

void
coffer_prompter_unlock_async(CofferPrompter *self, CofferVault *vault, const char *window_id, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  COFFER_PROMPTER_GET_IFACE(self)->unlock_async(self, vault, window_id, cancellable, callback, user_data);
}

gboolean
coffer_prompter_unlock_finish(CofferPrompter *self, GAsyncResult *result, GError **error)
{
  return COFFER_PROMPTER_GET_IFACE(self)->unlock_finish(self, result, error);
}

void
coffer_prompter_change_password_async(CofferPrompter *self, CofferVault *vault, const char *window_id,
                                      GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  COFFER_PROMPTER_GET_IFACE(self)->change_password_async(self, vault, window_id, cancellable, callback, user_data);
}

gboolean
coffer_prompter_change_password_finish(CofferPrompter *self, GAsyncResult *result, GError **error)
{
  return COFFER_PROMPTER_GET_IFACE(self)->change_password_finish(self, result, error);
}

void
coffer_prompter_confirm_async(CofferPrompter *self, const char *title, const char *description, const char *ok_label,
                              const char *cancel_label, const char *notok_label, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  COFFER_PROMPTER_GET_IFACE(self)->confirm_async(self, title, description, ok_label, cancel_label, notok_label,
                                                 cancellable, callback, user_data);
}

CofferConfirmResult
coffer_prompter_confirm_finish(CofferPrompter *self, GAsyncResult *result, GError **error)
{
  int answer = COFFER_PROMPTER_GET_IFACE(self)->confirm_finish(self, result, error);

  /* Implementations return -1 (g_task_propagate_int) with the error. */
  return answer < 0 ? COFFER_CONFIRM_CANCEL : (CofferConfirmResult)answer;
}

struct _CofferExternalPrompter {
  GObject parent_instance;
};

static void coffer_external_prompter_iface_init(CofferPrompterInterface *iface);

G_DEFINE_TYPE_WITH_CODE(CofferExternalPrompter, coffer_external_prompter, G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(COFFER_TYPE_PROMPTER, coffer_external_prompter_iface_init))

/* One wait: completes on the first lock-changed(FALSE) or on cancellation. */
typedef struct {
  CofferVault *vault; /* reference */
  gulong lock_handler;
  gulong cancel_handler;
  GCancellable *cancellable;
} Wait;

static void
wait_free(Wait *wait)
{
  if (wait->lock_handler != 0)
    g_signal_handler_disconnect(wait->vault, wait->lock_handler);
  g_object_unref(wait->vault);
  g_clear_object(&wait->cancellable);
  g_free(wait);
}

static void
wait_finish(GTask *task, GError *error)
{
  Wait *wait = g_task_get_task_data(task);

  /* Detach first: the task may be the last thing keeping us alive. */
  if (wait->lock_handler != 0) {
    g_signal_handler_disconnect(wait->vault, wait->lock_handler);
    wait->lock_handler = 0;
  }
  if (wait->cancel_handler != 0) {
    /* g_cancellable_disconnect would deadlock when called from the
     * cancelled handler itself; this only runs from the main loop. */
    g_signal_handler_disconnect(wait->cancellable, wait->cancel_handler);
    wait->cancel_handler = 0;
  }
  if (error != NULL)
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

static void
on_lock_changed(CofferVault *vault, gboolean locked, GTask *task)
{
  if (!locked)
    wait_finish(task, NULL);
}

static gboolean
cancel_idle(gpointer data)
{
  GTask *task = data;
  Wait *wait = g_task_get_task_data(task);

  if (wait->lock_handler != 0 || wait->cancel_handler != 0)
    wait_finish(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "the prompt was dismissed"));
  g_object_unref(task);
  return G_SOURCE_REMOVE;
}

static void
on_cancelled(GCancellable *cancellable, GTask *task)
{
  /* Finish from an idle so we never disconnect inside the emission. */
  g_idle_add(cancel_idle, g_object_ref(task));
}

static void
external_unlock_async(CofferPrompter *self, CofferVault *vault, const char *window_id, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, NULL, callback, user_data);
  Wait *wait = g_new0(Wait, 1);

  wait->vault = g_object_ref(vault);
  g_task_set_task_data(task, wait, (GDestroyNotify)wait_free);
  if (g_cancellable_is_cancelled(cancellable)) {
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the prompt was dismissed");
    g_object_unref(task);
    return;
  }
  if (!coffer_vault_is_locked(vault)) {
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  g_message("an application asks to unlock the keyring: run `coffer %s` to continue",
            coffer_vault_is_initialized(vault) ? "unlock" : "init");
  wait->lock_handler = g_signal_connect(vault, "lock-changed", G_CALLBACK(on_lock_changed), task);
  if (cancellable != NULL) {
    wait->cancellable = g_object_ref(cancellable);
    wait->cancel_handler = g_signal_connect(cancellable, "cancelled", G_CALLBACK(on_cancelled), task);
  }
}

static gboolean
external_unlock_finish(CofferPrompter *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void
external_change_password_async(CofferPrompter *self, CofferVault *vault, const char *window_id,
                               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, NULL, callback, user_data);

  g_message("an application asks to change the keyring password: run `coffer passwd` to do that");
  g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                          "no pinentry is configured to ask for passwords; use `coffer passwd`");
  g_object_unref(task);
}

static gboolean
external_change_password_finish(CofferPrompter *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

/* Nobody can be asked, so the answer is no (cancel, if the caller already
 * gave up). */
static void
external_confirm_async(CofferPrompter *self, const char *title, const char *description, const char *ok_label,
                       const char *cancel_label, const char *notok_label, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, NULL, callback, user_data);

  g_task_return_int(task, g_cancellable_is_cancelled(cancellable) ? COFFER_CONFIRM_CANCEL : COFFER_CONFIRM_DENY);
  g_object_unref(task);
}

static int
external_confirm_finish(CofferPrompter *self, GAsyncResult *result, GError **error)
{
  return (int)g_task_propagate_int(G_TASK(result), error);
}

static void
coffer_external_prompter_iface_init(CofferPrompterInterface *iface)
{
  iface->unlock_async = external_unlock_async;
  iface->unlock_finish = external_unlock_finish;
  iface->change_password_async = external_change_password_async;
  iface->change_password_finish = external_change_password_finish;
  iface->confirm_async = external_confirm_async;
  iface->confirm_finish = external_confirm_finish;
}

static void
coffer_external_prompter_class_init(CofferExternalPrompterClass *klass)
{
}

static void
coffer_external_prompter_init(CofferExternalPrompter *self)
{
}

CofferPrompter *
coffer_external_prompter_new(void)
{
  return g_object_new(COFFER_TYPE_EXTERNAL_PROMPTER, NULL);
}
