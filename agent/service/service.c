/* coffer — the Secret Service object tree: registrations, path resolution,
 * errors, and the translation of vault changes into D-Bus signals. */
#include "config.h"

#include <string.h>

#include "service/service-private.h"
#include "secret-resources.h"

/* ---- paths ------------------------------------------------------------------ */

char *
coffer_collection_path(CofferCollection *collection)
{
  return g_strconcat(SECRET_COLLECTION_PREFIX "/", coffer_collection_get_name(collection), NULL);
}

char *
coffer_item_path(CofferItem *item)
{
  return g_strconcat(SECRET_COLLECTION_PREFIX "/", coffer_collection_get_name(coffer_item_get_collection(item)), "/",
                     coffer_item_get_name(item), NULL);
}

/* Splits "<prefix>/<a>[/<b>]" into a and b (b NULL when absent). */
static gboolean
split_path(const char *path, const char *prefix, char **a, char **b)
{
  gsize len = strlen(prefix);
  g_auto(GStrv) parts = NULL;

  if (strncmp(path, prefix, len) != 0 || path[len] != '/')
    return FALSE;
  parts = g_strsplit(path + len + 1, "/", 3);
  if (parts[0] == NULL || parts[0][0] == '\0' || (parts[1] != NULL && parts[2] != NULL))
    return FALSE;
  *a = g_strdup(parts[0]);
  *b = parts[1] ? g_strdup(parts[1]) : NULL;
  return TRUE;
}

static CofferCollection *
resolve_collection(CofferService *service, const char *path, char **rest)
{
  g_autofree char *name = NULL;

  if (split_path(path, SECRET_COLLECTION_PREFIX, &name, rest))
    return coffer_vault_find_collection(service->vault, name);
  if (split_path(path, SECRET_ALIAS_PREFIX, &name, rest))
    return coffer_vault_resolve_alias(service->vault, name);
  *rest = NULL;
  return NULL;
}

CofferCollection *
coffer_service_lookup_collection(CofferService *service, const char *path, GError **error)
{
  g_autofree char *rest = NULL;
  CofferCollection *collection = resolve_collection(service, path, &rest);

  if (collection == NULL || rest != NULL) {
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_FOUND, "no such collection: %s", path);
    return NULL;
  }
  return collection;
}

CofferItem *
coffer_service_lookup_item(CofferService *service, const char *path, GError **error)
{
  g_autofree char *rest = NULL;
  CofferCollection *collection = resolve_collection(service, path, &rest);
  CofferItem *item = (collection && rest) ? coffer_collection_find_item(collection, rest) : NULL;

  if (item == NULL)
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_FOUND, "no such item: %s", path);
  return item;
}

/* ---- errors ------------------------------------------------------------------ */

static const GDBusErrorEntry secret_errors[] = {
  { COFFER_SECRET_ERROR_IS_LOCKED, SECRET_ERROR_IS_LOCKED },
  { COFFER_SECRET_ERROR_NO_SESSION, SECRET_ERROR_NO_SESSION },
  { COFFER_SECRET_ERROR_NO_SUCH_OBJECT, SECRET_ERROR_NO_SUCH_OBJECT },
  { COFFER_SECRET_ERROR_ALREADY_EXISTS, SECRET_ERROR_ALREADY_EXISTS },
};

/* Registered with GDBus so a GError of this domain reaches the caller under
 * its spec name from every path (method replies and property handlers). */
GQuark
coffer_secret_error_quark(void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain("coffer-secret-error-quark", &quark, secret_errors, G_N_ELEMENTS(secret_errors));
  return (GQuark)quark;
}

void
coffer_return_error(GDBusMethodInvocation *invocation, const GError *error)
{
  const char *name = DBUS_ERROR_FAILED;

  /* GDBus knows G_DBUS_ERROR and our registered COFFER_SECRET_ERROR. */
  if (error->domain != COFFER_VAULT_ERROR) {
    g_dbus_method_invocation_return_gerror(invocation, error);
    return;
  }
  switch ((CofferVaultError)error->code) {
  case COFFER_VAULT_ERROR_LOCKED:
  case COFFER_VAULT_ERROR_NOT_INITIALIZED:
    name = SECRET_ERROR_IS_LOCKED;
    break;
  case COFFER_VAULT_ERROR_NOT_FOUND:
    name = SECRET_ERROR_NO_SUCH_OBJECT;
    break;
  case COFFER_VAULT_ERROR_INVALID:
    name = DBUS_ERROR_INVALID_ARGS;
    break;
  case COFFER_VAULT_ERROR_ALREADY_INITIALIZED:
    name = SECRET_ERROR_ALREADY_EXISTS;
    break;
  default:
    break;
  }
  g_dbus_method_invocation_return_dbus_error(invocation, name, error->message);
}

/* ---- helpers shared by the interfaces ------------------------------------------ */

GHashTable *
coffer_attributes_from_variant(GVariant *dict)
{
  GHashTable *attributes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  GVariantIter iter;
  const char *name, *value;

  g_variant_iter_init(&iter, dict);
  while (g_variant_iter_next(&iter, "{&s&s}", &name, &value))
    g_hash_table_replace(attributes, g_strdup(name), g_strdup(value));
  return attributes;
}

GVariant *
coffer_paths_variant(GPtrArray *paths)
{
  return g_variant_new_objv((const char *const *)paths->pdata, (gssize)paths->len);
}

void
coffer_service_emit(CofferService *service, const char *destination, const char *path, const char *iface,
                    const char *signal, GVariant *parameters)
{
  g_autoptr(GError) error = NULL;

  if (!g_dbus_connection_emit_signal(service->connection, destination, path, iface, signal, parameters, &error))
    g_debug("cannot emit %s.%s: %s", iface, signal, error->message);
}

GVariant *
coffer_service_get_property(CofferService *service, const char *path, const char *iface, const char *name,
                            GError **error)
{
  if (g_strcmp0(iface, SECRET_COLLECTION_IFACE) == 0) {
    CofferCollection *collection = coffer_service_lookup_collection(service, path, error);
    return collection ? coffer_collection_property(service, collection, name) : NULL;
  }
  if (g_strcmp0(iface, SECRET_ITEM_IFACE) == 0) {
    CofferItem *item = coffer_service_lookup_item(service, path, error);
    return item ? coffer_item_property(service, item, name) : NULL;
  }
  return coffer_service_vtable.get_property(service->connection, NULL, path, iface, name, error, service);
}

void
coffer_service_emit_properties(CofferService *service, const char *path, const char *iface, const char *const *names)
{
  GVariantBuilder changed;

  g_variant_builder_init(&changed, G_VARIANT_TYPE_VARDICT);
  for (guint i = 0; names[i] != NULL; i++) {
    GVariant *value = coffer_service_get_property(service, path, iface, names[i], NULL);
    if (value != NULL)
      g_variant_builder_add(&changed, "{sv}", names[i], value);
  }
  coffer_service_emit(service, NULL, path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                      g_variant_new("(sa{sv}as)", iface, &changed, NULL));
}

/* ---- subtree dispatch ------------------------------------------------------------ */

GDBusInterfaceInfo *
coffer_service_interface(CofferService *service, const char *name)
{
  return g_dbus_node_info_lookup_interface(service->node_info, name);
}

typedef enum { NODE_NONE, NODE_SERVICE, NODE_COLLECTION, NODE_ITEM, NODE_SESSION, NODE_PROMPT } NodeKind;

static NodeKind
node_kind(const char *container, const char *node)
{
  gboolean item_container =
      g_str_has_prefix(container, SECRET_COLLECTION_PREFIX "/") || g_str_has_prefix(container, SECRET_ALIAS_PREFIX "/");

  if (g_strcmp0(container, SECRET_PATH) == 0)
    return node == NULL ? NODE_SERVICE : NODE_NONE;
  /* A collection is also the root of its own item container. */
  if (node == NULL)
    return item_container ? NODE_COLLECTION : NODE_NONE;
  if (g_strcmp0(container, SECRET_COLLECTION_PREFIX) == 0 || g_strcmp0(container, SECRET_ALIAS_PREFIX) == 0)
    return NODE_COLLECTION;
  if (g_strcmp0(container, SECRET_SESSION_PREFIX) == 0)
    return NODE_SESSION;
  if (g_strcmp0(container, SECRET_PROMPT_PREFIX) == 0)
    return NODE_PROMPT;
  if (item_container)
    return NODE_ITEM;
  return NODE_NONE;
}

static const char *
node_interface(NodeKind kind)
{
  static const char *const names[] = {
    NULL, SECRET_SERVICE_IFACE, SECRET_COLLECTION_IFACE, SECRET_ITEM_IFACE, SECRET_SESSION_IFACE, SECRET_PROMPT_IFACE
  };
  return names[kind];
}

static const GDBusInterfaceVTable *
node_vtable(NodeKind kind)
{
  switch (kind) {
  case NODE_SERVICE:
    return &coffer_service_vtable;
  case NODE_COLLECTION:
    return &coffer_collection_vtable;
  case NODE_ITEM:
    return &coffer_item_vtable;
  case NODE_SESSION:
    return &coffer_session_vtable;
  case NODE_PROMPT:
    return &coffer_prompt_vtable;
  default:
    return NULL;
  }
}

/* Children listed for introspection (d-feet, busctl tree).  Dispatch does not
 * depend on it: every node is dispatched and checked by its handler. */
static char **
subtree_enumerate(GDBusConnection *connection, const char *sender, const char *container, gpointer user_data)
{
  CofferService *service = user_data;
  g_autoptr(GPtrArray) names = g_ptr_array_new();
  g_autoptr(GPtrArray) children = NULL;

  if (g_strcmp0(container, SECRET_COLLECTION_PREFIX) == 0) {
    children = coffer_vault_list_collections(service->vault);
    for (guint i = 0; i < children->len; i++)
      g_ptr_array_add(names, g_strdup(coffer_collection_get_name(children->pdata[i])));
  } else if (g_strcmp0(container, SECRET_SESSION_PREFIX) == 0 || g_strcmp0(container, SECRET_PROMPT_PREFIX) == 0) {
    GHashTable *table = g_strcmp0(container, SECRET_SESSION_PREFIX) == 0 ? service->sessions : service->prompts;
    GHashTableIter iter;
    const char *path;
    g_hash_table_iter_init(&iter, table);
    while (g_hash_table_iter_next(&iter, (gpointer *)&path, NULL))
      g_ptr_array_add(names, g_path_get_basename(path));
  } else if (g_str_has_prefix(container, SECRET_COLLECTION_PREFIX "/")) {
    CofferCollection *collection = coffer_service_lookup_collection(service, container, NULL);
    children = collection ? coffer_collection_list_items(collection) : g_ptr_array_new();
    for (guint i = 0; i < children->len; i++)
      g_ptr_array_add(names, g_strdup(coffer_item_get_name(children->pdata[i])));
  }
  g_ptr_array_add(names, NULL);
  return (char **)g_ptr_array_steal(names, NULL);
}

/* GDBus passes the container path to dispatch but, depending on the call,
 * the container or the node's full path to introspect: accept both. */
static char *
container_of(CofferService *service, const char *path, const char *node)
{
  gsize len = strlen(path), node_len = node ? strlen(node) : 0;

  if (node == NULL || g_hash_table_contains(service->registrations, path) || len <= node_len + 1 ||
      strcmp(path + len - node_len, node) != 0 || path[len - node_len - 1] != '/')
    return g_strdup(path);
  return g_strndup(path, len - node_len - 1);
}

static GDBusInterfaceInfo **
subtree_introspect(GDBusConnection *connection, const char *sender, const char *path, const char *node,
                   gpointer user_data)
{
  CofferService *service = user_data;
  g_autofree char *container = container_of(service, path, node);
  const char *iface = node_interface(node_kind(container, node));
  GPtrArray *infos = g_ptr_array_new();

  if (iface != NULL)
    g_ptr_array_add(infos, g_dbus_interface_info_ref(coffer_service_interface(service, iface)));
  if (node_kind(container, node) == NODE_SERVICE) /* gnome-keyring's extension, iface-gnome.c */
    g_ptr_array_add(infos, g_dbus_interface_info_ref(coffer_gnome_interface_info()));
  g_ptr_array_add(infos, NULL);
  return (GDBusInterfaceInfo **)g_ptr_array_free(infos, FALSE);
}

static const GDBusInterfaceVTable *
subtree_dispatch(GDBusConnection *connection, const char *sender, const char *container, const char *iface,
                 const char *node, gpointer *out_user_data, gpointer user_data)
{
  NodeKind kind = node_kind(container, node);

  coffer_service_note_activity(user_data);
  if (kind == NODE_SERVICE && g_strcmp0(iface, GNOME_KEYRING_IFACE) == 0) {
    *out_user_data = user_data;
    return &coffer_gnome_vtable;
  }
  if (g_strcmp0(iface, node_interface(kind)) != 0)
    return NULL;
  *out_user_data = user_data;
  return node_vtable(kind);
}

static const GDBusSubtreeVTable subtree_vtable = { subtree_enumerate, subtree_introspect, subtree_dispatch };

static void
register_container(CofferService *service, const char *path)
{
  g_autoptr(GError) error = NULL;
  guint id;

  if (g_hash_table_contains(service->registrations, path))
    return;
  id = g_dbus_connection_register_subtree(service->connection, path, &subtree_vtable,
                                          G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES, service, NULL, &error);
  if (id == 0) {
    g_warning("cannot export %s: %s", path, error->message);
    return;
  }
  g_hash_table_insert(service->registrations, g_strdup(path), GUINT_TO_POINTER(id));
}

/* Item containers exist for every collection and every alias: registers the
 * new ones and drops those whose collection or alias is gone. */
void
coffer_service_sync_registrations(CofferService *service)
{
  g_autoptr(GPtrArray) collections = coffer_vault_list_collections(service->vault);
  g_autoptr(GHashTable) wanted = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  static const char *const fixed[] = { SECRET_PATH, SECRET_COLLECTION_PREFIX, SECRET_ALIAS_PREFIX,
                                       SECRET_SESSION_PREFIX, SECRET_PROMPT_PREFIX };
  static const char *const aliases[] = { "default", "session", "login" };
  g_autoptr(GPtrArray) set_aliases = coffer_vault_list_aliases(service->vault);
  GHashTableIter iter;
  gpointer path, id;

  for (guint i = 0; i < G_N_ELEMENTS(fixed); i++)
    g_hash_table_add(wanted, g_strdup(fixed[i]));
  for (guint i = 0; i < collections->len; i++)
    g_hash_table_add(wanted, coffer_collection_path(collections->pdata[i]));
  /* Alias containers: the well-known aliases always, so a client can store
   * into /aliases/default/... once the alias appears without us racing it. */
  for (guint i = 0; i < G_N_ELEMENTS(aliases); i++)
    g_hash_table_add(wanted, g_strconcat(SECRET_ALIAS_PREFIX "/", aliases[i], NULL));
  for (guint i = 0; i < set_aliases->len; i++)
    g_hash_table_add(wanted, g_strconcat(SECRET_ALIAS_PREFIX "/", (char *)set_aliases->pdata[i], NULL));
  g_hash_table_iter_init(&iter, service->registrations);
  while (g_hash_table_iter_next(&iter, &path, &id))
    if (!g_hash_table_contains(wanted, path)) {
      g_dbus_connection_unregister_subtree(service->connection, GPOINTER_TO_UINT(id));
      g_hash_table_iter_remove(&iter);
    }
  g_hash_table_iter_init(&iter, wanted);
  while (g_hash_table_iter_next(&iter, &path, NULL))
    register_container(service, path);
}

/* ---- vault signals -> D-Bus signals ----------------------------------------------- */

/* The vault's internal collection (access decisions) is nobody's business
 * on the bus: its changes are not announced. */

static void
on_collection_created(CofferVault *vault, const char *name, CofferService *service)
{
  g_autofree char *path = g_strconcat(SECRET_COLLECTION_PREFIX "/", name, NULL);
  static const char *const props[] = { "Collections", NULL };

  if (coffer_vault_is_internal_collection(name))
    return;
  coffer_service_sync_registrations(service);
  coffer_service_emit(service, NULL, SECRET_PATH, SECRET_SERVICE_IFACE, "CollectionCreated",
                      g_variant_new("(o)", path));
  coffer_service_emit_properties(service, SECRET_PATH, SECRET_SERVICE_IFACE, props);
}

static void
on_collection_changed(CofferVault *vault, const char *name, CofferService *service)
{
  g_autofree char *path = g_strconcat(SECRET_COLLECTION_PREFIX "/", name, NULL);
  static const char *const props[] = { "Label", "Modified", NULL };

  if (coffer_vault_is_internal_collection(name))
    return;
  coffer_service_emit(service, NULL, SECRET_PATH, SECRET_SERVICE_IFACE, "CollectionChanged",
                      g_variant_new("(o)", path));
  coffer_service_emit_properties(service, path, SECRET_COLLECTION_IFACE, props);
}

static void
on_collection_deleted(CofferVault *vault, const char *name, CofferService *service)
{
  g_autofree char *path = g_strconcat(SECRET_COLLECTION_PREFIX "/", name, NULL);
  static const char *const props[] = { "Collections", NULL };

  if (coffer_vault_is_internal_collection(name))
    return;
  coffer_service_emit(service, NULL, SECRET_PATH, SECRET_SERVICE_IFACE, "CollectionDeleted",
                      g_variant_new("(o)", path));
  coffer_service_emit_properties(service, SECRET_PATH, SECRET_SERVICE_IFACE, props);
  coffer_service_sync_registrations(service);
}

static void
emit_item_signal(CofferService *service, const char *collection, const char *item, const char *signal)
{
  g_autofree char *collection_path = g_strconcat(SECRET_COLLECTION_PREFIX "/", collection, NULL);
  g_autofree char *item_path = g_strconcat(collection_path, "/", item, NULL);

  if (coffer_vault_is_internal_collection(collection))
    return;
  coffer_service_emit(service, NULL, collection_path, SECRET_COLLECTION_IFACE, signal, g_variant_new("(o)", item_path));
}

/* A collection's Items changed.  The list is sent as invalidated, not as a
 * value: carrying every path on every CreateItem made each write O(n) on
 * both sides of the bus (5,000 paths, ~350 KB per signal); clients that care
 * read it again, and ItemCreated/ItemDeleted name the item anyway. */
static void
invalidate_items(CofferService *service, const char *collection_path)
{
  static const char *const items[] = { "Items", NULL };

  coffer_service_emit(service, NULL, collection_path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                      g_variant_new("(sa{sv}^as)", SECRET_COLLECTION_IFACE, NULL, items));
}

static void
on_item_created(CofferVault *vault, const char *collection, const char *item, CofferService *service)
{
  g_autofree char *collection_path = g_strconcat(SECRET_COLLECTION_PREFIX "/", collection, NULL);

  if (coffer_vault_is_internal_collection(collection))
    return;
  emit_item_signal(service, collection, item, "ItemCreated");
  invalidate_items(service, collection_path);
}

static void
on_item_changed(CofferVault *vault, const char *collection, const char *item, CofferService *service)
{
  g_autofree char *item_path = g_strconcat(SECRET_COLLECTION_PREFIX "/", collection, "/", item, NULL);
  static const char *const props[] = { "Label", "Attributes", "Type", "Modified", NULL };

  if (coffer_vault_is_internal_collection(collection))
    return;
  emit_item_signal(service, collection, item, "ItemChanged");
  coffer_service_emit_properties(service, item_path, SECRET_ITEM_IFACE, props);
}

static void
on_item_deleted(CofferVault *vault, const char *collection, const char *item, CofferService *service)
{
  g_autofree char *collection_path = g_strconcat(SECRET_COLLECTION_PREFIX "/", collection, NULL);

  if (coffer_vault_is_internal_collection(collection))
    return;
  emit_item_signal(service, collection, item, "ItemDeleted");
  invalidate_items(service, collection_path);
}

static void
on_lock_changed(CofferVault *vault, gboolean locked, CofferService *service)
{
  g_autoptr(GPtrArray) collections = coffer_vault_list_collections(vault);
  static const char *const props[] = { "Locked", "Label", NULL };

  for (guint i = 0; i < collections->len; i++) {
    CofferCollection *collection = collections->pdata[i];
    g_autofree char *path = coffer_collection_path(collection);
    if (g_strcmp0(coffer_collection_get_name(collection), COFFER_SESSION_COLLECTION) == 0)
      continue;
    coffer_service_emit_properties(service, path, SECRET_COLLECTION_IFACE, props);
    coffer_service_emit(service, NULL, SECRET_PATH, SECRET_SERVICE_IFACE, "CollectionChanged",
                        g_variant_new("(o)", path));
  }
}

static void
connect_vault(CofferService *service)
{
  static const struct {
    const char *signal;
    GCallback callback;
  } handlers[] = {
    { "collection-created", G_CALLBACK(on_collection_created) },
    { "collection-changed", G_CALLBACK(on_collection_changed) },
    { "collection-deleted", G_CALLBACK(on_collection_deleted) },
    { "item-created", G_CALLBACK(on_item_created) },
    { "item-changed", G_CALLBACK(on_item_changed) },
    { "item-deleted", G_CALLBACK(on_item_deleted) },
    { "lock-changed", G_CALLBACK(on_lock_changed) },
  };

  for (guint i = 0; i < G_N_ELEMENTS(handlers); i++) {
    gulong id = g_signal_connect(service->vault, handlers[i].signal, handlers[i].callback, service);
    g_array_append_val(service->vault_handlers, id);
  }
}

/* ---- peers leaving the bus ---------------------------------------------------------- */

static void
on_name_owner_changed(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                      const char *signal, GVariant *parameters, gpointer user_data)
{
  const char *name, *old_owner, *new_owner;

  g_variant_get(parameters, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (name[0] == ':' && new_owner[0] == '\0') {
    CofferService *service = user_data;
    coffer_service_forget_peer(service, name);
    coffer_access_forget_peer(service->access, name);
  }
}

/* ---- lifecycle ---------------------------------------------------------------------- */

void
coffer_service_set_activity_callback(CofferService *service, void (*callback)(gpointer), gpointer user_data)
{
  service->activity = callback;
  service->activity_data = user_data;
}

void
coffer_service_set_access_ask(CofferService *service, gboolean ask)
{
  coffer_access_set_ask(service->access, ask);
}

void
coffer_service_note_activity(CofferService *service)
{
  if (service->activity != NULL)
    service->activity(service->activity_data);
}

CofferService *
coffer_service_new(GDBusConnection *connection, CofferVault *vault, CofferPrompter *prompter, GError **error)
{
  g_autoptr(CofferService) service = g_new0(CofferService, 1);
  g_autoptr(GBytes) xml = NULL;

  xml = g_resource_lookup_data(coffer_secret_get_resource(), "/org/coffer/dbus/org.freedesktop.Secret.xml",
                               G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (xml == NULL)
    return NULL;
  service->node_info = g_dbus_node_info_new_for_xml(g_bytes_get_data(xml, NULL), error);
  if (service->node_info == NULL)
    return NULL;
  service->connection = g_object_ref(connection);
  service->vault = g_object_ref(vault);
  service->prompter = g_object_ref(prompter);
  service->registrations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  service->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)coffer_session_free);
  service->prompts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)coffer_prompt_unref);
  service->vault_handlers = g_array_new(FALSE, FALSE, sizeof(gulong));
  service->access = coffer_access_new(connection, vault, prompter);
  service->name_owner_subscription = g_dbus_connection_signal_subscribe(
      connection, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged", "/org/freedesktop/DBus", NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, service, NULL);
  connect_vault(service);
  coffer_service_sync_registrations(service);
  service->portal = coffer_portal_new(service, error);
  if (service->portal == NULL)
    return NULL;
  return g_steal_pointer(&service);
}

void
coffer_service_free(CofferService *service)
{
  GHashTableIter iter;
  gpointer id;

  g_clear_pointer(&service->portal, coffer_portal_free);
  if (service->vault_handlers != NULL) {
    for (guint i = 0; i < service->vault_handlers->len; i++)
      g_signal_handler_disconnect(service->vault, g_array_index(service->vault_handlers, gulong, i));
    g_array_unref(service->vault_handlers);
  }
  if (service->registrations != NULL) {
    g_hash_table_iter_init(&iter, service->registrations);
    while (g_hash_table_iter_next(&iter, NULL, &id))
      g_dbus_connection_unregister_subtree(service->connection, GPOINTER_TO_UINT(id));
    g_hash_table_unref(service->registrations);
  }
  if (service->name_owner_subscription != 0)
    g_dbus_connection_signal_unsubscribe(service->connection, service->name_owner_subscription);
  g_clear_pointer(&service->prompts, g_hash_table_unref);
  g_clear_pointer(&service->sessions, g_hash_table_unref);
  g_clear_pointer(&service->access, coffer_access_free);
  g_clear_pointer(&service->node_info, g_dbus_node_info_unref);
  g_clear_object(&service->prompter);
  g_clear_object(&service->vault);
  g_clear_object(&service->connection);
  g_free(service);
}
