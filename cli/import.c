/* coffer CLI — `coffer import` and `coffer export`.
 *
 * Both run coffer-import from libexecdir: importing speaks D-Bus (GDBus) to
 * the old keyring and writes the vault store itself, which needs GLib, and
 * this CLI stays GLib-free.  COFFER_IMPORT_HELPER names another helper (the
 * test suites run it from the build tree). */
#include "config.h"
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
run_helper(const char *verb, int argc, char **argv)
{
  const char *helper = getenv("COFFER_IMPORT_HELPER");
  char **args = calloc((size_t)argc + 2, sizeof *args);

  if (helper == NULL || helper[0] == '\0')
    helper = COFFER_LIBEXECDIR "/coffer-import";
  if (args == NULL) {
    cli_error("out of memory");
    return CLI_EXIT_ERROR;
  }
  args[0] = "coffer-import";
  args[1] = (char *)verb;
  for (int i = 1; i < argc; i++)
    args[i + 1] = argv[i];
  execv(helper, args);
  cli_error("cannot run %s: %s", helper, strerror(errno));
  free(args);
  return CLI_EXIT_ERROR;
}

int
cli_import(int argc, char **argv)
{
  return run_helper("import", argc, argv);
}

int
cli_export(int argc, char **argv)
{
  return run_helper("export", argc, argv);
}
