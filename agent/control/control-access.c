/* coffer — the control socket's access-control requests (see control-access.h). */
#include "control/control-access.h"
#include "control/control-reply.h"
#include "control/control-server.h"

#include <string.h>

#include "access/access.h"

/* Keeps an ACCESS_LIST reply inside one control frame, with room for the rest. */
#define LIST_MAX_BYTES (COFFER_CONTROL_MAX_BODY - 1024)

gboolean
coffer_control_access_handles(guint8 type)
{
  return type == COFFER_CONTROL_ACCESS_LIST || type == COFFER_CONTROL_ACCESS_REVOKE;
}

static GBytes *
reply_gerror(const GError *error)
{
  return coffer_control_reply_error(coffer_control_error_from_gerror(error), error->message);
}

/* Labels of the items the decisions name (deleted ones are missing). */
static GHashTable *
item_labels(CofferVault *vault)
{
  GHashTable *labels = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) collections = coffer_vault_list_collections(vault);

  for (guint i = 0; i < collections->len; i++) {
    g_autoptr(GPtrArray) items = coffer_collection_list_items(collections->pdata[i]);
    for (guint k = 0; k < items->len; k++) {
      const char *label = coffer_item_get_label(items->pdata[k]);
      g_hash_table_insert(labels, (gpointer)coffer_item_get_name(items->pdata[k]), (gpointer)(label ? label : ""));
    }
  }
  return labels;
}

static GBytes *
handle_list(CofferVault *vault)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) decisions = coffer_access_list_decisions(vault, &error);
  g_autoptr(GHashTable) labels = NULL;
  g_autofree guint8 *buf = NULL;
  gsize used = 0;
  guint left_out = 0;
  CofferControlBuilder b;

  if (decisions == NULL)
    return reply_gerror(error);
  labels = item_labels(vault);
  buf = g_malloc(LIST_MAX_BYTES);
  for (guint i = 0; i < decisions->len; i++) {
    CofferAccessDecision *d = decisions->pdata[i];
    const char *label = g_hash_table_lookup(labels, d->item);
    CofferControlAccessEntry entry = {
      .decision = strcmp(d->decision, "allow") == 0 ? COFFER_CONTROL_ACCESS_ALLOW : COFFER_CONTROL_ACCESS_DENY,
      .created = d->created,
      .item = (const uint8_t *)d->item,
      .app = (const uint8_t *)d->app,
      .app_len = strlen(d->app),
      .label = (const uint8_t *)(label ? label : ""),
      .label_len = label ? strlen(label) : 0,
    };
    int n = strlen(d->item) == 32 ? coffer_control_access_encode(&entry, buf + used, LIST_MAX_BYTES - used) : -1;
    if (n < 0) {
      left_out++; /* too long, or not ours to show (a malformed record) */
      continue;
    }
    used += (gsize)n;
  }
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_ACCESS, buf, used);
  if (left_out > 0) {
    g_autofree char *note = g_strdup_printf("%u decision(s) not shown: they do not fit in one reply", left_out);
    coffer_control_builder_add_string(&b, COFFER_FIELD_MESSAGE, note);
  }
  return coffer_control_reply_finish(&b);
}

static GBytes *
handle_revoke(CofferVault *vault, const CofferControlMessage *msg)
{
  g_autofree char *app = g_strndup((const char *)msg->app.data, msg->app.len);
  g_autofree char *item =
      coffer_control_has(msg, COFFER_FIELD_ITEM) ? g_strndup((const char *)msg->item.data, msg->item.len) : NULL;
  g_autoptr(GError) error = NULL;
  gint removed = coffer_access_revoke(vault, app, item, &error);
  CofferControlBuilder b;

  if (removed < 0)
    return reply_gerror(error);
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_REVOKED, (guint64)removed);
  return coffer_control_reply_finish(&b);
}

GBytes *
coffer_control_access_run(CofferVault *vault, const CofferControlMessage *msg)
{
  GBytes *reply = msg->type == COFFER_CONTROL_ACCESS_LIST ? handle_list(vault) : handle_revoke(vault, msg);

  return reply != NULL ? reply : coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "the reply does not fit");
}
