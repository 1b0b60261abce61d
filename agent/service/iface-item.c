/* coffer — org.freedesktop.Secret.Item at
 * /org/freedesktop/secrets/collection/<c>/<i> (and under /aliases/<a>/). */
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
item_delete(CofferService *service, CofferItem *item, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  GError *error = NULL;

  if (!coffer_vault_delete_item(service->vault, item, &error)) {
    return_taken_error(invocation, error);
    return;
  }
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(o)", "/"));
}

/* Encodes the item's secret for the session and replies. */
static void
reply_secret(CofferService *service, CofferItem *item, const char *session_path, GDBusMethodInvocation *invocation)
{
  CofferSession *session;
  GVariant *secret;
  GError *error = NULL;

  session = coffer_session_lookup(service, session_path, g_dbus_method_invocation_get_sender(invocation), &error);
  if (session == NULL) {
    g_dbus_method_invocation_take_error(invocation, error);
    return;
  }
  secret = coffer_session_encode_secret(service, session, item, &error);
  if (secret == NULL) {
    return_taken_error(invocation, error);
    return;
  }
  g_dbus_method_invocation_return_value(invocation, g_variant_new_tuple(&secret, 1));
}

/* A GetSecret waiting for access control (agent/access/). */
typedef struct {
  CofferService *service;
  GDBusMethodInvocation *invocation;
  char *session_path;
} PendingRead;

static void
on_read_checked(GObject *source, GAsyncResult *result, gpointer user_data)
{
  PendingRead *pending = user_data;
  GDBusMethodInvocation *invocation = pending->invocation;
  GError *error = NULL;
  CofferItem *item;

  if (!coffer_access_check_finish(result, &error)) {
    g_dbus_method_invocation_take_error(invocation, error);
  } else if ((item = coffer_service_lookup_item(pending->service, g_dbus_method_invocation_get_object_path(invocation),
                                                &error)) == NULL) {
    return_taken_error(invocation, error); /* deleted while the user was asked */
  } else {
    reply_secret(pending->service, item, pending->session_path, invocation);
  }
  g_object_unref(invocation);
  g_free(pending->session_path);
  g_free(pending);
}

static void
item_get_secret(CofferService *service, CofferItem *item, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *session_path;
  PendingRead *pending;
  GError *error = NULL;

  g_variant_get(parameters, "(&o)", &session_path);
  /* A locked item, a bad session: answered at once, before anyone is asked. */
  if (!coffer_access_asks(service->access) || coffer_item_is_locked(item) ||
      coffer_session_lookup(service, session_path, g_dbus_method_invocation_get_sender(invocation), &error) == NULL) {
    g_clear_error(&error);
    reply_secret(service, item, session_path, invocation);
    return;
  }
  pending = g_new0(PendingRead, 1);
  pending->service = service;
  pending->invocation = g_object_ref(invocation);
  pending->session_path = g_strdup(session_path);
  coffer_access_check_async(service->access, g_dbus_method_invocation_get_sender(invocation), &item, 1, on_read_checked,
                            pending);
}

static void
item_set_secret(CofferService *service, CofferItem *item, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) secret = g_variant_get_child_value(parameters, 0);
  g_autofree char *content_type = NULL;
  guint8 *plain = NULL;
  gsize plain_len = 0;
  GError *error = NULL;
  gboolean ok;

  if (coffer_item_is_locked(item)) {
    g_dbus_method_invocation_return_error_literal(invocation, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_IS_LOCKED,
                                                  "the item is locked");
    return;
  }
  if (!coffer_session_decode_secret(service, secret, g_dbus_method_invocation_get_sender(invocation), &plain,
                                    &plain_len, &content_type, &error)) {
    return_taken_error(invocation, error);
    return;
  }
  ok = coffer_vault_set_item_secret(service->vault, item, plain, plain_len, content_type, &error);
  sodium_free(plain);
  if (!ok) {
    return_taken_error(invocation, error);
    return;
  }
  g_dbus_method_invocation_return_value(invocation, NULL);
}

static void
item_method(GDBusConnection *connection, const char *sender, const char *path, const char *iface, const char *method,
            GVariant *parameters, GDBusMethodInvocation *invocation, gpointer user_data)
{
  static const struct {
    const char *name;
    void (*handler)(CofferService *, CofferItem *, GVariant *, GDBusMethodInvocation *);
  } methods[] = {
    { "Delete", item_delete },
    { "GetSecret", item_get_secret },
    { "SetSecret", item_set_secret },
  };
  CofferService *service = user_data;
  GError *error = NULL;
  CofferItem *item = coffer_service_lookup_item(service, path, &error);

  if (item == NULL) {
    return_taken_error(invocation, error);
    return;
  }
  for (guint i = 0; i < G_N_ELEMENTS(methods); i++)
    if (strcmp(method, methods[i].name) == 0) {
      methods[i].handler(service, item, parameters, invocation);
      return;
    }
  g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.UnknownMethod", method);
}

static GVariant *
attributes_variant(GHashTable *attributes)
{
  GVariantBuilder builder;
  GHashTableIter iter;
  gpointer name, value;

  g_variant_builder_init(&builder, G_VARIANT_TYPE("a{ss}"));
  if (attributes != NULL) {
    g_hash_table_iter_init(&iter, attributes);
    while (g_hash_table_iter_next(&iter, &name, &value))
      g_variant_builder_add(&builder, "{ss}", name, value);
  }
  return g_variant_builder_end(&builder);
}

/* Label, Attributes and Type are encrypted: NULL while locked, and the
 * caller answers IsLocked. */
GVariant *
coffer_item_property(CofferService *service, CofferItem *item, const char *name)
{
  GHashTable *attributes = coffer_item_get_attributes(item);
  const char *label = coffer_item_get_label(item);

  if (strcmp(name, "Locked") == 0)
    return g_variant_new_boolean(coffer_item_is_locked(item));
  if (strcmp(name, "Created") == 0)
    return g_variant_new_uint64(coffer_item_get_created(item));
  if (strcmp(name, "Modified") == 0)
    return g_variant_new_uint64(coffer_item_get_modified(item));
  if (coffer_item_is_locked(item))
    return NULL;
  if (strcmp(name, "Label") == 0)
    return g_variant_new_string(label ? label : "");
  if (strcmp(name, "Attributes") == 0)
    return attributes_variant(attributes);
  if (strcmp(name, "Type") == 0) {
    const char *schema = attributes ? g_hash_table_lookup(attributes, "xdg:schema") : NULL;
    return g_variant_new_string(schema ? schema : "");
  }
  return NULL;
}

static GVariant *
item_get_property(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                  const char *name, GError **error, gpointer user_data)
{
  CofferService *service = user_data;
  CofferItem *item = coffer_service_lookup_item(service, path, NULL);
  GVariant *value;

  if (item == NULL) {
    g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_NO_SUCH_OBJECT, "no such item");
    return NULL;
  }
  value = coffer_item_property(service, item, name);
  if (value == NULL)
    g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_IS_LOCKED, "the item is locked");
  return value;
}

static gboolean
set_item_property(CofferService *service, CofferItem *item, const char *name, GVariant *value, GError **error)
{
  g_autoptr(GHashTable) attributes = NULL;

  if (strcmp(name, "Label") == 0)
    return coffer_vault_set_item_label(service->vault, item, g_variant_get_string(value, NULL), error);
  if (strcmp(name, "Attributes") == 0) {
    attributes = coffer_attributes_from_variant(value);
    return coffer_vault_set_item_attributes(service->vault, item, attributes, error);
  }
  /* Type: the schema name, kept as the xdg:schema attribute. */
  attributes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  if (coffer_item_get_attributes(item) != NULL) {
    GHashTableIter iter;
    gpointer key, val;
    g_hash_table_iter_init(&iter, coffer_item_get_attributes(item));
    while (g_hash_table_iter_next(&iter, &key, &val))
      g_hash_table_replace(attributes, g_strdup(key), g_strdup(val));
  }
  g_hash_table_replace(attributes, g_strdup("xdg:schema"), g_variant_dup_string(value, NULL));
  return coffer_vault_set_item_attributes(service->vault, item, attributes, error);
}

static gboolean
item_set_property(GDBusConnection *connection, const char *sender, const char *path, const char *iface,
                  const char *name, GVariant *value, GError **error, gpointer user_data)
{
  CofferService *service = user_data;
  CofferItem *item = coffer_service_lookup_item(service, path, NULL);
  g_autoptr(GError) local = NULL;

  if (item == NULL) {
    g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_NO_SUCH_OBJECT, "no such item");
    return FALSE;
  }
  if (set_item_property(service, item, name, value, &local))
    return TRUE;
  if (g_error_matches(local, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED))
    g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_IS_LOCKED, local->message);
  else if (g_error_matches(local, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID))
    g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "%s", local->message);
  else
    g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, "%s", local->message);
  return FALSE;
}

const GDBusInterfaceVTable coffer_item_vtable = { item_method, item_get_property, item_set_property, { 0 } };
