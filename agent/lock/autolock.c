/* coffer — auto-lock (see autolock.h). */
#include "config.h"

#include <unistd.h>

#include "lock/autolock.h"

#define LOGIN1_NAME "org.freedesktop.login1"
#define LOGIN1_PATH "/org/freedesktop/login1"
#define LOGIN1_MANAGER LOGIN1_NAME ".Manager"
#define LOGIN1_SESSION LOGIN1_NAME ".Session"
#define LOGIN1_USER LOGIN1_NAME ".User"
#define LOGIN1_TIMEOUT_MS 2000

/* Screen savers announce themselves under either name: KDE, xfce and
 * xscreensaver bridges use the freedesktop one, GNOME Shell its own. */
static const char *const screensaver_ifaces[] = { "org.freedesktop.ScreenSaver", "org.gnome.ScreenSaver" };

struct CofferAutolock {
  CofferVault *vault;
  CofferService *service;
  GDBusConnection *session_bus;
  GDBusConnection *system_bus; /* our own connection; NULL until found */
  guint idle_ms;               /* 0: no idle lock */
  gboolean on_screen_lock;
  gboolean before_sleep;
  gint64 last_use; /* monotonic µs of the last Secret Service call */
  guint idle_source;
  gulong lock_handler;
  guint screensaver_subs[G_N_ELEMENTS(screensaver_ifaces)];
  guint sleep_sub;
  guint session_lock_sub;
  GCancellable *cancellable; /* the system bus lookup */
};

static void
lock_now(CofferAutolock *self, const char *reason)
{
  if (coffer_vault_is_locked(self->vault))
    return;
  g_message("locking the vault: %s", reason);
  coffer_vault_lock(self->vault);
}

/* ---- idle ------------------------------------------------------------------- */

static gboolean on_idle_timeout(gpointer user_data);

static void
arm_idle(CofferAutolock *self, guint delay_ms)
{
  g_clear_handle_id(&self->idle_source, g_source_remove);
  self->idle_source = g_timeout_add(delay_ms, on_idle_timeout, self);
}

/* The timer is not moved on every call (that would cost a source per call):
 * when it fires early it is re-armed for what is left. */
static gboolean
on_idle_timeout(gpointer user_data)
{
  CofferAutolock *self = user_data;
  gint64 idle_ms = (g_get_monotonic_time() - self->last_use) / 1000;

  self->idle_source = 0;
  if (coffer_vault_is_locked(self->vault))
    return G_SOURCE_REMOVE;
  if (idle_ms >= self->idle_ms) {
    g_autofree char *reason = g_strdup_printf("no Secret Service use for %u s", self->idle_ms / 1000);
    lock_now(self, reason);
  } else {
    arm_idle(self, self->idle_ms - (guint)idle_ms);
  }
  return G_SOURCE_REMOVE;
}

static void
on_activity(gpointer user_data)
{
  CofferAutolock *self = user_data;

  self->last_use = g_get_monotonic_time();
}

/* Idle time counts from the unlock; a locked vault needs no timer. */
static void
on_lock_changed(CofferVault *vault, gboolean locked, gpointer user_data)
{
  CofferAutolock *self = user_data;

  if (locked) {
    g_clear_handle_id(&self->idle_source, g_source_remove);
    return;
  }
  self->last_use = g_get_monotonic_time();
  arm_idle(self, self->idle_ms);
}

/* ---- screen saver (session bus) --------------------------------------------- */

/* Any client of the session bus can send this: the worst it can do is lock
 * the vault, which is the safe direction. */
static void
on_screensaver_active(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                      const char *signal, GVariant *parameters, gpointer user_data)
{
  gboolean active = FALSE;

  if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(b)")))
    return;
  g_variant_get(parameters, "(b)", &active);
  if (active)
    lock_now(user_data, "the screen was locked");
}

/* ---- logind (system bus) ------------------------------------------------------- */

static void
on_prepare_for_sleep(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                     const char *signal, GVariant *parameters, gpointer user_data)
{
  gboolean sleeping = FALSE;

  if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(b)")))
    return;
  g_variant_get(parameters, "(b)", &sleeping);
  if (sleeping)
    lock_now(user_data, "the system is going to sleep");
}

static void
on_session_lock(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                const char *signal, GVariant *parameters, gpointer user_data)
{
  lock_now(user_data, "logind locked the session");
}

static char *
call_for_path(GDBusConnection *bus, const char *path, const char *iface, const char *method, GVariant *args,
              GCancellable *cancellable)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) error = NULL;
  char *result = NULL;

  reply = g_dbus_connection_call_sync(bus, LOGIN1_NAME, path, iface, method, args, G_VARIANT_TYPE("(o)"),
                                      G_DBUS_CALL_FLAGS_NONE, LOGIN1_TIMEOUT_MS, cancellable, &error);
  if (reply == NULL) {
    g_debug("logind %s: %s", method, error->message);
    return NULL;
  }
  g_variant_get(reply, "(o)", &result);
  return result;
}

/* The user's display session, for an agent started outside any session
 * (a systemd user service is in none). */
static char *
user_display_session(GDBusConnection *bus, GCancellable *cancellable)
{
  g_autofree char *user =
      call_for_path(bus, LOGIN1_PATH, LOGIN1_MANAGER, "GetUser", g_variant_new("(u)", (guint32)getuid()), cancellable);
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) display = NULL;
  char *path = NULL;

  if (user == NULL)
    return NULL;
  reply = g_dbus_connection_call_sync(bus, LOGIN1_NAME, user, "org.freedesktop.DBus.Properties", "Get",
                                      g_variant_new("(ss)", LOGIN1_USER, "Display"), G_VARIANT_TYPE("(v)"),
                                      G_DBUS_CALL_FLAGS_NONE, LOGIN1_TIMEOUT_MS, cancellable, NULL);
  if (reply == NULL)
    return NULL;
  g_variant_get(reply, "(v)", &display);
  if (!g_variant_is_of_type(display, G_VARIANT_TYPE("(so)")))
    return NULL;
  g_variant_get(display, "(&so)", NULL, &path);
  /* "/" means the user has no graphical session. */
  if (g_strcmp0(path, "/") == 0)
    g_clear_pointer(&path, g_free);
  return path;
}

/* Our logind session: XDG_SESSION_ID, else the session of our process,
 * else the user's display session.  NULL when there is none. */
static char *
find_session(GDBusConnection *bus, GCancellable *cancellable)
{
  const char *id = g_getenv("XDG_SESSION_ID");
  char *path = NULL;

  if (id != NULL && id[0] != '\0')
    path = call_for_path(bus, LOGIN1_PATH, LOGIN1_MANAGER, "GetSession", g_variant_new("(s)", id), cancellable);
  if (path == NULL)
    path = call_for_path(bus, LOGIN1_PATH, LOGIN1_MANAGER, "GetSessionByPID", g_variant_new("(u)", (guint32)getpid()),
                         cancellable);
  if (path == NULL)
    path = user_display_session(bus, cancellable);
  return path;
}

typedef struct {
  GDBusConnection *bus;
  char *session_path;
} Logind;

static void
logind_free(Logind *logind)
{
  g_clear_object(&logind->bus);
  g_free(logind->session_path);
  g_free(logind);
}

/* In a worker thread: the system bus and logind may be slow or absent,
 * and the agent serves meanwhile.  A private connection, so that the system
 * bus going away never ends the agent (the shared one would exit). */
static void
find_logind(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM, cancellable, &error);
  Logind *logind = g_new0(Logind, 1);

  if (address != NULL)
    logind->bus = g_dbus_connection_new_for_address_sync(
        address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL,
        cancellable, &error);
  if (logind->bus == NULL) {
    logind_free(logind);
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  logind->session_path = find_session(logind->bus, cancellable);
  g_task_return_pointer(task, logind, (GDestroyNotify)logind_free);
}

static void
on_logind_found(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  Logind *logind = g_task_propagate_pointer(G_TASK(result), &error);
  CofferAutolock *self = user_data;

  if (logind == NULL) {
    /* Cancelled: self is gone.  Otherwise no system bus: a container, a
     * minimal host; the session-bus triggers still work. */
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_debug("no system bus, so no logind triggers: %s", error->message);
    return;
  }
  self->system_bus = g_steal_pointer(&logind->bus);
  g_debug("logind session: %s", logind->session_path != NULL ? logind->session_path : "none found");
  if (self->before_sleep)
    self->sleep_sub = g_dbus_connection_signal_subscribe(self->system_bus, LOGIN1_NAME, LOGIN1_MANAGER,
                                                         "PrepareForSleep", LOGIN1_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                         on_prepare_for_sleep, self, NULL);
  if (self->on_screen_lock && logind->session_path != NULL)
    self->session_lock_sub =
        g_dbus_connection_signal_subscribe(self->system_bus, LOGIN1_NAME, LOGIN1_SESSION, "Lock", logind->session_path,
                                           NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_session_lock, self, NULL);
  logind_free(logind);
}

/* ---- lifecycle ------------------------------------------------------------------- */

static void
start_system_bus_triggers(CofferAutolock *self)
{
  g_autoptr(GTask) task = g_task_new(NULL, self->cancellable, on_logind_found, self);

  g_task_run_in_thread(task, find_logind);
}

CofferAutolock *
coffer_autolock_new(CofferVault *vault, CofferService *service, GDBusConnection *session_bus, CofferConfig *config)
{
  CofferAutolock *self = g_new0(CofferAutolock, 1);
  guint idle_seconds = coffer_config_get_uint(config, "lock", "lock_after_idle_seconds");

  self->vault = g_object_ref(vault);
  self->service = service;
  self->session_bus = g_object_ref(session_bus);
  self->cancellable = g_cancellable_new();
  self->on_screen_lock = coffer_config_get_boolean(config, "lock", "lock_on_screen_lock");
  self->before_sleep = coffer_config_get_boolean(config, "lock", "lock_before_sleep");
  if (idle_seconds == 0)
    idle_seconds = coffer_config_get_uint(config, "lock", "lock_after_idle") * 60;
  self->idle_ms = idle_seconds * 1000;
  self->last_use = g_get_monotonic_time();

  if (self->idle_ms > 0) {
    self->lock_handler = g_signal_connect(vault, "lock-changed", G_CALLBACK(on_lock_changed), self);
    coffer_service_set_activity_callback(service, on_activity, self);
    if (!coffer_vault_is_locked(vault))
      arm_idle(self, self->idle_ms);
  }
  for (guint i = 0; self->on_screen_lock && i < G_N_ELEMENTS(screensaver_ifaces); i++)
    self->screensaver_subs[i] =
        g_dbus_connection_signal_subscribe(session_bus, NULL, screensaver_ifaces[i], "ActiveChanged", NULL, NULL,
                                           G_DBUS_SIGNAL_FLAGS_NONE, on_screensaver_active, self, NULL);
  if (self->on_screen_lock || self->before_sleep)
    start_system_bus_triggers(self);
  g_debug("auto-lock: idle %u s, screen lock %s, sleep %s", idle_seconds, self->on_screen_lock ? "on" : "off",
          self->before_sleep ? "on" : "off");
  return self;
}

void
coffer_autolock_free(CofferAutolock *self)
{
  g_cancellable_cancel(self->cancellable);
  g_clear_object(&self->cancellable);
  g_clear_handle_id(&self->idle_source, g_source_remove);
  if (self->lock_handler != 0) {
    g_signal_handler_disconnect(self->vault, self->lock_handler);
    coffer_service_set_activity_callback(self->service, NULL, NULL);
  }
  for (guint i = 0; i < G_N_ELEMENTS(self->screensaver_subs); i++)
    if (self->screensaver_subs[i] != 0)
      g_dbus_connection_signal_unsubscribe(self->session_bus, self->screensaver_subs[i]);
  if (self->sleep_sub != 0)
    g_dbus_connection_signal_unsubscribe(self->system_bus, self->sleep_sub);
  if (self->session_lock_sub != 0)
    g_dbus_connection_signal_unsubscribe(self->system_bus, self->session_lock_sub);
  if (self->system_bus != NULL)
    g_dbus_connection_close_sync(self->system_bus, NULL, NULL);
  g_clear_object(&self->system_bus);
  g_clear_object(&self->session_bus);
  g_clear_object(&self->vault);
  g_free(self);
}
