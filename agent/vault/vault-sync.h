/* coffer — what the sync engine needs from the vault.
 *
 * The engine (agent/sync/) moves envelopes between the local store and a
 * remote; the vault decides what they mean.  Envelopes travel unchanged: the
 * bytes in the store are the bytes on the server (docs/sync-format.md).
 *
 * All functions run on the main loop (the vault is not thread-safe): the
 * engine does its network I/O in a worker thread and comes back to the main
 * loop to call these.  They need the vault unlocked unless said otherwise.
 */
#pragma once

#include "vault/vault.h"

/* ---- the remote header ------------------------------------------------------
 * The object "vault" on the remote:
 *   "CVH1" | format u8 (1) | vault_id[16] | account key slot (COFFER_KEYSLOT_BYTES)
 * The account key slot wraps VK under Argon2id(account password): a new
 * machine joins with the URL and that password. */
#define COFFER_HEADER_BYTES (4 + 1 + COFFER_ID_BYTES + COFFER_KEYSLOT_BYTES)

/* Builds a header for this vault, wrapping VK under the account password
 * (Argon2id: call from a thread-friendly place; it takes ~0.3 s). */
GBytes *coffer_vault_make_header(CofferVault *vault, const char *account_password, gsize len, GError **error);

/* The same with the Argon2id in a worker thread. */
void coffer_vault_make_header_async(CofferVault *vault, const char *account_password, gsize len,
                                    GAsyncReadyCallback callback, gpointer user_data);
GBytes *coffer_vault_make_header_finish(CofferVault *vault, GAsyncResult *result, GError **error);

/* Checks a fetched header belongs to this vault: same format and vault id.
 * A header of another vault is COFFER_VAULT_ERROR_CORRUPT ("foreign"). Works
 * while locked. */
gboolean coffer_vault_check_header(CofferVault *vault, GBytes *header, GError **error);

/* Joins the vault of a remote header: unwraps VK with the account password,
 * then
 *   - with no local vault: creates one with that vault id and VK, a new
 *     device id and lookup key, and a local key slot under login_password;
 *   - with an unlocked local vault: re-seals every local record under the
 *     remote vault's id and key (they become dirty and will be pushed), and
 *     re-wraps the local key slot; the local login collection merges with the
 *     remote one (same fixed id).
 * The vault is unlocked afterwards.  Wrong account password:
 * COFFER_VAULT_ERROR_BAD_PASSWORD. */
gboolean coffer_vault_join(CofferVault *vault, GBytes *header, const char *account_password, gsize account_len,
                           const char *login_password, gsize login_len, GError **error);

/* ---- pushing ------------------------------------------------------------------ */

typedef struct {
  guint8 id[COFFER_ID_BYTES];
  GBytes *envelope;
  char *etag; /* the version of it the remote had last time we knew; NULL = never synced */
} CofferSyncRecord;

void coffer_sync_record_free(CofferSyncRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferSyncRecord, coffer_sync_record_free)

/* Records changed here and not yet pushed.  Works while locked (envelopes
 * are ciphertext), so a lock never strands pending changes. */
GPtrArray *coffer_vault_dirty_records(CofferVault *vault, GError **error);

/* After a successful PUT of `envelope`: records the new ETag and clears the
 * dirty flag — unless the record changed again meanwhile (then it stays
 * dirty and only the ETag is updated, for the next If-Match). */
gboolean coffer_vault_mark_pushed(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], GBytes *envelope,
                                  const char *etag, GError **error);

/* A record the remote no longer has (lost, or removed by hand — never a
 * deletion): push it again as new (dirty, no ETag: If-None-Match: *). */
gboolean coffer_vault_mark_unsynced(CofferVault *vault, const guint8 id[COFFER_ID_BYTES], GError **error);

/* The ETag we last knew for a record, or NULL. */
char *coffer_vault_record_etag(CofferVault *vault, const guint8 id[COFFER_ID_BYTES]);

/* ---- pulling ------------------------------------------------------------------ */

typedef enum {
  COFFER_MERGE_APPLIED,    /* the remote version won: stored, loser in history, signals emitted */
  COFFER_MERGE_KEPT_LOCAL, /* the local version won: it stays (dirty) to be pushed; remote loser in history */
  COFFER_MERGE_SAME,       /* already have exactly this version: only the ETag was recorded */
  COFFER_MERGE_REFUSED,    /* failed authentication, foreign vault, or a rollback: nothing changed */
} CofferMergeResult;

/* Merges one envelope fetched from the remote (with its ETag).  The higher
 * revision (hlc, device) wins; the loser goes to history, never dropped.  A
 * remote version older than one this device already had from the remote for
 * that record, while our copy is not dirty, is a rollback: REFUSED, and our
 * copy is marked dirty so the next push repairs the server.  *error explains
 * REFUSED. */
CofferMergeResult coffer_vault_merge_remote(CofferVault *vault, GBytes *envelope, const char *etag, GError **error);

/* Several merges in one store transaction (one fsync instead of one per
 * record): merge_begin, any number of merge_remote, merge_commit.  Should the
 * commit fail, the vault in memory is ahead of the disk until the next unlock;
 * no ETag was recorded, so the next round fetches those records again. */
gboolean coffer_vault_merge_begin(CofferVault *vault, GError **error);
gboolean coffer_vault_merge_commit(CofferVault *vault, GError **error);

/* ---- history -------------------------------------------------------------------- */

typedef struct {
  gint64 seq;   /* history row, for restore */
  gint64 added; /* seconds since the epoch */
  guint64 hlc;
  guint8 device[COFFER_ID_BYTES];
  gboolean tombstone;
  char *label; /* decrypted */
} CofferHistoryEntry;

void coffer_history_entry_free(CofferHistoryEntry *entry);

/* Older versions of an item (newest first), decrypted labels included. */
GPtrArray *coffer_vault_item_history(CofferVault *vault, const char *item_name, GError **error);
/* Makes an old version current again, as a new revision (so it syncs). */
gboolean coffer_vault_restore(CofferVault *vault, const char *item_name, gint64 seq, GError **error);

/* Prunes history older than max_age seconds beyond the newest keep_count
 * versions of each record, and tombstones older than max_age; reports what
 * it reclaimed. */
typedef struct {
  guint64 history_removed;
  guint64 tombstones_removed;
  guint64 bytes_reclaimed;
} CofferCleanupReport;
gboolean coffer_vault_cleanup(CofferVault *vault, gint64 max_age, guint keep_count, CofferCleanupReport *report,
                              GError **error);

/* ---- the remote's configuration, sealed in the local store ---------------------- */

/* url, user, password (the password in sodium memory: free with sodium_free). */
typedef struct {
  char *url;
  char *user;
  char *password;
  gsize password_len;
} CofferRemoteSettings;

void coffer_remote_settings_clear(CofferRemoteSettings *settings);
/* Sealed under VK in the local store (never synced: each machine keeps its
 * own credentials).  url NULL removes the remote. */
gboolean coffer_vault_set_remote_settings(CofferVault *vault, const CofferRemoteSettings *settings, GError **error);
/* FALSE with no error when no remote is set. */
gboolean coffer_vault_get_remote_settings(CofferVault *vault, CofferRemoteSettings *settings, GError **error);
