/* coffer-import — the Secret Service client.  See service.h. */
#include "config.h"

#include "service.h"

#include <gcrypt.h>
#include <sodium.h>
#include <string.h>

#include "transport/transport-private.h"

#define SECRETS_NAME "org.freedesktop.secrets"
#define SECRETS_PATH "/org/freedesktop/secrets"
#define IFACE_SERVICE "org.freedesktop.Secret.Service"
#define IFACE_COLLECTION "org.freedesktop.Secret.Collection"
#define IFACE_ITEM "org.freedesktop.Secret.Item"
#define IFACE_PROMPT "org.freedesktop.Secret.Prompt"
#define IFACE_SESSION "org.freedesktop.Secret.Session"
#define ALGORITHM_DH "dh-ietf1024-sha256-aes128-cbc-pkcs7"
#define CALL_TIMEOUT_MS 60000
/* Secrets asked for in one GetSecrets call: big enough to be quick, small
 * enough for the progress bar to move and for replies to stay small. */
#define SECRETS_BATCH 64

typedef struct {
  GDBusConnection *bus;
  char *owner;     /* the provider's unique name */
  char *session;   /* our session's object path */
  guint8 *aes_key; /* sodium_malloc(16); NULL for a plain session */
} Client;

static void
client_clear(Client *client)
{
  if (client->session != NULL)
    g_dbus_connection_call_sync(client->bus, client->owner, client->session, IFACE_SESSION, "Close", NULL, NULL,
                                G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, NULL);
  g_clear_pointer(&client->session, g_free);
  g_clear_pointer(&client->owner, g_free);
  if (client->aes_key != NULL)
    sodium_free(client->aes_key);
  client->aes_key = NULL;
}

static GVariant *
call(Client *client, const char *path, const char *iface, const char *method, GVariant *params, const char *reply_type,
     GError **error)
{
  return g_dbus_connection_call_sync(client->bus, client->owner, path, iface, method, params,
                                     reply_type ? G_VARIANT_TYPE(reply_type) : NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                     CALL_TIMEOUT_MS, NULL, error);
}

static GVariant *
get_all(Client *client, const char *path, const char *iface, GError **error)
{
  g_autoptr(GVariant) reply =
      call(client, path, "org.freedesktop.DBus.Properties", "GetAll", g_variant_new("(s)", iface), "(a{sv})", error);
  return reply != NULL ? g_variant_get_child_value(reply, 0) : NULL;
}

/* ---- who is the provider ---------------------------------------------------- */

/* The provider's program name, from its command line (comm is cut at 15
 * characters: "gnome-keyring-d"). */
static char *
process_name(GDBusConnection *bus, const char *owner, guint32 *pid_out)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
      bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixProcessID",
      g_variant_new("(s)", owner), G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
  g_autofree char *path = NULL;
  g_autofree char *cmdline = NULL;
  gsize len = 0;
  guint32 pid = 0;

  if (reply == NULL)
    return NULL;
  g_variant_get(reply, "(u)", &pid);
  *pid_out = pid;
  path = g_strdup_printf("/proc/%u/cmdline", pid);
  if (!g_file_get_contents(path, &cmdline, &len, NULL) || len == 0)
    return NULL;
  return g_path_get_basename(cmdline); /* argv[0] ends at the first NUL */
}

static gboolean
find_provider(Client *client, char **description, GError **error)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
      client->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetNameOwner",
      g_variant_new("(s)", SECRETS_NAME), G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
  g_autofree char *name = NULL;
  guint32 pid = 0;

  if (reply == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                "no Secret Service provider is running on this session bus (nobody owns %s)", SECRETS_NAME);
    return FALSE;
  }
  g_variant_get(reply, "(s)", &client->owner);
  name = process_name(client->bus, client->owner, &pid);
  if (name != NULL && strcmp(name, "cofferd") == 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                "the Secret Service on this bus is coffer itself (cofferd, pid %u): nothing to import", pid);
    return FALSE;
  }
  *description = name != NULL ? g_strdup_printf("%s (pid %u)", name, pid) : g_strdup(client->owner);
  return TRUE;
}

/* ---- the dh session: client half of the exchange ---------------------------- */

static const char group2_prime_hex[] = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"
                                       "29024E088A67CC74020BBEA63B139B22514A08798E3404DD"
                                       "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"
                                       "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
                                       "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381"
                                       "FFFFFFFFFFFFFFFF";

/* v as exactly 128 big-endian bytes (every value mod p fits). */
static gboolean
mpi_to_fixed(gcry_mpi_t v, guint8 out[COFFER_DH_BYTES])
{
  size_t len = (gcry_mpi_get_nbits(v) + 7) / 8, written = 0;

  if (len > COFFER_DH_BYTES)
    return FALSE;
  memset(out, 0, COFFER_DH_BYTES - len);
  return len == 0 || gcry_mpi_print(GCRYMPI_FMT_USG, out + COFFER_DH_BYTES - len, len, &written, v) == 0;
}

/* Derives the AES key from the provider's public value and our exponent;
 * the provider's value must satisfy 1 < y < p-1 like ours must for it. */
static gboolean
dh_finish(gcry_mpi_t x, gcry_mpi_t p, const guint8 *peer, gsize peer_len, guint8 *aes_key)
{
  g_auto(gcry_mpi_t) y = NULL;
  g_auto(gcry_mpi_t) p_minus_1 = gcry_mpi_new(0);
  g_auto(gcry_mpi_t) shared = gcry_mpi_snew(0);
  g_auto(CofferSecureBytes) shared_bytes = sodium_malloc(COFFER_DH_BYTES);

  if (peer_len == 0 || peer_len > COFFER_DH_BYTES || shared_bytes == NULL ||
      gcry_mpi_scan(&y, GCRYMPI_FMT_USG, peer, peer_len, NULL) != 0)
    return FALSE;
  gcry_mpi_sub_ui(p_minus_1, p, 1);
  if (gcry_mpi_cmp_ui(y, 1) <= 0 || gcry_mpi_cmp(y, p_minus_1) >= 0)
    return FALSE;
  gcry_mpi_powm(shared, y, x, p);
  return mpi_to_fixed(shared, shared_bytes) &&
         coffer_transport_hkdf_sha256(shared_bytes, COFFER_DH_BYTES, aes_key, COFFER_AES_KEY_BYTES);
}

static gboolean
open_session(Client *client, GError **error)
{
  g_auto(gcry_mpi_t) p = NULL;
  g_auto(gcry_mpi_t) x = gcry_mpi_snew(1023);
  g_auto(gcry_mpi_t) g = gcry_mpi_set_ui(NULL, 2);
  g_auto(gcry_mpi_t) ours = gcry_mpi_new(0);
  guint8 public[COFFER_DH_BYTES];
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) output = NULL;
  g_autoptr(GError) local = NULL;
  const guint8 *peer;
  gsize peer_len;

  if (gcry_mpi_scan(&p, GCRYMPI_FMT_HEX, group2_prime_hex, 0, NULL) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "libgcrypt cannot parse the DH group");
    return FALSE;
  }
  do
    gcry_mpi_randomize(x, 1023, GCRY_STRONG_RANDOM);
  while (gcry_mpi_cmp_ui(x, 1) <= 0);
  gcry_mpi_powm(ours, g, x, p);
  if (!mpi_to_fixed(ours, public)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "DH key generation failed");
    return FALSE;
  }
  reply = call(
      client, SECRETS_PATH, IFACE_SERVICE, "OpenSession",
      g_variant_new("(sv)", ALGORITHM_DH, g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, public, sizeof public, 1)),
      "(vo)", &local);
  if (reply == NULL) {
    g_propagate_prefixed_error(error, g_steal_pointer(&local), "the provider refused an encrypted session: ");
    return FALSE;
  }
  g_variant_get(reply, "(vo)", &output, &client->session);
  client->aes_key = sodium_malloc(COFFER_AES_KEY_BYTES);
  if (!g_variant_is_of_type(output, G_VARIANT_TYPE_BYTESTRING) || client->aes_key == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the provider answered OpenSession with a bad key");
    return FALSE;
  }
  peer = g_variant_get_fixed_array(output, &peer_len, 1);
  if (!dh_finish(x, p, peer, peer_len, client->aes_key)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the provider's DH public key is invalid");
    return FALSE;
  }
  return TRUE;
}

/* Decrypts one (oayays) Secret into item (secret and content type). */
static gboolean
decode_secret(Client *client, GVariant *secret, ImportItem *item, GError **error)
{
  g_autoptr(GVariant) params_v = g_variant_get_child_value(secret, 1);
  g_autoptr(GVariant) value_v = g_variant_get_child_value(secret, 2);
  gsize iv_len, ct_len, pad;
  const guint8 *iv = g_variant_get_fixed_array(params_v, &iv_len, 1);
  const guint8 *ct = g_variant_get_fixed_array(value_v, &ct_len, 1);
  g_auto(gcry_cipher_hd_t) cipher = NULL;
  g_auto(CofferSecureBytes) plain = NULL;
  gboolean ok;

  g_variant_get_child(secret, 3, "s", &item->content_type);
  if (iv_len != COFFER_AES_BLOCK || ct_len == 0 || ct_len % COFFER_AES_BLOCK != 0 ||
      ct_len > COFFER_TRANSPORT_MAX_SECRET) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the provider sent a malformed encrypted secret");
    return FALSE;
  }
  plain = sodium_malloc(ct_len);
  if (plain == NULL || gcry_cipher_open(&cipher, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_CBC, 0) != 0 ||
      gcry_cipher_setkey(cipher, client->aes_key, COFFER_AES_KEY_BYTES) != 0 ||
      gcry_cipher_setiv(cipher, iv, COFFER_AES_BLOCK) != 0 ||
      gcry_cipher_decrypt(cipher, plain, ct_len, ct, ct_len) != 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot decrypt the secret");
    return FALSE;
  }
  pad = plain[ct_len - 1];
  ok = pad >= 1 && pad <= COFFER_AES_BLOCK;
  for (gsize i = 0; ok && i < pad; i++)
    ok = plain[ct_len - 1 - i] == pad;
  if (!ok) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the secret's padding is invalid (wrong session key?)");
    return FALSE;
  }
  if (!import_item_set_secret(item, plain, ct_len - pad)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "out of secure memory");
    return FALSE;
  }
  return TRUE;
}

/* ---- unlocking through the provider's prompt ------------------------------ */

typedef struct {
  gboolean done;
  gboolean dismissed;
} PromptWait;

static void
on_prompt_completed(GDBusConnection *bus, const char *sender, const char *path, const char *iface, const char *signal,
                    GVariant *params, gpointer user_data)
{
  PromptWait *wait = user_data;
  if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(bv)")))
    return;
  g_variant_get_child(params, 0, "b", &wait->dismissed);
  wait->done = TRUE;
}

static gboolean
on_prompt_timeout(gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the prompt and waits for Completed; TRUE when it completed without
 * being dismissed.  On timeout the prompt is dismissed. */
static gboolean
run_prompt(Client *client, const char *prompt, guint timeout_s, char **why)
{
  PromptWait wait = { FALSE, FALSE };
  gboolean timed_out = FALSE;
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint sub = g_dbus_connection_signal_subscribe(client->bus, client->owner, IFACE_PROMPT, "Completed", prompt, NULL,
                                                 G_DBUS_SIGNAL_FLAGS_NONE, on_prompt_completed, &wait, NULL);
  guint timer;

  reply = call(client, prompt, IFACE_PROMPT, "Prompt", g_variant_new("(s)", ""), NULL, &local);
  if (reply == NULL) {
    g_dbus_connection_signal_unsubscribe(client->bus, sub);
    *why = g_strdup_printf("the provider's unlock prompt failed: %s", local->message);
    return FALSE;
  }
  timer = g_timeout_add_seconds(timeout_s, on_prompt_timeout, &timed_out);
  while (!wait.done && !timed_out)
    g_main_context_iteration(NULL, TRUE);
  if (!timed_out)
    g_source_remove(timer);
  g_dbus_connection_signal_unsubscribe(client->bus, sub);
  if (timed_out) {
    g_autoptr(GVariant) dismissed = call(client, prompt, IFACE_PROMPT, "Dismiss", NULL, NULL, NULL);
    *why = g_strdup_printf("the provider's unlock prompt was not answered within %u s", timeout_s);
    return FALSE;
  }
  if (wait.dismissed) {
    *why = g_strdup("the provider's unlock prompt was dismissed");
    return FALSE;
  }
  return TRUE;
}

/* Unlocks the locked collections in one request (one prompt at most).
 * Returns NULL when it worked, or why not. */
static char *
unlock(Client *client, GPtrArray *locked, guint timeout_s)
{
  GVariantBuilder paths;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GError) local = NULL;
  const char *prompt;
  char *why = NULL;

  g_variant_builder_init(&paths, G_VARIANT_TYPE("ao"));
  for (guint i = 0; i < locked->len; i++)
    g_variant_builder_add(&paths, "o", locked->pdata[i]);
  reply = call(client, SECRETS_PATH, IFACE_SERVICE, "Unlock", g_variant_new("(ao)", &paths), "(aoo)", &local);
  if (reply == NULL)
    return g_strdup_printf("the provider refused to unlock it: %s", local->message);
  g_variant_get_child(reply, 1, "&o", &prompt);
  if (strcmp(prompt, "/") == 0)
    return NULL;
  g_printerr("coffer: %u collection(s) are locked; answer the unlock prompt of the old keyring "
             "(waiting up to %u s)\n",
             locked->len, timeout_s);
  if (!run_prompt(client, prompt, timeout_s, &why))
    return why;
  return NULL;
}

/* ---- reading ----------------------------------------------------------------- */

static guint64
lookup_u64(GVariant *props, const char *name)
{
  guint64 v = 0;
  g_variant_lookup(props, name, "t", &v);
  return v;
}

static gboolean
lookup_locked(GVariant *props)
{
  gboolean locked = FALSE;
  g_variant_lookup(props, "Locked", "b", &locked);
  return locked;
}

/* An item's label, attributes and times. */
static ImportItem *
read_item_meta(Client *client, const char *path)
{
  ImportItem *item = import_item_new();
  g_autoptr(GError) local = NULL;
  g_autoptr(GVariant) props = get_all(client, path, IFACE_ITEM, &local);
  g_autoptr(GVariant) attributes = NULL;

  if (props == NULL) {
    item->label = g_strdup(path);
    item->error = g_strdup_printf("cannot read its properties: %s", local->message);
    return item;
  }
  if (!g_variant_lookup(props, "Label", "s", &item->label))
    item->label = g_strdup("");
  attributes = g_variant_lookup_value(props, "Attributes", G_VARIANT_TYPE("a{ss}"));
  if (attributes != NULL) {
    GVariantIter iter;
    const char *name, *value;
    g_variant_iter_init(&iter, attributes);
    while (g_variant_iter_next(&iter, "{&s&s}", &name, &value))
      g_hash_table_replace(item->attributes, g_strdup(name), g_strdup(value));
  }
  item->created = lookup_u64(props, "Created");
  item->modified = lookup_u64(props, "Modified");
  return item;
}

/* Fills the secrets of items[from..from+n) (paths alongside) with one
 * GetSecrets call; items the reply leaves out are asked one by one, which
 * also gives the reason they fail. */
static void
read_secrets(Client *client, GPtrArray *paths, GPtrArray *items, guint from, guint n)
{
  GVariantBuilder list;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) dict = NULL;

  g_variant_builder_init(&list, G_VARIANT_TYPE("ao"));
  for (guint i = from; i < from + n; i++)
    g_variant_builder_add(&list, "o", paths->pdata[i]);
  reply = call(client, SECRETS_PATH, IFACE_SERVICE, "GetSecrets", g_variant_new("(aoo)", &list, client->session),
               "(a{o(oayays)})", NULL);
  if (reply != NULL)
    dict = g_variant_get_child_value(reply, 0);
  for (guint i = from; i < from + n; i++) {
    ImportItem *item = items->pdata[i];
    g_autoptr(GVariant) secret = NULL;
    g_autoptr(GError) local = NULL;
    if (item->error != NULL)
      continue;
    if (dict != NULL)
      secret = g_variant_lookup_value(dict, paths->pdata[i], G_VARIANT_TYPE("(oayays)"));
    if (secret == NULL) {
      g_autoptr(GVariant) one = call(client, paths->pdata[i], IFACE_ITEM, "GetSecret",
                                     g_variant_new("(o)", client->session), "((oayays))", &local);
      if (one != NULL)
        secret = g_variant_get_child_value(one, 0);
    }
    if (secret == NULL) {
      item->error = g_strdup_printf("the provider did not give its secret: %s",
                                    local != NULL ? local->message : "no reason given");
      continue;
    }
    if (!decode_secret(client, secret, item, &local))
      item->error = g_strdup(local->message);
  }
}

static void
read_collection_items(Client *client, ImportCollection *collection, GVariant *props, ImportProgress *progress)
{
  g_autoptr(GVariant) item_paths = g_variant_lookup_value(props, "Items", G_VARIANT_TYPE("ao"));
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
  GVariantIter iter;
  const char *path;

  if (item_paths == NULL)
    return;
  g_variant_iter_init(&iter, item_paths);
  while (g_variant_iter_next(&iter, "&o", &path)) {
    ImportItem *item = read_item_meta(client, path);
    if (collection->error != NULL && item->error == NULL)
      item->error = g_strdup(collection->error);
    g_ptr_array_add(paths, g_strdup(path));
    g_ptr_array_add(collection->items, item);
  }
  for (guint i = 0; i < paths->len; i += SECRETS_BATCH) {
    guint n = MIN(SECRETS_BATCH, paths->len - i);
    if (collection->error == NULL)
      read_secrets(client, paths, collection->items, i, n);
    import_progress_step(progress, n);
  }
}

static gboolean
is_session_collection(const char *path)
{
  /* gnome-keyring's in-memory collection: gone at logout by design. */
  return g_str_has_suffix(path, "/collection/session");
}

static char *
read_default_alias(Client *client)
{
  g_autoptr(GVariant) reply =
      call(client, SECRETS_PATH, IFACE_SERVICE, "ReadAlias", g_variant_new("(s)", "default"), "(o)", NULL);
  char *path = NULL;
  if (reply != NULL)
    g_variant_get(reply, "(o)", &path);
  return path;
}

static guint
count_items(GVariant *props)
{
  g_autoptr(GVariant) items = g_variant_lookup_value(props, "Items", G_VARIANT_TYPE("ao"));
  return items != NULL ? (guint)g_variant_n_children(items) : 0;
}

static gboolean
read_everything(Client *client, ImportSource *source, const ServiceReadOptions *options, GError **error)
{
  g_autoptr(GVariant) service_props = get_all(client, SECRETS_PATH, IFACE_SERVICE, error);
  g_autoptr(GVariant) collections = NULL;
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) props = g_ptr_array_new_with_free_func((GDestroyNotify)g_variant_unref);
  g_autoptr(GPtrArray) locked = g_ptr_array_new();
  g_autofree char *default_path = NULL;
  g_autofree char *unlock_failure = NULL;
  GVariantIter iter;
  const char *path;
  guint total = 0;

  if (service_props == NULL)
    return FALSE;
  collections = g_variant_lookup_value(service_props, "Collections", G_VARIANT_TYPE("ao"));
  if (collections == NULL) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the provider lists no Collections property");
    return FALSE;
  }
  default_path = read_default_alias(client);
  g_variant_iter_init(&iter, collections);
  while (g_variant_iter_next(&iter, "&o", &path)) {
    g_autoptr(GError) local = NULL;
    GVariant *p;
    if (is_session_collection(path))
      continue;
    p = get_all(client, path, IFACE_COLLECTION, &local);
    if (p == NULL) {
      g_autoptr(ImportCollection) failed = import_collection_new(path);
      failed->error = g_strdup_printf("cannot read the collection: %s", local->message);
      g_ptr_array_add(source->collections, g_steal_pointer(&failed));
      continue;
    }
    g_ptr_array_add(paths, g_strdup(path));
    g_ptr_array_add(props, p);
    if (lookup_locked(p))
      g_ptr_array_add(locked, paths->pdata[paths->len - 1]);
  }
  if (locked->len > 0)
    unlock_failure = unlock(client, locked, options->prompt_timeout_s);

  for (guint i = 0; i < paths->len; i++)
    total += count_items(props->pdata[i]);
  import_progress_start(options->progress, "reading", total);
  for (guint i = 0; i < paths->len; i++) {
    g_autoptr(GVariant) fresh = get_all(client, paths->pdata[i], IFACE_COLLECTION, NULL);
    GVariant *p = fresh != NULL ? fresh : props->pdata[i];
    ImportCollection *collection;
    g_autofree char *label = NULL;

    if (!g_variant_lookup(p, "Label", "s", &label))
      label = g_strdup("");
    collection = import_collection_new(label);
    collection->is_login = g_strcmp0(paths->pdata[i], default_path) == 0;
    collection->created = lookup_u64(p, "Created");
    collection->modified = lookup_u64(p, "Modified");
    if (lookup_locked(p))
      collection->error = g_strdup_printf("the collection stays locked (%s)",
                                          unlock_failure ? unlock_failure : "the provider did not unlock it");
    g_ptr_array_add(source->collections, collection);
    read_collection_items(client, collection, p, options->progress);
  }
  import_progress_end(options->progress);
  return TRUE;
}

ImportSource *
service_read(GDBusConnection *bus, const ServiceReadOptions *options, GError **error)
{
  Client client = { bus, NULL, NULL, NULL };
  g_autofree char *description = NULL;
  g_autoptr(ImportSource) source = NULL;
  gboolean ok;

  if (!find_provider(&client, &description, error) || !open_session(&client, error)) {
    client_clear(&client);
    return NULL;
  }
  source = import_source_new(description);
  ok = read_everything(&client, source, options, error);
  client_clear(&client);
  return ok ? g_steal_pointer(&source) : NULL;
}
