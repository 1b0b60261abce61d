/* coffer unlock — open the vault with its password. */
#include "cli.h"

#include <stdio.h>

int
cli_unlock(int argc, char **argv)
{
  bool from_stdin;
  int r = cli_parse_options(argc, argv, "coffer unlock [--password-stdin]", &from_stdin);
  if (r >= 0)
    return r;

  CliPassword pw;
  if (cli_password_read(from_stdin, "Vault password: ", &pw) < 0)
    return CLI_EXIT_ERROR;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_UNLOCK);
  coffer_control_builder_add_bytes(&req, COFFER_FIELD_PASSWORD, pw.data, pw.len);
  cli_password_free(&pw);

  return cli_call_and_say(&req, "vault unlocked");
}
