/* coffer — org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface at
 * /org/freedesktop/secrets: gnome-keyring's private methods that Seahorse
 * and some scripts use to manage keyring passwords.
 *
 * gnome-keyring has a password per keyring; coffer has one vault password
 * for every collection.  So:
 *   UnlockWithMasterPassword(c, secret)  unlocks the vault with the password
 *       (nothing to do when it is unlocked already);
 *   ChangeWithMasterPassword(c, old, new)  changes the vault password;
 *   ChangeWithPrompt(c)  a prompt asking for the current and new password;
 *   CreateWithMasterPassword(props, secret)  creates a collection: with no
 *       vault yet, the password creates the vault; with a locked vault, it
 *       must unlock it; with an unlocked vault it is not used (the collection
 *       shares the vault password).
 * Passwords arrive encrypted for the caller's session, are decrypted into
 * sodium memory and wiped as soon as the vault has copied them.  A wrong
 * password is org.gnome.keyring.Error.Denied, as gnome-keyring answers. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "service/service-private.h"
#include "secret-resources.h"

#define GNOME_ERROR_DENIED "org.gnome.keyring.Error.Denied"

GDBusInterfaceInfo *
coffer_gnome_interface_info(void)
{
  static GDBusNodeInfo *node = NULL;

  if (g_once_init_enter(&node)) {
    g_autoptr(GBytes) xml =
        g_resource_lookup_data(coffer_secret_get_resource(), "/org/coffer/dbus/" GNOME_KEYRING_IFACE ".xml",
                               G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
    g_autoptr(GError) error = NULL;
    GDBusNodeInfo *info = xml ? g_dbus_node_info_new_for_xml(g_bytes_get_data(xml, NULL), &error) : NULL;

    if (info == NULL)
      g_error("the built-in %s description is broken", GNOME_KEYRING_IFACE);
    g_once_init_leave(&node, info);
  }
  return g_dbus_node_info_lookup_interface(node, GNOME_KEYRING_IFACE);
}

/* A password decrypted from a (oayays) Secret, in sodium memory. */
typedef struct {
  guint8 *data;
  gsize len;
} Password;

static void
password_clear(Password *password)
{
  if (password->data != NULL)
    sodium_free(password->data);
  password->data = NULL;
  password->len = 0;
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Password, password_clear)

static gboolean
decode_password(CofferService *service, GVariant *secret, GDBusMethodInvocation *invocation, Password *password)
{
  g_autofree char *content_type = NULL;
  GError *error = NULL;

  if (!coffer_session_decode_secret(service, secret, g_dbus_method_invocation_get_sender(invocation), &password->data,
                                    &password->len, &content_type, &error)) {
    g_dbus_method_invocation_take_error(invocation, error);
    return FALSE;
  }
  return TRUE;
}

/* The collection named by path; replies NoSuchObject when there is none. */
static CofferCollection *
find_collection(CofferService *service, const char *path, GDBusMethodInvocation *invocation)
{
  GError *error = NULL;
  CofferCollection *collection = coffer_service_lookup_collection(service, path, &error);

  if (collection == NULL) {
    coffer_return_error(invocation, error);
    g_error_free(error);
  }
  return collection;
}

static gboolean
is_session(CofferCollection *collection)
{
  return g_strcmp0(coffer_collection_get_name(collection), COFFER_SESSION_COLLECTION) == 0;
}

static void
return_vault_error(GDBusMethodInvocation *invocation, const GError *error)
{
  if (g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD))
    g_dbus_method_invocation_return_dbus_error(invocation, GNOME_ERROR_DENIED, "The password was invalid");
  else
    coffer_return_error(invocation, error);
}

/* ---- UnlockWithMasterPassword / ChangeWithMasterPassword ------------------------------ */

static void
on_kdf_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GDBusMethodInvocation) invocation = user_data;
  g_autoptr(GError) error = NULL;

  if (coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error))
    g_dbus_method_invocation_return_value(invocation, NULL);
  else
    return_vault_error(invocation, error);
}

static void
unlock_with_master_password(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *path;
  g_autoptr(GVariant) secret = NULL;
  g_auto(Password) password = { 0 };
  CofferCollection *collection;

  g_variant_get(parameters, "(&o@(oayays))", &path, &secret);
  collection = find_collection(service, path, invocation);
  if (collection == NULL || !decode_password(service, secret, invocation, &password))
    return;
  if (!coffer_collection_is_locked(collection)) {
    g_dbus_method_invocation_return_value(invocation, NULL);
    return;
  }
  /* The vault copies the password at once; ours is wiped on return. */
  coffer_vault_unlock_async(service->vault, (const char *)password.data, password.len, on_kdf_done,
                            g_object_ref(invocation));
}

static void
change_with_master_password(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *path;
  g_autoptr(GVariant) old_secret = NULL;
  g_autoptr(GVariant) new_secret = NULL;
  g_auto(Password) old_password = { 0 };
  g_auto(Password) new_password = { 0 };
  CofferCollection *collection;

  g_variant_get(parameters, "(&o@(oayays)@(oayays))", &path, &old_secret, &new_secret);
  collection = find_collection(service, path, invocation);
  if (collection == NULL)
    return;
  if (is_session(collection)) {
    g_dbus_method_invocation_return_dbus_error(invocation, DBUS_ERROR_INVALID_ARGS,
                                               "the session collection has no password");
    return;
  }
  if (!decode_password(service, old_secret, invocation, &old_password) ||
      !decode_password(service, new_secret, invocation, &new_password))
    return;
  coffer_vault_change_password_async(service->vault, (const char *)old_password.data, old_password.len,
                                     (const char *)new_password.data, new_password.len, on_kdf_done,
                                     g_object_ref(invocation));
}

/* ---- CreateWithMasterPassword ---------------------------------------------------------- */

typedef struct {
  CofferService *service;
  GDBusMethodInvocation *invocation;
  char *label;
} Create;

static void
create_free(Create *create)
{
  g_object_unref(create->invocation);
  g_free(create->label);
  g_free(create);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Create, create_free)

static void
create_now(Create *create)
{
  GError *error = NULL;
  CofferCollection *collection = coffer_vault_create_collection(create->service->vault, create->label, &error);
  g_autofree char *path = NULL;

  if (collection == NULL) {
    coffer_return_error(create->invocation, error);
    g_error_free(error);
    return;
  }
  path = coffer_collection_path(collection);
  g_dbus_method_invocation_return_value(create->invocation, g_variant_new("(o)", path));
}

static void
on_create_unlocked(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(Create) create = user_data;
  g_autoptr(GError) error = NULL;

  if (!coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error)) {
    return_vault_error(create->invocation, error);
    return;
  }
  create_now(create);
}

static void
create_with_master_password(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) properties = NULL;
  g_autoptr(GVariant) secret = NULL;
  g_auto(Password) password = { 0 };
  g_autoptr(Create) create = g_new0(Create, 1);
  const char *label = "";

  g_variant_get(parameters, "(@a{sv}@(oayays))", &properties, &secret);
  g_variant_lookup(properties, SECRET_COLLECTION_IFACE ".Label", "&s", &label);
  create->service = service;
  create->invocation = g_object_ref(invocation);
  create->label = g_strdup(label);
  if (!decode_password(service, secret, invocation, &password))
    return;
  if (!coffer_vault_is_initialized(service->vault)) {
    g_message("creating the vault for CreateWithMasterPassword");
    coffer_vault_initialize_async(service->vault, (const char *)password.data, password.len, on_create_unlocked,
                                  g_steal_pointer(&create));
    return;
  } else if (coffer_vault_is_locked(service->vault)) {
    coffer_vault_unlock_async(service->vault, (const char *)password.data, password.len, on_create_unlocked,
                              g_steal_pointer(&create));
    return;
  }
  create_now(create);
}

/* ---- ChangeWithPrompt ------------------------------------------------------------------ */

/* gnome-keyring completes this prompt with an empty string either way. */
static GVariant *
password_changed(CofferService *service, gpointer data, GError **error)
{
  return g_variant_new_string("");
}

static void
change_with_prompt(CofferService *service, GVariant *parameters, GDBusMethodInvocation *invocation)
{
  const char *path, *prompt;
  CofferCollection *collection;

  g_variant_get(parameters, "(&o)", &path);
  collection = find_collection(service, path, invocation);
  if (collection == NULL)
    return;
  if (is_session(collection)) {
    g_dbus_method_invocation_return_dbus_error(invocation, DBUS_ERROR_INVALID_ARGS,
                                               "the session collection has no password");
    return;
  }
  prompt = coffer_prompt_new_change_password(service, g_dbus_method_invocation_get_sender(invocation), password_changed,
                                             NULL, NULL, g_variant_new_string(""));
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(o)", prompt));
}

static void
gnome_method(GDBusConnection *connection, const char *sender, const char *path, const char *iface, const char *method,
             GVariant *parameters, GDBusMethodInvocation *invocation, gpointer user_data)
{
  static const struct {
    const char *name;
    void (*handler)(CofferService *, GVariant *, GDBusMethodInvocation *);
  } methods[] = {
    { "UnlockWithMasterPassword", unlock_with_master_password },
    { "ChangeWithMasterPassword", change_with_master_password },
    { "CreateWithMasterPassword", create_with_master_password },
    { "ChangeWithPrompt", change_with_prompt },
  };

  for (guint i = 0; i < G_N_ELEMENTS(methods); i++)
    if (strcmp(method, methods[i].name) == 0) {
      methods[i].handler(user_data, parameters, invocation);
      return;
    }
  g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.UnknownMethod", method);
}

const GDBusInterfaceVTable coffer_gnome_vtable = { gnome_method, NULL, NULL, { 0 } };
