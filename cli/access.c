/* coffer access — the per-application access decisions cofferd remembers
 * (access=ask in coffer.conf; docs/security.md).
 *
 *   coffer access list
 *   coffer access revoke APP [ITEM]
 *
 * APP is what `list` shows in its APPLICATION column: a program's path (every
 * version of it), a Flatpak app id, or a full identity (exe:<sha256>:<path>,
 * one version).  ITEM (an id or object path) limits the revocation to one
 * item.  A revoked application is asked again the next time it reads. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define USAGE "coffer access list | coffer access revoke APP [ITEM]"
#define EXE_PREFIX "exe:"
#define FLATPAK_PREFIX "flatpak:"
#define HASH_LEN 64

/* "/usr/bin/foo  sha256:0123456789ab" or "org.example.App  (Flatpak)". */
static void
print_app(const uint8_t *app, size_t len)
{
  size_t exe = strlen(EXE_PREFIX), flatpak = strlen(FLATPAK_PREFIX);

  if (len > exe + HASH_LEN + 1 && memcmp(app, EXE_PREFIX, exe) == 0 && app[exe + HASH_LEN] == ':') {
    const uint8_t *path = app + exe + HASH_LEN + 1;
    printf("%.*s  sha256:%.12s", (int)(len - (size_t)(path - app)), (const char *)path, (const char *)app + exe);
  } else if (len > flatpak && memcmp(app, FLATPAK_PREFIX, flatpak) == 0) {
    printf("%.*s  (Flatpak)", (int)(len - flatpak), (const char *)app + flatpak);
  } else {
    printf("%.*s", (int)len, (const char *)app);
  }
}

static void
print_entry(const CofferControlAccessEntry *e)
{
  char when[32] = "?";
  time_t t = (time_t)e->created;
  struct tm tm;

  if (localtime_r(&t, &tm) != NULL)
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
  printf("%-5s  %s  %.32s  ", e->decision == COFFER_CONTROL_ACCESS_ALLOW ? "allow" : "deny", when,
         (const char *)e->item);
  print_app(e->app, e->app_len);
  if (e->label_len > 0)
    printf("  \"%.*s\"\n", (int)e->label_len, (const char *)e->label);
  else
    puts("  (item deleted)");
}

static int
access_list(int argc, char **argv)
{
  int r = cli_parse_options(argc, argv, "coffer access list", NULL);
  if (r >= 0)
    return r;
  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_ACCESS_LIST);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;

  CofferControlBytes cursor = reply.msg.access;
  CofferControlAccessEntry e;
  int n = 0;
  while ((r = coffer_control_access_next(&cursor, &e)) > 0) {
    if (n++ == 0)
      puts("DECISION SINCE             ITEM                              APPLICATION  \"ITEM LABEL\"");
    print_entry(&e);
  }
  if (r == 0 && n == 0)
    puts("(no decisions: every application reading another one's secret is asked)");
  if (r == 0 && coffer_control_has(&reply.msg, COFFER_FIELD_MESSAGE))
    printf("%.*s\n", (int)reply.msg.message.len, (const char *)reply.msg.message.data);
  cli_reply_clear(&reply);
  if (r < 0) {
    cli_error("cofferd sent a list this coffer cannot read");
    return CLI_EXIT_ERROR;
  }
  return CLI_EXIT_OK;
}

static int
access_revoke(int argc, char **argv)
{
  CliArgs args;
  int r = cli_parse_args(argc, argv, "coffer access revoke APP [ITEM]", 0, 1, 2, &args);
  if (r >= 0)
    return r;
  const char *item = NULL;
  if (args.n_positional == 2 && (item = cli_item_id(args.positional[1])) == NULL)
    return CLI_EXIT_USAGE;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_ACCESS_REVOKE);
  coffer_control_builder_add_string(&req, COFFER_FIELD_APP, args.positional[0]);
  if (item != NULL)
    coffer_control_builder_add_string(&req, COFFER_FIELD_ITEM, item);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  uint64_t revoked = reply.msg.revoked;
  cli_reply_clear(&reply);
  if (revoked == 0) {
    cli_error("no decision about %s%s%s matched", args.positional[0], item ? " and item " : "", item ? item : "");
    return CLI_EXIT_ERROR;
  }
  printf("revoked %" PRIu64 " decision%s\n", revoked, revoked == 1 ? "" : "s");
  return CLI_EXIT_OK;
}

int
cli_access(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "Usage: %s\n", USAGE);
    return CLI_EXIT_USAGE;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "list") == 0)
    return access_list(argc - 1, argv + 1);
  if (strcmp(sub, "revoke") == 0)
    return access_revoke(argc - 1, argv + 1);
  if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
    printf("Usage: %s\n", USAGE);
    return CLI_EXIT_OK;
  }
  cli_error("unknown subcommand 'access %s'", sub);
  fprintf(stderr, "Usage: %s\n", USAGE);
  return CLI_EXIT_USAGE;
}
