/* coffer — the control socket's sync requests: REMOTE_SET, REMOTE_REMOVE,
 * JOIN, SYNC, HISTORY, RESTORE, CLEANUP, and the sync part of STATUS
 * (docs/control-protocol.md).  control-server.c owns the connection; this
 * file turns one parsed request into work for the sync engine or the vault
 * and builds the reply. */
#pragma once

#include <gio/gio.h>
#include "control.h"
#include "sync/engine.h"
#include "vault/vault.h"

typedef struct _CofferControlSyncRequest CofferControlSyncRequest;

/* TRUE for the request types this file serves. */
gboolean coffer_control_sync_handles(guint8 type);

/* Copies what the request needs out of msg (passwords into sodium memory),
 * so the caller can wipe the body right after.  NULL when out of secure
 * memory. */
CofferControlSyncRequest *coffer_control_sync_request_new(const CofferControlMessage *msg);

/* Runs the request (taking it over).  Returns the reply now, or NULL and
 * calls reply_func(reply, user_data) on the main loop later.  engine may be
 * NULL (an agent built without sync): the requests then fail cleanly. */
typedef void (*CofferControlReplyFunc)(GBytes *reply, gpointer user_data);
GBytes *coffer_control_sync_run(CofferSyncEngine *engine, CofferVault *vault, CofferControlSyncRequest *request,
                                CofferControlReplyFunc reply_func, gpointer user_data);

/* Adds the sync fields of a STATUS reply (remote, last sync, pending, last
 * error, remote bytes). */
void coffer_control_sync_add_status(CofferSyncEngine *engine, CofferControlBuilder *builder);
