/* Unit tests for agent/config: coffer.conf's known keys, defaults, and what
 * happens to unknown or malformed entries (ignored, the default kept). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib/gstdio.h>

#include "config/config.h"

static char *
write_config(const char *text)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp("coffer-config-XXXXXX", &error);
  char *path;

  assert_non_null(dir);
  path = g_build_filename(dir, "coffer.conf", NULL);
  assert_true(g_file_set_contents(path, text, -1, &error));
  g_free(dir);
  return path;
}

static void
remove_config(char *path)
{
  char *dir = g_path_get_dirname(path);
  g_unlink(path);
  g_rmdir(dir);
  g_free(dir);
  g_free(path);
}

static void
test_missing_file_gives_defaults(void **state)
{
  g_autoptr(CofferConfig) config = coffer_config_load("/nonexistent/coffer.conf");

  assert_null(coffer_config_get_string(config, "agent", "pinentry"));
  assert_int_equal(coffer_config_get_uint(config, "agent", "prompt_timeout"), 300);
}

static void
test_values_are_read(void **state)
{
  char *path = write_config("# comment\n[agent]\npinentry = /usr/bin/pinentry-tty \nprompt_timeout=0\n");
  g_autoptr(CofferConfig) config = coffer_config_load(path);

  assert_string_equal(coffer_config_get_string(config, "agent", "pinentry"), "/usr/bin/pinentry-tty");
  assert_int_equal(coffer_config_get_uint(config, "agent", "prompt_timeout"), 0);
  remove_config(path);
}

static void
test_bad_entries_keep_defaults(void **state)
{
  char *path = write_config("[agent]\nprompt_timeout=-5\nunknown=1\npinentry=none\n"
                            "[elsewhere]\nprompt_timeout=7\n");
  g_autoptr(CofferConfig) config = coffer_config_load(path);

  assert_int_equal(coffer_config_get_uint(config, "agent", "prompt_timeout"), 300);
  assert_string_equal(coffer_config_get_string(config, "agent", "pinentry"), "none");
  remove_config(path);
}

static void
test_out_of_range_and_garbage(void **state)
{
  char *path = write_config("[agent]\nprompt_timeout=86401\n");
  g_autoptr(CofferConfig) config = coffer_config_load(path);
  char *broken = write_config("this is not a key file\n");
  g_autoptr(CofferConfig) defaults = coffer_config_load(broken);

  assert_int_equal(coffer_config_get_uint(config, "agent", "prompt_timeout"), 300);
  assert_int_equal(coffer_config_get_uint(defaults, "agent", "prompt_timeout"), 300);
  remove_config(path);
  remove_config(broken);
}

/* access: off by default, "ask" turns it on, anything else is refused. */
static void
test_access_choices(void **state)
{
  char *ask = write_config("[agent]\naccess=ask\n");
  char *bad = write_config("[agent]\naccess=always\n");
  g_autoptr(CofferConfig) defaults = coffer_config_load("/nonexistent/coffer.conf");
  g_autoptr(CofferConfig) on = coffer_config_load(ask);
  g_autoptr(CofferConfig) refused = coffer_config_load(bad);

  assert_string_equal(coffer_config_get_string(defaults, "agent", "access"), "off");
  assert_string_equal(coffer_config_get_string(on, "agent", "access"), "ask");
  assert_string_equal(coffer_config_get_string(refused, "agent", "access"), "off");
  remove_config(ask);
  remove_config(bad);
}

static void
test_default_path(void **state)
{
  g_autofree char *path = coffer_config_default_path();

  assert_true(g_str_has_suffix(path, "/coffer/coffer.conf"));
  assert_true(g_str_has_prefix(path, g_get_user_config_dir()));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_missing_file_gives_defaults),
    cmocka_unit_test(test_values_are_read),
    cmocka_unit_test(test_bad_entries_keep_defaults),
    cmocka_unit_test(test_out_of_range_and_garbage),
    cmocka_unit_test(test_access_choices),
    cmocka_unit_test(test_default_path),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
