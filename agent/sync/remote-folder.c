/* coffer — the folder remote (file:///path): a directory that Syncthing,
 * Dropbox, Nextcloud's desktop client or an NFS mount carries between
 * machines.
 *
 *  - ETag = BLAKE2b-256 of the content, hex.  Sync tools rewrite files and
 *    their timestamps and inode numbers freely; only the content says
 *    whether an object changed, and the same bytes mean the same version.
 *  - Writes are atomic: a temp file in the same directory, fsync, rename
 *    over the name, fsync of the directory.  A reader sees the old or the
 *    new object, never a mix, and a crash leaves at worst a ".coffer-tmp-*"
 *    file that list() removes once it is old.
 *  - Compare-and-swap (put/delete with a precondition) holds an exclusive
 *    flock on ".coffer-lock" inside the folder, with a bounded wait, so two
 *    agents on the same machine (or over NFS, which maps flock to POSIX
 *    locks) cannot both win.  Across machines the sync tool is the only
 *    channel and no lock exists; its conflict copies are ignored by list().
 *  - Objects are regular files: no symlinks are followed, nothing else
 *    (FIFO, device) is opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/remote-backend.h"

#define LOCK_NAME ".coffer-lock"
#define TEMP_PREFIX ".coffer-tmp-"
#define STALE_TEMP_S (10 * 60)
#define LOCK_POLL_US 5000

typedef struct {
  CofferRemote base;
  char *root;
} Folder;

static gboolean
errno_error(GError **error, int err, const char *what, const char *name)
{
  CofferRemoteError code;

  if (err == ENOENT || err == ENOTDIR)
    code = COFFER_REMOTE_ERROR_NOT_FOUND;
  else if (err == EACCES || err == EPERM || err == EROFS)
    code = COFFER_REMOTE_ERROR_AUTH;
  else if (err == ELOOP || err == EISDIR)
    code = COFFER_REMOTE_ERROR_PROTOCOL;
  else
    code = COFFER_REMOTE_ERROR_TRANSIENT; /* EIO, ENOSPC, a stale NFS handle, ... */
  g_set_error(error, COFFER_REMOTE_ERROR, code, "%s %s: %s", what, *name ? name : "/", g_strerror(err));
  return FALSE;
}

static char *
path_of(Folder *folder, const char *name)
{
  return *name ? g_build_filename(folder->root, name, NULL) : g_strdup(folder->root);
}

static char *
etag_of(const guint8 *data, gsize len)
{
  guint8 hash[crypto_generichash_BYTES];
  char hex[2 * crypto_generichash_BYTES + 1];

  crypto_generichash(hash, sizeof hash, data, len, NULL, 0);
  return g_strdup(sodium_bin2hex(hex, sizeof hex, hash, sizeof hash));
}

/* ---- reading --------------------------------------------------------------------- */

/* Reads a regular file, at most COFFER_REMOTE_MAX_OBJECT bytes. */
static GBytes *
read_object(int dirfd, const char *path, const char *name, GError **error)
{
  g_autofree guint8 *buf = NULL;
  struct stat st;
  gsize len = 0;
  int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);

  if (fd < 0) {
    errno_error(error, errno, "read", name);
    return NULL;
  }
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PROTOCOL, "read %s: not a regular file", name);
    return NULL;
  }
  if ((guint64)st.st_size > COFFER_REMOTE_MAX_OBJECT) {
    close(fd);
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_TOO_LARGE, "read %s: over the size limit", name);
    return NULL;
  }
  /* One byte of slack tells a file that grew under us from one that fits. */
  buf = g_malloc((gsize)st.st_size + 1);
  for (;;) {
    ssize_t n = read(fd, buf + len, (gsize)st.st_size + 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      errno_error(error, err, "read", name);
      return NULL;
    }
    if (n == 0)
      break;
    len += (gsize)n;
    if (len > (gsize)st.st_size) {
      close(fd);
      g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_TRANSIENT, "read %s: changed while read", name);
      return NULL;
    }
  }
  close(fd);
  return g_bytes_new_take(g_steal_pointer(&buf), len);
}

static gboolean
folder_get(CofferRemote *remote, const char *name, const char *if_none_match, GBytes **data, char **etag,
           gboolean *not_modified, GError **error)
{
  Folder *folder = (Folder *)remote;
  g_autofree char *path = path_of(folder, name);
  g_autoptr(GBytes) bytes = NULL;
  gsize len;
  const guint8 *p;

  remote->stats.requests++;
  bytes = read_object(AT_FDCWD, path, name, error);
  if (bytes == NULL)
    return FALSE;
  p = g_bytes_get_data(bytes, &len);
  remote->stats.bytes_received += len;
  *etag = etag_of(p, len);
  if (if_none_match != NULL && strcmp(if_none_match, *etag) == 0)
    *not_modified = TRUE;
  else
    *data = g_steal_pointer(&bytes);
  return TRUE;
}

/* ---- the lock and the precondition ----------------------------------------------- */

/* An exclusive flock on the folder's lock file, waiting at most the
 * request timeout.  -1 with error set on failure. */
static int
lock_folder(Folder *folder, GError **error)
{
  g_autofree char *path = g_build_filename(folder->root, LOCK_NAME, NULL);
  gint64 deadline = g_get_monotonic_time() + (gint64)folder->base.timeout_s * G_USEC_PER_SEC;

  for (;;) {
    struct stat held, now;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      errno_error(error, errno, "lock", "");
      return -1;
    }
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        int err = errno;
        close(fd);
        errno_error(error, err, "lock", "");
        return -1;
      }
      if (g_get_monotonic_time() > deadline) {
        close(fd);
        g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_TRANSIENT,
                    "the folder stayed locked by another writer");
        return -1;
      }
      g_usleep(LOCK_POLL_US);
    }
    /* A sync tool may have replaced the lock file meanwhile; a lock on the
     * old inode excludes nobody, so take it again on the current one. */
    if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev)
      return fd;
    close(fd);
  }
}

static gboolean
check_precondition(const char *path, const char *name, const char *if_match, gboolean create_only, gboolean *exists,
                   GError **error)
{
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) current = read_object(AT_FDCWD, path, name, &local);
  g_autofree char *etag = NULL;

  *exists = current != NULL;
  if (current == NULL && !g_error_matches(local, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_NOT_FOUND)) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  if (current != NULL && if_match != NULL) {
    gsize len;
    const guint8 *p = g_bytes_get_data(current, &len);
    etag = etag_of(p, len);
  }
  if ((create_only && *exists) || (if_match != NULL && g_strcmp0(etag, if_match) != 0)) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PRECONDITION, "%s changed on the remote", name);
    return FALSE;
  }
  return TRUE;
}

/* ---- writing ------------------------------------------------------------------------ */

static gboolean
fsync_directory(const char *dir, const char *name, GError **error)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd < 0 ? -1 : fsync(fd);
  int err = errno;

  if (fd >= 0)
    close(fd);
  if (rc < 0 && err != EINVAL) /* some file systems cannot fsync a directory */
    return errno_error(error, err, "sync directory of", name);
  return TRUE;
}

static gboolean
write_all(int fd, const guint8 *data, gsize len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return FALSE;
    data += n;
    len -= (gsize)n;
  }
  return TRUE;
}

/* temp file in the same directory + fsync + rename + fsync(dir). */
static gboolean
write_atomically(const char *path, const char *name, GBytes *data, GError **error)
{
  g_autofree char *dir = g_path_get_dirname(path);
  g_autofree char *tmp = g_build_filename(dir, TEMP_PREFIX "XXXXXX", NULL);
  gsize len;
  const guint8 *p = g_bytes_get_data(data, &len);
  int fd = mkostemp(tmp, O_CLOEXEC);
  int err;

  if (fd < 0)
    return errno_error(error, errno, "write", name);
  if (fchmod(fd, 0600) < 0 || !write_all(fd, p, len) || fsync(fd) < 0)
    goto fail;
  if (close(fd) < 0) {
    fd = -1;
    goto fail;
  }
  fd = -1;
  if (rename(tmp, path) < 0)
    goto fail;
  return fsync_directory(dir, name, error);
fail:
  err = errno;
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return errno_error(error, err, "write", name);
}

static gboolean
folder_put(CofferRemote *remote, const char *name, GBytes *data, const char *if_match, gboolean create_only,
           char **etag, GError **error)
{
  Folder *folder = (Folder *)remote;
  g_autofree char *path = path_of(folder, name);
  gboolean exists, ok;
  gsize len;
  const guint8 *p = g_bytes_get_data(data, &len);
  int lock;

  remote->stats.requests++;
  lock = lock_folder(folder, error);
  if (lock < 0)
    return FALSE;
  ok = check_precondition(path, name, if_match, create_only, &exists, error) &&
       write_atomically(path, name, data, error);
  close(lock);
  if (!ok)
    return FALSE;
  remote->stats.bytes_sent += len;
  *etag = etag_of(p, len);
  return TRUE;
}

static gboolean
folder_delete(CofferRemote *remote, const char *name, const char *if_match, GError **error)
{
  Folder *folder = (Folder *)remote;
  g_autofree char *path = path_of(folder, name);
  g_autofree char *dir = g_path_get_dirname(path);
  g_autoptr(GError) local = NULL;
  gboolean exists = FALSE, ok;
  int lock;

  remote->stats.requests++;
  lock = lock_folder(folder, &local);
  if (lock < 0) {
    /* No folder, no object: a missing object is not an error. */
    if (g_error_matches(local, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_NOT_FOUND))
      return TRUE;
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  ok = check_precondition(path, name, if_match, FALSE, &exists, &local);
  if (!ok && !exists && g_error_matches(local, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PRECONDITION)) {
    g_clear_error(&local); /* If-Match on a missing object: nothing left to delete */
    ok = TRUE;
  } else if (ok && exists) {
    ok = (unlink(path) == 0 || errno == ENOENT || errno_error(&local, errno, "delete", name)) &&
         fsync_directory(dir, name, &local);
  }
  close(lock);
  if (!ok)
    g_propagate_error(error, g_steal_pointer(&local));
  return ok;
}

/* ---- listing --------------------------------------------------------------------- */

static gboolean
stale_temp(int dirfd, const char *name)
{
  struct stat st;

  return g_str_has_prefix(name, TEMP_PREFIX) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode) && st.st_mtime + STALE_TEMP_S < time(NULL);
}

/* A crashed writer's temp file: removed when nobody writes right now. */
static void
remove_stale_temps(Folder *folder, int dirfd, GPtrArray *stale)
{
  g_autofree char *path = g_build_filename(folder->root, LOCK_NAME, NULL);
  int lock;

  if (stale->len == 0)
    return;
  lock = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (lock < 0)
    return;
  if (flock(lock, LOCK_EX | LOCK_NB) == 0)
    for (guint i = 0; i < stale->len; i++)
      if (stale_temp(dirfd, stale->pdata[i]))
        unlinkat(dirfd, stale->pdata[i], 0);
  close(lock);
}

static GPtrArray *
folder_list(CofferRemote *remote, const char *directory, GError **error)
{
  Folder *folder = (Folder *)remote;
  g_autofree char *path = path_of(folder, directory);
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_remote_entry_free);
  g_autoptr(GPtrArray) stale = g_ptr_array_new_with_free_func(g_free);
  struct dirent *de;
  DIR *dir;

  remote->stats.requests++;
  dir = opendir(path);
  if (dir == NULL) {
    if (errno == ENOENT)
      return g_steal_pointer(&entries);
    errno_error(error, errno, "list", directory);
    return NULL;
  }
  while ((de = readdir(dir)) != NULL) {
    g_autoptr(GBytes) bytes = NULL;
    g_autoptr(GError) local = NULL;
    const guint8 *p;
    gsize len;

    if (!coffer_remote_name_component_valid(de->d_name, strlen(de->d_name))) {
      if (stale_temp(dirfd(dir), de->d_name))
        g_ptr_array_add(stale, g_strdup(de->d_name));
      continue;
    }
    bytes = read_object(dirfd(dir), de->d_name, de->d_name, &local);
    if (bytes == NULL) {
      /* gone since readdir, or a directory: not an object */
      if (g_error_matches(local, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_NOT_FOUND) ||
          g_error_matches(local, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PROTOCOL))
        continue;
      closedir(dir);
      g_propagate_error(error, g_steal_pointer(&local));
      return NULL;
    }
    p = g_bytes_get_data(bytes, &len);
    remote->stats.bytes_received += len;
    g_ptr_array_add(entries, coffer_remote_entry_new(de->d_name, NULL, len));
    ((CofferRemoteEntry *)entries->pdata[entries->len - 1])->etag = etag_of(p, len);
  }
  remove_stale_temps(folder, dirfd(dir), stale);
  closedir(dir);
  return g_steal_pointer(&entries);
}

static gboolean
folder_ensure_directory(CofferRemote *remote, const char *directory, GError **error)
{
  Folder *folder = (Folder *)remote;
  g_autofree char *path = path_of(folder, directory);
  g_autofree char *parent = g_path_get_dirname(path);
  struct stat st;

  remote->stats.requests++;
  if (mkdir(path, 0700) == 0)
    return fsync_directory(parent, directory, error);
  if (errno != EEXIST)
    return errno_error(error, errno, "create directory", directory);
  if (stat(path, &st) < 0)
    return errno_error(error, errno, "create directory", directory);
  if (!S_ISDIR(st.st_mode)) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PROTOCOL, "%s exists and is not a directory",
                *directory ? directory : "the remote folder");
    return FALSE;
  }
  return TRUE;
}

static void
folder_free(CofferRemote *remote)
{
  Folder *folder = (Folder *)remote;

  g_free(folder->root);
  g_free(folder);
}

static const CofferRemoteOps folder_ops = {
  .get = folder_get,
  .put = folder_put,
  .delete = folder_delete,
  .list = folder_list,
  .ensure_directory = folder_ensure_directory,
  .free = folder_free,
};

CofferRemote *
coffer_remote_folder_new(const CofferRemoteConfig *config, GError **error)
{
  g_autofree char *host = NULL;
  g_autofree char *root = g_filename_from_uri(config->url, &host, NULL);
  Folder *folder;

  if (root == NULL || (host != NULL && strcmp(host, "localhost") != 0) || !g_path_is_absolute(root)) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG, "not a local file:/// URL");
    return NULL;
  }
  if (sodium_init() < 0) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG, "cannot initialise libsodium");
    return NULL;
  }
  folder = g_new0(Folder, 1);
  folder->base.ops = &folder_ops;
  /* "/sync/coffer/" and "/sync/coffer" are the same folder */
  folder->root = g_canonicalize_filename(root, "/");
  return &folder->base;
}
