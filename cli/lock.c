/* coffer lock — wipe the vault's keys from the agent's memory. */
#include "cli.h"

#include <stdio.h>

int
cli_lock(int argc, char **argv)
{
  int r = cli_parse_options(argc, argv, "coffer lock", NULL);
  if (r >= 0)
    return r;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_LOCK);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  cli_reply_clear(&reply);
  puts("vault locked");
  return CLI_EXIT_OK;
}
