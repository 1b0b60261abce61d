/* Unit tests for the local store (agent/store). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"
#include "store/store-private.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct {
  char *dir;  /* private temp dir, removed in teardown */
  char *path; /* dir/store.db */
} Fixture;

static void
remove_tree(const char *path)
{
  GDir *dir = g_dir_open(path, 0, NULL);
  if (dir != NULL) {
    const char *name;
    while ((name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *child = g_build_filename(path, name, NULL);
      remove_tree(child);
    }
    g_dir_close(dir);
    g_chmod(path, 0700);
    g_rmdir(path);
  } else {
    g_unlink(path);
  }
}

static int
setup(void **state)
{
  Fixture *fx = g_new0(Fixture, 1);
  fx->dir = g_dir_make_tmp("coffer-store-XXXXXX", NULL);
  assert_non_null(fx->dir);
  fx->path = g_build_filename(fx->dir, "store.db", NULL);
  *state = fx;
  return 0;
}

static int
teardown(void **state)
{
  Fixture *fx = *state;
  remove_tree(fx->dir);
  g_free(fx->dir);
  g_free(fx->path);
  g_free(fx);
  return 0;
}

static CofferStore *
open_ok(const char *path)
{
  g_autoptr(GError) error = NULL;
  CofferStore *store = coffer_store_open(path, &error);
  if (store == NULL)
    fail_msg("open %s: %s", path, error->message);
  return store;
}

static void
make_id(guint8 id[COFFER_STORE_ID_BYTES], guint32 n)
{
  memset(id, 0xA5, COFFER_STORE_ID_BYTES);
  memcpy(id, &n, sizeof n);
}

static void
make_hash(guint8 hash[COFFER_STORE_HASH_BYTES], guint32 n)
{
  memset(hash, 0x3C, COFFER_STORE_HASH_BYTES);
  memcpy(hash + 8, &n, sizeof n);
}

static void
put(CofferStore *store, guint32 n, guint8 kind, guint32 parent, gboolean tombstone)
{
  CofferStoreRecord record = { .kind = kind, .tombstone = tombstone };
  make_id(record.id, n);
  if (parent != 0)
    make_id(record.parent, parent);
  g_autofree char *env = g_strdup_printf("envelope-%u-%d", n, tombstone);
  record.envelope = g_bytes_new(env, strlen(env));
  g_autoptr(GError) error = NULL;
  gboolean ok = coffer_store_put_record(store, &record, &error);
  g_bytes_unref(record.envelope);
  if (!ok)
    fail_msg("put %u: %s", n, error->message);
}

static void
set_lookup(CofferStore *store, guint32 n, const guint32 *hash_ns, gsize n_hashes)
{
  guint8 id[COFFER_STORE_ID_BYTES];
  make_id(id, n);
  g_autofree guint8 *hashes = g_malloc0(n_hashes * COFFER_STORE_HASH_BYTES + 1);
  for (gsize i = 0; i < n_hashes; i++)
    make_hash(hashes + i * COFFER_STORE_HASH_BYTES, hash_ns[i]);
  g_autoptr(GError) error = NULL;
  if (!coffer_store_set_lookup(store, id, hashes, n_hashes, &error))
    fail_msg("set_lookup %u: %s", n, error->message);
}

static gint
compare_u32(gconstpointer a, gconstpointer b)
{
  guint32 x = *(const guint32 *)a, y = *(const guint32 *)b;
  return (x > y) - (x < y);
}

/* Finds the records having all hashes hash_ns; returns their numbers,
 * sorted, as a comma list ("" for none) so tests compare one string. */
static char *
find(CofferStore *store, const guint32 *hash_ns, gsize n_hashes)
{
  g_autofree guint8 *hashes = g_malloc0(n_hashes * COFFER_STORE_HASH_BYTES + 1);
  for (gsize i = 0; i < n_hashes; i++)
    make_hash(hashes + i * COFFER_STORE_HASH_BYTES, hash_ns[i]);
  g_autoptr(GArray) ids = NULL;
  g_autoptr(GError) error = NULL;
  if (!coffer_store_find_lookup(store, hashes, n_hashes, &ids, &error))
    fail_msg("find: %s", error->message);
  assert_non_null(ids);
  g_autoptr(GArray) numbers = g_array_new(FALSE, FALSE, sizeof(guint32));
  for (guint i = 0; i < ids->len; i++) {
    guint32 n;
    memcpy(&n, ids->data + i * COFFER_STORE_ID_BYTES, sizeof n);
    g_array_append_val(numbers, n);
  }
  g_array_sort(numbers, compare_u32);
  GString *out = g_string_new(NULL);
  for (guint i = 0; i < numbers->len; i++)
    g_string_append_printf(out, "%s%u", i ? "," : "", g_array_index(numbers, guint32, i));
  return g_string_free(out, FALSE);
}

static CofferStoreRecord *
get(CofferStore *store, guint32 n)
{
  guint8 id[COFFER_STORE_ID_BYTES];
  make_id(id, n);
  CofferStoreRecord *record = NULL;
  g_autoptr(GError) error = NULL;
  if (!coffer_store_get_record(store, id, &record, &error))
    fail_msg("get %u: %s", n, error->message);
  return record;
}

static GBytes *
read_file(const char *path)
{
  char *data = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &data, &len, NULL))
    return NULL;
  return g_bytes_new_take(data, len);
}

static void
write_file(const char *path, const void *data, gsize len)
{
  assert_true(g_file_set_contents(path, data, (gssize)len, NULL));
}

static gint64
raw_count(CofferStore *store, const char *sql)
{
  sqlite3_stmt *stmt = NULL;
  assert_int_equal(sqlite3_prepare_v2(coffer_store_db(store), sql, -1, &stmt, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  gint64 n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return n;
}

/* Runs sql on a plain SQLite connection (to forge files a store refuses).
 * keep_wal leaves the change in the -wal file, not checkpointed. */
static void
raw_exec_full(const char *path, const char *sql, gboolean keep_wal)
{
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  if (keep_wal)
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
    fail_msg("%s: %s", sql, msg);
  assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
raw_exec(const char *path, const char *sql)
{
  raw_exec_full(path, sql, FALSE);
}

/* Opening path must fail with code and leave the file byte for byte. */
static void
assert_refused_untouched(const char *path, int code)
{
  g_autoptr(GBytes) before = read_file(path);
  assert_non_null(before);
  g_autoptr(GError) error = NULL;
  CofferStore *store = coffer_store_open(path, &error);
  assert_null(store);
  assert_non_null(error);
  if (!g_error_matches(error, COFFER_STORE_ERROR, code))
    fail_msg("expected code %d, got %d: %s", code, error->code, error->message);
  g_autoptr(GBytes) after = read_file(path);
  assert_non_null(after);
  assert_true(g_bytes_equal(before, after));
}

/* ---- round trips ------------------------------------------------------ */

static void
test_record_round_trip(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(GError) error = NULL;

  assert_null(get(store, 1));
  put(store, 1, 2, 7, FALSE);
  put(store, 7, 1, 0, FALSE);

  g_autoptr(CofferStoreRecord) item = get(store, 1);
  assert_non_null(item);
  guint8 id[COFFER_STORE_ID_BYTES], parent[COFFER_STORE_ID_BYTES], zero[COFFER_STORE_ID_BYTES] = { 0 };
  make_id(id, 1);
  make_id(parent, 7);
  assert_memory_equal(item->id, id, sizeof id);
  assert_memory_equal(item->parent, parent, sizeof parent);
  assert_int_equal(item->kind, 2);
  assert_false(item->tombstone);
  assert_int_equal(g_bytes_get_size(item->envelope), strlen("envelope-1-0"));
  assert_memory_equal(g_bytes_get_data(item->envelope, NULL), "envelope-1-0", strlen("envelope-1-0"));

  g_autoptr(CofferStoreRecord) collection = get(store, 7);
  assert_int_equal(collection->kind, 1);
  assert_memory_equal(collection->parent, zero, sizeof zero);

  /* Replacing keeps one row and takes every field of the new version. */
  put(store, 1, 2, 0, TRUE);
  g_autoptr(CofferStoreRecord) replaced = get(store, 1);
  assert_true(replaced->tombstone);
  assert_memory_equal(replaced->parent, zero, sizeof zero);
  assert_memory_equal(g_bytes_get_data(replaced->envelope, NULL), "envelope-1-1", strlen("envelope-1-1"));
  assert_int_equal(raw_count(store, "SELECT count(*) FROM records"), 2);
  assert_int_equal(raw_count(store, "SELECT dirty FROM records WHERE kind = 2"), 1);

  /* An empty envelope is a value, not NULL. */
  CofferStoreRecord empty = { .kind = 2 };
  make_id(empty.id, 3);
  empty.envelope = g_bytes_new(NULL, 0);
  assert_true(coffer_store_put_record(store, &empty, &error));
  g_bytes_unref(empty.envelope);
  g_autoptr(CofferStoreRecord) got_empty = get(store, 3);
  assert_non_null(got_empty);
  assert_int_equal(g_bytes_get_size(got_empty->envelope), 0);

  assert_true(coffer_store_remove_record(store, id, &error));
  assert_null(get(store, 1));
  assert_true(coffer_store_remove_record(store, id, &error)); /* missing: fine */
  assert_null(error);
}

static void
test_meta_round_trip(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) value = NULL;

  assert_true(coffer_store_get_meta(store, "vault-id", &value, &error));
  assert_null(value);

  g_autoptr(GBytes) v1 = g_bytes_new("\x00\x01\x02", 3);
  g_autoptr(GBytes) v2 = g_bytes_new("second", 6);
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  assert_true(coffer_store_set_meta(store, "vault-id", v1, &error));
  assert_true(coffer_store_get_meta(store, "vault-id", &value, &error));
  assert_true(g_bytes_equal(value, v1));
  g_clear_pointer(&value, g_bytes_unref);

  assert_true(coffer_store_set_meta(store, "vault-id", v2, &error));
  assert_true(coffer_store_set_meta(store, "hlc", empty, &error));
  assert_true(coffer_store_get_meta(store, "vault-id", &value, &error));
  assert_true(g_bytes_equal(value, v2));
  g_clear_pointer(&value, g_bytes_unref);
  assert_true(coffer_store_get_meta(store, "hlc", &value, &error));
  assert_non_null(value);
  assert_int_equal(g_bytes_get_size(value), 0);
}

typedef struct {
  guint seen;
  guint tombstones;
  guint stop_after;
} ForeachCount;

static gboolean
count_record(const CofferStoreRecord *record, gpointer user_data)
{
  ForeachCount *count = user_data;
  count->seen++;
  count->tombstones += record->tombstone ? 1 : 0;
  assert_non_null(record->envelope);
  return count->stop_after == 0 || count->seen < count->stop_after;
}

static void
test_foreach(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(GError) error = NULL;
  put(store, 1, 1, 0, FALSE);
  put(store, 2, 2, 1, FALSE);
  put(store, 3, 2, 1, TRUE);

  ForeachCount all = { 0 };
  assert_true(coffer_store_foreach_record(store, count_record, &all, &error));
  assert_int_equal(all.seen, 3);
  assert_int_equal(all.tombstones, 1);

  ForeachCount first = { .stop_after = 1 };
  assert_true(coffer_store_foreach_record(store, count_record, &first, &error));
  assert_int_equal(first.seen, 1);

  /* Stopping early released the statement: a full pass works again. */
  ForeachCount again = { 0 };
  assert_true(coffer_store_foreach_record(store, count_record, &again, &error));
  assert_int_equal(again.seen, 3);
}

/* ---- transactions ----------------------------------------------------- */

static void
test_nested_transactions(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(CofferStore) other = open_ok(fx->path); /* a second connection */
  g_autoptr(GError) error = NULL;

  assert_true(coffer_store_begin(store, &error));
  put(store, 1, 2, 0, FALSE);
  assert_true(coffer_store_begin(store, &error));
  put(store, 2, 2, 0, FALSE);
  assert_true(coffer_store_commit(store, &error)); /* inner: nothing yet */
  assert_null(get(other, 1));
  assert_null(get(other, 2));
  assert_false(sqlite3_get_autocommit(coffer_store_db(store)));

  assert_true(coffer_store_commit(store, &error)); /* outer: durable now */
  assert_true(sqlite3_get_autocommit(coffer_store_db(store)));
  g_autoptr(CofferStoreRecord) r1 = get(other, 1);
  g_autoptr(CofferStoreRecord) r2 = get(other, 2);
  assert_non_null(r1);
  assert_non_null(r2);
}

static void
test_rollback_leaves_nothing(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  {
    g_autoptr(CofferStore) store = open_ok(fx->path);
    guint8 id[COFFER_STORE_ID_BYTES];
    make_id(id, 1);
    g_autoptr(GBytes) bytes = g_bytes_new("x", 1);

    assert_true(coffer_store_begin(store, &error));
    put(store, 1, 2, 0, FALSE);
    set_lookup(store, 1, (guint32[]){ 10, 11 }, 2);
    assert_true(coffer_store_set_meta(store, "k", bytes, &error));
    assert_true(coffer_store_add_history(store, id, bytes, &error));
    coffer_store_rollback(store);

    assert_null(get(store, 1));
    g_autoptr(GBytes) value = NULL;
    assert_true(coffer_store_get_meta(store, "k", &value, &error));
    assert_null(value);
    CofferStoreStats stats;
    assert_true(coffer_store_get_stats(store, &stats, &error));
    assert_int_equal(stats.items + stats.collections + stats.tombstones + stats.history, 0);
    g_autofree char *found = find(store, (guint32[]){ 10 }, 1);
    assert_string_equal(found, "");
    assert_int_equal(raw_count(store, "SELECT count(*) FROM lookup"), 0);
  }
  g_autoptr(CofferStore) reopened = open_ok(fx->path);
  assert_null(get(reopened, 1));
}

static void
test_inner_rollback_aborts_outer(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(GError) error = NULL;

  assert_true(coffer_store_begin(store, &error));
  put(store, 1, 2, 0, FALSE);
  assert_true(coffer_store_begin(store, &error));
  put(store, 2, 2, 0, FALSE);
  coffer_store_rollback(store); /* undoes the whole outer transaction */

  /* Until the outer level ends, writes fail rather than autocommit. */
  CofferStoreRecord record = { .kind = 2 };
  make_id(record.id, 3);
  record.envelope = g_bytes_new("e", 1);
  assert_false(coffer_store_put_record(store, &record, &error));
  assert_true(g_error_matches(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO));
  g_clear_error(&error);
  assert_false(coffer_store_begin(store, &error));
  g_clear_error(&error);

  assert_false(coffer_store_commit(store, &error)); /* the outer commit reports it */
  assert_non_null(error);
  g_clear_error(&error);
  assert_null(get(store, 1));
  assert_null(get(store, 2));
  assert_null(get(store, 3));

  /* Back at depth 0 everything works again. */
  assert_true(coffer_store_begin(store, &error));
  assert_true(coffer_store_put_record(store, &record, &error));
  assert_true(coffer_store_commit(store, &error));
  g_bytes_unref(record.envelope);
  g_autoptr(CofferStoreRecord) r3 = get(store, 3);
  assert_non_null(r3);
}

/* ---- lookup ----------------------------------------------------------- */

static void
test_lookup_intersection(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(GError) error = NULL;

  put(store, 100, 1, 0, FALSE); /* a collection */
  for (guint32 n = 1; n <= 5; n++)
    put(store, n, 2, 100, n == 5); /* 5 is a tombstone */
  set_lookup(store, 1, (guint32[]){ 1, 2, 3 }, 3);
  set_lookup(store, 2, (guint32[]){ 1, 2 }, 2);
  set_lookup(store, 3, (guint32[]){ 1 }, 1);
  set_lookup(store, 4, (guint32[]){ 2, 3 }, 2);
  set_lookup(store, 5, (guint32[]){ 1, 2, 3 }, 3);
  set_lookup(store, 100, (guint32[]){ 1 }, 1);

  char *s;
  assert_string_equal(s = find(store, (guint32[]){ 1 }, 1), "1,2,3,100"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 1, 2 }, 2), "1,2"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 3, 2, 1 }, 3), "1"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 2, 3 }, 2), "1,4"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 1, 1 }, 2), "1,2,3,100"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 1, 99 }, 2), ""), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 99 }, 1), ""), g_free(s);
  /* No hashes: every live item, not collections, not tombstones. */
  assert_string_equal(s = find(store, NULL, 0), "1,2,3,4"), g_free(s);

  /* set_lookup replaces. */
  set_lookup(store, 3, (guint32[]){ 3 }, 1);
  assert_string_equal(s = find(store, (guint32[]){ 1 }, 1), "1,2,100"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 3 }, 1), "1,3,4"), g_free(s);
  set_lookup(store, 3, NULL, 0);
  assert_string_equal(s = find(store, (guint32[]){ 3 }, 1), "1,4"), g_free(s);

  /* Turning a record into a tombstone hides it; removing drops its rows. */
  put(store, 4, 2, 100, TRUE);
  assert_string_equal(s = find(store, (guint32[]){ 2, 3 }, 2), "1"), g_free(s);
  guint8 id[COFFER_STORE_ID_BYTES];
  make_id(id, 1);
  gint64 rows = raw_count(store, "SELECT count(*) FROM lookup");
  assert_true(coffer_store_remove_record(store, id, &error));
  assert_int_equal(raw_count(store, "SELECT count(*) FROM lookup"), rows - 3);
  assert_string_equal(s = find(store, (guint32[]){ 1, 2 }, 2), "2"), g_free(s);

  /* Lookup rows need their record. */
  make_id(id, 42);
  guint8 hash[COFFER_STORE_HASH_BYTES];
  make_hash(hash, 1);
  assert_false(coffer_store_set_lookup(store, id, hash, 1, &error));
  assert_true(g_error_matches(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO));
  g_clear_error(&error);
  assert_true(sqlite3_get_autocommit(coffer_store_db(store))); /* rolled back, depth 0 */

  /* More hashes than the store keeps statements for. */
  guint32 many[40];
  for (guint32 i = 0; i < G_N_ELEMENTS(many); i++)
    many[i] = 1000 + i;
  set_lookup(store, 2, many, G_N_ELEMENTS(many));
  assert_string_equal(s = find(store, many, G_N_ELEMENTS(many)), "2"), g_free(s);
  assert_string_equal(s = find(store, many, 20), "2"), g_free(s);
}

/* ---- files: persistence, refusal, permissions ------------------------- */

static void
test_reopen_persistence(void **state)
{
  Fixture *fx = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) meta = g_bytes_new("device", 6);
  guint8 id[COFFER_STORE_ID_BYTES];
  make_id(id, 1);
  {
    g_autoptr(CofferStore) store = open_ok(fx->path);
    put(store, 9, 1, 0, FALSE);
    put(store, 1, 2, 9, FALSE);
    set_lookup(store, 1, (guint32[]){ 5, 6 }, 2);
    assert_true(coffer_store_set_meta(store, "device-id", meta, &error));
    assert_true(coffer_store_add_history(store, id, meta, &error));
  }
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(CofferStoreRecord) record = get(store, 1);
  assert_non_null(record);
  assert_int_equal(record->kind, 2);
  g_autofree char *found = find(store, (guint32[]){ 6, 5 }, 2);
  assert_string_equal(found, "1");
  g_autoptr(GBytes) value = NULL;
  assert_true(coffer_store_get_meta(store, "device-id", &value, &error));
  assert_true(g_bytes_equal(value, meta));
  CofferStoreStats stats;
  assert_true(coffer_store_get_stats(store, &stats, &error));
  assert_int_equal(stats.history, 1);
  assert_int_equal(raw_count(store, "PRAGMA user_version"), COFFER_STORE_FORMAT);
}

static void
test_garbage_untouched(void **state)
{
  Fixture *fx = *state;
  guint8 garbage[8192];
  for (gsize i = 0; i < sizeof garbage; i++)
    garbage[i] = (guint8)g_random_int();
  write_file(fx->path, garbage, sizeof garbage);
  assert_refused_untouched(fx->path, COFFER_STORE_ERROR_CORRUPT);

  /* SQLite's magic followed by garbage gets past our header check: SQLite
   * itself must refuse it, still without writing. */
  memcpy(garbage, "SQLite format 3", 16);
  write_file(fx->path, garbage, sizeof garbage);
  assert_refused_untouched(fx->path, COFFER_STORE_ERROR_CORRUPT);

  write_file(fx->path, "short", 5);
  assert_refused_untouched(fx->path, COFFER_STORE_ERROR_CORRUPT);
}

static void
test_truncated_refused(void **state)
{
  Fixture *fx = *state;
  {
    g_autoptr(CofferStore) store = open_ok(fx->path);
    g_autoptr(GError) error = NULL;
    assert_true(coffer_store_begin(store, &error));
    for (guint32 n = 1; n <= 2000; n++) {
      put(store, n, 2, 0, FALSE);
      set_lookup(store, n, (guint32[]){ n, n + 1 }, 2);
    }
    assert_true(coffer_store_commit(store, &error));
  } /* closing checkpoints the WAL into the file */
  g_autoptr(GBytes) whole = read_file(fx->path);
  gsize size = g_bytes_get_size(whole);
  assert_true(size > 64 * 1024);

  const gsize cuts[] = { 16, 99, 100, 1000, 4096, 8192, size / 2, size - 4096 };
  for (gsize i = 0; i < G_N_ELEMENTS(cuts); i++) {
    g_autofree char *path = g_strdup_printf("%s/cut-%zu.db", fx->dir, cuts[i]);
    write_file(path, g_bytes_get_data(whole, NULL), cuts[i]);
    assert_refused_untouched(path, COFFER_STORE_ERROR_CORRUPT);
  }

  /* Whole length, one page in the middle scribbled over: only reading the
   * b-trees at open (quick_check) notices. */
  g_autofree char *scribbled = g_strdup_printf("%s/scribbled.db", fx->dir);
  g_autofree guint8 *copy = g_memdup2(g_bytes_get_data(whole, NULL), size);
  gsize page = (size / 2) & ~(gsize)4095;
  for (gsize i = 0; i < 4096; i++)
    copy[page + i] = (guint8)g_random_int();
  write_file(scribbled, copy, size);
  assert_refused_untouched(scribbled, COFFER_STORE_ERROR_CORRUPT);
}

static void
test_too_new_untouched(void **state)
{
  Fixture *fx = *state;
  {
    g_autoptr(CofferStore) store = open_ok(fx->path);
    put(store, 1, 2, 0, FALSE);
  }
  /* A newer coffer's store (WAL mode, as ours): refused and left as is. */
  raw_exec(fx->path, "PRAGMA user_version = 2");
  assert_refused_untouched(fx->path, COFFER_STORE_ERROR_TOO_NEW);

  /* Its last change still in the WAL: refusing must not checkpoint it. */
  raw_exec_full(fx->path, "PRAGMA user_version = 3", TRUE);
  g_autofree char *store_wal = g_strconcat(fx->path, "-wal", NULL);
  assert_true(g_file_test(store_wal, G_FILE_TEST_EXISTS));
  assert_refused_untouched(fx->path, COFFER_STORE_ERROR_TOO_NEW);
  g_autoptr(GBytes) wal_bytes = read_file(store_wal);
  assert_non_null(wal_bytes);
  assert_true(g_bytes_get_size(wal_bytes) > 0);

  /* A rollback-journal database from the future is not switched to WAL. */
  g_autofree char *other = g_build_filename(fx->dir, "future.db", NULL);
  raw_exec(other, "CREATE TABLE t (x); PRAGMA user_version = 99");
  assert_refused_untouched(other, COFFER_STORE_ERROR_TOO_NEW);
  g_autofree char *wal = g_strconcat(other, "-wal", NULL);
  assert_false(g_file_test(wal, G_FILE_TEST_EXISTS));
}

static void
test_foreign_database_untouched(void **state)
{
  Fixture *fx = *state;
  raw_exec(fx->path, "CREATE TABLE photos (id INTEGER PRIMARY KEY, data BLOB);"
                     "INSERT INTO photos (data) VALUES (x'00ff')");
  assert_refused_untouched(fx->path, COFFER_STORE_ERROR_CORRUPT);

  /* Our format number but not our tables. */
  g_autofree char *other = g_build_filename(fx->dir, "impostor.db", NULL);
  raw_exec(other, "CREATE TABLE meta (key TEXT); PRAGMA user_version = 1");
  assert_refused_untouched(other, COFFER_STORE_ERROR_CORRUPT);
}

static void
assert_mode(const char *path, guint mode)
{
  GStatBuf st;
  assert_int_equal(g_stat(path, &st), 0);
  if ((st.st_mode & 07777) != mode)
    fail_msg("%s has mode %o, expected %o", path, st.st_mode & 07777, mode);
}

static void
test_permissions(void **state)
{
  Fixture *fx = *state;
  g_autofree char *a = g_build_filename(fx->dir, "a", NULL);
  g_autofree char *b = g_build_filename(a, "b", NULL);
  g_autofree char *path = g_build_filename(b, "store.db", NULL);
  g_autofree char *wal = g_strconcat(path, "-wal", NULL);

  /* A umask that would strip owner bits shows the modes are set, not
   * inherited. */
  mode_t old = umask(0277);
  CofferStore *store = coffer_store_open(path, NULL);
  umask(old);
  assert_non_null(store);
  put(store, 1, 2, 0, FALSE);
  assert_mode(a, 0700);
  assert_mode(b, 0700);
  assert_mode(path, 0600);
  assert_true(g_file_test(wal, G_FILE_TEST_EXISTS));
  assert_mode(wal, 0600);
  coffer_store_free(store);

  /* Under an ordinary umask too. */
  g_autofree char *c = g_build_filename(fx->dir, "c", NULL);
  g_autofree char *path2 = g_build_filename(c, "store.db", NULL);
  old = umask(0);
  store = coffer_store_open(path2, NULL);
  umask(old);
  assert_non_null(store);
  assert_mode(c, 0700);
  assert_mode(path2, 0600);
  coffer_store_free(store);
}

/* ---- pragmas, stats, scale -------------------------------------------- */

static void
test_pragmas(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  sqlite3 *db = coffer_store_db(store);
  sqlite3_stmt *stmt = NULL;
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
  sqlite3_finalize(stmt);
  assert_int_equal(raw_count(store, "PRAGMA synchronous"), 2); /* FULL */
  assert_int_equal(raw_count(store, "PRAGMA foreign_keys"), 1);
  assert_true(raw_count(store, "PRAGMA busy_timeout") > 0);
}

static void
test_stats(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(GError) error = NULL;
  CofferStoreStats stats;
  assert_true(coffer_store_get_stats(store, &stats, &error));
  assert_int_equal(stats.collections + stats.items + stats.tombstones + stats.history, 0);

  put(store, 1, 1, 0, FALSE);
  put(store, 2, 1, 0, FALSE);
  put(store, 3, 1, 0, TRUE);
  for (guint32 n = 10; n < 15; n++)
    put(store, n, 2, 1, n == 14);
  guint8 id[COFFER_STORE_ID_BYTES];
  make_id(id, 10);
  g_autoptr(GBytes) old = g_bytes_new("old", 3);
  assert_true(coffer_store_add_history(store, id, old, &error));
  assert_true(coffer_store_add_history(store, id, old, &error));

  assert_true(coffer_store_get_stats(store, &stats, &error));
  assert_int_equal(stats.collections, 2);
  assert_int_equal(stats.items, 4);
  assert_int_equal(stats.tombstones, 2);
  assert_int_equal(stats.history, 2);

  GStatBuf db_st, wal_st;
  g_autofree char *wal = g_strconcat(fx->path, "-wal", NULL);
  assert_int_equal(g_stat(fx->path, &db_st), 0);
  assert_int_equal(g_stat(wal, &wal_st), 0);
  assert_true(wal_st.st_size > 0);
  assert_int_equal(stats.bytes, (guint64)db_st.st_size + (guint64)wal_st.st_size);
}

/* Statements that read every row by design. */
static gboolean
scans_by_design(CofferStoreStmt id)
{
  return id == COFFER_STORE_STMT_ALL_RECORDS || id == COFFER_STORE_STMT_ALL_ITEMS ||
         id == COFFER_STORE_STMT_COUNT_RECORDS || id == COFFER_STORE_STMT_COUNT_HISTORY ||
         id == COFFER_STORE_STMT_TOMBSTONES ||
         id == COFFER_STORE_STMT_REMOVE_HISTORY
         /* walks the partial index of dirty rows only: checked below */
         || id == COFFER_STORE_STMT_DIRTY_RECORDS;
}

/* The EXPLAIN QUERY PLAN details of sql, one per line. */
static char *
query_plan(sqlite3 *db, const char *sql)
{
  g_autofree char *explain = g_strconcat("EXPLAIN QUERY PLAN ", sql, NULL);
  sqlite3_stmt *stmt = NULL;
  if (sqlite3_prepare_v2(db, explain, -1, &stmt, NULL) != SQLITE_OK)
    fail_msg("%s: %s", explain, sqlite3_errmsg(db));
  GString *plan = g_string_new(NULL);
  while (sqlite3_step(stmt) == SQLITE_ROW)
    g_string_append_printf(plan, "%s\n", (const char *)sqlite3_column_text(stmt, 3));
  sqlite3_finalize(stmt);
  return g_string_free(plan, FALSE);
}

static void
assert_no_scan(sqlite3 *db, const char *sql)
{
  g_autofree char *plan = query_plan(db, sql);
  if (strstr(plan, "SCAN") != NULL)
    fail_msg("%s\nscans:\n%s", sql, plan);
}

static void
test_scale_uses_indexes(void **state)
{
  Fixture *fx = *state;
  g_autoptr(CofferStore) store = open_ok(fx->path);
  g_autoptr(GError) error = NULL;
  sqlite3 *db = coffer_store_db(store);
  const guint32 n_records = 20000;

  /* Items in 100 collections; each has its own hash and shares one with
   * nine others. */
  assert_true(coffer_store_begin(store, &error));
  for (guint32 c = 1; c <= 100; c++)
    put(store, 1000000 + c, 1, 0, FALSE);
  for (guint32 n = 1; n <= n_records; n++) {
    put(store, n, 2, 1000000 + n % 100 + 1, FALSE);
    set_lookup(store, n, (guint32[]){ n, 100000 + n / 10 }, 2);
  }
  assert_true(coffer_store_commit(store, &error));

  /* Every keyed statement is answered through an index. */
  for (int i = 0; i < COFFER_STORE_N_STMTS; i++)
    if (!scans_by_design(i))
      assert_no_scan(db, coffer_store_stmt_sql(i));
  for (gsize n = 1; n <= 3; n++) {
    g_autofree char *sql = coffer_store_find_sql(n);
    g_autofree char *plan = query_plan(db, sql);
    if (strstr(plan, "SCAN") != NULL || strstr(plan, "USING COVERING INDEX lookup_hash") == NULL)
      fail_msg("%s\n%s", sql, plan);
  }
  /* Pending pushes are found through the partial index of dirty rows. */
  g_autofree char *dirty = query_plan(db, coffer_store_stmt_sql(COFFER_STORE_STMT_DIRTY_RECORDS));
  assert_non_null(strstr(dirty, "USING INDEX records_dirty"));
  /* The parent index serves "items of a collection". */
  g_autofree char *children = query_plan(db, "SELECT id FROM records WHERE parent = ?1");
  assert_non_null(strstr(children, "USING INDEX records_parent"));

  /* And at run time: reset the counters, do one of each write and lookup,
   * then no statement took a full-scan step and none needed more than a
   * few hundred VM steps (a scan of 20,000 rows needs 100,000s). */
  for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s != NULL; s = sqlite3_next_stmt(db, s)) {
    sqlite3_stmt_status(s, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
    sqlite3_stmt_status(s, SQLITE_STMTSTATUS_VM_STEP, 1);
  }
  guint8 id[COFFER_STORE_ID_BYTES];
  make_id(id, 777);
  g_autoptr(GBytes) value = g_bytes_new("v", 1);
  assert_true(coffer_store_begin(store, &error));
  put(store, n_records + 1, 2, 1000001, FALSE);
  set_lookup(store, n_records + 1, (guint32[]){ 7, 8, 9 }, 3);
  put(store, 777, 2, 1000002, TRUE);
  assert_true(coffer_store_add_history(store, id, value, &error));
  assert_true(coffer_store_set_meta(store, "hlc", value, &error));
  assert_true(coffer_store_commit(store, &error));
  g_autoptr(CofferStoreRecord) record = get(store, 12345);
  assert_non_null(record);
  g_autoptr(GBytes) got = NULL;
  assert_true(coffer_store_get_meta(store, "hlc", &got, &error));
  char *s;
  assert_string_equal(s = find(store, (guint32[]){ 12345 }, 1), "12345"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 101234 }, 1),
                      "12340,12341,12342,12343,12344,12345,12346,12347,12348,12349"),
      g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 12345, 101234 }, 2), "12345"), g_free(s);
  assert_string_equal(s = find(store, (guint32[]){ 12345, 101234, 7 }, 3), ""), g_free(s);
  make_id(id, 555);
  assert_true(coffer_store_remove_record(store, id, &error));

  guint checked = 0;
  for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st != NULL; st = sqlite3_next_stmt(db, st)) {
    int full = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    int steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    if (full != 0 || steps > 1000)
      fail_msg("%s: %d full-scan steps, %d VM steps", sqlite3_sql(st), full, steps);
    checked += steps > 0;
  }
  assert_true(checked >= 10); /* the loop saw the statements that ran */
  assert_null(get(store, 555));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_record_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_meta_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_foreach, setup, teardown),
    cmocka_unit_test_setup_teardown(test_nested_transactions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_inner_rollback_aborts_outer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_lookup_intersection, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reopen_persistence, setup, teardown),
    cmocka_unit_test_setup_teardown(test_garbage_untouched, setup, teardown),
    cmocka_unit_test_setup_teardown(test_truncated_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(test_too_new_untouched, setup, teardown),
    cmocka_unit_test_setup_teardown(test_foreign_database_untouched, setup, teardown),
    cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scale_uses_indexes, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
