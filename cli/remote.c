/* coffer remote — where this vault syncs to.
 *
 *   coffer remote set URL [--user USER] [--password-stdin]
 *   coffer remote show
 *   coffer remote remove
 *
 * `set` asks for the server password (only with --user) and for the account
 * password, which wraps the vault key in the remote's header: another machine
 * joins with the URL and that password (`coffer join`).  With
 * --password-stdin they are read one per line in that order. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SET_USAGE "coffer remote set URL [--user USER] [--password-stdin]"
#define USAGE "coffer remote set URL [--user USER] [--password-stdin] | coffer remote show | coffer remote remove"

static int
remote_set(int argc, char **argv)
{
  CliArgs args;
  int r = cli_parse_args(argc, argv, SET_USAGE, CLI_ARG_USER | CLI_ARG_PASSWORD_STDIN, 1, 1, &args);
  if (r >= 0)
    return r;

  CliPassword server = { 0 }, account = { 0 };
  if (args.user != NULL && cli_password_read(args.password_stdin, "Server password: ", &server) < 0)
    return CLI_EXIT_ERROR;
  if (cli_password_read_new(args.password_stdin, "Account password (opens this vault on other machines): ",
                            "Repeat the account password: ", &account) < 0) {
    cli_password_free(&server);
    return CLI_EXIT_ERROR;
  }

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_REMOTE_SET);
  coffer_control_builder_add_string(&req, COFFER_FIELD_REMOTE_URL, args.positional[0]);
  if (args.user != NULL) {
    coffer_control_builder_add_string(&req, COFFER_FIELD_REMOTE_USER, args.user);
    coffer_control_builder_add_bytes(&req, COFFER_FIELD_REMOTE_PASSWORD, server.data, server.len);
  }
  coffer_control_builder_add_bytes(&req, COFFER_FIELD_ACCOUNT_PASSWORD, account.data, account.len);
  cli_password_free(&server);
  cli_password_free(&account);

  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  cli_reply_clear(&reply);
  printf("remote set: %s\n", args.positional[0]);
  return CLI_EXIT_OK;
}

static int
remote_show(int argc, char **argv)
{
  int r = cli_parse_options(argc, argv, "coffer remote show", NULL);
  if (r >= 0)
    return r;
  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_STATUS);
  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  const CofferControlMessage *m = &reply.msg;
  if (!coffer_control_has(m, COFFER_FIELD_REMOTE_URL)) {
    puts(m->locked ? "remote: unknown while the vault is locked" : "remote: none");
  } else {
    printf("url: %.*s\n", (int)m->remote_url.len, (const char *)m->remote_url.data);
    if (coffer_control_has(m, COFFER_FIELD_REMOTE_USER))
      printf("user: %.*s\n", (int)m->remote_user.len, (const char *)m->remote_user.data);
  }
  cli_reply_clear(&reply);
  return CLI_EXIT_OK;
}

static int
remote_remove(int argc, char **argv)
{
  int r = cli_parse_options(argc, argv, "coffer remote remove", NULL);
  if (r >= 0)
    return r;
  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_REMOTE_REMOVE);
  return cli_call_and_say(&req, "remote removed (its data on the server is untouched)");
}

int
cli_remote(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "Usage: %s\n", USAGE);
    return CLI_EXIT_USAGE;
  }
  const char *sub = argv[1];
  if (strcmp(sub, "set") == 0)
    return remote_set(argc - 1, argv + 1);
  if (strcmp(sub, "show") == 0)
    return remote_show(argc - 1, argv + 1);
  if (strcmp(sub, "remove") == 0)
    return remote_remove(argc - 1, argv + 1);
  if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
    printf("Usage: %s\n", USAGE);
    return CLI_EXIT_OK;
  }
  cli_error("unknown subcommand 'remote %s'", sub);
  fprintf(stderr, "Usage: %s\n", USAGE);
  return CLI_EXIT_USAGE;
}
