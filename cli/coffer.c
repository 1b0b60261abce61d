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
  { "remote", cli_remote, "set, show or remove the remote this vault syncs with" },
  { "join", cli_join, "use the vault stored at a remote on this machine too" },
  { "sync", cli_sync, "sync with the remote now" },
  { "history", cli_history, "list the older versions of an item" },
  { "restore", cli_restore, "make an older version of an item current again" },
  { "cleanup", cli_cleanup, "prune old versions and deletions, here and on the remote" },
  { "access", cli_access, "list or revoke what applications may always read (access=ask)" },
  { "import", cli_import, "import from gnome-keyring, KWallet, KeePassXC or an export file" },
  { "export", cli_export, "write the vault to a password-protected file" },
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
        "  --password-stdin  (init, unlock, passwd, remote set, join) read passwords from\n"
        "                    standard input, one per line (passwd: current, then new;\n"
        "                    remote set: server password if --user, then account password;\n"
        "                    join: server password if --user, account password, then the\n"
        "                    password for this machine)\n\n"
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
cli_parse_args(int argc, char **argv, const char *usage, unsigned flags, int min_pos, int max_pos, CliArgs *args)
{
  memset(args, 0, sizeof *args);
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      printf("Usage: %s\n", usage);
      return CLI_EXIT_OK;
    }
    if ((flags & CLI_ARG_PASSWORD_STDIN) && strcmp(arg, "--password-stdin") == 0) {
      args->password_stdin = true;
      continue;
    }
    if ((flags & CLI_ARG_USER) && strcmp(arg, "--user") == 0 && i + 1 < argc) {
      args->user = argv[++i];
      continue;
    }
    if ((flags & CLI_ARG_USER) && strncmp(arg, "--user=", 7) == 0) {
      args->user = arg + 7;
      continue;
    }
    if (arg[0] == '-' && arg[1] != '\0') {
      cli_error("unexpected option '%s'", arg);
      fprintf(stderr, "Usage: %s\n", usage);
      return CLI_EXIT_USAGE;
    }
    if (args->n_positional >= max_pos || args->n_positional >= 3) {
      cli_error("unexpected argument '%s'", arg);
      fprintf(stderr, "Usage: %s\n", usage);
      return CLI_EXIT_USAGE;
    }
    args->positional[args->n_positional++] = arg;
  }
  if (args->n_positional < min_pos) {
    cli_error("missing argument");
    fprintf(stderr, "Usage: %s\n", usage);
    return CLI_EXIT_USAGE;
  }
  return -1;
}

const char *
cli_item_id(const char *arg)
{
  const char *slash = strrchr(arg, '/');
  const char *id = slash ? slash + 1 : arg;
  size_t n = strlen(id);
  bool ok = n == 32;
  for (size_t i = 0; ok && i < n; i++)
    ok = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
  if (!ok)
    cli_error("'%s' is not an item (give its object path or its 32-digit id)", arg);
  return ok ? id : NULL;
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
