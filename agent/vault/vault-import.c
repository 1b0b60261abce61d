/* coffer — records imported from another keyring or an export file, with
 * their original times.  See vault-import.h. */
#include "config.h"

#include <string.h>

#include "vault/vault-import.h"
#include "vault/vault-private.h"

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

CofferCollection *
coffer_vault_import_collection(CofferVault *vault, const char *label, guint64 created, guint64 modified, GError **error)
{
  guint8 id[COFFER_ID_BYTES];

  if (!coffer_vault_require_key(vault, error))
    return NULL;
  coffer_random(id, sizeof id);
  return coffer_vault_add_collection(vault, id, label, created, modified, error);
}

CofferItem *
coffer_vault_import_item(CofferVault *vault, CofferCollection *collection, const CofferItemContent *content,
                         guint64 created, guint64 modified, GError **error)
{
  if (!coffer_vault_require_key(vault, error))
    return NULL;
  if (collection->in_memory) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID, "cannot import into the session collection");
    return NULL;
  }
  return coffer_vault_add_item(vault, collection, content, created, modified, error);
}
