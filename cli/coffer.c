/* coffer — command-line control of the coffer agent (cofferd).
 * Exit codes: 0 success, 1 error (named on stderr), 2 usage. */
#include "config.h"
#include "cli.h"

#include <locale.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} Verb;

static const Verb verbs[] = {
  { "init", cli_init, "create the vault and set its password" },
  { "unlock", cli_unlock, "unlock the vault" },
  { "lock", cli_lock, "lock the vault (wipe keys from memory)" },
  { "status", cli_status, "show whether the vault is locked and what it holds" },
  { "passwd", cli_passwd, "change the vault's password on this device" },
};

void
cli_error(const char *fmt, ...)
{
  va_list ap;
  fputs("coffer: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void
print_help(FILE *out)
{
  fputs("Usage: coffer <command> [options]\n\nCommands:\n", out);
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    fprintf(out, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
  fputs("  help     show this help\n\n"
        "Options:\n"
        "  --version         print the version\n"
        "  --password-stdin  (init, unlock, passwd) read passwords from standard input,\n"
        "                    one per line (passwd: current, then new)\n\n"
        "Run `coffer <command> --help` for a command's usage.\n",
        out);
}

int
cli_parse_options(int argc, char **argv, const char *usage, bool *password_stdin)
{
  if (password_stdin != NULL)
    *password_stdin = false;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      printf("Usage: %s\n", usage);
      return CLI_EXIT_OK;
    }
    if (password_stdin != NULL && strcmp(arg, "--password-stdin") == 0) {
      *password_stdin = true;
      continue;
    }
    cli_error("unexpected argument '%s'", arg);
    fprintf(stderr, "Usage: %s\n", usage);
    return CLI_EXIT_USAGE;
  }
  return -1;
}

int
main(int argc, char **argv)
{
  setlocale(LC_ALL, "");
  if (sodium_init() < 0) {
    cli_error("libsodium failed to initialise");
    return CLI_EXIT_ERROR;
  }
  if (argc < 2) {
    print_help(stderr);
    return CLI_EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("coffer %s\n", COFFER_VERSION);
    return CLI_EXIT_OK;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    print_help(stdout);
    return CLI_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    if (strcmp(cmd, verbs[i].name) == 0)
      return verbs[i].run(argc - 1, argv + 1);

  cli_error("unknown command '%s' (see `coffer help`)", cmd);
  return CLI_EXIT_USAGE;
}
