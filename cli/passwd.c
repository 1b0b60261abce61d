/* coffer passwd — change the password of this device's key slot.  Only the
 * local slot is re-wrapped; nothing else is re-encrypted. */
#include "cli.h"

#include <stdio.h>

int
cli_passwd(int argc, char **argv)
{
  bool from_stdin;
  int r = cli_parse_options(argc, argv, "coffer passwd [--password-stdin]", &from_stdin);
  if (r >= 0)
    return r;

  /* With --password-stdin: line 1 is the current password, line 2 the new. */
  CliPassword old_pw, new_pw;
  if (cli_password_read(from_stdin, "Current password: ", &old_pw) < 0)
    return CLI_EXIT_ERROR;
  if (cli_password_read_new(from_stdin, "New password: ", "Repeat the new password: ", &new_pw) < 0) {
    cli_password_free(&old_pw);
    return CLI_EXIT_ERROR;
  }

  CofferControlBuilder req;
  coffer_control_builder_init(&req, COFFER_CONTROL_PASSWD);
  coffer_control_builder_add_bytes(&req, COFFER_FIELD_PASSWORD, old_pw.data, old_pw.len);
  coffer_control_builder_add_bytes(&req, COFFER_FIELD_NEW_PASSWORD, new_pw.data, new_pw.len);
  cli_password_free(&old_pw);
  cli_password_free(&new_pw);

  return cli_call_and_say(&req, "password changed");
}
