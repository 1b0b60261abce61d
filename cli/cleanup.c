/* coffer cleanup — prune old history and expired deletions, here and on the
 * remote, and say what it reclaimed.  Ages and counts: docs/configuration.md. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

int
cli_cleanup(int argc, char **argv)
{
  int r = cli_parse_options(argc, argv, "coffer cleanup", NULL);
  if (r >= 0)
    return r;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_CLEANUP);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  const CofferControlMessage *m = &reply.msg;
  printf("removed %" PRIu64 " old versions and %" PRIu64 " expired deletions here (%" PRIu64 " bytes), %" PRIu64
         " expired deletions on the remote\n",
         m->history_removed, m->tombstones_removed, m->bytes_reclaimed, m->remote_removed);
  cli_reply_clear(&reply);
  return CLI_EXIT_OK;
}
