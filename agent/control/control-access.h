/* coffer — the control socket's access-control requests: ACCESS_LIST and
 * ACCESS_REVOKE (docs/control-protocol.md), over the decisions that
 * agent/access/access.c keeps in the vault.  control-server.c owns the
 * connection; this file answers one parsed request. */
#pragma once

#include <gio/gio.h>
#include "control.h"
#include "vault/vault.h"

/* TRUE for the request types this file serves. */
gboolean coffer_control_access_handles(guint8 type);

/* The reply to msg (which must be one of those types); never NULL. */
GBytes *coffer_control_access_run(CofferVault *vault, const CofferControlMessage *msg);
