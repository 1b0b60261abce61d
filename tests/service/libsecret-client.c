/* libsecret-client: drives the daemon on $DBUS_SESSION_BUS_ADDRESS through
 * libsecret's C API, the way most desktop applications reach it.  Exits 0
 * when every result matches, 1 on the first mismatch (with a message).
 *
 * Usage: libsecret-client [--no-content-type]
 *   --no-content-type  do not check content types (gnome-keyring drops them)
 */
#include <libsecret/secret.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_PATH "/org/freedesktop/secrets/collection/login"

static gboolean check_content_type = TRUE;

static const SecretSchema test_schema = { "org.coffer.Test.Password",
                                          SECRET_SCHEMA_NONE,
                                          {
                                              { "user", SECRET_SCHEMA_ATTRIBUTE_STRING },
                                              { "count", SECRET_SCHEMA_ATTRIBUTE_INTEGER },
                                              { "flag", SECRET_SCHEMA_ATTRIBUTE_BOOLEAN },
                                              { NULL, 0 },
                                          } };

G_GNUC_NORETURN G_GNUC_PRINTF(1, 2) static void fail(const char *format, ...)
{
  va_list args;
  va_start(args, format);
  fputs("libsecret-client: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

static void
check_error(GError *error, const char *what)
{
  if (error != NULL)
    fail("%s: %s", what, error->message);
}

/* The simple password API: store, look up, clear. */
static void
test_password_api(void)
{
  g_autoptr(GError) error = NULL;

  gboolean ok = secret_password_store_sync(&test_schema, SECRET_COLLECTION_DEFAULT, "libsecret password", "pa55 wörd",
                                           NULL, &error, "user", "alice", "count", 42, "flag", TRUE, NULL);
  check_error(error, "secret_password_store_sync");
  if (!ok)
    fail("store returned FALSE");

  g_autofree char *found = secret_password_lookup_sync(&test_schema, NULL, &error, "user", "alice", "count", 42, NULL);
  check_error(error, "secret_password_lookup_sync");
  if (g_strcmp0(found, "pa55 wörd") != 0)
    fail("lookup returned %s", found ? found : "(nothing)");

  g_autofree char *other = secret_password_lookup_sync(&test_schema, NULL, &error, "user", "bob", NULL);
  check_error(error, "lookup of a missing password");
  if (other != NULL)
    fail("lookup for bob found %s", other);

  /* Storing again with the same attributes replaces. */
  secret_password_store_sync(&test_schema, SECRET_COLLECTION_DEFAULT, "libsecret password", "second", NULL, &error,
                             "user", "alice", "count", 42, "flag", TRUE, NULL);
  check_error(error, "second store");
  g_autofree char *second = secret_password_lookup_sync(&test_schema, NULL, &error, "user", "alice", NULL);
  check_error(error, "second lookup");
  if (g_strcmp0(second, "second") != 0)
    fail("replaced password reads %s", second ? second : "(nothing)");

  ok = secret_password_clear_sync(&test_schema, NULL, &error, "user", "alice", NULL);
  check_error(error, "secret_password_clear_sync");
  if (!ok)
    fail("clear removed nothing");
  g_autofree char *gone = secret_password_lookup_sync(&test_schema, NULL, &error, "user", "alice", NULL);
  check_error(error, "lookup after clear");
  if (gone != NULL)
    fail("password still there after clear");
  if (secret_password_clear_sync(&test_schema, NULL, &error, "user", "alice", NULL))
    fail("second clear claims to have removed something");
  check_error(error, "second clear");
}

static gboolean
has_collection(SecretService *service, const char *path)
{
  g_autolist(SecretCollection) collections = secret_service_get_collections(service);
  for (GList *l = collections; l != NULL; l = l->next)
    if (g_strcmp0(g_dbus_proxy_get_object_path(G_DBUS_PROXY(l->data)), path) == 0)
      return TRUE;
  return FALSE;
}

static void
check_value(SecretValue *value, const guchar *expected, gsize expected_len, const char *content_type)
{
  if (value == NULL)
    fail("no secret value");
  gsize len = 0;
  const char *data = secret_value_get(value, &len);
  if (len != expected_len || memcmp(data, expected, len) != 0)
    fail("secret differs (%zu bytes, expected %zu)", len, expected_len);
  if (check_content_type && g_strcmp0(secret_value_get_content_type(value), content_type) != 0)
    fail("content type %s, expected %s", secret_value_get_content_type(value), content_type);
}

static GHashTable *
object_attributes(const char *tag)
{
  GHashTable *attrs = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(attrs, "app", "libsecret-client");
  g_hash_table_insert(attrs, "tag", (gpointer)tag);
  return attrs;
}

/* The object API: service, collection by alias, item create/load/search. */
static void
test_object_api(void)
{
  g_autoptr(GError) error = NULL;
  static const guchar blob[] = { 0x00, 0x01, 0xff, 'c', 'o', 'f', 'f', 'e', 'r', 0x00, 0x80 };

  g_autoptr(SecretService) service =
      secret_service_get_sync(SECRET_SERVICE_LOAD_COLLECTIONS | SECRET_SERVICE_OPEN_SESSION, NULL, &error);
  check_error(error, "secret_service_get_sync");
  if (!(secret_service_get_flags(service) & SECRET_SERVICE_OPEN_SESSION))
    fail("no session opened");
  if (!has_collection(service, LOGIN_PATH))
    fail("Collections lacks %s", LOGIN_PATH);

  g_autoptr(SecretCollection) collection =
      secret_collection_for_alias_sync(service, SECRET_COLLECTION_DEFAULT, SECRET_COLLECTION_LOAD_ITEMS, NULL, &error);
  check_error(error, "secret_collection_for_alias_sync");
  if (collection == NULL)
    fail("no default collection");
  if (g_strcmp0(g_dbus_proxy_get_object_path(G_DBUS_PROXY(collection)), LOGIN_PATH) != 0)
    fail("default alias is %s", g_dbus_proxy_get_object_path(G_DBUS_PROXY(collection)));
  if (secret_collection_get_locked(collection))
    fail("default collection is locked");

  g_autoptr(GHashTable) attrs = object_attributes("object-api");
  g_autoptr(SecretValue) value = secret_value_new((const char *)blob, sizeof blob, "application/octet-stream");
  g_autoptr(SecretItem) item = secret_item_create_sync(collection, NULL, attrs, "libsecret item ✓", value,
                                                       SECRET_ITEM_CREATE_REPLACE, NULL, &error);
  check_error(error, "secret_item_create_sync");
  if (g_strcmp0(secret_item_get_label(item), "libsecret item ✓") != 0)
    fail("label reads %s", secret_item_get_label(item));

  secret_item_load_secret_sync(item, NULL, &error);
  check_error(error, "secret_item_load_secret_sync");
  g_autoptr(SecretValue) loaded = secret_item_get_secret(item);
  check_value(loaded, blob, sizeof blob, "application/octet-stream");

  g_autolist(SecretItem) found = secret_service_search_sync(
      service, NULL, attrs, SECRET_SEARCH_ALL | SECRET_SEARCH_UNLOCK | SECRET_SEARCH_LOAD_SECRETS, NULL, &error);
  check_error(error, "secret_service_search_sync");
  if (g_list_length(found) != 1)
    fail("search found %u items, expected 1", g_list_length(found));
  SecretItem *hit = found->data;
  if (g_strcmp0(g_dbus_proxy_get_object_path(G_DBUS_PROXY(hit)), g_dbus_proxy_get_object_path(G_DBUS_PROXY(item))) != 0)
    fail("search found a different item");
  g_autoptr(SecretValue) searched = secret_item_get_secret(hit);
  check_value(searched, blob, sizeof blob, "application/octet-stream");

  secret_item_set_label_sync(item, "relabelled", NULL, &error);
  check_error(error, "secret_item_set_label_sync");
  g_autoptr(SecretValue) text = secret_value_new("new text", -1, "text/plain");
  secret_item_set_secret_sync(item, text, NULL, &error);
  check_error(error, "secret_item_set_secret_sync");
  secret_item_load_secret_sync(hit, NULL, &error);
  check_error(error, "reload through the search result");
  g_autoptr(SecretValue) reread = secret_item_get_secret(hit);
  check_value(reread, (const guchar *)"new text", 8, "text/plain");

  secret_item_delete_sync(item, NULL, &error);
  check_error(error, "secret_item_delete_sync");
  g_autolist(SecretItem) after = secret_service_search_sync(service, NULL, attrs, SECRET_SEARCH_ALL, NULL, &error);
  check_error(error, "search after delete");
  if (after != NULL)
    fail("deleted item still found");
}

int
main(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--no-content-type") == 0)
      check_content_type = FALSE;
    else
      fail("unknown argument %s", argv[i]);
  }
  if (g_getenv("DBUS_SESSION_BUS_ADDRESS") == NULL)
    fail("DBUS_SESSION_BUS_ADDRESS is not set");

  test_password_api();
  test_object_api();
  secret_service_disconnect();
  puts("libsecret-client: all checks passed");
  return 0;
}
