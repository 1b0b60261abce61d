/* coffer — cofferd's control socket server.
 *
 * One connection = a sequence of request/response exchanges.  Every step is
 * asynchronous and bounded by a timeout: a client that connects and goes
 * quiet is dropped, never waited for.  Password fields are copied out of the
 * receive buffer into sodium_malloc() memory, the buffer is wiped at once,
 * and the copies are freed (wiped) as soon as the vault call returns. */
#include "config.h"
#include "control/control-server.h"
#include "control/control-reply.h"
#include "control/control-access.h"
#include "control/control-sync.h"
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 5000
/* The socket is private to one uid; this only stops a buggy client of ours
 * from eating every fd of the agent. */
#define MAX_CONNECTIONS 32

/* A login password that failed to open the vault after an administrator
 * reset it (the LOGIN request found COFFER_LOGIN_RESET_MARKER).  The next
 * UNLOCK that succeeds re-wraps the key slot to it.  Reference-counted so a
 * job still running when the server goes away holds its own reference. */
typedef struct {
  gint refs;
  char *password; /* sodium_malloc(); NULL while nothing waits */
  gsize len;
} PendingRekey;

struct _CofferControlServer {
  CofferVault *vault;
  char *socket_path;
  dev_t socket_dev;
  ino_t socket_ino;
  GSocketService *service;
  GList *connections; /* Conn*, each owned by its own pending operation */
  guint timeout_ms;
  PendingRekey *rekey;    /* shared with LOGIN jobs and UNLOCKs in flight */
  CofferSyncEngine *sync; /* not owned; NULL without sync */
};

typedef struct {
  CofferControlServer *server; /* NULL once the server is freed */
  CofferVault *vault;
  GSocketConnection *connection;
  GCancellable *cancellable;
  guint timeout_id;
  guint8 header[COFFER_CONTROL_HEADER_BYTES];
  guint8 *body; /* sodium_malloc(); may hold passwords */
  gsize body_len;
  GBytes *reply;
  gboolean close_after_reply;
  PendingRekey *rekey; /* set while an UNLOCK may re-key (see PendingRekey) */
  char *old_password;  /* sodium_malloc(): that UNLOCK's password, until the re-key starts */
  gsize old_len;
} Conn;

/* ---- pending re-key ------------------------------------------------------ */

static PendingRekey *
rekey_ref(PendingRekey *r)
{
  g_atomic_int_inc(&r->refs);
  return r;
}

static void
rekey_clear(PendingRekey *r)
{
  g_clear_pointer(&r->password, sodium_free);
  r->len = 0;
}

static void
rekey_unref(PendingRekey *r)
{
  if (r != NULL && g_atomic_int_dec_and_test(&r->refs)) {
    rekey_clear(r);
    g_free(r);
  }
}

/* Takes ownership of password (sodium memory). */
static void
rekey_set(PendingRekey *r, char *password, gsize len)
{
  rekey_clear(r);
  r->password = password;
  r->len = len;
}

/* The marker lives beside the store; NULL if the vault cannot say where. */
static char *
marker_path(CofferVault *vault)
{
  CofferVaultStatus st = { 0 };
  if (!coffer_vault_get_status(vault, &st, NULL) || st.store_path == NULL)
    return NULL;
  g_autofree char *dir = g_path_get_dirname(st.store_path);
  return g_build_filename(dir, COFFER_LOGIN_RESET_MARKER, NULL);
}

static gboolean
marker_exists(CofferVault *vault)
{
  g_autofree char *path = marker_path(vault);
  struct stat st;
  return path != NULL && lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void
marker_remove(CofferVault *vault)
{
  g_autofree char *path = marker_path(vault);
  if (path != NULL && unlink(path) == 0)
    g_message("control: the vault follows the new login password again");
}

/* ---- connection lifecycle ------------------------------------------------ */

static void
conn_free_body(Conn *c)
{
  g_clear_pointer(&c->body, sodium_free); /* sodium_free wipes */
  c->body_len = 0;
}

static void
conn_close(Conn *c)
{
  g_clear_handle_id(&c->timeout_id, g_source_remove);
  conn_free_body(c);
  g_clear_pointer(&c->old_password, sodium_free);
  g_clear_pointer(&c->rekey, rekey_unref);
  g_clear_pointer(&c->reply, g_bytes_unref);
  if (c->server != NULL)
    c->server->connections = g_list_remove(c->server->connections, c);
  g_io_stream_close(G_IO_STREAM(c->connection), NULL, NULL);
  g_object_unref(c->connection);
  g_object_unref(c->cancellable);
  g_object_unref(c->vault);
  g_free(c);
}

static gboolean
on_timeout(gpointer user_data)
{
  Conn *c = user_data;
  c->timeout_id = 0;
  g_debug("control: client timed out");
  /* The pending read or write completes with G_IO_ERROR_CANCELLED and its
   * callback closes the connection. */
  g_cancellable_cancel(c->cancellable);
  return G_SOURCE_REMOVE;
}

static void
arm_timeout(Conn *c)
{
  g_clear_handle_id(&c->timeout_id, g_source_remove);
  guint ms = c->server != NULL ? c->server->timeout_ms : DEFAULT_TIMEOUT_MS;
  c->timeout_id = g_timeout_add(ms, on_timeout, c);
}

/* ---- replies ------------------------------------------------------------- */

guint32
coffer_control_error_from_gerror(const GError *error)
{
  if (error->domain != COFFER_VAULT_ERROR)
    return COFFER_CONTROL_ERR_INTERNAL;
  switch ((CofferVaultError)error->code) {
  case COFFER_VAULT_ERROR_NOT_INITIALIZED:
    return COFFER_CONTROL_ERR_NOT_INITIALIZED;
  case COFFER_VAULT_ERROR_ALREADY_INITIALIZED:
    return COFFER_CONTROL_ERR_ALREADY_INITIALIZED;
  case COFFER_VAULT_ERROR_BAD_PASSWORD:
    return COFFER_CONTROL_ERR_BAD_PASSWORD;
  case COFFER_VAULT_ERROR_LOCKED:
    return COFFER_CONTROL_ERR_LOCKED;
  case COFFER_VAULT_ERROR_INVALID:
    return COFFER_CONTROL_ERR_INVALID;
  case COFFER_VAULT_ERROR_NOT_FOUND:
  case COFFER_VAULT_ERROR_CORRUPT:
  case COFFER_VAULT_ERROR_STORAGE:
    return COFFER_CONTROL_ERR_INTERNAL;
  }
  return COFFER_CONTROL_ERR_INTERNAL;
}

static GBytes *
reply_from_result(gboolean ok, const GError *error)
{
  if (ok)
    return coffer_control_reply_ok(NULL);
  return coffer_control_reply_error(coffer_control_error_from_gerror(error), error->message);
}

/* ---- request handlers ---------------------------------------------------- */

/* A password copied into sodium memory, NUL-terminated for convenience. */
typedef struct {
  char *data;
  gsize len;
} Secret;

static gboolean
secret_copy(Secret *s, const CofferControlBytes *field)
{
  s->len = field->len;
  s->data = sodium_malloc(field->len + 1);
  if (s->data == NULL)
    return FALSE;
  memcpy(s->data, field->data, field->len);
  s->data[field->len] = '\0';
  return TRUE;
}

static void
secret_clear(Secret *s)
{
  g_clear_pointer(&s->data, sodium_free);
  s->len = 0;
}

static GBytes *
handle_status(CofferVault *vault, CofferSyncEngine *sync)
{
  CofferVaultStatus st = { 0 };
  g_autoptr(GError) error = NULL;
  if (!coffer_vault_get_status(vault, &st, &error))
    return reply_from_result(FALSE, error);

  CofferControlBuilder b;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_u8(&b, COFFER_FIELD_INITIALIZED, st.initialized ? 1 : 0);
  coffer_control_builder_add_u8(&b, COFFER_FIELD_LOCKED, st.locked ? 1 : 0);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_COLLECTIONS, st.collections);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_ITEMS, st.items);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_STORE_BYTES, st.store_bytes);
  if (st.store_path != NULL)
    coffer_control_builder_add_string(&b, COFFER_FIELD_STORE_PATH, st.store_path);
  coffer_control_builder_add_string(&b, COFFER_FIELD_AGENT_VERSION, COFFER_VERSION);
  coffer_control_sync_add_status(sync, &b);
  GBytes *bytes = coffer_control_reply_finish(&b);
  return bytes != NULL ? bytes : coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "status does not fit");
}

static GBytes *
handle_lock(CofferVault *vault)
{
  if (!coffer_vault_is_initialized(vault))
    return coffer_control_reply_error(COFFER_CONTROL_ERR_NOT_INITIALIZED, "no vault yet");
  coffer_vault_lock(vault);
  return coffer_control_reply_ok(NULL);
}

static void finish_request(Conn *c, GBytes *reply);

/* ---- LOGIN ------------------------------------------------------------------
 * The PAM module's request: the password the user just logged in with.  It
 * unlocks the vault, or creates it when there is none and CREATE says so.
 * When it does not open the vault and COFFER_LOGIN_RESET_MARKER says an
 * administrator reset the login password, it is kept: the next UNLOCK with
 * the old password re-wraps the key slot to it (docs/pam.md).  `cofferd
 * --password-fd` goes through the same code. */

typedef struct {
  CofferVault *vault;
  PendingRekey *rekey;
  Secret password;
  char *message;
} LoginJob;

static void
login_job_free(gpointer data)
{
  LoginJob *job = data;
  g_object_unref(job->vault);
  rekey_unref(job->rekey);
  secret_clear(&job->password);
  g_free(job->message);
  g_free(job);
}

/* Consumes the task reference and message. */
static void
login_return(GTask *task, guint32 code, char *message)
{
  LoginJob *job = g_task_get_task_data(task);
  job->message = message;
  g_task_return_int(task, code);
  g_object_unref(task);
}

static void
on_login_unlocked(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  LoginJob *job = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (coffer_vault_kdf_finish(job->vault, result, &error)) {
    /* The login password opens the vault: any earlier reset is settled. */
    rekey_clear(job->rekey);
    marker_remove(job->vault);
    login_return(task, 0, NULL);
    return;
  }
  if (g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD) && marker_exists(job->vault)) {
    rekey_set(job->rekey, g_steal_pointer(&job->password.data), job->password.len);
    login_return(task, COFFER_CONTROL_ERR_BAD_PASSWORD,
                 g_strdup("the login password was reset; unlock once with the previous password "
                          "(`coffer unlock`) and the vault follows the new one"));
    return;
  }
  login_return(task, coffer_control_error_from_gerror(error), g_strdup(error->message));
}

void
coffer_control_server_login_async(CofferControlServer *server, const char *password, gsize len, gboolean create,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(NULL, NULL, callback, user_data);
  LoginJob *job = g_new0(LoginJob, 1);
  CofferControlBytes field = { (const uint8_t *)password, len };
  g_autoptr(GError) error = NULL;

  job->vault = g_object_ref(server->vault);
  job->rekey = rekey_ref(server->rekey);
  g_task_set_task_data(task, job, login_job_free);
  if (!secret_copy(&job->password, &field)) {
    login_return(task, COFFER_CONTROL_ERR_INTERNAL, g_strdup("out of secure memory"));
    return;
  }
  if (coffer_vault_is_initialized(job->vault)) {
    coffer_vault_unlock_async(job->vault, job->password.data, job->password.len, on_login_unlocked, task);
    return;
  }
  if (!create) {
    login_return(task, COFFER_CONTROL_ERR_NOT_INITIALIZED, g_strdup("no vault yet"));
    return;
  }
  /* As for INIT, the one Argon2id of a new vault runs on the main loop. */
  if (!coffer_vault_initialize(job->vault, job->password.data, job->password.len, &error)) {
    login_return(task, coffer_control_error_from_gerror(error), g_strdup(error->message));
    return;
  }
  marker_remove(job->vault);
  login_return(task, 0, g_strdup("created a new vault with the login password"));
}

guint32
coffer_control_server_login_finish(GAsyncResult *result, char **message)
{
  LoginJob *job = g_task_get_task_data(G_TASK(result));
  if (message != NULL)
    *message = g_strdup(job->message);
  return (guint32)g_task_propagate_int(G_TASK(result), NULL);
}

static void
on_login_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autofree char *message = NULL;
  guint32 code = coffer_control_server_login_finish(result, &message);

  finish_request(c, code == 0 ? coffer_control_reply_ok(message) : coffer_control_reply_error(code, message));
}

/* ---- UNLOCK that settles a reset login password -------------------------- */

static void
on_rekeyed(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autoptr(GError) error = NULL;

  if (!coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error)) {
    g_autofree char *text =
        g_strdup_printf("unlocked, but re-keying to the new login password failed: %s", error->message);
    g_message("control: %s", text);
    finish_request(c, coffer_control_reply_ok(text));
    return;
  }
  rekey_clear(c->rekey);
  marker_remove(c->vault);
  finish_request(c, coffer_control_reply_ok("unlocked; the vault now opens with the new login password"));
}

static void
on_unlock_then_rekey(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error);

  if (!ok || c->rekey->password == NULL) {
    g_clear_pointer(&c->old_password, sodium_free);
    finish_request(c, reply_from_result(ok, error));
    return;
  }
  coffer_vault_change_password_async(c->vault, c->old_password, c->old_len, c->rekey->password, c->rekey->len,
                                     on_rekeyed, c);
  g_clear_pointer(&c->old_password, sodium_free); /* the vault took its own copies */
}

/* An UNLOCK while a reset login password waits: keep this password until
 * the unlock proves it, then re-wrap the slot from it to the login one. */
static void
unlock_and_rekey(Conn *c, const Secret *pw)
{
  c->rekey = rekey_ref(c->server->rekey);
  c->old_password = sodium_malloc(pw->len + 1);
  if (c->old_password == NULL) {
    finish_request(c, coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "out of secure memory"));
    return;
  }
  memcpy(c->old_password, pw->data, pw->len + 1);
  c->old_len = pw->len;
  coffer_vault_unlock_async(c->vault, pw->data, pw->len, on_unlock_then_rekey, c);
}

static void
on_kdf_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok = coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error);

  if (!ok)
    g_debug("control: request failed: %s", error->message);
  finish_request(c, reply_from_result(ok, error));
}

/* INIT, UNLOCK, LOGIN and PASSWD.  The caller has already wiped the body the
 * secrets were copied from, and wipes pw/new_pw when this returns (the vault
 * keeps its own copies).  UNLOCK and PASSWD derive keys in a worker thread:
 * they return NULL and reply later. */
static GBytes *
handle_password_request(Conn *c, guint8 type, const Secret *pw, const Secret *new_pw, gboolean create)
{
  g_autoptr(GError) error = NULL;
  gboolean ok;

  switch (type) {
  case COFFER_CONTROL_INIT:
    ok = coffer_vault_initialize(c->vault, pw->data, pw->len, &error);
    return reply_from_result(ok, error);
  case COFFER_CONTROL_UNLOCK:
    if (c->server != NULL && c->server->rekey->password != NULL) {
      unlock_and_rekey(c, pw);
      return NULL;
    }
    coffer_vault_unlock_async(c->vault, pw->data, pw->len, on_kdf_done, c);
    return NULL;
  case COFFER_CONTROL_LOGIN:
    if (c->server == NULL)
      return coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "the agent is shutting down");
    coffer_control_server_login_async(c->server, pw->data, pw->len, create, on_login_done, c);
    return NULL;
  case COFFER_CONTROL_PASSWD:
    coffer_vault_change_password_async(c->vault, pw->data, pw->len, new_pw->data, new_pw->len, on_kdf_done, c);
    return NULL;
  default:
    return coffer_control_reply_error(COFFER_CONTROL_ERR_PROTOCOL, "not a password request");
  }
}

/* Takes the parsed request (pointing into c->body), frees the body before
 * any slow work, and returns the reply, or NULL when the reply comes later
 * through finish_request(). */
static void
on_sync_reply(GBytes *reply, gpointer user_data)
{
  finish_request(user_data, reply);
}

/* The sync requests (control-sync.c): copy the fields, wipe the body, run. */
static GBytes *
dispatch_sync(Conn *c, const CofferControlMessage *msg)
{
  CofferControlSyncRequest *request = coffer_control_sync_request_new(msg);
  conn_free_body(c);
  if (request == NULL)
    return coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "out of secure memory");
  CofferSyncEngine *sync = c->server != NULL ? c->server->sync : NULL;
  return coffer_control_sync_run(sync, c->vault, request, on_sync_reply, c);
}

static GBytes *
dispatch(Conn *c, const CofferControlMessage *msg)
{
  Secret pw = { 0 }, new_pw = { 0 };
  guint8 type = msg->type;
  gboolean create = msg->create != 0;
  gboolean copied = TRUE;

  if (coffer_control_sync_handles(type))
    return dispatch_sync(c, msg);
  if (coffer_control_access_handles(type)) {
    GBytes *reply = coffer_control_access_run(c->vault, msg);
    conn_free_body(c);
    return reply;
  }
  if (coffer_control_has(msg, COFFER_FIELD_PASSWORD))
    copied = secret_copy(&pw, &msg->password);
  if (copied && coffer_control_has(msg, COFFER_FIELD_NEW_PASSWORD))
    copied = secret_copy(&new_pw, &msg->new_password);
  conn_free_body(c); /* msg's pointers are dangling from here on */

  GBytes *reply;
  if (!copied) {
    reply = coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "out of secure memory");
  } else {
    switch (type) {
    case COFFER_CONTROL_INIT:
    case COFFER_CONTROL_UNLOCK:
    case COFFER_CONTROL_LOGIN:
    case COFFER_CONTROL_PASSWD:
      reply = handle_password_request(c, type, &pw, &new_pw, create);
      break;
    case COFFER_CONTROL_LOCK:
      reply = handle_lock(c->vault);
      break;
    case COFFER_CONTROL_STATUS:
      reply = handle_status(c->vault, c->server != NULL ? c->server->sync : NULL);
      break;
    default:
      /* OK/ERROR parse fine but are responses, not requests. */
      reply = coffer_control_reply_error(COFFER_CONTROL_ERR_PROTOCOL, "not a request");
      c->close_after_reply = TRUE;
      break;
    }
  }
  secret_clear(&pw);
  secret_clear(&new_pw);
  return reply;
}

/* ---- the read/dispatch/write cycle --------------------------------------- */

static void read_request(Conn *c);

static void
on_reply_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autoptr(GError) error = NULL;
  if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
    g_debug("control: writing reply failed: %s", error->message);
    conn_close(c);
    return;
  }
  g_clear_pointer(&c->reply, g_bytes_unref);
  if (c->close_after_reply || c->server == NULL) {
    conn_close(c);
    return;
  }
  read_request(c); /* the client may send another request */
}

static void
send_reply(Conn *c, GBytes *reply)
{
  if (reply == NULL) { /* only when even a bare error cannot be built: no memory */
    conn_close(c);
    return;
  }
  c->reply = reply;
  gsize len;
  const void *data = g_bytes_get_data(reply, &len);
  GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(c->connection));
  g_output_stream_write_all_async(out, data, len, G_PRIORITY_DEFAULT, c->cancellable, on_reply_written, c);
}

static void
on_body(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autoptr(GError) error = NULL;
  gsize got = 0;
  if (!g_input_stream_read_all_finish(G_INPUT_STREAM(source), result, &got, &error) || got != c->body_len) {
    g_debug("control: truncated request: %s", error ? error->message : "early end of stream");
    conn_close(c);
    return;
  }

  CofferControlMessage msg;
  int r = coffer_control_parse(c->body, c->body_len, &msg);
  if (r < 0) {
    conn_free_body(c);
    g_debug("control: malformed request: %s", g_strerror(-r));
    c->close_after_reply = TRUE;
    send_reply(c, coffer_control_reply_error(COFFER_CONTROL_ERR_PROTOCOL, r == -EPROTONOSUPPORT
                                                                              ? "unsupported protocol version"
                                                                              : "malformed request"));
    return;
  }
  /* No deadline while the vault works: the connection is owned by the
   * pending vault call until it replies. */
  g_clear_handle_id(&c->timeout_id, g_source_remove);
  GBytes *reply = dispatch(c, &msg);
  explicit_bzero(&msg, sizeof msg);
  if (reply != NULL)
    finish_request(c, reply);
}

/* Sends the reply under a fresh deadline of its own. */
static void
finish_request(Conn *c, GBytes *reply)
{
  arm_timeout(c);
  send_reply(c, reply);
}

static void
on_header(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Conn *c = user_data;
  g_autoptr(GError) error = NULL;
  gsize got = 0;
  if (!g_input_stream_read_all_finish(G_INPUT_STREAM(source), result, &got, &error) || got != sizeof c->header) {
    if (error != NULL || got != 0)
      g_debug("control: connection dropped: %s", error ? error->message : "short header");
    conn_close(c); /* got == 0 without error: the client is done */
    return;
  }

  size_t len;
  int r = coffer_control_frame_body_length(c->header, &len);
  if (r < 0) {
    /* Never read (or allocate for) an oversize body: answer and hang up. */
    c->close_after_reply = TRUE;
    send_reply(c, coffer_control_reply_error(COFFER_CONTROL_ERR_PROTOCOL,
                                             r == -EMSGSIZE ? "message too large" : "malformed request"));
    return;
  }
  c->body = sodium_malloc(len);
  if (c->body == NULL) {
    c->close_after_reply = TRUE;
    send_reply(c, coffer_control_reply_error(COFFER_CONTROL_ERR_INTERNAL, "out of secure memory"));
    return;
  }
  c->body_len = len;
  g_input_stream_read_all_async(G_INPUT_STREAM(source), c->body, len, G_PRIORITY_DEFAULT, c->cancellable, on_body, c);
}

static void
read_request(Conn *c)
{
  arm_timeout(c);
  GInputStream *in = g_io_stream_get_input_stream(G_IO_STREAM(c->connection));
  g_input_stream_read_all_async(in, c->header, sizeof c->header, G_PRIORITY_DEFAULT, c->cancellable, on_header, c);
}

/* ---- accepting ----------------------------------------------------------- */

static gboolean
peer_is_us(GSocketConnection *connection)
{
  g_autoptr(GError) error = NULL;
  GSocket *socket = g_socket_connection_get_socket(connection);
  g_autoptr(GCredentials) creds = g_socket_get_credentials(socket, &error);
  if (creds == NULL) {
    g_message("control: cannot read peer credentials: %s", error->message);
    return FALSE;
  }
  uid_t uid = g_credentials_get_unix_user(creds, &error);
  if (uid == (uid_t)-1) {
    g_message("control: cannot read peer uid: %s", error->message);
    return FALSE;
  }
  if (uid != getuid()) {
    g_message("control: refusing a connection from uid %u", (guint)uid);
    return FALSE;
  }
  return TRUE;
}

static gboolean
on_incoming(GSocketService *service, GSocketConnection *connection, GObject *source_object, gpointer user_data)
{
  CofferControlServer *server = user_data;
  if (!peer_is_us(connection)) {
    g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
    return TRUE;
  }
  if (g_list_length(server->connections) >= MAX_CONNECTIONS) {
    g_message("control: too many connections, dropping one");
    g_io_stream_close(G_IO_STREAM(connection), NULL, NULL);
    return TRUE;
  }
  Conn *c = g_new0(Conn, 1);
  c->server = server;
  c->vault = g_object_ref(server->vault);
  c->connection = g_object_ref(connection);
  c->cancellable = g_cancellable_new();
  server->connections = g_list_prepend(server->connections, c);
  read_request(c);
  return TRUE;
}

/* ---- socket setup -------------------------------------------------------- */

/* The directory must be a real directory, ours, mode 0700: whoever can write
 * there could replace our socket with theirs. */
static gboolean
prepare_directory(const char *dir, GError **error)
{
  gboolean created = mkdir(dir, 0700) == 0;
  if (!created && errno != EEXIST) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "Cannot create %s: %s", dir, g_strerror(e));
    return FALSE;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, "Refusing %s: not a directory or a symlink (%s)", dir,
                g_strerror(e));
    return FALSE;
  }
  struct stat st;
  gboolean ok = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == getuid();
  /* A directory we just made may carry the umask; fix it, never someone's. */
  if (ok && created && (st.st_mode & 07777) != 0700 && fchmod(fd, 0700) == 0)
    st.st_mode = 0700;
  close(fd);
  if (!ok || (st.st_mode & 07777) != 0700) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                "Refusing %s: it must be owned by uid %u with mode 0700", dir, (guint)getuid());
    return FALSE;
  }
  return TRUE;
}

/* A socket left by a crashed agent is removed; a live agent's never is, and
 * nothing that is not our socket is ever deleted. */
static gboolean
remove_stale_socket(const char *path, GError **error)
{
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT)
      return TRUE;
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "Cannot inspect %s: %s", path, g_strerror(e));
    return FALSE;
  }
  if (!S_ISSOCK(st.st_mode) || st.st_uid != getuid()) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS, "Refusing to replace %s: it is not a socket owned by uid %u",
                path, (guint)getuid());
    return FALSE;
  }
  int fd = coffer_control_connect(path, getuid(), 1000);
  if (fd >= 0 || fd == -ETIMEDOUT) {
    if (fd >= 0)
      close(fd);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE, "Another agent is already listening on %s", path);
    return FALSE;
  }
  if (fd != -ECONNREFUSED) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-fd), "Cannot probe %s: %s", path, g_strerror(-fd));
    return FALSE;
  }
  if (unlink(path) < 0 && errno != ENOENT) {
    int e = errno;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(e), "Cannot remove stale %s: %s", path, g_strerror(e));
    return FALSE;
  }
  g_debug("control: removed stale socket %s", path);
  return TRUE;
}

static GSocket *
bind_socket(CofferControlServer *server, GError **error)
{
  g_autoptr(GSocket) socket =
      g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (socket == NULL)
    return NULL;
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new(server->socket_path);

  /* umask decides the mode bind() gives the socket file: 0600 from birth,
   * with no window where another mode exists.  Done at start-up, before
   * any thread could create files of its own. */
  mode_t old_umask = umask(0177);
  gboolean bound = g_socket_bind(socket, address, FALSE, error);
  umask(old_umask);
  if (!bound)
    return NULL;

  struct stat st;
  if (lstat(server->socket_path, &st) < 0 || (st.st_mode & 0777) != 0600) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Socket %s did not get mode 0600", server->socket_path);
    unlink(server->socket_path);
    return NULL;
  }
  server->socket_dev = st.st_dev;
  server->socket_ino = st.st_ino;
  if (!g_socket_listen(socket, error)) {
    unlink(server->socket_path);
    return NULL;
  }
  return g_steal_pointer(&socket);
}

CofferControlServer *
coffer_control_server_new(CofferVault *vault, const char *socket_path, GError **error)
{
  g_return_val_if_fail(COFFER_IS_VAULT(vault), NULL);
  g_return_val_if_fail(socket_path != NULL && socket_path[0] == '/', NULL);
  if (sodium_init() < 0) { /* idempotent; sodium_malloc() needs it */
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "libsodium failed to initialise");
    return NULL;
  }

  g_autoptr(CofferControlServer) server = g_new0(CofferControlServer, 1);
  server->vault = g_object_ref(vault);
  server->socket_path = g_strdup(socket_path);
  server->timeout_ms = DEFAULT_TIMEOUT_MS;
  server->rekey = g_new0(PendingRekey, 1);
  server->rekey->refs = 1;

  g_autofree char *dir = g_path_get_dirname(socket_path);
  if (!prepare_directory(dir, error) || !remove_stale_socket(socket_path, error))
    return NULL;
  g_autoptr(GSocket) socket = bind_socket(server, error);
  if (socket == NULL)
    return NULL;

  server->service = g_socket_service_new();
  if (!g_socket_listener_add_socket(G_SOCKET_LISTENER(server->service), socket, NULL, error))
    return NULL; /* free() unlinks the socket */
  g_signal_connect(server->service, "incoming", G_CALLBACK(on_incoming), server);
  g_socket_service_start(server->service);
  g_debug("control: listening on %s", socket_path);
  return g_steal_pointer(&server);
}

void
coffer_control_server_set_sync_engine(CofferControlServer *server, CofferSyncEngine *engine)
{
  server->sync = engine;
}

void
coffer_control_server_set_timeout(CofferControlServer *server, guint timeout_ms)
{
  server->timeout_ms = MAX(timeout_ms, 1);
}

void
coffer_control_server_free(CofferControlServer *server)
{
  if (server == NULL)
    return;
  if (server->service != NULL) {
    g_signal_handlers_disconnect_by_data(server->service, server);
    g_socket_service_stop(server->service);
    g_socket_listener_close(G_SOCKET_LISTENER(server->service));
    g_clear_object(&server->service);
  }
  /* Connections finish on their own: each one's pending operation completes
   * as cancelled and frees it. */
  for (GList *l = server->connections; l != NULL; l = l->next) {
    Conn *c = l->data;
    c->server = NULL;
    g_cancellable_cancel(c->cancellable);
  }
  g_list_free(server->connections);

  /* Remove the socket only if it is still ours: a newer agent may have
   * replaced it already. */
  struct stat st;
  if (server->socket_ino != 0 && lstat(server->socket_path, &st) == 0 && st.st_dev == server->socket_dev &&
      st.st_ino == server->socket_ino)
    unlink(server->socket_path);
  g_free(server->socket_path);
  g_clear_pointer(&server->rekey, rekey_unref);
  g_clear_object(&server->vault);
  g_free(server);
}
