/* coffer — org.freedesktop.Secret.Collection at
 * /org/freedesktop/secrets/collection/<c> and /org/freedesktop/secrets/aliases/<a>. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "service/service-private.h"

static void
return_taken_error(GDBusMethodInvocation *invocation, GError *error)
{
  coffer_return_error(invocation, error);
  g_error_free(error);
}

static void
collection_delete(CofferService *service, CofferCollection *collection, GVariant *parameters,
                  GDBusMethodInvocation *invocation)
{
  GError *error = NULL;

  if (!coffer_vault_delete_collection(service->vault, collection, &error)) {
    return_taken_error(invocation, error);
    return;
  }
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(o)", "/"));
}

static void
collection_search(CofferService *service, CofferCollection *collection, GVariant *parameters,
                  GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) dict = g_variant_get_child_value(parameters, 0);
  g_autoptr(GHashTable) attributes = coffer_attributes_from_variant(dict);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) items = NULL;
  GError *error = NULL;

  items = coffer_vault_search(service->vault, collection, attributes, &error);
  if (items == NULL) {
    return_taken_error(invocation, error);
    return;
  }
  for (guint i = 0; i < items->len; i++)
    g_ptr_array_add(paths, coffer_item_path(items->pdata[i]));
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(@ao)", coffer_paths_variant(paths)));
}

/* Reads Label/Attributes (and the gnome-keyring extension Type, the schema)
 * from CreateItem's properties, checking their types. */
static gboolean
item_properties(GVariant *properties, char **label, GHashTable **attributes, GError **error)
{
  g_autoptr(GVariant) label_value = g_variant_lookup_value(properties, SECRET_ITEM_IFACE ".Label", NULL);
  g_autoptr(GVariant) attrs_value = g_variant_lookup_value(properties, SECRET_ITEM_IFACE ".Attributes", NULL);
  g_autoptr(GVariant) type_value = g_variant_lookup_value(properties, SECRET_ITEM_IFACE ".Type", NULL);

  if ((label_value && !g_variant_is_of_type(label_value, G_VARIANT_TYPE_STRING)) ||
      (attrs_value && !g_variant_is_of_type(attrs_value, G_VARIANT_TYPE("a{ss}"))) ||
      (type_value && !g_variant_is_of_type(type_value, G_VARIANT_TYPE_STRING))) {
    g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "item property of the wrong type");
    return FALSE;
  }
  *label = label_value ? g_variant_dup_string(label_value, NULL) : g_strdup("");
  *attributes = attrs_value ? coffer_attributes_from_variant(attrs_value)
                            : g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (type_value != NULL && !g_hash_table_contains(*attributes, "xdg:schema"))
    g_hash_table_insert(*attributes, g_strdup("xdg:schema"), g_variant_dup_string(type_value, NULL));
  return TRUE;
}

static void
create_item(CofferService *service, CofferCollection *collection, GVariant *parameters,
            GDBusMethodInvocation *invocation, CofferAppInfo *creator)
{
  g_autoptr(GVariant) properties = NULL;
  g_autoptr(GVariant) secret = NULL;
  g_autoptr(GHashTable) attributes = NULL;
  g_autofree char *content_type = NULL;
  g_autofree char *label = NULL;
  g_autofree char *path = NULL;
  CofferItemContent content = { 0 };
  gboolean replace;
  guint8 *plain = NULL;
  gsize plain_len = 0;
  CofferItem *item;
  GError *error = NULL;

  g_variant_get(parameters, "(@a{sv}@(oayays)b)", &properties, &secret, &replace);
  if (coffer_collection_is_locked(collection)) {
    g_dbus_method_invocation_return_error_literal(invocation, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_IS_LOCKED,
                                                  "the collection is locked");
    return;
  }
  if (!item_properties(properties, &label, &attributes, &error) ||
      !coffer_session_decode_secret(service, secret, g_dbus_method_invocation_get_sender(invocation), &plain,
                                    &plain_len, &content_type, &error)) {
    return_taken_error(invocation, error);
    return;
  }
  content.label = label;
  content.attributes = attributes;
  content.content_type = content_type;
  content.secret = plain;
  content.secret_len = plain_len;
  content.app = coffer_app_info_get_id(creator);
  item = coffer_vault_create_item(service->vault, collection, &content, replace, NULL, &error);
  sodium_free(plain);
  if (item == NULL) {
    return_taken_error(invocation, error);
    return;
  }
  path = coffer_item_path(item);
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(oo)", path, "/"));
}

/* A CreateItem waiting to learn who its caller is. */
typedef struct {
  CofferService *service;
  GDBusMethodInvocation *invocation;
} PendingCreate;

static void
on_creator(GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingCreate *pending = user_data;
  GDBusMethodInvocation *invocation = pending->invocation;
  g_autoptr(CofferAppInfo) creator = coffer_app_info_lookup_finish(result);
  GError *error = NULL;
  CofferCollection *collection =
      coffer_service_lookup_collection(pending->service, g_dbus_method_invocation_get_object_path(invocation), &error);

  if (collection == NULL)
    return_taken_error(invocation, error);
  else
    create_item(pending->service, collection, g_dbus_method_invocation_get_parameters(invocation), invocation, creator);
  g_object_unref(invocation);
  g_free(pending);
}

/* The item records which application made it (agent/access/): known at
 * once for a client that opened its session here, else found first. */
static void
collection_create_item(CofferService *service, CofferCollection *collection, GVariant *parameters,
                       GDBusMethodInvocation *invocation)
{
  const char *sender = g_dbus_method_invocation_get_sender(invocation);
  CofferAppInfo *creator = coffer_access_peek_app(service->access, sender);
  PendingCreate *pending;

  if (creator != NULL) {
    create_item(service, collection, parameters, invocation, creator);
    return;
  }
  pending = g_new0(PendingCreate, 1);
  pending->service = service;
  pending->invocation = g_object_ref(invocation);
  coffer_access_identify_async(service->access, sender, on_creator, pending);
}

static void
collection_method(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                  const char *method, GVariant *parameters, GDBusMethodInvocation *invocation, gpointer user_data)
{
  static const struct {
    const char *name;
    void (*handler)(CofferService *, CofferCollection *, GVariant *, GDBusMethodInvocation *);
  } methods[] = {
    { "Delete", collection_delete },
    { "SearchItems", collection_search },
    { "CreateItem", collection_create_item },
  };
  CofferService *service = user_data;
  GError *error = NULL;
  CofferCollection *collection = coffer_service_lookup_collection(service, path, &error);

  if (collection == NULL) {
    return_taken_error(invocation, error);
    return;
  }
  for (guint i = 0; i < G_N_ELEMENTS(methods); i++)
    if (strcmp(method, methods[i].name) == 0) {
      methods[i].handler(service, collection, parameters, invocation);
      return;
    }
  g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.UnknownMethod", method);
}

GVariant *
coffer_collection_property(CofferService *service, CofferCollection *collection, const char *name)
{
  if (strcmp(name, "Items") == 0) {
    g_autoptr(GPtrArray) items = coffer_collection_list_items(collection);
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < items->len; i++)
      g_ptr_array_add(paths, coffer_item_path(items->pdata[i]));
    return coffer_paths_variant(paths);
  }
  if (strcmp(name, "Label") == 0) {
    /* While locked the label is encrypted: show the path name instead. */
    const char *label = coffer_collection_get_label(collection);
    return g_variant_new_string(label ? label : coffer_collection_get_name(collection));
  }
  if (strcmp(name, "Locked") == 0)
    return g_variant_new_boolean(coffer_collection_is_locked(collection));
  if (strcmp(name, "Created") == 0)
    return g_variant_new_uint64(coffer_collection_get_created(collection));
  if (strcmp(name, "Modified") == 0)
    return g_variant_new_uint64(coffer_collection_get_modified(collection));
  return NULL;
}

static GVariant *
collection_get_property(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                        const char *name, GError **error, gpointer user_data)
{
  CofferService *service = user_data;
  CofferCollection *collection = coffer_service_lookup_collection(service, path, NULL);
  GVariant *value;

  if (collection == NULL) {
    g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_NO_SUCH_OBJECT, "no such collection");
    return NULL;
  }
  value = coffer_collection_property(service, collection, name);
  if (value == NULL)
    g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
  return value;
}

static gboolean
collection_set_property(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                        const char *name, GVariant *value, GError **error, gpointer user_data)
{
  CofferService *service = user_data;
  CofferCollection *collection = coffer_service_lookup_collection(service, path, NULL);
  g_autoptr(GError) local = NULL;

  if (collection == NULL) {
    g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_NO_SUCH_OBJECT, "no such collection");
    return FALSE;
  }
  /* GDBus has checked that Label exists, is writable and is a string. */
  if (!coffer_vault_set_collection_label(service->vault, collection, g_variant_get_string(value, NULL), &local)) {
    if (g_error_matches(local, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED))
      g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_IS_LOCKED, local->message);
    else
      g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, "%s", local->message);
    return FALSE;
  }
  return TRUE;
}

const GDBusInterfaceVTable coffer_collection_vtable = {
  collection_method, collection_get_property, collection_set_property, { 0 }
};
