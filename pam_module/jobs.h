/* pam_coffer — what the privilege-dropped child does: hand the login
 * password to the agent (starting it if asked), lock, change the password,
 * or mark a password reset.  The parent prepares everything a job needs
 * (paths, argv, environment) before the fork. */
#pragma once

#include <stdbool.h>
#include <security/pam_modules.h>

#include "options.h"
#include "run.h"
#include "secret.h"
#include "user.h"

typedef enum {
  COFFER_JOB_LOGIN,      /* LOGIN to the agent; with auto_start, start it when none runs */
  COFFER_JOB_LOCK,       /* LOCK */
  COFFER_JOB_PASSWD,     /* PASSWD to the agent, or `cofferd --change-password-fd` without one */
  COFFER_JOB_MARK_RESET, /* create COFFER_LOGIN_RESET_MARKER beside the store */
} CofferJobKind;

/* How to start cofferd: the password goes on fd 3, a socket on which the
 * agent answers with one control-protocol response. */
typedef struct {
  char *argv[4];
  char **envp;
  char *bus_socket; /* a socket that must exist before an agent is started, or NULL */
  bool have_bus;    /* a session bus address is known */
} CofferLaunch;

typedef struct {
  CofferJobKind kind;
  const CofferPamUser *user;
  const CofferSecret *password;     /* LOGIN: the login password; PASSWD: the old one */
  const CofferSecret *new_password; /* PASSWD */
  bool create;                      /* LOGIN: create a missing vault */
  bool auto_start;                  /* LOGIN: start cofferd when none runs */
  const CofferLaunch *launch;       /* LOGIN with auto_start, PASSWD */
  int64_t deadline_ms;              /* the child's own deadline, ahead of the parent's */
} CofferJob;

/* argv is agent + mode_args (at most two); the environment is the PAM
 * environment plus HOME, USER, LOGNAME, SHELL, PATH, XDG_RUNTIME_DIR and
 * DBUS_SESSION_BUS_ADDRESS where it lacks them.  No secret goes in either. */
int coffer_pam_launch_prepare(pam_handle_t *pamh, const CofferPamOptions *opts, const CofferPamUser *user,
                              const char *arg1, const char *arg2, CofferLaunch *launch);
void coffer_pam_launch_clear(CofferLaunch *launch);

/* The CofferChildStep for a CofferJob. */
void coffer_pam_job_step(const void *job, CofferReport *report);
