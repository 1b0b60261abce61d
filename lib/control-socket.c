/* coffer — control protocol: the client side of the socket.
 *
 * Everything here runs with a deadline: the PAM module must never hold up a
 * login, so every wait is a poll() bounded by what is left of the caller's
 * timeout, and every fd is non-blocking. */
#include "control.h"
#include "control-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SOCKET_SUBPATH "/coffer/control"
#define CONNECT_RETRY_MS 10

int64_t
coffer_control_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- socket path --------------------------------------------------------- */

static int
fit_path(char *buf, size_t size, const char *dir)
{
  struct sockaddr_un sun;
  int n = snprintf(buf, size, "%s" SOCKET_SUBPATH, dir);
  if (n < 0)
    return -EINVAL;
  if ((size_t)n >= size || (size_t)n >= sizeof sun.sun_path)
    return -ENAMETOOLONG;
  return 0;
}

int
coffer_control_socket_path_for(char *buf, size_t size, const char *runtime_dir, uid_t uid)
{
  /* The XDG spec says to ignore a relative XDG_RUNTIME_DIR. */
  if (runtime_dir != NULL && runtime_dir[0] == '/')
    return fit_path(buf, size, runtime_dir);

  char fallback[64];
  snprintf(fallback, sizeof fallback, "/run/user/%lu", (unsigned long)uid);
  struct stat st;
  if (lstat(fallback, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid)
    return -ENOENT;
  return fit_path(buf, size, fallback);
}

int
coffer_control_socket_path(char *buf, size_t size)
{
  return coffer_control_socket_path_for(buf, size, getenv("XDG_RUNTIME_DIR"), getuid());
}

/* ---- connect ------------------------------------------------------------- */

/* Splits path into its directory and last component; both must fit. */
static int
split_path(const char *path, char *dir, size_t dir_size, const char **name)
{
  const char *slash = strrchr(path, '/');
  if (slash == NULL || slash[1] == '\0')
    return -EINVAL;
  size_t dlen = (size_t)(slash - path);
  if (dlen == 0)
    dlen = 1; /* "/control" lives in "/" */
  if (dlen >= dir_size)
    return -ENAMETOOLONG;
  memcpy(dir, path, dlen);
  dir[dlen] = '\0';
  *name = slash + 1;
  return 0;
}

/* The directory must be ours and private: anyone who could write to it
 * could swap the socket for their own. */
static int
check_directory(const char *dir, uid_t uid, int *dirfd_out)
{
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return errno == ENOENT ? -ENOENT : -errno;
  struct stat st;
  if (fstat(dfd, &st) < 0) {
    int r = -errno;
    close(dfd);
    return r;
  }
  if (st.st_uid != uid || (st.st_mode & 07777) != 0700) {
    close(dfd);
    return -EPERM;
  }
  *dirfd_out = dfd;
  return 0;
}

static int
check_socket_file(int dfd, const char *name, uid_t uid)
{
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return -errno;
  if (S_ISLNK(st.st_mode))
    return -ELOOP;
  if (!S_ISSOCK(st.st_mode))
    return -ENOTSOCK;
  if (st.st_uid != uid)
    return -EPERM;
  return 0;
}

static int
check_path(const char *path, uid_t uid)
{
  char dir[PATH_MAX];
  const char *name;
  int dfd = -1;
  int r = split_path(path, dir, sizeof dir, &name);
  if (r < 0)
    return r;
  r = check_directory(dir, uid, &dfd);
  if (r < 0)
    return r;
  r = check_socket_file(dfd, name, uid);
  close(dfd);
  return r;
}

static int
wait_fd(int fd, short events, int64_t deadline_ms)
{
  for (;;) {
    int64_t left = deadline_ms - coffer_control_now_ms();
    if (left <= 0)
      return -ETIMEDOUT;
    struct pollfd pfd = { .fd = fd, .events = events };
    int n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -ETIMEDOUT;
    return 0; /* ready, or POLLERR/POLLHUP: the next syscall reports it */
  }
}

/* A non-blocking connect on an AF_UNIX stream socket fails with EAGAIN when
 * the listener's backlog is full (it never returns EINPROGRESS), so retry
 * until the deadline. */
static int
connect_until(int fd, const struct sockaddr_un *sun, int64_t deadline_ms)
{
  for (;;) {
    if (connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0)
      return 0;
    if (errno == EINTR)
      continue;
    if (errno == EINPROGRESS) {
      int r = wait_fd(fd, POLLOUT, deadline_ms);
      if (r < 0)
        return r;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return -errno;
      return -err;
    }
    if (errno != EAGAIN)
      return -errno;
    if (coffer_control_now_ms() + CONNECT_RETRY_MS >= deadline_ms)
      return -ETIMEDOUT;
    struct timespec pause = { 0, CONNECT_RETRY_MS * 1000000L };
    nanosleep(&pause, NULL);
  }
}

static int
check_peer(int fd, uid_t uid)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return -errno;
  if (len != sizeof cred || cred.uid != uid)
    return -EPERM;
  return 0;
}

int
coffer_control_connect(const char *path, uid_t expected_uid, int timeout_ms)
{
  int64_t deadline = coffer_control_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  if (path == NULL)
    return -EINVAL;
  if (strlen(path) >= sizeof sun.sun_path)
    return -ENAMETOOLONG;
  memcpy(sun.sun_path, path, strlen(path));

  /* These checks are advice for a clear error message; the guarantee is the
   * SO_PEERCRED check below, which no swap of files between check and
   * connect can fool. */
  int r = check_path(path, expected_uid);
  if (r < 0)
    return r;

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -errno;
  r = connect_until(fd, &sun, deadline);
  if (r == 0)
    r = check_peer(fd, expected_uid);
  if (r < 0) {
    close(fd);
    return r;
  }
  return fd;
}

/* ---- I/O ----------------------------------------------------------------- */

int
coffer_control_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms)
{
  const uint8_t *p = buf;
  while (len > 0) {
    /* MSG_NOSIGNAL: a vanished agent must be an error, not a SIGPIPE that
     * kills the login process the PAM module runs in. */
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int r = wait_fd(fd, POLLOUT, deadline_ms);
    if (r < 0)
      return r;
  }
  return 0;
}

/* Fills buf completely; -ECONNRESET when the peer closes first. */
static int
read_exact(int fd, uint8_t *buf, size_t len, int64_t deadline_ms)
{
  while (len > 0) {
    ssize_t n = recv(fd, buf, len, 0);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
      continue;
    }
    if (n == 0)
      return -ECONNRESET;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return -errno;
    int r = wait_fd(fd, POLLIN, deadline_ms);
    if (r < 0)
      return r;
  }
  return 0;
}

int
coffer_control_read_frame(int fd, uint8_t **body, size_t *body_len, int64_t deadline_ms)
{
  uint8_t header[COFFER_CONTROL_HEADER_BYTES];
  size_t len;
  *body = NULL;
  *body_len = 0;
  int r = read_exact(fd, header, sizeof header, deadline_ms);
  if (r < 0)
    return r;
  r = coffer_control_frame_body_length(header, &len);
  if (r < 0)
    return r;

  uint8_t *buf = coffer_control_secure_alloc(len);
  if (buf == NULL)
    return -ENOMEM;
  r = read_exact(fd, buf, len, deadline_ms);
  if (r < 0) {
    coffer_control_secure_free(buf, len, len);
    return r;
  }
  *body = buf;
  *body_len = len;
  return 0;
}

int
coffer_control_call(int fd, CofferControlBuilder *req, int timeout_ms, uint8_t **body, size_t *body_len,
                    CofferControlMessage *reply)
{
  int64_t deadline = coffer_control_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
  const uint8_t *frame;
  size_t frame_len;
  *body = NULL;
  *body_len = 0;
  memset(reply, 0, sizeof *reply);

  int r = coffer_control_builder_finish(req, &frame, &frame_len);
  if (r == 0)
    r = coffer_control_write_all(fd, frame, frame_len, deadline);
  /* The request may carry a password: wipe it as soon as it is sent. */
  coffer_control_builder_clear(req);
  if (r < 0)
    return r;

  uint8_t *buf;
  size_t len;
  r = coffer_control_read_frame(fd, &buf, &len, deadline);
  if (r < 0)
    return r;
  r = coffer_control_parse(buf, len, reply);
  if (r == 0 && reply->type != COFFER_CONTROL_OK && reply->type != COFFER_CONTROL_ERROR)
    r = -EBADMSG;
  if (r < 0) {
    memset(reply, 0, sizeof *reply);
    coffer_control_body_free(buf, len);
    return r;
  }
  *body = buf;
  *body_len = len;
  return 0;
}
