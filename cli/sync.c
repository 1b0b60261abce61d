/* coffer sync — sync with the remote now and wait for the result. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

int
cli_sync(int argc, char **argv)
{
  int r = cli_parse_options(argc, argv, "coffer sync", NULL);
  if (r >= 0)
    return r;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_SYNC);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  const CofferControlMessage *m = &reply.msg;
  printf("synced: %" PRIu64 " sent, %" PRIu64 " received, %" PRIu64 " conflicts, %" PRIu64 " refused\n", m->pushed,
         m->pulled, m->conflicts, m->refused);
  int code = m->refused > 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
  if (m->refused > 0)
    cli_error("the remote offered objects that fail verification (see `coffer status`)");
  cli_reply_clear(&reply);
  return code;
}
