/* coffer — org.freedesktop.Secret.Service at /org/freedesktop/secrets. */
#include "config.h"

#include <string.h>

#include "service/service-private.h"

/* dbus-daemon's default max_message_size is 128 MiB on the session bus and
 * 32 MiB on some systems; stay well under what every bus accepts. */
#define MAX_REPLY_BYTES (30u * 1024 * 1024)

static void
on_identified(GObject *source, GAsyncResult *result, gpointer user_data)
{
  coffer_app_info_unref(coffer_app_info_lookup_finish(result));
}

static void
open_session(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *algorithm;
  g_autoptr(GVariant) input = NULL;
  GVariant *output = NULL;
  GError *error = NULL;
  CofferTransport *transport;
  const char *path;

  g_variant_get(parameters, "(&sv)", &algorithm, &input);
  transport = coffer_transport_negotiate(algorithm, input, &output, &error);
  if (transport == NULL) {
    g_dbus_method_invocation_take_error(invocation, error);
    return;
  }
  path = coffer_session_open(service, g_dbus_method_invocation_get_sender(invocation), transport);
  /* Every client opens a session before it stores anything: find out who
   * it is now, so its CreateItem rarely waits for that. */
  if (coffer_access_peek_app(service->access, g_dbus_method_invocation_get_sender(invocation)) == NULL)
    coffer_access_identify_async(service->access, g_dbus_method_invocation_get_sender(invocation), on_identified, NULL);
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(vo)", output, path));
}

/* Alias names become object path elements: keep them to [A-Za-z0-9_]. */
static gboolean
valid_alias(const char *alias)
{
  if (alias[0] == '\0' || strlen(alias) > 128)
    return FALSE;
  for (const char *p = alias; *p; p++)
    if (!g_ascii_isalnum(*p) && *p != '_')
      return FALSE;
  return TRUE;
}

typedef struct {
  char *label;
  char *alias;
} NewCollection;

static void
new_collection_free(NewCollection *request)
{
  g_free(request->label);
  g_free(request->alias);
  g_free(request);
}

static GVariant *
create_collection_now(CofferService *service, gpointer data, GError **error)
{
  NewCollection *request = data;
  CofferCollection *collection = NULL;
  g_autofree char *path = NULL;

  if (request->alias[0] != '\0')
    collection = coffer_vault_resolve_alias(service->vault, request->alias);
  if (collection == NULL) {
    collection = coffer_vault_create_collection(service->vault, request->label, error);
    if (collection == NULL)
      return NULL;
    if (request->alias[0] != '\0') {
      if (!coffer_vault_set_alias(service->vault, request->alias, collection, error))
        return NULL;
      coffer_service_sync_registrations(service);
    }
  }
  path = coffer_collection_path(collection);
  return g_variant_new_object_path(path);
}

static void
create_collection(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) properties = NULL;
  const char *alias, *label = "";
  NewCollection *request;
  g_autoptr(GVariant) path = NULL;
  GError *error = NULL;

  g_variant_get(parameters, "(@a{sv}&s)", &properties, &alias);
  g_variant_lookup(properties, SECRET_COLLECTION_IFACE ".Label", "&s", &label);
  if (alias[0] != '\0' && !valid_alias(alias)) {
    g_dbus_method_invocation_return_dbus_error(invocation, DBUS_ERROR_INVALID_ARGS,
                                               "an alias is made of letters, digits and '_'");
    return;
  }
  request = g_new0(NewCollection, 1);
  request->label = g_strdup(label);
  request->alias = g_strdup(alias);
  if (coffer_vault_is_locked(service->vault)) {
    /* A new collection needs the vault key: unlock (or create) first. */
    const char *prompt =
        coffer_prompt_new(service, g_dbus_method_invocation_get_sender(invocation), create_collection_now, request,
                          (GDestroyNotify)new_collection_free, g_variant_new_object_path("/"));
    g_dbus_method_invocation_return_value(invocation, g_variant_new("(oo)", "/", prompt));
    return;
  }
  path = create_collection_now(service, request, &error);
  new_collection_free(request);
  if (path == NULL) {
    coffer_return_error(invocation, error);
    g_error_free(error);
    return;
  }
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(@oo)", g_steal_pointer(&path), "/"));
}

static void
search_items(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) dict = g_variant_get_child_value(parameters, 0);
  g_autoptr(GHashTable) attributes = coffer_attributes_from_variant(dict);
  g_autoptr(GPtrArray) unlocked = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) locked = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) items = NULL;
  GError *error = NULL;

  items = coffer_vault_search(service->vault, NULL, attributes, &error);
  if (items == NULL) {
    coffer_return_error(invocation, error);
    g_error_free(error);
    return;
  }
  for (guint i = 0; i < items->len; i++)
    g_ptr_array_add(coffer_item_is_locked(items->pdata[i]) ? locked : unlocked, coffer_item_path(items->pdata[i]));
  g_dbus_method_invocation_return_value(
      invocation, g_variant_new("(@ao@ao)", coffer_paths_variant(unlocked), coffer_paths_variant(locked)));
}

/* The collection an object path (collection or item, alias paths included)
 * belongs to; NULL for unknown objects, which Lock/Unlock leave out. */
static CofferCollection *
object_collection(CofferService *service, const char *path)
{
  CofferCollection *collection = coffer_service_lookup_collection(service, path, NULL);
  CofferItem *item = collection ? NULL : coffer_service_lookup_item(service, path, NULL);

  return collection ? collection : item ? coffer_item_get_collection(item) : NULL;
}

static GVariant *
unlocked_objects(CofferService *service, gpointer data, GError **error)
{
  const char *const *paths = data;
  g_autoptr(GPtrArray) result = g_ptr_array_new();

  for (guint i = 0; paths[i] != NULL; i++) {
    CofferCollection *collection = object_collection(service, paths[i]);
    if (collection != NULL && !coffer_collection_is_locked(collection))
      g_ptr_array_add(result, (gpointer)paths[i]);
  }
  return coffer_paths_variant(result);
}

static void
unlock(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  g_auto(GStrv) objects = NULL;
  g_autoptr(GPtrArray) unlocked = g_ptr_array_new();
  gboolean need_prompt = FALSE;
  const char *prompt = "/";

  g_variant_get(parameters, "(^ao)", &objects);
  for (guint i = 0; objects[i] != NULL; i++) {
    CofferCollection *collection = object_collection(service, objects[i]);
    if (collection == NULL)
      continue;
    if (coffer_collection_is_locked(collection))
      need_prompt = TRUE;
    else
      g_ptr_array_add(unlocked, objects[i]);
  }
  if (need_prompt)
    prompt = coffer_prompt_new(service, g_dbus_method_invocation_get_sender(invocation), unlocked_objects,
                               g_steal_pointer(&objects), (GDestroyNotify)g_strfreev, g_variant_new_objv(NULL, 0));
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(@aoo)", coffer_paths_variant(unlocked), prompt));
}

static void
lock(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  g_auto(GStrv) objects = NULL;
  g_autoptr(GPtrArray) result = g_ptr_array_new();
  gboolean any = FALSE;

  g_variant_get(parameters, "(^ao)", &objects);
  for (guint i = 0; objects[i] != NULL; i++) {
    CofferCollection *collection = object_collection(service, objects[i]);
    /* The session collection lives in memory and has no key to drop. */
    if (collection == NULL || g_strcmp0(coffer_collection_get_name(collection), COFFER_SESSION_COLLECTION) == 0)
      continue;
    any = TRUE;
    g_ptr_array_add(result, objects[i]);
  }
  if (any)
    coffer_vault_lock(service->vault);
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(@aoo)", coffer_paths_variant(result), "/"));
}

/* Encodes the secrets of items (paths) for the session and replies.
 * checked (item names), when not NULL, is what access control allowed:
 * an item that appeared while the user was asked is left out. */
static void
reply_secrets(CofferService *service, GDBusMethodInvocation *invocation, char **items, const char *session_path,
              GHashTable *checked)
{
  CofferSession *session;
  GVariantBuilder builder;
  GError *error = NULL;

  session = coffer_session_lookup(service, session_path, g_dbus_method_invocation_get_sender(invocation), &error);
  if (session == NULL) {
    g_dbus_method_invocation_take_error(invocation, error);
    return;
  }
  g_variant_builder_init(&builder, G_VARIANT_TYPE("a{o(oayays)}"));
  for (guint i = 0, reply_bytes = 0; items[i] != NULL; i++) {
    CofferItem *item = coffer_service_lookup_item(service, items[i], NULL);
    GVariant *secret;
    /* Unknown items are left out; a locked one fails the call, so the
     * caller knows to unlock rather than think the secret is missing. */
    if (item == NULL || (checked != NULL && !g_hash_table_contains(checked, coffer_item_get_name(item))))
      continue;
    if (coffer_item_is_locked(item)) {
      g_variant_builder_clear(&builder);
      g_dbus_method_invocation_return_error_literal(invocation, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_IS_LOCKED,
                                                    "the item is locked");
      return;
    }
    secret = coffer_session_encode_secret(service, session, item, &error);
    if (secret == NULL) {
      g_variant_builder_clear(&builder);
      coffer_return_error(invocation, error);
      g_error_free(error);
      return;
    }
    /* A reply past the bus's message limit would be dropped by the bus
     * (and the caller left waiting): refuse it instead. */
    reply_bytes += g_variant_get_size(secret);
    if (reply_bytes > MAX_REPLY_BYTES) {
      g_variant_unref(g_variant_ref_sink(secret));
      g_variant_builder_clear(&builder);
      g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.LimitsExceeded",
                                                 "the secrets asked for do not fit in one D-Bus message; "
                                                 "ask for fewer items at a time");
      return;
    }
    g_variant_builder_add(&builder, "{o@(oayays)}", items[i], secret);
  }
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(a{o(oayays)})", &builder));
}

/* A GetSecrets waiting for access control (agent/access/). */
typedef struct {
  CofferService *service;
  GDBusMethodInvocation *invocation;
  char **items;
  char *session_path;
  GHashTable *checked; /* names of the items judged */
} PendingSecrets;

static void
on_secrets_checked(GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingSecrets *pending = user_data;
  GError *error = NULL;

  /* The items are looked up again: any may be gone by now. */
  if (coffer_access_check_finish(result, &error))
    reply_secrets(pending->service, pending->invocation, pending->items, pending->session_path, pending->checked);
  else
    g_dbus_method_invocation_take_error(pending->invocation, error);
  g_object_unref(pending->invocation);
  g_strfreev(pending->items);
  g_hash_table_unref(pending->checked);
  g_free(pending->session_path);
  g_free(pending);
}

/* The items of a GetSecrets that access control must judge.  FALSE when
 * the call is answered without asking: a bad session or a locked item (the
 * errors reply_secrets sends), or no item found. */
static gboolean
items_to_check(CofferService *service, char **items, const char *session_path, const char *sender, GPtrArray *found)
{
  g_autoptr(GError) error = NULL;

  if (coffer_session_lookup(service, session_path, sender, &error) == NULL)
    return FALSE;
  for (guint i = 0; items[i] != NULL; i++) {
    CofferItem *item = coffer_service_lookup_item(service, items[i], NULL);
    if (item == NULL)
      continue;
    if (coffer_item_is_locked(item))
      return FALSE;
    g_ptr_array_add(found, item);
  }
  return found->len > 0;
}

static void
get_secrets(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *sender = g_dbus_method_invocation_get_sender(invocation);
  g_auto(GStrv) items = NULL;
  const char *session_path;
  g_autoptr(GPtrArray) found = g_ptr_array_new();
  PendingSecrets *pending;

  g_variant_get(parameters, "(^ao&o)", &items, &session_path);
  if (!coffer_access_asks(service->access) || !items_to_check(service, items, session_path, sender, found)) {
    reply_secrets(service, invocation, items, session_path, NULL);
    return;
  }
  pending = g_new0(PendingSecrets, 1);
  pending->service = service;
  pending->invocation = g_object_ref(invocation);
  pending->items = g_steal_pointer(&items);
  pending->session_path = g_strdup(session_path);
  pending->checked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < found->len; i++)
    g_hash_table_add(pending->checked, g_strdup(coffer_item_get_name(found->pdata[i])));
  coffer_access_check_async(service->access, sender, (CofferItem *const *)found->pdata, found->len, on_secrets_checked,
                            pending);
}

static void
read_alias(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *alias;
  CofferCollection *collection;
  g_autofree char *path = NULL;

  g_variant_get(parameters, "(&s)", &alias);
  collection = coffer_vault_resolve_alias(service->vault, alias);
  path = collection ? coffer_collection_path(collection) : g_strdup("/");
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(o)", path));
}

static void
set_alias(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *alias, *path;
  CofferCollection *collection = NULL;
  GError *error = NULL;

  g_variant_get(parameters, "(&s&o)", &alias, &path);
  if (!valid_alias(alias) || g_strcmp0(alias, COFFER_SESSION_COLLECTION) == 0) {
    g_dbus_method_invocation_return_dbus_error(invocation, DBUS_ERROR_INVALID_ARGS,
                                               "an alias is made of letters, digits and '_' (and is not 'session')");
    return;
  }
  if (g_strcmp0(path, "/") != 0) {
    collection = coffer_service_lookup_collection(service, path, &error);
    if (collection == NULL)
      goto fail;
  }
  if (!coffer_vault_set_alias(service->vault, alias, collection, &error))
    goto fail;
  coffer_service_sync_registrations(service);
  g_dbus_method_invocation_return_value(invocation, NULL);
  return;
fail:
  coffer_return_error(invocation, error);
  g_error_free(error);
}

static void
service_method(GDBusConnection *connection, const char *sender, const char *path, const char *iface, const char *method,
               GVariant *parameters, GDBusMethodInvocation *invocation, gpointer user_data)
{
  static const struct {
    const char *name;
    void (*handler)(CofferService *, GVariant *, GDBusMethodInvocation *);
  } methods[] = {
    { "OpenSession", open_session },
    { "CreateCollection", create_collection },
    { "SearchItems", search_items },
    { "Unlock", unlock },
    { "Lock", lock },
    { "GetSecrets", get_secrets },
    { "ReadAlias", read_alias },
    { "SetAlias", set_alias },
  };

  for (guint i = 0; i < G_N_ELEMENTS(methods); i++)
    if (strcmp(method, methods[i].name) == 0) {
      methods[i].handler(user_data, parameters, invocation);
      return;
    }
  g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.UnknownMethod", method);
}

static GVariant *
service_get_property(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                     const char *name, GError **error, gpointer user_data)
{
  CofferService *service = user_data;
  g_autoptr(GPtrArray) collections = NULL;
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);

  if (g_strcmp0(name, "Collections") != 0) {
    g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
    return NULL;
  }
  collections = coffer_vault_list_collections(service->vault);
  for (guint i = 0; i < collections->len; i++)
    g_ptr_array_add(paths, coffer_collection_path(collections->pdata[i]));
  return coffer_paths_variant(paths);
}

const GDBusInterfaceVTable coffer_service_vtable = { service_method, service_get_property, NULL, { 0 } };
