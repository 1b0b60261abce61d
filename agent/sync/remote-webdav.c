/* coffer — the WebDAV remote, over libcurl.
 *
 * One easy handle per remote, so the connection (and its TLS session) is
 * reused between requests; HTTP/2 when the server offers it over TLS.
 * Proxies come from the environment (libcurl's default: http_proxy,
 * https_proxy, no_proxy).  Every request is bounded twice: by
 * CURLOPT_TIMEOUT and by the size of the answer we accept.
 *
 * Stock Apache mod_dav has two habits the code below works around:
 *   - a PUT answer carries no ETag, so put() learns the new one with a GET
 *     and keeps it only if the bytes are the ones it wrote (a HEAD could
 *     return a version another device wrote in between, and a later
 *     If-Match would then overwrite that version unseen);
 *   - for one second after a write it reports a weak ETag, and a weak ETag
 *     never satisfies If-Match; put()/delete() that get a 412 check with a
 *     HEAD whether the object is still exactly the version asked for, only
 *     weak, and if so wait out the second and try once more.
 */
#include "config.h"

#include <curl/curl.h>
#include <sodium.h>
#include <string.h>

#include "sync/multistatus.h"
#include "sync/remote-backend.h"

#define CONNECT_TIMEOUT_S 10L
#define SMALL_ANSWER_MAX (1024u * 1024)               /* bodies of PUT/DELETE/MKCOL/HEAD answers */
#define WEAK_WINDOW_US (1100 * G_USEC_PER_SEC / 1000) /* Apache's one second, and a margin */

static const char propfind_body[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                                    "<D:propfind xmlns:D=\"DAV:\"><D:prop>"
                                    "<D:resourcetype/><D:getetag/><D:getcontentlength/>"
                                    "</D:prop></D:propfind>\n";

typedef struct {
  CofferRemote base;
  CURL *curl;
  char *base_url;  /* ends in "/" */
  char *base_path; /* its path, as sent (percent-encoded), ends in "/" */
  char *user;      /* not a secret; NULL for no auth */
  char *password;  /* sodium_malloc()ed */
} Webdav;

/* ---- one request ----------------------------------------------------------------- */

typedef struct {
  const char *method; /* GET, HEAD, PUT, DELETE, PROPFIND, MKCOL */
  const char *name;   /* for messages */
  char *url;
  struct curl_slist *headers;
  GBytes *upload; /* PUT body */
  gsize max_answer;
} Request;

typedef struct {
  long status;
  GByteArray *body;
  char *etag; /* raw ETag header of the final response */
  gboolean too_large;
  gsize max;
  /* upload cursor */
  const guint8 *upload;
  gsize upload_len, upload_pos;
  /* bytes on the wire (headers included), for the stats */
  guint64 sent, received;
} Exchange;

static void
request_clear(Request *request)
{
  g_free(request->url);
  curl_slist_free_all(request->headers);
}

static void
exchange_clear(Exchange *ex)
{
  if (ex->body != NULL)
    g_byte_array_unref(ex->body);
  g_free(ex->etag);
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *user_data)
{
  Exchange *ex = user_data;
  gsize len = size * nmemb;

  if (len > ex->max - MIN(ex->max, ex->body->len)) {
    ex->too_large = TRUE;
    return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
  }
  g_byte_array_append(ex->body, (const guint8 *)data, (guint)len);
  return len;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *user_data)
{
  Exchange *ex = user_data;
  gsize len = size * nmemb;

  /* A new status line starts a new response (after a 100 Continue, say):
   * only the final response's ETag counts. */
  if (len >= 5 && g_ascii_strncasecmp(data, "HTTP/", 5) == 0)
    g_clear_pointer(&ex->etag, g_free);
  else if (len > 5 && len < 5 + 2 * COFFER_REMOTE_MAX_ETAG && g_ascii_strncasecmp(data, "etag:", 5) == 0) {
    g_free(ex->etag);
    ex->etag = g_strstrip(g_strndup(data + 5, len - 5));
  }
  return len;
}

static size_t
on_read(char *buffer, size_t size, size_t nitems, void *user_data)
{
  Exchange *ex = user_data;
  gsize n = MIN(size * nitems, ex->upload_len - ex->upload_pos);

  memcpy(buffer, ex->upload + ex->upload_pos, n);
  ex->upload_pos += n;
  return n;
}

static int
on_seek(void *user_data, curl_off_t offset, int origin)
{
  Exchange *ex = user_data;

  if (origin != SEEK_SET || offset < 0 || (guint64)offset > ex->upload_len)
    return CURL_SEEKFUNC_FAIL;
  ex->upload_pos = (gsize)offset;
  return CURL_SEEKFUNC_OK;
}

/* Counts what crosses the wire, headers included (never looks at the
 * contents: the request headers carry the credentials). */
static int
on_debug(CURL *handle, curl_infotype type, char *data, size_t size, void *user_data)
{
  Exchange *ex = user_data;

  if (type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT)
    ex->sent += size;
  else if (type == CURLINFO_HEADER_IN || type == CURLINFO_DATA_IN)
    ex->received += size;
  return 0;
}

static void
set_options(Webdav *dav, const Request *request, Exchange *ex, char *errbuf)
{
  CURL *c = dav->curl;
  guint timeout = dav->base.timeout_s;

  curl_easy_reset(c); /* keeps the connection cache */
  curl_easy_setopt(c, CURLOPT_URL, request->url);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, MIN(CONNECT_TIMEOUT_S, (long)timeout));
  curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)timeout);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "coffer/" COFFER_VERSION);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, request->headers);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)request->max_answer);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, ex);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, ex);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, ex);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
  if (dav->user != NULL) {
    /* libcurl keeps its own copy of the password for the transfer; it is
     * dropped again right after (see perform()). */
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, dav->user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, dav->password);
  }
  if (strcmp(request->method, "HEAD") == 0) {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (strcmp(request->method, "PUT") == 0) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, ex);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, ex);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)ex->upload_len);
  } else if (strcmp(request->method, "PROPFIND") == 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PROPFIND");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, propfind_body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(propfind_body));
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* listings compress well; the size cap applies decoded */
  } else if (strcmp(request->method, "GET") != 0) {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request->method);
  }
}

static CofferRemoteError
curl_code_error(CURLcode code)
{
  switch (code) {
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
  case CURLE_NOT_BUILT_IN:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    return COFFER_REMOTE_ERROR_CONFIG; /* retrying will not help: the user must act */
  case CURLE_LOGIN_DENIED:
    return COFFER_REMOTE_ERROR_AUTH;
  case CURLE_FILESIZE_EXCEEDED:
    return COFFER_REMOTE_ERROR_TOO_LARGE;
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_BAD_CONTENT_ENCODING:
  case CURLE_TOO_MANY_REDIRECTS:
    return COFFER_REMOTE_ERROR_PROTOCOL;
  default:
    return COFFER_REMOTE_ERROR_TRANSIENT; /* timeouts, refused connections, resets, truncation */
  }
}

/* Runs one request.  FALSE only when no HTTP status came back (network,
 * TLS, size cap); an HTTP error status is the caller's to interpret. */
static gboolean
perform(Webdav *dav, const Request *request, Exchange *ex, GError **error)
{
  char errbuf[CURL_ERROR_SIZE] = "";
  CURLcode code;

  ex->body = g_byte_array_new();
  ex->max = request->max_answer;
  if (request->upload != NULL)
    ex->upload = g_bytes_get_data(request->upload, &ex->upload_len);
  set_options(dav, request, ex, errbuf);
  code = curl_easy_perform(dav->curl);
  curl_easy_getinfo(dav->curl, CURLINFO_RESPONSE_CODE, &ex->status);
  if (dav->user != NULL)
    curl_easy_setopt(dav->curl, CURLOPT_PASSWORD, NULL);
  dav->base.stats.requests++;
  dav->base.stats.bytes_sent += ex->sent;
  dav->base.stats.bytes_received += ex->received;
  if (ex->too_large || code == CURLE_FILESIZE_EXCEEDED) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_TOO_LARGE, "%s %s: answer over %zu bytes",
                request->method, request->name, request->max_answer);
    return FALSE;
  }
  if (code != CURLE_OK) {
    g_set_error(error, COFFER_REMOTE_ERROR, curl_code_error(code), "%s %s: %s", request->method, request->name,
                errbuf[0] ? errbuf : curl_easy_strerror(code));
    return FALSE;
  }
  return TRUE;
}

/* Maps an HTTP status the operation did not expect. */
static gboolean
status_error(const Request *request, long status, GError **error)
{
  CofferRemoteError code;

  if (status == 401 || status == 403)
    code = COFFER_REMOTE_ERROR_AUTH;
  else if (status == 404 || status == 410 || status == 409) /* 409: the parent directory is missing */
    code = COFFER_REMOTE_ERROR_NOT_FOUND;
  else if (status == 412)
    code = COFFER_REMOTE_ERROR_PRECONDITION;
  else if (status == 413)
    code = COFFER_REMOTE_ERROR_TOO_LARGE;
  else if (status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599))
    code = COFFER_REMOTE_ERROR_TRANSIENT;
  else
    code = COFFER_REMOTE_ERROR_PROTOCOL;
  g_set_error(error, COFFER_REMOTE_ERROR, code, "%s %s: HTTP status %ld", request->method, request->name, status);
  return FALSE;
}

static void
request_init(Webdav *dav, Request *request, const char *method, const char *name, gboolean directory)
{
  memset(request, 0, sizeof *request);
  request->method = method;
  request->name = *name ? name : "/";
  request->url = g_strconcat(dav->base_url, name, directory && *name ? "/" : "", NULL);
  request->max_answer = SMALL_ANSWER_MAX;
  /* No "Expect: 100-continue": a round trip saved, and fewer proxies to confuse. */
  request->headers = curl_slist_append(NULL, "Expect:");
}

static void
add_header(Request *request, const char *field, const char *value)
{
  g_autofree char *line = g_strdup_printf("%s: %s", field, value);

  request->headers = curl_slist_append(request->headers, line);
}

/* The answer's ETag, normalised; FALSE if the server sent an unusable one. */
static gboolean
answer_etag(const Request *request, const Exchange *ex, char **etag, GError **error)
{
  *etag = NULL;
  if (ex->etag == NULL)
    return TRUE;
  *etag = coffer_remote_etag_normalise(ex->etag);
  if (*etag != NULL)
    return TRUE;
  g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PROTOCOL, "%s %s: unusable ETag", request->method,
              request->name);
  return FALSE;
}

/* ---- operations ------------------------------------------------------------------ */

static gboolean
webdav_get(CofferRemote *remote, const char *name, const char *if_none_match, GBytes **data, char **etag,
           gboolean *not_modified, GError **error)
{
  Webdav *dav = (Webdav *)remote;
  Request request;
  Exchange ex = { 0 };
  gboolean ok = FALSE;

  request_init(dav, &request, "GET", name, FALSE);
  request.max_answer = COFFER_REMOTE_MAX_OBJECT;
  if (if_none_match != NULL)
    add_header(&request, "If-None-Match", if_none_match);
  if (!perform(dav, &request, &ex, error))
    goto out;
  if (ex.status == 304 && if_none_match != NULL) {
    *not_modified = TRUE;
    ok = answer_etag(&request, &ex, etag, error);
    if (ok && *etag == NULL)
      *etag = g_strdup(if_none_match);
  } else if (ex.status == 200) {
    ok = answer_etag(&request, &ex, etag, error);
    if (ok)
      *data = g_byte_array_free_to_bytes(g_steal_pointer(&ex.body));
  } else {
    status_error(&request, ex.status, error);
  }
out:
  exchange_clear(&ex);
  request_clear(&request);
  return ok;
}

/* After a 412 on If-Match: is the object still that version, only marked
 * weak because it was written less than a second ago?  Then waiting helps. */
static gboolean
in_weak_window(Webdav *dav, const char *name, const char *if_match, gboolean *missing)
{
  Request request;
  Exchange ex = { 0 };
  g_autofree char *current = NULL;
  gboolean weak = FALSE;

  *missing = FALSE;
  request_init(dav, &request, "HEAD", name, FALSE);
  if (perform(dav, &request, &ex, NULL)) {
    *missing = ex.status == 404 || ex.status == 410;
    if (ex.status == 200 && ex.etag != NULL && g_str_has_prefix(ex.etag, "W/")) {
      current = coffer_remote_etag_normalise(ex.etag);
      weak = g_strcmp0(current, if_match) == 0;
    }
  }
  exchange_clear(&ex);
  request_clear(&request);
  return weak;
}

/* Apache's PUT answer has no ETag: fetch the object and take its ETag only if
 * it still holds our bytes.  NULL when that cannot be told. */
static char *
learn_etag(Webdav *dav, const char *name, GBytes *data)
{
  g_autoptr(GBytes) current = NULL;
  char *etag = NULL;
  gboolean not_modified;

  if (!webdav_get(&dav->base, name, NULL, &current, &etag, &not_modified, NULL))
    return NULL;
  if (!g_bytes_equal(current, data))
    g_clear_pointer(&etag, g_free);
  return etag;
}

static gboolean
put_once(Webdav *dav, const char *name, GBytes *data, const char *if_match, gboolean create_only, char **etag,
         long *status, GError **error)
{
  Request request;
  Exchange ex = { 0 };
  gboolean ok = FALSE;

  *status = 0;
  request_init(dav, &request, "PUT", name, FALSE);
  request.upload = data;
  add_header(&request, "Content-Type", "application/octet-stream");
  if (if_match != NULL)
    add_header(&request, "If-Match", if_match);
  if (create_only)
    add_header(&request, "If-None-Match", "*");
  if (perform(dav, &request, &ex, error)) {
    *status = ex.status;
    if (ex.status == 200 || ex.status == 201 || ex.status == 204)
      ok = answer_etag(&request, &ex, etag, error);
    else
      status_error(&request, ex.status, error);
  }
  exchange_clear(&ex);
  request_clear(&request);
  return ok;
}

static gboolean
webdav_put(CofferRemote *remote, const char *name, GBytes *data, const char *if_match, gboolean create_only,
           char **etag, GError **error)
{
  Webdav *dav = (Webdav *)remote;
  g_autoptr(GError) local = NULL;
  gboolean missing;
  long status;

  if (!put_once(dav, name, data, if_match, create_only, etag, &status, &local)) {
    if (status != 412 || if_match == NULL || !in_weak_window(dav, name, if_match, &missing)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    g_clear_error(&local);
    g_usleep(WEAK_WINDOW_US);
    if (!put_once(dav, name, data, if_match, create_only, etag, &status, error))
      return FALSE;
  }
  if (*etag == NULL)
    *etag = learn_etag(dav, name, data);
  return TRUE;
}

static gboolean
delete_once(Webdav *dav, const char *name, const char *if_match, long *status, GError **error)
{
  Request request;
  Exchange ex = { 0 };
  gboolean ok = FALSE;

  *status = 0;
  request_init(dav, &request, "DELETE", name, FALSE);
  if (if_match != NULL)
    add_header(&request, "If-Match", if_match);
  if (perform(dav, &request, &ex, error)) {
    *status = ex.status;
    /* A missing object is not an error: the goal is reached. */
    if (ex.status == 200 || ex.status == 204 || ex.status == 404 || ex.status == 410)
      ok = TRUE;
    else
      status_error(&request, ex.status, error);
  }
  exchange_clear(&ex);
  request_clear(&request);
  return ok;
}

static gboolean
webdav_delete(CofferRemote *remote, const char *name, const char *if_match, GError **error)
{
  Webdav *dav = (Webdav *)remote;
  g_autoptr(GError) local = NULL;
  gboolean missing = FALSE;
  long status;

  if (delete_once(dav, name, if_match, &status, &local))
    return TRUE;
  if (status != 412 || if_match == NULL || !in_weak_window(dav, name, if_match, &missing)) {
    if (missing)
      return TRUE; /* deleted meanwhile */
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  g_usleep(WEAK_WINDOW_US);
  return delete_once(dav, name, if_match, &status, error);
}

static GPtrArray *
webdav_list(CofferRemote *remote, const char *directory, GError **error)
{
  Webdav *dav = (Webdav *)remote;
  Request request;
  Exchange ex = { 0 };
  GPtrArray *entries = NULL;

  request_init(dav, &request, "PROPFIND", directory, TRUE);
  request.max_answer = COFFER_MULTISTATUS_MAX_BYTES;
  add_header(&request, "Depth", "1");
  add_header(&request, "Content-Type", "application/xml; charset=utf-8");
  if (!perform(dav, &request, &ex, error))
    goto out;
  if (ex.status == 207) {
    g_autofree char *path = g_strconcat(dav->base_path, directory, *directory ? "/" : "", NULL);
    entries = coffer_multistatus_list((const char *)ex.body->data, ex.body->len, path, error);
  } else if (ex.status == 404) {
    entries = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_remote_entry_free);
  } else {
    status_error(&request, ex.status, error);
  }
out:
  exchange_clear(&ex);
  request_clear(&request);
  return entries;
}

static gboolean
webdav_ensure_directory(CofferRemote *remote, const char *directory, GError **error)
{
  Webdav *dav = (Webdav *)remote;
  Request request;
  Exchange ex = { 0 };
  gboolean ok = FALSE;

  request_init(dav, &request, "MKCOL", directory, TRUE);
  if (perform(dav, &request, &ex, error)) {
    /* 405: something already exists there (RFC 4918 §9.3.1). */
    if (ex.status == 201 || ex.status == 200 || ex.status == 405)
      ok = TRUE;
    else
      status_error(&request, ex.status, error);
  }
  exchange_clear(&ex);
  request_clear(&request);
  return ok;
}

static void
webdav_free(CofferRemote *remote)
{
  Webdav *dav = (Webdav *)remote;

  if (dav->curl != NULL)
    curl_easy_cleanup(dav->curl);
  g_free(dav->base_url);
  g_free(dav->base_path);
  g_free(dav->user);
  if (dav->password != NULL)
    sodium_free(dav->password);
  g_free(dav);
}

static const CofferRemoteOps webdav_ops = {
  .get = webdav_get,
  .put = webdav_put,
  .delete = webdav_delete,
  .list = webdav_list,
  .ensure_directory = webdav_ensure_directory,
  .free = webdav_free,
};

/* ---- construction ------------------------------------------------------------------ */

static gpointer
init_curl(gpointer unused)
{
  return GINT_TO_POINTER(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
}

static gboolean
is_loopback(const char *host)
{
  return g_strcmp0(host, "localhost") == 0 || g_strcmp0(host, "::1") == 0 || g_str_has_prefix(host, "127.");
}

static gboolean
config_error(GError **error, const char *message)
{
  g_set_error_literal(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG, message);
  return FALSE;
}

/* Takes the URL apart once, so requests only ever append object names. */
static gboolean
parse_url(Webdav *dav, const CofferRemoteConfig *config, GError **error)
{
  g_autoptr(GUri) uri = g_uri_parse(config->url, G_URI_FLAGS_ENCODED, NULL);
  const char *path;
  gboolean slash;

  if (uri == NULL || g_uri_get_host(uri) == NULL || *g_uri_get_host(uri) == '\0')
    return config_error(error, "not a valid remote URL");
  if (g_uri_get_userinfo(uri) != NULL)
    return config_error(error, "put the user name in the remote settings, not in the URL");
  if (g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL)
    return config_error(error, "a remote URL has no query or fragment");
  /* Basic auth in clear text is for tests on this machine only. */
  if (config->user != NULL && g_strcmp0(g_uri_get_scheme(uri), "http") == 0 && !is_loopback(g_uri_get_host(uri)))
    return config_error(error, "refusing to send a password over plain http://; use https://");
  path = g_uri_get_path(uri);
  slash = g_str_has_suffix(path, "/");
  dav->base_path = g_strconcat(*path == '/' ? "" : "/", path, slash ? "" : "/", NULL);
  dav->base_url = g_strconcat(config->url, g_str_has_suffix(config->url, "/") ? "" : "/", NULL);
  return TRUE;
}

CofferRemote *
coffer_remote_webdav_new(const CofferRemoteConfig *config, GError **error)
{
  static GOnce once = G_ONCE_INIT;
  g_autoptr(CofferRemote) remote = NULL;
  Webdav *dav;

  if (!GPOINTER_TO_INT(g_once(&once, init_curl, NULL)) || sodium_init() < 0) {
    config_error(error, "cannot initialise libcurl or libsodium");
    return NULL;
  }
  dav = g_new0(Webdav, 1);
  dav->base.ops = &webdav_ops;
  remote = &dav->base;
  if (!parse_url(dav, config, error))
    return NULL;
  if (config->user != NULL) {
    gsize len = config->password ? strlen(config->password) : 0;
    dav->user = g_strdup(config->user);
    dav->password = sodium_malloc(len + 1);
    if (dav->password == NULL) {
      config_error(error, "out of secure memory");
      return NULL;
    }
    memcpy(dav->password, config->password ? config->password : "", len + 1);
  }
  dav->curl = curl_easy_init();
  if (dav->curl == NULL) {
    config_error(error, "cannot create a libcurl handle");
    return NULL;
  }
  return g_steal_pointer(&remote);
}
