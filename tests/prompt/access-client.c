/* A tiny Secret Service client for the access-control tests (test_access.py).
 * The tests copy this one binary to several paths (and rewrite copies), so
 * that cofferd sees different applications: different paths and hashes.
 *
 *   access-client store LABEL VALUE SECRET  CreateItem in the default
 *                                           collection, attribute test-key=VALUE
 *   access-client read VALUE                GetSecret of the item with test-key=VALUE
 *   access-client read-all VALUE...         one GetSecrets of every item found
 *
 * Secrets go out and come back over a "plain" session and are printed one
 * per line.  Exit status: 0, 3 AccessDenied, 4 IsLocked, 5 nothing found,
 * 1 anything else (the D-Bus error name on stderr). */
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#define BUS_NAME "org.freedesktop.secrets"
#define SERVICE_PATH "/org/freedesktop/secrets"
#define SERVICE_IFACE "org.freedesktop.Secret.Service"
#define CALL_TIMEOUT_MS (120 * 1000) /* a question may be on screen meanwhile */

static GDBusConnection *bus;

static int
fail(GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error(error);

  fprintf(stderr, "%s: %s\n", name ? name : "error", error->message);
  if (g_strcmp0(name, "org.freedesktop.DBus.Error.AccessDenied") == 0)
    return 3;
  if (g_strcmp0(name, "org.freedesktop.Secret.Error.IsLocked") == 0)
    return 4;
  return 1;
}

static GVariant *
call(const char *path, const char *iface, const char *method, GVariant *args, const char *reply_type, GError **error)
{
  return g_dbus_connection_call_sync(bus, BUS_NAME, path, iface, method, args, G_VARIANT_TYPE(reply_type),
                                     G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
}

static char *
open_session(GError **error)
{
  g_autoptr(GVariant) reply = call(SERVICE_PATH, SERVICE_IFACE, "OpenSession",
                                   g_variant_new("(sv)", "plain", g_variant_new_string("")), "(vo)", error);
  char *path = NULL;

  if (reply != NULL)
    g_variant_get(reply, "(@vo)", NULL, &path);
  return path;
}

static GVariant *
attributes(const char *value)
{
  GVariantBuilder b;

  g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
  g_variant_builder_add(&b, "{ss}", "test-key", value);
  return g_variant_builder_end(&b);
}

static int
store(const char *session, const char *label, const char *value, const char *secret)
{
  GVariantBuilder props;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  const char *item;

  g_variant_builder_init(&props, G_VARIANT_TYPE("a{sv}"));
  g_variant_builder_add(&props, "{sv}", "org.freedesktop.Secret.Item.Label", g_variant_new_string(label));
  g_variant_builder_add(&props, "{sv}", "org.freedesktop.Secret.Item.Attributes", attributes(value));
  reply = call(
      SERVICE_PATH "/aliases/default", "org.freedesktop.Secret.Collection", "CreateItem",
      g_variant_new("(a{sv}(o@ay@ays)b)", &props, session, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, "", 0, 1),
                    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, secret, strlen(secret), 1), "text/plain", TRUE),
      "(oo)", &error);
  if (reply == NULL)
    return fail(error);
  g_variant_get(reply, "(&o&o)", &item, NULL);
  printf("%s\n", item);
  return 0;
}

/* Paths of the items with test-key=value (unlocked ones first), appended to paths. */
static int
search(const char *value, GPtrArray *paths)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply =
      call(SERVICE_PATH, SERVICE_IFACE, "SearchItems", g_variant_new("(@a{ss})", attributes(value)), "(aoao)", &error);
  g_autoptr(GVariantIter) unlocked = NULL;
  g_autoptr(GVariantIter) locked = NULL;
  const char *path;

  if (reply == NULL)
    return fail(error);
  g_variant_get(reply, "(aoao)", &unlocked, &locked);
  while (g_variant_iter_next(unlocked, "&o", &path))
    g_ptr_array_add(paths, g_strdup(path));
  while (g_variant_iter_next(locked, "&o", &path))
    g_ptr_array_add(paths, g_strdup(path));
  return 0;
}

static void
print_secret(GVariant *secret)
{
  g_autoptr(GVariant) value = g_variant_get_child_value(secret, 2);
  gsize len;
  const char *bytes = g_variant_get_fixed_array(value, &len, 1);

  printf("%.*s\n", (int)len, bytes);
}

static int
read_one(const char *session, const char *value)
{
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) secret = NULL;
  int r = search(value, paths);

  if (r != 0)
    return r;
  if (paths->len == 0)
    return 5;
  reply = call(paths->pdata[0], "org.freedesktop.Secret.Item", "GetSecret", g_variant_new("(o)", session), "((oayays))",
               &error);
  if (reply == NULL)
    return fail(error);
  secret = g_variant_get_child_value(reply, 0);
  print_secret(secret);
  return 0;
}

static int
read_all(const char *session, char **values, int n)
{
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariantIter) iter = NULL;
  GVariant *secret;

  for (int i = 0; i < n; i++) {
    int r = search(values[i], paths);
    if (r != 0)
      return r;
  }
  if (paths->len == 0)
    return 5;
  g_ptr_array_add(paths, NULL);
  reply = call(SERVICE_PATH, SERVICE_IFACE, "GetSecrets", g_variant_new("(^aoo)", (char **)paths->pdata, session),
               "(a{o(oayays)})", &error);
  if (reply == NULL)
    return fail(error);
  g_variant_get(reply, "(a{o(oayays)})", &iter);
  while (g_variant_iter_next(iter, "{&o@(oayays)}", NULL, &secret)) {
    print_secret(secret);
    g_variant_unref(secret);
  }
  return 0;
}

int
main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *session = NULL;

  if (argc < 3) {
    fprintf(stderr, "usage: access-client store LABEL VALUE SECRET | read VALUE | read-all VALUE...\n");
    return 2;
  }
  bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
  if (bus == NULL || (session = open_session(&error)) == NULL)
    return fail(error);
  if (strcmp(argv[1], "store") == 0 && argc == 5)
    return store(session, argv[2], argv[3], argv[4]);
  if (strcmp(argv[1], "read") == 0 && argc == 3)
    return read_one(session, argv[2]);
  if (strcmp(argv[1], "read-all") == 0)
    return read_all(session, argv + 2, argc - 2);
  fprintf(stderr, "bad arguments\n");
  return 2;
}
