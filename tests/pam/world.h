/* Test world for pam_coffer.so: one per test process.
 *
 * The suite runs as root (CI does, on a throwaway machine).  Each world has
 * its own unprivileged uid, picked from a range no real account uses and
 * made known to the process through nss_wrapper, so the module's child
 * really drops privileges (setgroups/setgid/setuid, checked) and everything
 * of the user's -- dbus-daemon, cofferd, the sockets -- really belongs to
 * that uid.  Nothing outside the world's temp directory is touched:
 * pam_wrapper reads the PAM services from the world, pam_matrix checks
 * passwords against the world's passdb.  Teardown ends every process of the
 * world's uid (all of them were started by the test or by the module under
 * test) and removes the directory. */
#pragma once

#include <glib.h>
#include <libpamtest.h>
#include <security/pam_appl.h>
#include <stdbool.h>
#include <sys/types.h>

#include "control.h"

typedef struct {
  char *root; /* mkdtemp, 0755 */
  const char *user;
  uid_t uid;
  gid_t gid;
  char *home;    /* 0700, the user's */
  char *runtime; /* XDG_RUNTIME_DIR, 0700, the user's */
  char *socket;  /* runtime/coffer/control */
  char *bus_socket;
  char *bus_address;
  char *store;    /* home/.local/share/coffer/vault.db */
  char *services; /* PAM_WRAPPER_SERVICE_DIR */
  char *passdb;
  char *log_path; /* stderr (pam_syslog via pam_wrapper) while the stack runs */
  GPid fake_server;
  int fake_events; /* read end: one byte per event of the fake server */
} World;

/* Paths of the things under test, from the environment meson sets. */
const char *world_module(void);
const char *world_agent(void);
const char *world_cli(void);

World *world_new(void);
void world_free(World *w);

/* Writes the PAM service `name` -- before the first PAM transaction of the
 * process: pam_wrapper copies the service directory once, at its first use.
 * pam_matrix for auth/account/password pam_matrix for auth/account/password
 * (unless no_matrix: then pam_set_items sets the items from the
 * environment, for the root-reset case), pam_coffer.so with module_args for
 * auth, session and password. */
void world_write_service(World *w, const char *name, const char *module_args, bool no_matrix);
/* The user's login password in pam_matrix's passdb. */
void world_set_login_password(World *w, const char *password);

/* Processes of the user. */
void world_start_bus(World *w);
GPid world_start_agent(World *w);
/* Control request as the user (a forked child that drops privileges).
 * Returns 0 for OK, the error code of an ERROR, or a negative errno. */
int world_control(World *w, uint8_t type, const char *password, const char *new_password);
/* `Locked` of the login collection over D-Bus (gdbus as the user):
 * 1 locked, 0 unlocked, -1 no answer. */
int world_locked(World *w);
/* Polls world_locked() until it equals want or timeout_ms passes. */
int world_wait_locked(World *w, int want, int timeout_ms);
/* The pid owning org.freedesktop.secrets, or 0. */
pid_t world_secrets_owner(World *w);
/* Runs a program as the user; returns its exit status (or -1). stdin_text may be NULL. */
int world_run_as_user(World *w, char **argv, const char *stdin_text, char **out);

/* A PAM transaction driven through libpamtest.  The PAM environment gets
 * XDG_RUNTIME_DIR (unless no_runtime), COFFER_KDF_FAST=1 and, when
 * with_bus_env, DBUS_SESSION_BUS_ADDRESS.  answers: what the conversation
 * types at the echo-off prompts, NULL-terminated.  The module's log lines
 * (pam_syslog, through pam_wrapper) are returned in *log when log != NULL. */
typedef struct {
  bool no_runtime;
  bool with_bus_env;
  char ***env_out;  /* if not NULL: the PAM environment at the end (strv) */
  const char *user; /* default: the world's user */
} PamRun;
int world_pam(World *w, const char *service, const struct pam_testcase *tests, size_t n_tests, const char **answers,
              const PamRun *opts, char **log);

/* A fake agent at path: bound by uid `as_uid`, the socket file then
 * chown'ed to `owner`, accepting connections and (hang) never answering,
 * or (record) reporting each connection as 'c' and each read chunk as 'd'
 * on fake_events. */
void world_fake_server(World *w, const char *path, uid_t as_uid, uid_t owner, bool hang);
void world_fake_stop(World *w);
/* Counts the fake server's events arriving within wait_ms. */
void world_fake_events(World *w, int wait_ms, int *connections, int *chunks);

/* Whether secret occurs in /proc/<pid>/environ or /proc/<pid>/cmdline. */
bool world_proc_mentions(pid_t pid, const char *secret);
/* Number of zombie children of this process. */
int world_zombie_children(void);
