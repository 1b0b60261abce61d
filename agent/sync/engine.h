/* coffer — the sync engine: keeps the vault and one remote in step.
 *
 * The engine owns the protocol (docs/sync-format.md, "Remote layout and
 * protocol"): which objects exist on the remote, when to poll, push, pull and
 * retry.  What records mean is the vault's business (vault/vault-sync.h);
 * how bytes travel is the remote's (sync/remote.h).
 *
 * Threads: the engine lives on the main loop and calls the vault only there.
 * Network I/O runs in one worker thread at a time, with its own CofferRemote
 * and its own copies of everything it sends; between network steps the engine
 * comes back to the main loop to ask or tell the vault.  A lock or a shutdown
 * between two steps simply ends the round: nothing half-applied is left
 * (every vault call is its own transaction) and the next round repairs the
 * rest.
 *
 * Triggers: a local change (debounced), a poll timer, and explicit requests.
 * Sync runs only while the vault is unlocked; changes made while locked stay
 * dirty in the store and go out after the next unlock.
 */
#pragma once

#include <gio/gio.h>
#include "vault/vault.h"

#define COFFER_SYNC_ERROR (coffer_sync_error_quark())
GQuark coffer_sync_error_quark(void);

typedef enum {
  COFFER_SYNC_ERROR_NO_REMOTE, /* no remote configured */
  COFFER_SYNC_ERROR_LOCKED,    /* the vault is locked: sync waits for unlock */
  COFFER_SYNC_ERROR_AUTH,      /* the server refused our credentials */
  COFFER_SYNC_ERROR_NETWORK,   /* the server could not be reached / kept failing */
  COFFER_SYNC_ERROR_FOREIGN,   /* the remote holds another vault (or none, for join) */
  COFFER_SYNC_ERROR_REMOTE,    /* the server answered something we cannot use */
  COFFER_SYNC_ERROR_CANCELLED, /* the round was cut short (lock, remote changed, shutdown) */
} CofferSyncError;

typedef struct {
  guint poll_interval_s;     /* idle polling; 0 = never poll (explicit/local-change only) */
  guint debounce_ms;         /* a burst of local changes becomes one push */
  guint full_listing_every;  /* a listing every N polls even when head says nothing changed */
  guint request_timeout_s;   /* per HTTP request */
  guint64 cleanup_max_age_s; /* history and tombstones older than this may go */
  guint cleanup_keep;        /* versions of history kept per record regardless of age */
} CofferSyncConfig;

/* The built-in defaults (docs/configuration.md lists the keys that change them). */
void coffer_sync_config_defaults(CofferSyncConfig *config);

typedef struct _CofferSyncEngine CofferSyncEngine;

/* Starts watching the vault (signals, lock state).  Does no I/O until the
 * vault is unlocked with a remote configured. */
CofferSyncEngine *coffer_sync_engine_new(CofferVault *vault, const CofferSyncConfig *config);
/* Stops timers, cancels the worker and waits a bounded time for it; a worker
 * still blocked in a request after that cleans up after itself. */
void coffer_sync_engine_free(CofferSyncEngine *engine);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferSyncEngine, coffer_sync_engine_free)

/* ---- requests (the control socket's) ---------------------------------------
 * Passwords are copied at once into sodium memory; the caller may wipe its own
 * on return.  Each finishes with the matching _finish on the main loop. */

typedef struct {
  guint64 pushed;    /* records uploaded */
  guint64 pulled;    /* remote versions applied here */
  guint64 conflicts; /* merges where both sides had changed (loser in history) */
  guint64 refused;   /* remote objects refused: failed authentication, rollback, foreign */
} CofferSyncReport;

/* Runs a full round now (after the one in flight, if any) and reports it. */
void coffer_sync_engine_sync_async(CofferSyncEngine *engine, GAsyncReadyCallback callback, gpointer user_data);
gboolean coffer_sync_engine_sync_finish(CofferSyncEngine *engine, GAsyncResult *result, CofferSyncReport *report,
                                        GError **error);

/* Makes url the remote of this vault: creates the layout and the header
 * (VK wrapped under account_password) on an empty remote, or accepts a remote
 * that already holds this vault's header; refuses another vault's.  Then
 * stores the settings (sealed, per device) and runs a first round. */
void coffer_sync_engine_set_remote_async(CofferSyncEngine *engine, const char *url, const char *user,
                                         const char *password, gsize password_len, const char *account_password,
                                         gsize account_len, GAsyncReadyCallback callback, gpointer user_data);
gboolean coffer_sync_engine_set_remote_finish(CofferSyncEngine *engine, GAsyncResult *result, GError **error);

/* Joins the vault at url: fetches its header, coffer_vault_join() with the
 * account password (and the login password for this device's slot), stores
 * the settings and pulls everything before completing. */
void coffer_sync_engine_join_async(CofferSyncEngine *engine, const char *url, const char *user, const char *password,
                                   gsize password_len, const char *account_password, gsize account_len,
                                   const char *login_password, gsize login_len, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean coffer_sync_engine_join_finish(CofferSyncEngine *engine, GAsyncResult *result, CofferSyncReport *report,
                                        GError **error);

/* Forgets the remote on this device (the remote's data stays). */
gboolean coffer_sync_engine_remove_remote(CofferSyncEngine *engine, GError **error);

typedef struct {
  guint64 history_removed;
  guint64 tombstones_removed;
  guint64 bytes_reclaimed;
  guint64 remote_removed; /* expired tombstones deleted from the remote */
} CofferSyncCleanupReport;

/* Prunes history and expired tombstones locally, then expired tombstones on
 * the remote (when one is configured and reachable). */
void coffer_sync_engine_cleanup_async(CofferSyncEngine *engine, GAsyncReadyCallback callback, gpointer user_data);
gboolean coffer_sync_engine_cleanup_finish(CofferSyncEngine *engine, GAsyncResult *result,
                                           CofferSyncCleanupReport *report, GError **error);

/* ---- status ------------------------------------------------------------------ */
typedef struct {
  char *url; /* NULL: no remote, or the vault is locked (settings are sealed) */
  char *user;
  gint64 last_sync;     /* wall-clock seconds of the last successful round; 0 never */
  guint64 pending;      /* local changes not yet pushed */
  char *last_error;     /* NULL when the last round succeeded */
  guint64 remote_bytes; /* size of the vault on the remote at the last listing */
  gboolean running;     /* a round is in flight */
} CofferSyncStatus;

void coffer_sync_engine_get_status(CofferSyncEngine *engine, CofferSyncStatus *status);
void coffer_sync_status_clear(CofferSyncStatus *status);
