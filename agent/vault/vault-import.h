/* coffer — writing records that come from elsewhere (another keyring, an
 * export file) into the vault.
 *
 * Unlike coffer_vault_create_collection()/coffer_vault_create_item(), these
 * keep the creation and modification times the records had where they come
 * from, so a migrated item still says when it was really made.  Used by
 * coffer-import (import/); the agent never calls them.
 *
 * Batches: coffer_vault_import_begin() opens one store transaction that the
 * writes below join (store transactions nest); coffer_vault_import_end()
 * commits it (ok) or rolls it back.  After a rollback the vault's in-memory
 * objects no longer match the store: drop the vault object. */
#pragma once

#include "vault/vault.h"

gboolean coffer_vault_import_begin(CofferVault *vault, GError **error);
gboolean coffer_vault_import_end(CofferVault *vault, gboolean ok, GError **error);

/* A new collection with this label and these times (seconds since the
 * epoch; 0 means now). */
CofferCollection *coffer_vault_import_collection(CofferVault *vault, const char *label, guint64 created,
                                                 guint64 modified, GError **error);

/* A new item (never replaces one) with these times (0 means now; a modified
 * time before created is raised to created). */
CofferItem *coffer_vault_import_item(CofferVault *vault, CofferCollection *collection, const CofferItemContent *content,
                                     guint64 created, guint64 modified, GError **error);
