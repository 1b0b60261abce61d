/* pam_coffer.so driven through libpamtest + pam_wrapper, with pam_matrix as
 * the password checker and nss_wrapper for the user; a real dbus-daemon and
 * cofferd per test, running as the test user (see world.h).
 *
 *   test-pam CASE
 *
 * runs one case in its own world, so meson runs them in parallel. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib/gstdio.h>

#include "world.h"

#define AUTH_AND_SESSION                                                                                               \
  {                                                                                                                    \
    pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS), pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS),                          \
  }

static World *W;

static int
setup(void **state)
{
  W = world_new();
  return 0;
}

static int
teardown(void **state)
{
  world_free(W);
  W = NULL;
  return 0;
}

#define assert_contains(haystack, needle)                                                                              \
  do {                                                                                                                 \
    if ((haystack) == NULL || strstr((haystack), (needle)) == NULL)                                                    \
      fail_msg("expected \"%s\" in:\n%s", (needle), (haystack) ? (haystack) : "(null)");                               \
  } while (0)
#define assert_lacks(haystack, needle)                                                                                 \
  do {                                                                                                                 \
    if ((haystack) != NULL && strstr((haystack), (needle)) != NULL)                                                    \
      fail_msg("did not expect \"%s\" in:\n%s", (needle), (haystack));                                                 \
  } while (0)

/* A login: auth (pam_matrix checks pw) + open_session. */
static char *
login(const char *service, const char *pw, const PamRun *opts)
{
  struct pam_testcase tests[] = AUTH_AND_SESSION;
  /* pam_matrix asks, then pam_restore_authtok.so (see world.c). */
  const char *answers[] = { pw, pw, NULL };
  char *log = NULL;
  gint64 start = g_get_monotonic_time();
  assert_int_equal(world_pam(W, service, tests, G_N_ELEMENTS(tests), answers, opts, &log), 0);
  g_printerr("login (%s) took %" G_GINT64_FORMAT " ms\n", service, (g_get_monotonic_time() - start) / 1000);
  return log;
}

/* A vault with this password, in the store, with no agent left running. */
static void
make_vault_offline(const char *pw)
{
  GPid agent = world_start_agent(W);
  assert_int_equal(world_control(W, COFFER_CONTROL_INIT, pw, NULL), 0);
  kill(agent, SIGTERM);
  waitpid(agent, NULL, 0);
  g_spawn_close_pid(agent);
  assert_true(g_file_test(W->store, G_FILE_TEST_EXISTS));
}

static void
assert_opens_only_with(const char *good, const char *bad)
{
  assert_int_equal(world_control(W, COFFER_CONTROL_LOCK, NULL, NULL), 0);
  assert_int_equal(world_control(W, COFFER_CONTROL_UNLOCK, bad, NULL), COFFER_CONTROL_ERR_BAD_PASSWORD);
  assert_int_equal(world_control(W, COFFER_CONTROL_UNLOCK, good, NULL), 0);
}

static bool
self_mentions(const char *secret)
{
  return world_proc_mentions(getpid(), secret);
}

/* ---- cases --------------------------------------------------------------- */

/* A running agent's vault is unlocked by the login, and the password is in
 * no environment or argv: not the agent's, not the login process's, not
 * the PAM environment, not the module's log. */
static void
test_unlock(void **state)
{
  const char *pw = "unlock-pw-Kx81";
  world_start_bus(W);
  GPid agent = world_start_agent(W);
  assert_int_equal(world_control(W, COFFER_CONTROL_INIT, pw, NULL), 0);
  assert_int_equal(world_control(W, COFFER_CONTROL_LOCK, NULL, NULL), 0);
  assert_int_equal(world_locked(W), 1);
  world_set_login_password(W, pw);
  world_write_service(W, "login", "debug", false);

  g_auto(GStrv) env = NULL;
  PamRun run = { .env_out = &env };
  g_autofree char *log = login("login", pw, &run);

  assert_int_equal(world_locked(W), 0);
  assert_false(world_proc_mentions(agent, pw));
  assert_false(self_mentions(pw));
  for (char **e = env; e != NULL && *e != NULL; e++)
    assert_lacks(*e, pw);
  assert_lacks(log, pw);
  assert_contains(log, "unlock for coffertest done by the running agent");
  assert_int_equal(world_zombie_children(), 0);

  /* close_session does nothing by default. */
  struct pam_testcase close[] = { pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS) };
  assert_int_equal(world_pam(W, "login", close, 1, NULL, NULL, NULL), 0);
  assert_int_equal(world_locked(W), 0);
}

/* lock_on_close locks the vault when the session ends. */
static void
test_lock_on_close(void **state)
{
  const char *pw = "close-pw";
  world_start_bus(W);
  world_start_agent(W);
  assert_int_equal(world_control(W, COFFER_CONTROL_INIT, pw, NULL), 0);
  assert_int_equal(world_control(W, COFFER_CONTROL_LOCK, NULL, NULL), 0);
  world_set_login_password(W, pw);
  world_write_service(W, "login", "lock_on_close", false);
  struct pam_testcase tests[] = { pam_test(PAMTEST_AUTHENTICATE, PAM_SUCCESS),
                                  pam_test(PAMTEST_OPEN_SESSION, PAM_SUCCESS) };
  const char *answers[] = { pw, pw, NULL };
  assert_int_equal(world_pam(W, "login", tests, 2, answers, NULL, NULL), 0);
  assert_int_equal(world_locked(W), 0);
  struct pam_testcase close[] = { pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS) };
  assert_int_equal(world_pam(W, "login", close, 1, NULL, NULL, NULL), 0);
  assert_int_equal(world_locked(W), 1);
}

/* No agent + auto_start: cofferd is started as the user, with the password
 * on a pipe, and unlocks. */
static void
test_auto_start(void **state)
{
  const char *pw = "auto-pw-93jd";
  world_start_bus(W);
  make_vault_offline(pw);
  world_set_login_password(W, pw);
  world_write_service(W, "login", "auto_start debug", false);

  PamRun run = { .with_bus_env = true };
  g_autofree char *log = login("login", pw, &run);

  assert_int_equal(world_wait_locked(W, 0, 5000), 0);
  pid_t agent = world_secrets_owner(W);
  assert_true(agent > 0);
  g_autofree char *status_path = g_strdup_printf("/proc/%d/status", (int)agent);
  g_autofree char *status = NULL;
  assert_true(g_file_get_contents(status_path, &status, NULL, NULL));
  g_autofree char *uid_line = g_strdup_printf("\nUid:\t%u\t%u\t%u", W->uid, W->uid, W->uid);
  assert_contains(status, uid_line);
  assert_false(world_proc_mentions(agent, pw));
  assert_false(self_mentions(pw));
  assert_lacks(log, pw);
  assert_contains(log, "done by started cofferd");
  assert_int_equal(world_zombie_children(), 0);
}

/* First login, no vault, no agent: auto_start creates the vault with the
 * login password (the bus found at $XDG_RUNTIME_DIR/bus). */
static void
test_first_login(void **state)
{
  const char *pw = "first-pw";
  world_start_bus(W);
  assert_false(g_file_test(W->store, G_FILE_TEST_EXISTS));
  world_set_login_password(W, pw);
  world_write_service(W, "login", "auto_start debug", false);

  g_autofree char *log = login("login", pw, NULL);

  assert_int_equal(world_wait_locked(W, 0, 5000), 0);
  assert_true(g_file_test(W->store, G_FILE_TEST_EXISTS));
  assert_contains(log, "created a new vault");
  assert_opens_only_with(pw, "not-the-pw");
}

/* A running agent with no vault: LOGIN creates it... */
static void
test_first_login_agent(void **state)
{
  const char *pw = "first-agent-pw";
  world_start_bus(W);
  world_start_agent(W);
  world_set_login_password(W, pw);
  world_write_service(W, "login", "", false);
  g_autofree char *log = login("login", pw, NULL);
  assert_int_equal(world_locked(W), 0);
  assert_opens_only_with(pw, "other");
}

/* ...unless init_on_login=no. */
static void
test_init_off(void **state)
{
  const char *pw = "init-off-pw";
  world_start_bus(W);
  world_start_agent(W);
  world_set_login_password(W, pw);
  world_write_service(W, "login", "init_on_login=no", false);
  g_autofree char *log = login("login", pw, NULL);
  assert_int_equal(world_control(W, COFFER_CONTROL_UNLOCK, pw, NULL), COFFER_CONTROL_ERR_NOT_INITIALIZED);
  assert_contains(log, "not-initialized");
}

/* The login password is not the vault's: the login still succeeds, the
 * vault stays locked, and the log says why. */
static void
test_wrong_password(void **state)
{
  world_start_bus(W);
  world_start_agent(W);
  assert_int_equal(world_control(W, COFFER_CONTROL_INIT, "vault-pw", NULL), 0);
  assert_int_equal(world_control(W, COFFER_CONTROL_LOCK, NULL, NULL), 0);
  world_set_login_password(W, "login-pw");
  world_write_service(W, "login", "", false);
  g_autofree char *log = login("login", "login-pw", NULL);
  assert_int_equal(world_locked(W), 1);
  assert_contains(log, "does not open the vault (wrong password)");
  assert_lacks(log, "login-pw");
}

static void
change_password(const char *service, const char *old_pw, const char *new_pw, char **log)
{
  struct pam_testcase tests[] = { pam_test(PAMTEST_CHAUTHTOK, PAM_SUCCESS) };
  /* Old password for pam_matrix and pam_restore_authtok.so (preliminary
   * pass); new password and again for pam_matrix (update pass). */
  const char *answers[] = { old_pw, old_pw, new_pw, new_pw, NULL };
  assert_int_equal(world_pam(W, service, tests, 1, answers, NULL, log), 0);
}

/* passwd through the running agent. */
static void
test_chauthtok(void **state)
{
  world_start_bus(W);
  world_start_agent(W);
  assert_int_equal(world_control(W, COFFER_CONTROL_INIT, "old-pw", NULL), 0);
  world_set_login_password(W, "old-pw");
  world_write_service(W, "login", "debug", false);
  g_autofree char *log = NULL;
  change_password("login", "old-pw", "new-pw", &log);
  assert_contains(log, "password change for coffertest done by the running agent");
  assert_opens_only_with("new-pw", "old-pw");
}

/* passwd with no agent: the store is re-keyed directly, as the user. */
static void
test_chauthtok_no_agent(void **state)
{
  world_start_bus(W);
  make_vault_offline("old-pw");
  world_set_login_password(W, "old-pw");
  world_write_service(W, "login", "debug", false);
  g_autofree char *log = NULL;
  change_password("login", "old-pw", "new-pw", &log);
  assert_contains(log, "password change for coffertest done by started cofferd");
  /* The one-shot cofferd ran as the user and left the store the user's. */
  struct stat st;
  assert_int_equal(stat(W->store, &st), 0);
  assert_int_equal(st.st_uid, W->uid);
  world_start_agent(W);
  assert_opens_only_with("new-pw", "old-pw");
}

/* Root sets a new password (no old one): the module records the reset; the
 * next login cannot open the vault but hands the new password to the
 * agent, and one `coffer unlock` with the previous password re-keys the
 * vault to the new login password. */
static void
test_root_reset(void **state)
{
  world_start_bus(W);
  make_vault_offline("old-pw");
  g_autofree char *marker = g_build_filename(W->home, ".local/share/coffer", COFFER_LOGIN_RESET_MARKER, NULL);

  /* passwd run by root: pam_set_items puts PAM_AUTHTOK, and no old one. */
  world_write_service(W, "passwd", "", true);
  world_write_service(W, "login", "auto_start", false);
  g_setenv("PAM_AUTHTOK", "new-pw", TRUE);
  struct pam_testcase tests[] = { pam_test(PAMTEST_CHAUTHTOK, PAM_SUCCESS) };
  g_autofree char *log = NULL;
  assert_int_equal(world_pam(W, "passwd", tests, 1, NULL, NULL, &log), 0);
  g_unsetenv("PAM_AUTHTOK");
  assert_contains(log, "was set without the old one");
  assert_true(g_file_test(marker, G_FILE_TEST_IS_REGULAR));

  /* The next login: locked, and the log says what to do. */
  world_set_login_password(W, "new-pw");
  g_autofree char *log2 = login("login", "new-pw", NULL);
  assert_contains(log2, "the login password was reset");
  assert_int_equal(world_wait_locked(W, 1, 0), 1);

  /* `coffer unlock` with the previous password settles it. */
  char *argv[] = { (char *)world_cli(), "unlock", "--password-stdin", NULL };
  assert_int_equal(world_run_as_user(W, argv, "old-pw\n", NULL), 0);
  assert_int_equal(world_locked(W), 0);
  assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
  assert_opens_only_with("new-pw", "old-pw");
}

/* An agent that accepts and never answers: the session opens within the
 * bound, the helper is killed and reaped. */
static void
test_hung_agent(void **state)
{
  g_autofree char *dir = g_path_get_dirname(W->socket);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  g_assert_cmpint(chown(dir, W->uid, W->gid), ==, 0);
  world_fake_server(W, W->socket, W->uid, W->uid, true);
  world_set_login_password(W, "pw");
  world_write_service(W, "login", "auto_start", false);

  gint64 start = g_get_monotonic_time();
  g_autofree char *log = login("login", "pw", NULL);
  gint64 took_ms = (g_get_monotonic_time() - start) / 1000;

  g_printerr("login took %" G_GINT64_FORMAT " ms\n", took_ms);
  assert_true(took_ms < 2600);
  int connections, chunks;
  world_fake_events(W, 100, &connections, &chunks);
  assert_int_equal(connections, 1);
  assert_true(strstr(log, "did not answer in time") != NULL || strstr(log, "took longer than") != NULL);
  assert_int_equal(world_zombie_children(), 0);
}

static char *
hostile_login(void)
{
  return login("login", "hostile-pw", NULL);
}

/* Sockets that are not the user's agent are refused before a password
 * could reach them. */
static void
test_hostile_socket(void **state)
{
  g_autofree char *dir = g_path_get_dirname(W->socket);
  g_autofree char *elsewhere = g_build_filename(W->root, "elsewhere", NULL);
  g_autofree char *decoy = g_build_filename(elsewhere, "sock", NULL);
  int connections, chunks;
  world_set_login_password(W, "hostile-pw");
  world_write_service(W, "login", "", false);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  g_assert_cmpint(chown(dir, W->uid, W->gid), ==, 0);

  /* A socket owned by someone else. */
  world_fake_server(W, W->socket, 0, W->uid + 1, false);
  g_autofree char *log1 = hostile_login();
  world_fake_events(W, 200, &connections, &chunks);
  assert_int_equal(connections, 0);
  assert_contains(log1, "refusing the agent socket");
  assert_contains(log1, "wrong owner");
  world_fake_stop(W);
  unlink(W->socket);

  /* The user's socket file, but served by root: connected, checked with
   * SO_PEERCRED, and not one byte sent. */
  world_fake_server(W, W->socket, 0, W->uid, false);
  g_autofree char *log2 = hostile_login();
  world_fake_events(W, 200, &connections, &chunks);
  assert_int_equal(connections, 1);
  assert_int_equal(chunks, 0);
  assert_contains(log2, "refusing the agent socket");
  world_fake_stop(W);
  unlink(W->socket);

  /* A symlink to a socket the user does serve. */
  g_assert_cmpint(g_mkdir(elsewhere, 0700), ==, 0);
  g_assert_cmpint(chown(elsewhere, W->uid, W->gid), ==, 0);
  world_fake_server(W, decoy, W->uid, W->uid, false);
  g_assert_cmpint(symlink(decoy, W->socket), ==, 0);
  g_autofree char *log3 = hostile_login();
  world_fake_events(W, 200, &connections, &chunks);
  assert_int_equal(connections, 0);
  assert_contains(log3, "it is a symlink");
  world_fake_stop(W);
  unlink(W->socket);

  /* A regular file. */
  g_assert_true(g_file_set_contents(W->socket, "not a socket", -1, NULL));
  g_assert_cmpint(chown(W->socket, W->uid, W->gid), ==, 0);
  g_autofree char *log4 = hostile_login();
  assert_contains(log4, "it is not a socket");
  unlink(W->socket);

  /* A directory others can write to. */
  g_assert_cmpint(chmod(dir, 0777), ==, 0);
  world_fake_server(W, W->socket, W->uid, W->uid, false);
  g_autofree char *log5 = hostile_login();
  world_fake_events(W, 200, &connections, &chunks);
  assert_int_equal(connections, 0);
  assert_contains(log5, "refusing the agent socket");
  world_fake_stop(W);
}

/* No XDG_RUNTIME_DIR yet (and no /run/user/<uid>): logged, skipped. */
static void
test_no_runtime_dir(void **state)
{
  world_set_login_password(W, "pw");
  world_write_service(W, "login", "auto_start", false);
  PamRun run = { .no_runtime = true };
  g_autofree char *log = login("login", "pw", &run);
  assert_contains(log, "no runtime directory for coffertest");
}

/* The home is not there (not mounted yet): no agent is started on it. */
static void
test_no_home(void **state)
{
  world_start_bus(W);
  g_assert_cmpint(rmdir(W->home), ==, 0);
  world_set_login_password(W, "pw");
  world_write_service(W, "login", "auto_start", false);
  g_autofree char *log = login("login", "pw", NULL);
  assert_contains(log, "is not available");
  assert_int_equal(world_secrets_owner(W), 0);
}

/* No session bus: no agent is started; the log says what happens. */
static void
test_no_bus(void **state)
{
  world_set_login_password(W, "pw");
  world_write_service(W, "login", "auto_start", false);
  g_autofree char *log = login("login", "pw", NULL);
  assert_contains(log, "no session bus");
  assert_false(g_file_test(W->store, G_FILE_TEST_EXISTS));
}

/* Root is skipped; empty passwords are not kept; only_if and unknown
 * options. */
static void
test_skips(void **state)
{
  world_set_login_password(W, "pw");
  world_write_service(W, "login", "debug bogus_option", false);
  world_write_service(W, "elsewhere", "debug only_if=gdm-password,sshd", false);
  world_write_service(W, "empty", "debug", true);
  PamRun as_root = { .user = "root" };
  g_autofree char *log1 = login("login", "pw", &as_root);
  assert_contains(log1, "skipping root");
  assert_contains(log1, "ignoring unknown option bogus_option");

  g_autofree char *log2 = login("elsewhere", "pw", NULL);
  assert_contains(log2, "service not in only_if=gdm-password,sshd");

  /* An empty password (set by pam_set_items, as a passwordless login
   * would leave it). */
  g_setenv("PAM_AUTHTOK", "", TRUE);
  struct pam_testcase tests[] = AUTH_AND_SESSION;
  g_autofree char *log3 = NULL;
  assert_int_equal(world_pam(W, "empty", tests, G_N_ELEMENTS(tests), NULL, NULL, &log3), 0);
  g_unsetenv("PAM_AUTHTOK");
  assert_contains(log3, "empty password");
  assert_contains(log3, "no password from auth");
}

/* The whole module under valgrind (run through valgrind by meson): login
 * with unlock, password change, lock on close. */
static void
test_valgrind_flow(void **state)
{
  world_start_bus(W);
  world_start_agent(W);
  assert_int_equal(world_control(W, COFFER_CONTROL_INIT, "vg-pw", NULL), 0);
  assert_int_equal(world_control(W, COFFER_CONTROL_LOCK, NULL, NULL), 0);
  world_set_login_password(W, "vg-pw");
  world_write_service(W, "login", "debug lock_on_close", false);
  g_free(login("login", "vg-pw", NULL));
  assert_int_equal(world_locked(W), 0);
  g_autofree char *log = NULL;
  change_password("login", "vg-pw", "vg-new", &log);
  struct pam_testcase close[] = { pam_test(PAMTEST_CLOSE_SESSION, PAM_SUCCESS) };
  assert_int_equal(world_pam(W, "login", close, 1, NULL, NULL, NULL), 0);
  assert_int_equal(world_locked(W), 1);
  assert_int_equal(world_control(W, COFFER_CONTROL_UNLOCK, "vg-new", NULL), 0);
}

#define CASE(name, fn)                                                                                                 \
  {                                                                                                                    \
    name, cmocka_unit_test_setup_teardown(fn, setup, teardown)                                                         \
  }

static const struct {
  const char *name;
  struct CMUnitTest test;
} cases[] = {
  CASE("unlock", test_unlock),
  CASE("lock-on-close", test_lock_on_close),
  CASE("auto-start", test_auto_start),
  CASE("first-login", test_first_login),
  CASE("first-login-agent", test_first_login_agent),
  CASE("init-off", test_init_off),
  CASE("wrong-password", test_wrong_password),
  CASE("chauthtok", test_chauthtok),
  CASE("chauthtok-no-agent", test_chauthtok_no_agent),
  CASE("root-reset", test_root_reset),
  CASE("hung-agent", test_hung_agent),
  CASE("hostile-socket", test_hostile_socket),
  CASE("no-runtime-dir", test_no_runtime_dir),
  CASE("no-home", test_no_home),
  CASE("no-bus", test_no_bus),
  CASE("skips", test_skips),
  CASE("valgrind-flow", test_valgrind_flow),
};

int
main(int argc, char **argv)
{
  if (geteuid() != 0) {
    /* The module must really drop privileges to a test uid. */
    fprintf(stderr, "test-pam: needs root (CI runs as root); skipping\n");
    return 77;
  }
  /* One case per process: nss_wrapper and pam_wrapper settle on one world. */
  for (size_t i = 0; argc == 2 && i < G_N_ELEMENTS(cases); i++) {
    if (strcmp(argv[1], cases[i].name) != 0)
      continue;
    struct CMUnitTest one[] = { cases[i].test };
    return _cmocka_run_group_tests(cases[i].name, one, 1, NULL, NULL);
  }
  fprintf(stderr, "usage: test-pam CASE; cases:");
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
    fprintf(stderr, " %s", cases[i].name);
  fprintf(stderr, "\n");
  return 2;
}
