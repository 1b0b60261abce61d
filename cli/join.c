/* coffer join — use the vault at a remote on this machine too.
 *
 *   coffer join URL [--user USER] [--password-stdin]
 *
 * Asks for the server password (only with --user), the account password set
 * with `coffer remote set` on the first machine, and the password that will
 * unlock the vault on this machine (the login password; it may differ per
 * machine).  With --password-stdin: one per line, in that order.  A vault
 * already here is merged into the remote one. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

#define USAGE "coffer join URL [--user USER] [--password-stdin]"

int
cli_join(int argc, char **argv)
{
  CliArgs args;
  int r = cli_parse_args(argc, argv, USAGE, CLI_ARG_USER | CLI_ARG_PASSWORD_STDIN, 1, 1, &args);
  if (r >= 0)
    return r;

  CliPassword server = { 0 }, account = { 0 }, login = { 0 };
  if (args.user != NULL && cli_password_read(args.password_stdin, "Server password: ", &server) < 0)
    return CLI_EXIT_ERROR;
  if (cli_password_read(args.password_stdin, "Account password: ", &account) < 0 ||
      cli_password_read_new(args.password_stdin,
                            "Password for this machine (unlocks the vault here): ", "Repeat it: ", &login) < 0) {
    cli_password_free(&server);
    cli_password_free(&account);
    return CLI_EXIT_ERROR;
  }

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_JOIN);
  coffer_control_builder_add_string(&req, COFFER_FIELD_REMOTE_URL, args.positional[0]);
  if (args.user != NULL) {
    coffer_control_builder_add_string(&req, COFFER_FIELD_REMOTE_USER, args.user);
    coffer_control_builder_add_bytes(&req, COFFER_FIELD_REMOTE_PASSWORD, server.data, server.len);
  }
  coffer_control_builder_add_bytes(&req, COFFER_FIELD_ACCOUNT_PASSWORD, account.data, account.len);
  coffer_control_builder_add_bytes(&req, COFFER_FIELD_PASSWORD, login.data, login.len);
  cli_password_free(&server);
  cli_password_free(&account);
  cli_password_free(&login);

  CliReply reply;
  if (cli_call(&req, &reply) < 0)
    return CLI_EXIT_ERROR;
  printf("joined %s: %" PRIu64 " records received, %" PRIu64 " sent\n", args.positional[0], reply.msg.pulled,
         reply.msg.pushed);
  cli_reply_clear(&reply);
  return CLI_EXIT_OK;
}
