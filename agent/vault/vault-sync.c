/* coffer — the vault's side of sync: the remote header, joining, pending
 * pushes, merging remote records, history and cleanup, and the sealed remote
 * settings.  See vault-sync.h and docs/sync-format.md. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "vault/vault-private.h"
#include "vault/vault-sync.h"

#define HEADER_MAGIC "CVH1"
#define HEADER_FORMAT 1
#define META_REMOTE "remote"

/* ---- header ------------------------------------------------------------------ */

GBytes *
coffer_vault_make_header(CofferVault *vault, const char *account_password, gsize len, GError **error)
{
  guint8 header[COFFER_HEADER_BYTES];
  int rc;

  if (!coffer_vault_require_key(vault, error))
    return NULL;
  if (account_password == NULL || len == 0) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "the account password is empty");
    return NULL;
  }
  memcpy(header, HEADER_MAGIC, 4);
  header[4] = HEADER_FORMAT;
  memcpy(header + 5, vault->vault_id, COFFER_ID_BYTES);
  rc = coffer_keyslot_wrap(vault->vk, account_password, len, coffer_kdf_default_params(), header + 5 + COFFER_ID_BYTES);
  if (rc != COFFER_CRYPTO_OK) {
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "account key slot"));
    return NULL;
  }
  return g_bytes_new(header, sizeof header);
}

typedef struct {
  guint8 header[COFFER_HEADER_BYTES];
  guint8 *vk; /* sodium_malloc() copies, for the worker thread */
  char *password;
  gsize password_len;
  int rc;
} HeaderJob;

static void
header_job_free(HeaderJob *job)
{
  sodium_free(job->vk);
  sodium_free(job->password);
  g_free(job);
}

static void
wrap_in_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  HeaderJob *job = data;

  job->rc = coffer_keyslot_wrap(job->vk, job->password, job->password_len, coffer_kdf_default_params(),
                                job->header + 5 + COFFER_ID_BYTES);
  g_task_return_boolean(task, TRUE);
}

void
coffer_vault_make_header_async(CofferVault *vault, const char *account_password, gsize len,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(vault, NULL, callback, user_data);
  HeaderJob *job;
  GError *error = NULL;

  if (!coffer_vault_require_key(vault, &error) || account_password == NULL || len == 0) {
    if (error == NULL)
      g_set_error(&error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "the account password is empty");
    g_task_return_error(task, error);
    return;
  }
  job = g_new0(HeaderJob, 1);
  memcpy(job->header, HEADER_MAGIC, 4);
  job->header[4] = HEADER_FORMAT;
  memcpy(job->header + 5, vault->vault_id, COFFER_ID_BYTES);
  job->vk = sodium_malloc(COFFER_KEY_BYTES);
  job->password = sodium_malloc(len);
  if (job->vk == NULL || job->password == NULL) {
    header_job_free(job);
    g_task_return_new_error(task, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
    return;
  }
  memcpy(job->vk, vault->vk, COFFER_KEY_BYTES);
  memcpy(job->password, account_password, len);
  job->password_len = len;
  g_task_set_task_data(task, job, (GDestroyNotify)header_job_free);
  g_task_run_in_thread(task, wrap_in_thread);
}

GBytes *
coffer_vault_make_header_finish(CofferVault *vault, GAsyncResult *result, GError **error)
{
  HeaderJob *job;

  if (!g_task_propagate_boolean(G_TASK(result), error))
    return NULL;
  job = g_task_get_task_data(G_TASK(result));
  if (job->rc != COFFER_CRYPTO_OK) {
    g_propagate_error(error, coffer_vault_error_from_crypto(job->rc, "account key slot"));
    return NULL;
  }
  return g_bytes_new(job->header, sizeof job->header);
}

/* Parses a header: *vault_id and *slot point into it. */
static gboolean
parse_header(GBytes *header, const guint8 **vault_id, const guint8 **slot, GError **error)
{
  gsize len;
  const guint8 *data = g_bytes_get_data(header, &len);

  if (len != COFFER_HEADER_BYTES || memcmp(data, HEADER_MAGIC, 4) != 0) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "the remote's vault header is malformed");
    return FALSE;
  }
  if (data[4] != HEADER_FORMAT) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT,
                "the remote's vault header has format %u; this coffer reads %u", data[4], HEADER_FORMAT);
    return FALSE;
  }
  *vault_id = data + 5;
  *slot = data + 5 + COFFER_ID_BYTES;
  return TRUE;
}

gboolean
coffer_vault_check_header(CofferVault *vault, GBytes *header, GError **error)
{
  const guint8 *vault_id, *slot;

  if (!vault->initialized) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_INITIALIZED, "there is no vault yet");
    return FALSE;
  }
  if (!parse_header(header, &vault_id, &slot, error))
    return FALSE;
  if (memcmp(vault_id, vault->vault_id, COFFER_ID_BYTES) != 0) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT,
                "the remote holds another vault (foreign header): refusing to sync with it");
    return FALSE;
  }
  return TRUE;
}

/* ---- join ----------------------------------------------------------------------- */

static guint8 *
unwrap_account_slot(const guint8 *slot, const char *password, gsize len, GError **error)
{
  guint8 *vk = sodium_malloc(COFFER_KEY_BYTES);
  int rc;

  if (vk == NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
    return NULL;
  }
  rc = coffer_keyslot_unwrap(slot, password, len, vk);
  if (rc == COFFER_CRYPTO_OK)
    return vk;
  sodium_free(vk);
  if (rc == COFFER_CRYPTO_EAUTH)
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD, "wrong account password");
  else
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "account key slot"));
  return NULL;
}

typedef struct {
  CofferVault *vault;
  const guint8 *new_vk;
  const guint8 *new_vault_id;
  GPtrArray *resealed; /* CofferStoreRecord* */
  GError *error;
} Reseal;

/* Re-seals one record under the joined vault's id and key, keeping its
 * revision (the revision is the record's identity in merges). */
static gboolean
reseal_one(const CofferStoreRecord *record, gpointer user_data)
{
  Reseal *reseal = user_data;
  CofferVault *vault = reseal->vault;
  gsize env_len, meta_len = 0, secret_len = 0;
  const guint8 *env = g_bytes_get_data(record->envelope, &env_len);
  CofferRecordHeader header;
  guint8 *meta = NULL, *secret = NULL, *sealed = NULL;
  size_t sealed_len = 0;
  int rc = coffer_envelope_parse_header(env, env_len, &header);
  gboolean has_secret;

  if (rc == COFFER_CRYPTO_OK)
    rc = coffer_envelope_open_meta(vault->vk, vault->vault_id, env, env_len, &meta, &meta_len);
  if (rc == COFFER_CRYPTO_OK)
    rc = coffer_envelope_open_secret(vault->vk, vault->vault_id, env, env_len, &secret, &secret_len);
  has_secret = secret != NULL;
  if (rc == COFFER_CRYPTO_OK)
    rc = coffer_envelope_seal(reseal->new_vk, reseal->new_vault_id, &header, meta, meta_len, has_secret ? secret : NULL,
                              secret_len, &sealed, &sealed_len);
  free(meta);
  sodium_free(secret);
  if (rc != COFFER_CRYPTO_OK) {
    /* A record we cannot read stays behind rather than block the join. */
    g_autofree char *hex = coffer_id_to_hex(record->id);
    g_warning("record %s cannot be re-keyed and is left out of the joined vault", hex);
    return TRUE;
  }
  {
    CofferStoreRecord *copy = g_new0(CofferStoreRecord, 1);
    *copy = *record;
    copy->etag = NULL;
    copy->envelope = g_bytes_new_with_free_func(sealed, sealed_len, free, sealed);
    g_ptr_array_add(reseal->resealed, copy);
  }
  return TRUE;
}

/* Writes the re-sealed records, the new identity and local slot at once. */
static gboolean
write_rekeyed(CofferVault *vault, Reseal *reseal, const char *login_password, gsize login_len, GError **error)
{
  GError *local = NULL;
  guint64 removed, bytes;
  gboolean ok = TRUE;

  if (!coffer_vault_begin(vault, error))
    return FALSE;
  /* Clean with no ETag, then dirty: every record is pushed to the new remote
   * without an If-Match for the old one. */
  for (guint i = 0; ok && i < reseal->resealed->len; i++) {
    CofferStoreRecord *record = reseal->resealed->pdata[i];
    ok = coffer_store_put_synced_record(vault->store, record, NULL, &local) &&
         coffer_store_mark_dirty(vault->store, record->id, &local);
  }
  /* History was sealed under the old key: it cannot follow. */
  ok = ok && coffer_store_prune_history(vault->store, G_MAXINT64, 0, &removed, &bytes, &local);
  if (!ok)
    g_propagate_error(error, coffer_vault_store_error(local));
  ok = ok && coffer_vault_set_vault_id(vault, reseal->new_vault_id, error) &&
       coffer_vault_write_local_slot(vault, reseal->new_vk, login_password, login_len, error);
  return coffer_vault_end(vault, ok, error);
}

/* Joins with an existing, unlocked local vault: every record is re-keyed. */
static gboolean
join_existing(CofferVault *vault, const guint8 *vault_id, guint8 *vk, const char *login_password, gsize login_len,
              GError **error)
{
  Reseal reseal = { vault, vk, vault_id, NULL, NULL };
  g_autoptr(GPtrArray) resealed = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_store_record_free);
  GError *local = NULL;

  reseal.resealed = resealed;
  if (!coffer_vault_check_local_password(vault, login_password, login_len, error) ||
      !coffer_store_foreach_record(vault->store, reseal_one, &reseal, &local)) {
    if (local != NULL)
      g_propagate_error(error, coffer_vault_store_error(local));
    sodium_free(vk);
    return FALSE;
  }
  if (!write_rekeyed(vault, &reseal, login_password, login_len, error)) {
    sodium_free(vk);
    return FALSE;
  }
  coffer_vault_lock(vault);
  return coffer_vault_adopt_key(vault, vk, error);
}

gboolean
coffer_vault_join(CofferVault *vault, GBytes *header, const char *account_password, gsize account_len,
                  const char *login_password, gsize login_len, GError **error)
{
  const guint8 *vault_id, *slot;
  guint8 *vk;

  if (!parse_header(header, &vault_id, &slot, error))
    return FALSE;
  if (vault->initialized && vault->vk == NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED, "unlock the local vault before joining");
    return FALSE;
  }
  vk = unwrap_account_slot(slot, account_password, account_len, error);
  if (vk == NULL)
    return FALSE;
  if (!vault->initialized)
    return coffer_vault_create_identity(vault, vault_id, vk, login_password, login_len, error);
  if (memcmp(vault_id, vault->vault_id, COFFER_ID_BYTES) == 0) {
    /* Already this vault: only make sure the login password is the local one. */
    sodium_free(vk);
    return coffer_vault_check_local_password(vault, login_password, login_len, error);
  }
  return join_existing(vault, vault_id, vk, login_password, login_len, error);
}

/* ---- pushing ------------------------------------------------------------------ */

void
coffer_sync_record_free(CofferSyncRecord *record)
{
  if (record == NULL)
    return;
  g_clear_pointer(&record->envelope, g_bytes_unref);
  g_free(record->etag);
  g_free(record);
}

static gboolean
collect_dirty(const CofferStoreRecord *record, gpointer user_data)
{
  CofferSyncRecord *copy = g_new0(CofferSyncRecord, 1);

  memcpy(copy->id, record->id, COFFER_ID_BYTES);
  copy->envelope = g_bytes_ref(record->envelope);
  copy->etag = g_strdup(record->etag);
  g_ptr_array_add(user_data, copy);
  return TRUE;
}

GPtrArray *
coffer_vault_dirty_records(CofferVault *vault, GError **error)
{
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_sync_record_free);
  GError *local = NULL;

  if (!coffer_store_foreach_dirty(vault->store, collect_dirty, records, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return NULL;
  }
  return g_steal_pointer(&records);
}

gboolean
coffer_vault_mark_pushed(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], GBytes *envelope, const char *etag,
                         GError **error)
{
  GError *local = NULL;

  if (!coffer_store_mark_pushed(vault->store, id, envelope, etag, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  return TRUE;
}

gboolean
coffer_vault_mark_unsynced(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], GError **error)
{
  g_autoptr(GBytes) nothing = g_bytes_new(NULL, 0);
  GError *local = NULL;
  gboolean ok;

  if (!coffer_vault_begin(vault, error))
    return FALSE;
  /* Recording a push of nothing clears the ETag (no envelope matches it). */
  ok = coffer_store_mark_pushed(vault->store, id, nothing, NULL, &local) &&
       coffer_store_mark_dirty(vault->store, id, &local);
  if (!ok)
    g_propagate_error(error, coffer_vault_store_error(local));
  return coffer_vault_end(vault, ok, error);
}

gboolean
coffer_vault_merge_begin(CofferVault *vault, GError **error)
{
  return coffer_vault_begin(vault, error);
}

gboolean
coffer_vault_merge_commit(CofferVault *vault, GError **error)
{
  return coffer_vault_end(vault, TRUE, error);
}

char *
coffer_vault_record_etag(CofferVault *vault, const guint8 id[COFFER_ID_BYTES])
{
  char *etag = NULL;

  coffer_store_get_sync_state(vault->store, id, &etag, NULL, NULL);
  return etag;
}

/* ---- pulling ------------------------------------------------------------------ */

/* A remote envelope, authenticated in full and decoded. */
typedef struct {
  CofferRecordHeader header;
  GVariant *meta;
  guint8 parent[COFFER_ID_BYTES]; /* items: the collection's id */
} Incoming;

static void
incoming_clear(Incoming *incoming)
{
  g_clear_pointer(&incoming->meta, g_variant_unref);
}

/* Both parts must authenticate under this vault: a tampered secret is caught
 * here, not at the next GetSecret. */
static gboolean
authenticate(CofferVault *vault, GBytes *envelope, Incoming *incoming, GError **error)
{
  gsize env_len, meta_len = 0, secret_len = 0;
  const guint8 *env = g_bytes_get_data(envelope, &env_len);
  guint8 *meta = NULL, *secret = NULL;
  g_autoptr(GVariant) parent = NULL;
  int rc = coffer_envelope_parse_header(env, env_len, &incoming->header);

  if (rc == COFFER_CRYPTO_OK)
    rc = coffer_envelope_open_meta(vault->vk, vault->vault_id, env, env_len, &meta, &meta_len);
  if (rc == COFFER_CRYPTO_OK)
    rc = coffer_envelope_open_secret(vault->vk, vault->vault_id, env, env_len, &secret, &secret_len);
  sodium_free(secret);
  if (rc != COFFER_CRYPTO_OK) {
    free(meta);
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "remote record"));
    return FALSE;
  }
  incoming->meta = coffer_vault_parse_meta(meta, meta_len, error);
  free(meta);
  if (incoming->meta == NULL)
    return FALSE;
  if (incoming->header.kind == COFFER_RECORD_ITEM) {
    parent = g_variant_lookup_value(incoming->meta, "collection", G_VARIANT_TYPE_BYTESTRING);
    if (parent == NULL || g_variant_get_size(parent) != COFFER_ID_BYTES) {
      g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "remote item names no collection");
      return FALSE;
    }
    memcpy(incoming->parent, g_variant_get_data(parent), COFFER_ID_BYTES);
  }
  return TRUE;
}

static char *
collection_name(const guint8 id[COFFER_ID_BYTES])
{
  if (memcmp(id, coffer_login_collection_id, COFFER_ID_BYTES) == 0)
    return g_strdup(COFFER_LOGIN_COLLECTION);
  return coffer_id_to_hex(id);
}

/* Stores the winning remote version (clean, with its ETag) with its lookup
 * rows, keeping the version it replaces in history, in one transaction. */
static gboolean
store_incoming(CofferVault *vault, GBytes *envelope, const char *etag, const Incoming *incoming, GBytes *replaced,
               GError **error)
{
  CofferStoreRecord record = { 0 };
  g_autoptr(GVariant) attributes_value = NULL;
  g_autoptr(GHashTable) attributes = g_hash_table_new(g_str_hash, g_str_equal);
  g_autofree guint8 *hashes = NULL;
  gboolean tombstone = (incoming->header.flags & COFFER_RECORD_FLAG_TOMBSTONE) != 0;
  gsize n_hashes = 0;
  GError *local = NULL;
  gboolean ok;

  memcpy(record.id, incoming->header.id, COFFER_ID_BYTES);
  record.kind = incoming->header.kind;
  if (record.kind == COFFER_RECORD_ITEM)
    memcpy(record.parent, incoming->parent, COFFER_ID_BYTES);
  record.tombstone = tombstone;
  record.envelope = envelope;
  attributes_value = g_variant_lookup_value(incoming->meta, "attributes", G_VARIANT_TYPE("a{ss}"));
  if (attributes_value != NULL && !tombstone) {
    GVariantIter iter;
    const char *name, *value;
    g_variant_iter_init(&iter, attributes_value);
    while (g_variant_iter_next(&iter, "{&s&s}", &name, &value))
      g_hash_table_replace(attributes, (gpointer)name, (gpointer)value);
  }
  hashes = coffer_vault_attribute_hashes(vault, attributes, &n_hashes);
  if (!coffer_vault_begin(vault, error))
    return FALSE;
  ok =
      (replaced == NULL || coffer_store_add_history(vault->store, record.id, replaced, &local)) &&
      coffer_store_put_synced_record(vault->store, &record, etag, &local) &&
      (record.kind != COFFER_RECORD_ITEM || coffer_store_set_lookup(vault->store, record.id, hashes, n_hashes, &local));
  if (!ok)
    g_propagate_error(error, coffer_vault_store_error(local));
  return coffer_vault_end(vault, ok, error);
}

typedef struct {
  CofferVault *vault;
  CofferCollection *collection;
} Adopt;

/* Items that arrived before their collection wait in the store; a newly
 * arrived collection takes them in.  Rare (a new collection), so a scan. */
static gboolean
adopt_one(const CofferStoreRecord *record, gpointer user_data)
{
  Adopt *adopt = user_data;
  g_autofree char *hex = NULL;
  CofferItem *item;

  if (record->kind != COFFER_RECORD_ITEM || record->tombstone ||
      memcmp(record->parent, adopt->collection->id, COFFER_ID_BYTES) != 0)
    return TRUE;
  hex = coffer_id_to_hex(record->id);
  if (g_hash_table_contains(adopt->vault->items, hex))
    return TRUE;
  item = coffer_item_add(adopt->collection, record->id);
  if (!coffer_vault_load_record_meta(adopt->vault, record, NULL))
    coffer_item_remove(item);
  else
    coffer_vault_emit_item(adopt->vault, SIGNAL_ITEM_CREATED, item);
  return TRUE;
}

static void
show_collection(CofferVault *vault, const Incoming *incoming)
{
  g_autofree char *name = collection_name(incoming->header.id);
  CofferCollection *collection = g_hash_table_lookup(vault->collections, name);
  gboolean tombstone = (incoming->header.flags & COFFER_RECORD_FLAG_TOMBSTONE) != 0;

  if (tombstone) {
    if (collection != NULL && !collection->in_memory) {
      g_hash_table_remove(vault->collections, name);
      g_signal_emit(vault, coffer_vault_signals[SIGNAL_COLLECTION_DELETED], 0, name);
    }
    return;
  }
  if (collection != NULL) {
    coffer_collection_forget_meta(collection);
    coffer_collection_apply_meta(collection, incoming->meta);
    coffer_vault_emit_collection(vault, SIGNAL_COLLECTION_CHANGED, collection);
    return;
  }
  collection = coffer_collection_new(vault, incoming->header.id, FALSE);
  coffer_collection_apply_meta(collection, incoming->meta);
  g_hash_table_replace(vault->collections, collection->name, collection);
  coffer_vault_emit_collection(vault, SIGNAL_COLLECTION_CREATED, collection);
  {
    Adopt adopt = { vault, collection };
    coffer_store_foreach_record(vault->store, adopt_one, &adopt, NULL);
  }
}

static void
show_item(CofferVault *vault, const Incoming *incoming)
{
  g_autofree char *hex = coffer_id_to_hex(incoming->header.id);
  g_autofree char *parent = collection_name(incoming->parent);
  CofferItem *item = g_hash_table_lookup(vault->items, hex);
  CofferCollection *collection = g_hash_table_lookup(vault->collections, parent);
  gboolean tombstone = (incoming->header.flags & COFFER_RECORD_FLAG_TOMBSTONE) != 0;

  if (tombstone) {
    if (item != NULL) {
      g_autofree char *collection_name_copy = g_strdup(item->collection->name);
      coffer_item_remove(item);
      g_signal_emit(vault, coffer_vault_signals[SIGNAL_ITEM_DELETED], 0, collection_name_copy, hex);
    }
    return;
  }
  if (item != NULL) {
    coffer_item_forget_meta(item);
    coffer_item_apply_meta(item, incoming->meta);
    coffer_vault_emit_item(vault, SIGNAL_ITEM_CHANGED, item);
    return;
  }
  if (collection == NULL)
    return; /* stored; its collection adopts it when that arrives */
  item = coffer_item_add(collection, incoming->header.id);
  coffer_item_apply_meta(item, incoming->meta);
  coffer_vault_emit_item(vault, SIGNAL_ITEM_CREATED, item);
}

/* Remote version won: store it, then let the model and clients see it. */
static CofferMergeResult
apply_incoming(CofferVault *vault, GBytes *envelope, const char *etag, const Incoming *incoming, GBytes *replaced,
               GError **error)
{
  if (!store_incoming(vault, envelope, etag, incoming, replaced, error))
    return COFFER_MERGE_REFUSED;
  if (incoming->header.kind == COFFER_RECORD_COLLECTION)
    show_collection(vault, incoming);
  else
    show_item(vault, incoming);
  return COFFER_MERGE_APPLIED;
}

/* Local version won (or the server rolled back): keep ours dirty so it is
 * pushed over the remote one, and remember the remote ETag for If-Match. */
static gboolean
keep_local(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], GBytes *remote, const char *etag, gboolean keep_loser,
           GError **error)
{
  GError *local = NULL;
  gboolean ok;

  if (!coffer_vault_begin(vault, error))
    return FALSE;
  ok = (!keep_loser || coffer_store_add_history(vault->store, id, remote, &local)) &&
       coffer_store_mark_pushed(vault->store, id, remote, etag, &local) &&
       coffer_store_mark_dirty(vault->store, id, &local);
  if (!ok)
    g_propagate_error(error, coffer_vault_store_error(local));
  return coffer_vault_end(vault, ok, error);
}

static CofferMergeResult
merge_with_local(CofferVault *vault, GBytes *envelope, const char *etag, const Incoming *incoming,
                 const CofferStoreRecord *current, GError **error)
{
  gsize len;
  const guint8 *env = g_bytes_get_data(current->envelope, &len);
  CofferRecordHeader local_header;
  gboolean dirty = FALSE;
  int order;

  if (coffer_envelope_parse_header(env, len, &local_header) != COFFER_CRYPTO_OK)
    /* Our own copy is unreadable: the remote one replaces it. */
    return apply_incoming(vault, envelope, etag, incoming, current->envelope, error);
  coffer_store_get_sync_state(vault->store, current->id, NULL, &dirty, NULL);
  order = coffer_revision_compare(&incoming->header.rev, &local_header.rev);
  if (order == 0) {
    if (!g_bytes_equal(envelope, current->envelope)) {
      g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT,
                  "the remote offers different contents under a revision we have");
      return COFFER_MERGE_REFUSED;
    }
    return coffer_vault_mark_pushed(vault, current->id, envelope, etag, error) ? COFFER_MERGE_SAME
                                                                               : COFFER_MERGE_REFUSED;
  }
  if (order > 0)
    return apply_incoming(vault, envelope, etag, incoming, current->envelope, error);
  if (!dirty) {
    /* We hold what the server had; an older version now is a rollback. */
    keep_local(vault, current->id, envelope, etag, FALSE, NULL);
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT,
                "the remote went back to an older version of a record (rollback): refused");
    return COFFER_MERGE_REFUSED;
  }
  return keep_local(vault, current->id, envelope, etag, TRUE, error) ? COFFER_MERGE_KEPT_LOCAL : COFFER_MERGE_REFUSED;
}

CofferMergeResult
coffer_vault_merge_remote(CofferVault *vault, GBytes *envelope, const char *etag, GError **error)
{
  Incoming incoming = { 0 };
  g_autoptr(CofferStoreRecord) current = NULL;
  GError *local = NULL;
  CofferMergeResult result;

  if (!coffer_vault_require_key(vault, error))
    return COFFER_MERGE_REFUSED;
  if (!authenticate(vault, envelope, &incoming, error)) {
    incoming_clear(&incoming);
    return COFFER_MERGE_REFUSED;
  }
  coffer_hlc_observe(&vault->hlc, incoming.header.rev.hlc);
  if (!coffer_store_get_record(vault->store, incoming.header.id, &current, &local)) {
    incoming_clear(&incoming);
    g_propagate_error(error, coffer_vault_store_error(local));
    return COFFER_MERGE_REFUSED;
  }
  if (current == NULL)
    result = apply_incoming(vault, envelope, etag, &incoming, NULL, error);
  else
    result = merge_with_local(vault, envelope, etag, &incoming, current, error);
  incoming_clear(&incoming);
  return result;
}

/* ---- history ------------------------------------------------------------------- */

void
coffer_history_entry_free(CofferHistoryEntry *entry)
{
  if (entry == NULL)
    return;
  g_free(entry->label);
  g_free(entry);
}

static gboolean
item_id(const char *item_name, guint8 id[COFFER_ID_BYTES], GError **error)
{
  if (coffer_id_from_hex(item_name, id))
    return TRUE;
  g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_FOUND, "no such item: %s", item_name);
  return FALSE;
}

static CofferHistoryEntry *
describe_version(CofferVault *vault, const CofferStoreHistory *row)
{
  gsize len, meta_len = 0;
  const guint8 *env = g_bytes_get_data(row->envelope, &len);
  CofferRecordHeader header;
  CofferHistoryEntry *entry;
  guint8 *meta = NULL;
  g_autoptr(GVariant) dict = NULL;
  const char *label = "";

  if (coffer_envelope_parse_header(env, len, &header) != COFFER_CRYPTO_OK ||
      coffer_envelope_open_meta(vault->vk, vault->vault_id, env, len, &meta, &meta_len) != COFFER_CRYPTO_OK)
    return NULL;
  dict = coffer_vault_parse_meta(meta, meta_len, NULL);
  free(meta);
  if (dict != NULL)
    g_variant_lookup(dict, "label", "&s", &label);
  entry = g_new0(CofferHistoryEntry, 1);
  entry->seq = row->seq;
  entry->added = row->added;
  entry->hlc = header.rev.hlc;
  memcpy(entry->device, header.rev.device, COFFER_ID_BYTES);
  entry->tombstone = (header.flags & COFFER_RECORD_FLAG_TOMBSTONE) != 0;
  entry->label = g_strdup(label);
  return entry;
}

GPtrArray *
coffer_vault_item_history(CofferVault *vault, const char *item_name, GError **error)
{
  guint8 id[COFFER_ID_BYTES];
  g_autoptr(GPtrArray) rows = NULL;
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_history_entry_free);
  GError *local = NULL;

  if (!coffer_vault_require_key(vault, error) || !item_id(item_name, id, error))
    return NULL;
  if (!coffer_store_list_history(vault->store, id, &rows, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return NULL;
  }
  for (guint i = 0; i < rows->len; i++) {
    CofferHistoryEntry *entry = describe_version(vault, rows->pdata[i]);
    if (entry != NULL)
      g_ptr_array_add(entries, entry);
  }
  return g_steal_pointer(&entries);
}

/* Opens a history version of an item: its metadata and secret. */
static gboolean
open_version(CofferVault *vault, const CofferStoreHistory *row, GVariant **meta, guint8 **secret, gsize *secret_len,
             GError **error)
{
  gsize len, meta_len = 0;
  const guint8 *env = g_bytes_get_data(row->envelope, &len);
  CofferRecordHeader header;
  guint8 *meta_bytes = NULL;
  int rc = coffer_envelope_parse_header(env, len, &header);

  if (rc == COFFER_CRYPTO_OK && (header.kind != COFFER_RECORD_ITEM || (header.flags & COFFER_RECORD_FLAG_TOMBSTONE))) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "that version is a deletion, not an item");
    return FALSE;
  }
  if (rc == COFFER_CRYPTO_OK)
    rc = coffer_envelope_open_meta(vault->vk, vault->vault_id, env, len, &meta_bytes, &meta_len);
  if (rc == COFFER_CRYPTO_OK)
    rc = coffer_envelope_open_secret(vault->vk, vault->vault_id, env, len, secret, secret_len);
  if (rc != COFFER_CRYPTO_OK) {
    free(meta_bytes);
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "history version"));
    return FALSE;
  }
  *meta = coffer_vault_parse_meta(meta_bytes, meta_len, error);
  free(meta_bytes);
  if (*meta == NULL) {
    g_clear_pointer(secret, sodium_free);
    return FALSE;
  }
  return TRUE;
}

/* The item to restore into: the live one, or (deleted) a new one with the
 * same id in the version's collection. */
static CofferItem *
restore_target(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], GVariant *meta, gboolean *created, GError **error)
{
  g_autofree char *hex = coffer_id_to_hex(id);
  g_autoptr(GVariant) parent = g_variant_lookup_value(meta, "collection", G_VARIANT_TYPE_BYTESTRING);
  g_autofree char *name = NULL;
  CofferItem *item = g_hash_table_lookup(vault->items, hex);
  CofferCollection *collection;

  *created = FALSE;
  if (item != NULL)
    return item;
  if (parent == NULL || g_variant_get_size(parent) != COFFER_ID_BYTES) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "the version names no collection");
    return NULL;
  }
  name = collection_name(g_variant_get_data(parent));
  collection = g_hash_table_lookup(vault->collections, name);
  if (collection == NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_FOUND, "the item's collection no longer exists");
    return NULL;
  }
  *created = TRUE;
  return coffer_item_add(collection, id);
}

gboolean
coffer_vault_restore(CofferVault *vault, const char *item_name, gint64 seq, GError **error)
{
  guint8 id[COFFER_ID_BYTES];
  g_autoptr(CofferStoreHistory) row = NULL;
  g_autoptr(GVariant) meta = NULL;
  guint8 *secret = NULL;
  gsize secret_len = 0;
  gboolean created, ok;
  CofferItem *item;
  GError *local = NULL;

  if (!coffer_vault_require_key(vault, error) || !item_id(item_name, id, error))
    return FALSE;
  if (!coffer_store_get_history(vault->store, seq, &row, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  if (row == NULL || memcmp(row->record, id, COFFER_ID_BYTES) != 0) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_FOUND, "no version %" G_GINT64_FORMAT " of %s", seq,
                item_name);
    return FALSE;
  }
  if (!open_version(vault, row, &meta, &secret, &secret_len, error))
    return FALSE;
  item = restore_target(vault, id, meta, &created, error);
  if (item == NULL) {
    sodium_free(secret);
    return FALSE;
  }
  /* The old contents as a new revision, so the restore syncs like an edit. */
  coffer_item_forget_meta(item);
  coffer_item_apply_meta(item, meta);
  item->modified = (guint64)(g_get_real_time() / G_USEC_PER_SEC);
  ok = coffer_vault_write_item(vault, item, secret ? secret : (const guint8 *)"", secret_len, error);
  sodium_free(secret);
  if (!ok) {
    if (created)
      coffer_item_remove(item);
    return FALSE;
  }
  coffer_vault_emit_item(vault, created ? SIGNAL_ITEM_CREATED : SIGNAL_ITEM_CHANGED, item);
  return TRUE;
}

/* ---- cleanup ------------------------------------------------------------------ */

typedef struct {
  gint64 cutoff_ms;
  GPtrArray *expired; /* CofferStoreRecord*: clean tombstones older than the cutoff */
} Expired;

static gboolean
collect_expired(const CofferStoreRecord *record, gpointer user_data)
{
  Expired *expired = user_data;
  gsize len;
  const guint8 *env = g_bytes_get_data(record->envelope, &len);
  CofferRecordHeader header;

  if (coffer_envelope_parse_header(env, len, &header) != COFFER_CRYPTO_OK ||
      (gint64)(header.rev.hlc >> 16) >= expired->cutoff_ms)
    return TRUE;
  g_ptr_array_add(expired->expired, g_memdup2(record->id, COFFER_ID_BYTES));
  return TRUE;
}

gboolean
coffer_vault_cleanup(CofferVault *vault, gint64 max_age, guint keep_count, CofferCleanupReport *report, GError **error)
{
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
  Expired expired = { (now - max_age) * 1000, ids };
  GError *local = NULL;

  gboolean ok;

  memset(report, 0, sizeof *report);
  if (!coffer_store_foreach_tombstone(vault->store, collect_expired, &expired, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  if (!coffer_vault_begin(vault, error))
    return FALSE;
  ok = coffer_store_prune_history(vault->store, now - max_age, keep_count, &report->history_removed,
                                  &report->bytes_reclaimed, &local);
  for (guint i = 0; ok && i < ids->len; i++) {
    gboolean dirty = FALSE;
    /* A deletion not yet pushed must reach the remote first. */
    ok = coffer_store_get_sync_state(vault->store, ids->pdata[i], NULL, &dirty, &local);
    if (ok && !dirty) {
      ok = coffer_store_remove_record(vault->store, ids->pdata[i], &local);
      report->tombstones_removed++;
    }
  }
  if (!ok)
    g_propagate_error(error, coffer_vault_store_error(local));
  return coffer_vault_end(vault, ok, error);
}

/* ---- remote settings ------------------------------------------------------------
 * Sealed with crypto_secretbox under a key derived from VK for this purpose
 * only; plaintext: u32 len | url | u32 len | user | u32 len | password. */

static void
derive_settings_key(CofferVault *vault, guint8 key[crypto_secretbox_KEYBYTES])
{
  static const char context[] = "coffer remote settings v1";

  crypto_generichash(key, crypto_secretbox_KEYBYTES, (const guint8 *)context, sizeof context - 1, vault->vk,
                     COFFER_KEY_BYTES);
}

static void
put_field(guint8 *out, gsize *offset, const char *data, gsize len)
{
  guint32 be = GUINT32_TO_BE((guint32)len);

  memcpy(out + *offset, &be, 4);
  if (len > 0)
    memcpy(out + *offset + 4, data, len);
  *offset += 4 + len;
}

static gboolean
take_field(const guint8 *in, gsize in_len, gsize *offset, const guint8 **data, gsize *len)
{
  guint32 be;

  if (in_len - *offset < 4)
    return FALSE;
  memcpy(&be, in + *offset, 4);
  *len = GUINT32_FROM_BE(be);
  if (in_len - *offset - 4 < *len)
    return FALSE;
  *data = in + *offset + 4;
  *offset += 4 + *len;
  return TRUE;
}

void
coffer_remote_settings_clear(CofferRemoteSettings *settings)
{
  g_clear_pointer(&settings->url, g_free);
  g_clear_pointer(&settings->user, g_free);
  g_clear_pointer(&settings->password, sodium_free);
  settings->password_len = 0;
}

gboolean
coffer_vault_set_remote_settings(CofferVault *vault, const CofferRemoteSettings *settings, GError **error)
{
  gsize url_len = settings->url ? strlen(settings->url) : 0, user_len = settings->user ? strlen(settings->user) : 0;
  gsize plain_len = 12 + url_len + user_len + settings->password_len, offset = 0;
  guint8 key[crypto_secretbox_KEYBYTES];
  g_autoptr(GBytes) value = NULL;
  guint8 *plain, *sealed;
  GError *local = NULL;
  gboolean ok;

  if (!coffer_vault_require_key(vault, error))
    return FALSE;
  if (settings->url == NULL)
    value = g_bytes_new(NULL, 0);
  else {
    plain = sodium_malloc(plain_len);
    sealed = g_malloc(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain_len);
    put_field(plain, &offset, settings->url, url_len);
    put_field(plain, &offset, settings->user, user_len);
    put_field(plain, &offset, settings->password, settings->password_len);
    derive_settings_key(vault, key);
    randombytes_buf(sealed, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(sealed + crypto_secretbox_NONCEBYTES, plain, plain_len, sealed, key);
    sodium_memzero(key, sizeof key);
    sodium_free(plain);
    value = g_bytes_new_take(sealed, crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain_len);
  }
  ok = coffer_store_set_meta(vault->store, META_REMOTE, value, &local);
  if (!ok)
    g_propagate_error(error, coffer_vault_store_error(local));
  return ok;
}

static gboolean
unseal_settings(CofferVault *vault, const guint8 *sealed, gsize len, CofferRemoteSettings *settings, GError **error)
{
  gsize plain_len = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, offset = 0;
  guint8 key[crypto_secretbox_KEYBYTES];
  guint8 *plain = sodium_malloc(MAX(plain_len, 1));
  const guint8 *url, *user, *password;
  gsize url_len, user_len, password_len;
  gboolean ok;

  derive_settings_key(vault, key);
  ok = crypto_secretbox_open_easy(plain, sealed + crypto_secretbox_NONCEBYTES, len - crypto_secretbox_NONCEBYTES,
                                  sealed, key) == 0 &&
       take_field(plain, plain_len, &offset, &url, &url_len) &&
       take_field(plain, plain_len, &offset, &user, &user_len) &&
       take_field(plain, plain_len, &offset, &password, &password_len) && offset == plain_len;
  sodium_memzero(key, sizeof key);
  if (ok) {
    settings->url = g_strndup((const char *)url, url_len);
    settings->user = user_len ? g_strndup((const char *)user, user_len) : NULL;
    settings->password = sodium_malloc(password_len + 1);
    memcpy(settings->password, password, password_len);
    settings->password[password_len] = '\0';
    settings->password_len = password_len;
  } else {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "the stored remote settings are damaged");
  }
  sodium_free(plain);
  return ok;
}

gboolean
coffer_vault_get_remote_settings(CofferVault *vault, CofferRemoteSettings *settings, GError **error)
{
  g_autoptr(GBytes) value = NULL;
  GError *local = NULL;
  gsize len;
  const guint8 *data;

  memset(settings, 0, sizeof *settings);
  if (!coffer_vault_require_key(vault, error))
    return FALSE;
  if (!coffer_store_get_meta(vault->store, META_REMOTE, &value, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  if (value == NULL || g_bytes_get_size(value) == 0)
    return FALSE;
  data = g_bytes_get_data(value, &len);
  if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + 12) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "the stored remote settings are damaged");
    return FALSE;
  }
  return unseal_settings(vault, data, len, settings, error);
}
