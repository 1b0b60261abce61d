/* coffer restore ITEM SEQ — make an old version of an item current again
 * (as a new revision, so it syncs).  SEQ comes from `coffer history ITEM`. */
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define USAGE "coffer restore ITEM VERSION   (ITEM: object path or id; VERSION: from `coffer history`)"

int
cli_restore(int argc, char **argv)
{
  CliArgs args;
  int r = cli_parse_args(argc, argv, USAGE, 0, 2, 2, &args);
  if (r >= 0)
    return r;
  char *end;
  errno = 0;
  unsigned long long seq = strtoull(args.positional[1], &end, 10);
  if (errno != 0 || *end != '\0' || end == args.positional[1] || args.positional[1][0] == '-') {
    cli_error("'%s' is not a version number", args.positional[1]);
    return CLI_EXIT_USAGE;
  }
  const char *item = cli_item_id(args.positional[0]);
  if (item == NULL)
    return CLI_EXIT_USAGE;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_RESTORE);
  coffer_control_builder_add_string(&req, COFFER_FIELD_ITEM, item);
  coffer_control_builder_add_u64(&req, COFFER_FIELD_SEQ, (uint64_t)seq);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  cli_reply_clear(&reply);
  printf("restored version %llu of %s\n", seq, item);
  return CLI_EXIT_OK;
}
