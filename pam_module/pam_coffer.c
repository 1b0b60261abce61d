/* pam_coffer.so — opens the user's coffer vault with the login password.
 *
 *   auth      keeps a copy of PAM_AUTHTOK (never prompts) for the session;
 *   session   hands it to the user's agent, starting one with auto_start;
 *   password  re-wraps the vault's key slot when the login password changes.
 *
 * coffer never decides a login: authenticate and chauthtok return
 * PAM_IGNORE and open/close_session PAM_SUCCESS whatever happens, and every
 * step that could wait on the agent is bounded.  No GLib here: libc, libpam
 * and libcoffer-common only.  docs/pam.md has the user-facing story. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "control.h"
#include "jobs.h"
#include "options.h"
#include "run.h"
#include "secret.h"
#include "user.h"

#define DATA_AUTHTOK "pam_coffer_authtok"
/* A login waits at most this long for coffer, hung agent included. */
#define SESSION_TIMEOUT_MS 2000
/* PASSWD derives two keys; passwd(1) is interactive and can wait a little more. */
#define PASSWD_TIMEOUT_MS 5000
/* The child's own deadline comes this much earlier, so it can still report. */
#define CHILD_MARGIN_MS 250

#define _public_ __attribute__((visibility("default")))

static void
user_clearp(CofferPamUser *user)
{
  coffer_pam_user_clear(user);
}
#define _cleanup_user_ __attribute__((cleanup(user_clearp)))

static void
launch_clearp(CofferLaunch *launch)
{
  coffer_pam_launch_clear(launch);
}
#define _cleanup_launch_ __attribute__((cleanup(launch_clearp)))

static void
cleanup_authtok(pam_handle_t *pamh, void *data, int error_status)
{
  coffer_secret_free(data);
}

/* ---- logging ------------------------------------------------------------- */

/* The agent's message is text for people from a process the user owns:
 * keep it to one printable line. */
static void
sanitize(char *s)
{
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f)
      *s = '?';
}

static const char *
refusal_reason(int err)
{
  switch (err) {
  case ELOOP:
    return "it is a symlink";
  case ENOTSOCK:
    return "it is not a socket";
  case ENOTDIR:
    return "its directory is not a directory";
  case EPERM:
    return "wrong owner or mode, or served by another user";
  default:
    return strerror(err);
  }
}

static const char *
job_name(CofferJobKind kind)
{
  switch (kind) {
  case COFFER_JOB_LOGIN:
    return "unlock";
  case COFFER_JOB_LOCK:
    return "lock";
  case COFFER_JOB_PASSWD:
    return "password change";
  case COFFER_JOB_MARK_RESET:
    return "reset marker";
  }
  return "step";
}

/* The agent answered (running, or started for this step). */
static void
log_answer(pam_handle_t *pamh, const CofferPamOptions *opts, const CofferJob *job, CofferReport *rep)
{
  const char *name = job->user->name;
  const char *via = rep->outcome == COFFER_OUTCOME_STARTED ? "started cofferd" : "the running agent";
  char *text = rep->message;

  sanitize(text);
  if (rep->agent_code == 0) {
    if (opts->debug)
      pam_syslog(pamh, LOG_DEBUG, "%s for %s done by %s%s%s", job_name(job->kind), name, via, text[0] ? ": " : "",
                 text);
    return;
  }
  if (job->kind == COFFER_JOB_LOGIN && rep->agent_code == COFFER_CONTROL_ERR_BAD_PASSWORD)
    pam_syslog(pamh, LOG_NOTICE,
               "the login password of %s does not open the vault (wrong password); it stays locked%s%s", name,
               text[0] ? ": " : "", text);
  else if (job->kind == COFFER_JOB_PASSWD && rep->agent_code == COFFER_CONTROL_ERR_BAD_PASSWORD)
    pam_syslog(pamh, LOG_NOTICE,
               "the old login password of %s does not open the vault (wrong password); its password is unchanged "
               "(run `coffer passwd`)",
               name);
  else if (job->kind == COFFER_JOB_PASSWD && rep->agent_code == COFFER_CONTROL_ERR_NOT_INITIALIZED && opts->debug)
    pam_syslog(pamh, LOG_DEBUG, "%s has no vault; nothing to re-key", name);
  else if (!(job->kind == COFFER_JOB_PASSWD && rep->agent_code == COFFER_CONTROL_ERR_NOT_INITIALIZED))
    pam_syslog(pamh, LOG_NOTICE, "%s for %s failed in %s: %s%s%s", job_name(job->kind), name, via,
               coffer_control_error_name(rep->agent_code), text[0] ? ": " : "", text);
}

static void
log_report(pam_handle_t *pamh, const CofferPamOptions *opts, const CofferJob *job, int r, CofferReport *rep,
           int timeout_ms)
{
  const char *name = job->user->name;

  if (r == -ETIMEDOUT) {
    pam_syslog(pamh, LOG_WARNING, "%s for %s took longer than %d ms (agent hung?); gave up", job_name(job->kind), name,
               timeout_ms);
    return;
  }
  if (r < 0) {
    pam_syslog(pamh, LOG_ERR, "%s for %s: the helper process failed: %s", job_name(job->kind), name, strerror(-r));
    return;
  }
  switch ((CofferOutcome)rep->outcome) {
  case COFFER_OUTCOME_REPLY:
  case COFFER_OUTCOME_STARTED:
    log_answer(pamh, opts, job, rep);
    break;
  case COFFER_OUTCOME_DROP_FAILED:
    pam_syslog(pamh, LOG_ERR, "cannot drop privileges to %s: %s", name, strerror(rep->err));
    break;
  case COFFER_OUTCOME_NO_AGENT:
    if (job->kind == COFFER_JOB_LOGIN)
      pam_syslog(pamh, LOG_NOTICE, "no coffer agent runs for %s and auto_start is off; the vault stays locked", name);
    else if (opts->debug)
      pam_syslog(pamh, LOG_DEBUG, "no coffer agent runs for %s; nothing to lock", name);
    break;
  case COFFER_OUTCOME_REFUSED:
    pam_syslog(pamh, LOG_WARNING, "refusing the agent socket %s: %s", job->user->socket_path, refusal_reason(rep->err));
    break;
  case COFFER_OUTCOME_IO_FAILED:
    if (rep->err == ETIMEDOUT)
      pam_syslog(pamh, LOG_WARNING, "%s for %s: the agent did not answer in time (hung?)", job_name(job->kind), name);
    else
      pam_syslog(pamh, LOG_WARNING, "%s for %s: talking to the agent failed: %s", job_name(job->kind), name,
                 strerror(rep->err));
    break;
  case COFFER_OUTCOME_NO_HOME:
    pam_syslog(pamh, LOG_NOTICE,
               "home directory %s of %s is not available (%s; not mounted yet?); not starting cofferd", job->user->home,
               name, strerror(rep->err));
    break;
  case COFFER_OUTCOME_NO_BUS:
    pam_syslog(pamh, LOG_NOTICE,
               "no session bus for %s yet (no DBUS_SESSION_BUS_ADDRESS, no $XDG_RUNTIME_DIR/bus); not starting "
               "cofferd: the vault stays locked and asks for its password on first use",
               name);
    break;
  case COFFER_OUTCOME_SPAWN_FAILED:
    pam_syslog(pamh, LOG_ERR, "cannot start %s: %s", job->launch ? job->launch->argv[0] : "cofferd",
               strerror(rep->err));
    break;
  case COFFER_OUTCOME_AGENT_EXITED:
    if (rep->agent_status >= 0 && WIFEXITED(rep->agent_status) && WEXITSTATUS(rep->agent_status) == 127)
      pam_syslog(pamh, LOG_ERR, "cannot run %s", job->launch ? job->launch->argv[0] : "cofferd");
    else
      pam_syslog(pamh, LOG_NOTICE, "cofferd (pid %d) exited before answering (another agent owns the bus name?)",
                 (int)rep->agent_pid);
    break;
  case COFFER_OUTCOME_AGENT_SLOW:
    pam_syslog(pamh, LOG_NOTICE, "started cofferd (pid %d) for %s, but it did not answer in time", (int)rep->agent_pid,
               name);
    break;
  case COFFER_OUTCOME_NO_VAULT:
    if (opts->debug)
      pam_syslog(pamh, LOG_DEBUG, "%s has no vault; nothing to do", name);
    break;
  case COFFER_OUTCOME_MARKED:
    pam_syslog(pamh, LOG_NOTICE,
               "the login password of %s was set without the old one; the vault re-keys to it after one "
               "`coffer unlock` with the previous password",
               name);
    break;
  case COFFER_OUTCOME_MARK_FAILED:
    pam_syslog(pamh, LOG_WARNING, "cannot record the password reset for %s: %s", name, strerror(rep->err));
    break;
  case COFFER_OUTCOME_NONE:
  default:
    pam_syslog(pamh, LOG_ERR, "%s for %s: the helper process died", job_name(job->kind), name);
    break;
  }
}

/* Runs job as the user within timeout_ms and logs how it went. */
static CofferOutcome
run_job(pam_handle_t *pamh, const CofferPamOptions *opts, CofferJob *job, int timeout_ms, uint32_t *agent_code)
{
  CofferReport report;
  int64_t start = coffer_control_now_ms();

  job->deadline_ms = start + timeout_ms - CHILD_MARGIN_MS;
  int r = coffer_pam_run_as_user(job->user, start + timeout_ms, coffer_pam_job_step, job, &report);
  log_report(pamh, opts, job, r, &report, timeout_ms);
  *agent_code = report.agent_code;
  return r < 0 ? COFFER_OUTCOME_NONE : (CofferOutcome)report.outcome;
}

/* ---- auth ---------------------------------------------------------------- */

/* Never authenticates anyone: PAM_IGNORE always, so even a misplaced
 * "sufficient" cannot let a user in. */
_public_ PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  CofferPamOptions opts;
  _cleanup_user_ CofferPamUser user = { .uid = (uid_t)-1 };
  const void *item = NULL;

  coffer_pam_parse_options(pamh, argc, argv, &opts);
  if (coffer_pam_user_load(pamh, &opts, &user) != PAM_SUCCESS)
    return PAM_IGNORE;
  int r = pam_get_item(pamh, PAM_AUTHTOK, &item);
  if (r != PAM_SUCCESS || item == NULL) {
    /* Never prompt: a module earlier in the stack owns the conversation. */
    if (opts.debug)
      pam_syslog(pamh, LOG_DEBUG, "no password in the stack for %s (PAM_AUTHTOK unset); nothing to keep", user.name);
    return PAM_IGNORE;
  }
  const char *password = item;
  if (password[0] == '\0') {
    if (opts.debug)
      pam_syslog(pamh, LOG_DEBUG, "empty password for %s; nothing to keep", user.name);
    return PAM_IGNORE;
  }
  CofferSecret *copy = coffer_secret_new(password, strlen(password));
  if (copy == NULL) {
    pam_syslog(pamh, LOG_ERR, "cannot keep the password: out of memory");
    return PAM_IGNORE;
  }
  r = pam_set_data(pamh, DATA_AUTHTOK, copy, cleanup_authtok);
  if (r != PAM_SUCCESS) {
    coffer_secret_free(copy);
    pam_syslog(pamh, LOG_ERR, "cannot keep the password: %s", pam_strerror(pamh, r));
    return PAM_IGNORE;
  }
  if (opts.debug)
    pam_syslog(pamh, LOG_DEBUG, "kept the password of %s for the session", user.name);
  return PAM_IGNORE;
}

_public_ PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  return PAM_IGNORE;
}

/* ---- session ------------------------------------------------------------- */

/* The password auth kept, else PAM_AUTHTOK for applications that set it
 * themselves.  A fresh copy, or NULL. */
static CofferSecret *
session_password(pam_handle_t *pamh)
{
  const void *data = NULL;
  if (pam_get_data(pamh, DATA_AUTHTOK, &data) == PAM_SUCCESS && data != NULL) {
    const CofferSecret *kept = data;
    return coffer_secret_new(kept->data, kept->len);
  }
  if (pam_get_item(pamh, PAM_AUTHTOK, &data) == PAM_SUCCESS && data != NULL && ((const char *)data)[0] != '\0')
    return coffer_secret_new(data, strlen(data));
  return NULL;
}

_public_ PAM_EXTERN int
pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  CofferPamOptions opts;
  _cleanup_user_ CofferPamUser user = { .uid = (uid_t)-1 };
  _cleanup_launch_ CofferLaunch launch = { 0 };
  _cleanup_secret_ CofferSecret *password = NULL;
  uint32_t code;

  coffer_pam_parse_options(pamh, argc, argv, &opts);
  if (coffer_pam_user_load(pamh, &opts, &user) != PAM_SUCCESS)
    return PAM_SUCCESS;
  password = session_password(pamh);
  /* The login process keeps no copy past this point. */
  (void)pam_set_data(pamh, DATA_AUTHTOK, NULL, NULL);
  if (password == NULL) {
    if (opts.debug)
      pam_syslog(pamh, LOG_DEBUG, "no password from auth for %s (key or fingerprint login?); nothing to unlock",
                 user.name);
    return PAM_SUCCESS;
  }
  if (user.runtime_dir == NULL) {
    pam_syslog(pamh, LOG_NOTICE,
               "no runtime directory for %s yet (XDG_RUNTIME_DIR unset, no /run/user/%lu; pam_systemd should come "
               "first); the vault stays locked",
               user.name, (unsigned long)user.uid);
    return PAM_SUCCESS;
  }
  if (opts.auto_start && coffer_pam_launch_prepare(pamh, &opts, &user, "--password-fd=3",
                                                   opts.init_on_login ? "--init-if-missing" : NULL, &launch) < 0) {
    pam_syslog(pamh, LOG_ERR, "cannot prepare to start cofferd: out of memory");
    return PAM_SUCCESS;
  }
  CofferJob job = {
    .kind = COFFER_JOB_LOGIN,
    .user = &user,
    .password = password,
    .create = opts.init_on_login,
    .auto_start = opts.auto_start,
    .launch = opts.auto_start ? &launch : NULL,
  };
  run_job(pamh, &opts, &job, SESSION_TIMEOUT_MS, &code);
  return PAM_SUCCESS;
}

_public_ PAM_EXTERN int
pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  CofferPamOptions opts;
  _cleanup_user_ CofferPamUser user = { .uid = (uid_t)-1 };
  uint32_t code;

  coffer_pam_parse_options(pamh, argc, argv, &opts);
  if (!opts.lock_on_close || coffer_pam_user_load(pamh, &opts, &user) != PAM_SUCCESS)
    return PAM_SUCCESS;
  CofferJob job = { .kind = COFFER_JOB_LOCK, .user = &user };
  run_job(pamh, &opts, &job, SESSION_TIMEOUT_MS, &code);
  return PAM_SUCCESS;
}

/* ---- password ------------------------------------------------------------ */

/* After a change the session should hand the new password on, not the one
 * auth kept (a login that had to change an expired password). */
static void
replace_kept_password(pam_handle_t *pamh, const CofferSecret *new_password)
{
  const void *data = NULL;
  if (pam_get_data(pamh, DATA_AUTHTOK, &data) != PAM_SUCCESS || data == NULL)
    return;
  CofferSecret *copy = coffer_secret_new(new_password->data, new_password->len);
  if (copy != NULL && pam_set_data(pamh, DATA_AUTHTOK, copy, cleanup_authtok) != PAM_SUCCESS)
    coffer_secret_free(copy);
}

static CofferSecret *
item_secret(pam_handle_t *pamh, int item_type)
{
  const void *item = NULL;
  if (pam_get_item(pamh, item_type, &item) != PAM_SUCCESS || item == NULL || ((const char *)item)[0] == '\0')
    return NULL;
  return coffer_secret_new(item, strlen(item));
}

_public_ PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  CofferPamOptions opts;
  _cleanup_user_ CofferPamUser user = { .uid = (uid_t)-1 };
  _cleanup_launch_ CofferLaunch launch = { 0 };
  _cleanup_secret_ CofferSecret *old_password = NULL;
  _cleanup_secret_ CofferSecret *new_password = NULL;
  uint32_t code;

  /* The preliminary pass checks nothing of ours; all work is in the update. */
  if (!(flags & PAM_UPDATE_AUTHTOK))
    return PAM_IGNORE;
  coffer_pam_parse_options(pamh, argc, argv, &opts);
  if (coffer_pam_user_load(pamh, &opts, &user) != PAM_SUCCESS)
    return PAM_IGNORE;
  new_password = item_secret(pamh, PAM_AUTHTOK);
  if (new_password == NULL) {
    pam_syslog(pamh, LOG_NOTICE, "no new password for %s in the stack (PAM_AUTHTOK unset); the vault keeps its own",
               user.name);
    return PAM_IGNORE;
  }
  old_password = item_secret(pamh, PAM_OLDAUTHTOK);
  if (old_password == NULL) {
    /* Root set the password: nothing can open the key slot now.  Record
     * it; the agent re-keys after one unlock with the previous password. */
    CofferJob job = { .kind = COFFER_JOB_MARK_RESET, .user = &user };
    run_job(pamh, &opts, &job, PASSWD_TIMEOUT_MS, &code);
    return PAM_IGNORE;
  }
  if (coffer_pam_launch_prepare(pamh, &opts, &user, "--change-password-fd=3", NULL, &launch) < 0) {
    pam_syslog(pamh, LOG_ERR, "cannot prepare the password change: out of memory");
    return PAM_IGNORE;
  }
  CofferJob job = {
    .kind = COFFER_JOB_PASSWD,
    .user = &user,
    .password = old_password,
    .new_password = new_password,
    .launch = &launch,
  };
  CofferOutcome outcome = run_job(pamh, &opts, &job, PASSWD_TIMEOUT_MS, &code);
  if ((outcome == COFFER_OUTCOME_REPLY || outcome == COFFER_OUTCOME_STARTED) && code == 0)
    replace_kept_password(pamh, new_password);
  return PAM_IGNORE;
}
