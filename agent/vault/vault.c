/* coffer — the vault: keys and lifecycle (open, initialise, unlock, lock,
 * change password).  Collections and items are in vault-objects.c. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "vault/vault-private.h"

G_DEFINE_QUARK(coffer_vault_error, coffer_vault_error)
G_DEFINE_TYPE(CofferVault, coffer_vault, G_TYPE_OBJECT)

guint coffer_vault_signals[N_VAULT_SIGNALS];

const guint8 coffer_login_collection_id[COFFER_ID_BYTES] = "login";
const guint8 coffer_session_collection_id[COFFER_ID_BYTES] = "session";
const guint8 coffer_access_collection_id[COFFER_ID_BYTES] = "coffer-access";

/* Meta keys of the local store. */
#define META_VAULT_ID "vault-id"
#define META_DEVICE_ID "device-id"
#define META_KEYSLOT "keyslot"
#define META_LOOKUP_KEY "lookup-key"

GError *
coffer_vault_error_from_crypto(int rc, const char *what)
{
  switch (rc) {
  case COFFER_CRYPTO_EAUTH:
    return g_error_new(COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "%s failed to authenticate", what);
  case COFFER_CRYPTO_EVERSION:
    return g_error_new(COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "%s has a newer format", what);
  case COFFER_CRYPTO_ENOMEM:
    return g_error_new(COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "%s: out of memory", what);
  default:
    return g_error_new(COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "%s is malformed", what);
  }
}

GError *
coffer_vault_store_error(GError *cause)
{
  GError *error = g_error_new(COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "store: %s", cause->message);
  g_error_free(cause);
  return error;
}

gboolean
coffer_vault_begin(CofferVault *vault, GError **error)
{
  GError *local = NULL;

  if (coffer_store_begin(vault->store, &local))
    return TRUE;
  g_propagate_error(error, coffer_vault_store_error(local));
  return FALSE;
}

gboolean
coffer_vault_end(CofferVault *vault, gboolean ok, GError **error)
{
  GError *local = NULL;

  if (!ok) {
    coffer_store_rollback(vault->store);
    return FALSE;
  }
  /* A failed commit has already rolled back. */
  if (coffer_store_commit(vault->store, &local))
    return TRUE;
  g_propagate_error(error, coffer_vault_store_error(local));
  return FALSE;
}

static void
coffer_vault_finalize(GObject *object)
{
  CofferVault *vault = COFFER_VAULT(object);

  /* Collections own the items that vault->items indexes: drop them first. */
  g_hash_table_unref(vault->collections);
  g_hash_table_unref(vault->items);
  g_hash_table_unref(vault->aliases);
  sodium_free(vault->vk);
  sodium_free(vault->lk);
  coffer_store_free(vault->store);
  g_free(vault->store_path);
  G_OBJECT_CLASS(coffer_vault_parent_class)->finalize(object);
}

static void
coffer_vault_class_init(CofferVaultClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS(klass);
  static const char *const one_id[] = { "collection-created", "collection-changed", "collection-deleted" };
  static const char *const two_ids[] = { "item-created", "item-changed", "item-deleted" };

  object_class->finalize = coffer_vault_finalize;
  coffer_vault_signals[SIGNAL_LOCK_CHANGED] = g_signal_new("lock-changed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                                           0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
  for (guint i = 0; i < 3; i++) {
    coffer_vault_signals[SIGNAL_COLLECTION_CREATED + i] = g_signal_new(
        one_id[i], G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
    coffer_vault_signals[SIGNAL_ITEM_CREATED + i] =
        g_signal_new(two_ids[i], G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                     G_TYPE_STRING, G_TYPE_STRING);
  }
}

static void
coffer_vault_init(CofferVault *vault)
{
  vault->collections = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)coffer_collection_free);
  vault->items = g_hash_table_new(g_str_hash, g_str_equal);
  vault->aliases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

char *
coffer_id_to_hex(const guint8 id[COFFER_ID_BYTES])
{
  char *hex = g_malloc(COFFER_ID_BYTES * 2 + 1);

  sodium_bin2hex(hex, COFFER_ID_BYTES * 2 + 1, id, COFFER_ID_BYTES);
  return hex;
}

gboolean
coffer_id_from_hex(const char *hex, guint8 id[COFFER_ID_BYTES])
{
  size_t len = 0;

  if (strlen(hex) != COFFER_ID_BYTES * 2)
    return FALSE;
  for (const char *p = hex; *p; p++)
    if (!g_ascii_isdigit(*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return sodium_hex2bin(id, COFFER_ID_BYTES, hex, strlen(hex), NULL, &len, NULL) == 0 && len == COFFER_ID_BYTES;
}

/* Reads a fixed-size meta value; FALSE with no error when it is missing. */
static gboolean
read_meta_exact(CofferVault *vault, const char *key, guint8 *out, gsize len, GError **error)
{
  g_autoptr(GBytes) value = NULL;
  GError *local = NULL;

  if (!coffer_store_get_meta(vault->store, key, &value, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  if (value == NULL)
    return FALSE;
  if (g_bytes_get_size(value) != len) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "store value %s has the wrong size", key);
    return FALSE;
  }
  memcpy(out, g_bytes_get_data(value, NULL), len);
  return TRUE;
}

static gboolean
set_meta(CofferVault *vault, const char *key, const void *data, gsize len, GError **error)
{
  g_autoptr(GBytes) value = g_bytes_new(data, len);
  GError *local = NULL;

  if (!coffer_store_set_meta(vault->store, key, value, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  return TRUE;
}

static gboolean
load_aliases(CofferVault *vault, GError **error)
{
  g_autoptr(GBytes) value = NULL;
  g_autoptr(GVariant) dict = NULL;
  GError *local = NULL;
  GVariantIter iter;
  const char *alias, *name;

  if (!coffer_store_get_meta(vault->store, "aliases", &value, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  if (value == NULL)
    return TRUE;
  dict = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE("a{ss}"), value, FALSE));
  if (!g_variant_is_normal_form(dict)) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "alias table is malformed");
    return FALSE;
  }
  g_variant_iter_init(&iter, dict);
  while (g_variant_iter_next(&iter, "{&s&s}", &alias, &name))
    g_hash_table_replace(vault->aliases, g_strdup(alias), g_strdup(name));
  return TRUE;
}

/* Builds the locked skeleton: which collections and items exist, from the
 * store's plaintext columns, without any key. */
static gboolean
collect_record(const CofferStoreRecord *record, gpointer user_data)
{
  GPtrArray *records = user_data;
  CofferStoreRecord *copy;

  if (record->tombstone)
    return TRUE;
  copy = g_new0(CofferStoreRecord, 1);
  *copy = *record;
  copy->envelope = g_bytes_ref(record->envelope);
  copy->etag = g_strdup(record->etag);
  g_ptr_array_add(records, copy);
  return TRUE;
}

static void
add_skeleton(CofferVault *vault, const CofferStoreRecord *record, CofferRecordKind kind)
{
  CofferRecordHeader header;
  gsize len;
  const guint8 *env = g_bytes_get_data(record->envelope, &len);

  if (coffer_envelope_parse_header(env, len, &header) != COFFER_CRYPTO_OK || header.kind != kind)
    return;
  coffer_hlc_observe(&vault->hlc, header.rev.hlc);
  if (kind == COFFER_RECORD_COLLECTION) {
    CofferCollection *collection = coffer_collection_new(vault, record->id, FALSE);
    g_hash_table_replace(vault->collections, collection->name, collection);
  } else {
    g_autofree char *parent = NULL;
    CofferCollection *collection;

    parent = memcmp(record->parent, coffer_login_collection_id, COFFER_ID_BYTES) == 0
                 ? g_strdup(COFFER_LOGIN_COLLECTION)
                 : coffer_id_to_hex(record->parent);
    collection = g_hash_table_lookup(vault->collections, parent);
    if (collection == NULL) {
      g_warning("item record without a collection, ignored");
      return;
    }
    coffer_item_add(collection, record->id);
  }
}

static gboolean
load_skeleton(CofferVault *vault, GError **error)
{
  g_autoptr(GPtrArray) records = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_store_record_free);
  GError *local = NULL;

  if (!coffer_store_foreach_record(vault->store, collect_record, records, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  /* Collections first, so every item finds its parent. */
  for (guint i = 0; i < records->len; i++) {
    CofferStoreRecord *record = records->pdata[i];
    if (record->kind == COFFER_RECORD_COLLECTION)
      add_skeleton(vault, record, COFFER_RECORD_COLLECTION);
  }
  for (guint i = 0; i < records->len; i++) {
    CofferStoreRecord *record = records->pdata[i];
    if (record->kind == COFFER_RECORD_ITEM)
      add_skeleton(vault, record, COFFER_RECORD_ITEM);
  }
  return TRUE;
}

static gboolean
load_identity(CofferVault *vault, GError **error)
{
  GError *local = NULL;

  vault->initialized = read_meta_exact(vault, META_VAULT_ID, vault->vault_id, COFFER_ID_BYTES, &local);
  if (local == NULL && vault->initialized &&
      !read_meta_exact(vault, META_DEVICE_ID, vault->device_id, COFFER_ID_BYTES, &local) && local == NULL)
    g_set_error(&local, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "store has no device id");
  if (local == NULL && vault->initialized &&
      !read_meta_exact(vault, META_LOOKUP_KEY, vault->lk, COFFER_KEY_BYTES, &local) && local == NULL)
    g_set_error(&local, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "store has no lookup key");
  if (local != NULL) {
    g_propagate_error(error, local);
    return FALSE;
  }
  return TRUE;
}

/* The collections every client expects: session (in memory) and, before the
 * vault exists, a locked placeholder for login so that libsecret finds the
 * default collection and asks to unlock it (which creates the vault). */
static void
add_builtin_collections(CofferVault *vault)
{
  CofferCollection *session = coffer_collection_new(vault, coffer_session_collection_id, TRUE);

  session->loaded = TRUE;
  session->label = g_strdup("Session");
  session->created = session->modified = (guint64)(g_get_real_time() / G_USEC_PER_SEC);
  g_hash_table_replace(vault->collections, session->name, session);
  if (!g_hash_table_contains(vault->aliases, COFFER_SESSION_COLLECTION))
    g_hash_table_replace(vault->aliases, g_strdup(COFFER_SESSION_COLLECTION), g_strdup(COFFER_SESSION_COLLECTION));
  if (!vault->initialized) {
    CofferCollection *login = coffer_collection_new(vault, coffer_login_collection_id, FALSE);
    g_hash_table_replace(vault->collections, login->name, login);
    g_hash_table_replace(vault->aliases, g_strdup("default"), g_strdup(COFFER_LOGIN_COLLECTION));
  }
}

CofferVault *
coffer_vault_open(const char *store_path, GError **error)
{
  g_autoptr(CofferVault) vault = g_object_new(COFFER_TYPE_VAULT, NULL);
  GError *local = NULL;

  if (coffer_crypto_init() != COFFER_CRYPTO_OK) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "libsodium failed to initialise");
    return NULL;
  }
  vault->store_path = g_strdup(store_path);
  vault->lk = sodium_malloc(COFFER_KEY_BYTES);
  if (vault->lk == NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
    return NULL;
  }
  vault->store = coffer_store_open(store_path, &local);
  if (vault->store == NULL) {
    g_propagate_error(error, local);
    return NULL;
  }
  if (!load_identity(vault, error) || !load_aliases(vault, error) ||
      (vault->initialized && !load_skeleton(vault, error)))
    return NULL;
  add_builtin_collections(vault);
  return g_steal_pointer(&vault);
}

gboolean
coffer_vault_is_initialized(CofferVault *vault)
{
  return vault->initialized;
}

gboolean
coffer_vault_is_locked(CofferVault *vault)
{
  return vault->vk == NULL;
}

static gboolean
check_password(const char *password, gsize len, GError **error)
{
  if (password == NULL || len == 0) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "the password is empty");
    return FALSE;
  }
  return TRUE;
}

static gboolean
write_keyslot(CofferVault *vault, const guint8 *vk, const char *password, gsize len, GError **error)
{
  guint8 slot[COFFER_KEYSLOT_BYTES];
  int rc = coffer_keyslot_wrap(vk, password, len, coffer_kdf_default_params(), slot);

  if (rc != COFFER_CRYPTO_OK) {
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "key slot"));
    return FALSE;
  }
  return set_meta(vault, META_KEYSLOT, slot, sizeof slot, error);
}

/* Writes identity, keys and (write_login) the login collection in one
 * transaction. */
static gboolean
write_new_vault(CofferVault *vault, const guint8 slot[COFFER_KEYSLOT_BYTES], gboolean write_login, GError **error)
{
  CofferCollection *login = g_hash_table_lookup(vault->collections, COFFER_LOGIN_COLLECTION);

  if (!coffer_vault_begin(vault, error))
    return FALSE;
  return coffer_vault_end(vault,
                          set_meta(vault, META_VAULT_ID, vault->vault_id, COFFER_ID_BYTES, error) &&
                              set_meta(vault, META_DEVICE_ID, vault->device_id, COFFER_ID_BYTES, error) &&
                              set_meta(vault, META_LOOKUP_KEY, vault->lk, COFFER_KEY_BYTES, error) &&
                              set_meta(vault, META_KEYSLOT, slot, COFFER_KEYSLOT_BYTES, error) &&
                              (!write_login || coffer_vault_write_collection(vault, login, FALSE, error)) &&
                              coffer_vault_save_aliases(vault, error),
                          error);
}

/* Creates the vault's identity around vk (sodium memory, taken over) and
 * its wrapped local slot.  A new vault gets a random vault id and writes its
 * login collection; a joined vault (vault_id given) receives its login
 * collection from the remote. */
static gboolean
create_identity_with_slot(CofferVault *vault, const guint8 *vault_id, guint8 *vk,
                          const guint8 slot[COFFER_KEYSLOT_BYTES], GError **error)
{
  CofferCollection *login = g_hash_table_lookup(vault->collections, COFFER_LOGIN_COLLECTION);
  guint64 now = (guint64)(g_get_real_time() / G_USEC_PER_SEC);

  if (vault->initialized) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_ALREADY_INITIALIZED, "the vault already exists");
    sodium_free(vk);
    return FALSE;
  }
  g_assert(login != NULL);
  vault->vk = vk;
  coffer_random(vault->lk, COFFER_KEY_BYTES);
  if (vault_id != NULL)
    memcpy(vault->vault_id, vault_id, COFFER_ID_BYTES);
  else
    coffer_random(vault->vault_id, COFFER_ID_BYTES);
  coffer_random(vault->device_id, COFFER_ID_BYTES);
  login->loaded = TRUE;
  login->label = g_strdup("Login");
  login->created = login->modified = now;
  if (!write_new_vault(vault, slot, vault_id == NULL, error)) {
    coffer_collection_forget_meta(login);
    g_clear_pointer(&vault->vk, sodium_free);
    return FALSE;
  }
  vault->initialized = TRUE;
  g_signal_emit(vault, coffer_vault_signals[SIGNAL_LOCK_CHANGED], 0, FALSE);
  return TRUE;
}

static guint8 *
random_key(GError **error)
{
  guint8 *vk = sodium_malloc(COFFER_KEY_BYTES);

  if (vk == NULL)
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
  else
    coffer_random(vk, COFFER_KEY_BYTES);
  return vk;
}

/* The same, wrapping the slot here (Argon2id on the calling thread); vk NULL
 * means a new random key. */
gboolean
coffer_vault_create_identity(CofferVault *vault, const guint8 *vault_id, guint8 *vk, const char *password,
                             gsize password_len, GError **error)
{
  guint8 slot[COFFER_KEYSLOT_BYTES];
  int rc;

  if (!check_password(password, password_len, error) || (vk == NULL && (vk = random_key(error)) == NULL)) {
    sodium_free(vk);
    return FALSE;
  }
  rc = coffer_keyslot_wrap(vk, password, password_len, coffer_kdf_default_params(), slot);
  if (rc != COFFER_CRYPTO_OK) {
    sodium_free(vk);
    g_propagate_error(error, coffer_vault_error_from_crypto(rc, "key slot"));
    return FALSE;
  }
  return create_identity_with_slot(vault, vault_id, vk, slot, error);
}

gboolean
coffer_vault_initialize(CofferVault *vault, const char *password, gsize password_len, GError **error)
{
  return coffer_vault_create_identity(vault, NULL, NULL, password, password_len, error);
}

/* Re-wraps the local key slot around vk under password (join). */
gboolean
coffer_vault_write_local_slot(CofferVault *vault, const guint8 *vk, const char *password, gsize len, GError **error)
{
  return check_password(password, len, error) && write_keyslot(vault, vk, password, len, error);
}

gboolean
coffer_vault_set_vault_id(CofferVault *vault, const guint8 vault_id[COFFER_ID_BYTES], GError **error)
{
  if (!set_meta(vault, META_VAULT_ID, vault_id, COFFER_ID_BYTES, error))
    return FALSE;
  memcpy(vault->vault_id, vault_id, COFFER_ID_BYTES);
  return TRUE;
}

typedef struct {
  CofferVault *vault;
  GError *error;
  guint skipped;
} LoadState;

static gboolean
load_one(const CofferStoreRecord *record, gpointer user_data)
{
  LoadState *state = user_data;
  g_autoptr(GError) error = NULL;

  if (record->tombstone)
    return TRUE;
  if (!coffer_vault_load_record_meta(state->vault, record, &error)) {
    /* One damaged record must not make the whole keyring unusable: it stays
     * in the store untouched (nothing overwrites it) and is reported. */
    g_autofree char *hex = coffer_id_to_hex(record->id);
    g_warning("record %s cannot be read and is skipped: %s", hex, error->message);
    state->skipped++;
  }
  return TRUE;
}

/* ---- key derivation off the main loop ----------------------------------------
 * Argon2id takes a good part of a second by design: unlock and passwd run it
 * in a worker thread on a copy of the key slot and the passwords, and apply
 * the result on the main loop, so the agent keeps serving meanwhile. */

typedef struct {
  guint8 slot[COFFER_KEYSLOT_BYTES];
  guint8 new_slot[COFFER_KEYSLOT_BYTES];
  char *password; /* sodium_malloc() copies */
  gsize password_len;
  char *new_password; /* NULL for unlock */
  gsize new_len;
  guint8 *vk;        /* result of the unwrap, sodium_malloc() */
  gboolean creating; /* a new vault: wrap a fresh vk into new_slot */
  int rc;
} KdfJob;

static void
kdf_job_free(KdfJob *job)
{
  sodium_free(job->password);
  sodium_free(job->new_password);
  sodium_free(job->vk);
  sodium_memzero(job, sizeof *job);
  g_free(job);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KdfJob, kdf_job_free)

static char *
secure_copy(const char *data, gsize len)
{
  char *copy = sodium_malloc(len + 1);

  if (copy != NULL) {
    memcpy(copy, data, len);
    copy[len] = '\0';
  }
  return copy;
}

static KdfJob *
kdf_job_new(CofferVault *vault, const char *password, gsize len, const char *new_password, gsize new_len,
            GError **error)
{
  g_autoptr(KdfJob) job = g_new0(KdfJob, 1);

  if (!vault->initialized) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_INITIALIZED, "there is no vault yet");
    return NULL;
  }
  if (!check_password(password, len, error) || (new_password != NULL && !check_password(new_password, new_len, error)))
    return NULL;
  if (!read_meta_exact(vault, META_KEYSLOT, job->slot, sizeof job->slot, error)) {
    if (error != NULL && *error == NULL)
      g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "store has no key slot");
    return NULL;
  }
  job->password = secure_copy(password, len);
  job->password_len = len;
  job->new_password = new_password ? secure_copy(new_password, new_len) : NULL;
  job->new_len = new_len;
  job->vk = sodium_malloc(COFFER_KEY_BYTES);
  if (job->password == NULL || job->vk == NULL || (new_password != NULL && job->new_password == NULL)) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
    return NULL;
  }
  return g_steal_pointer(&job);
}

/* A job creating a vault: a fresh key to wrap under password. */
static KdfJob *
kdf_job_new_creating(CofferVault *vault, const char *password, gsize len, GError **error)
{
  g_autoptr(KdfJob) job = g_new0(KdfJob, 1);

  if (vault->initialized) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_ALREADY_INITIALIZED, "the vault already exists");
    return NULL;
  }
  if (!check_password(password, len, error))
    return NULL;
  job->creating = TRUE;
  job->password = secure_copy(password, len);
  job->password_len = len;
  job->vk = random_key(error);
  if (job->vk == NULL)
    return NULL;
  if (job->password == NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE, "cannot allocate secure memory");
    return NULL;
  }
  return g_steal_pointer(&job);
}

/* Pure computation on the job's own copies: safe in any thread. */
static void
kdf_job_run(KdfJob *job)
{
  if (job->creating) {
    job->rc =
        coffer_keyslot_wrap(job->vk, job->password, job->password_len, coffer_kdf_default_params(), job->new_slot);
    return;
  }
  job->rc = coffer_keyslot_unwrap(job->slot, job->password, job->password_len, job->vk);
  if (job->rc == COFFER_CRYPTO_OK && job->new_password != NULL)
    job->rc = coffer_keyslot_wrap(job->vk, job->new_password, job->new_len, coffer_kdf_default_params(), job->new_slot);
}

static gboolean
kdf_job_check(KdfJob *job, GError **error)
{
  if (job->rc == COFFER_CRYPTO_OK)
    return TRUE;
  if (job->rc == COFFER_CRYPTO_EAUTH)
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD, "wrong password");
  else
    g_propagate_error(error, coffer_vault_error_from_crypto(job->rc, "key slot"));
  return FALSE;
}

/* Main loop: takes the unwrapped key (or, if already unlocked, only checks
 * the password, so `coffer unlock` with a wrong one says so). */
gboolean
coffer_vault_adopt_key(CofferVault *vault, guint8 *vk, GError **error)
{
  LoadState state = { vault, NULL, 0 };
  GError *local = NULL;

  g_assert(vault->vk == NULL);
  vault->vk = vk;
  if (!coffer_store_foreach_record(vault->store, load_one, &state, &local)) {
    coffer_vault_lock(vault);
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  g_signal_emit(vault, coffer_vault_signals[SIGNAL_LOCK_CHANGED], 0, FALSE);
  return TRUE;
}

static gboolean
apply_unlock(CofferVault *vault, KdfJob *job, GError **error)
{
  if (!kdf_job_check(job, error))
    return FALSE;
  if (vault->vk != NULL)
    return TRUE;
  return coffer_vault_adopt_key(vault, g_steal_pointer(&job->vk), error);
}

/* Main loop: stores the re-wrapped slot.  Only the slot changes. */
static gboolean
apply_change_password(CofferVault *vault, KdfJob *job, GError **error)
{
  return kdf_job_check(job, error) && set_meta(vault, META_KEYSLOT, job->new_slot, sizeof job->new_slot, error);
}

/* Main loop: writes the new vault around the freshly wrapped key. */
static gboolean
apply_initialize(CofferVault *vault, KdfJob *job, GError **error)
{
  return kdf_job_check(job, error) &&
         create_identity_with_slot(vault, NULL, g_steal_pointer(&job->vk), job->new_slot, error);
}

typedef gboolean (*KdfApply)(CofferVault *vault, KdfJob *job, GError **error);

static void
kdf_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  kdf_job_run(data);
  g_task_return_boolean(task, TRUE);
}

static void
kdf_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) outer = user_data;
  CofferVault *vault = COFFER_VAULT(source);
  KdfApply apply = g_task_get_task_data(outer);
  GError *error = NULL;

  if (apply(vault, g_task_get_task_data(G_TASK(result)), &error))
    g_task_return_boolean(outer, TRUE);
  else
    g_task_return_error(outer, error);
}

/* Runs job (NULL: job_error says why) in a worker thread, then apply on
 * the main loop, then callback. */
static void
kdf_start(CofferVault *vault, KdfApply apply, KdfJob *job, GError *job_error, GAsyncReadyCallback callback,
          gpointer user_data)
{
  GTask *outer = g_task_new(vault, NULL, callback, user_data);
  g_autoptr(GTask) inner = NULL;

  g_task_set_task_data(outer, apply, NULL);
  if (job == NULL) {
    g_task_return_error(outer, job_error);
    g_object_unref(outer);
    return;
  }
  inner = g_task_new(vault, NULL, kdf_done, outer);
  g_task_set_task_data(inner, job, (GDestroyNotify)kdf_job_free);
  g_task_run_in_thread(inner, kdf_thread);
}

static gboolean
kdf_sync(CofferVault *vault, KdfApply apply, const char *password, gsize len, const char *new_password, gsize new_len,
         GError **error)
{
  g_autoptr(KdfJob) job = kdf_job_new(vault, password, len, new_password, new_len, error);

  if (job == NULL)
    return FALSE;
  kdf_job_run(job);
  return apply(vault, job, error);
}

/* Verifies password against the local key slot (a join that re-keys an
 * existing vault asks for it first). */
gboolean
coffer_vault_check_local_password(CofferVault *vault, const char *password, gsize len, GError **error)
{
  g_autoptr(KdfJob) job = kdf_job_new(vault, password, len, NULL, 0, error);

  if (job == NULL)
    return FALSE;
  kdf_job_run(job);
  return kdf_job_check(job, error);
}

gboolean
coffer_vault_unlock(CofferVault *vault, const char *password, gsize password_len, GError **error)
{
  return kdf_sync(vault, apply_unlock, password, password_len, NULL, 0, error);
}

void
coffer_vault_unlock_async(CofferVault *vault, const char *password, gsize password_len, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  GError *error = NULL;
  KdfJob *job = kdf_job_new(vault, password, password_len, NULL, 0, &error);

  kdf_start(vault, apply_unlock, job, error, callback, user_data);
}

void
coffer_vault_initialize_async(CofferVault *vault, const char *password, gsize password_len,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  GError *error = NULL;
  KdfJob *job = kdf_job_new_creating(vault, password, password_len, &error);

  kdf_start(vault, apply_initialize, job, error, callback, user_data);
}

gboolean
coffer_vault_change_password(CofferVault *vault, const char *old_password, gsize old_len, const char *new_password,
                             gsize new_len, GError **error)
{
  return kdf_sync(vault, apply_change_password, old_password, old_len, new_password, new_len, error);
}

void
coffer_vault_change_password_async(CofferVault *vault, const char *old_password, gsize old_len,
                                   const char *new_password, gsize new_len, GAsyncReadyCallback callback,
                                   gpointer user_data)
{
  GError *error = NULL;
  KdfJob *job = kdf_job_new(vault, old_password, old_len, new_password, new_len, &error);

  kdf_start(vault, apply_change_password, job, error, callback, user_data);
}

gboolean
coffer_vault_kdf_finish(CofferVault *vault, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

void
coffer_vault_lock(CofferVault *vault)
{
  GHashTableIter iter;
  CofferCollection *collection;

  if (vault->vk == NULL)
    return;
  g_clear_pointer(&vault->vk, sodium_free);
  g_hash_table_iter_init(&iter, vault->collections);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&collection)) {
    GHashTableIter items;
    CofferItem *item;

    if (collection->in_memory)
      continue;
    coffer_collection_forget_meta(collection);
    g_hash_table_iter_init(&items, collection->items);
    while (g_hash_table_iter_next(&items, NULL, (gpointer *)&item))
      coffer_item_forget_meta(item);
  }
  g_signal_emit(vault, coffer_vault_signals[SIGNAL_LOCK_CHANGED], 0, TRUE);
}

gboolean
coffer_vault_get_status(CofferVault *vault, CofferVaultStatus *status, GError **error)
{
  CofferStoreStats stats = { 0 };
  GError *local = NULL;

  if (!coffer_store_get_stats(vault->store, &stats, &local)) {
    g_propagate_error(error, coffer_vault_store_error(local));
    return FALSE;
  }
  status->initialized = vault->initialized;
  status->locked = vault->vk == NULL;
  status->collections = stats.collections;
  status->items = stats.items;
  /* The access decisions' internal collection is not the user's. */
  {
    g_autofree char *name = coffer_id_to_hex(coffer_access_collection_id);
    CofferCollection *internal = g_hash_table_lookup(vault->collections, name);
    if (internal != NULL) {
      status->collections -= MIN(status->collections, 1);
      status->items -= MIN(status->items, g_hash_table_size(internal->items));
    }
  }
  status->store_bytes = stats.bytes;
  status->store_path = vault->store_path;
  return TRUE;
}
