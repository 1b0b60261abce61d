/* coffer status — what the agent holds, in a few human-readable lines. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

static void
print_size(uint64_t bytes)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
  double value = (double)bytes;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
    value /= 1024;
    unit++;
  }
  if (unit == 0)
    printf("%" PRIu64 " B", bytes);
  else
    printf("%.*f %s", value < 10 ? 1 : 0, value, units[unit]);
}

static void
print_sync_status(const CofferControlMessage *m)
{
  if (!coffer_control_has(m, COFFER_FIELD_REMOTE_URL)) {
    if (m->initialized && !m->locked)
      puts("remote: none");
  } else {
    printf("remote: %.*s", (int)m->remote_url.len, (const char *)m->remote_url.data);
    if (coffer_control_has(m, COFFER_FIELD_REMOTE_USER))
      printf(" (user %.*s)", (int)m->remote_user.len, (const char *)m->remote_user.data);
    putchar('\n');
    if (m->last_sync == 0) {
      puts("last sync: never");
    } else {
      char when[32] = "?";
      time_t t = (time_t)m->last_sync;
      struct tm tm;
      if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
      printf("last sync: %s\n", when);
    }
    fputs("remote size: ", stdout);
    print_size(m->remote_bytes);
    putchar('\n');
  }
  /* Without a remote every record is "pending": say nothing. */
  if (coffer_control_has(m, COFFER_FIELD_PENDING) && coffer_control_has(m, COFFER_FIELD_REMOTE_URL))
    printf("pending changes: %" PRIu64 "\n", m->pending);
  if (coffer_control_has(m, COFFER_FIELD_LAST_ERROR))
    printf("last sync error: %.*s\n", (int)m->last_error.len, (const char *)m->last_error.data);
}

static void
print_status(const CofferControlMessage *m)
{
  const char *state = !m->initialized ? "not initialized (run `coffer init`)" : m->locked ? "locked" : "unlocked";
  printf("vault: %s\n", state);
  if (m->initialized && coffer_control_has(m, COFFER_FIELD_COLLECTIONS))
    printf("collections: %" PRIu64 "\n", m->collections);
  if (m->initialized && coffer_control_has(m, COFFER_FIELD_ITEMS))
    printf("items: %" PRIu64 "\n", m->items);
  if (coffer_control_has(m, COFFER_FIELD_STORE_PATH)) {
    printf("store: %.*s (", (int)m->store_path.len, (const char *)m->store_path.data);
    print_size(m->store_bytes);
    puts(")");
  }
  print_sync_status(m);
  if (coffer_control_has(m, COFFER_FIELD_AGENT_VERSION))
    printf("agent: cofferd %.*s\n", (int)m->agent_version.len, (const char *)m->agent_version.data);
}

int
cli_status(int argc, char **argv)
{
  int r = cli_parse_options(argc, argv, "coffer status", NULL);
  if (r >= 0)
    return r;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_STATUS);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  if (!coffer_control_has(&reply.msg, COFFER_FIELD_INITIALIZED)) {
    cli_reply_clear(&reply);
    cli_error("cofferd sent a status without the vault's state");
    return CLI_EXIT_ERROR;
  }
  print_status(&reply.msg);
  cli_reply_clear(&reply);
  return CLI_EXIT_OK;
}
