/* Internal state of the vault, shared by vault.c (keys, lifecycle) and
 * vault-objects.c (collections, items, search).  Not for other modules. */
#pragma once

#include "vault/vault.h"
#include "store/store.h"

struct _CofferCollection {
  CofferVault *vault; /* back pointer, not a reference */
  guint8 id[COFFER_ID_BYTES];
  char *name;         /* object path element */
  gboolean in_memory; /* the session collection */
  gboolean loaded;    /* metadata below is decrypted */
  char *label;
  guint64 created;
  guint64 modified;
  GHashTable *items; /* name -> CofferItem* (owned) */
};

struct _CofferItem {
  CofferCollection *collection; /* back pointer */
  guint8 id[COFFER_ID_BYTES];
  char *name; /* hex id */
  gboolean loaded;
  char *label;
  GHashTable *attributes; /* char* -> char* */
  char *content_type;
  char *app; /* creator's identity, or NULL */
  guint64 created;
  guint64 modified;
  guint8 *mem_secret; /* session items only: sodium_malloc() */
  gsize mem_secret_len;
};

struct _CofferVault {
  GObject parent_instance;
  char *store_path;
  CofferStore *store;
  gboolean initialized;
  guint8 vault_id[COFFER_ID_BYTES];
  guint8 device_id[COFFER_ID_BYTES];
  guint8 *vk; /* sodium_malloc(); NULL while locked */
  guint8 *lk; /* sodium_malloc(); loaded at open */
  CofferHlc hlc;
  GHashTable *collections; /* name -> CofferCollection* (owned) */
  GHashTable *items;       /* name -> CofferItem* (borrowed from collections) */
  GHashTable *aliases;     /* alias -> collection name */
};

enum {
  SIGNAL_LOCK_CHANGED,
  SIGNAL_COLLECTION_CREATED,
  SIGNAL_COLLECTION_CHANGED,
  SIGNAL_COLLECTION_DELETED,
  SIGNAL_ITEM_CREATED,
  SIGNAL_ITEM_CHANGED,
  SIGNAL_ITEM_DELETED,
  N_VAULT_SIGNALS
};
extern guint coffer_vault_signals[N_VAULT_SIGNALS];

/* Fixed ids: every machine's login collection is the same record, so a
 * joined vault merges its login collections instead of doubling them. */
extern const guint8 coffer_login_collection_id[COFFER_ID_BYTES];
extern const guint8 coffer_session_collection_id[COFFER_ID_BYTES];
/* The internal collection of access decisions; shown to nobody. */
extern const guint8 coffer_access_collection_id[COFFER_ID_BYTES];

/* vault-objects.c */
CofferCollection *coffer_collection_new(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], gboolean in_memory);
void coffer_collection_free(CofferCollection *collection);
CofferItem *coffer_item_add(CofferCollection *collection, const guint8 id[COFFER_ID_BYTES]);
void coffer_collection_forget_meta(CofferCollection *collection);
void coffer_item_forget_meta(CofferItem *item);
gboolean coffer_vault_load_record_meta(CofferVault *vault, const CofferStoreRecord *record, GError **error);
gboolean coffer_vault_write_collection(CofferVault *vault, CofferCollection *collection, gboolean tombstone,
                                       GError **error);
void coffer_vault_emit_item(CofferVault *vault, guint signal, CofferItem *item);
void coffer_vault_emit_collection(CofferVault *vault, guint signal, CofferCollection *collection);
gboolean coffer_vault_save_aliases(CofferVault *vault, GError **error);
GError *coffer_vault_error_from_crypto(int rc, const char *what);
/* Wraps a store error as COFFER_VAULT_ERROR_STORAGE (takes cause). */
GError *coffer_vault_store_error(GError *cause);
/* One store transaction: begin, then end(ok) commits when ok and rolls
 * back otherwise; FALSE when either failed. */
gboolean coffer_vault_begin(CofferVault *vault, GError **error);
gboolean coffer_vault_end(CofferVault *vault, gboolean ok, GError **error);
GVariant *coffer_vault_parse_meta(const guint8 *data, gsize len, GError **error);
void coffer_collection_apply_meta(CofferCollection *collection, GVariant *meta);
void coffer_item_apply_meta(CofferItem *item, GVariant *meta);
guint8 *coffer_vault_attribute_hashes(CofferVault *vault, GHashTable *attributes, gsize *n);
/* Persists an item whose in-memory metadata changed, with this secret (or
 * its current one when secret is NULL), as a new revision. */
gboolean coffer_vault_write_item(CofferVault *vault, CofferItem *item, const guint8 *secret, gsize secret_len,
                                 GError **error);
void coffer_item_remove(CofferItem *item);
/* NOT_INITIALIZED or LOCKED unless the key is here. */
gboolean coffer_vault_require_key(CofferVault *vault, GError **error);
/* New stored collection / item, emitting their -created signal; created and
 * modified 0 mean now (importers pass the original times). */
CofferCollection *coffer_vault_add_collection(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], const char *label,
                                              guint64 created, guint64 modified, GError **error);
CofferItem *coffer_vault_add_item(CofferVault *vault, CofferCollection *collection, const CofferItemContent *content,
                                  guint64 created, guint64 modified, GError **error);
/* vault.c: takes a key into an unlocked, loaded state (emits lock-changed). */
gboolean coffer_vault_adopt_key(CofferVault *vault, guint8 *vk, GError **error);
gboolean coffer_vault_create_identity(CofferVault *vault, const guint8 *vault_id, guint8 *vk, const char *password,
                                      gsize password_len, GError **error);
gboolean coffer_vault_write_local_slot(CofferVault *vault, const guint8 *vk, const char *password, gsize len,
                                       GError **error);
gboolean coffer_vault_check_local_password(CofferVault *vault, const char *password, gsize len, GError **error);
gboolean coffer_vault_set_vault_id(CofferVault *vault, const guint8 vault_id[COFFER_ID_BYTES], GError **error);
