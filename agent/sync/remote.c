/* coffer — the remote interface: picks a backend by URL scheme and checks
 * arguments once, so backends see only names and ETags they can trust. */
#include "sync/remote-backend.h"

#include <string.h>

G_DEFINE_QUARK(coffer_remote_error, coffer_remote_error)

#define MAX_NAME_COMPONENT 128u
#define MAX_NAME_DEPTH 4u

void
coffer_remote_entry_free(CofferRemoteEntry *entry)
{
  if (entry == NULL)
    return;
  g_free(entry->name);
  g_free(entry->etag);
  g_free(entry);
}

CofferRemoteEntry *
coffer_remote_entry_new(const char *name, const char *etag, guint64 size)
{
  CofferRemoteEntry *entry = g_new0(CofferRemoteEntry, 1);

  entry->name = g_strdup(name);
  entry->etag = g_strdup(etag);
  entry->size = size;
  return entry;
}

gboolean
coffer_remote_name_component_valid(const char *component, gsize len)
{
  if (len == 0 || len > MAX_NAME_COMPONENT)
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    char c = component[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return FALSE;
  }
  return TRUE;
}

/* "records/0a1b…": relative, no empty, "." or ".." components (the folder
 * backend turns names into paths), nothing a URL would need to escape. */
static gboolean
name_valid(const char *name, gboolean allow_empty)
{
  guint depth = 0;
  const char *p = name;

  if (*name == '\0')
    return allow_empty;
  for (;;) {
    const char *slash = strchr(p, '/');
    gsize len = slash ? (gsize)(slash - p) : strlen(p);
    if (!coffer_remote_name_component_valid(p, len) || ++depth > MAX_NAME_DEPTH)
      return FALSE;
    if (slash == NULL)
      return TRUE;
    p = slash + 1;
  }
}

static gboolean
check_name(const char *name, gboolean allow_empty, GError **error)
{
  if (name_valid(name, allow_empty))
    return TRUE;
  g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG, "invalid remote object name");
  return FALSE;
}

static gboolean
etag_valid(const char *etag)
{
  gsize len = strlen(etag);

  if (len == 0 || len > COFFER_REMOTE_MAX_ETAG)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (etag[i] < 0x21 || etag[i] > 0x7e)
      return FALSE;
  return TRUE;
}

static gboolean
check_etag(const char *etag, GError **error)
{
  if (etag == NULL || etag_valid(etag))
    return TRUE;
  g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG, "invalid ETag");
  return FALSE;
}

char *
coffer_remote_etag_normalise(const char *etag)
{
  g_autofree char *copy = NULL;
  char *value;

  if (etag == NULL)
    return NULL;
  copy = g_strstrip(g_strdup(etag));
  value = copy;
  if (value[0] == 'W' && value[1] == '/')
    value += 2;
  if (!etag_valid(value) || g_str_has_prefix(value, "W/"))
    return NULL;
  return g_strdup(value);
}

CofferRemote *
coffer_remote_new(const CofferRemoteConfig *config, GError **error)
{
  const char *scheme;
  CofferRemote *remote;

  g_return_val_if_fail(config != NULL && config->url != NULL, NULL);
  scheme = g_uri_peek_scheme(config->url);
  if (g_strcmp0(scheme, "http") == 0 || g_strcmp0(scheme, "https") == 0)
    remote = coffer_remote_webdav_new(config, error);
  else if (g_strcmp0(scheme, "file") == 0)
    remote = coffer_remote_folder_new(config, error);
  else {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG,
                "unsupported remote URL (use https://, http:// or file://)");
    return NULL;
  }
  if (remote != NULL)
    remote->timeout_s = config->timeout_s ? config->timeout_s : COFFER_REMOTE_DEFAULT_TIMEOUT_S;
  return remote;
}

void
coffer_remote_free(CofferRemote *remote)
{
  if (remote != NULL)
    remote->ops->free(remote);
}

gboolean
coffer_remote_get(CofferRemote *remote, const char *name, const char *if_none_match, GBytes **data, char **etag,
                  gboolean *not_modified, GError **error)
{
  g_return_val_if_fail(remote != NULL && name != NULL && data != NULL && etag != NULL && not_modified != NULL, FALSE);
  *data = NULL;
  *etag = NULL;
  *not_modified = FALSE;
  if (!check_name(name, FALSE, error) || !check_etag(if_none_match, error))
    return FALSE;
  return remote->ops->get(remote, name, if_none_match, data, etag, not_modified, error);
}

gboolean
coffer_remote_put(CofferRemote *remote, const char *name, GBytes *data, const char *if_match, gboolean create_only,
                  char **etag, GError **error)
{
  g_return_val_if_fail(remote != NULL && name != NULL && data != NULL && etag != NULL, FALSE);
  *etag = NULL;
  if (!check_name(name, FALSE, error) || !check_etag(if_match, error))
    return FALSE;
  /* An unconditional write could silently replace another device's push. */
  if ((if_match != NULL) == (create_only != FALSE)) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG,
                "a put needs exactly one precondition (if_match or create_only)");
    return FALSE;
  }
  if (g_bytes_get_size(data) > COFFER_REMOTE_MAX_OBJECT) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_TOO_LARGE, "object of %zu bytes is over the limit",
                g_bytes_get_size(data));
    return FALSE;
  }
  return remote->ops->put(remote, name, data, if_match, create_only, etag, error);
}

gboolean
coffer_remote_delete(CofferRemote *remote, const char *name, const char *if_match, GError **error)
{
  g_return_val_if_fail(remote != NULL && name != NULL, FALSE);
  if (!check_name(name, FALSE, error) || !check_etag(if_match, error))
    return FALSE;
  return remote->ops->delete (remote, name, if_match, error);
}

GPtrArray *
coffer_remote_list(CofferRemote *remote, const char *directory, GError **error)
{
  g_return_val_if_fail(remote != NULL && directory != NULL, NULL);
  if (!check_name(directory, TRUE, error))
    return NULL;
  return remote->ops->list(remote, directory, error);
}

gboolean
coffer_remote_ensure_directory(CofferRemote *remote, const char *directory, GError **error)
{
  g_return_val_if_fail(remote != NULL && directory != NULL, FALSE);
  if (!check_name(directory, TRUE, error))
    return FALSE;
  return remote->ops->ensure_directory(remote, directory, error);
}

void
coffer_remote_get_stats(CofferRemote *remote, CofferRemoteStats *stats)
{
  g_return_if_fail(remote != NULL && stats != NULL);
  *stats = remote->stats;
}
