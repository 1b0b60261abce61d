/* coffer — cofferd's control socket: serves INIT, UNLOCK, LOGIN, LOCK, STATUS
 * and PASSWD (docs/control-protocol.md) to clients running as the same uid.
 *
 * The server lives on the thread-default main context of the caller of
 * coffer_control_server_new().  Reads and writes are asynchronous and bounded
 * by a timeout, so a client that hangs cannot stall the agent. */
#pragma once

#include <gio/gio.h>
#include "vault/vault.h"

typedef struct _CofferControlServer CofferControlServer;

/* Creates the socket's directory (0700) if needed, refusing one that is a
 * symlink, not ours or not 0700; replaces a stale socket (ours, and nothing
 * answers on it); binds socket_path with mode 0600 and starts listening.
 * Fails with G_IO_ERROR_ADDRESS_IN_USE when another agent answers there.
 * Keeps a reference on vault. */
CofferControlServer *coffer_control_server_new(CofferVault *vault, const char *socket_path, GError **error);
/* Stops listening, drops open connections and removes the socket file if it
 * is still the one this server bound. */
void coffer_control_server_free(CofferControlServer *server);

/* How long one request may take to arrive, and its response to leave
 * (default 5000 ms).  An idle connection is closed after this long. */
void coffer_control_server_set_timeout(CofferControlServer *server, guint timeout_ms);

/* Serves the sync requests with this engine (not owned: free the server
 * first).  Without one they fail with "this agent runs without sync". */
typedef struct _CofferSyncEngine CofferSyncEngine;
void coffer_control_server_set_sync_engine(CofferControlServer *server, CofferSyncEngine *engine);

/* What LOGIN does, for `cofferd --password-fd`: unlock with a login
 * password, create the vault when there is none and create is set, and keep
 * a reset login password for the next UNLOCK (docs/pam.md).  The password is
 * copied at once.  finish() returns 0 or a CofferControlError and, if
 * message is not NULL, a text for people (or NULL) to g_free(). */
void coffer_control_server_login_async(CofferControlServer *server, const char *password, gsize len, gboolean create,
                                       GAsyncReadyCallback callback, gpointer user_data);
guint32 coffer_control_server_login_finish(GAsyncResult *result, char **message);

/* The control protocol's error code for a vault (or other) error. */
guint32 coffer_control_error_from_gerror(const GError *error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferControlServer, coffer_control_server_free)
