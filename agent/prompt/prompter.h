/* coffer — the prompter seam.
 *
 * A Secret Service Prompt object (agent/service/prompt.c) asks a prompter to
 * get the vault unlocked (or created, when there is none yet).  How the
 * password reaches the vault is the prompter's business:
 *
 *   - CofferExternalPrompter (this folder): nothing is shown; the prompt
 *     completes when the vault gets unlocked from outside — `coffer unlock`
 *     (or `coffer init`) on the control socket, or pam_coffer at login.
 *     This is the prompter when no pinentry is configured or available.
 *   - a pinentry prompter (its own issue) runs a pinentry program, asks for
 *     the password, calls coffer_vault_unlock() itself and retries on a wrong
 *     password.
 *
 * The asynchronous call completes TRUE when the vault is unlocked, or FALSE
 * with G_IO_ERROR_CANCELLED when the user (or the caller, through Dismiss or
 * by leaving the bus) gave up.  The agent keeps serving while it runs.
 */
#pragma once

#include <gio/gio.h>
#include "vault/vault.h"

#define COFFER_TYPE_PROMPTER (coffer_prompter_get_type())
G_DECLARE_INTERFACE(CofferPrompter, coffer_prompter, COFFER, PROMPTER, GObject)

struct _CofferPrompterInterface {
  GTypeInterface parent_iface;

  void (*unlock_async)(CofferPrompter *self, CofferVault *vault, const char *window_id,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*unlock_finish)(CofferPrompter *self, GAsyncResult *result, GError **error);
};

void coffer_prompter_unlock_async(CofferPrompter *self, CofferVault *vault, const char *window_id,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean coffer_prompter_unlock_finish(CofferPrompter *self, GAsyncResult *result, GError **error);

#define COFFER_TYPE_EXTERNAL_PROMPTER (coffer_external_prompter_get_type())
G_DECLARE_FINAL_TYPE(CofferExternalPrompter, coffer_external_prompter, COFFER, EXTERNAL_PROMPTER, GObject)

CofferPrompter *coffer_external_prompter_new(void);
