/* pam_coffer — the privilege-dropped child and its bounded wait. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

/* ---- the child ----------------------------------------------------------- */

static int
drop_privileges(const CofferPamUser *user)
{
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  /* Already the user (a PAM application running as the user itself, e.g. a
   * screen locker): nothing to drop, and nothing we could. */
  bool switching = getuid() != user->uid || geteuid() != user->uid;

  if (switching) {
    if (geteuid() != 0)
      return -EPERM;
    if (setgroups((size_t)user->ngroups, user->groups) < 0)
      return -errno;
    if (setresgid(user->gid, user->gid, user->gid) < 0)
      return -errno;
    if (setresuid(user->uid, user->uid, user->uid) < 0)
      return -errno;
  }
  if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
    return -errno;
  if (ruid != user->uid || euid != user->uid || suid != user->uid)
    return -EPERM;
  if (switching && (rgid != user->gid || egid != user->gid || sgid != user->gid))
    return -EPERM;
  /* The proof: root must be out of reach now. */
  if (setresuid(0, 0, 0) == 0 || errno != EPERM)
    return -EPERM;
  if (switching && user->gid != 0 && (setresgid(0, 0, 0) == 0 || errno != EPERM))
    return -EPERM;
  /* The child holds a password: no core file, no ptrace by other processes
   * of the user. */
  (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  return 0;
}

static void
write_report(int fd, const CofferReport *report)
{
  /* One write of less than PIPE_BUF bytes to a pipe is atomic. */
  ssize_t n;
  do
    n = write(fd, report, sizeof *report);
  while (n < 0 && errno == EINTR);
}

static void __attribute__((noreturn))
child_main(const CofferPamUser *user, CofferChildStep step, const void *job, int report_fd)
{
  CofferReport report = { 0 };
  int r = drop_privileges(user);
  if (r < 0) {
    report.outcome = COFFER_OUTCOME_DROP_FAILED;
    report.err = -r;
  } else {
    step(job, &report);
  }
  write_report(report_fd, &report);
  _exit(0);
}

/* ---- the parent ---------------------------------------------------------- */

static void
sleep_ms(int ms)
{
  struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
  nanosleep(&ts, NULL);
}

/* Reaps the child: it exits right after its report, but a wait for it is
 * bounded like everything else; past the deadline it is killed. */
static void
reap(pid_t pid, int64_t deadline_ms)
{
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR))
      return;
    if (r == 0 && coffer_control_now_ms() >= deadline_ms)
      break;
    if (r == 0)
      sleep_ms(5);
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
}

/* Reads the report or gives up at the deadline.  0, -ETIMEDOUT or -ECHILD. */
static int
read_report(int fd, int64_t deadline_ms, CofferReport *report)
{
  size_t got = 0;
  while (got < sizeof *report) {
    int64_t left = deadline_ms - coffer_control_now_ms();
    if (left <= 0)
      return -ETIMEDOUT;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int n = poll(&pfd, 1, (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -ETIMEDOUT;
    ssize_t k = read(fd, (char *)report + got, sizeof *report - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -ECHILD; /* the child is gone without a whole report */
    got += (size_t)k;
  }
  return 0;
}

int
coffer_pam_run_as_user(const CofferPamUser *user, int64_t deadline_ms, CofferChildStep step, const void *job,
                       CofferReport *report)
{
  int fds[2];
  struct sigaction dfl = { .sa_handler = SIG_DFL }, saved;
  memset(report, 0, sizeof *report);

  if (pipe2(fds, O_CLOEXEC) < 0)
    return -errno;
  /* The application may reap children itself (a SIGCHLD handler) or ignore
   * SIGCHLD so they are reaped for it; either would steal our child's exit
   * status.  Default disposition for the few moments we wait. */
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGCHLD, &dfl, &saved);

  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(fds[0]);
    close(fds[1]);
    sigaction(SIGCHLD, &saved, NULL);
    return -e;
  }
  if (pid == 0) {
    close(fds[0]);
    child_main(user, step, job, fds[1]);
  }
  close(fds[1]);
  int r = read_report(fds[0], deadline_ms, report);
  close(fds[0]);
  if (r < 0)
    memset(report, 0, sizeof *report);
  /* After a timeout the child gets no more time: kill it at once. */
  reap(pid, r == -ETIMEDOUT ? 0 : deadline_ms);
  sigaction(SIGCHLD, &saved, NULL);
  report->message[sizeof report->message - 1] = '\0';
  return r;
}
