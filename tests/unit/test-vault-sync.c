/* Unit tests of the vault's sync side (agent/vault/vault-sync.c): two or
 * three real vaults, each with its own store, exchange envelopes the way the
 * sync engine does, without a network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>

#include "store/store.h"
#include "vault/vault-private.h"
#include "vault/vault-sync.h"

#define PASSWORD "login password"
#define ACCOUNT "account password"

typedef struct {
  char *dir;
  CofferVault *a;
  CofferVault *b;
} Fixture;

static CofferVault *
open_vault(Fixture *fx, const char *name)
{
  g_autofree char *path = g_build_filename(fx->dir, name, "vault.db", NULL);
  g_autoptr(GError) error = NULL;
  CofferVault *vault = coffer_vault_open(path, &error);

  assert_non_null(vault);
  return vault;
}

/* A initialised, B joined to it through A's header. */
static int
setup(void **state)
{
  Fixture *fx = g_new0(Fixture, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) header = NULL;

  g_setenv("COFFER_KDF_FAST", "1", TRUE);
  fx->dir = g_dir_make_tmp("coffer-vault-sync-XXXXXX", NULL);
  fx->a = open_vault(fx, "a");
  fx->b = open_vault(fx, "b");
  assert_true(coffer_vault_initialize(fx->a, PASSWORD, strlen(PASSWORD), &error));
  header = coffer_vault_make_header(fx->a, ACCOUNT, strlen(ACCOUNT), &error);
  assert_non_null(header);
  assert_true(coffer_vault_join(fx->b, header, ACCOUNT, strlen(ACCOUNT), "other login", 11, &error));
  assert_false(coffer_vault_is_locked(fx->b));
  *state = fx;
  return 0;
}

static void
remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
    g_autofree char *child = g_build_filename(path, name, NULL);
    if (g_file_test(child, G_FILE_TEST_IS_DIR))
      remove_tree(child);
    else
      g_unlink(child);
  }
  if (dir != NULL)
    g_dir_close(dir);
  g_rmdir(path);
}

static int
teardown(void **state)
{
  Fixture *fx = *state;

  g_clear_object(&fx->a);
  g_clear_object(&fx->b);
  remove_tree(fx->dir);
  g_free(fx->dir);
  g_free(fx);
  return 0;
}

/* Pushes every dirty record of `from` into `to` (as if through a remote
 * that hands out the envelope's hash as ETag); returns how many merged with
 * each result. */
static void
push_all(CofferVault *from, CofferVault *to, int counts[4])
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) dirty = coffer_vault_dirty_records(from, &error);

  assert_non_null(dirty);
  for (guint i = 0; i < dirty->len; i++) {
    CofferSyncRecord *record = dirty->pdata[i];
    g_autofree char *etag = g_compute_checksum_for_bytes(G_CHECKSUM_SHA256, record->envelope);
    g_autoptr(GError) merge_error = NULL;
    CofferMergeResult result = coffer_vault_merge_remote(to, record->envelope, etag, &merge_error);
    if (counts != NULL)
      counts[result]++;
    assert_true(coffer_vault_mark_pushed(from, record->id, record->envelope, etag, &error));
  }
}

static GHashTable *
attrs(const char *name, const char *value)
{
  GHashTable *table = g_hash_table_new(g_str_hash, g_str_equal);
  g_hash_table_insert(table, (gpointer)name, (gpointer)value);
  return table;
}

static CofferItem *
create(CofferVault *vault, const char *label, const char *key, const char *secret)
{
  g_autoptr(GHashTable) attributes = attrs("key", key);
  g_autoptr(GError) error = NULL;
  CofferItemContent content = { label, attributes, "text/plain", (const guint8 *)secret, strlen(secret) };
  CofferCollection *login = coffer_vault_find_collection(vault, COFFER_LOGIN_COLLECTION);
  CofferItem *item = coffer_vault_create_item(vault, login, &content, FALSE, NULL, &error);

  assert_non_null(item);
  return item;
}

static CofferItem *
find(CofferVault *vault, const char *key)
{
  g_autoptr(GHashTable) attributes = attrs("key", key);
  g_autoptr(GPtrArray) found = coffer_vault_search(vault, NULL, attributes, NULL);

  assert_non_null(found);
  return found->len == 1 ? found->pdata[0] : NULL;
}

static char *
secret_of(CofferVault *vault, CofferItem *item)
{
  guint8 *secret = NULL;
  gsize len = 0;
  char *copy;

  assert_true(coffer_vault_get_item_secret(vault, item, &secret, &len, NULL, NULL));
  copy = g_strndup((const char *)secret, len);
  sodium_free(secret);
  return copy;
}

static void
test_join_shares_the_vault(void **state)
{
  Fixture *fx = *state;
  int counts[4] = { 0 };
  g_autofree char *secret = NULL;
  CofferItem *item;

  create(fx->a, "Mail", "mail", "hunter2");
  push_all(fx->a, fx->b, counts);
  assert_int_equal(counts[COFFER_MERGE_REFUSED], 0);
  item = find(fx->b, "mail");
  assert_non_null(item);
  assert_string_equal(coffer_item_get_label(item), "Mail");
  secret = secret_of(fx->b, item);
  assert_string_equal(secret, "hunter2");
  /* Everything pushed is clean afterwards. */
  g_autoptr(GPtrArray) left = coffer_vault_dirty_records(fx->a, NULL);
  assert_int_equal(left->len, 0);
}

static void
test_header_checks(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) own = coffer_vault_make_header(fx->b, "x", 1, &error);
  g_autoptr(CofferVault) other = open_vault(fx, "c");
  g_autoptr(GBytes) foreign = NULL;
  g_autoptr(GBytes) truncated = NULL;

  assert_true(coffer_vault_check_header(fx->a, own, &error));
  assert_true(coffer_vault_initialize(other, PASSWORD, strlen(PASSWORD), &error));
  foreign = coffer_vault_make_header(other, ACCOUNT, strlen(ACCOUNT), &error);
  assert_false(coffer_vault_check_header(fx->a, foreign, &error));
  assert_true(g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT));
  assert_non_null(strstr(error->message, "foreign"));
  g_clear_error(&error);
  truncated = g_bytes_new_from_bytes(own, 0, 10);
  assert_false(coffer_vault_check_header(fx->a, truncated, &error));
}

static void
test_join_with_wrong_account_password(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) header = coffer_vault_make_header(fx->a, ACCOUNT, strlen(ACCOUNT), &error);
  g_autoptr(CofferVault) c = open_vault(fx, "c");

  assert_false(coffer_vault_join(c, header, "wrong", 5, PASSWORD, strlen(PASSWORD), &error));
  assert_true(g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD));
  assert_false(coffer_vault_is_initialized(c));
}

static void
test_concurrent_edits_converge_with_loser_in_history(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  CofferItem *on_a, *on_b;
  g_autoptr(GPtrArray) history_a = NULL;
  g_autoptr(GPtrArray) history_b = NULL;
  const char *winner;

  on_a = create(fx->a, "Shared", "shared", "v1");
  push_all(fx->a, fx->b, NULL);
  on_b = find(fx->b, "shared");
  assert_non_null(on_b);
  /* Both edit offline; B's edit comes later, so it has the higher revision. */
  assert_true(coffer_vault_set_item_label(fx->a, on_a, "edited on A", &error));
  g_usleep(2000);
  assert_true(coffer_vault_set_item_label(fx->b, on_b, "edited on B", &error));
  push_all(fx->a, fx->b, NULL);
  push_all(fx->b, fx->a, NULL);
  winner = coffer_item_get_label(find(fx->a, "shared"));
  assert_string_equal(winner, "edited on B");
  assert_string_equal(coffer_item_get_label(find(fx->b, "shared")), "edited on B");
  /* A lost: its version is in A's history. */
  history_a = coffer_vault_item_history(fx->a, coffer_item_get_name(on_a), &error);
  assert_non_null(history_a);
  gboolean found = FALSE;
  for (guint i = 0; i < history_a->len; i++)
    found |= g_strcmp0(((CofferHistoryEntry *)history_a->pdata[i])->label, "edited on A") == 0;
  assert_true(found);
  /* B kept its own and has A's losing version too (it arrived and lost). */
  history_b = coffer_vault_item_history(fx->b, coffer_item_get_name(on_b), &error);
  found = FALSE;
  for (guint i = 0; i < history_b->len; i++)
    found |= g_strcmp0(((CofferHistoryEntry *)history_b->pdata[i])->label, "edited on A") == 0;
  assert_true(found);
}

static void
test_deletion_travels_as_tombstone(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  CofferItem *item = create(fx->a, "Doomed", "doomed", "x");

  push_all(fx->a, fx->b, NULL);
  assert_non_null(find(fx->b, "doomed"));
  assert_true(coffer_vault_delete_item(fx->a, item, &error));
  push_all(fx->a, fx->b, NULL);
  assert_null(find(fx->b, "doomed"));
}

static GBytes *
dirty_envelope(CofferVault *vault)
{
  g_autoptr(GPtrArray) dirty = coffer_vault_dirty_records(vault, NULL);

  assert_int_equal(dirty->len, 1);
  return g_bytes_ref(((CofferSyncRecord *)dirty->pdata[0])->envelope);
}

static void
test_tampered_and_replayed_records_are_refused(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) v1 = NULL;
  g_autoptr(GBytes) v2 = NULL;
  CofferItem *item;
  gsize len;
  guint8 *flipped;

  push_all(fx->a, fx->b, NULL); /* the login collection */
  item = create(fx->a, "Bank", "bank", "1234");
  v1 = dirty_envelope(fx->a);
  push_all(fx->a, fx->b, NULL);
  assert_true(coffer_vault_set_item_label(fx->a, item, "Bank v2", &error));
  v2 = dirty_envelope(fx->a);
  push_all(fx->a, fx->b, NULL);

  /* A flipped byte anywhere in the ciphertext. */
  const guint8 *data = g_bytes_get_data(v2, &len);
  flipped = g_memdup2(data, len);
  flipped[len - 3] ^= 0x40;
  g_autoptr(GBytes) bad = g_bytes_new_take(flipped, len);
  assert_int_equal(coffer_vault_merge_remote(fx->b, bad, "e", &error), COFFER_MERGE_REFUSED);
  g_clear_error(&error);
  /* The older version replayed: B holds v2 clean, so this is a rollback. */
  assert_int_equal(coffer_vault_merge_remote(fx->b, v1, "old", &error), COFFER_MERGE_REFUSED);
  assert_non_null(strstr(error->message, "rollback"));
  g_clear_error(&error);
  assert_string_equal(coffer_item_get_label(find(fx->b, "bank")), "Bank v2");
  /* and B will push its v2 again to repair the server. */
  g_autoptr(GPtrArray) repair = coffer_vault_dirty_records(fx->b, NULL);
  assert_int_equal(repair->len, 1);
}

static void
test_record_of_another_vault_is_refused(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(CofferVault) other = open_vault(fx, "c");
  g_autoptr(GBytes) foreign = NULL;

  assert_true(coffer_vault_initialize(other, PASSWORD, strlen(PASSWORD), &error));
  create(other, "Elsewhere", "elsewhere", "x");
  g_autoptr(GPtrArray) dirty = coffer_vault_dirty_records(other, NULL);
  for (guint i = 0; i < dirty->len; i++) {
    foreign = ((CofferSyncRecord *)dirty->pdata[i])->envelope;
    assert_int_equal(coffer_vault_merge_remote(fx->b, foreign, "x", &error), COFFER_MERGE_REFUSED);
    g_clear_error(&error);
  }
  assert_null(find(fx->b, "elsewhere"));
}

static void
test_item_before_its_collection_is_adopted(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  CofferCollection *work = coffer_vault_create_collection(fx->a, "Work", &error);
  g_autoptr(GHashTable) attributes = attrs("key", "vpn");
  CofferItemContent content = { "VPN", attributes, "text/plain", (const guint8 *)"pw", 2 };
  g_autoptr(GPtrArray) dirty = NULL;

  assert_non_null(work);
  assert_non_null(coffer_vault_create_item(fx->a, work, &content, FALSE, NULL, &error));
  dirty = coffer_vault_dirty_records(fx->a, NULL);
  /* Deliver items first, collections last. */
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < dirty->len; i++) {
      CofferSyncRecord *record = dirty->pdata[i];
      CofferRecordHeader header;
      gsize len;
      const guint8 *env = g_bytes_get_data(record->envelope, &len);
      assert_int_equal(coffer_envelope_parse_header(env, len, &header), COFFER_CRYPTO_OK);
      if ((pass == 0) == (header.kind == COFFER_RECORD_ITEM))
        assert_int_not_equal(coffer_vault_merge_remote(fx->b, record->envelope, "e", NULL), COFFER_MERGE_REFUSED);
    }
  CofferItem *item = find(fx->b, "vpn");
  assert_non_null(item);
  assert_string_equal(coffer_collection_get_label(coffer_item_get_collection(item)), "Work");
}

static void
test_restore_brings_back_a_version(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  CofferItem *item = create(fx->a, "Wifi", "wifi", "old secret");
  g_autofree char *name = g_strdup(coffer_item_get_name(item));
  g_autoptr(GPtrArray) history = NULL;
  g_autofree char *secret = NULL;

  assert_true(coffer_vault_set_item_secret(fx->a, item, (const guint8 *)"new secret", 10, "text/plain", &error));
  assert_true(coffer_vault_delete_item(fx->a, item, &error));
  history = coffer_vault_item_history(fx->a, name, &error);
  assert_non_null(history);
  assert_true(history->len >= 2);
  /* Newest first: [0] is the version the delete replaced ("new secret"),
   * [1] the first one. */
  gint64 first = ((CofferHistoryEntry *)history->pdata[history->len - 1])->seq;
  assert_true(coffer_vault_restore(fx->a, name, first, &error));
  item = find(fx->a, "wifi");
  assert_non_null(item);
  secret = secret_of(fx->a, item);
  assert_string_equal(secret, "old secret");
  /* Unknown versions are refused. */
  assert_false(coffer_vault_restore(fx->a, name, 999999, &error));
}

static void
test_cleanup_prunes_history_and_old_tombstones(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  CofferCleanupReport report;
  CofferItem *item = create(fx->a, "Temp", "temp", "1");

  for (int i = 0; i < 5; i++)
    assert_true(coffer_vault_set_item_label(fx->a, item, "Temp again", &error));
  assert_true(coffer_vault_delete_item(fx->a, item, &error));
  /* Pending deletions are never pruned before they are pushed. */
  assert_true(coffer_vault_cleanup(fx->a, -10, 1, &report, &error));
  assert_int_equal(report.tombstones_removed, 0);
  assert_true(report.history_removed >= 5);
  assert_true(report.bytes_reclaimed > 0);
  push_all(fx->a, fx->b, NULL);
  assert_true(coffer_vault_cleanup(fx->a, -10, 1, &report, &error));
  assert_int_equal(report.tombstones_removed, 1);
}

static void
test_remote_settings_are_sealed(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  CofferRemoteSettings in = { "https://dav.example/coffer", "alice", NULL, 6 };
  CofferRemoteSettings out = { 0 };
  g_autofree char *path = g_build_filename(fx->dir, "a", "vault.db", NULL);
  g_autofree char *raw = NULL;
  gsize raw_len = 0;

  in.password = sodium_malloc(7);
  memcpy(in.password, "s3cret", 7);
  assert_true(coffer_vault_set_remote_settings(fx->a, &in, &error));
  sodium_free(in.password);
  assert_true(coffer_vault_get_remote_settings(fx->a, &out, &error));
  assert_string_equal(out.url, "https://dav.example/coffer");
  assert_string_equal(out.user, "alice");
  assert_int_equal(out.password_len, 6);
  assert_memory_equal(out.password, "s3cret", 6);
  coffer_remote_settings_clear(&out);
  /* Nothing of it in clear on disk (WAL included). */
  g_autofree char *wal = g_strconcat(path, "-wal", NULL);
  assert_true(g_file_get_contents(wal, &raw, &raw_len, NULL));
  assert_null(memmem(raw, raw_len, "dav.example", 11));
  assert_null(memmem(raw, raw_len, "s3cret", 6));
  coffer_vault_lock(fx->a);
  assert_false(coffer_vault_get_remote_settings(fx->a, &out, &error));
  assert_true(g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED));
}

static void
test_join_rekeys_an_existing_vault(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(CofferVault) c = open_vault(fx, "c");
  g_autoptr(GBytes) header = coffer_vault_make_header(fx->a, ACCOUNT, strlen(ACCOUNT), &error);
  g_autofree char *secret = NULL;
  int counts[4] = { 0 };

  assert_true(coffer_vault_initialize(c, "c login", 7, &error));
  create(c, "Mine before joining", "mine", "kept");
  /* The local password is checked before anything is re-keyed. */
  assert_false(coffer_vault_join(c, header, ACCOUNT, strlen(ACCOUNT), "not it", 6, &error));
  g_clear_error(&error);
  assert_true(coffer_vault_join(c, header, ACCOUNT, strlen(ACCOUNT), "c login", 7, &error));
  assert_non_null(find(c, "mine"));
  /* Its records now belong to A's vault: A accepts them. */
  push_all(c, fx->a, counts);
  assert_int_equal(counts[COFFER_MERGE_REFUSED], 0);
  secret = secret_of(fx->a, find(fx->a, "mine"));
  assert_string_equal(secret, "kept");
  /* And the local password still opens it after a restart. */
  coffer_vault_lock(c);
  assert_true(coffer_vault_unlock(c, "c login", 7, &error));
  assert_non_null(find(c, "mine"));
}

static void
test_batched_merges_and_unsynced_records(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) dirty = NULL;
  g_autoptr(GPtrArray) again = NULL;
  int applied = 0;

  for (int i = 0; i < 20; i++) {
    g_autofree char *key = g_strdup_printf("batch-%d", i);
    create(fx->a, key, key, "s");
  }
  dirty = coffer_vault_dirty_records(fx->a, &error);
  assert_true(coffer_vault_merge_begin(fx->b, &error));
  for (guint i = 0; i < dirty->len; i++)
    applied += coffer_vault_merge_remote(fx->b, ((CofferSyncRecord *)dirty->pdata[i])->envelope, "e", NULL) ==
               COFFER_MERGE_APPLIED;
  assert_true(coffer_vault_merge_commit(fx->b, &error));
  assert_int_equal(applied, (int)dirty->len);
  /* All of it is on disk: a lock/unlock reloads from the store. */
  coffer_vault_lock(fx->b);
  assert_true(coffer_vault_unlock(fx->b, "other login", 11, &error));
  assert_non_null(find(fx->b, "batch-19"));
  /* Merged records are clean; one the remote lost becomes a new push. */
  g_autoptr(GPtrArray) clean = coffer_vault_dirty_records(fx->b, &error);
  assert_int_equal(clean->len, 0);
  CofferSyncRecord *first = dirty->pdata[0];
  assert_true(coffer_vault_mark_unsynced(fx->b, first->id, &error));
  again = coffer_vault_dirty_records(fx->b, &error);
  assert_int_equal(again->len, 1);
  assert_memory_equal(((CofferSyncRecord *)again->pdata[0])->id, first->id, COFFER_ID_BYTES);
  assert_null(((CofferSyncRecord *)again->pdata[0])->etag);
}

static void
on_header(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GBytes **out = user_data;

  *out = coffer_vault_make_header_finish(COFFER_VAULT(source), result, NULL);
  g_main_context_wakeup(NULL);
}

static void
test_header_made_off_the_main_loop(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) header = NULL;
  g_autoptr(CofferVault) c = open_vault(fx, "c");

  coffer_vault_make_header_async(fx->a, ACCOUNT, strlen(ACCOUNT), on_header, &header);
  while (header == NULL)
    g_main_context_iteration(NULL, TRUE);
  assert_true(coffer_vault_check_header(fx->b, header, &error));
  assert_true(coffer_vault_join(c, header, ACCOUNT, strlen(ACCOUNT), PASSWORD, strlen(PASSWORD), &error));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_join_shares_the_vault, setup, teardown),
    cmocka_unit_test_setup_teardown(test_header_checks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_join_with_wrong_account_password, setup, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_edits_converge_with_loser_in_history, setup, teardown),
    cmocka_unit_test_setup_teardown(test_deletion_travels_as_tombstone, setup, teardown),
    cmocka_unit_test_setup_teardown(test_tampered_and_replayed_records_are_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_record_of_another_vault_is_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_item_before_its_collection_is_adopted, setup, teardown),
    cmocka_unit_test_setup_teardown(test_restore_brings_back_a_version, setup, teardown),
    cmocka_unit_test_setup_teardown(test_cleanup_prunes_history_and_old_tombstones, setup, teardown),
    cmocka_unit_test_setup_teardown(test_remote_settings_are_sealed, setup, teardown),
    cmocka_unit_test_setup_teardown(test_join_rekeys_an_existing_vault, setup, teardown),
    cmocka_unit_test_setup_teardown(test_batched_merges_and_unsynced_records, setup, teardown),
    cmocka_unit_test_setup_teardown(test_header_made_off_the_main_loop, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
