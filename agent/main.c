/* cofferd — the coffer agent: owns org.freedesktop.secrets on the session bus,
 * holds the vault, and listens on the control socket. */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "control.h"
#include "config/config.h"
#include "control/control-server.h"
#include "prompt/pinentry.h"
#include "service/service.h"
#include "transport/transport.h"
#include "vault/vault.h"

#define SECRETS_NAME "org.freedesktop.secrets"

typedef struct {
  GMainLoop *loop;
  GDBusConnection *connection;
  CofferVault *vault;
  CofferControlServer *control;
  gboolean acquired;
  int exit_code;
} Agent;

static gboolean opt_replace;
static gboolean opt_version;
static char *opt_store;

static const GOptionEntry options[] = {
  { "replace", 'r', 0, G_OPTION_ARG_NONE, &opt_replace, "Take org.freedesktop.secrets over from its owner", NULL },
  { "store", 0, 0, G_OPTION_ARG_FILENAME, &opt_store, "Vault database (default: $XDG_DATA_HOME/coffer/vault.db)",
    "PATH" },
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

/* Names the process that owns the bus name, for a message a person can act on. */
static char *
describe_owner(GDBusConnection *connection)
{
  g_autoptr(GVariant) reply = NULL;
  g_autofree char *cmdline = NULL;
  g_autofree char *path = NULL;
  gsize len = 0;
  guint32 pid;

  reply = g_dbus_connection_call_sync(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "GetConnectionUnixProcessID",
                                      g_variant_new("(s)", SECRETS_NAME), G_VARIANT_TYPE("(u)"),
                                      G_DBUS_CALL_FLAGS_NONE, 2000, NULL, NULL);
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
  g_message("serving %s", name);
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
  if (opt_replace)
    flags |= G_BUS_NAME_OWNER_FLAGS_REPLACE;
  agent->vault = vault;
  owner_id = g_bus_own_name_on_connection(agent->connection, SECRETS_NAME, flags, on_name_acquired, on_name_lost,
                                          agent, NULL);
  g_main_loop_run(agent->loop);
  g_clear_pointer(&agent->control, coffer_control_server_free);
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
  coffer_transport_global_init();
  agent.loop = g_main_loop_new(NULL, FALSE);
  g_unix_signal_add(SIGTERM, on_signal, &agent);
  g_unix_signal_add(SIGINT, on_signal, &agent);
  code = run(&agent);
  g_clear_object(&agent.connection);
  g_main_loop_unref(agent.loop);
  g_free(opt_store);
  return code;
}
