/* coffer — the control socket's sync requests (see control-sync.h). */
#include "control/control-sync.h"
#include "control/control-reply.h"
#include "control/control-server.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "vault/vault-sync.h"

/* Keeps a HISTORY reply inside one control frame, with room for the rest. */
#define HISTORY_MAX_BYTES (COFFER_CONTROL_MAX_BODY - 1024)

struct _CofferControlSyncRequest {
  guint8 type;
  char *url;
  char *user;
  char *item;
  guint64 seq;
  char *password; /* sodium memory, NUL-terminated */
  gsize password_len;
  char *account;
  gsize account_len;
  char *login;
  gsize login_len;
};

typedef struct {
  CofferControlSyncRequest *request;
  CofferControlReplyFunc reply_func;
  gpointer user_data;
} Pending;

gboolean
coffer_control_sync_handles(guint8 type)
{
  switch (type) {
  case COFFER_CONTROL_REMOTE_SET:
  case COFFER_CONTROL_REMOTE_REMOVE:
  case COFFER_CONTROL_JOIN:
  case COFFER_CONTROL_SYNC:
  case COFFER_CONTROL_HISTORY:
  case COFFER_CONTROL_RESTORE:
  case COFFER_CONTROL_CLEANUP:
    return TRUE;
  default:
    return FALSE;
  }
}

static char *
copy_text(const CofferControlBytes *b)
{
  return g_strndup((const char *)b->data, b->len);
}

static gboolean
copy_secret(const CofferControlBytes *b, char **out, gsize *len)
{
  *out = sodium_malloc(b->len + 1);
  if (*out == NULL)
    return FALSE;
  memcpy(*out, b->data, b->len);
  (*out)[b->len] = '\0';
  *len = b->len;
  return TRUE;
}

static void
request_free(CofferControlSyncRequest *r)
{
  if (r == NULL)
    return;
  g_free(r->url);
  g_free(r->user);
  g_free(r->item);
  g_clear_pointer(&r->password, sodium_free);
  g_clear_pointer(&r->account, sodium_free);
  g_clear_pointer(&r->login, sodium_free);
  g_free(r);
}

CofferControlSyncRequest *
coffer_control_sync_request_new(const CofferControlMessage *msg)
{
  CofferControlSyncRequest *r = g_new0(CofferControlSyncRequest, 1);
  gboolean ok = TRUE;
  r->type = msg->type;
  if (coffer_control_has(msg, COFFER_FIELD_REMOTE_URL))
    r->url = copy_text(&msg->remote_url);
  if (coffer_control_has(msg, COFFER_FIELD_REMOTE_USER))
    r->user = copy_text(&msg->remote_user);
  if (coffer_control_has(msg, COFFER_FIELD_ITEM))
    r->item = copy_text(&msg->item);
  r->seq = msg->seq;
  if (coffer_control_has(msg, COFFER_FIELD_REMOTE_PASSWORD))
    ok = ok && copy_secret(&msg->remote_password, &r->password, &r->password_len);
  if (coffer_control_has(msg, COFFER_FIELD_ACCOUNT_PASSWORD))
    ok = ok && copy_secret(&msg->account_password, &r->account, &r->account_len);
  if (coffer_control_has(msg, COFFER_FIELD_PASSWORD))
    ok = ok && copy_secret(&msg->password, &r->login, &r->login_len);
  if (!ok) {
    request_free(r);
    return NULL;
  }
  return r;
}

/* ---- replies ----------------------------------------------------------------- */

static guint32
error_code(const GError *error)
{
  if (error->domain != COFFER_SYNC_ERROR)
    return coffer_control_error_from_gerror(error);
  switch ((CofferSyncError)error->code) {
  case COFFER_SYNC_ERROR_NO_REMOTE:
    return COFFER_CONTROL_ERR_NO_REMOTE;
  case COFFER_SYNC_ERROR_LOCKED:
    return COFFER_CONTROL_ERR_LOCKED;
  default:
    return COFFER_CONTROL_ERR_SYNC;
  }
}

static GBytes *
reply_gerror(const GError *error)
{
  return coffer_control_reply_error(error_code(error), error->message);
}

static GBytes *
reply_report(const CofferSyncReport *report)
{
  CofferControlBuilder b;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_PUSHED, report->pushed);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_PULLED, report->pulled);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_CONFLICTS, report->conflicts);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_REFUSED, report->refused);
  return coffer_control_reply_finish(&b);
}

static void
pending_reply(Pending *p, GBytes *reply)
{
  p->reply_func(reply, p->user_data);
  request_free(p->request);
  g_free(p);
}

static Pending *
pending_new(CofferControlSyncRequest *request, CofferControlReplyFunc func, gpointer user_data)
{
  Pending *p = g_new0(Pending, 1);
  p->request = request;
  p->reply_func = func;
  p->user_data = user_data;
  return p;
}

/* ---- async requests -------------------------------------------------------------- */

static void
on_sync_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *p = user_data;
  g_autoptr(GError) error = NULL;
  CofferSyncReport report;
  gboolean ok = p->request->type == COFFER_CONTROL_JOIN ? coffer_sync_engine_join_finish(NULL, result, &report, &error)
                                                        : coffer_sync_engine_sync_finish(NULL, result, &report, &error);
  pending_reply(p, ok ? reply_report(&report) : reply_gerror(error));
}

static void
on_remote_set_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *p = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = coffer_sync_engine_set_remote_finish(NULL, result, &error);
  pending_reply(p, ok ? coffer_control_reply_ok(NULL) : reply_gerror(error));
}

static void
on_cleanup_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Pending *p = user_data;
  g_autoptr(GError) error = NULL;
  CofferSyncCleanupReport report;
  if (!coffer_sync_engine_cleanup_finish(NULL, result, &report, &error)) {
    pending_reply(p, reply_gerror(error));
    return;
  }
  CofferControlBuilder b;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_HISTORY_REMOVED, report.history_removed);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_TOMBSTONES_REMOVED, report.tombstones_removed);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_BYTES_RECLAIMED, report.bytes_reclaimed);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_REMOTE_REMOVED, report.remote_removed);
  pending_reply(p, coffer_control_reply_finish(&b));
}

/* ---- synchronous requests ----------------------------------------------------------- */

static GBytes *
handle_history(CofferVault *vault, const char *item)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = coffer_vault_item_history(vault, item, &error);
  if (entries == NULL)
    return reply_gerror(error);

  g_autofree guint8 *buf = g_malloc(HISTORY_MAX_BYTES);
  gsize used = 0;
  for (guint i = 0; i < entries->len; i++) {
    CofferHistoryEntry *h = entries->pdata[i];
    CofferControlHistoryEntry e = {
      .seq = (guint64)h->seq,
      .added = (guint64)MAX(h->added, 0),
      .hlc = h->hlc,
      .tombstone = h->tombstone ? 1 : 0,
      .label = (const uint8_t *)(h->label ? h->label : ""),
      .label_len = h->label ? strlen(h->label) : 0,
    };
    memcpy(e.device, h->device, sizeof e.device);
    int n = coffer_control_history_encode(&e, buf + used, HISTORY_MAX_BYTES - used);
    if (n == -EBADMSG) { /* a label that is not clean UTF-8: show the version without it */
      e.label_len = 0;
      n = coffer_control_history_encode(&e, buf + used, HISTORY_MAX_BYTES - used);
    }
    if (n < 0)
      break; /* newest first: only the oldest are left out */
    used += (gsize)n;
  }
  CofferControlBuilder b;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_HISTORY, buf, used);
  GBytes *reply = coffer_control_reply_finish(&b);
  return reply ? reply : coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "the history does not fit in a reply");
}

GBytes *
coffer_control_sync_run(CofferSyncEngine *engine, CofferVault *vault, CofferControlSyncRequest *r,
                        CofferControlReplyFunc reply_func, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  GBytes *reply = NULL;

  if (engine == NULL && r->type != COFFER_CONTROL_HISTORY && r->type != COFFER_CONTROL_RESTORE) {
    request_free(r);
    return coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "this agent runs without sync");
  }
  switch (r->type) {
  case COFFER_CONTROL_SYNC:
    coffer_sync_engine_sync_async(engine, on_sync_done, pending_new(r, reply_func, user_data));
    return NULL;
  case COFFER_CONTROL_JOIN:
    coffer_sync_engine_join_async(engine, r->url, r->user, r->password, r->password_len, r->account, r->account_len,
                                  r->login, r->login_len, on_sync_done, pending_new(r, reply_func, user_data));
    return NULL;
  case COFFER_CONTROL_REMOTE_SET:
    coffer_sync_engine_set_remote_async(engine, r->url, r->user, r->password, r->password_len, r->account,
                                        r->account_len, on_remote_set_done, pending_new(r, reply_func, user_data));
    return NULL;
  case COFFER_CONTROL_CLEANUP:
    coffer_sync_engine_cleanup_async(engine, on_cleanup_done, pending_new(r, reply_func, user_data));
    return NULL;
  case COFFER_CONTROL_REMOTE_REMOVE:
    reply = coffer_sync_engine_remove_remote(engine, &error) ? coffer_control_reply_ok(NULL) : reply_gerror(error);
    break;
  case COFFER_CONTROL_HISTORY:
    reply = handle_history(vault, r->item);
    break;
  case COFFER_CONTROL_RESTORE:
    reply = coffer_vault_restore(vault, r->item, (gint64)MIN(r->seq, (guint64)G_MAXINT64), &error)
                ? coffer_control_reply_ok(NULL)
                : reply_gerror(error);
    break;
  default:
    reply = coffer_control_reply_error(COFFER_CONTROL_ERR_PROTOCOL, "not a sync request");
    break;
  }
  request_free(r);
  return reply;
}

void
coffer_control_sync_add_status(CofferSyncEngine *engine, CofferControlBuilder *b)
{
  if (engine == NULL)
    return;
  CofferSyncStatus st;
  coffer_sync_engine_get_status(engine, &st);
  if (st.url != NULL)
    coffer_control_builder_add_string(b, COFFER_FIELD_REMOTE_URL, st.url);
  if (st.user != NULL)
    coffer_control_builder_add_string(b, COFFER_FIELD_REMOTE_USER, st.user);
  coffer_control_builder_add_u64(b, COFFER_FIELD_LAST_SYNC, (guint64)MAX(st.last_sync, 0));
  coffer_control_builder_add_u64(b, COFFER_FIELD_PENDING, st.pending);
  if (st.last_error != NULL && g_utf8_validate(st.last_error, -1, NULL))
    coffer_control_builder_add_string(b, COFFER_FIELD_LAST_ERROR, st.last_error);
  coffer_control_builder_add_u64(b, COFFER_FIELD_REMOTE_BYTES, st.remote_bytes);
  coffer_sync_status_clear(&st);
}
