/* coffer — the Secret portal backend: org.freedesktop.impl.portal.Secret at
 * /org/freedesktop/portal/desktop (dbus/coffer.portal points
 * xdg-desktop-portal here).
 *
 * RetrieveSecret(handle, app_id, fd, options) gives a sandboxed application
 * its own 64-byte secret, which it uses to encrypt whatever it stores
 * itself.  The secret is an ordinary item of the default collection with
 * the attributes {app_id, xdg:schema=org.freedesktop.portal.Secret}, made
 * with fresh random bytes on the first request, so it syncs and can be seen
 * and deleted like any other.  A locked vault is unlocked through the
 * prompter first (every request waiting meanwhile shares one unlock), and
 * the answer is sent once the secret is written to fd: response 0, or 1
 * when the user cancelled the unlock, or 2 for any other failure.
 *
 * The portal frontend has already identified the application: app_id comes
 * from it, not from the sandbox, and is only checked for sanity here.  With
 * per-application access control on (access=ask), only the portal frontend
 * itself (the owner of org.freedesktop.portal.Desktop) may call: anyone
 * else could name any app id and read that app's secret without being
 * asked.  The item made for an app records it as its creator
 * ("flatpak:<app id>"), so the app reaching the Secret Service directly
 * reads its own item without a question. */
#include "config.h"

#include <errno.h>
#include <gio/gunixfdlist.h>
#include <poll.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "service/service-private.h"
#include "secret-resources.h"

#define PORTAL_PATH "/org/freedesktop/portal/desktop"
#define PORTAL_IFACE "org.freedesktop.impl.portal.Secret"
#define PORTAL_SCHEMA "org.freedesktop.portal.Secret"
#define PORTAL_VERSION 1
#define PORTAL_FRONTEND "org.freedesktop.portal.Desktop"
#define APP_SECRET_BYTES 64
#define APP_ID_MAX 255
/* How long a reader may leave a full pipe before we give up on it. */
#define WRITE_TIMEOUT_MS 5000

enum { RESPONSE_SUCCESS = 0, RESPONSE_CANCELLED = 1, RESPONSE_FAILED = 2 };

typedef struct {
  GDBusMethodInvocation *invocation;
  char *app_id;
  int fd;
} Request;

/* One prompter unlock and the requests waiting for it.  It outlives the
 * portal when the prompter answers late: then portal is NULL. */
typedef struct {
  CofferPortal *portal;
  GCancellable *cancellable;
  GPtrArray *requests; /* Request* (owned) */
} UnlockRound;

struct CofferPortal {
  CofferService *service;
  GDBusNodeInfo *node;
  guint registration;
  UnlockRound *round; /* the unlock in flight, or NULL */
};

static void
request_free(Request *request)
{
  if (request->fd >= 0)
    close(request->fd);
  g_clear_object(&request->invocation);
  g_free(request->app_id);
  g_free(request);
}

static void
reply(GDBusMethodInvocation *invocation, guint32 response)
{
  g_dbus_method_invocation_return_value(
      invocation, g_variant_new("(u@a{sv})", response, g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)));
}

/* Flatpak and Snap application ids: letters, digits, '.', '_', '-'. */
static gboolean
app_id_is_valid(const char *app_id)
{
  gsize len = strlen(app_id);

  if (len == 0 || len > APP_ID_MAX || !g_ascii_isalnum(app_id[0]))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum(app_id[i]) && app_id[i] != '.' && app_id[i] != '_' && app_id[i] != '-')
      return FALSE;
  return TRUE;
}

/* ---- the secret ---------------------------------------------------------------- */

static CofferCollection *
default_collection(CofferVault *vault, GError **error)
{
  CofferCollection *collection = coffer_vault_resolve_alias(vault, "default");

  if (collection == NULL)
    collection = coffer_vault_find_collection(vault, COFFER_LOGIN_COLLECTION);
  if (collection == NULL)
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_FOUND, "no default collection");
  return collection;
}

/* The app's secret (sodium memory) from its item, made on first use.
 * Needs an unlocked vault. */
static guint8 *
app_secret(CofferVault *vault, const char *app_id, gsize *len, GError **error)
{
  g_autoptr(GHashTable) attributes = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) items = NULL;
  g_autofree char *label = NULL;
  g_autofree char *creator = NULL;
  CofferCollection *collection = default_collection(vault, error);
  CofferItemContent content = { 0 };
  guint8 *secret = NULL;
  const char *content_type;

  if (collection == NULL)
    return NULL;
  g_hash_table_insert(attributes, "app_id", (gpointer)app_id);
  g_hash_table_insert(attributes, "xdg:schema", PORTAL_SCHEMA);
  items = coffer_vault_search(vault, collection, attributes, error);
  if (items == NULL)
    return NULL;
  if (items->len > 0)
    return coffer_vault_get_item_secret(vault, items->pdata[0], &secret, len, &content_type, error) ? secret : NULL;

  secret = sodium_malloc(APP_SECRET_BYTES);
  if (secret == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "out of secure memory");
    return NULL;
  }
  randombytes_buf(secret, APP_SECRET_BYTES);
  label = g_strdup_printf("Application key for %s", app_id);
  creator = g_strconcat("flatpak:", app_id, NULL);
  content = (CofferItemContent){ .label = label,
                                 .attributes = attributes,
                                 .content_type = "application/octet-stream",
                                 .secret = secret,
                                 .secret_len = APP_SECRET_BYTES,
                                 .app = creator };
  if (coffer_vault_create_item(vault, collection, &content, FALSE, NULL, error) == NULL) {
    sodium_free(secret);
    return NULL;
  }
  g_message("created the portal secret of %s", app_id);
  *len = APP_SECRET_BYTES;
  return secret;
}

/* ---- writing it ------------------------------------------------------------------ */

typedef struct {
  int fd;
  guint8 *secret; /* sodium memory */
  gsize len;
} WriteJob;

static void
write_job_free(WriteJob *job)
{
  if (job->fd >= 0)
    close(job->fd);
  sodium_free(job->secret);
  g_free(job);
}

/* Writes all of data, waiting for room at most WRITE_TIMEOUT_MS in all, so a
 * reader that never reads cannot keep the thread.  A closed reader is EPIPE
 * (GIO ignores SIGPIPE process-wide for its sockets). */
static gboolean
write_all(int fd, const guint8 *data, gsize len, GError **error)
{
  gint64 deadline = g_get_monotonic_time() + WRITE_TIMEOUT_MS * 1000;

  while (len > 0) {
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
    int ready = left_ms > 0 ? poll(&pfd, 1, (int)left_ms) : 0;
    ssize_t n;

    if (ready < 0 && errno == EINTR)
      continue;
    if (ready <= 0) {
      g_set_error(error, G_IO_ERROR, ready == 0 ? G_IO_ERROR_TIMED_OUT : g_io_error_from_errno(errno),
                  "cannot write the secret: %s", ready == 0 ? "nobody reads it" : g_strerror(errno));
      return FALSE;
    }
    n = write(fd, data, len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0) {
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot write the secret: %s", g_strerror(errno));
      return FALSE;
    }
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

/* In a worker thread: a slow reader must not stall the agent. */
static void
write_in_thread(GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  WriteJob *job = task_data;
  GError *error = NULL;
  gboolean ok = write_all(job->fd, job->secret, job->len, &error);

  close(job->fd);
  job->fd = -1;
  if (ok)
    g_task_return_boolean(task, TRUE);
  else
    g_task_return_error(task, error);
}

static void
on_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean(G_TASK(result), &error)) {
    g_message("portal: %s", error->message);
    reply(invocation, RESPONSE_FAILED);
    return;
  }
  reply(invocation, RESPONSE_SUCCESS);
}

/* Finds or makes the secret and hands it to a writer; replies when written. */
static void
answer(CofferPortal *portal, Request *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GTask) task = NULL;
  WriteJob *job;
  gsize len = 0;
  guint8 *secret = app_secret(portal->service->vault, request->app_id, &len, &error);

  if (secret == NULL) {
    g_message("portal: no secret for %s: %s", request->app_id, error->message);
    reply(request->invocation, RESPONSE_FAILED);
    request_free(request);
    return;
  }
  job = g_new0(WriteJob, 1);
  job->fd = request->fd;
  job->secret = secret;
  job->len = len;
  request->fd = -1;
  task = g_task_new(NULL, NULL, on_written, g_steal_pointer(&request->invocation));
  g_task_set_task_data(task, job, (GDestroyNotify)write_job_free);
  g_task_run_in_thread(task, write_in_thread);
  request_free(request);
}

/* ---- waiting for the vault --------------------------------------------------------- */

static void
round_free(UnlockRound *round)
{
  g_object_unref(round->cancellable);
  g_ptr_array_unref(round->requests);
  g_free(round);
}

static void
on_unlocked(GObject *source, GAsyncResult *result, gpointer user_data)
{
  UnlockRound *round = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = coffer_prompter_unlock_finish(COFFER_PROMPTER(source), result, &error);
  guint32 response = g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? RESPONSE_CANCELLED : RESPONSE_FAILED;

  if (round->portal != NULL)
    round->portal->round = NULL;
  if (!ok || round->portal == NULL)
    g_message("portal: the vault was not unlocked%s%s", error ? ": " : "", error ? error->message : "");
  while (round->requests->len > 0) {
    Request *request = g_ptr_array_steal_index(round->requests, 0);
    if (ok && round->portal != NULL) {
      answer(round->portal, request);
    } else {
      reply(request->invocation, response);
      request_free(request);
    }
  }
  round_free(round);
}

static void
wait_for_unlock(CofferPortal *portal, Request *request)
{
  if (portal->round == NULL) {
    UnlockRound *round = g_new0(UnlockRound, 1);
    round->portal = portal;
    round->cancellable = g_cancellable_new();
    round->requests = g_ptr_array_new_with_free_func((GDestroyNotify)request_free);
    portal->round = round;
    g_ptr_array_add(round->requests, request);
    coffer_prompter_unlock_async(portal->service->prompter, portal->service->vault, "", round->cancellable, on_unlocked,
                                 round);
    return;
  }
  g_ptr_array_add(portal->round->requests, request);
}

/* ---- the interface -------------------------------------------------------------------- */

static void
serve(CofferPortal *portal, Request *request)
{
  if (coffer_vault_is_locked(portal->service->vault))
    wait_for_unlock(portal, request);
  else
    answer(portal, request);
}

typedef struct {
  CofferPortal *portal;
  Request *request;
} FrontendCheck;

static void
on_frontend_owner(GObject *source, GAsyncResult *result, gpointer user_data)
{
  FrontendCheck *check = user_data;
  Request *request = check->request;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, NULL);
  const char *owner = NULL;

  if (reply != NULL)
    g_variant_get(reply, "(&s)", &owner);
  if (g_strcmp0(owner, g_dbus_method_invocation_get_sender(request->invocation)) == 0) {
    serve(check->portal, request);
  } else {
    g_message("portal: refused RetrieveSecret from %s, which is not the portal frontend",
              g_dbus_method_invocation_get_sender(request->invocation));
    g_dbus_method_invocation_return_dbus_error(request->invocation, DBUS_ERROR_ACCESS_DENIED,
                                               "only the portal frontend (" PORTAL_FRONTEND ") may call this");
    request_free(request);
  }
  g_free(check);
}

/* access=ask: the caller must be the portal frontend. */
static void
check_frontend(CofferPortal *portal, Request *request)
{
  FrontendCheck *check = g_new0(FrontendCheck, 1);

  check->portal = portal;
  check->request = request;
  g_dbus_connection_call(portal->service->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                         "org.freedesktop.DBus", "GetNameOwner", g_variant_new("(s)", PORTAL_FRONTEND),
                         G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, on_frontend_owner, check);
}

static void
retrieve_secret(CofferPortal *portal, GDBusMethodInvocation *invocation, GVariant *parameters)
{
  g_autoptr(GError) error = NULL;
  GUnixFDList *fds = g_dbus_message_get_unix_fd_list(g_dbus_method_invocation_get_message(invocation));
  const char *handle, *app_id;
  gint32 fd_index;
  Request *request;
  int fd;

  g_variant_get(parameters, "(&o&sh@a{sv})", &handle, &app_id, &fd_index, NULL);
  if (!app_id_is_valid(app_id)) {
    g_dbus_method_invocation_return_dbus_error(invocation, DBUS_ERROR_INVALID_ARGS, "invalid application id");
    return;
  }
  fd = fds != NULL ? g_unix_fd_list_get(fds, fd_index, &error) : -1;
  if (fd < 0) {
    g_dbus_method_invocation_return_dbus_error(invocation, DBUS_ERROR_INVALID_ARGS, "no file descriptor passed");
    return;
  }
  request = g_new0(Request, 1);
  request->invocation = g_object_ref(invocation);
  request->app_id = g_strdup(app_id);
  request->fd = fd;
  if (coffer_access_asks(portal->service->access))
    check_frontend(portal, request);
  else
    serve(portal, request);
}

static void
portal_method_call(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                   const char *method, GVariant *parameters, GDBusMethodInvocation *invocation, gpointer user_data)
{
  CofferPortal *portal = user_data;

  coffer_service_note_activity(portal->service);
  if (g_strcmp0(method, "RetrieveSecret") == 0)
    retrieve_secret(portal, invocation, parameters);
  else
    g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.UnknownMethod", method);
}

static GVariant *
portal_get_property(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                    const char *name, GError **error, gpointer user_data)
{
  if (g_strcmp0(name, "version") == 0)
    return g_variant_new_uint32(PORTAL_VERSION);
  g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
  return NULL;
}

static const GDBusInterfaceVTable portal_vtable = { portal_method_call, portal_get_property, NULL, { 0 } };

CofferPortal *
coffer_portal_new(CofferService *service, GError **error)
{
  g_autoptr(GBytes) xml = g_resource_lookup_data(coffer_secret_get_resource(), "/org/coffer/dbus/" PORTAL_IFACE ".xml",
                                                 G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  CofferPortal *portal;

  if (xml == NULL)
    return NULL;
  portal = g_new0(CofferPortal, 1);
  portal->service = service;
  portal->node = g_dbus_node_info_new_for_xml(g_bytes_get_data(xml, NULL), error);
  if (portal->node != NULL)
    portal->registration = g_dbus_connection_register_object(
        service->connection, PORTAL_PATH, g_dbus_node_info_lookup_interface(portal->node, PORTAL_IFACE), &portal_vtable,
        portal, NULL, error);
  if (portal->registration == 0) {
    coffer_portal_free(portal);
    return NULL;
  }
  return portal;
}

void
coffer_portal_free(CofferPortal *portal)
{
  if (portal->round != NULL) {
    portal->round->portal = NULL;
    g_cancellable_cancel(portal->round->cancellable);
  }
  if (portal->registration != 0)
    g_dbus_connection_unregister_object(portal->service->connection, portal->registration);
  g_clear_pointer(&portal->node, g_dbus_node_info_unref);
  g_free(portal);
}
