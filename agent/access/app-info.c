/* coffer — who is calling (see app-info.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gunixfdlist.h>

#include "access/app-info.h"

/* Programs larger than this are not hashed (their caller stays unknown):
 * it bounds the time and I/O one caller can make us spend. */
#define MAX_EXE_BYTES ((goffset)1024 * 1024 * 1024)
#define MAX_FLATPAK_INFO_BYTES (64 * 1024)
#define MAX_APP_ID 255
#define MAX_DIGESTS 1024
#define CREDENTIALS_TIMEOUT_MS 5000

struct _CofferAppInfo {
  gint refs;
  CofferAppKind kind;
  char *id;
  char *display;
  char *reason;
};

static CofferAppInfo *
app_info_new(CofferAppKind kind, char *id, char *display, char *reason)
{
  CofferAppInfo *info = g_new0(CofferAppInfo, 1);

  info->refs = 1;
  info->kind = kind;
  info->id = id;
  info->display = display;
  info->reason = reason;
  return info;
}

CofferAppInfo *
coffer_app_info_new_host(const char *path, const char *sha256_hex)
{
  char *id = g_strdup_printf("exe:%s:%s", sha256_hex, path);

  return app_info_new(COFFER_APP_HOST, id, coffer_app_id_describe(id), NULL);
}

CofferAppInfo *
coffer_app_info_new_flatpak(const char *app_id)
{
  char *id = g_strconcat("flatpak:", app_id, NULL);

  return app_info_new(COFFER_APP_FLATPAK, id, coffer_app_id_describe(id), NULL);
}

CofferAppInfo *
coffer_app_info_new_unknown(const char *why)
{
  return app_info_new(COFFER_APP_UNKNOWN, NULL, g_strdup("an unidentified program"), g_strdup(why));
}

CofferAppInfo *
coffer_app_info_ref(CofferAppInfo *info)
{
  g_atomic_int_inc(&info->refs);
  return info;
}

void
coffer_app_info_unref(CofferAppInfo *info)
{
  if (info == NULL || !g_atomic_int_dec_and_test(&info->refs))
    return;
  g_free(info->id);
  g_free(info->display);
  g_free(info->reason);
  g_free(info);
}

CofferAppKind
coffer_app_info_get_kind(const CofferAppInfo *info)
{
  return info->kind;
}

const char *
coffer_app_info_get_id(const CofferAppInfo *info)
{
  return info->id;
}

const char *
coffer_app_info_get_display_name(const CofferAppInfo *info)
{
  return info->display;
}

const char *
coffer_app_info_get_reason(const CofferAppInfo *info)
{
  return info->reason;
}

/* ---- identity strings ------------------------------------------------------- */

#define EXE_PREFIX "exe:"
#define FLATPAK_PREFIX "flatpak:"
#define SHA256_HEX_LEN (crypto_hash_sha256_BYTES * 2)

/* Splits "exe:<hex>:<path>"; FALSE for anything else. */
static gboolean
split_exe(const char *id, char **hex, char **path)
{
  const char *rest;

  if (id == NULL || !g_str_has_prefix(id, EXE_PREFIX))
    return FALSE;
  rest = id + strlen(EXE_PREFIX);
  if (strlen(rest) < SHA256_HEX_LEN + 2 || rest[SHA256_HEX_LEN] != ':')
    return FALSE;
  if (hex != NULL)
    *hex = g_strndup(rest, SHA256_HEX_LEN);
  if (path != NULL)
    *path = g_strdup(rest + SHA256_HEX_LEN + 1);
  return TRUE;
}

char *
coffer_app_id_name(const char *id)
{
  char *path = NULL;

  if (split_exe(id, NULL, &path))
    return path;
  if (id != NULL && g_str_has_prefix(id, FLATPAK_PREFIX))
    return g_strdup(id + strlen(FLATPAK_PREFIX));
  return NULL;
}

char *
coffer_app_id_sha256(const char *id)
{
  char *hex = NULL;

  return split_exe(id, &hex, NULL) ? hex : NULL;
}

char *
coffer_app_id_describe(const char *id)
{
  g_autofree char *path = NULL;

  if (id == NULL)
    return g_strdup("an unknown application");
  if (split_exe(id, NULL, &path)) {
    g_autofree char *base = g_path_get_basename(path);
    const char *note = coffer_app_exe_note(path);
    return g_strdup_printf("%s (%s)", base, note ? note : path);
  }
  if (g_str_has_prefix(id, FLATPAK_PREFIX))
    return g_strdup_printf("%s (Flatpak)", id + strlen(FLATPAK_PREFIX));
  return g_strdup(id);
}

gboolean
coffer_app_id_matches(const char *id, const char *pattern)
{
  g_autofree char *name = NULL;

  if (id == NULL || pattern == NULL || pattern[0] == '\0')
    return FALSE;
  if (strcmp(id, pattern) == 0)
    return TRUE;
  name = coffer_app_id_name(id);
  return name != NULL && strcmp(name, pattern) == 0;
}

/* name is prefix followed by nothing but a version ("python3.11"). */
static gboolean
is_versioned(const char *name, const char *prefix)
{
  gsize len = strlen(prefix);

  if (strncmp(name, prefix, len) != 0)
    return FALSE;
  for (const char *p = name + len; *p; p++)
    if (!g_ascii_isdigit(*p) && *p != '.')
      return FALSE;
  return TRUE;
}

const char *
coffer_app_exe_note(const char *path)
{
  static const char *const interpreters[] = {
    "python", "pypy",   "perl",  "ruby", "node",  "nodejs", "deno",        "bun",       "java",    "php",
    "lua",    "luajit", "tclsh", "wish", "guile", "gjs",    "gjs-console", "osascript", "Rscript", "sh",
    "bash",   "dash",   "zsh",   "ksh",  "mksh",  "fish",   "csh",         "tcsh",      "busybox",
  };
  static const char *const tools[] = {
    "secret-tool", "gdbus", "dbus-send", "busctl", "qdbus", "qdbus6", "gnome-keyring", "keyring",
  };
  g_autofree char *base = NULL;
  char *deleted;

  if (path == NULL)
    return NULL;
  base = g_path_get_basename(path);
  /* /proc/<pid>/exe of a program replaced since it started */
  deleted = strstr(base, " (deleted)");
  if (deleted != NULL)
    *deleted = '\0';
  for (guint i = 0; i < G_N_ELEMENTS(interpreters); i++)
    if (is_versioned(base, interpreters[i]))
      return "an interpreter: any script it runs";
  for (guint i = 0; i < G_N_ELEMENTS(tools); i++)
    if (strcmp(base, tools[i]) == 0)
      return "a generic tool: whoever runs it";
  return NULL;
}

/* ---- Flatpak ------------------------------------------------------------------ */

/* Flatpak application ids: reverse-DNS, [A-Za-z0-9_-] elements. */
static gboolean
valid_app_id(const char *id)
{
  gsize len = strlen(id);
  gboolean dot = FALSE;

  if (len == 0 || len > MAX_APP_ID || !g_ascii_isalpha(id[0]) || id[len - 1] == '.')
    return FALSE;
  for (gsize i = 0; i < len; i++) {
    if (id[i] == '.') {
      if (id[i + 1] == '.' || g_ascii_isdigit(id[i + 1]))
        return FALSE;
      dot = TRUE;
    } else if (!g_ascii_isalnum(id[i]) && id[i] != '_' && id[i] != '-') {
      return FALSE;
    }
  }
  return dot;
}

char *
coffer_app_info_parse_flatpak_info(const char *data, gsize len, GError **error)
{
  g_autoptr(GKeyFile) file = g_key_file_new();
  g_autofree char *name = NULL;

  if (len > MAX_FLATPAK_INFO_BYTES) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, ".flatpak-info is too large");
    return NULL;
  }
  if (!g_key_file_load_from_data(file, data, len, G_KEY_FILE_NONE, error))
    return NULL;
  name = g_key_file_get_string(file, "Application", "name", error);
  if (name == NULL)
    return NULL;
  if (!valid_app_id(name)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an application id: %s", name);
    return NULL;
  }
  return g_steal_pointer(&name);
}

/* Reads /proc/<pid>/root/.flatpak-info.  FALSE (no error) when there is
 * none: the process is not in a Flatpak sandbox. */
static gboolean
read_flatpak_info(guint32 pid, char **data, gsize *len, GError **error)
{
  g_autofree char *path = g_strdup_printf("/proc/%u/root/.flatpak-info", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
  struct stat st;
  ssize_t n;

  if (fd < 0 && errno == ENOENT)
    return FALSE;
  if (fd < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s", path, g_strerror(errno));
    return FALSE;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FLATPAK_INFO_BYTES) {
    close(fd);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not a small regular file", path);
    return FALSE;
  }
  *data = g_malloc((gsize)st.st_size + 1);
  do
    n = pread(fd, *data, (gsize)st.st_size, 0);
  while (n < 0 && errno == EINTR);
  close(fd);
  if (n < 0) {
    g_clear_pointer(data, g_free);
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot read %s", path);
    return FALSE;
  }
  (*data)[n] = '\0';
  *len = (gsize)n;
  return TRUE;
}

/* ---- executable digests --------------------------------------------------------- */

typedef struct {
  GMutex lock;
  GHashTable *digests; /* "dev:ino:size:mtime:ctime" -> sha256 hex */
} DigestCache;

static void
digest_cache_clear(gpointer data)
{
  DigestCache *cache = data;

  g_hash_table_unref(cache->digests);
  g_mutex_clear(&cache->lock);
}

static DigestCache *
digest_cache_new(void)
{
  DigestCache *cache = g_atomic_rc_box_new0(DigestCache);

  g_mutex_init(&cache->lock);
  cache->digests = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return cache;
}

static void
digest_cache_unref(DigestCache *cache)
{
  g_atomic_rc_box_release_full(cache, digest_cache_clear);
}

static char *
file_key(const struct stat *st)
{
  return g_strdup_printf("%ju:%ju:%jd:%jd.%09ld:%jd.%09ld", (uintmax_t)st->st_dev, (uintmax_t)st->st_ino,
                         (intmax_t)st->st_size, (intmax_t)st->st_mtim.tv_sec, st->st_mtim.tv_nsec,
                         (intmax_t)st->st_ctim.tv_sec, st->st_ctim.tv_nsec);
}

static char *
hash_fd(int fd, GError **error)
{
  crypto_hash_sha256_state state;
  guint8 digest[crypto_hash_sha256_BYTES];
  char hex[SHA256_HEX_LEN + 1];
  g_autofree guint8 *buf = g_malloc(64 * 1024);
  goffset total = 0;

  crypto_hash_sha256_init(&state);
  for (;;) {
    ssize_t n = read(fd, buf, 64 * 1024);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot read the executable: %s", g_strerror(errno));
      return NULL;
    }
    if (n == 0)
      break;
    total += n;
    if (total > MAX_EXE_BYTES) {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "the executable is larger than 1 GiB");
      return NULL;
    }
    crypto_hash_sha256_update(&state, buf, (unsigned long long)n);
  }
  crypto_hash_sha256_final(&state, digest);
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return g_strdup(hex);
}

/* The SHA-256 of the opened executable, from the cache when unchanged. */
static char *
exe_digest(DigestCache *cache, int fd, GError **error)
{
  struct stat st;
  g_autofree char *key = NULL;
  char *hex;

  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the executable is not a regular file");
    return NULL;
  }
  if (st.st_size > MAX_EXE_BYTES) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "the executable is larger than 1 GiB");
    return NULL;
  }
  key = file_key(&st);
  g_mutex_lock(&cache->lock);
  hex = g_strdup(g_hash_table_lookup(cache->digests, key));
  g_mutex_unlock(&cache->lock);
  if (hex != NULL)
    return hex;
  hex = hash_fd(fd, error);
  if (hex == NULL)
    return NULL;
  g_mutex_lock(&cache->lock);
  if (g_hash_table_size(cache->digests) >= MAX_DIGESTS)
    g_hash_table_remove_all(cache->digests);
  g_hash_table_replace(cache->digests, g_steal_pointer(&key), g_strdup(hex));
  g_mutex_unlock(&cache->lock);
  return hex;
}

/* ---- identifying a process (worker thread) ------------------------------------- */

typedef struct {
  guint32 pid;
  int pidfd; /* -1 when the bus sent none */
  DigestCache *digests;
} Job;

static void
job_free(Job *job)
{
  if (job->pidfd >= 0)
    close(job->pidfd);
  digest_cache_unref(job->digests);
  g_free(job);
}

/* The pid a pidfd refers to (its fdinfo "Pid:" line), or 0. */
static guint32
pidfd_pid(int pidfd)
{
  g_autofree char *path = g_strdup_printf("/proc/self/fdinfo/%d", pidfd);
  g_autofree char *text = NULL;
  g_autofree char *value = NULL;
  const char *line;
  guint64 pid = 0;

  if (!g_file_get_contents(path, &text, NULL, NULL) || (line = strstr(text, "\nPid:")) == NULL)
    return 0;
  value = g_strndup(line + 5, strcspn(line + 5, "\n"));
  if (!g_ascii_string_to_unsigned(g_strstrip(value), 10, 1, G_MAXUINT32, &pid, NULL))
    return 0;
  return (guint32)pid;
}

static gboolean
pidfd_exited(int pidfd)
{
  struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

  return poll(&pfd, 1, 0) != 0;
}

static CofferAppInfo *
identify_host(Job *job)
{
  g_autofree char *link = g_strdup_printf("/proc/%u/exe", job->pid);
  g_autofree char *path = NULL;
  g_autofree char *hex = NULL;
  g_autoptr(GError) error = NULL;
  int fd;

  path = g_file_read_link(link, &error);
  if (path == NULL)
    return coffer_app_info_new_unknown(error->message);
  /* Opening the link opens the very file the process runs, even if its
   * path now names another one. */
  fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    g_autofree char *why = g_strdup_printf("cannot open %s: %s", link, g_strerror(errno));
    return coffer_app_info_new_unknown(why);
  }
  hex = exe_digest(job->digests, fd, &error);
  close(fd);
  if (hex == NULL)
    return coffer_app_info_new_unknown(error->message);
  return coffer_app_info_new_host(path, hex);
}

static CofferAppInfo *
identify(Job *job)
{
  g_autofree char *data = NULL;
  g_autofree char *app_id = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(CofferAppInfo) info = NULL;
  gsize len = 0;

  if (job->pidfd >= 0 && pidfd_pid(job->pidfd) != job->pid)
    return coffer_app_info_new_unknown("the bus's process id and process fd disagree");
  if (read_flatpak_info(job->pid, &data, &len, &error)) {
    app_id = coffer_app_info_parse_flatpak_info(data, len, &error);
    /* A sandbox we cannot read is not the host program it runs in. */
    info = app_id ? coffer_app_info_new_flatpak(app_id) : coffer_app_info_new_unknown(error->message);
  } else if (error != NULL) {
    info = coffer_app_info_new_unknown(error->message);
  } else {
    info = identify_host(job);
  }
  /* Everything above read /proc/<pid>: if that process has exited since,
   * the pid may name another one by now. */
  if (job->pidfd >= 0 && pidfd_exited(job->pidfd))
    return coffer_app_info_new_unknown("the process exited while being identified");
  return g_steal_pointer(&info);
}

static void
identify_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  g_task_return_pointer(task, identify(data), (GDestroyNotify)coffer_app_info_unref);
}

/* ---- the per-peer cache -------------------------------------------------------- */

struct _CofferAppInfoCache {
  GDBusConnection *connection;
  DigestCache *digests;
  GHashTable *peers; /* unique name -> Entry* */
};

/* One peer: its identity, or the lookup in flight and who waits for it.
 * A pending entry outlives the cache or its peer (orphaned: cache NULL) and
 * is freed when its lookup ends. */
typedef struct {
  CofferAppInfoCache *cache;
  char *name;
  CofferAppInfo *info;
  GPtrArray *waiters; /* GTask*, while pending */
} Entry;

static void
entry_free(Entry *entry)
{
  coffer_app_info_unref(entry->info);
  g_free(entry->name);
  g_free(entry);
}

static void
entry_drop(gpointer data)
{
  Entry *entry = data;

  if (entry->waiters != NULL)
    entry->cache = NULL; /* its lookup frees it */
  else
    entry_free(entry);
}

static void
entry_complete(Entry *entry, CofferAppInfo *info)
{
  if (info->kind == COFFER_APP_UNKNOWN)
    g_message("access: cannot identify %s: %s", entry->name, info->reason);
  for (guint i = 0; i < entry->waiters->len; i++)
    g_task_return_pointer(entry->waiters->pdata[i], coffer_app_info_ref(info), (GDestroyNotify)coffer_app_info_unref);
  g_clear_pointer(&entry->waiters, g_ptr_array_unref);
  entry->info = info;
  if (entry->cache == NULL)
    entry_free(entry);
}

static void
on_identified(GObject *source, GAsyncResult *result, gpointer user_data)
{
  entry_complete(user_data, g_task_propagate_pointer(G_TASK(result), NULL));
}

static int
credentials_fd(GVariant *credentials, GUnixFDList *fds)
{
  gint32 index;

  if (fds == NULL || !g_variant_lookup(credentials, "ProcessFD", "h", &index))
    return -1;
  return g_unix_fd_list_get(fds, index, NULL);
}

static void
on_credentials(GObject *source, GAsyncResult *result, gpointer user_data)
{
  Entry *entry = user_data;
  g_autoptr(GUnixFDList) fds = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply =
      g_dbus_connection_call_with_unix_fd_list_finish(G_DBUS_CONNECTION(source), &fds, result, &error);
  g_autoptr(GVariant) credentials = NULL;
  g_autoptr(GTask) task = NULL;
  guint32 pid = 0, uid;
  Job *job;

  if (reply == NULL) {
    entry_complete(entry, coffer_app_info_new_unknown(error->message));
    return;
  }
  credentials = g_variant_get_child_value(reply, 0);
  if (g_variant_lookup(credentials, "UnixUserID", "u", &uid) && uid != getuid()) {
    entry_complete(entry, coffer_app_info_new_unknown("the caller runs as another user"));
    return;
  }
  if (!g_variant_lookup(credentials, "ProcessID", "u", &pid) || pid == 0) {
    entry_complete(entry, coffer_app_info_new_unknown("the bus gives no process id"));
    return;
  }
  if (entry->cache == NULL) { /* the peer left meanwhile */
    entry_complete(entry, coffer_app_info_new_unknown("the caller left the bus"));
    return;
  }
  job = g_new0(Job, 1);
  job->pid = pid;
  job->pidfd = credentials_fd(credentials, fds);
  job->digests = g_atomic_rc_box_acquire(entry->cache->digests);
  task = g_task_new(NULL, NULL, on_identified, entry);
  g_task_set_task_data(task, job, (GDestroyNotify)job_free);
  g_task_run_in_thread(task, identify_thread);
}

CofferAppInfoCache *
coffer_app_info_cache_new(GDBusConnection *connection)
{
  CofferAppInfoCache *cache = g_new0(CofferAppInfoCache, 1);

  cache->connection = g_object_ref(connection);
  cache->digests = digest_cache_new();
  cache->peers = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, entry_drop);
  return cache;
}

void
coffer_app_info_cache_free(CofferAppInfoCache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_unref(cache->peers);
  digest_cache_unref(cache->digests);
  g_object_unref(cache->connection);
  g_free(cache);
}

CofferAppInfo *
coffer_app_info_cache_peek(CofferAppInfoCache *cache, const char *sender)
{
  Entry *entry = g_hash_table_lookup(cache->peers, sender);

  return entry != NULL ? entry->info : NULL;
}

void
coffer_app_info_cache_forget(CofferAppInfoCache *cache, const char *sender)
{
  g_hash_table_remove(cache->peers, sender);
}

void
coffer_app_info_lookup_async(CofferAppInfoCache *cache, const char *sender, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  GTask *task = g_task_new(NULL, NULL, callback, user_data);
  Entry *entry = g_hash_table_lookup(cache->peers, sender);

  if (entry != NULL && entry->info != NULL) {
    g_task_return_pointer(task, coffer_app_info_ref(entry->info), (GDestroyNotify)coffer_app_info_unref);
    g_object_unref(task);
    return;
  }
  if (entry == NULL) {
    entry = g_new0(Entry, 1);
    entry->cache = cache;
    entry->name = g_strdup(sender);
    entry->waiters = g_ptr_array_new_with_free_func(g_object_unref);
    g_hash_table_insert(cache->peers, entry->name, entry);
    g_dbus_connection_call_with_unix_fd_list(
        cache->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "GetConnectionCredentials", g_variant_new("(s)", sender), G_VARIANT_TYPE("(a{sv})"), G_DBUS_CALL_FLAGS_NONE,
        CREDENTIALS_TIMEOUT_MS, NULL, NULL, on_credentials, entry);
  }
  g_ptr_array_add(entry->waiters, task);
}

CofferAppInfo *
coffer_app_info_lookup_finish(GAsyncResult *result)
{
  return g_task_propagate_pointer(G_TASK(result), NULL);
}
