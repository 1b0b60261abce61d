/* cofferd — the coffer agent: owns org.freedesktop.secrets on the session bus,
 * holds the vault, and listens on the control socket. */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control.h"
#include "config/config.h"
#include "control/control-server.h"
#include "lock/autolock.h"
#include "prompt/pinentry.h"
#include "service/service.h"
#include "sync/engine.h"
#include "transport/transport.h"
#include "vault/vault.h"

#define SECRETS_NAME "org.freedesktop.secrets"

typedef struct {
  GMainLoop *loop;
  GDBusConnection *connection;
  CofferVault *vault;
  CofferControlServer *control;
  CofferSyncEngine *sync;
  gboolean acquired;
  int exit_code;
  char *login_password; /* sodium_malloc(), from --password-fd */
  gsize login_len;
  int status_fd; /* the --password-fd socket, for the result; or -1 */
} Agent;

static gboolean opt_replace;
static gboolean opt_version;
static char *opt_store;
static int opt_password_fd = -1;
static gboolean opt_init_if_missing;
static int opt_change_password_fd = -1;

static const GOptionEntry options[] = {
  { "replace", 'r', 0, G_OPTION_ARG_NONE, &opt_replace, "Take org.freedesktop.secrets over from its owner", NULL },
  { "store", 0, 0, G_OPTION_ARG_FILENAME, &opt_store, "Vault database (default: $XDG_DATA_HOME/coffer/vault.db)",
    "PATH" },
  { "password-fd", 0, 0, G_OPTION_ARG_INT, &opt_password_fd,
    "Read a login password from FD (until end of file) and unlock with it once serving", "FD" },
  { "init-if-missing", 0, 0, G_OPTION_ARG_NONE, &opt_init_if_missing,
    "With --password-fd: create the vault with that password when there is none", NULL },
  { "change-password-fd", 0, 0, G_OPTION_ARG_INT, &opt_change_password_fd,
    "Read OLD NUL NEW from FD, re-wrap the key slot, and exit (no bus)", "FD" },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and exit", NULL },
  { NULL },
};

/* Keys and secrets must never reach a core file or another process of the
 * same user through ptrace. */
static void
harden_process(void)
{
  struct rlimit none = { 0, 0 };

  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    g_warning("cannot mark the process non-dumpable: %s", g_strerror(errno));
  setrlimit(RLIMIT_CORE, &none);
}

/* ---- passwords from pam_coffer.so -----------------------------------------
 * pam_coffer.so hands passwords over on an inherited fd, never in argv or
 * the environment (docs/pam.md).  When that fd is a socket the result goes
 * back on it as one control-protocol response frame. */

#define MAX_FD_SECRET 4096

/* Reads fd to its end into sodium memory (NUL-terminated).  NULL on error,
 * on an oversize input, or when out of secure memory. */
static char *
read_secret_fd(int fd, gsize *len)
{
  char *buf = sodium_malloc(MAX_FD_SECRET + 1);
  gsize used = 0;

  if (buf == NULL)
    return NULL;
  for (;;) {
    ssize_t n = read(fd, buf + used, MAX_FD_SECRET + 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || (n > 0 && used + (gsize)n > MAX_FD_SECRET)) {
      sodium_free(buf);
      return NULL;
    }
    if (n == 0)
      break;
    used += (gsize)n;
  }
  buf[used] = '\0';
  *len = used;
  return buf;
}

static gboolean
fd_is_socket(int fd)
{
  int type;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
}

/* Sends OK or ERROR(code) on a status socket and closes it. */
static void
report_status(int *fd, guint32 code, const char *message)
{
  CofferControlBuilder b;
  const uint8_t *frame;
  size_t len;

  if (*fd < 0)
    return;
  coffer_control_builder_init(&b, code == 0 ? COFFER_CONTROL_OK : COFFER_CONTROL_ERROR);
  if (code != 0)
    coffer_control_builder_add_u32(&b, COFFER_FIELD_ERROR_CODE, code);
  if (message != NULL)
    coffer_control_builder_add_string(&b, COFFER_FIELD_MESSAGE, message);
  /* MSG_NOSIGNAL: the module may have given up waiting; that is no reason to die. */
  if (coffer_control_builder_finish(&b, &frame, &len) == 0 && send(*fd, frame, len, MSG_NOSIGNAL) < 0)
    g_debug("cannot report the login result: %s", g_strerror(errno));
  coffer_control_builder_clear(&b);
  close(*fd);
  *fd = -1;
}

/* --password-fd: read the password now, before anything else can go wrong;
 * keep the fd only if the result can be sent back on it. */
static gboolean
take_login_password(Agent *agent)
{
  agent->login_password = read_secret_fd(opt_password_fd, &agent->login_len);
  if (fd_is_socket(opt_password_fd)) {
    agent->status_fd = opt_password_fd;
    shutdown(agent->status_fd, SHUT_RD);
  } else {
    close(opt_password_fd);
  }
  if (agent->login_password == NULL) {
    g_printerr("cofferd: cannot read a password from fd %d\n", opt_password_fd);
    report_status(&agent->status_fd, COFFER_CONTROL_ERR_INVALID, "cannot read the password");
    return FALSE;
  }
  return TRUE;
}

static void
on_login_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Agent *agent = user_data;
  g_autofree char *message = NULL;
  guint32 code = coffer_control_server_login_finish(result, &message);

  if (code == 0)
    g_message("login: %s", message != NULL ? message : "unlocked the vault");
  else
    g_message("login: not unlocked (%s)%s%s", coffer_control_error_name(code), message ? ": " : "",
              message ? message : "");
  report_status(&agent->status_fd, code, message);
}

static void
start_login(Agent *agent)
{
  if (agent->login_password == NULL)
    return;
  coffer_control_server_login_async(agent->control, agent->login_password, agent->login_len, opt_init_if_missing,
                                    on_login_done, agent);
  g_clear_pointer(&agent->login_password, sodium_free); /* the login job took a copy */
}

/* Names the process that owns the bus name, for a message a person can act on. */
static char *
describe_owner(GDBusConnection *connection)
{
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *cmdline = NULL;
  g_autofree char *path = NULL;
  gsize len = 0;
  guint32 pid;

  reply = g_dbus_connection_call_sync(
      connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixProcessID",
      g_variant_new("(s)", SECRETS_NAME), G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, 2000, NULL, NULL);
  if (reply == NULL)
    return g_strdup("another program");
  g_variant_get(reply, "(u)", &pid);
  path = g_strdup_printf("/proc/%u/cmdline", pid);
  if (!g_file_get_contents(path, &cmdline, &len, NULL) || len == 0)
    return g_strdup_printf("process %u", pid);
  return g_strdup_printf("%s (pid %u)", cmdline, pid);
}

static CofferControlServer *
start_control(CofferVault *vault, GError **error)
{
  char path[256];

  if (coffer_control_socket_path(path, sizeof path) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                "no runtime directory for the control socket (XDG_RUNTIME_DIR is not set)");
    return NULL;
  }
  return coffer_control_server_new(vault, path, error);
}

/* The control socket is taken once the bus name is ours, so `--replace`
 * can wait for the agent it replaced to let go of the socket. */
static void
on_name_acquired(GDBusConnection *connection, const char *name, gpointer user_data)
{
  Agent *agent = user_data;
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time() + (opt_replace ? 3 : 0) * G_USEC_PER_SEC;

  agent->acquired = TRUE;
  for (;;) {
    g_clear_error(&error);
    agent->control = start_control(agent->vault, &error);
    if (agent->control != NULL || g_get_monotonic_time() >= deadline)
      break;
    g_usleep(50 * 1000);
  }
  if (agent->control == NULL) {
    g_printerr("cofferd: %s\n", error->message);
    agent->exit_code = 1;
    g_main_loop_quit(agent->loop);
    return;
  }
  coffer_control_server_set_sync_engine(agent->control, agent->sync);
  g_message("serving %s", name);
  start_login(agent);
}

static void
on_name_lost(GDBusConnection *connection, const char *name, gpointer user_data)
{
  Agent *agent = user_data;

  if (connection == NULL) {
    g_printerr("cofferd: lost the connection to the session bus\n");
  } else if (!agent->acquired) {
    g_autofree char *owner = describe_owner(connection);
    if (opt_replace)
      g_printerr("cofferd: %s is provided by %s, which does not allow replacement; stop it first\n", name, owner);
    else
      g_printerr("cofferd: %s is already provided by %s; stop it, or run `cofferd --replace`\n", name, owner);
  } else {
    /* Replaced (`--replace`): a normal way to stop. */
    g_message("%s was taken over by another program; exiting", name);
    g_main_loop_quit(agent->loop);
    return;
  }
  agent->exit_code = 1;
  g_main_loop_quit(agent->loop);
}

static gboolean
on_signal(gpointer user_data)
{
  Agent *agent = user_data;

  g_main_loop_quit(agent->loop);
  return G_SOURCE_CONTINUE;
}

static char *
default_store_path(void)
{
  return g_build_filename(g_get_user_data_dir(), "coffer", "vault.db", NULL);
}

/* --change-password-fd: pam_coffer.so's chauthtok when no agent runs.  Reads
 * "OLD\0NEW", re-wraps the local key slot, and exits with 0 or the control
 * protocol's error code; a missing store is never created. */
static int
run_change_password(const char *store_path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CofferVault) vault = NULL;
  int status_fd = fd_is_socket(opt_change_password_fd) ? opt_change_password_fd : -1;
  gsize len = 0;
  char *buf = read_secret_fd(opt_change_password_fd, &len);
  guint32 code = 0;

  if (status_fd < 0)
    close(opt_change_password_fd);
  const char *sep = buf != NULL ? memchr(buf, '\0', len) : NULL;
  if (sep == NULL) {
    code = COFFER_CONTROL_ERR_INVALID;
    g_set_error(&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "expected OLD NUL NEW");
  } else if (!g_file_test(store_path, G_FILE_TEST_EXISTS)) {
    code = COFFER_CONTROL_ERR_NOT_INITIALIZED;
    g_set_error(&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no vault at %s", store_path);
  } else if ((vault = coffer_vault_open(store_path, &error)) == NULL ||
             !coffer_vault_change_password(vault, buf, (gsize)(sep - buf), sep + 1, len - (gsize)(sep - buf) - 1,
                                           &error)) {
    code = coffer_control_error_from_gerror(error);
  }
  g_clear_pointer(&buf, sodium_free);
  report_status(&status_fd, code, error != NULL ? error->message : NULL);
  if (code != 0)
    g_printerr("cofferd: password not changed: %s\n", error->message);
  return (int)code;
}

static CofferSyncEngine *
start_sync(CofferVault *vault, CofferConfig *config)
{
  CofferSyncConfig sync;
  coffer_sync_config_defaults(&sync);
  sync.poll_interval_s = coffer_config_get_uint(config, "sync", "poll_interval");
  sync.cleanup_max_age_s = (guint64)coffer_config_get_uint(config, "sync", "cleanup_max_age_days") * 24 * 3600;
  sync.cleanup_keep = coffer_config_get_uint(config, "sync", "cleanup_keep");
  return coffer_sync_engine_new(vault, &sync);
}

static int
run(Agent *agent)
{
  g_autofree char *store_path = opt_store ? g_strdup(opt_store) : default_store_path();
  g_autoptr(GError) error = NULL;
  g_autoptr(CofferVault) vault = NULL;
  g_autoptr(CofferConfig) config = coffer_config_load(NULL);
  g_autoptr(CofferPrompter) prompter = coffer_prompter_new_for_config(
      coffer_config_get_string(config, "agent", "pinentry"), coffer_config_get_uint(config, "agent", "prompt_timeout"));
  g_autoptr(CofferService) service = NULL;
  g_autoptr(CofferAutolock) autolock = NULL; /* after service: freed first */
  GBusNameOwnerFlags flags = G_BUS_NAME_OWNER_FLAGS_ALLOW_REPLACEMENT | G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE;
  guint owner_id;

  vault = coffer_vault_open(store_path, &error);
  if (vault == NULL) {
    g_printerr("cofferd: cannot open the vault %s: %s\n", store_path, error->message);
    return 1;
  }
  agent->connection = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
  if (agent->connection == NULL) {
    g_printerr("cofferd: cannot connect to the session bus: %s\n", error->message);
    return 1;
  }
  g_dbus_connection_set_exit_on_close(agent->connection, FALSE);
  service = coffer_service_new(agent->connection, vault, prompter, &error);
  if (service == NULL) {
    g_printerr("cofferd: cannot export the Secret Service: %s\n", error->message);
    return 1;
  }
  coffer_service_set_access_ask(service, g_strcmp0(coffer_config_get_string(config, "agent", "access"), "ask") == 0);
  autolock = coffer_autolock_new(vault, service, agent->connection, config);
  if (opt_replace)
    flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
  agent->vault = vault;
  agent->sync = start_sync(vault, config);
  owner_id =
      g_bus_own_name_on_connection(agent->connection, SECRETS_NAME, flags, on_name_acquired, on_name_lost, agent, NULL);
  g_main_loop_run(agent->loop);
  g_clear_pointer(&agent->control, coffer_control_server_free);
  g_clear_pointer(&agent->sync, coffer_sync_engine_free);
  g_bus_unown_name(owner_id);
  coffer_vault_lock(vault);
  agent->vault = NULL;
  return agent->exit_code;
}

int
main(int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new("- the coffer secret service agent");
  g_autoptr(GError) error = NULL;
  Agent agent = { 0 };
  int code;

  setlocale(LC_ALL, "");
  harden_process();
  g_option_context_add_main_entries(context, options, NULL);
  if (!g_option_context_parse(context, &argc, &argv, &error)) {
    g_printerr("cofferd: %s\n", error->message);
    return 2;
  }
  if (opt_version) {
    printf("cofferd %s\n", COFFER_VERSION);
    return 0;
  }
  if (sodium_init() < 0) {
    g_printerr("cofferd: libsodium failed to initialise\n");
    return 1;
  }
  if (opt_change_password_fd >= 0) {
    g_autofree char *store_path = opt_store ? g_strdup(opt_store) : default_store_path();
    g_free(opt_store);
    return run_change_password(store_path);
  }
  agent.status_fd = -1;
  if (opt_password_fd >= 0 && !take_login_password(&agent))
    return 1;
  coffer_transport_global_init();
  agent.loop = g_main_loop_new(NULL, FALSE);
  g_unix_signal_add(SIGTERM, on_signal, &agent);
  g_unix_signal_add(SIGINT, on_signal, &agent);
  code = run(&agent);
  g_clear_pointer(&agent.login_password, sodium_free);
  /* Exiting before the login was tried (no bus, another agent): say so. */
  report_status(&agent.status_fd, COFFER_CONTROL_ERR_INTERNAL, "cofferd exited before unlocking");
  g_clear_object(&agent.connection);
  g_main_loop_unref(agent.loop);
  g_free(opt_store);
  return code;
}
