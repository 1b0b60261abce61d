/* coffer init — create the vault and set its password. */
#include "cli.h"

#include <stdio.h>

int
cli_init(int argc, char **argv)
{
  bool from_stdin;
  int r = cli_parse_options(argc, argv, "coffer init [--password-stdin]", &from_stdin);
  if (r >= 0)
    return r;

  CliPassword pw;
  if (cli_password_read_new(from_stdin, "New vault password: ", "Repeat the password: ", &pw) < 0)
    return CLI_EXIT_ERROR;

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_INIT);
  coffer_control_builder_add_bytes(&req, COFFER_FIELD_PASSWORD, pw.data, pw.len);
  cli_password_free(&pw);

  return cli_call_and_say(&req, "vault created and unlocked");
}
