/* coffer CLI — reading passwords.
 *
 * Passwords come from the terminal (/dev/tty, echo off) or, with
 * --password-stdin, from standard input, one line each.  Never from argv or
 * the environment, where other processes can read them.  Input is read one
 * byte at a time with read(2) straight into sodium_malloc() memory, so no
 * stdio buffer keeps a copy behind our back. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* PAM hands at most 512 bytes; leave generous room for pasted passphrases. */
#define PASSWORD_MAX 4096

/* ---- terminal state, restored on every way out ----------------------------
 * Globals because the signal handler needs them; only one prompt is ever
 * open at a time. */
static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU };
#define N_HANDLED (sizeof handled_signals / sizeof handled_signals[0])
static int tty_fd = -1;
static struct termios tty_saved;
static struct termios tty_noecho;
static struct sigaction saved_actions[N_HANDLED];

/* Restores the terminal, then lets the signal do what it would have done.
 * For a stop signal we come back here after SIGCONT and turn echo off again,
 * so Ctrl-Z at the prompt neither kills us nor leaves the shell without
 * echo. Only async-signal-safe calls. */
static void
on_signal(int sig)
{
  int saved_errno = errno;
  struct sigaction dfl, ours;
  sigset_t set;

  tcsetattr(tty_fd, TCSANOW, &tty_saved);
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, &ours);
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(sig); /* terminates, or stops until SIGCONT */
  sigaction(sig, &ours, NULL);
  tcsetattr(tty_fd, TCSAFLUSH, &tty_noecho);
  errno = saved_errno;
}

static void
install_handlers(void)
{
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: read() returns EINTR and the loop simply tries again. */
  for (size_t i = 0; i < N_HANDLED; i++)
    sigaction(handled_signals[i], &sa, &saved_actions[i]);
}

static void
restore_handlers(void)
{
  for (size_t i = 0; i < N_HANDLED; i++)
    sigaction(handled_signals[i], &saved_actions[i], NULL);
}

/* ---- line reading -------------------------------------------------------- */

void
cli_password_free(CliPassword *pw)
{
  if (pw->data != NULL)
    sodium_free(pw->data); /* sodium_free wipes */
  pw->data = NULL;
  pw->len = 0;
}

/* Reads up to '\n' (not kept) or end of input.  Returns the line length,
 * -1 on read error, -2 on end of input before anything was read, -3 when
 * the line is too long. */
static ssize_t
read_line(int fd, char *buf)
{
  size_t len = 0;
  for (;;) {
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      return len == 0 ? -2 : (ssize_t)len;
    if (c == '\n')
      return (ssize_t)len;
    if (len == PASSWORD_MAX) {
      sodium_memzero(&c, sizeof c);
      return -3;
    }
    buf[len++] = c;
    sodium_memzero(&c, sizeof c);
  }
}

/* Reads one line from fd into a fresh secure buffer and checks it. */
static int
read_password_line(int fd, const char *source, CliPassword *out)
{
  out->data = sodium_malloc(PASSWORD_MAX + 1);
  out->len = 0;
  if (out->data == NULL) {
    cli_error("out of secure memory");
    return -1;
  }
  ssize_t n = read_line(fd, out->data);
  if (n < 0) {
    if (n == -1)
      cli_error("cannot read the password from %s: %s", source, strerror(errno));
    if (n == -2)
      cli_error("no password given on %s", source);
    if (n == -3)
      cli_error("password too long (more than %d bytes)", PASSWORD_MAX);
    cli_password_free(out);
    return -1;
  }
  out->len = (size_t)n;
  out->data[n] = '\0';
  if (out->len == 0) {
    cli_error("empty password");
    cli_password_free(out);
    return -1;
  }
  /* The protocol (and PAM) carries C strings: a NUL would give a password
   * that can never be typed at login. */
  if (memchr(out->data, '\0', out->len) != NULL) {
    cli_error("the password contains a NUL byte");
    cli_password_free(out);
    return -1;
  }
  return 0;
}

static int
read_from_tty(const char *prompt, CliPassword *out)
{
  tty_fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty_fd < 0) {
    cli_error("no terminal to ask for the password on (use --password-stdin)");
    return -1;
  }
  if (tcgetattr(tty_fd, &tty_saved) < 0) {
    cli_error("cannot read the terminal settings: %s", strerror(errno));
    close(tty_fd);
    tty_fd = -1;
    return -1;
  }
  tty_noecho = tty_saved;
  tty_noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
  (void)!write(tty_fd, prompt, strlen(prompt));

  install_handlers();
  /* TCSAFLUSH drops anything typed ahead, while it was still echoed. */
  int r = tcsetattr(tty_fd, TCSAFLUSH, &tty_noecho) < 0 ? -1 : 0;
  if (r < 0)
    cli_error("cannot turn off echo: %s", strerror(errno));
  else
    r = read_password_line(tty_fd, "the terminal", out);
  tcsetattr(tty_fd, TCSANOW, &tty_saved);
  restore_handlers();
  (void)!write(tty_fd, "\n", 1); /* the user's Enter was not echoed */
  close(tty_fd);
  tty_fd = -1;
  return r;
}

int
cli_password_read(bool from_stdin, const char *prompt, CliPassword *out)
{
  out->data = NULL;
  out->len = 0;
  if (from_stdin)
    return read_password_line(STDIN_FILENO, "standard input", out);
  return read_from_tty(prompt, out);
}

int
cli_password_read_new(bool from_stdin, const char *prompt, const char *repeat_prompt, CliPassword *out)
{
  if (cli_password_read(from_stdin, prompt, out) < 0)
    return -1;
  if (from_stdin)
    return 0; /* a script has no typing to confirm */

  CliPassword again;
  if (cli_password_read(false, repeat_prompt, &again) < 0) {
    cli_password_free(out);
    return -1;
  }
  bool same = again.len == out->len && sodium_memcmp(again.data, out->data, out->len) == 0;
  cli_password_free(&again);
  if (!same) {
    cli_error("the passwords do not match");
    cli_password_free(out);
    return -1;
  }
  return 0;
}
