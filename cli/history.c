/* coffer history ITEM — older versions of an item, newest first: each
 * overwritten or conflict-losing version the vault kept.  The first column
 * is what `coffer restore ITEM VERSION` takes. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#define USAGE "coffer history ITEM   (ITEM: an item's object path or id)"

static void
print_entry(const CofferControlHistoryEntry *e)
{
  char when[32] = "?";
  time_t t = (time_t)e->added;
  struct tm tm;
  if (localtime_r(&t, &tm) != NULL)
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  printf("%-8" PRIu64 " %s  rev %016" PRIx64 ".", e->seq, when, e->hlc);
  for (size_t i = 0; i < 4; i++)
    printf("%02x", e->device[i]);
  printf("  %s%.*s\n", e->tombstone ? "(deleted) " : "", (int)e->label_len, (const char *)e->label);
}

int
cli_history(int argc, char **argv)
{
  CliArgs args;
  int r = cli_parse_args(argc, argv, USAGE, 0, 1, 1, &args);
  if (r >= 0)
    return r;
  const char *item = cli_item_id(args.positional[0]);
  if (item == NULL)
    return CLI_EXIT_USAGE;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_HISTORY);
  coffer_control_builder_add_string(&req, COFFER_FIELD_ITEM, item);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;

  CofferControlBytes cursor = reply.msg.history;
  CofferControlHistoryEntry e;
  int n = 0;
  puts("VERSION  KEPT AT              REVISION (hlc.device)         LABEL");
  while ((r = coffer_control_history_next(&cursor, &e)) > 0) {
    print_entry(&e);
    n++;
  }
  cli_reply_clear(&reply);
  if (r < 0) {
    cli_error("cofferd sent a history this coffer cannot read");
    return CLI_EXIT_ERROR;
  }
  if (n == 0)
    puts("(no older versions)");
  return CLI_EXIT_OK;
}
