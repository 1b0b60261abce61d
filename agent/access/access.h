/* coffer — per-application access control (`access=ask` in coffer.conf;
 * docs/security.md, "Per-application access control").
 *
 * Every item remembers the application that created it (its `app`
 * metadata, from app-info.h).  With access=ask, an application reading an
 * item another one created (or one whose creator is unknown: made before
 * access control, imported) is asked about through the prompter:
 *
 *   "Allow <app> to read <label>?"   [Allow once] [Always allow] [Deny]
 *
 * on pinentry's CONFIRM, the buttons being OK, NOTOK and Cancel.  OK, the
 * default button, is the answer that grants least ("once"); "always" is
 * NOTOK, honoured only from the pinentry prompter (any other prompter's
 * "not OK" means it could not ask, and denies); Cancel — which also covers
 * Escape and closing the window — denies, and is remembered only until the
 * application leaves the bus, so a client retrying in a loop cannot bury
 * the user in dialogs, and a stray key press never becomes permanent.  An
 * "always" is a decision record in the vault's internal collection
 * (vault.h: coffer_vault_get_access_collection), so it is encrypted and
 * syncs; `coffer access list/revoke` manage them.  Decisions name the
 * application's full identity, its executable's hash included, so a changed
 * program is asked again.  One question at a time: checks wait in line and
 * are judged again when their turn comes (an earlier "always" may settle
 * them).  The D-Bus call waits meanwhile; the agent keeps serving. */
#pragma once

#include <gio/gio.h>

#include "access/app-info.h"
#include "prompt/prompter.h"
#include "vault/vault.h"

typedef struct _CofferAccess CofferAccess;

CofferAccess *coffer_access_new(GDBusConnection *connection, CofferVault *vault, CofferPrompter *prompter);
/* Pending checks are dropped: call it only once the main loop has stopped. */
void coffer_access_free(CofferAccess *access);

/* Off (the default) never asks, and every read is allowed as the Secret
 * Service specifies; creators are recorded either way. */
void coffer_access_set_ask(CofferAccess *access, gboolean ask);
gboolean coffer_access_asks(CofferAccess *access);

/* The peer left the bus: forget its identity and its denials, and abandon
 * its questions (an open dialog is closed). */
void coffer_access_forget_peer(CofferAccess *access, const char *sender);

/* The caller's identity: peek returns it (borrowed) when already known;
 * identify finds it (finish with coffer_app_info_lookup_finish). */
CofferAppInfo *coffer_access_peek_app(CofferAccess *access, const char *sender);
void coffer_access_identify_async(CofferAccess *access, const char *sender, GAsyncReadyCallback callback,
                                  gpointer user_data);

/* May sender read these items' secrets?  Asks when needed.  What the check
 * needs is copied at once: look the items up again when it completes.
 * finish: TRUE, or FALSE with G_DBUS_ERROR_ACCESS_DENIED. */
void coffer_access_check_async(CofferAccess *access, const char *sender, CofferItem *const *items, guint n_items,
                               GAsyncReadyCallback callback, gpointer user_data);
gboolean coffer_access_check_finish(GAsyncResult *result, GError **error);

/* ---- stored decisions (the control socket's ACCESS_LIST / ACCESS_REVOKE) ---- */
typedef struct {
  char *app;      /* identity */
  char *item;     /* item id, hex */
  char *decision; /* "allow" */
  guint64 created;
} CofferAccessDecision;

void coffer_access_decision_free(CofferAccessDecision *decision);
/* Every decision, sorted by app then item; the vault must be unlocked. */
GPtrArray *coffer_access_list_decisions(CofferVault *vault, GError **error);
/* Deletes the decisions of the applications app names (coffer_app_id_matches)
 * about item (NULL: every item).  Returns how many, or -1 with error. */
gint coffer_access_revoke(CofferVault *vault, const char *app, const char *item, GError **error);
/* Stores "app may always read item". */
gboolean coffer_access_remember(CofferVault *vault, const char *app, const char *item_name, const char *label,
                                GError **error);
