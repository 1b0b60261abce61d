/* coffer — the freedesktop Secret Service on D-Bus.
 *
 * Objects are served with g_dbus_connection_register_subtree: one dispatcher
 * per container path (GDBus subtrees reach one level of children), so a
 * vault of thousands of items costs no per-item registration:
 *
 *   /org/freedesktop/secrets                     Service
 *   /org/freedesktop/secrets/collection/<c>      Collection
 *   /org/freedesktop/secrets/collection/<c>/<i>  Item
 *   /org/freedesktop/secrets/aliases/<a>[/<i>]   the same, through an alias
 *   /org/freedesktop/secrets/session/<n>         Session
 *   /org/freedesktop/secrets/prompt/<n>          Prompt
 *
 * Every call looks its object up again from the path: nothing keeps a
 * pointer to a collection or item between calls. */
#pragma once

#include <gio/gio.h>
#include "prompt/prompter.h"
#include "vault/vault.h"

typedef struct CofferService CofferService;

CofferService *coffer_service_new(GDBusConnection *connection, CofferVault *vault, CofferPrompter *prompter,
                                  GError **error);
void coffer_service_free(CofferService *service);
/* callback runs on every Secret Service method call and property access
 * (auto-lock's idle timer, agent/lock/); NULL stops it. */
void coffer_service_set_activity_callback(CofferService *service, void (*callback)(gpointer user_data),
                                          gpointer user_data);
/* access=ask in coffer.conf: reading another application's item asks the
 * user first (agent/access/access.h).  Off by default. */
void coffer_service_set_access_ask(CofferService *service, gboolean ask);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferService, coffer_service_free)
