/* Internal interfaces between the files of agent/service/. */
#pragma once

#include "access/access.h"
#include "service/service.h"
#include "transport/transport.h"

#define SECRET_PATH "/org/freedesktop/secrets"
#define SECRET_COLLECTION_PREFIX SECRET_PATH "/collection"
#define SECRET_ALIAS_PREFIX SECRET_PATH "/aliases"
#define SECRET_SESSION_PREFIX SECRET_PATH "/session"
#define SECRET_PROMPT_PREFIX SECRET_PATH "/prompt"

#define SECRET_SERVICE_IFACE "org.freedesktop.Secret.Service"
#define SECRET_COLLECTION_IFACE "org.freedesktop.Secret.Collection"
#define SECRET_ITEM_IFACE "org.freedesktop.Secret.Item"
#define SECRET_SESSION_IFACE "org.freedesktop.Secret.Session"
#define SECRET_PROMPT_IFACE "org.freedesktop.Secret.Prompt"

#define SECRET_ERROR_IS_LOCKED "org.freedesktop.Secret.Error.IsLocked"
#define SECRET_ERROR_NO_SESSION "org.freedesktop.Secret.Error.NoSession"
#define SECRET_ERROR_NO_SUCH_OBJECT "org.freedesktop.Secret.Error.NoSuchObject"
#define SECRET_ERROR_ALREADY_EXISTS "org.freedesktop.Secret.Error.AlreadyExists"
#define DBUS_ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
#define DBUS_ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define DBUS_ERROR_FAILED "org.freedesktop.DBus.Error.Failed"

/* The Secret Service's own errors, as a GError domain mapped to their names. */
#define COFFER_SECRET_ERROR (coffer_secret_error_quark())
GQuark coffer_secret_error_quark(void);
typedef enum {
  COFFER_SECRET_ERROR_IS_LOCKED,
  COFFER_SECRET_ERROR_NO_SESSION,
  COFFER_SECRET_ERROR_NO_SUCH_OBJECT,
  COFFER_SECRET_ERROR_ALREADY_EXISTS,
} CofferSecretError;

typedef struct CofferSession CofferSession;
typedef struct CofferPrompt CofferPrompt;
typedef struct CofferSharedUnlock CofferSharedUnlock;
typedef struct CofferPortal CofferPortal;

struct CofferService {
  GDBusConnection *connection;
  CofferVault *vault;
  CofferPrompter *prompter;
  GDBusNodeInfo *node_info;
  GHashTable *registrations;          /* container path -> registration id */
  GHashTable *sessions;               /* path -> CofferSession* (owned) */
  GHashTable *prompts;                /* path -> CofferPrompt* (reference) */
  CofferSharedUnlock *pending_unlock; /* the unlock prompts wait for (prompt.c) */
  guint64 next_session;
  guint64 next_prompt;
  guint name_owner_subscription;
  GArray *vault_handlers;     /* gulong */
  void (*activity)(gpointer); /* coffer_service_set_activity_callback() */
  gpointer activity_data;
  CofferPortal *portal; /* iface-portal.c */
  CofferAccess *access; /* per-application access control (agent/access/) */
};

/* service.c */
GDBusInterfaceInfo *coffer_service_interface(CofferService *service, const char *name);
char *coffer_collection_path(CofferCollection *collection);
char *coffer_item_path(CofferItem *item);
/* Resolves /collection/<c> or /aliases/<a>; NULL (and NoSuchObject set) when
 * there is no such collection. */
CofferCollection *coffer_service_lookup_collection(CofferService *service, const char *path, GError **error);
CofferItem *coffer_service_lookup_item(CofferService *service, const char *path, GError **error);
/* Returns error to the caller as the matching Secret Service error. */
void coffer_return_error(GDBusMethodInvocation *invocation, const GError *error);
void coffer_service_sync_registrations(CofferService *service);
void coffer_service_emit(CofferService *service, const char *destination, const char *path, const char *iface,
                         const char *signal, GVariant *parameters);
void coffer_service_emit_properties(CofferService *service, const char *path, const char *iface,
                                    const char *const *names);
GVariant *coffer_service_get_property(CofferService *service, const char *path, const char *iface, const char *name,
                                      GError **error);
GHashTable *coffer_attributes_from_variant(GVariant *dict);
GVariant *coffer_paths_variant(GPtrArray *paths);

/* iface-service.c, iface-collection.c, iface-item.c, iface-gnome.c */
#define GNOME_KEYRING_IFACE "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface"
extern const GDBusInterfaceVTable coffer_gnome_vtable;
GDBusInterfaceInfo *coffer_gnome_interface_info(void);
extern const GDBusInterfaceVTable coffer_service_vtable;
extern const GDBusInterfaceVTable coffer_collection_vtable;
extern const GDBusInterfaceVTable coffer_item_vtable;
GVariant *coffer_collection_property(CofferService *service, CofferCollection *collection, const char *name);
GVariant *coffer_item_property(CofferService *service, CofferItem *item, const char *name);

/* session.c */
extern const GDBusInterfaceVTable coffer_session_vtable;
const char *coffer_session_open(CofferService *service, const char *owner, CofferTransport *transport);
CofferSession *coffer_session_lookup(CofferService *service, const char *path, const char *sender, GError **error);
void coffer_session_free(CofferSession *session);
/* Builds the (oayays) Secret of an item for the session. */
GVariant *coffer_session_encode_secret(CofferService *service, CofferSession *session, CofferItem *item,
                                       GError **error);
/* Decodes a (oayays) Secret from sender into sodium memory. */
gboolean coffer_session_decode_secret(CofferService *service, GVariant *secret, const char *sender, guint8 **plain,
                                      gsize *plain_len, char **content_type, GError **error);
void coffer_service_forget_peer(CofferService *service, const char *name);

/* prompt.c */
extern const GDBusInterfaceVTable coffer_prompt_vtable;
typedef GVariant *(*CofferPromptAction)(CofferService *service, gpointer data, GError **error);
/* A prompt that gets the vault unlocked, then runs action (on the main loop)
 * whose result is sent in Completed; dismissed carries empty_result. */
const char *coffer_prompt_new(CofferService *service, const char *owner, CofferPromptAction action, gpointer data,
                              GDestroyNotify data_free, GVariant *empty_result);
/* The same, but the prompter asks for the current and a new password. */
const char *coffer_prompt_new_change_password(CofferService *service, const char *owner, CofferPromptAction action,
                                              gpointer data, GDestroyNotify data_free, GVariant *empty_result);
void coffer_prompt_unref(CofferPrompt *prompt);
void coffer_prompts_forget_peer(CofferService *service, const char *name);

/* iface-portal.c: org.freedesktop.impl.portal.Secret at /org/freedesktop/portal/desktop. */
CofferPortal *coffer_portal_new(CofferService *service, GError **error);
void coffer_portal_free(CofferPortal *portal);
/* Tells the activity callback about a call (service.c). */
void coffer_service_note_activity(CofferService *service);
