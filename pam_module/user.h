/* pam_coffer — the account a PAM transaction is for, and where its agent
 * lives.  Everything here is looked up in the parent (as root), before any
 * fork: the child that drops to the user calls no NSS and no malloc. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <security/pam_modules.h>

#include "options.h"

typedef struct {
  const char *name; /* PAM_USER, owned by PAM */
  uid_t uid;
  gid_t gid;
  char *home;
  char *shell;
  gid_t *groups; /* supplementary groups, from getgrouplist() */
  int ngroups;
  char *runtime_dir;     /* NULL when the user has none yet */
  char socket_path[108]; /* the agent's control socket; "" without runtime_dir */
  char *data_dir;        /* $XDG_DATA_HOME/coffer or ~/.local/share/coffer */
  char *store_path;      /* data_dir/vault.db: cofferd's default store */
} CofferPamUser;

/* Fills user for this transaction.  PAM_SUCCESS, or PAM_IGNORE when the
 * module has nothing to do for this user (root, unknown user, a service
 * only_if= leaves out); the reason is logged (at debug level when it is an
 * ordinary one).  Clear with coffer_pam_user_clear() either way. */
int coffer_pam_user_load(pam_handle_t *pamh, const CofferPamOptions *opts, CofferPamUser *user);
void coffer_pam_user_clear(CofferPamUser *user);
