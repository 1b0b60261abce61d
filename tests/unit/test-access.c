/* Unit tests of per-application access control (agent/access/): the
 * Flatpak metadata parser, identity strings and how interpreters are named,
 * and the decisions kept in the vault's internal collection — hidden from
 * every listing, kept across lock/unlock, synced like any record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <glib/gstdio.h>
#include <string.h>

#include "access/access.h"
#include "vault/vault-sync.h"

#define PASSWORD "login password"
#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define APP_A "exe:" HASH_A ":/opt/a/app"
#define APP_A2 "exe:" HASH_B ":/opt/a/app"

/* ---- .flatpak-info ----------------------------------------------------------- */

static void
test_flatpak_info_names_the_app(void **state)
{
  static const char info[] = "[Application]\nname=org.example.Mail\nruntime=runtime/org.gnome.Platform/x86_64/45\n\n"
                             "[Instance]\ninstance-id=123\n";
  g_autoptr(GError) error = NULL;
  g_autofree char *id = coffer_app_info_parse_flatpak_info(info, strlen(info), &error);

  assert_non_null(id);
  assert_string_equal(id, "org.example.Mail");
}

static void
test_flatpak_info_refuses_what_is_not_an_app(void **state)
{
  static const char *const bad[] = {
    "[Runtime]\nname=org.gnome.Platform\n", /* a runtime, no app */
    "[Application]\nruntime=x\n",           /* no name */
    "[Application]\nname=../../etc\n",      /* not an app id */
    "[Application]\nname=nodots\n",
    "[Application]\nname=org.example.\n",
    "[Application]\nname=org..example\n",
    "[Application]\nname=org.example.1app\n",
    "[Application]\nname=org.example.a b\n",
    "not a key file at all\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree char *id = coffer_app_info_parse_flatpak_info(bad[i], strlen(bad[i]), &error);
    if (id != NULL)
      fail_msg("accepted %s as %s", bad[i], id);
    assert_non_null(error);
  }
}

static void
test_flatpak_info_is_bounded(void **state)
{
  gsize len = 70 * 1024;
  g_autofree char *big = g_malloc(len + 1);
  g_autoptr(GError) error = NULL;

  memset(big, '#', len);
  memcpy(big, "[Application]\nname=org.example.Big\n#", 36);
  big[len] = '\0';
  assert_null(coffer_app_info_parse_flatpak_info(big, len, &error));
}

/* ---- identities ----------------------------------------------------------------- */

static void
test_interpreters_and_tools_are_named(void **state)
{
  static const char *const interpreters[] = { "/usr/bin/python3",
                                              "/usr/bin/python3.11",
                                              "/usr/bin/perl",
                                              "/usr/bin/perl5.36.0",
                                              "/usr/bin/ruby3.1",
                                              "/usr/bin/node",
                                              "/bin/sh",
                                              "/usr/bin/bash",
                                              "/usr/bin/dash",
                                              "/usr/bin/zsh",
                                              "/usr/bin/python3.11 (deleted)" };
  static const char *const tools[] = { "/usr/bin/secret-tool", "/usr/bin/gdbus", "/usr/bin/dbus-send" };
  static const char *const others[] = { "/usr/bin/firefox", "/usr/bin/pythonic", "/opt/perlish", "/usr/bin/nodes",
                                        "/usr/bin/bash-helper" };

  for (guint i = 0; i < G_N_ELEMENTS(interpreters); i++)
    assert_string_equal(coffer_app_exe_note(interpreters[i]), "an interpreter: any script it runs");
  for (guint i = 0; i < G_N_ELEMENTS(tools); i++)
    assert_string_equal(coffer_app_exe_note(tools[i]), "a generic tool: whoever runs it");
  for (guint i = 0; i < G_N_ELEMENTS(others); i++)
    assert_null(coffer_app_exe_note(others[i]));
}

static void
test_identity_strings(void **state)
{
  g_autoptr(CofferAppInfo) host = coffer_app_info_new_host("/usr/bin/python3.11", HASH_A);
  g_autoptr(CofferAppInfo) app = coffer_app_info_new_flatpak("org.example.Mail");
  g_autoptr(CofferAppInfo) unknown = coffer_app_info_new_unknown("the process exited");
  g_autofree char *name = coffer_app_id_name(APP_A);
  g_autofree char *hash = coffer_app_id_sha256(APP_A);
  g_autofree char *plain = coffer_app_id_describe(APP_A);
  g_autofree char *nobody = coffer_app_id_describe(NULL);

  assert_string_equal(coffer_app_info_get_id(host), "exe:" HASH_A ":/usr/bin/python3.11");
  assert_string_equal(coffer_app_info_get_display_name(host), "python3.11 (an interpreter: any script it runs)");
  assert_string_equal(coffer_app_info_get_id(app), "flatpak:org.example.Mail");
  assert_string_equal(coffer_app_info_get_display_name(app), "org.example.Mail (Flatpak)");
  assert_null(coffer_app_info_get_id(unknown));
  assert_int_equal(coffer_app_info_get_kind(unknown), COFFER_APP_UNKNOWN);
  assert_string_equal(coffer_app_info_get_reason(unknown), "the process exited");
  assert_string_equal(name, "/opt/a/app");
  assert_string_equal(hash, HASH_A);
  assert_string_equal(plain, "app (/opt/a/app)");
  assert_string_equal(nobody, "an unknown application");
  /* a path names every version of a program; a full identity one */
  assert_true(coffer_app_id_matches(APP_A, "/opt/a/app"));
  assert_true(coffer_app_id_matches(APP_A2, "/opt/a/app"));
  assert_true(coffer_app_id_matches(APP_A, APP_A));
  assert_false(coffer_app_id_matches(APP_A2, APP_A));
  assert_false(coffer_app_id_matches(APP_A, "/opt/a"));
  assert_false(coffer_app_id_matches(APP_A, ""));
  assert_true(coffer_app_id_matches("flatpak:org.example.Mail", "org.example.Mail"));
  assert_null(coffer_app_id_sha256("flatpak:org.example.Mail"));
  assert_null(coffer_app_id_name("exe:short:/x"));
}

/* ---- the vault side ---------------------------------------------------------------- */

typedef struct {
  char *dir;
  CofferVault *vault;
} Fixture;

static CofferVault *
open_vault(const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename(dir, name, NULL);
  g_autoptr(GError) error = NULL;
  CofferVault *vault = coffer_vault_open(path, &error);

  assert_non_null(vault);
  return vault;
}

static int
setup(void **state)
{
  Fixture *fx = g_new0(Fixture, 1);
  g_autoptr(GError) error = NULL;

  g_setenv("COFFER_KDF_FAST", "1", TRUE);
  fx->dir = g_dir_make_tmp("coffer-access-XXXXXX", NULL);
  fx->vault = open_vault(fx->dir, "vault.db");
  assert_true(coffer_vault_initialize(fx->vault, PASSWORD, strlen(PASSWORD), &error));
  *state = fx;
  return 0;
}

static int
teardown(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GDir) dir = g_dir_open(fx->dir, 0, NULL);
  const char *name;

  g_clear_object(&fx->vault);
  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *path = g_build_filename(fx->dir, name, NULL);
    g_unlink(path);
  }
  g_rmdir(fx->dir);
  g_free(fx->dir);
  g_free(fx);
  return 0;
}

static CofferItem *
create(CofferVault *vault, const char *label, const char *key, const char *app, gboolean replace)
{
  g_autoptr(GHashTable) attributes = g_hash_table_new(g_str_hash, g_str_equal);
  g_autoptr(GError) error = NULL;
  CofferItemContent content = {
    .label = label, .attributes = attributes, .secret = (const guint8 *)"s", .secret_len = 1, .app = app
  };
  CofferItem *item;

  g_hash_table_insert(attributes, "key", (gpointer)key);
  item = coffer_vault_create_item(vault, coffer_vault_find_collection(vault, COFFER_LOGIN_COLLECTION), &content,
                                  replace, NULL, &error);
  assert_non_null(item);
  return item;
}

static void
test_items_remember_their_creator(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autofree char *name = g_strdup(coffer_item_get_name(create(fx->vault, "mine", "k1", APP_A, FALSE)));
  g_autofree char *unknown = g_strdup(coffer_item_get_name(create(fx->vault, "old", "k2", NULL, FALSE)));
  CofferCollection *login = coffer_vault_find_collection(fx->vault, COFFER_LOGIN_COLLECTION);
  CofferItem *item;

  /* replacing the contents keeps the creator */
  create(fx->vault, "mine, again", "k1", APP_A2, TRUE);
  coffer_vault_lock(fx->vault);
  assert_null(coffer_item_get_app(coffer_collection_find_item(login, name)));
  g_clear_object(&fx->vault);
  fx->vault = open_vault(fx->dir, "vault.db");
  assert_true(coffer_vault_unlock(fx->vault, PASSWORD, strlen(PASSWORD), &error));
  login = coffer_vault_find_collection(fx->vault, COFFER_LOGIN_COLLECTION);
  item = coffer_collection_find_item(login, name);
  assert_string_equal(coffer_item_get_label(item), "mine, again");
  assert_string_equal(coffer_item_get_app(item), APP_A);
  assert_null(coffer_item_get_app(coffer_collection_find_item(login, unknown)));
}

static void
test_decisions_are_hidden_listed_and_revoked(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) collections = NULL;
  g_autoptr(GPtrArray) everything = NULL;
  g_autoptr(GPtrArray) decisions = NULL;
  g_autofree char *item = g_strdup(coffer_item_get_name(create(fx->vault, "mail", "k", APP_A, FALSE)));
  g_autofree char *internal = NULL;
  CofferCollection *hidden;

  assert_null(coffer_vault_get_access_collection(fx->vault, FALSE, NULL));
  assert_true(coffer_access_remember(fx->vault, APP_A2, item, "mail", &error));
  assert_true(coffer_access_remember(fx->vault, APP_A2, item, "mail", &error)); /* the same record, not two */
  assert_true(coffer_access_remember(fx->vault, "flatpak:org.example.Mail", item, "mail", &error));
  hidden = coffer_vault_get_access_collection(fx->vault, FALSE, NULL);
  assert_non_null(hidden);
  internal = g_strdup(coffer_collection_get_name(hidden));
  assert_true(coffer_vault_is_internal_collection(internal));
  assert_false(coffer_vault_is_internal_collection(COFFER_LOGIN_COLLECTION));

  /* nobody finds it */
  collections = coffer_vault_list_collections(fx->vault);
  assert_int_equal(collections->len, 2); /* login, session */
  assert_null(coffer_vault_find_collection(fx->vault, internal));
  assert_true(coffer_vault_set_alias(fx->vault, "sneaky", hidden, &error));
  assert_null(coffer_vault_resolve_alias(fx->vault, "sneaky"));
  everything = coffer_vault_search(fx->vault, NULL, NULL, &error);
  assert_int_equal(everything->len, 1);

  decisions = coffer_access_list_decisions(fx->vault, &error);
  assert_int_equal(decisions->len, 2);
  assert_string_equal(((CofferAccessDecision *)decisions->pdata[0])->app, APP_A2);
  assert_string_equal(((CofferAccessDecision *)decisions->pdata[0])->item, item);
  assert_string_equal(((CofferAccessDecision *)decisions->pdata[0])->decision, "allow");
  assert_string_equal(((CofferAccessDecision *)decisions->pdata[1])->app, "flatpak:org.example.Mail");

  /* kept across lock and unlock; unreadable while locked */
  coffer_vault_lock(fx->vault);
  assert_null(coffer_access_list_decisions(fx->vault, NULL));
  assert_int_equal(coffer_access_revoke(fx->vault, "/opt/a/app", NULL, NULL), -1);
  assert_true(coffer_vault_unlock(fx->vault, PASSWORD, strlen(PASSWORD), &error));

  assert_int_equal(coffer_access_revoke(fx->vault, "/opt/b/app", NULL, &error), 0);
  assert_int_equal(coffer_access_revoke(fx->vault, "/opt/a/app", "00000000000000000000000000000000", &error), 0);
  assert_int_equal(coffer_access_revoke(fx->vault, "/opt/a/app", item, &error), 1);
  g_clear_pointer(&decisions, g_ptr_array_unref);
  decisions = coffer_access_list_decisions(fx->vault, &error);
  assert_int_equal(decisions->len, 1);
  assert_int_equal(coffer_access_revoke(fx->vault, "org.example.Mail", NULL, &error), 1);
}

/* Two machines of one vault: a decision made on one holds on the other. */
static void
test_decisions_sync(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) header = coffer_vault_make_header(fx->vault, "account", 7, &error);
  g_autoptr(CofferVault) other = open_vault(fx->dir, "other.db");
  g_autofree char *item = g_strdup(coffer_item_get_name(create(fx->vault, "mail", "k", APP_A, FALSE)));
  g_autoptr(GPtrArray) dirty = NULL;
  g_autoptr(GPtrArray) decisions = NULL;
  g_autoptr(GPtrArray) collections = NULL;

  assert_non_null(header);
  assert_true(coffer_vault_join(other, header, "account", 7, "other login", 11, &error));
  assert_true(coffer_access_remember(fx->vault, APP_A2, item, "mail", &error));
  dirty = coffer_vault_dirty_records(fx->vault, &error);
  for (guint i = 0; i < dirty->len; i++) {
    CofferSyncRecord *record = dirty->pdata[i];
    g_autofree char *etag = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, record->envelope);
    coffer_vault_merge_remote(other, record->envelope, etag, NULL);
  }
  decisions = coffer_access_list_decisions(other, &error);
  assert_int_equal(decisions->len, 1);
  assert_string_equal(((CofferAccessDecision *)decisions->pdata[0])->app, APP_A2);
  assert_string_equal(((CofferAccessDecision *)decisions->pdata[0])->item, item);
  collections = coffer_vault_list_collections(other);
  assert_int_equal(collections->len, 2);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_flatpak_info_names_the_app),
    cmocka_unit_test(test_flatpak_info_refuses_what_is_not_an_app),
    cmocka_unit_test(test_flatpak_info_is_bounded),
    cmocka_unit_test(test_interpreters_and_tools_are_named),
    cmocka_unit_test(test_identity_strings),
    cmocka_unit_test_setup_teardown(test_items_remember_their_creator, setup, teardown),
    cmocka_unit_test_setup_teardown(test_decisions_are_hidden_listed_and_revoked, setup, teardown),
    cmocka_unit_test_setup_teardown(test_decisions_sync, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
