/* coffer — per-application access control (see access.h). */
#include "config.h"

#include <string.h>

#include "access/access.h"
#include "prompt/pinentry.h"

#define DECISION_ALLOW "allow"
#define ATTR_APP "app"
#define ATTR_ITEM "item"
#define ATTR_DECISION "decision"
/* Labels named in one question, and how much of each. */
#define MAX_LABELS_SHOWN 5
#define MAX_LABEL_CHARS 80

/* What a check needs of an item, copied: the item may be gone by the time
 * the user answers. */
typedef struct {
  char *name;
  char *label;
  char *app; /* creator, or NULL */
} ItemRef;

typedef struct {
  CofferAccess *access; /* NULL once the access object is gone */
  char *sender;
  GPtrArray *items; /* ItemRef* */
  GPtrArray *asked; /* ItemRef* (borrowed from items): in the open question */
  CofferAppInfo *caller;
  GTask *task;
  GCancellable *cancellable;
} Check;

struct _CofferAccess {
  CofferVault *vault;
  CofferPrompter *prompter;
  CofferAppInfoCache *apps;
  gboolean ask;
  GQueue queue;       /* Check*, identified, waiting for their turn */
  Check *asking;      /* the check whose question is open, or NULL */
  GPtrArray *checks;  /* every live Check (for forget/free) */
  GHashTable *denied; /* sender -> set of item names denied until it leaves */
};

static void process_queue(CofferAccess *access);

static void
item_ref_free(ItemRef *ref)
{
  g_free(ref->name);
  g_free(ref->label);
  g_free(ref->app);
  g_free(ref);
}

static void
check_free(Check *check)
{
  if (check->access != NULL)
    g_ptr_array_remove_fast(check->access->checks, check);
  g_ptr_array_unref(check->items);
  g_clear_pointer(&check->asked, g_ptr_array_unref);
  g_clear_pointer(&check->caller, coffer_app_info_unref);
  g_clear_object(&check->cancellable);
  g_free(check->sender);
  g_free(check);
}

/* Completes the check's task and frees it. */
static void
check_done(Check *check, GError *error)
{
  GTask *task = check->task;

  check_free(check);
  if (error != NULL)
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

static GError *
denied_error(const char *message)
{
  return g_error_new_literal(G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED, message);
}

/* ---- lifecycle -------------------------------------------------------------------- */

CofferAccess *
coffer_access_new(GDBusConnection *connection, CofferVault *vault, CofferPrompter *prompter)
{
  CofferAccess *access = g_new0(CofferAccess, 1);

  access->vault = g_object_ref(vault);
  access->prompter = g_object_ref(prompter);
  access->apps = coffer_app_info_cache_new(connection);
  access->checks = g_ptr_array_new();
  access->denied = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  g_queue_init(&access->queue);
  return access;
}

void
coffer_access_free(CofferAccess *access)
{
  if (access == NULL)
    return;
  /* Checks still in flight finish on their own (their callbacks find no
   * access object); an open dialog is closed. */
  for (guint i = 0; i < access->checks->len; i++) {
    Check *check = access->checks->pdata[i];
    check->access = NULL;
    g_cancellable_cancel(check->cancellable);
  }
  g_ptr_array_unref(access->checks);
  g_queue_clear(&access->queue);
  g_hash_table_unref(access->denied);
  coffer_app_info_cache_free(access->apps);
  g_object_unref(access->prompter);
  g_object_unref(access->vault);
  g_free(access);
}

void
coffer_access_set_ask(CofferAccess *access, gboolean ask)
{
  access->ask = ask;
}

gboolean
coffer_access_asks(CofferAccess *access)
{
  return access->ask;
}

void
coffer_access_forget_peer(CofferAccess *access, const char *sender)
{
  coffer_app_info_cache_forget(access->apps, sender);
  g_hash_table_remove(access->denied, sender);
  for (guint i = 0; i < access->checks->len; i++) {
    Check *check = access->checks->pdata[i];
    if (strcmp(check->sender, sender) == 0)
      g_cancellable_cancel(check->cancellable);
  }
  /* Queued ones are dropped when their turn comes (cancelled). */
}

CofferAppInfo *
coffer_access_peek_app(CofferAccess *access, const char *sender)
{
  return coffer_app_info_cache_peek(access->apps, sender);
}

void
coffer_access_identify_async(CofferAccess *access, const char *sender, GAsyncReadyCallback callback, gpointer user_data)
{
  coffer_app_info_lookup_async(access->apps, sender, callback, user_data);
}

/* ---- stored decisions ------------------------------------------------------------- */

void
coffer_access_decision_free(CofferAccessDecision *decision)
{
  g_free(decision->app);
  g_free(decision->item);
  g_free(decision->decision);
  g_free(decision);
}

static gboolean
stored_allow(CofferVault *vault, const char *app, const char *item_name)
{
  CofferCollection *decisions = coffer_vault_get_access_collection(vault, FALSE, NULL);
  g_autoptr(GHashTable) query = NULL;
  g_autoptr(GPtrArray) found = NULL;

  if (decisions == NULL)
    return FALSE;
  query = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(query, ATTR_APP, (gpointer)app);
  g_hash_table_insert(query, ATTR_ITEM, (gpointer)item_name);
  found = coffer_vault_search(vault, decisions, query, NULL);
  for (guint i = 0; found != NULL && i < found->len; i++) {
    GHashTable *attributes = coffer_item_get_attributes(found->pdata[i]);
    if (attributes != NULL && g_strcmp0(g_hash_table_lookup(attributes, ATTR_DECISION), DECISION_ALLOW) == 0)
      return TRUE;
  }
  return FALSE;
}

gboolean
coffer_access_remember(CofferVault *vault, const char *app, const char *item_name, const char *label, GError **error)
{
  CofferCollection *decisions = coffer_vault_get_access_collection(vault, TRUE, error);
  g_autoptr(GHashTable) attributes = NULL;
  g_autofree char *who = coffer_app_id_describe(app);
  g_autofree char *text = NULL;
  CofferItemContent content = { 0 };

  if (decisions == NULL)
    return FALSE;
  attributes = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(attributes, ATTR_APP, (gpointer)app);
  g_hash_table_insert(attributes, ATTR_ITEM, (gpointer)item_name);
  g_hash_table_insert(attributes, ATTR_DECISION, DECISION_ALLOW);
  text = g_strdup_printf("%s may read %s", who, label ? label : item_name);
  content.label = text;
  content.attributes = attributes;
  content.content_type = "text/plain";
  content.secret = (const guint8 *)"";
  /* replace: the same (app, item, decision) is one record, not a pile. */
  return coffer_vault_create_item(vault, decisions, &content, TRUE, NULL, error) != NULL;
}

static gboolean
require_unlocked(CofferVault *vault, GError **error)
{
  if (!coffer_vault_is_locked(vault))
    return TRUE;
  g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED, "the vault is locked");
  return FALSE;
}

static gint
compare_decisions(gconstpointer a, gconstpointer b)
{
  const CofferAccessDecision *da = *(CofferAccessDecision *const *)a;
  const CofferAccessDecision *db = *(CofferAccessDecision *const *)b;
  int by_app = g_strcmp0(da->app, db->app);

  return by_app != 0 ? by_app : g_strcmp0(da->item, db->item);
}

GPtrArray *
coffer_access_list_decisions(CofferVault *vault, GError **error)
{
  GPtrArray *list;
  CofferCollection *decisions;
  g_autoptr(GPtrArray) items = NULL;

  if (!require_unlocked(vault, error))
    return NULL;
  list = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_access_decision_free);
  decisions = coffer_vault_get_access_collection(vault, FALSE, NULL);
  if (decisions == NULL)
    return list;
  items = coffer_collection_list_items(decisions);
  for (guint i = 0; i < items->len; i++) {
    GHashTable *attributes = coffer_item_get_attributes(items->pdata[i]);
    CofferAccessDecision *decision;
    if (attributes == NULL || !g_hash_table_contains(attributes, ATTR_APP) ||
        !g_hash_table_contains(attributes, ATTR_ITEM))
      continue; /* unreadable, or not a decision: nothing we could act on */
    decision = g_new0(CofferAccessDecision, 1);
    decision->app = g_strdup(g_hash_table_lookup(attributes, ATTR_APP));
    decision->item = g_strdup(g_hash_table_lookup(attributes, ATTR_ITEM));
    decision->decision = g_strdup(g_hash_table_lookup(attributes, ATTR_DECISION));
    if (decision->decision == NULL)
      decision->decision = g_strdup("");
    decision->created = coffer_item_get_created(items->pdata[i]);
    g_ptr_array_add(list, decision);
  }
  g_ptr_array_sort(list, compare_decisions);
  return list;
}

gint
coffer_access_revoke(CofferVault *vault, const char *app, const char *item, GError **error)
{
  CofferCollection *decisions;
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(GPtrArray) doomed = g_ptr_array_new();
  gint removed = 0;

  if (!require_unlocked(vault, error))
    return -1;
  decisions = coffer_vault_get_access_collection(vault, FALSE, NULL);
  if (decisions == NULL)
    return 0;
  items = coffer_collection_list_items(decisions);
  for (guint i = 0; i < items->len; i++) {
    GHashTable *attributes = coffer_item_get_attributes(items->pdata[i]);
    if (attributes != NULL && coffer_app_id_matches(g_hash_table_lookup(attributes, ATTR_APP), app) &&
        (item == NULL || g_strcmp0(g_hash_table_lookup(attributes, ATTR_ITEM), item) == 0))
      g_ptr_array_add(doomed, items->pdata[i]);
  }
  /* Collected first: deleting changes the collection being listed. */
  for (guint i = 0; i < doomed->len; i++) {
    if (!coffer_vault_delete_item(vault, doomed->pdata[i], error))
      return -1;
    removed++;
  }
  return removed;
}

/* ---- judging a check ---------------------------------------------------------------- */

typedef enum { VERDICT_ALLOW, VERDICT_DENY, VERDICT_ASK } Verdict;

static gboolean
denied_before(CofferAccess *access, const char *sender, const char *item_name)
{
  GHashTable *items = g_hash_table_lookup(access->denied, sender);

  return items != NULL && g_hash_table_contains(items, item_name);
}

static Verdict
judge(CofferAccess *access, Check *check, const ItemRef *item)
{
  const char *caller = coffer_app_info_get_id(check->caller);

  if (caller != NULL && g_strcmp0(item->app, caller) == 0)
    return VERDICT_ALLOW; /* its own */
  if (caller != NULL && stored_allow(access->vault, caller, item->name))
    return VERDICT_ALLOW;
  if (denied_before(access, check->sender, item->name))
    return VERDICT_DENY;
  return VERDICT_ASK;
}

/* "“a”, “b” and 3 more" */
static void
append_labels(GString *text, GPtrArray *asked)
{
  for (guint i = 0; i < asked->len && i < MAX_LABELS_SHOWN; i++) {
    const ItemRef *ref = asked->pdata[i];
    const char *label = ref->label && ref->label[0] ? ref->label : "(no label)";
    g_autofree char *cut = g_utf8_substring(label, 0, MIN(g_utf8_strlen(label, -1), MAX_LABEL_CHARS));
    g_string_append_printf(text, "%s“%s”", i == 0 ? "" : ", ", cut);
  }
  if (asked->len > MAX_LABELS_SHOWN)
    g_string_append_printf(text, " and %u more", asked->len - MAX_LABELS_SHOWN);
}

/* TRUE when the caller runs the program that created ref, but changed. */
static gboolean
same_program_changed(const char *caller, const ItemRef *ref)
{
  g_autofree char *caller_path = coffer_app_id_name(caller);
  g_autofree char *creator_path = coffer_app_id_name(ref->app);
  g_autofree char *caller_hash = coffer_app_id_sha256(caller);

  return caller_hash != NULL && caller_path != NULL && g_strcmp0(caller_path, creator_path) == 0 &&
         g_strcmp0(caller, ref->app) != 0;
}

static char *
describe_question(Check *check)
{
  const char *caller = coffer_app_info_get_id(check->caller);
  const ItemRef *first = check->asked->pdata[0];
  g_autofree char *path = coffer_app_id_name(caller);
  g_autofree char *hash = coffer_app_id_sha256(caller);
  GString *text = g_string_new(NULL);

  g_string_append_printf(text, "Allow %s to read ", coffer_app_info_get_display_name(check->caller));
  if (check->asked->len > 1)
    g_string_append_printf(text, "%u secrets: ", check->asked->len);
  append_labels(text, check->asked);
  g_string_append(text, "?\n\n");
  if (check->asked->len == 1) {
    g_autofree char *creator = coffer_app_id_describe(first->app);
    g_string_append_printf(text, "It was stored by %s.", creator);
  } else {
    g_string_append(text, "They were stored by other applications.");
  }
  if (caller != NULL && same_program_changed(caller, first))
    g_string_append(text, " The program has changed since it stored this secret.");
  if (hash != NULL)
    g_string_append_printf(text, "\n\nProgram: %s\nSHA-256: %.16s…", path, hash);
  if (caller == NULL)
    g_string_append_printf(text, "\n\nThe program could not be identified (%s), so the answer cannot be remembered.",
                           coffer_app_info_get_reason(check->caller));
  return g_string_free(text, FALSE);
}

static void
remember_denial(CofferAccess *access, Check *check)
{
  GHashTable *items = g_hash_table_lookup(access->denied, check->sender);

  if (items == NULL) {
    items = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert(access->denied, g_strdup(check->sender), items);
  }
  for (guint i = 0; i < check->asked->len; i++)
    g_hash_table_add(items, g_strdup(((ItemRef *)check->asked->pdata[i])->name));
}

static void
remember_allowed(CofferAccess *access, Check *check)
{
  const char *caller = coffer_app_info_get_id(check->caller);

  for (guint i = 0; i < check->asked->len; i++) {
    const ItemRef *ref = check->asked->pdata[i];
    g_autoptr(GError) error = NULL;
    if (!coffer_access_remember(access->vault, caller, ref->name, ref->label, &error))
      g_message("access: cannot remember the decision about %s: %s", ref->name, error->message);
  }
}

static void
on_answer(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Check *check = user_data;
  CofferAccess *access = check->access;
  g_autoptr(GError) error = NULL;
  CofferConfirmResult answer = coffer_prompter_confirm_finish(COFFER_PROMPTER(source), result, &error);
  gboolean can_remember = coffer_app_info_get_id(check->caller) != NULL;

  if (access == NULL) {
    check_done(check, denied_error("the agent is stopping"));
    return;
  }
  access->asking = NULL;
  if (answer == COFFER_CONFIRM_ALLOW) {
    g_message("access: %s may read %u item(s) once", coffer_app_info_get_display_name(check->caller),
              check->asked->len);
    check_done(check, NULL);
  } else if (answer == COFFER_CONFIRM_DENY && can_remember && COFFER_IS_PINENTRY_PROMPTER(access->prompter)) {
    /* NOTOK, the "Always allow" button (see access.h) */
    remember_allowed(access, check);
    check_done(check, NULL);
  } else if (answer == COFFER_CONFIRM_CANCEL && error == NULL) {
    remember_denial(access, check);
    check_done(check, denied_error("the user denied access to this secret"));
  } else {
    g_autofree char *why = g_strdup_printf("access to this secret needs the user's consent, and it could not be "
                                           "asked for%s%s",
                                           error ? ": " : "", error ? error->message : "");
    check_done(check, denied_error(why));
  }
  process_queue(access);
}

static void
ask(CofferAccess *access, Check *check)
{
  g_autofree char *description = describe_question(check);
  gboolean can_remember = coffer_app_info_get_id(check->caller) != NULL;

  access->asking = check;
  coffer_prompter_confirm_async(access->prompter, "Access to secrets", description, "Allow once", "Deny",
                                can_remember ? "Always allow" : NULL, check->cancellable, on_answer, check);
}

/* Judges a check: TRUE when that settled it (completed: check freed);
 * FALSE when check->asked holds what needs a question. */
static gboolean
settle(CofferAccess *access, Check *check)
{
  g_clear_pointer(&check->asked, g_ptr_array_unref);
  check->asked = g_ptr_array_new();
  for (guint i = 0; i < check->items->len; i++) {
    ItemRef *ref = check->items->pdata[i];
    switch (judge(access, check, ref)) {
    case VERDICT_ALLOW:
      break;
    case VERDICT_DENY:
      check_done(check, denied_error("the user denied access to this secret"));
      return TRUE;
    case VERDICT_ASK:
      g_ptr_array_add(check->asked, ref);
      break;
    }
  }
  if (check->asked->len > 0)
    return FALSE;
  check_done(check, NULL);
  return TRUE;
}

/* Asks about the checks in line, one question at a time.  Each is judged
 * again when its turn comes: an earlier answer may have settled it. */
static void
process_queue(CofferAccess *access)
{
  Check *check;

  while (access->asking == NULL && (check = g_queue_pop_head(&access->queue)) != NULL) {
    if (g_cancellable_is_cancelled(check->cancellable))
      check_done(check, denied_error("the caller left"));
    else if (!settle(access, check))
      ask(access, check);
  }
}

static void
on_caller(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Check *check = user_data;

  check->caller = coffer_app_info_lookup_finish(result);
  if (check->access == NULL) {
    check_done(check, denied_error("the agent is stopping"));
    return;
  }
  /* Only checks that need a question wait in line: a read that needs
   * none is never held up by someone else's open dialog. */
  if (settle(check->access, check))
    return;
  g_queue_push_tail(&check->access->queue, check);
  process_queue(check->access);
}

void
coffer_access_check_async(CofferAccess *access, const char *sender, CofferItem *const *items, guint n_items,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(NULL, NULL, callback, user_data);
  Check *check;

  if (!access->ask || n_items == 0) {
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  check = g_new0(Check, 1);
  check->access = access;
  check->sender = g_strdup(sender);
  check->task = task;
  check->cancellable = g_cancellable_new();
  check->items = g_ptr_array_new_with_free_func((GDestroyNotify)item_ref_free);
  for (guint i = 0; i < n_items; i++) {
    ItemRef *ref = g_new0(ItemRef, 1);
    ref->name = g_strdup(coffer_item_get_name(items[i]));
    ref->label = g_strdup(coffer_item_get_label(items[i]));
    ref->app = g_strdup(coffer_item_get_app(items[i]));
    g_ptr_array_add(check->items, ref);
  }
  g_ptr_array_add(access->checks, check);
  coffer_app_info_lookup_async(access->apps, sender, on_caller, check);
}

gboolean
coffer_access_check_finish(GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}
