/* coffer CLI — one request to cofferd over the control socket, and the
 * words for everything that can go wrong on the way. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Long enough for two Argon2id runs (passwd) on a slow machine. */
#define CALL_TIMEOUT_MS 60000
#define CONNECT_TIMEOUT_MS 5000

static void
report_connect_error(int r, const char *path)
{
  switch (-r) {
  case ENOENT:
    cli_error("cofferd is not running (no socket at %s)", path);
    break;
  case ECONNREFUSED:
    cli_error("cofferd is not running (nothing listening on %s)", path);
    break;
  case EPERM:
    cli_error("refusing to use %s: the directory must be yours with mode 0700, and the socket "
              "and the agent behind it must be yours",
              path);
    break;
  case ELOOP:
    cli_error("refusing to use %s: a symlink is in the way", path);
    break;
  case ENOTSOCK:
    cli_error("refusing to use %s: it is not a socket", path);
    break;
  case ETIMEDOUT:
    cli_error("cofferd did not accept the connection in time (%s)", path);
    break;
  default:
    cli_error("cannot reach cofferd at %s: %s", path, strerror(-r));
    break;
  }
}

static void
report_call_error(int r)
{
  switch (-r) {
  case ETIMEDOUT:
    cli_error("cofferd did not answer within %d s", CALL_TIMEOUT_MS / 1000);
    break;
  case ECONNRESET:
  case EPIPE:
    cli_error("cofferd closed the connection without answering");
    break;
  case EBADMSG:
  case EMSGSIZE:
  case EPROTONOSUPPORT:
    cli_error("cofferd sent a reply this coffer cannot read");
    break;
  default:
    cli_error("talking to cofferd failed: %s", strerror(-r));
    break;
  }
}

/* The agent's own words, when it sent some. */
static void
report_agent_error(const CofferControlMessage *m)
{
  int n = (int)(m->message.len > 1000 ? 1000 : m->message.len);
  const char *detail = n > 0 ? (const char *)m->message.data : "no details";
  if (n == 0)
    n = (int)strlen(detail);

  switch (m->error_code) {
  case COFFER_CONTROL_ERR_BAD_PASSWORD:
    cli_error("wrong password");
    break;
  case COFFER_CONTROL_ERR_NOT_INITIALIZED:
    cli_error("no vault yet — run `coffer init`");
    break;
  case COFFER_CONTROL_ERR_ALREADY_INITIALIZED:
    cli_error("a vault already exists (change its password with `coffer passwd`)");
    break;
  case COFFER_CONTROL_ERR_LOCKED:
    cli_error("the vault is locked — run `coffer unlock`");
    break;
  case COFFER_CONTROL_ERR_INVALID:
    cli_error("%.*s", n, detail);
    break;
  case COFFER_CONTROL_ERR_PROTOCOL:
    cli_error("cofferd rejected the request: %.*s", n, detail);
    break;
  case COFFER_CONTROL_ERR_NO_REMOTE:
    cli_error("no remote is set — run `coffer remote set URL` or `coffer join URL`");
    break;
  case COFFER_CONTROL_ERR_SYNC:
    cli_error("sync failed: %.*s", n, detail);
    break;
  default:
    cli_error("cofferd failed: %.*s", n, detail);
    break;
  }
}

int
cli_call(CofferControlBuilder *req, CliReply *reply)
{
  char path[PATH_MAX];
  memset(reply, 0, sizeof *reply);
  int r = coffer_control_socket_path(path, sizeof path);
  if (r < 0) {
    coffer_control_builder_clear(req);
    if (r == -ENOENT)
      cli_error("cannot find cofferd's socket: XDG_RUNTIME_DIR is not set and /run/user/%u "
                "does not exist",
                (unsigned)getuid());
    else
      cli_error("cannot find cofferd's socket: %s", strerror(-r));
    return -1;
  }

  int fd = coffer_control_connect(path, getuid(), CONNECT_TIMEOUT_MS);
  if (fd < 0) {
    coffer_control_builder_clear(req);
    report_connect_error(fd, path);
    return -1;
  }
  r = coffer_control_call(fd, req, CALL_TIMEOUT_MS, &reply->body, &reply->body_len, &reply->msg);
  close(fd);
  if (r < 0) {
    report_call_error(r);
    return -1;
  }
  if (reply->msg.type == COFFER_CONTROL_ERROR) {
    report_agent_error(&reply->msg);
    cli_reply_clear(reply);
    return -1;
  }
  return 0;
}

void
cli_reply_clear(CliReply *reply)
{
  coffer_control_body_free(reply->body, reply->body_len);
  memset(reply, 0, sizeof *reply);
}

int
cli_call_and_say(CofferControlBuilder *req, const char *done)
{
  CliReply reply;

  if (cli_call(req, &reply) < 0)
    return CLI_EXIT_ERROR;
  cli_reply_clear(&reply);
  puts(done);
  return CLI_EXIT_OK;
}
