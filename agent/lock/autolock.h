/* coffer — auto-lock: locks the vault when the user stops using it or
 * leaves the machine.
 *
 * Triggers, each switched on in coffer.conf's [lock] group (docs/autolock.md):
 *   lock_after_idle=N          N minutes without a Secret Service call
 *                              (the service reports each call to us);
 *   lock_on_screen_lock=true   the screen saver's ActiveChanged(true) on the
 *                              session bus, or logind's Session.Lock for our
 *                              session on the system bus;
 *   lock_before_sleep=true     logind's Manager.PrepareForSleep(true).
 * Without a reachable system bus (containers, SSH-only hosts) the logind
 * triggers are skipped quietly.  Locking is coffer_vault_lock(): keys and
 * plaintext are wiped and lock-changed tells the service, which signals
 * clients.  Ending the session needs nothing here: cofferd locks the vault
 * when it stops (SIGTERM, or the session bus going away). */
#pragma once

#include <gio/gio.h>
#include "config/config.h"
#include "service/service.h"
#include "vault/vault.h"

typedef struct CofferAutolock CofferAutolock;

/* Reads the [lock] keys of config, starts the triggers they ask for on
 * session_bus (and on the system bus, found in the background) and reports
 * Secret Service use from service to itself.  Free it before the service. */
CofferAutolock *coffer_autolock_new(CofferVault *vault, CofferService *service, GDBusConnection *session_bus,
                                    CofferConfig *config);
void coffer_autolock_free(CofferAutolock *autolock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferAutolock, coffer_autolock_free)
