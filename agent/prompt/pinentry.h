/* coffer — the pinentry prompter: a CofferPrompter that runs a pinentry
 * program (GnuPG's password dialogs: pinentry-gnome3, -qt, -gtk2, -curses,
 * -tty) and talks Assuan to it over pipes.
 *
 * One pinentry process per request, started without a shell, killed when the
 * request ends (SIGTERM, SIGKILL a second later if it lingers; it also gets
 * SIGTERM if the agent dies).  Unlock asks for the password, up to three
 * tries with SETERROR in between, and unlocks the vault itself; with no vault
 * yet it asks for a new password twice and creates the vault.  A request that
 * is cancelled, times out, or whose pinentry dies or is cancelled by the user
 * completes with an error; the vault is left as it was.
 */
#pragma once

#include "prompt/prompter.h"

#define COFFER_TYPE_PINENTRY_PROMPTER (coffer_pinentry_prompter_get_type())
G_DECLARE_FINAL_TYPE(CofferPinentryPrompter, coffer_pinentry_prompter, COFFER, PINENTRY_PROMPTER, GObject)

/* Where the pinentry should show itself; NULL members are not sent. */
typedef struct {
  const char *ttyname; /* OPTION ttyname */
  const char *ttytype; /* OPTION ttytype ($TERM) */
  const char *display; /* OPTION display ($DISPLAY) */
} CofferPinentryEnv;

/* program: an absolute path.  timeout_seconds: 0 for none. */
CofferPrompter *coffer_pinentry_prompter_new(const char *program, guint timeout_seconds, const CofferPinentryEnv *env);

/* The candidates, in order of preference, when none is configured. */
extern const char *const coffer_pinentry_candidates[];

/* The first candidate found in PATH that can work here: the graphical ones
 * need a display, curses and tty need a terminal.  NULL if none. */
char *coffer_pinentry_find(gboolean have_display, gboolean have_tty);

/* The prompter for the [agent] pinentry= setting: NULL or "" picks one
 * (coffer_pinentry_find for this process's environment), "none" means the
 * external prompter, anything else names a program (a path, or a name looked
 * up in PATH).  When nothing usable is found the external prompter is used;
 * the log says which and why. */
CofferPrompter *coffer_prompter_new_for_config(const char *pinentry, guint timeout_seconds);
