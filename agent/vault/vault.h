/* coffer — the vault: collections and items, their encryption, and the local
 * store behind them.  One vault per user.  The D-Bus service, the control
 * socket and (later) sync all work through this API; the vault emits GObject
 * signals for every change so each of them can tell its own clients.
 *
 * Ids are 16 random bytes, shown as 32 lowercase hex characters
 * (coffer_id_to_hex); collection and item object paths are built from them,
 * except the login collection whose path name is "login".
 *
 * Passwords are (pointer, length) pairs the caller keeps in sodium_malloc()
 * memory; the vault never copies them except into its own sodium memory.
 */
#pragma once

#include <gio/gio.h>
#include "vault/crypto.h"

#define COFFER_VAULT_ERROR (coffer_vault_error_quark())
GQuark coffer_vault_error_quark(void);

typedef enum {
  COFFER_VAULT_ERROR_NOT_INITIALIZED, /* no vault yet: run `coffer init` */
  COFFER_VAULT_ERROR_ALREADY_INITIALIZED,
  COFFER_VAULT_ERROR_BAD_PASSWORD,
  COFFER_VAULT_ERROR_LOCKED,
  COFFER_VAULT_ERROR_NOT_FOUND,
  COFFER_VAULT_ERROR_CORRUPT, /* a record or key slot fails to authenticate/parse */
  COFFER_VAULT_ERROR_INVALID, /* bad argument (empty password, bad label, ...) */
  COFFER_VAULT_ERROR_STORAGE, /* the store failed; nothing was changed */
} CofferVaultError;

#define COFFER_TYPE_VAULT (coffer_vault_get_type())
G_DECLARE_FINAL_TYPE(CofferVault, coffer_vault, COFFER, VAULT, GObject)

/* Signals (all carry the id as a hex string, "" for vault-wide ones):
 *   "lock-changed"        (gboolean locked)
 *   "collection-created"  (const char *collection_id)
 *   "collection-changed"  (const char *collection_id)
 *   "collection-deleted"  (const char *collection_id)
 *   "item-created"        (const char *collection_id, const char *item_id)
 *   "item-changed"        (const char *collection_id, const char *item_id)
 *   "item-deleted"        (const char *collection_id, const char *item_id)
 */

/* Opens the store at store_path (created when missing, not initialised). */
CofferVault *coffer_vault_open(const char *store_path, GError **error);

gboolean coffer_vault_is_initialized(CofferVault *vault);
gboolean coffer_vault_is_locked(CofferVault *vault);

/* Creates the vault (keys, key slot, the "login" collection with alias
 * "default") and leaves it unlocked. */
gboolean coffer_vault_initialize(CofferVault *vault, const char *password, gsize password_len, GError **error);
gboolean coffer_vault_unlock(CofferVault *vault, const char *password, gsize password_len, GError **error);
/* Wipes keys and decrypted metadata from memory; emits lock-changed. */
void coffer_vault_lock(CofferVault *vault);
/* Re-wraps the local key slot only; needs the current password. */
gboolean coffer_vault_change_password(CofferVault *vault, const char *old_password, gsize old_len,
                                      const char *new_password, gsize new_len, GError **error);

/* The same, with the key derivation (Argon2id, about half a second) in a
 * worker thread; the result is applied on the main loop before callback runs.
 * The passwords are copied at once: the caller may wipe them on return.
 * Finish either with coffer_vault_kdf_finish(). */
void coffer_vault_unlock_async(CofferVault *vault, const char *password, gsize password_len,
                               GAsyncReadyCallback callback, gpointer user_data);
void coffer_vault_initialize_async(CofferVault *vault, const char *password, gsize password_len,
                                   GAsyncReadyCallback callback, gpointer user_data);
void coffer_vault_change_password_async(CofferVault *vault, const char *old_password, gsize old_len,
                                        const char *new_password, gsize new_len, GAsyncReadyCallback callback,
                                        gpointer user_data);
gboolean coffer_vault_kdf_finish(CofferVault *vault, GAsyncResult *result, GError **error);

typedef struct {
  gboolean initialized;
  gboolean locked;
  guint64 collections;
  guint64 items;
  guint64 store_bytes;
  const char *store_path; /* owned by the vault */
} CofferVaultStatus;
gboolean coffer_vault_get_status(CofferVault *vault, CofferVaultStatus *status, GError **error);

/* ---- ids ------------------------------------------------------------------ */
char *coffer_id_to_hex(const guint8 id[COFFER_ID_BYTES]);
gboolean coffer_id_from_hex(const char *hex, guint8 id[COFFER_ID_BYTES]);

/* ---- collections and items --------------------------------------------------
 * Collections and items are owned by the vault.  Callers look them up by name
 * for each request and never keep pointers across main-loop iterations: a
 * record can be deleted (or, with sync, replaced) between two requests.
 *
 * The vault is one key: every stored collection is locked or unlocked with it.
 * The "session" collection lives in memory only, is never written, and is
 * never locked.  While the vault is locked, names, ids and the item lists are
 * known (from the store's plaintext columns); labels, attributes and secrets
 * are not: the accessors below return NULL then. */
typedef struct _CofferCollection CofferCollection;
typedef struct _CofferItem CofferItem;

#define COFFER_LOGIN_COLLECTION "login"
#define COFFER_SESSION_COLLECTION "session"

/* Borrowed CofferCollection pointers, sorted by name. */
GPtrArray *coffer_vault_list_collections(CofferVault *vault);
CofferCollection *coffer_vault_find_collection(CofferVault *vault, const char *name);
/* NULL when the alias is not set. */
CofferCollection *coffer_vault_resolve_alias(CofferVault *vault, const char *alias);
/* Names of the aliases that are set (strings owned by the array). */
GPtrArray *coffer_vault_list_aliases(CofferVault *vault);
/* collection NULL removes the alias. */
gboolean coffer_vault_set_alias(CofferVault *vault, const char *alias, CofferCollection *collection, GError **error);

CofferCollection *coffer_vault_create_collection(CofferVault *vault, const char *label, GError **error);
gboolean coffer_vault_delete_collection(CofferVault *vault, CofferCollection *collection, GError **error);
gboolean coffer_vault_set_collection_label(CofferVault *vault, CofferCollection *collection, const char *label,
                                           GError **error);

const char *coffer_collection_get_name(CofferCollection *collection);
const char *coffer_collection_get_label(CofferCollection *collection);
guint64 coffer_collection_get_created(CofferCollection *collection);
guint64 coffer_collection_get_modified(CofferCollection *collection);
gboolean coffer_collection_is_locked(CofferCollection *collection);
/* Borrowed CofferItem pointers, sorted by name. */
GPtrArray *coffer_collection_list_items(CofferCollection *collection);
CofferItem *coffer_collection_find_item(CofferCollection *collection, const char *name);

/* Items.  attributes: char* -> char*.  With replace, an item of the same
 * collection whose attributes are exactly these is updated instead (its name
 * is kept; *replaced says which happened). */
typedef struct {
  const char *label;
  GHashTable *attributes;
  const char *content_type;
  const guint8 *secret;
  gsize secret_len;
  const char *app; /* the creating application's identity (agent/access/), or NULL */
} CofferItemContent;

CofferItem *coffer_vault_create_item(CofferVault *vault, CofferCollection *collection, const CofferItemContent *content,
                                     gboolean replace, gboolean *replaced, GError **error);
gboolean coffer_vault_delete_item(CofferVault *vault, CofferItem *item, GError **error);
gboolean coffer_vault_set_item_label(CofferVault *vault, CofferItem *item, const char *label, GError **error);
gboolean coffer_vault_set_item_attributes(CofferVault *vault, CofferItem *item, GHashTable *attributes, GError **error);
gboolean coffer_vault_set_item_secret(CofferVault *vault, CofferItem *item, const guint8 *secret, gsize secret_len,
                                      const char *content_type, GError **error);
/* *secret is coffer_secure_alloc() memory: coffer_secure_release(secret,
 * secret_len) it (or sodium_free()).  *content_type is borrowed from the item. */
gboolean coffer_vault_get_item_secret(CofferVault *vault, CofferItem *item, guint8 **secret, gsize *secret_len,
                                      const char **content_type, GError **error);

const char *coffer_item_get_name(CofferItem *item);
CofferCollection *coffer_item_get_collection(CofferItem *item);
const char *coffer_item_get_label(CofferItem *item);
GHashTable *coffer_item_get_attributes(CofferItem *item);
const char *coffer_item_get_content_type(CofferItem *item);
guint64 coffer_item_get_created(CofferItem *item);
guint64 coffer_item_get_modified(CofferItem *item);
gboolean coffer_item_is_locked(CofferItem *item);
/* The identity of the application that created the item (the `app` key of
 * its metadata), NULL when unknown (made before access control, imported)
 * or while locked.  Replacing an item's contents keeps its creator. */
const char *coffer_item_get_app(CofferItem *item);

/* The internal collection of per-application access decisions
 * (agent/access/access.c): a stored collection with a fixed id, so it syncs
 * like any record and two machines' copies are one record.  The vault never
 * lists it, finds it by name, resolves an alias to it or returns its items
 * from a search over all collections: only this accessor reaches it.  NULL
 * when there is none yet and create is FALSE; with create, it is made (the
 * vault must be unlocked). */
CofferCollection *coffer_vault_get_access_collection(CofferVault *vault, gboolean create, GError **error);
/* TRUE for the internal collection's name (its signals are not for clients). */
gboolean coffer_vault_is_internal_collection(const char *name);

/* Items having every one of the attributes (an empty table matches all), in
 * one collection or (collection NULL) everywhere.  Works while locked, through
 * the lookup hashes.  Borrowed CofferItem pointers. */
GPtrArray *coffer_vault_search(CofferVault *vault, CofferCollection *collection, GHashTable *attributes,
                               GError **error);
