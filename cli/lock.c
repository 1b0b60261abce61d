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
  return cli_call_and_say(&req, "vault locked");
}
