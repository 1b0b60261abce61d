/* coffer — records imported from another keyring or an export file, with
 * their original times.  See vault-import.h. */
#include "config.h"

#include <string.h>

#include "vault/vault-import.h"
#include "vault/vault-private.h"

/* The same bounds coffer_vault_create_item() applies (vault-objects.c). */
#define IMPORT_MAX_SECRET_BYTES (16u * 1024 * 1024)
#define IMPORT_MAX_ATTRIBUTES 1024

static guint64
or_now(guint64 t)
{
  return t != 0 ? t : (guint64)(g_get_real_time() / G_USEC_PER_SEC);
}

gboolean
coffer_vault_import_begin(CofferVault *vault, GError **error)
{
  return coffer_vault_begin(vault, error);
}

gboolean
coffer_vault_import_end(CofferVault *vault, gboolean ok, GError **error)
{
  return coffer_vault_end(vault, ok, error);
}

static gboolean
require_writable(CofferVault *vault, GError **error)
{
  if (!vault->initialized) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_INITIALIZED, "there is no vault yet");
    return FALSE;
  }
  if (vault->vk == NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED, "the vault is locked");
    return FALSE;
  }
  return TRUE;
}

CofferCollection *
coffer_vault_import_collection(CofferVault *vault, const char *label, guint64 created, guint64 modified,
                               GError **error)
{
  guint8 id[COFFER_ID_BYTES];
  CofferCollection *collection;

  if (!require_writable(vault, error))
    return NULL;
  coffer_random(id, sizeof id);
  collection = coffer_collection_new(vault, id, FALSE);
  collection->loaded = TRUE;
  collection->label = g_strdup(label != NULL ? label : "");
  collection->created = or_now(created);
  collection->modified = MAX(or_now(modified), collection->created);
  if (!coffer_vault_write_collection(vault, collection, FALSE, error)) {
    coffer_collection_free(collection);
    return NULL;
  }
  g_hash_table_replace(vault->collections, collection->name, collection);
  coffer_vault_emit_collection(vault, SIGNAL_COLLECTION_CREATED, collection);
  return collection;
}

static GHashTable *
copy_attributes(GHashTable *attributes)
{
  GHashTable *copy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer name, value;

  if (attributes != NULL) {
    g_hash_table_iter_init(&iter, attributes);
    while (g_hash_table_iter_next(&iter, &name, &value))
      g_hash_table_replace(copy, g_strdup(name), g_strdup(value));
  }
  return copy;
}

CofferItem *
coffer_vault_import_item(CofferVault *vault, CofferCollection *collection, const CofferItemContent *content,
                         guint64 created, guint64 modified, GError **error)
{
  guint8 id[COFFER_ID_BYTES];
  CofferItem *item;

  if (!require_writable(vault, error))
    return NULL;
  if (collection->in_memory) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "cannot import into the session collection");
    return NULL;
  }
  if (content->secret_len > IMPORT_MAX_SECRET_BYTES) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "the secret is larger than %u bytes",
                IMPORT_MAX_SECRET_BYTES);
    return NULL;
  }
  if (content->attributes != NULL && g_hash_table_size(content->attributes) > IMPORT_MAX_ATTRIBUTES) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "more than %d attributes",
                IMPORT_MAX_ATTRIBUTES);
    return NULL;
  }
  coffer_random(id, sizeof id);
  item = coffer_item_add(collection, id);
  item->loaded = TRUE;
  item->label = g_strdup(content->label != NULL ? content->label : "");
  item->attributes = copy_attributes(content->attributes);
  item->content_type = g_strdup(content->content_type != NULL ? content->content_type : "text/plain");
  item->created = or_now(created);
  item->modified = MAX(or_now(modified), item->created);
  /* write_item with a NULL secret would read the (missing) stored one: an
   * empty secret needs a non-NULL pointer. */
  if (!coffer_vault_write_item(vault, item, content->secret != NULL ? content->secret : (const guint8 *)"",
                               content->secret_len, error)) {
    coffer_item_remove(item);
    return NULL;
  }
  coffer_vault_emit_item(vault, SIGNAL_ITEM_CREATED, item);
  return item;
}
