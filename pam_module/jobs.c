/* pam_coffer — the child's work, and the parent's preparation for it. */
#include "jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

#define AGENT_FD 3
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* ---- the parent: argv and environment for cofferd ------------------------ */

static bool
env_has(char **env, size_t n, const char *name)
{
  size_t len = strlen(name);
  for (size_t i = 0; i < n; i++)
    if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
      return true;
  return false;
}

/* Appends NAME=value unless the PAM environment has NAME already. */
static int
env_default(char **env, size_t *n, const char *name, const char *value)
{
  if (value == NULL || env_has(env, *n, name))
    return 0;
  if (asprintf(&env[*n], "%s=%s", name, value) < 0)
    return -ENOMEM;
  (*n)++;
  return 0;
}

int
coffer_pam_launch_prepare(pam_handle_t *pamh, const CofferPamOptions *opts, const CofferPamUser *user, const char *arg1,
                          const char *arg2, CofferLaunch *launch)
{
  enum { EXTRA = 8 };
  char **pam_env = pam_getenvlist(pamh);
  size_t count = 0, n = 0;
  char *bus = NULL;
  int r = 0;

  *launch = (CofferLaunch){ 0 };
  while (pam_env != NULL && pam_env[count] != NULL)
    count++;
  launch->envp = calloc(count + EXTRA + 1, sizeof *launch->envp);
  if (launch->envp == NULL) {
    for (size_t i = 0; i < count; i++)
      free(pam_env[i]);
    free(pam_env);
    return -ENOMEM;
  }
  /* The strings now belong to envp. */
  for (; n < count; n++)
    launch->envp[n] = pam_env[n];
  free(pam_env);

  const char *pam_bus = pam_getenv(pamh, "DBUS_SESSION_BUS_ADDRESS");
  if (pam_bus != NULL && pam_bus[0] != '\0') {
    launch->have_bus = true;
  } else if (user->runtime_dir != NULL) {
    /* systemd's user bus: it counts only if the socket is there, which the
     * child checks as the user. */
    if (asprintf(&launch->bus_socket, "%s/bus", user->runtime_dir) < 0 ||
        asprintf(&bus, "unix:path=%s", launch->bus_socket) < 0) {
      free(launch->bus_socket);
      launch->bus_socket = NULL;
      bus = NULL;
      r = -ENOMEM;
    }
    launch->have_bus = r == 0;
  }
  if (r == 0)
    r = env_default(launch->envp, &n, "HOME", user->home);
  if (r == 0)
    r = env_default(launch->envp, &n, "USER", user->name);
  if (r == 0)
    r = env_default(launch->envp, &n, "LOGNAME", user->name);
  if (r == 0)
    r = env_default(launch->envp, &n, "SHELL", user->shell);
  if (r == 0)
    r = env_default(launch->envp, &n, "PATH", DEFAULT_PATH);
  if (r == 0)
    r = env_default(launch->envp, &n, "XDG_RUNTIME_DIR", user->runtime_dir);
  if (r == 0)
    r = env_default(launch->envp, &n, "DBUS_SESSION_BUS_ADDRESS", bus);
  free(bus);

  launch->argv[0] = strdup(opts->agent);
  launch->argv[1] = arg1 ? strdup(arg1) : NULL;
  launch->argv[2] = arg1 && arg2 ? strdup(arg2) : NULL;
  if (r == 0 && (launch->argv[0] == NULL || (arg1 && !launch->argv[1]) || (arg1 && arg2 && !launch->argv[2])))
    r = -ENOMEM;
  if (r < 0)
    coffer_pam_launch_clear(launch);
  return r;
}

void
coffer_pam_launch_clear(CofferLaunch *launch)
{
  for (size_t i = 0; launch->envp != NULL && launch->envp[i] != NULL; i++)
    free(launch->envp[i]);
  free(launch->envp);
  for (size_t i = 0; i < 3; i++)
    free(launch->argv[i]);
  free(launch->bus_socket);
  *launch = (CofferLaunch){ 0 };
}

/* ---- the child ------------------------------------------------------------
 * Async-signal-safe calls only from here on (see run.h). */

static int
remaining(const CofferJob *job)
{
  int64_t left = job->deadline_ms - coffer_control_now_ms();
  return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

static void
copy_message(CofferReport *r, const CofferControlMessage *reply)
{
  size_t n = reply->message.len < sizeof r->message - 1 ? reply->message.len : sizeof r->message - 1;
  if (coffer_control_has(reply, COFFER_FIELD_MESSAGE) && n > 0)
    memcpy(r->message, reply->message.data, n);
  r->message[n] = '\0';
}

static void
record_reply(CofferReport *r, CofferOutcome outcome, const CofferControlMessage *reply)
{
  r->outcome = outcome;
  r->agent_code = reply->type == COFFER_CONTROL_OK ? 0 : reply->error_code;
  copy_message(r, reply);
}

/* Sends one request (consuming the builder) and records the answer. */
static void
exchange(int fd, CofferControlBuilder *req, const CofferJob *job, CofferReport *r)
{
  uint8_t *body = NULL;
  size_t len = 0;
  CofferControlMessage reply;
  int e = coffer_control_call(fd, req, remaining(job), &body, &len, &reply);
  if (e < 0) {
    r->outcome = COFFER_OUTCOME_IO_FAILED;
    r->err = -e;
    return;
  }
  record_reply(r, COFFER_OUTCOME_REPLY, &reply);
  coffer_control_body_free(body, len);
}

/* Connects to a running agent.  A negative result is classified in r
 * unless it means "nobody is there" (-ENOENT, -ECONNREFUSED), which the
 * caller handles. */
static int
connect_agent(const CofferJob *job, CofferReport *r)
{
  if (job->user->socket_path[0] == '\0')
    return -ENOENT;
  int fd = coffer_control_connect(job->user->socket_path, job->user->uid, remaining(job));
  switch (fd) {
  case -ENOENT:
  case -ECONNREFUSED:
    break;
  case -EPERM:
  case -ELOOP:
  case -ENOTSOCK:
  case -ENOTDIR:
    r->outcome = COFFER_OUTCOME_REFUSED;
    r->err = -fd;
    break;
  default:
    if (fd < 0) {
      r->outcome = COFFER_OUTCOME_IO_FAILED;
      r->err = -fd;
    }
  }
  return fd;
}

static void __attribute__((noreturn)) exec_agent(const CofferJob *job, int fd)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigset_t none;

  /* Its own session: the agent outlives this step and must not get the
   * login terminal's signals. */
  setsid();
  if (fd == AGENT_FD ? fcntl(fd, F_SETFD, 0) < 0 : dup2(fd, AGENT_FD) < 0)
    _exit(127);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
    _exit(127);
  /* Nothing of the login process leaks into the agent: no fd... */
  if (close_range(AGENT_FD + 1, ~0U, 0) < 0)
    for (int i = AGENT_FD + 1; i < 1024; i++)
      close(i);
  /* ...and no blocked or ignored signal. */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++)
    sigaction(sig, &dfl, NULL);
  umask(077);
  if (chdir(job->user->home) < 0 && chdir("/") < 0)
    _exit(127);
  execve(job->launch->argv[0], job->launch->argv, job->launch->envp);
  _exit(127);
}

static int
send_secret(int fd, const CofferSecret *s, int64_t deadline)
{
  return coffer_control_write_all(fd, s->data, s->len, deadline);
}

/* Starts cofferd with the password(s) on a socket and waits for its one
 * answer.  For PASSWD the payload is "OLD\0NEW". */
static void
start_agent(const CofferJob *job, CofferReport *r)
{
  struct stat st;
  int sv[2];

  /* An unmounted home would give the agent an empty store to create. */
  int e = stat(job->user->home, &st) < 0 ? errno
          : !S_ISDIR(st.st_mode)         ? ENOTDIR
          : st.st_uid != job->user->uid  ? EPERM
                                         : 0;
  if (e != 0) {
    r->outcome = COFFER_OUTCOME_NO_HOME;
    r->err = e;
    return;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    r->outcome = COFFER_OUTCOME_SPAWN_FAILED;
    r->err = errno;
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    r->outcome = COFFER_OUTCOME_SPAWN_FAILED;
    r->err = errno;
    close(sv[0]);
    close(sv[1]);
    return;
  }
  if (pid == 0) {
    close(sv[0]);
    exec_agent(job, sv[1]);
  }
  close(sv[1]);
  r->agent_pid = pid;
  (void)fcntl(sv[0], F_SETFL, O_NONBLOCK);

  int64_t deadline = job->deadline_ms;
  e = send_secret(sv[0], job->password, deadline);
  if (e == 0 && job->kind == COFFER_JOB_PASSWD) {
    e = coffer_control_write_all(sv[0], "", 1, deadline);
    if (e == 0)
      e = send_secret(sv[0], job->new_password, deadline);
  }
  shutdown(sv[0], SHUT_WR);

  uint8_t *body = NULL;
  size_t len = 0;
  CofferControlMessage reply;
  if (e == 0)
    e = coffer_control_read_frame(sv[0], &body, &len, deadline);
  if (e == 0) {
    e = coffer_control_parse(body, len, &reply);
    if (e == 0 && reply.type != COFFER_CONTROL_OK && reply.type != COFFER_CONTROL_ERROR)
      e = -EBADMSG;
    if (e == 0)
      record_reply(r, COFFER_OUTCOME_STARTED, &reply);
    coffer_control_body_free(body, len);
  }
  close(sv[0]);
  if (e == -ETIMEDOUT) {
    r->outcome = COFFER_OUTCOME_AGENT_SLOW;
  } else if (e == -ECONNRESET || e == -EPIPE) {
    int status = -1;
    r->outcome = COFFER_OUTCOME_AGENT_EXITED;
    /* It closed the socket: it is exiting or has; give it a moment. */
    for (int i = 0; i < 20 && waitpid(pid, &status, WNOHANG) == 0; i++) {
      struct timespec ts = { 0, 10 * 1000000L };
      nanosleep(&ts, NULL);
    }
    r->agent_status = status;
  } else if (e < 0) {
    r->outcome = COFFER_OUTCOME_IO_FAILED;
    r->err = -e;
  }
}

static void
step_login(const CofferJob *job, CofferReport *r)
{
  int fd = connect_agent(job, r);
  if (fd >= 0) {
    CofferControlBuilder req;
    coffer_control_builder_init(&req, COFFER_CONTROL_LOGIN);
    coffer_control_builder_add_bytes(&req, COFFER_FIELD_PASSWORD, job->password->data, job->password->len);
    coffer_control_builder_add_u8(&req, COFFER_FIELD_CREATE, job->create ? 1 : 0);
    exchange(fd, &req, job, r);
    close(fd);
    return;
  }
  if (fd != -ENOENT && fd != -ECONNREFUSED)
    return;
  if (!job->auto_start || job->launch == NULL) {
    r->outcome = COFFER_OUTCOME_NO_AGENT;
    r->err = -fd;
    return;
  }
  struct stat st;
  if (!job->launch->have_bus ||
      (job->launch->bus_socket != NULL && (lstat(job->launch->bus_socket, &st) < 0 || !S_ISSOCK(st.st_mode)))) {
    r->outcome = COFFER_OUTCOME_NO_BUS;
    return;
  }
  start_agent(job, r);
}

static void
step_lock(const CofferJob *job, CofferReport *r)
{
  int fd = connect_agent(job, r);
  if (fd == -ENOENT || fd == -ECONNREFUSED) {
    r->outcome = COFFER_OUTCOME_NO_AGENT;
    r->err = -fd;
  }
  if (fd < 0)
    return;
  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_LOCK);
  exchange(fd, &req, job, r);
  close(fd);
}

static void
step_passwd(const CofferJob *job, CofferReport *r)
{
  int fd = connect_agent(job, r);
  if (fd >= 0) {
    CofferControlBuilder req;
    coffer_control_builder_init(&req, COFFER_CONTROL_PASSWD);
    coffer_control_builder_add_bytes(&req, COFFER_FIELD_PASSWORD, job->password->data, job->password->len);
    coffer_control_builder_add_bytes(&req, COFFER_FIELD_NEW_PASSWORD, job->new_password->data, job->new_password->len);
    exchange(fd, &req, job, r);
    close(fd);
    return;
  }
  if (fd != -ENOENT && fd != -ECONNREFUSED)
    return;
  /* No agent: change the store directly, as the user, if there is one. */
  struct stat st;
  if (stat(job->user->store_path, &st) < 0) {
    r->outcome = COFFER_OUTCOME_NO_VAULT;
    r->err = errno;
    return;
  }
  start_agent(job, r);
}

static void
step_mark_reset(const CofferJob *job, CofferReport *r)
{
  struct stat st;
  int dfd = open(job->user->data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0 || fstatat(dfd, "vault.db", &st, AT_SYMLINK_NOFOLLOW) < 0) {
    r->outcome = COFFER_OUTCOME_NO_VAULT;
    r->err = errno;
    if (dfd >= 0)
      close(dfd);
    return;
  }
  int fd = openat(dfd, COFFER_LOGIN_RESET_MARKER, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    r->outcome = COFFER_OUTCOME_MARK_FAILED;
    r->err = errno;
  } else {
    r->outcome = COFFER_OUTCOME_MARKED;
    close(fd);
  }
  close(dfd);
}

void
coffer_pam_job_step(const void *data, CofferReport *r)
{
  const CofferJob *job = data;
  switch (job->kind) {
  case COFFER_JOB_LOGIN:
    step_login(job, r);
    break;
  case COFFER_JOB_LOCK:
    step_lock(job, r);
    break;
  case COFFER_JOB_PASSWD:
    step_passwd(job, r);
    break;
  case COFFER_JOB_MARK_RESET:
    step_mark_reset(job, r);
    break;
  }
}
