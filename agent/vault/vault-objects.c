/* coffer — collections and items of the vault: their records, metadata,
 * secrets and search.
 *
 * A record's metadata is a GVariant dictionary (a{sv}) in normal form, sealed
 * in the record envelope; see docs/sync-format.md for the keys. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "vault/vault-private.h"

/* Limits that keep one record, and one D-Bus reply carrying it, bounded. */
#define MAX_SECRET_BYTES (16u * 1024 * 1024)
#define MAX_ATTRIBUTES 1024
#define MAX_META_BYTES (1024u * 1024)

static guint64
now_seconds(void)
{
  return (guint64)(g_get_real_time() / G_USEC_PER_SEC);
}

static char *
collection_name_for_id(const guint8 id[COFFER_ID_BYTES])
{
  if (memcmp(id, coffer_login_collection_id, COFFER_ID_BYTES) == 0)
    return g_strdup(COFFER_LOGIN_COLLECTION);
  if (memcmp(id, coffer_session_collection_id, COFFER_ID_BYTES) == 0)
    return g_strdup(COFFER_SESSION_COLLECTION);
  return coffer_id_to_hex(id);
}

static void
item_free(CofferItem *item)
{
  coffer_item_forget_meta(item);
  sodium_free(item->mem_secret);
  g_free(item->name);
  g_free(item);
}

CofferCollection *
coffer_collection_new(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], gboolean in_memory)
{
  CofferCollection *collection = g_new0(CofferCollection, 1);

  collection->vault = vault;
  memcpy(collection->id, id, COFFER_ID_BYTES);
  collection->name = collection_name_for_id(id);
  collection->in_memory = in_memory;
  collection->items = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)item_free);
  return collection;
}

static void
forget_items(CofferCollection *collection)
{
  GHashTableIter iter;
  CofferItem *item;

  g_hash_table_iter_init(&iter, collection->items);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&item))
    g_hash_table_remove(collection->vault->items, item->name);
}

void
coffer_collection_free(CofferCollection *collection)
{
  forget_items(collection);
  g_hash_table_unref(collection->items);
  g_free(collection->label);
  g_free(collection->name);
  g_free(collection);
}

CofferItem *
coffer_item_add(CofferCollection *collection, const guint8 id[COFFER_ID_BYTES])
{
  CofferItem *item = g_new0(CofferItem, 1);

  item->collection = collection;
  memcpy(item->id, id, COFFER_ID_BYTES);
  item->name = coffer_id_to_hex(id);
  g_hash_table_replace(collection->items, item->name, item);
  g_hash_table_replace(collection->vault->items, item->name, item);
  return item;
}

void
coffer_item_remove(CofferItem *item)
{
  g_hash_table_remove(item->collection->vault->items, item->name);
  g_hash_table_remove(item->collection->items, item->name);
}

void
coffer_collection_forget_meta(CofferCollection *collection)
{
  collection->loaded = FALSE;
  g_clear_pointer(&collection->label, g_free);
  collection->created = collection->modified = 0;
}

void
coffer_item_forget_meta(CofferItem *item)
{
  item->loaded = FALSE;
  g_clear_pointer(&item->label, g_free);
  g_clear_pointer(&item->attributes, g_hash_table_unref);
  g_clear_pointer(&item->content_type, g_free);
  g_clear_pointer(&item->app, g_free);
  item->created = item->modified = 0;
}

void
coffer_vault_emit_collection(CofferVault *vault, guint signal, CofferCollection *collection)
{
  g_signal_emit(vault, coffer_vault_signals[signal], 0, collection->name);
}

void
coffer_vault_emit_item(CofferVault *vault, guint signal, CofferItem *item)
{
  g_signal_emit(vault, coffer_vault_signals[signal], 0, item->collection->name, item->name);
}

static gboolean
require_unlocked(CofferVault *vault, CofferCollection *collection, GError **error)
{
  if (collection->in_memory || vault->vk != NULL)
    return TRUE;
  g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED, "the collection is locked");
  return FALSE;
}

/* ---- metadata codec ------------------------------------------------------ */

static GVariant *
attributes_to_variant(GHashTable *attributes)
{
  GVariantBuilder builder;
  GHashTableIter iter;
  const char *name, *value;

  g_variant_builder_init(&builder, G_VARIANT_TYPE("a{ss}"));
  if (attributes != NULL) {
    g_hash_table_iter_init(&iter, attributes);
    while (g_hash_table_iter_next(&iter, (gpointer *)&name, (gpointer *)&value))
      g_variant_builder_add(&builder, "{ss}", name, value);
  }
  return g_variant_builder_end(&builder);
}

static GVariant *
collection_meta(CofferCollection *collection)
{
  GVariantDict dict;

  g_variant_dict_init(&dict, NULL);
  g_variant_dict_insert(&dict, "label", "s", collection->label ? collection->label : "");
  g_variant_dict_insert(&dict, "created", "t", collection->created);
  g_variant_dict_insert(&dict, "modified", "t", collection->modified);
  return g_variant_ref_sink(g_variant_dict_end(&dict));
}

static GVariant *
item_meta(CofferItem *item)
{
  GVariantDict dict;

  g_variant_dict_init(&dict, NULL);
  g_variant_dict_insert(&dict, "label", "s", item->label ? item->label : "");
  g_variant_dict_insert_value(&dict, "attributes", attributes_to_variant(item->attributes));
  g_variant_dict_insert(&dict, "content-type", "s", item->content_type ? item->content_type : "text/plain");
  g_variant_dict_insert(&dict, "created", "t", item->created);
  g_variant_dict_insert(&dict, "modified", "t", item->modified);
  g_variant_dict_insert_value(&dict, "collection",
                              g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, item->collection->id, COFFER_ID_BYTES, 1));
  if (item->app != NULL)
    g_variant_dict_insert(&dict, "app", "s", item->app);
  return g_variant_ref_sink(g_variant_dict_end(&dict));
}

static GHashTable *
attributes_from_variant(GVariant *value)
{
  GHashTable *attributes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  GVariantIter iter;
  const char *name, *attr;

  g_variant_iter_init(&iter, value);
  while (g_variant_iter_next(&iter, "{&s&s}", &name, &attr))
    g_hash_table_replace(attributes, g_strdup(name), g_strdup(attr));
  return attributes;
}

GVariant *
coffer_vault_parse_meta(const guint8 *data, gsize len, GError **error)
{
  g_autoptr(GBytes) bytes = g_bytes_new(data, len);
  g_autoptr(GVariant) meta = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE_VARDICT, bytes, FALSE));

  if (!g_variant_is_normal_form(meta)) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "record metadata is malformed");
    return NULL;
  }
  return g_steal_pointer(&meta);
}

void
coffer_collection_apply_meta(CofferCollection *collection, GVariant *meta)
{
  GVariantDict dict;
  const char *label = "";

  g_variant_dict_init(&dict, meta);
  g_variant_dict_lookup(&dict, "label", "&s", &label);
  collection->label = g_strdup(label);
  g_variant_dict_lookup(&dict, "created", "t", &collection->created);
  g_variant_dict_lookup(&dict, "modified", "t", &collection->modified);
  collection->loaded = TRUE;
  g_variant_dict_clear(&dict);
}

void
coffer_item_apply_meta(CofferItem *item, GVariant *meta)
{
  GVariantDict dict;
  const char *label = "", *content_type = "text/plain", *app = NULL;
  g_autoptr(GVariant) attributes = NULL;

  g_variant_dict_init(&dict, meta);
  g_variant_dict_lookup(&dict, "label", "&s", &label);
  g_variant_dict_lookup(&dict, "content-type", "&s", &content_type);
  g_variant_dict_lookup(&dict, "app", "&s", &app);
  attributes = g_variant_dict_lookup_value(&dict, "attributes", G_VARIANT_TYPE("a{ss}"));
  item->label = g_strdup(label);
  item->content_type = g_strdup(content_type);
  item->app = g_strdup(app);
  item->attributes =
      attributes ? attributes_from_variant(attributes) : g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_variant_dict_lookup(&dict, "created", "t", &item->created);
  g_variant_dict_lookup(&dict, "modified", "t", &item->modified);
  item->loaded = TRUE;
  g_variant_dict_clear(&dict);
}

gboolean
coffer_vault_load_record_meta(CofferVault *vault, const CofferStoreRecord *record, GError **error)
{
  gsize env_len, meta_len = 0;
  const guint8 *env = g_bytes_get_data(record->envelope, &env_len);
  g_autofree char *name = collection_name_for_id(record->id);
  guint8 *meta_bytes = NULL;
  g_autoptr(GVariant) meta = NULL;
  int rc;

  rc = coffer_envelope_open_meta(vault->vk, vault->vault_id, env, env_len, &meta_bytes, &meta_len);
  if (rc != COFFER_CRYPTO_OK) {
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "record"));
    return FALSE;
  }
  meta = coffer_vault_parse_meta(meta_bytes, meta_len, error);
  free(meta_bytes);
  if (meta == NULL)
    return FALSE;
  if (record->kind == COFFER_RECORD_COLLECTION) {
    CofferCollection *collection = g_hash_table_lookup(vault->collections, name);
    if (collection != NULL) {
      coffer_collection_forget_meta(collection);
      coffer_collection_apply_meta(collection, meta);
    }
  } else {
    g_autofree char *hex = coffer_id_to_hex(record->id);
    CofferItem *item = g_hash_table_lookup(vault->items, hex);
    if (item != NULL) {
      coffer_item_forget_meta(item);
      coffer_item_apply_meta(item, meta);
    }
  }
  return TRUE;
}

/* ---- writing records ------------------------------------------------------ */

/* Lookup hashes of an item's attributes: n * COFFER_HASH_BYTES bytes. */
guint8 *
coffer_vault_attribute_hashes(CofferVault *vault, GHashTable *attributes, gsize *n)
{
  guint size = attributes ? g_hash_table_size(attributes) : 0;
  guint8 *hashes = g_malloc0((gsize)MAX(size, 1) * COFFER_HASH_BYTES);
  GHashTableIter iter;
  const char *name, *value;
  gsize i = 0;

  if (attributes != NULL) {
    g_hash_table_iter_init(&iter, attributes);
    while (g_hash_table_iter_next(&iter, (gpointer *)&name, (gpointer *)&value))
      if (coffer_lookup_hash(vault->lk, name, value, hashes + i * COFFER_HASH_BYTES) == COFFER_CRYPTO_OK)
        i++;
  }
  *n = i;
  return hashes;
}

typedef struct {
  CofferRecordKind kind;
  const guint8 *id;
  const guint8 *parent; /* NULL for collections */
  gboolean tombstone;
  GVariant *meta;
  const guint8 *secret;
  gsize secret_len;
  GHashTable *attributes; /* items: for the lookup index */
} RecordWrite;

static GBytes *
seal_record(CofferVault *vault, const RecordWrite *write, GError **error)
{
  CofferRecordHeader header = { 0 };
  guint8 *env = NULL;
  size_t env_len = 0;
  int rc;

  header.kind = write->kind;
  header.flags = write->tombstone ? COFFER_RECORD_FLAG_TOMBSTONE : 0;
  memcpy(header.id, write->id, COFFER_ID_BYTES);
  header.rev.hlc = coffer_hlc_now(&vault->hlc);
  memcpy(header.rev.device, vault->device_id, COFFER_ID_BYTES);
  rc = coffer_envelope_seal(vault->vk, vault->vault_id, &header, g_variant_get_data(write->meta),
                            g_variant_get_size(write->meta), write->secret, write->secret_len, &env, &env_len);
  if (rc != COFFER_CRYPTO_OK) {
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "new record"));
    return NULL;
  }
  return g_bytes_new_with_free_func(env, env_len, free, env);
}

/* Writes one record (and its lookup rows, and the version it replaces into
 * history) as one transaction: all of it is on disk, or none. */
static gboolean
store_record(CofferVault *vault, const RecordWrite *write, GError **error)
{
  g_autoptr(GBytes) envelope = seal_record(vault, write, error);
  g_autoptr(CofferStoreRecord) old = NULL;
  g_autofree guint8 *hashes = NULL;
  CofferStoreRecord record = { 0 };
  gsize n_hashes = 0;
  GError *local = NULL;
  gboolean ok;

  if (envelope == NULL)
    return FALSE;
  memcpy(record.id, write->id, COFFER_ID_BYTES);
  record.kind = write->kind;
  if (write->parent != NULL)
    memcpy(record.parent, write->parent, COFFER_ID_BYTES);
  record.tombstone = write->tombstone;
  record.envelope = envelope;
  hashes = coffer_vault_attribute_hashes(vault, write->tombstone ? NULL : write->attributes, &n_hashes);
  if (!coffer_vault_begin(vault, error))
    return FALSE;
  ok =
      coffer_store_get_record(vault->store, write->id, &old, &local) &&
      (old == NULL || coffer_store_add_history(vault->store, write->id, old->envelope, &local)) &&
      coffer_store_put_record(vault->store, &record, &local) &&
      (write->kind != COFFER_RECORD_ITEM || coffer_store_set_lookup(vault->store, write->id, hashes, n_hashes, &local));
  if (!ok)
    g_propagate_error(error, coffer_vault_store_error(local));
  return coffer_vault_end(vault, ok, error);
}

gboolean
coffer_vault_write_collection(CofferVault *vault, CofferCollection *collection, gboolean tombstone, GError **error)
{
  g_autoptr(GVariant) meta = collection_meta(collection);
  RecordWrite write = { COFFER_RECORD_COLLECTION, collection->id, NULL, tombstone, meta, NULL, 0, NULL };

  return store_record(vault, &write, error);
}

/* Reads an item's current secret from its stored envelope. */
static gboolean
read_secret(CofferVault *vault, CofferItem *item, guint8 **secret, gsize *len, GError **error)
{
  g_autoptr(CofferStoreRecord) record = NULL;
  GError *local = NULL;
  const guint8 *env;
  gsize env_len;
  int rc;

  if (item->collection->in_memory) {
    *len = item->mem_secret_len;
    *secret = coffer_secure_alloc(MAX(*len, 1));
    if (*secret == NULL) {
      g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
      return FALSE;
    }
    memcpy(*secret, item->mem_secret, *len);
    return TRUE;
  }
  if (!coffer_store_get_record(vault->store, item->id, &record, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  if (record == NULL || record->tombstone) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_FOUND, "the item no longer exists");
    return FALSE;
  }
  env = g_bytes_get_data(record->envelope, &env_len);
  rc = coffer_envelope_open_secret(vault->vk, vault->vault_id, env, env_len, secret, len);
  if (rc != COFFER_CRYPTO_OK) {
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "item secret"));
    return FALSE;
  }
  return TRUE;
}

static gboolean
store_secret_in_memory(CofferItem *item, const guint8 *secret, gsize len, GError **error)
{
  guint8 *copy = sodium_malloc(MAX(len, 1));

  if (copy == NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
    return FALSE;
  }
  if (len > 0)
    memcpy(copy, secret, len);
  sodium_free(item->mem_secret);
  item->mem_secret = copy;
  item->mem_secret_len = len;
  return TRUE;
}

/* Persists an item whose in-memory metadata was just changed, with the given
 * secret (or its current one when secret is NULL). */
gboolean
coffer_vault_write_item(CofferVault *vault, CofferItem *item, const guint8 *secret, gsize secret_len, GError **error)
{
  g_autoptr(GVariant) meta = NULL;
  guint8 *current = NULL;
  gsize current_len = 0;
  gboolean ok;

  if (item->collection->in_memory)
    return secret == NULL || store_secret_in_memory(item, secret, secret_len, error);
  meta = item_meta(item);
  if (g_variant_get_size(meta) > MAX_META_BYTES) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "the item's label and attributes are too large");
    return FALSE;
  }
  if (secret == NULL) {
    if (!read_secret(vault, item, &current, &current_len, error))
      return FALSE;
    secret = current;
    secret_len = current_len;
  }
  {
    RecordWrite write = { COFFER_RECORD_ITEM, item->id,        item->collection->id, FALSE, meta, secret,
                          secret_len,         item->attributes };
    ok = store_record(vault, &write, error);
  }
  sodium_free(current);
  return ok;
}

/* ---- collections ----------------------------------------------------------- */

static gint
compare_names(gconstpointer a, gconstpointer b, gpointer name_offset)
{
  const char *na = *(char *const *)((const char *)*(gconstpointer *)a + GPOINTER_TO_SIZE(name_offset));
  const char *nb = *(char *const *)((const char *)*(gconstpointer *)b + GPOINTER_TO_SIZE(name_offset));
  return strcmp(na, nb);
}

static GPtrArray *
sorted_values(GHashTable *table, gsize name_offset)
{
  GPtrArray *array = g_ptr_array_sized_new(g_hash_table_size(table));
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init(&iter, table);
  while (g_hash_table_iter_next(&iter, NULL, &value))
    g_ptr_array_add(array, value);
  g_ptr_array_sort_with_data(array, compare_names, GSIZE_TO_POINTER(name_offset));
  return array;
}

static gboolean
is_internal(CofferCollection *collection)
{
  return memcmp(collection->id, coffer_access_collection_id, COFFER_ID_BYTES) == 0;
}

gboolean
coffer_vault_is_internal_collection(const char *name)
{
  g_autofree char *internal = coffer_id_to_hex(coffer_access_collection_id);

  return g_strcmp0(name, internal) == 0;
}

GPtrArray *
coffer_vault_list_collections(CofferVault *vault)
{
  GPtrArray *all = sorted_values(vault->collections, G_STRUCT_OFFSET(CofferCollection, name));

  for (guint i = 0; i < all->len; i++)
    if (is_internal(all->pdata[i])) {
      g_ptr_array_remove_index(all, i);
      break;
    }
  return all;
}

/* Every lookup by name goes through here, so the internal collection stays
 * out of reach of object paths and aliases. */
CofferCollection *
coffer_vault_find_collection(CofferVault *vault, const char *name)
{
  CofferCollection *collection = g_hash_table_lookup(vault->collections, name);

  return collection != NULL && !is_internal(collection) ? collection : NULL;
}

CofferCollection *
coffer_vault_resolve_alias(CofferVault *vault, const char *alias)
{
  const char *name = g_hash_table_lookup(vault->aliases, alias);

  return name ? coffer_vault_find_collection(vault, name) : NULL;
}

GPtrArray *
coffer_vault_list_aliases(CofferVault *vault)
{
  GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
  GHashTableIter iter;
  gpointer alias;

  g_hash_table_iter_init(&iter, vault->aliases);
  while (g_hash_table_iter_next(&iter, &alias, NULL))
    g_ptr_array_add(names, g_strdup(alias));
  return names;
}

gboolean
coffer_vault_save_aliases(CofferVault *vault, GError **error)
{
  GVariantBuilder builder;
  GHashTableIter iter;
  const char *alias, *name;
  g_autoptr(GVariant) dict = NULL;
  g_autoptr(GBytes) bytes = NULL;
  GError *local = NULL;

  g_variant_builder_init(&builder, G_VARIANT_TYPE("a{ss}"));
  g_hash_table_iter_init(&iter, vault->aliases);
  while (g_hash_table_iter_next(&iter, (gpointer *)&alias, (gpointer *)&name))
    if (strcmp(name, COFFER_SESSION_COLLECTION) != 0)
      g_variant_builder_add(&builder, "{ss}", alias, name);
  dict = g_variant_ref_sink(g_variant_builder_end(&builder));
  bytes = g_variant_get_data_as_bytes(dict);
  if (!coffer_store_set_meta(vault->store, "aliases", bytes, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  return TRUE;
}

gboolean
coffer_vault_set_alias(CofferVault *vault, const char *alias, CofferCollection *collection, GError **error)
{
  const char *current = g_hash_table_lookup(vault->aliases, alias);
  g_autofree char *previous = current ? g_strdup(current) : NULL;

  if (collection == NULL)
    g_hash_table_remove(vault->aliases, alias);
  else
    g_hash_table_replace(vault->aliases, g_strdup(alias), g_strdup(collection->name));
  if (coffer_vault_save_aliases(vault, error))
    return TRUE;
  /* Keep memory and disk in agreement when the write failed. */
  if (previous != NULL)
    g_hash_table_replace(vault->aliases, g_strdup(alias), g_steal_pointer(&previous));
  else
    g_hash_table_remove(vault->aliases, alias);
  return FALSE;
}

/* Times given by an importer, or now (0). */
static guint64
or_now(guint64 t)
{
  return t != 0 ? t : now_seconds();
}

/* Writes a new collection record with this id and adds it (emitting
 * collection-created).  created/modified 0 mean now. */
CofferCollection *
coffer_vault_add_collection(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], const char *label, guint64 created,
                            guint64 modified, GError **error)
{
  CofferCollection *collection = coffer_collection_new(vault, id, FALSE);

  collection->loaded = TRUE;
  collection->label = g_strdup(label ? label : "");
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

gboolean
coffer_vault_require_key(CofferVault *vault, GError **error)
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
coffer_vault_get_access_collection(CofferVault *vault, gboolean create, GError **error)
{
  g_autofree char *name = coffer_id_to_hex(coffer_access_collection_id);
  CofferCollection *collection = g_hash_table_lookup(vault->collections, name);

  if (collection != NULL || !create)
    return collection;
  if (!coffer_vault_require_key(vault, error))
    return NULL;
  return coffer_vault_add_collection(vault, coffer_access_collection_id, "Access decisions", 0, 0, error);
}

CofferCollection *
coffer_vault_create_collection(CofferVault *vault, const char *label, GError **error)
{
  guint8 id[COFFER_ID_BYTES];

  if (!coffer_vault_require_key(vault, error))
    return NULL;
  coffer_random(id, sizeof id);
  return coffer_vault_add_collection(vault, id, label, 0, 0, error);
}

/* Tombstones the collection and its items in one transaction. */
static gboolean
tombstone_collection(CofferVault *vault, CofferCollection *collection, GError **error)
{
  GHashTableIter iter;
  CofferItem *item;
  gboolean ok = TRUE;

  if (!coffer_vault_begin(vault, error))
    return FALSE;
  g_hash_table_iter_init(&iter, collection->items);
  while (ok && g_hash_table_iter_next(&iter, NULL, (gpointer *)&item)) {
    g_autoptr(GVariant) meta = item_meta(item);
    RecordWrite write = { COFFER_RECORD_ITEM, item->id, collection->id, TRUE, meta, NULL, 0, NULL };
    ok = store_record(vault, &write, error);
  }
  return coffer_vault_end(vault, ok && coffer_vault_write_collection(vault, collection, TRUE, error), error);
}

gboolean
coffer_vault_delete_collection(CofferVault *vault, CofferCollection *collection, GError **error)
{
  g_autoptr(GPtrArray) items = NULL;
  g_autofree char *name = NULL;
  GHashTableIter iter;
  const char *alias, *target;

  if (collection->in_memory) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "the session collection cannot be deleted");
    return FALSE;
  }
  if (!require_unlocked(vault, collection, error) || !tombstone_collection(vault, collection, error))
    return FALSE;
  items = coffer_collection_list_items(collection);
  for (guint i = 0; i < items->len; i++)
    coffer_vault_emit_item(vault, SIGNAL_ITEM_DELETED, items->pdata[i]);
  g_hash_table_iter_init(&iter, vault->aliases);
  while (g_hash_table_iter_next(&iter, (gpointer *)&alias, (gpointer *)&target))
    if (strcmp(target, collection->name) == 0)
      g_hash_table_iter_remove(&iter);
  coffer_vault_save_aliases(vault, NULL);
  name = g_strdup(collection->name);
  g_hash_table_remove(vault->collections, name);
  g_signal_emit(vault, coffer_vault_signals[SIGNAL_COLLECTION_DELETED], 0, name);
  return TRUE;
}

gboolean
coffer_vault_set_collection_label(CofferVault *vault, CofferCollection *collection, const char *label, GError **error)
{
  g_autofree char *old_label = NULL;
  guint64 old_modified = collection->modified;

  if (!require_unlocked(vault, collection, error))
    return FALSE;
  old_label = g_steal_pointer(&collection->label);
  collection->label = g_strdup(label);
  collection->modified = now_seconds();
  if (!collection->in_memory && !coffer_vault_write_collection(vault, collection, FALSE, error)) {
    g_free(collection->label);
    collection->label = g_steal_pointer(&old_label);
    collection->modified = old_modified;
    return FALSE;
  }
  coffer_vault_emit_collection(vault, SIGNAL_COLLECTION_CHANGED, collection);
  return TRUE;
}

const char *
coffer_collection_get_name(CofferCollection *collection)
{
  return collection->name;
}

const char *
coffer_collection_get_label(CofferCollection *collection)
{
  return collection->loaded ? collection->label : NULL;
}

guint64
coffer_collection_get_created(CofferCollection *collection)
{
  return collection->created;
}

guint64
coffer_collection_get_modified(CofferCollection *collection)
{
  return collection->modified;
}

gboolean
coffer_collection_is_locked(CofferCollection *collection)
{
  return !collection->in_memory && collection->vault->vk == NULL;
}

GPtrArray *
coffer_collection_list_items(CofferCollection *collection)
{
  return sorted_values(collection->items, G_STRUCT_OFFSET(CofferItem, name));
}

CofferItem *
coffer_collection_find_item(CofferCollection *collection, const char *name)
{
  return g_hash_table_lookup(collection->items, name);
}

/* ---- items -------------------------------------------------------------------- */

static gboolean
check_content(const CofferItemContent *content, GError **error)
{
  if (content->secret_len > MAX_SECRET_BYTES) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "the secret is larger than %u bytes",
                MAX_SECRET_BYTES);
    return FALSE;
  }
  if (content->attributes != NULL && g_hash_table_size(content->attributes) > MAX_ATTRIBUTES) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "more than %d attributes", MAX_ATTRIBUTES);
    return FALSE;
  }
  return TRUE;
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

static gboolean
attributes_equal(GHashTable *a, GHashTable *b)
{
  GHashTableIter iter;
  gpointer name, value;
  guint size_b = b ? g_hash_table_size(b) : 0;

  if (g_hash_table_size(a) != size_b)
    return FALSE;
  g_hash_table_iter_init(&iter, a);
  while (g_hash_table_iter_next(&iter, &name, &value))
    if (g_strcmp0(g_hash_table_lookup(b, name), value) != 0)
      return FALSE;
  return TRUE;
}

static CofferItem *
find_replaceable(CofferVault *vault, CofferCollection *collection, GHashTable *attributes, GError **error)
{
  g_autoptr(GPtrArray) matches = coffer_vault_search(vault, collection, attributes, error);

  if (matches == NULL)
    return NULL;
  for (guint i = 0; i < matches->len; i++) {
    CofferItem *item = matches->pdata[i];
    if (item->loaded && attributes_equal(item->attributes, attributes))
      return item;
  }
  return NULL;
}

static void
fill_item(CofferItem *item, const CofferItemContent *content)
{
  coffer_item_forget_meta(item);
  item->loaded = TRUE;
  item->label = g_strdup(content->label ? content->label : "");
  item->attributes = copy_attributes(content->attributes);
  item->content_type = g_strdup(content->content_type ? content->content_type : "text/plain");
  item->app = g_strdup(content->app);
}

static CofferItem *
replace_item(CofferVault *vault, CofferItem *item, const CofferItemContent *content, GError **error)
{
  g_autofree char *old_label = item->label ? g_strdup(item->label) : NULL;
  g_autofree char *old_type = item->content_type ? g_strdup(item->content_type) : NULL;
  char *creator = g_strdup(item->app);
  guint64 created = item->created, old_modified = item->modified;

  fill_item(item, content);
  /* The item remembers who made it, not who last wrote it. */
  g_free(item->app);
  item->app = creator;
  item->created = created;
  item->modified = now_seconds();
  if (!coffer_vault_write_item(vault, item, content->secret, content->secret_len, error)) {
    /* Attributes are the same by definition; restore the rest. */
    g_free(item->label);
    item->label = g_steal_pointer(&old_label);
    g_free(item->content_type);
    item->content_type = g_steal_pointer(&old_type);
    item->modified = old_modified;
    return NULL;
  }
  coffer_vault_emit_item(vault, SIGNAL_ITEM_CHANGED, item);
  return item;
}

CofferItem *
coffer_vault_create_item(CofferVault *vault, CofferCollection *collection, const CofferItemContent *content,
                         gboolean replace, gboolean *replaced, GError **error)
{
  CofferItem *item;

  if (replaced != NULL)
    *replaced = FALSE;
  if (!require_unlocked(vault, collection, error) || !check_content(content, error))
    return NULL;
  if (replace) {
    GError *local = NULL;
    item = find_replaceable(vault, collection, content->attributes, &local);
    if (local != NULL) {
      g_propagate_error(error, local);
      return NULL;
    }
    if (item != NULL) {
      if (replaced != NULL)
        *replaced = TRUE;
      return replace_item(vault, item, content, error);
    }
  }
  return coffer_vault_add_item(vault, collection, content, 0, 0, error);
}

/* A new item with a fresh id (emitting item-created).  created/modified 0
 * mean now. */
CofferItem *
coffer_vault_add_item(CofferVault *vault, CofferCollection *collection, const CofferItemContent *content,
                      guint64 created, guint64 modified, GError **error)
{
  guint8 id[COFFER_ID_BYTES];
  CofferItem *item;

  if (!check_content(content, error))
    return NULL;
  coffer_random(id, sizeof id);
  item = coffer_item_add(collection, id);
  fill_item(item, content);
  item->created = or_now(created);
  item->modified = MAX(or_now(modified), item->created);
  /* An empty secret needs a non-NULL pointer: NULL means "keep the stored one". */
  if (!coffer_vault_write_item(vault, item, content->secret != NULL ? content->secret : (const guint8 *)"",
                               content->secret_len, error)) {
    coffer_item_remove(item);
    return NULL;
  }
  coffer_vault_emit_item(vault, SIGNAL_ITEM_CREATED, item);
  return item;
}

gboolean
coffer_vault_delete_item(CofferVault *vault, CofferItem *item, GError **error)
{
  CofferCollection *collection = item->collection;
  g_autofree char *collection_name = g_strdup(collection->name);
  g_autofree char *item_name = g_strdup(item->name);

  if (!require_unlocked(vault, collection, error))
    return FALSE;
  if (!collection->in_memory) {
    g_autoptr(GVariant) meta = item_meta(item);
    RecordWrite write = { COFFER_RECORD_ITEM, item->id, collection->id, TRUE, meta, NULL, 0, NULL };
    if (!store_record(vault, &write, error))
      return FALSE;
  }
  coffer_item_remove(item);
  g_signal_emit(vault, coffer_vault_signals[SIGNAL_ITEM_DELETED], 0, collection_name, item_name);
  return TRUE;
}

gboolean
coffer_vault_set_item_label(CofferVault *vault, CofferItem *item, const char *label, GError **error)
{
  g_autofree char *old_label = NULL;
  guint64 old_modified = item->modified;

  if (!require_unlocked(vault, item->collection, error))
    return FALSE;
  old_label = g_steal_pointer(&item->label);
  item->label = g_strdup(label);
  item->modified = now_seconds();
  if (!coffer_vault_write_item(vault, item, NULL, 0, error)) {
    g_free(item->label);
    item->label = g_steal_pointer(&old_label);
    item->modified = old_modified;
    return FALSE;
  }
  coffer_vault_emit_item(vault, SIGNAL_ITEM_CHANGED, item);
  return TRUE;
}

gboolean
coffer_vault_set_item_attributes(CofferVault *vault, CofferItem *item, GHashTable *attributes, GError **error)
{
  g_autoptr(GHashTable) old_attributes = NULL;
  guint64 old_modified = item->modified;
  CofferItemContent check = { .attributes = attributes };

  if (!require_unlocked(vault, item->collection, error) || !check_content(&check, error))
    return FALSE;
  old_attributes = g_steal_pointer(&item->attributes);
  item->attributes = copy_attributes(attributes);
  item->modified = now_seconds();
  if (!coffer_vault_write_item(vault, item, NULL, 0, error)) {
    g_hash_table_unref(item->attributes);
    item->attributes = g_steal_pointer(&old_attributes);
    item->modified = old_modified;
    return FALSE;
  }
  coffer_vault_emit_item(vault, SIGNAL_ITEM_CHANGED, item);
  return TRUE;
}

gboolean
coffer_vault_set_item_secret(CofferVault *vault, CofferItem *item, const guint8 *secret, gsize secret_len,
                             const char *content_type, GError **error)
{
  g_autofree char *old_type = NULL;
  guint64 old_modified = item->modified;
  CofferItemContent check = { .secret = secret, .secret_len = secret_len };

  if (!require_unlocked(vault, item->collection, error) || !check_content(&check, error))
    return FALSE;
  old_type = g_steal_pointer(&item->content_type);
  item->content_type = g_strdup(content_type ? content_type : "text/plain");
  item->modified = now_seconds();
  if (!coffer_vault_write_item(vault, item, secret ? secret : (const guint8 *)"", secret_len, error)) {
    g_free(item->content_type);
    item->content_type = g_steal_pointer(&old_type);
    item->modified = old_modified;
    return FALSE;
  }
  coffer_vault_emit_item(vault, SIGNAL_ITEM_CHANGED, item);
  return TRUE;
}

gboolean
coffer_vault_get_item_secret(CofferVault *vault, CofferItem *item, guint8 **secret, gsize *secret_len,
                             const char **content_type, GError **error)
{
  if (!require_unlocked(vault, item->collection, error) || !read_secret(vault, item, secret, secret_len, error))
    return FALSE;
  if (content_type != NULL)
    *content_type = item->content_type ? item->content_type : "text/plain";
  return TRUE;
}

const char *
coffer_item_get_name(CofferItem *item)
{
  return item->name;
}

CofferCollection *
coffer_item_get_collection(CofferItem *item)
{
  return item->collection;
}

const char *
coffer_item_get_label(CofferItem *item)
{
  return item->loaded ? item->label : NULL;
}

GHashTable *
coffer_item_get_attributes(CofferItem *item)
{
  return item->loaded ? item->attributes : NULL;
}

const char *
coffer_item_get_content_type(CofferItem *item)
{
  return item->loaded ? item->content_type : NULL;
}

const char *
coffer_item_get_app(CofferItem *item)
{
  return item->loaded ? item->app : NULL;
}

guint64
coffer_item_get_created(CofferItem *item)
{
  return item->created;
}

guint64
coffer_item_get_modified(CofferItem *item)
{
  return item->modified;
}

gboolean
coffer_item_is_locked(CofferItem *item)
{
  return coffer_collection_is_locked(item->collection);
}

/* ---- search ------------------------------------------------------------------ */

static gboolean
matches(CofferItem *item, GHashTable *attributes)
{
  GHashTableIter iter;
  gpointer name, value;

  g_hash_table_iter_init(&iter, attributes);
  while (g_hash_table_iter_next(&iter, &name, &value))
    if (g_strcmp0(g_hash_table_lookup(item->attributes, name), value) != 0)
      return FALSE;
  return TRUE;
}

/* In-memory (session) items are few and never indexed: scan them. */
static void
search_in_memory(CofferCollection *collection, GHashTable *attributes, GPtrArray *results)
{
  g_autoptr(GPtrArray) items = coffer_collection_list_items(collection);

  for (guint i = 0; i < items->len; i++)
    if (matches(items->pdata[i], attributes))
      g_ptr_array_add(results, items->pdata[i]);
}

static gboolean
search_store(CofferVault *vault, CofferCollection *collection, GHashTable *attributes, GPtrArray *results,
             GError **error)
{
  gsize n_hashes = 0;
  g_autofree guint8 *hashes = coffer_vault_attribute_hashes(vault, attributes, &n_hashes);
  g_autoptr(GArray) ids = NULL;
  GError *local = NULL;

  if (n_hashes != g_hash_table_size(attributes)) {
    /* An attribute that cannot be hashed (NUL in a name) matches nothing. */
    return TRUE;
  }
  if (!coffer_store_find_lookup(vault->store, hashes, n_hashes, &ids, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  for (guint i = 0; i < ids->len; i++) {
    g_autofree char *hex = coffer_id_to_hex(&g_array_index(ids, guint8, i * COFFER_ID_BYTES));
    CofferItem *item = g_hash_table_lookup(vault->items, hex);
    /* A search over everything leaves the internal collection out. */
    if (item != NULL && (collection != NULL ? item->collection == collection : !is_internal(item->collection)))
      g_ptr_array_add(results, item);
  }
  return TRUE;
}

GPtrArray *
coffer_vault_search(CofferVault *vault, CofferCollection *collection, GHashTable *attributes, GError **error)
{
  g_autoptr(GPtrArray) results = g_ptr_array_new();
  g_autoptr(GHashTable) empty = NULL;
  CofferCollection *session = g_hash_table_lookup(vault->collections, COFFER_SESSION_COLLECTION);

  if (attributes == NULL)
    attributes = empty = g_hash_table_new(g_str_hash, g_str_equal);
  if ((collection == NULL || collection == session) && session != NULL)
    search_in_memory(session, attributes, results);
  if (collection != session && vault->initialized && !search_store(vault, collection, attributes, results, error))
    return NULL;
  return g_steal_pointer(&results);
}
