/* Test world for pam_coffer.so (see world.h). */
#include "world.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Far above any uid a real account or a container's subuid range uses here. */
#define UID_BASE 2100000
#define PAM_TIMEOUT_MS 30000

static const char *
env_or_die(const char *name)
{
  const char *v = g_getenv(name);
  if (v == NULL || v[0] == '\0')
    g_error("%s is not set (run the test through meson)", name);
  return v;
}

const char *
world_module(void)
{
  return env_or_die("COFFER_PAM_MODULE");
}

const char *
world_agent(void)
{
  return env_or_die("COFFER_AGENT");
}

const char *
world_cli(void)
{
  return env_or_die("COFFER_CLI");
}

static void
mkdir_owned(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
  if (g_mkdir_with_parents(path, 0755) < 0 || chown(path, uid, gid) < 0 || chmod(path, mode) < 0)
    g_error("cannot prepare %s: %s", path, g_strerror(errno));
}

static void
write_file(const char *path, const char *text)
{
  g_autoptr(GError) error = NULL;
  if (!g_file_set_contents(path, text, -1, &error))
    g_error("%s", error->message);
}

World *
world_new(void)
{
  World *w = g_new0(World, 1);
  w->root = g_strdup("/tmp/coffer-pam-XXXXXX");
  if (g_mkdtemp(w->root) == NULL || chmod(w->root, 0755) < 0)
    g_error("mkdtemp: %s", g_strerror(errno));
  w->uid = UID_BASE + (uid_t)(getpid() % 1000000);
  w->gid = w->uid;
  w->user = "coffertest";
  w->home = g_build_filename(w->root, "home", NULL);
  w->runtime = g_build_filename(w->root, "run", NULL);
  w->socket = g_build_filename(w->runtime, "coffer", "control", NULL);
  w->bus_socket = g_build_filename(w->runtime, "bus", NULL);
  w->bus_address = g_strdup_printf("unix:path=%s", w->bus_socket);
  w->store = g_build_filename(w->home, ".local", "share", "coffer", "vault.db", NULL);
  w->services = g_build_filename(w->root, "services", NULL);
  w->passdb = g_build_filename(w->root, "passdb", NULL);
  w->log_path = g_build_filename(w->root, "pam.log", NULL);
  w->fake_server = 0;
  w->fake_events = -1;
  mkdir_owned(w->home, w->uid, w->gid, 0700);
  mkdir_owned(w->runtime, w->uid, w->gid, 0700);
  mkdir_owned(w->services, 0, 0, 0755);

  /* nss_wrapper and pam_wrapper read these when first used, which is after
   * this point: nothing has looked up a user or started PAM yet. */
  g_autofree char *passwd = g_build_filename(w->root, "passwd", NULL);
  g_autofree char *group = g_build_filename(w->root, "group", NULL);
  g_autofree char *passwd_text = g_strdup_printf("root:x:0:0:root:/root:/bin/sh\n"
                                                 "%s:x:%u:%u:coffer test:%s:/bin/sh\n",
                                                 w->user, (unsigned)w->uid, (unsigned)w->gid, w->home);
  g_autofree char *group_text = g_strdup_printf("root:x:0:\n%s:x:%u:\n", w->user, (unsigned)w->gid);
  write_file(passwd, passwd_text);
  write_file(group, group_text);
  g_setenv("NSS_WRAPPER_PASSWD", passwd, TRUE);
  g_setenv("NSS_WRAPPER_GROUP", group, TRUE);
  g_setenv("PAM_WRAPPER", "1", TRUE);
  g_setenv("PAM_WRAPPER_SERVICE_DIR", w->services, TRUE);
  /* RTLD_DEEPBIND and the sanitizers do not mix.  pam_wrapper 1.1.4 reads
   * the uid_wrapper spelling of this switch. */
  g_setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", TRUE);
  g_setenv("UID_WRAPPER_DISABLE_DEEPBIND", "1", TRUE);
  /* pam_syslog() lands on stderr at this level (PWRAP_* lines). */
  g_setenv("PAM_WRAPPER_DEBUGLEVEL", "2", TRUE);
  return w;
}

/* ---- processes ----------------------------------------------------------- */

static void
drop_to_user(gpointer data)
{
  World *w = data;
  if (setgroups(1, &w->gid) < 0 || setresgid(w->gid, w->gid, w->gid) < 0 || setresuid(w->uid, w->uid, w->uid) < 0)
    _exit(126);
}

/* A clean environment: nothing of ours (LD_PRELOAD of the wrappers) leaks
 * into the user's processes; sanitizer settings do. */
static void builder_addf(GStrvBuilder *b, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
builder_addf(GStrvBuilder *b, const char *format, ...)
{
  va_list ap;
  va_start(ap, format);
  g_autofree char *s = g_strdup_vprintf(format, ap);
  va_end(ap);
  g_strv_builder_add(b, s);
}

static char **
user_env(World *w)
{
  GStrvBuilder *b = g_strv_builder_new();
  builder_addf(b, "HOME=%s", w->home);
  builder_addf(b, "XDG_RUNTIME_DIR=%s", w->runtime);
  builder_addf(b, "DBUS_SESSION_BUS_ADDRESS=%s", w->bus_address);
  g_strv_builder_add(b, "PATH=/usr/bin:/bin");
  g_strv_builder_add(b, "COFFER_KDF_FAST=1");
  /* dbus-daemon insists on a passwd entry for its uid: the user's
   * processes get nss_wrapper too (not pam_wrapper). */
  g_auto(GStrv) preload = g_strsplit(g_getenv("LD_PRELOAD") ? g_getenv("LD_PRELOAD") : "", ":", -1);
  for (char **p = preload; *p != NULL; p++)
    if (strstr(*p, "nss_wrapper") != NULL)
      builder_addf(b, "LD_PRELOAD=%s", *p);
  static const char *const pass[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "NSS_WRAPPER_PASSWD",
                                      "NSS_WRAPPER_GROUP" };
  for (size_t i = 0; i < G_N_ELEMENTS(pass); i++)
    if (g_getenv(pass[i]) != NULL)
      builder_addf(b, "%s=%s", pass[i], g_getenv(pass[i]));
  char **env = g_strv_builder_end(b);
  g_strv_builder_unref(b);
  return env;
}

static GPid
spawn_user(World *w, char **argv)
{
  g_auto(GStrv) env = user_env(w);
  g_autoptr(GError) error = NULL;
  GPid pid;
  if (!g_spawn_async(w->root, argv, env, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, drop_to_user, w, &pid,
                     &error))
    g_error("cannot start %s: %s", argv[0], error->message);
  return pid;
}

static gboolean
wait_for_socket(const char *path, int timeout_ms)
{
  for (int waited = 0; waited < timeout_ms; waited += 20) {
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
      return TRUE;
    g_usleep(20 * 1000);
  }
  return FALSE;
}

void
world_start_bus(World *w)
{
  char *argv[] = { "/usr/bin/dbus-daemon", "--session", "--nofork", "--nopidfile", NULL, NULL };
  g_autofree char *address = g_strdup_printf("--address=%s", w->bus_address);
  argv[4] = address;
  spawn_user(w, argv);
  if (!wait_for_socket(w->bus_socket, 10000))
    g_error("dbus-daemon did not start");
}

GPid
world_start_agent(World *w)
{
  char *argv[] = { (char *)world_agent(), NULL };
  GPid pid = spawn_user(w, argv);
  /* Ready when the control socket answers. */
  for (int i = 0; i < 500; i++) {
    if (world_control(w, COFFER_CONTROL_STATUS, NULL, NULL) == 0)
      return pid;
    g_usleep(20 * 1000);
  }
  g_error("cofferd did not start");
}

int
world_control(World *w, uint8_t type, const char *password, const char *new_password)
{
  int fds[2];
  if (pipe(fds) < 0)
    return -errno;
  pid_t pid = fork();
  if (pid == 0) {
    int32_t result;
    close(fds[0]);
    drop_to_user(w);
    int fd = coffer_control_connect(w->socket, w->uid, 10000);
    if (fd < 0) {
      result = fd;
    } else {
      CofferControlBuilder b;
      CofferControlMessage reply;
      uint8_t *body;
      size_t len;
      coffer_control_builder_init(&b, type);
      if (password != NULL)
        coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, password);
      if (new_password != NULL)
        coffer_control_builder_add_string(&b, COFFER_FIELD_NEW_PASSWORD, new_password);
      result = coffer_control_call(fd, &b, 20000, &body, &len, &reply);
      if (result == 0) {
        result = reply.type == COFFER_CONTROL_OK ? 0 : (int32_t)reply.error_code;
        coffer_control_body_free(body, len);
      }
    }
    if (write(fds[1], &result, sizeof result) < 0)
      _exit(1);
    _exit(0);
  }
  close(fds[1]);
  int32_t result = -EIO;
  if (pid < 0 || read(fds[0], &result, sizeof result) != sizeof result)
    result = -EIO;
  close(fds[0]);
  if (pid > 0)
    waitpid(pid, NULL, 0);
  return result;
}

int
world_run_as_user(World *w, char **argv, const char *stdin_text, char **out)
{
  g_auto(GStrv) env = user_env(w);
  g_autoptr(GError) error = NULL;
  GPid pid;
  int in_fd = -1, out_fd = -1;
  if (!g_spawn_async_with_pipes(w->root, argv, env, G_SPAWN_DO_NOT_REAP_CHILD, drop_to_user, w, &pid,
                                stdin_text ? &in_fd : NULL, &out_fd, NULL, &error))
    g_error("cannot run %s: %s", argv[0], error->message);
  if (in_fd >= 0) {
    if (write(in_fd, stdin_text, strlen(stdin_text)) < 0)
      g_error("write: %s", g_strerror(errno));
    close(in_fd);
  }
  GString *text = g_string_new(NULL);
  char buf[4096];
  ssize_t n;
  while ((n = read(out_fd, buf, sizeof buf)) > 0)
    g_string_append_len(text, buf, n);
  close(out_fd);
  int status;
  waitpid(pid, &status, 0);
  if (out != NULL)
    *out = g_string_free(text, FALSE);
  else
    g_string_free(text, TRUE);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *
gdbus(World *w, char **args)
{
  g_autoptr(GStrvBuilder) b = g_strv_builder_new();
  g_strv_builder_add_many(b, "/usr/bin/gdbus", "call", "--session", "--timeout", "5", NULL);
  g_strv_builder_addv(b, (const char **)args);
  g_auto(GStrv) argv = g_strv_builder_end(b);
  char *out = NULL;
  if (world_run_as_user(w, argv, NULL, &out) != 0) {
    g_free(out);
    return NULL;
  }
  return out;
}

int
world_locked(World *w)
{
  char *args[] = { "--dest",
                   "org.freedesktop.secrets",
                   "--object-path",
                   "/org/freedesktop/secrets/collection/login",
                   "--method",
                   "org.freedesktop.DBus.Properties.Get",
                   "org.freedesktop.Secret.Collection",
                   "Locked",
                   NULL };
  g_autofree char *out = gdbus(w, args);
  if (out == NULL)
    return -1;
  if (strstr(out, "<true>") != NULL)
    return 1;
  if (strstr(out, "<false>") != NULL)
    return 0;
  return -1;
}

int
world_wait_locked(World *w, int want, int timeout_ms)
{
  int got = -1;
  for (int waited = 0; waited <= timeout_ms; waited += 100) {
    got = world_locked(w);
    if (got == want)
      break;
    g_usleep(100 * 1000);
  }
  return got;
}

pid_t
world_secrets_owner(World *w)
{
  char *args[] = { "--dest",
                   "org.freedesktop.DBus",
                   "--object-path",
                   "/org/freedesktop/DBus",
                   "--method",
                   "org.freedesktop.DBus.GetConnectionUnixProcessID",
                   "org.freedesktop.secrets",
                   NULL };
  g_autofree char *out = gdbus(w, args);
  unsigned pid = 0;
  if (out == NULL || sscanf(out, "(uint32 %u,)", &pid) != 1)
    return 0;
  return (pid_t)pid;
}

/* ---- PAM ----------------------------------------------------------------- */

typedef struct {
  const char **answers;
  size_t next;
} Conv;

static int
conversation(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
  Conv *conv = data;
  struct pam_response *r = calloc((size_t)n, sizeof *r);
  if (r == NULL)
    return PAM_BUF_ERR;
  for (int i = 0; i < n; i++) {
    if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF && msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
      continue;
    const char *answer = conv->answers ? conv->answers[conv->next] : NULL;
    if (answer == NULL) {
      for (int k = 0; k < i; k++)
        free(r[k].resp);
      free(r);
      return PAM_CONV_ERR;
    }
    conv->next++;
    r[i].resp = strdup(answer);
  }
  *resp = r;
  return PAM_SUCCESS;
}

static void
putenv_or_die(pam_handle_t *ph, const char *name, const char *value)
{
  g_autofree char *pair = g_strdup_printf("%s=%s", name, value);
  if (pam_putenv(ph, pair) != PAM_SUCCESS)
    g_error("pam_putenv %s failed", name);
}

int
world_pam(World *w, const char *service, const struct pam_testcase *tests, size_t n_tests, const char **answers,
          const PamRun *opts, char **log)
{
  static const PamRun defaults = { 0 };
  Conv conv = { answers, 0 };
  struct pam_conv pc = { conversation, &conv };
  pam_handle_t *ph = NULL;

  if (opts == NULL)
    opts = &defaults;
  const char *user = opts->user ? opts->user : w->user;
  if (pam_start(service, user, &pc, &ph) != PAM_SUCCESS)
    g_error("pam_start failed");
  if (!opts->no_runtime)
    putenv_or_die(ph, "XDG_RUNTIME_DIR", w->runtime);
  if (opts->with_bus_env)
    putenv_or_die(ph, "DBUS_SESSION_BUS_ADDRESS", w->bus_address);
  putenv_or_die(ph, "COFFER_KDF_FAST", "1");

  /* Our copy of the cases, plus the environment and the handle at the end. */
  struct pam_testcase *cases = g_new0(struct pam_testcase, n_tests + 2);
  memcpy(cases, tests, n_tests * sizeof *cases);
  cases[n_tests] = (struct pam_testcase)pam_test(PAMTEST_GETENVLIST, PAM_SUCCESS);
  cases[n_tests + 1] = (struct pam_testcase)pam_test(PAMTEST_KEEPHANDLE, PAM_SUCCESS);

  /* pam_wrapper writes pam_syslog() lines to stderr: catch them. */
  fflush(stderr);
  int saved = dup(2);
  int logfd = open(w->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (saved < 0 || logfd < 0 || dup2(logfd, 2) < 0)
    g_error("cannot capture stderr: %s", g_strerror(errno));
  close(logfd);
  enum pamtest_err perr = _pamtest_conv(service, user, conversation, &conv, cases, n_tests + 2, ph);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);

  g_autofree char *text = NULL;
  g_file_get_contents(w->log_path, &text, NULL, NULL);
  g_printerr("---- PAM log (%s) ----\n%s---- end ----\n", service, text ? text : "");
  int result = perr == PAMTEST_ERR_OK ? 0 : -1;
  if (perr != PAMTEST_ERR_OK) {
    const struct pam_testcase *failed = _pamtest_failed_case(cases, n_tests + 2);
    g_printerr("pamtest: %s; case %d returned %d (%s), expected %d\n", pamtest_strerror(perr),
               failed ? (int)failed->pam_operation : -1, failed ? failed->op_rv : 0,
               failed ? pam_strerror(ph, failed->op_rv) : "", failed ? failed->expected_rv : 0);
  }
  /* Only when every case passed did KEEPHANDLE keep the handle; otherwise
   * libpamtest has ended it already. */
  if (perr == PAMTEST_ERR_OK) {
    if (opts->env_out != NULL)
      *opts->env_out = cases[n_tests].case_out.envlist;
    else
      pamtest_free_env(cases[n_tests].case_out.envlist);
    pam_end(ph, PAM_SUCCESS);
  }
  g_free(cases);
  if (log != NULL)
    *log = g_steal_pointer(&text);
  return result;
}

/* ---- services ------------------------------------------------------------ */

void
world_write_service(World *w, const char *name, const char *module_args, bool no_matrix)
{
  const char *matrix_dir = env_or_die("PAM_WRAPPER_MODULES");
  g_autofree char *checker = no_matrix ? g_strdup_printf("%s/pam_set_items.so", matrix_dir)
                                       : g_strdup_printf("%s/pam_matrix.so passdb=%s", matrix_dir, w->passdb);
  g_autofree char *module = g_strdup_printf("%s agent=%s %s", world_module(), world_agent(), module_args);
  /* pam_matrix wipes the items it checked; pam_restore_authtok.so asks
   * again and sets them, as pam_unix would have left them. */
  const char *restore = no_matrix ? "" : env_or_die("COFFER_RESTORE_AUTHTOK");
  g_autofree char *text =
      g_strdup_printf("auth     required %s\n"
                      "%s%s%s"
                      "auth     optional %s\n"
                      "account  required %s\n"
                      "password required %s\n"
                      "%s%s%s"
                      "password optional %s\n"
                      "session  optional %s\n",
                      checker, no_matrix ? "" : "auth     required ", restore, no_matrix ? "" : "\n", module, checker,
                      checker, no_matrix ? "" : "password required ", restore, no_matrix ? "" : "\n", module, module);
  g_autofree char *path = g_build_filename(w->services, name, NULL);
  write_file(path, text);
}

void
world_set_login_password(World *w, const char *password)
{
  /* pam_matrix: user:password:service; the services used here are "login",
   * "sshd" and "other". */
  g_autofree char *text =
      g_strdup_printf("%s:%s:login\n%s:%s:other\nroot:%s:login\n", w->user, password, w->user, password, password);
  write_file(w->passdb, text);
}

/* ---- fake agents --------------------------------------------------------- */

static void __attribute__((noreturn))
fake_server_main(const char *path, uid_t as_uid, uid_t owner, bool hang, int events)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  if (as_uid != 0 &&
      (setgroups(0, NULL) < 0 || setresgid(as_uid, as_uid, as_uid) < 0 || setresuid(as_uid, as_uid, as_uid) < 0))
    _exit(2);
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  umask(0177);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || listen(fd, 16) < 0)
    _exit(3);
  if (owner != as_uid && chown(path, owner, owner) < 0)
    _exit(4);
  if (write(events, "r", 1) != 1)
    _exit(5);
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0)
      continue;
    if (write(events, "c", 1) != 1)
      _exit(5);
    if (hang)
      continue; /* keep it open, never answer */
    char buf[256];
    ssize_t n;
    while ((n = read(c, buf, sizeof buf)) > 0)
      if (write(events, "d", 1) != 1)
        _exit(5);
    close(c);
  }
}

void
world_fake_server(World *w, const char *path, uid_t as_uid, uid_t owner, bool hang)
{
  int fds[2];
  g_assert_cmpint(w->fake_server, ==, 0);
  if (pipe2(fds, O_CLOEXEC) < 0)
    g_error("pipe: %s", g_strerror(errno));
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    fake_server_main(path, as_uid, owner, hang, fds[1]);
  }
  close(fds[1]);
  char ready = 0;
  if (pid < 0 || read(fds[0], &ready, 1) != 1 || ready != 'r')
    g_error("the fake server did not start");
  w->fake_server = pid;
  w->fake_events = fds[0];
}

void
world_fake_stop(World *w)
{
  if (w->fake_server > 0) {
    kill(w->fake_server, SIGKILL);
    waitpid(w->fake_server, NULL, 0);
  }
  if (w->fake_events >= 0)
    close(w->fake_events);
  w->fake_server = 0;
  w->fake_events = -1;
}

void
world_fake_events(World *w, int wait_ms, int *connections, int *chunks)
{
  *connections = *chunks = 0;
  for (;;) {
    struct pollfd pfd = { .fd = w->fake_events, .events = POLLIN };
    if (poll(&pfd, 1, wait_ms) <= 0)
      return;
    char c;
    if (read(w->fake_events, &c, 1) != 1)
      return;
    if (c == 'c')
      (*connections)++;
    else if (c == 'd')
      (*chunks)++;
  }
}

/* ---- inspection ---------------------------------------------------------- */

static bool
file_mentions(const char *path, const char *needle)
{
  g_autofree char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &data, &len, NULL))
    return false;
  return g_strstr_len(data, (gssize)len, needle) != NULL || memmem(data, len, needle, strlen(needle)) != NULL;
}

bool
world_proc_mentions(pid_t pid, const char *secret)
{
  g_autofree char *environ_path = g_strdup_printf("/proc/%d/environ", (int)pid);
  g_autofree char *cmdline_path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
  g_assert_true(g_file_test(cmdline_path, G_FILE_TEST_EXISTS));
  return file_mentions(environ_path, secret) || file_mentions(cmdline_path, secret);
}

int
world_zombie_children(void)
{
  g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
  const char *name;
  int zombies = 0;
  while ((name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *path = g_strdup_printf("/proc/%s/stat", name);
    g_autofree char *stat = NULL;
    if (!g_ascii_isdigit(name[0]) || !g_file_get_contents(path, &stat, NULL, NULL))
      continue;
    const char *end = strrchr(stat, ')');
    char state;
    int ppid;
    if (end != NULL && sscanf(end + 1, " %c %d", &state, &ppid) == 2 && ppid == getpid() && state == 'Z')
      zombies++;
  }
  return zombies;
}

/* ---- teardown ------------------------------------------------------------ */

static GArray *
user_processes(uid_t uid)
{
  GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
  g_autoptr(GDir) dir = g_dir_open("/proc", 0, NULL);
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL) {
    if (!g_ascii_isdigit(name[0]))
      continue;
    g_autofree char *path = g_strdup_printf("/proc/%s/status", name);
    g_autofree char *status = NULL;
    if (!g_file_get_contents(path, &status, NULL, NULL))
      continue;
    const char *line = strstr(status, "\nUid:");
    unsigned ruid;
    if (line != NULL && sscanf(line, "\nUid: %u", &ruid) == 1 && ruid == uid) {
      pid_t pid = (pid_t)atoi(name);
      g_array_append_val(pids, pid);
    }
  }
  return pids;
}

/* Every process of the world's uid was started by this test (directly or by
 * the module under test); end them by pid, gently first. */
static void
stop_user_processes(World *w)
{
  for (int round = 0; round < 2; round++) {
    g_autoptr(GArray) pids = user_processes(w->uid);
    for (guint i = 0; i < pids->len; i++)
      kill(g_array_index(pids, pid_t, i), round == 0 ? SIGTERM : SIGKILL);
    for (int waited = 0; waited < 3000; waited += 50) {
      while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
      g_autoptr(GArray) left = user_processes(w->uid);
      if (left->len == 0)
        return;
      g_usleep(50 * 1000);
    }
  }
}

void
world_free(World *w)
{
  world_fake_stop(w);
  stop_user_processes(w);
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
  if (g_getenv("COFFER_TEST_KEEP") == NULL) {
    char *argv[] = { "/bin/rm", "-rf", w->root, NULL };
    char *env[] = { "PATH=/usr/bin:/bin", NULL };
    g_spawn_sync(NULL, argv, env, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, NULL, NULL);
  }
  g_free(w->root);
  g_free(w->home);
  g_free(w->runtime);
  g_free(w->socket);
  g_free(w->bus_socket);
  g_free(w->bus_address);
  g_free(w->store);
  g_free(w->services);
  g_free(w->passdb);
  g_free(w->log_path);
  g_free(w);
}
