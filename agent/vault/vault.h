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
  COFFER_VAULT_ERROR_NOT_INITIALIZED,   /* no vault yet: run `coffer init` */
  COFFER_VAULT_ERROR_ALREADY_INITIALIZED,
  COFFER_VAULT_ERROR_BAD_PASSWORD,
  COFFER_VAULT_ERROR_LOCKED,
  COFFER_VAULT_ERROR_NOT_FOUND,
  COFFER_VAULT_ERROR_CORRUPT,          /* a record or key slot fails to authenticate/parse */
  COFFER_VAULT_ERROR_INVALID,          /* bad argument (empty password, bad label, ...) */
  COFFER_VAULT_ERROR_STORAGE,          /* the store failed; nothing was changed */
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
gboolean coffer_vault_initialize(CofferVault *vault, const char *password, gsize password_len,
                                 GError **error);
gboolean coffer_vault_unlock(CofferVault *vault, const char *password, gsize password_len,
                             GError **error);
/* Wipes keys and decrypted metadata from memory; emits lock-changed. */
void coffer_vault_lock(CofferVault *vault);
/* Re-wraps the local key slot only; needs the current password. */
gboolean coffer_vault_change_password(CofferVault *vault, const char *old_password, gsize old_len,
                                      const char *new_password, gsize new_len, GError **error);

typedef struct {
  gboolean initialized;
  gboolean locked;
  guint64 collections;
  guint64 items;
  guint64 store_bytes;
  const char *store_path;  /* owned by the vault */
} CofferVaultStatus;
gboolean coffer_vault_get_status(CofferVault *vault, CofferVaultStatus *status, GError **error);

/* ---- ids ------------------------------------------------------------------ */
char *coffer_id_to_hex(const guint8 id[COFFER_ID_BYTES]);
gboolean coffer_id_from_hex(const char *hex, guint8 id[COFFER_ID_BYTES]);
