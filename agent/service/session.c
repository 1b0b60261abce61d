/* coffer — org.freedesktop.Secret.Session objects, and the encoding of
 * secrets for a session.  A session belongs to the connection that opened it:
 * no other peer may use it, and it is closed when that peer leaves the bus. */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "service/service-private.h"

struct CofferSession {
  char *path;
  char *owner; /* unique bus name */
  CofferTransport *transport;
};

void
coffer_session_free(CofferSession *session)
{
  coffer_transport_free(session->transport);
  g_free(session->owner);
  g_free(session->path);
  g_free(session);
}

const char *
coffer_session_open(CofferService *service, const char *owner, CofferTransport *transport)
{
  CofferSession *session = g_new0(CofferSession, 1);

  session->path = g_strdup_printf(SECRET_SESSION_PREFIX "/s%" G_GUINT64_FORMAT, ++service->next_session);
  session->owner = g_strdup(owner);
  session->transport = transport;
  g_hash_table_replace(service->sessions, session->path, session);
  return session->path;
}

CofferSession *
coffer_session_lookup(CofferService *service, const char *path, const char *sender, GError **error)
{
  CofferSession *session = g_hash_table_lookup(service->sessions, path);

  if (session == NULL || g_strcmp0(session->owner, sender) != 0) {
    g_set_error_literal(error, COFFER_SECRET_ERROR, COFFER_SECRET_ERROR_NO_SESSION, "no such session");
    return NULL;
  }
  return session;
}

void
coffer_service_forget_peer(CofferService *service, const char *name)
{
  GHashTableIter iter;
  CofferSession *session;

  g_hash_table_iter_init(&iter, service->sessions);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&session))
    if (strcmp(session->owner, name) == 0)
      g_hash_table_iter_remove(&iter);
  coffer_prompts_forget_peer(service, name);
}

GVariant *
coffer_session_encode_secret(CofferService *service, CofferSession *session, CofferItem *item, GError **error)
{
  g_autoptr(GBytes) parameters = NULL;
  g_autoptr(GBytes) value = NULL;
  const char *content_type = NULL;
  guint8 *plain = NULL;
  gsize plain_len = 0;
  gboolean ok;

  if (!coffer_vault_get_item_secret(service->vault, item, &plain, &plain_len, &content_type, error))
    return NULL;
  ok = coffer_transport_encrypt(session->transport, plain, plain_len, &parameters, &value, error);
  coffer_secure_release(plain, MAX(plain_len, 1));
  if (!ok)
    return NULL;
  return g_variant_new("(o@ay@ays)", session->path,
                       g_variant_new_from_bytes(G_VARIANT_TYPE_BYTESTRING, parameters, TRUE),
                       g_variant_new_from_bytes(G_VARIANT_TYPE_BYTESTRING, value, TRUE), content_type);
}

gboolean
coffer_session_decode_secret(CofferService *service, GVariant *secret, const char *sender, guint8 **plain,
                             gsize *plain_len, char **content_type, GError **error)
{
  const char *session_path, *type;
  g_autoptr(GVariant) parameters = NULL;
  g_autoptr(GVariant) value = NULL;
  CofferSession *session;
  gsize parameters_len, value_len;
  const guint8 *parameters_data, *value_data;

  g_variant_get(secret, "(&o@ay@ay&s)", &session_path, &parameters, &value, &type);
  session = coffer_session_lookup(service, session_path, sender, error);
  if (session == NULL)
    return FALSE;
  parameters_data = g_variant_get_fixed_array(parameters, &parameters_len, 1);
  value_data = g_variant_get_fixed_array(value, &value_len, 1);
  if (!coffer_transport_decrypt(session->transport, parameters_data, parameters_len, value_data, value_len, plain,
                                plain_len, error))
    return FALSE;
  *content_type = g_strdup(type[0] ? type : "text/plain");
  return TRUE;
}

static void
session_method(GDBusConnection *connection, const char *sender, const char *path, const char *iface, const char *method,
               GVariant *parameters, GDBusMethodInvocation *invocation, gpointer user_data)
{
  CofferService *service = user_data;
  GError *error = NULL;

  if (coffer_session_lookup(service, path, sender, &error) == NULL) {
    g_dbus_method_invocation_take_error(invocation, error);
    return;
  }
  /* Close is the interface's only method. */
  g_hash_table_remove(service->sessions, path);
  g_dbus_method_invocation_return_value(invocation, NULL);
}

const GDBusInterfaceVTable coffer_session_vtable = { session_method, NULL, NULL, { 0 } };
