/* pam_coffer — the target account. */
#include "user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>
#include <security/pam_modutil.h>

#include "control.h"

#define MAX_GROUPS 65536

static int
load_groups(pam_handle_t *pamh, CofferPamUser *user)
{
  int n = 32;
  for (;;) {
    gid_t *groups = calloc((size_t)n, sizeof *groups);
    if (groups == NULL)
      return PAM_BUF_ERR;
    int got = n;
    if (getgrouplist(user->name, user->gid, groups, &got) >= 0) {
      user->groups = groups;
      user->ngroups = got;
      return PAM_SUCCESS;
    }
    free(groups);
    /* getgrouplist() set got to the number it needs. */
    if (got <= n || got > MAX_GROUPS) {
      pam_syslog(pamh, LOG_ERR, "cannot list the groups of %s", user->name);
      return PAM_SYSTEM_ERR;
    }
    n = got;
  }
}

/* XDG_RUNTIME_DIR as this session will see it: the PAM environment (set by
 * pam_systemd or pam_env), else /run/user/<uid> when it exists and is the
 * user's.  Never the environment of the process we run in: that is root's,
 * or the previous user's. */
static void
find_runtime_dir(pam_handle_t *pamh, CofferPamUser *user)
{
  const char *env = pam_getenv(pamh, "XDG_RUNTIME_DIR");
  const char *dir = env != NULL && env[0] == '/' ? env : NULL;
  char fallback[64];

  if (coffer_control_socket_path_for(user->socket_path, sizeof user->socket_path, dir, user->uid) < 0) {
    user->socket_path[0] = '\0';
    return;
  }
  if (dir == NULL) {
    snprintf(fallback, sizeof fallback, "/run/user/%lu", (unsigned long)user->uid);
    dir = fallback;
  }
  user->runtime_dir = strdup(dir);
  if (user->runtime_dir == NULL)
    user->socket_path[0] = '\0';
}

static int
find_data_dir(pam_handle_t *pamh, CofferPamUser *user)
{
  const char *env = pam_getenv(pamh, "XDG_DATA_HOME");
  int r = env != NULL && env[0] == '/' ? asprintf(&user->data_dir, "%s/coffer", env)
                                       : asprintf(&user->data_dir, "%s/.local/share/coffer", user->home);
  if (r < 0) {
    user->data_dir = NULL;
    return PAM_BUF_ERR;
  }
  if (asprintf(&user->store_path, "%s/vault.db", user->data_dir) < 0) {
    user->store_path = NULL;
    return PAM_BUF_ERR;
  }
  return PAM_SUCCESS;
}

int
coffer_pam_user_load(pam_handle_t *pamh, const CofferPamOptions *opts, CofferPamUser *user)
{
  *user = (CofferPamUser){ .uid = (uid_t)-1 };

  if (!coffer_pam_service_wanted(pamh, opts)) {
    if (opts->debug)
      pam_syslog(pamh, LOG_DEBUG, "service not in only_if=%s; skipping", opts->only_if);
    return PAM_IGNORE;
  }
  int r = pam_get_user(pamh, &user->name, NULL);
  if (r != PAM_SUCCESS || user->name == NULL || user->name[0] == '\0') {
    pam_syslog(pamh, LOG_NOTICE, "cannot get the user name: %s", pam_strerror(pamh, r));
    return PAM_IGNORE;
  }
  struct passwd *pw = pam_modutil_getpwnam(pamh, user->name);
  if (pw == NULL) {
    if (opts->debug)
      pam_syslog(pamh, LOG_DEBUG, "unknown user %s; skipping", user->name);
    return PAM_IGNORE;
  }
  /* An agent for root is the administrator's own choice, never a login's. */
  if (pw->pw_uid == 0) {
    if (opts->debug)
      pam_syslog(pamh, LOG_DEBUG, "skipping root (%s)", user->name);
    return PAM_IGNORE;
  }
  if (pw->pw_dir == NULL || pw->pw_dir[0] != '/') {
    pam_syslog(pamh, LOG_NOTICE, "user %s has no absolute home directory; skipping", user->name);
    return PAM_IGNORE;
  }
  user->uid = pw->pw_uid;
  user->gid = pw->pw_gid;
  user->home = strdup(pw->pw_dir);
  user->shell = strdup(pw->pw_shell != NULL ? pw->pw_shell : "/bin/sh");
  if (user->home == NULL || user->shell == NULL)
    return PAM_BUF_ERR;
  r = load_groups(pamh, user);
  if (r == PAM_SUCCESS)
    r = find_data_dir(pamh, user);
  if (r != PAM_SUCCESS)
    return r;
  find_runtime_dir(pamh, user);
  return PAM_SUCCESS;
}

void
coffer_pam_user_clear(CofferPamUser *user)
{
  free(user->home);
  free(user->shell);
  free(user->groups);
  free(user->runtime_dir);
  free(user->data_dir);
  free(user->store_path);
  *user = (CofferPamUser){ .uid = (uid_t)-1 };
}
