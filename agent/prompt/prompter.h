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
 *   - CofferPinentryPrompter (pinentry.h) runs a pinentry program, asks for
 *     the password, unlocks (or creates) the vault itself and retries on a
 *     wrong password.
 *
 * unlock completes TRUE when the vault is unlocked, or FALSE with an error
 * (G_IO_ERROR_CANCELLED when the user, or the caller through Dismiss or by
 * leaving the bus, gave up; G_IO_ERROR_TIMED_OUT; a dead pinentry...).
 * change_password asks for the current and a new password and re-wraps the
 * vault's key slot.  confirm asks a yes/no/cancel question (access control).
 * The agent keeps serving while any of them runs.
 */
#pragma once

#include <gio/gio.h>
#include "vault/vault.h"

#define COFFER_TYPE_PROMPTER (coffer_prompter_get_type())
G_DECLARE_INTERFACE(CofferPrompter, coffer_prompter, COFFER, PROMPTER, GObject)

struct _CofferPrompterInterface {
  GTypeInterface parent_iface;

  void (*unlock_async)(CofferPrompter *self, CofferVault *vault, const char *window_id, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*unlock_finish)(CofferPrompter *self, GAsyncResult *result, GError **error);

  void (*change_password_async)(CofferPrompter *self, CofferVault *vault, const char *window_id,
                                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
  gboolean (*change_password_finish)(CofferPrompter *self, GAsyncResult *result, GError **error);

  void (*confirm_async)(CofferPrompter *self, const char *title, const char *description, const char *ok_label,
                        const char *cancel_label, const char *notok_label, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data);
  int (*confirm_finish)(CofferPrompter *self, GAsyncResult *result, GError **error);
};

/* The answer to a confirmation. */
typedef enum {
  COFFER_CONFIRM_ALLOW,  /* the OK button */
  COFFER_CONFIRM_DENY,   /* the "not OK" button, or no way to ask */
  COFFER_CONFIRM_CANCEL, /* cancelled, timed out, dismissed, or the prompt failed */
} CofferConfirmResult;

void coffer_prompter_unlock_async(CofferPrompter *self, CofferVault *vault, const char *window_id,
                                  GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean coffer_prompter_unlock_finish(CofferPrompter *self, GAsyncResult *result, GError **error);

void coffer_prompter_change_password_async(CofferPrompter *self, CofferVault *vault, const char *window_id,
                                           GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean coffer_prompter_change_password_finish(CofferPrompter *self, GAsyncResult *result, GError **error);

/* Asks a question with up to three answers.  ok_label is required;
 * cancel_label and notok_label may be NULL (then that button keeps its
 * default, or is not shown).  title and description are shown as given. */
void coffer_prompter_confirm_async(CofferPrompter *self, const char *title, const char *description,
                                   const char *ok_label, const char *cancel_label, const char *notok_label,
                                   GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
/* COFFER_CONFIRM_CANCEL with error set when asking failed. */
CofferConfirmResult coffer_prompter_confirm_finish(CofferPrompter *self, GAsyncResult *result, GError **error);

#define COFFER_TYPE_EXTERNAL_PROMPTER (coffer_external_prompter_get_type())
G_DECLARE_FINAL_TYPE(CofferExternalPrompter, coffer_external_prompter, COFFER, EXTERNAL_PROMPTER, GObject)

/* Answers confirmations DENY (there is nobody to ask), and cannot change
 * the password (that is `coffer passwd`): change_password fails with
 * G_IO_ERROR_NOT_SUPPORTED. */
CofferPrompter *coffer_external_prompter_new(void);
