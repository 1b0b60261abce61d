/* coffer — the local store on SQLite.  Schema and durability: docs/store.md.
 *
 * Every statement is prepared once at open and kept (store->stmts), so a
 * write costs a bind, a step and a reset.  Opening never writes to a file it
 * has not recognised as a coffer store of a known format. */
#include "store/store.h"
#include "store/store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000
/* Lookup queries differ by the number of hashes; the common sizes (an item
 * has a handful of attributes) are kept prepared, larger ones prepared per
 * call. */
#define FIND_CACHE_MAX 16
#define SQLITE_MAGIC "SQLite format 3" /* 16 bytes with the NUL */
#define SQLITE_HEADER_BYTES 100

struct CofferStore {
  sqlite3 *db;
  char *path;
  sqlite3_stmt *stmts[COFFER_STORE_N_STMTS];
  sqlite3_stmt *find[FIND_CACHE_MAX + 1]; /* by number of distinct hashes */
  guint depth;                            /* begin calls not yet matched by commit/rollback */
  gboolean aborted;                       /* rolled back below the outermost level */
};

/* Format 1.  Later formats add columns/tables through user_version
 * migrations; sync already has its columns (etag, dirty). */
static const char schema_sql[] = "CREATE TABLE meta ("
                                 "  key   TEXT PRIMARY KEY NOT NULL,"
                                 "  value BLOB NOT NULL"
                                 ") WITHOUT ROWID;"
                                 "CREATE TABLE records ("
                                 "  id        BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),"
                                 "  kind      INTEGER NOT NULL,"
                                 "  parent    BLOB CHECK (parent IS NULL OR length(parent) = 16),"
                                 "  tombstone INTEGER NOT NULL DEFAULT 0,"
                                 "  envelope  BLOB NOT NULL,"
                                 "  etag      TEXT,"
                                 "  dirty     INTEGER NOT NULL DEFAULT 1"
                                 ");"
                                 "CREATE INDEX records_parent ON records (parent);"
                                 "CREATE INDEX records_dirty ON records (id) WHERE dirty = 1;"
                                 "CREATE TABLE lookup ("
                                 "  record BLOB NOT NULL REFERENCES records (id) ON DELETE CASCADE,"
                                 "  hash   BLOB NOT NULL CHECK (length(hash) = 32),"
                                 "  PRIMARY KEY (record, hash)"
                                 ") WITHOUT ROWID;"
                                 "CREATE INDEX lookup_hash ON lookup (hash);"
                                 "CREATE TABLE history ("
                                 "  seq      INTEGER PRIMARY KEY,"
                                 "  record   BLOB NOT NULL CHECK (length(record) = 16),"
                                 "  added    INTEGER NOT NULL,"
                                 "  envelope BLOB NOT NULL"
                                 ");"
                                 "CREATE INDEX history_record ON history (record);";

static const char *const schema_indexes[] = {
  "records_parent",
  "records_dirty",
  "lookup_hash",
  "history_record",
};

static const char *const stmt_sql[COFFER_STORE_N_STMTS] = {
  [COFFER_STORE_STMT_BEGIN] = "BEGIN IMMEDIATE",
  [COFFER_STORE_STMT_COMMIT] = "COMMIT",
  [COFFER_STORE_STMT_ROLLBACK] = "ROLLBACK",
  [COFFER_STORE_STMT_GET_META] = "SELECT value FROM meta WHERE key = ?1",
  [COFFER_STORE_STMT_SET_META] = "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                                 " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  /* An upsert, not INSERT OR REPLACE: replace deletes the row first, which
   * would cascade to the record's lookup rows and forget its etag. */
  [COFFER_STORE_STMT_PUT_RECORD] = "INSERT INTO records (id, kind, parent, tombstone, envelope, dirty)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5, 1)"
                                   " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
                                   " parent = excluded.parent, tombstone = excluded.tombstone,"
                                   " envelope = excluded.envelope, dirty = 1",
  [COFFER_STORE_STMT_GET_RECORD] = "SELECT id, kind, parent, tombstone, envelope FROM records WHERE id = ?1",
  [COFFER_STORE_STMT_REMOVE_RECORD] = "DELETE FROM records WHERE id = ?1",
  [COFFER_STORE_STMT_ALL_RECORDS] = "SELECT id, kind, parent, tombstone, envelope FROM records",
  [COFFER_STORE_STMT_CLEAR_LOOKUP] = "DELETE FROM lookup WHERE record = ?1",
  [COFFER_STORE_STMT_ADD_LOOKUP] = "INSERT INTO lookup (record, hash) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
  [COFFER_STORE_STMT_ALL_ITEMS] = "SELECT id FROM records WHERE kind = 2 AND tombstone = 0",
  [COFFER_STORE_STMT_ADD_HISTORY] = "INSERT INTO history (record, added, envelope) VALUES (?1, ?2, ?3)",
  [COFFER_STORE_STMT_COUNT_RECORDS] = "SELECT coalesce(sum(kind = 1 AND tombstone = 0), 0),"
                                      " coalesce(sum(kind = 2 AND tombstone = 0), 0),"
                                      " coalesce(sum(tombstone != 0), 0) FROM records",
  [COFFER_STORE_STMT_COUNT_HISTORY] = "SELECT count(*) FROM history",
  /* A record as the remote has it: clean, with its ETag. */
  [COFFER_STORE_STMT_PUT_SYNCED] = "INSERT INTO records (id, kind, parent, tombstone, envelope, etag, dirty)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)"
                                   " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
                                   " parent = excluded.parent, tombstone = excluded.tombstone,"
                                   " envelope = excluded.envelope, etag = excluded.etag, dirty = 0",
  [COFFER_STORE_STMT_GET_SYNC_STATE] = "SELECT etag, dirty FROM records WHERE id = ?1",
  /* Clean only if what was pushed is still what we hold. */
  [COFFER_STORE_STMT_MARK_PUSHED] = "UPDATE records SET etag = ?2,"
                                    " dirty = CASE WHEN envelope = ?3 THEN 0 ELSE dirty END WHERE id = ?1",
  [COFFER_STORE_STMT_MARK_DIRTY] = "UPDATE records SET dirty = 1 WHERE id = ?1",
  [COFFER_STORE_STMT_DIRTY_RECORDS] = "SELECT id, kind, parent, tombstone, envelope, etag FROM records WHERE dirty = 1",
  [COFFER_STORE_STMT_HISTORY_OF] = "SELECT seq, added, envelope FROM history WHERE record = ?1 ORDER BY seq DESC",
  [COFFER_STORE_STMT_GET_HISTORY] = "SELECT record, added, envelope FROM history WHERE seq = ?1",
  [COFFER_STORE_STMT_TOMBSTONES] = "SELECT id, kind, parent, tombstone, envelope FROM records WHERE tombstone = 1",
  /* Older than ?1 and not among the newest ?2 versions of its record. */
  [COFFER_STORE_STMT_REMOVE_HISTORY] =
      "DELETE FROM history WHERE added < ?1 AND seq NOT IN"
      " (SELECT h.seq FROM history h WHERE h.record = history.record ORDER BY h.seq DESC LIMIT ?2)"
      " RETURNING length(envelope)",
};

G_DEFINE_QUARK(coffer_store_error, coffer_store_error)

/* A kept statement borrowed for one call: the cleanup resets it and drops
 * its bindings (which may point into the caller's buffers). */
typedef sqlite3_stmt KeptStmt;
static void
kept_stmt_release(KeptStmt *stmt)
{
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KeptStmt, kept_stmt_release)

/* A statement prepared for one call only. */
typedef sqlite3_stmt OneShotStmt;
static void
one_shot_stmt_free(OneShotStmt *stmt)
{
  sqlite3_finalize(stmt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OneShotStmt, one_shot_stmt_free)

static int
error_code_for(int rc)
{
  switch (rc & 0xff) {
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return COFFER_STORE_ERROR_CORRUPT;
  default: /* FULL, IOERR, BUSY, CANTOPEN, READONLY, constraints, ... */
    return COFFER_STORE_ERROR_IO;
  }
}

/* Sets error from the connection's last failure; always returns FALSE. */
static gboolean
fail(CofferStore *store, GError **error, int rc, const char *what)
{
  const char *msg = store->db != NULL ? sqlite3_errmsg(store->db) : sqlite3_errstr(rc);
  g_set_error(error, COFFER_STORE_ERROR, error_code_for(rc), "%s: %s", what, msg);
  return FALSE;
}

static KeptStmt *
kept(CofferStore *store, CofferStoreStmt id)
{
  return store->stmts[id];
}

/* Binds a blob that may be empty: a NULL pointer would bind SQL NULL. */
static int
bind_blob(sqlite3_stmt *stmt, int index, const void *data, gsize len)
{
  if (len > G_MAXINT)
    return SQLITE_TOOBIG;
  return sqlite3_bind_blob(stmt, index, data != NULL ? data : "", (int)len, SQLITE_STATIC);
}

static int
bind_bytes(sqlite3_stmt *stmt, int index, GBytes *bytes)
{
  gsize len;
  const void *data = g_bytes_get_data(bytes, &len);
  return bind_blob(stmt, index, data, len);
}

static void
bind_id(sqlite3_stmt *stmt, int index, const guint8 id[COFFER_STORE_ID_BYTES])
{
  sqlite3_bind_blob(stmt, index, id, COFFER_STORE_ID_BYTES, SQLITE_STATIC);
}

/* Steps a statement that returns no rows. */
static gboolean
run(CofferStore *store, sqlite3_stmt *stmt, const char *what, GError **error)
{
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE)
    return fail(store, error, rc, what);
  return TRUE;
}

/* Writes are refused between an inner rollback and the end of the outermost
 * transaction: outside SQLite's transaction they would autocommit. */
static gboolean
check_writable(CofferStore *store, GError **error)
{
  if (!store->aborted)
    return TRUE;
  g_set_error_literal(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO, "the transaction was rolled back");
  return FALSE;
}

/* ---- opening ---------------------------------------------------------- */

/* Creates dir and any missing parents 0700 whatever the umask. */
static gboolean
make_private_dir(const char *dir, GError **error)
{
  if (g_file_test(dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  g_autofree char *parent = g_path_get_dirname(dir);
  if (strcmp(parent, dir) != 0 && !make_private_dir(parent, error))
    return FALSE;
  if (mkdir(dir, 0700) != 0) {
    if (errno == EEXIST && g_file_test(dir, G_FILE_TEST_IS_DIR))
      return TRUE; /* created meanwhile by someone else: not ours to chmod */
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO, "cannot create %s: %s", dir, g_strerror(errno));
    return FALSE;
  }
  /* The umask may have taken bits away (never added any). */
  if (chmod(dir, 0700) != 0) {
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO, "cannot chmod %s: %s", dir, g_strerror(errno));
    return FALSE;
  }
  return TRUE;
}

static gboolean
io_fail(GError **error, const char *what, const char *path, int errsv)
{
  g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO, "cannot %s %s: %s", what, path, g_strerror(errsv));
  return FALSE;
}

/* Creates a missing (or empty) database file 0600, and refuses a non-empty
 * file without SQLite's header before SQLite opens it: we only read it. */
static gboolean
prepare_file(const char *path, GError **error)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
      fd = open(path, O_RDONLY | O_CLOEXEC); /* lost a race: check theirs */
  }
  if (fd < 0)
    return io_fail(error, "open", path, errno);

  guint8 header[SQLITE_HEADER_BYTES];
  gsize got = 0;
  while (got < sizeof header) {
    ssize_t n = read(fd, header + got, sizeof header - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int errsv = errno;
      close(fd);
      return io_fail(error, "read", path, errsv);
    }
    if (n == 0)
      break;
    got += (gsize)n;
  }

  gboolean ok = TRUE;
  if (got == 0) {
    /* New (or empty, which SQLite also treats as new): the store we are
     * about to create must be private whatever the umask was.  SQLite gives
     * the -wal and -shm files the database file's mode. */
    if (fchmod(fd, 0600) != 0)
      ok = io_fail(error, "chmod", path, errno);
  } else if (got < sizeof header || memcmp(header, SQLITE_MAGIC, sizeof SQLITE_MAGIC) != 0) {
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_CORRUPT,
                "%s is not a coffer store (not an SQLite database)", path);
    ok = FALSE;
  }
  close(fd);
  return ok;
}

/* Runs a one-row query returning one integer. */
static gboolean
query_int(CofferStore *store, const char *sql, gint64 *value, GError **error)
{
  g_autoptr(OneShotStmt) stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return fail(store, error, rc, store->path);
  rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW)
    return fail(store, error, rc, store->path);
  *value = sqlite3_column_int64(stmt, 0);
  return TRUE;
}

/* Runs a one-row query returning one text value (*value NULL for NULL). */
static gboolean
query_text(CofferStore *store, const char *sql, char **value, GError **error)
{
  g_autoptr(OneShotStmt) stmt = NULL;
  int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW)
    return fail(store, error, rc, store->path);
  *value = g_strdup((const char *)sqlite3_column_text(stmt, 0));
  return TRUE;
}

static gboolean
exec(CofferStore *store, const char *sql, GError **error)
{
  int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return fail(store, error, rc, store->path);
  return TRUE;
}

static gboolean
not_a_store(CofferStore *store, GError **error, const char *why)
{
  g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_CORRUPT, "%s is not a coffer store (%s)", store->path, why);
  return FALSE;
}

/* Reads user_version and decides, before anything writes to the file. */
static gboolean
check_format(CofferStore *store, gint64 *version, GError **error)
{
  if (!query_int(store, "PRAGMA user_version", version, error))
    return FALSE;
  if (*version > COFFER_STORE_FORMAT) {
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_TOO_NEW,
                "%s has format %" G_GINT64_FORMAT "; this coffer reads up to %d", store->path, *version,
                COFFER_STORE_FORMAT);
    return FALSE;
  }
  if (*version < 0)
    return not_a_store(store, error, "negative format");
  if (*version == 0) {
    gint64 objects;
    if (!query_int(store, "SELECT count(*) FROM sqlite_schema", &objects, error))
      return FALSE;
    if (objects > 0)
      return not_a_store(store, error, "another application's database");
  }
  return TRUE;
}

static gboolean
configure(CofferStore *store, GError **error)
{
  g_autofree char *mode = NULL;

  if (!query_text(store, "PRAGMA journal_mode=WAL", &mode, error))
    return FALSE;
  if (mode == NULL || g_ascii_strcasecmp(mode, "wal") != 0) {
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO,
                "%s: cannot use write-ahead logging (journal mode %s)", store->path, mode != NULL ? mode : "unknown");
    return FALSE;
  }
  return exec(store, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", error);
}

/* Creates the schema in one transaction, unless another process did it
 * between our check and our lock. */
static gboolean
create_schema(CofferStore *store, GError **error)
{
  if (!exec(store, "BEGIN IMMEDIATE", error))
    return FALSE;
  gint64 version;
  gboolean ok = query_int(store, "PRAGMA user_version", &version, error);
  if (ok && version == 0) {
    g_autofree char *set_version = g_strdup_printf("PRAGMA user_version=%d", COFFER_STORE_FORMAT);
    ok = exec(store, schema_sql, error) && exec(store, set_version, error);
  }
  if (ok)
    ok = exec(store, "COMMIT", error);
  if (!ok && !sqlite3_get_autocommit(store->db))
    sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
  return ok;
}

/* Structural check: reads every b-tree page once, so a truncated or
 * scribbled-on file is refused at open rather than failing some later
 * write.  Linear in the file size but read-only and done once per agent
 * start; a 20,000-record store takes a few tens of milliseconds. */
static gboolean
quick_check(CofferStore *store, GError **error)
{
  g_autofree char *result = NULL;

  if (!query_text(store, "PRAGMA quick_check(1)", &result, error))
    return FALSE;
  if (g_strcmp0(result, "ok") != 0) {
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_CORRUPT, "%s is damaged: %s", store->path,
                result != NULL ? result : "?");
    return FALSE;
  }
  return TRUE;
}

/* Compiling every statement checks each table and column we use exists. */
static gboolean
prepare_statements(CofferStore *store, GError **error)
{
  for (int i = 0; i < COFFER_STORE_N_STMTS; i++) {
    int rc = sqlite3_prepare_v3(store->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &store->stmts[i], NULL);
    if ((rc & 0xff) == SQLITE_ERROR)
      return not_a_store(store, error, sqlite3_errmsg(store->db));
    if (rc != SQLITE_OK)
      return fail(store, error, rc, store->path);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(schema_indexes); i++) {
    g_autofree char *sql =
        g_strdup_printf("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = '%s'", schema_indexes[i]);
    gint64 found;
    if (!query_int(store, sql, &found, error))
      return FALSE;
    if (found != 1)
      return not_a_store(store, error, "an index is missing");
  }
  return TRUE;
}

CofferStore *
coffer_store_open(const char *path, GError **error)
{
  g_return_val_if_fail(path != NULL, NULL);
  g_return_val_if_fail(error == NULL || *error == NULL, NULL);

  g_autofree char *dir = g_path_get_dirname(path);
  if (!make_private_dir(dir, error) || !prepare_file(path, error))
    return NULL;

  g_autoptr(CofferStore) store = g_new0(CofferStore, 1);
  store->path = g_strdup(path);
  /* No SQLITE_OPEN_CREATE: prepare_file made the file with our mode. */
  int rc = sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE, NULL);
  if (rc != SQLITE_OK) {
    fail(store, error, rc, path);
    return NULL;
  }
  sqlite3_extended_result_codes(store->db, 1);
  sqlite3_busy_timeout(store->db, BUSY_TIMEOUT_MS);
  sqlite3_db_config(store->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  /* Until the file is accepted, closing must not checkpoint a WAL left by
   * someone else into it: a refused store is left exactly as it was. */
  sqlite3_db_config(store->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);

  gint64 version;
  if (!check_format(store, &version, error))
    return NULL;
  gboolean fresh = version == 0;
  /* An existing file is verified before configure(): switching to WAL
   * writes to the file's header. */
  if (!fresh && !(quick_check(store, error) && prepare_statements(store, error)))
    return NULL;
  if (!configure(store, error))
    return NULL;
  /* (A future format 2 migrates here, version 1 -> 2, in one transaction.) */
  if (fresh && !(create_schema(store, error) && prepare_statements(store, error)))
    return NULL;

  sqlite3_db_config(store->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, NULL);
  return g_steal_pointer(&store);
}

void
coffer_store_free(CofferStore *store)
{
  if (store == NULL)
    return;
  if (store->depth > 0)
    g_warning("coffer store closed inside a transaction; it is rolled back");
  for (int i = 0; i < COFFER_STORE_N_STMTS; i++)
    sqlite3_finalize(store->stmts[i]);
  for (int i = 0; i <= FIND_CACHE_MAX; i++)
    sqlite3_finalize(store->find[i]);
  sqlite3_close(store->db); /* rolls back an open transaction */
  g_free(store->path);
  g_free(store);
}

void
coffer_store_record_free(CofferStoreRecord *record)
{
  if (record == NULL)
    return;
  g_clear_pointer(&record->envelope, g_bytes_unref);
  g_free(record->etag);
  g_free(record);
}

/* ---- transactions ----------------------------------------------------- */

gboolean
coffer_store_begin(CofferStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  if (store->depth == 0) {
    g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_BEGIN);
    if (!run(store, stmt, "begin", error))
      return FALSE;
  }
  store->depth++;
  return TRUE;
}

static void
rollback_now(CofferStore *store)
{
  /* SQLite rolls back by itself on some errors (e.g. disk full). */
  if (sqlite3_get_autocommit(store->db))
    return;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_ROLLBACK);
  int rc = sqlite3_step(stmt);
  if (rc != SQLITE_DONE)
    g_warning("coffer store rollback failed: %s", sqlite3_errmsg(store->db));
}

gboolean
coffer_store_commit(CofferStore *store, GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  g_return_val_if_fail(store->depth > 0, FALSE);
  store->depth--;
  if (store->aborted) {
    if (store->depth == 0)
      store->aborted = FALSE;
    g_set_error_literal(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_IO, "the transaction was rolled back");
    return FALSE;
  }
  if (store->depth > 0)
    return TRUE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_COMMIT);
  if (run(store, stmt, "commit", error))
    return TRUE;
  /* A failed commit ends the transaction: the caller must not roll back. */
  rollback_now(store);
  return FALSE;
}

void
coffer_store_rollback(CofferStore *store)
{
  g_return_if_fail(store != NULL);
  g_return_if_fail(store->depth > 0);
  store->depth--;
  if (!store->aborted) {
    rollback_now(store);
    store->aborted = store->depth > 0;
  } else if (store->depth == 0) {
    store->aborted = FALSE;
  }
}

/* ---- meta ------------------------------------------------------------- */

gboolean
coffer_store_get_meta(CofferStore *store, const char *key, GBytes **value, GError **error)
{
  g_return_val_if_fail(store != NULL && key != NULL && value != NULL, FALSE);
  *value = NULL;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_GET_META);
  sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    return fail(store, error, rc, "reading meta");
  *value = g_bytes_new(sqlite3_column_blob(stmt, 0), (gsize)sqlite3_column_bytes(stmt, 0));
  return TRUE;
}

gboolean
coffer_store_set_meta(CofferStore *store, const char *key, GBytes *value, GError **error)
{
  g_return_val_if_fail(store != NULL && key != NULL && value != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_SET_META);
  sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
  int rc = bind_bytes(stmt, 2, value);
  if (rc != SQLITE_OK)
    return fail(store, error, rc, "writing meta");
  return run(store, stmt, "writing meta", error);
}

/* ---- records ---------------------------------------------------------- */

static gboolean
is_zero_id(const guint8 id[COFFER_STORE_ID_BYTES])
{
  static const guint8 zero[COFFER_STORE_ID_BYTES];
  return memcmp(id, zero, COFFER_STORE_ID_BYTES) == 0;
}

/* Reads a row of (id, kind, parent, tombstone, envelope). */
static gboolean
record_from_row(CofferStore *store, sqlite3_stmt *stmt, CofferStoreRecord **out, GError **error)
{
  const void *id = sqlite3_column_blob(stmt, 0);
  int id_len = sqlite3_column_bytes(stmt, 0);
  const void *parent = sqlite3_column_blob(stmt, 2);
  int parent_len = sqlite3_column_bytes(stmt, 2);
  sqlite3_int64 kind = sqlite3_column_int64(stmt, 1);
  if (id_len != COFFER_STORE_ID_BYTES || (parent != NULL && parent_len != COFFER_STORE_ID_BYTES) || kind < 0 ||
      kind > G_MAXUINT8) {
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_CORRUPT, "%s: malformed record row", store->path);
    return FALSE;
  }
  CofferStoreRecord *record = g_new0(CofferStoreRecord, 1);
  memcpy(record->id, id, COFFER_STORE_ID_BYTES);
  record->kind = (guint8)kind;
  if (parent != NULL)
    memcpy(record->parent, parent, COFFER_STORE_ID_BYTES);
  record->tombstone = sqlite3_column_int64(stmt, 3) != 0;
  record->envelope = g_bytes_new(sqlite3_column_blob(stmt, 4), (gsize)sqlite3_column_bytes(stmt, 4));
  *out = record;
  return TRUE;
}

gboolean
coffer_store_put_record(CofferStore *store, const CofferStoreRecord *record, GError **error)
{
  g_return_val_if_fail(store != NULL && record != NULL && record->envelope != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_PUT_RECORD);
  bind_id(stmt, 1, record->id);
  sqlite3_bind_int(stmt, 2, record->kind);
  /* "No parent" is NULL in the table, so the parent index holds only real
   * parents. */
  if (!is_zero_id(record->parent))
    bind_id(stmt, 3, record->parent);
  sqlite3_bind_int(stmt, 4, record->tombstone ? 1 : 0);
  int rc = bind_bytes(stmt, 5, record->envelope);
  if (rc != SQLITE_OK)
    return fail(store, error, rc, "writing record");
  return run(store, stmt, "writing record", error);
}

gboolean
coffer_store_get_record(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], CofferStoreRecord **record,
                        GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL && record != NULL, FALSE);
  *record = NULL;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_GET_RECORD);
  bind_id(stmt, 1, id);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    return fail(store, error, rc, "reading record");
  return record_from_row(store, stmt, record, error);
}

gboolean
coffer_store_remove_record(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  /* The lookup rows go by ON DELETE CASCADE, in the same statement. */
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_REMOVE_RECORD);
  bind_id(stmt, 1, id);
  return run(store, stmt, "removing record", error);
}

gboolean
coffer_store_foreach_record(CofferStore *store, CofferStoreRecordFunc func, gpointer user_data, GError **error)
{
  g_return_val_if_fail(store != NULL && func != NULL, FALSE);
  /* The one kept statement cannot serve a nested foreach from func. */
  g_return_val_if_fail(!sqlite3_stmt_busy(store->stmts[COFFER_STORE_STMT_ALL_RECORDS]), FALSE);
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_ALL_RECORDS);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    g_autoptr(CofferStoreRecord) record = NULL;
    if (!record_from_row(store, stmt, &record, error))
      return FALSE;
    if (!func(record, user_data))
      return TRUE;
  }
  if (rc != SQLITE_DONE)
    return fail(store, error, rc, "listing records");
  return TRUE;
}

/* ---- lookup ----------------------------------------------------------- */

static gboolean
replace_lookup(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], const guint8 *hashes, gsize n_hashes,
               GError **error)
{
  g_autoptr(KeptStmt) clear = kept(store, COFFER_STORE_STMT_CLEAR_LOOKUP);
  bind_id(clear, 1, id);
  if (!run(store, clear, "clearing lookup", error))
    return FALSE;
  for (gsize i = 0; i < n_hashes; i++) {
    g_autoptr(KeptStmt) add = kept(store, COFFER_STORE_STMT_ADD_LOOKUP);
    bind_id(add, 1, id);
    sqlite3_bind_blob(add, 2, hashes + i * COFFER_STORE_HASH_BYTES, COFFER_STORE_HASH_BYTES, SQLITE_STATIC);
    /* A record that does not exist fails here (foreign key). */
    if (!run(store, add, "writing lookup", error))
      return FALSE;
  }
  return TRUE;
}

gboolean
coffer_store_set_lookup(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], const guint8 *hashes,
                        gsize n_hashes, GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL && (hashes != NULL || n_hashes == 0), FALSE);
  if (!coffer_store_begin(store, error))
    return FALSE;
  if (!replace_lookup(store, id, hashes, n_hashes, error)) {
    coffer_store_rollback(store);
    return FALSE;
  }
  return coffer_store_commit(store, error);
}

static int
compare_hashes(gconstpointer a, gconstpointer b)
{
  return memcmp(a, b, COFFER_STORE_HASH_BYTES);
}

/* Sorted copy without repeats, so "has all of them" is a plain count. */
static GByteArray *
distinct_hashes(const guint8 *hashes, gsize n_hashes, gsize *n_distinct)
{
  GByteArray *sorted = g_byte_array_sized_new((guint)(n_hashes * COFFER_STORE_HASH_BYTES));
  g_byte_array_append(sorted, hashes, (guint)(n_hashes * COFFER_STORE_HASH_BYTES));
  qsort(sorted->data, n_hashes, COFFER_STORE_HASH_BYTES, compare_hashes);
  gsize n = 0;
  for (gsize i = 0; i < n_hashes; i++) {
    guint8 *h = sorted->data + i * COFFER_STORE_HASH_BYTES;
    if (n > 0 && memcmp(h, sorted->data + (n - 1) * COFFER_STORE_HASH_BYTES, COFFER_STORE_HASH_BYTES) == 0)
      continue;
    memmove(sorted->data + n * COFFER_STORE_HASH_BYTES, h, COFFER_STORE_HASH_BYTES);
    n++;
  }
  g_byte_array_set_size(sorted, (guint)(n * COFFER_STORE_HASH_BYTES));
  *n_distinct = n;
  return sorted;
}

char *
coffer_store_find_sql(gsize n_hashes)
{
  g_return_val_if_fail(n_hashes > 0, NULL);
  /* (record, hash) is the primary key, so count(*) counts distinct hashes;
   * the IN list is answered from the covering index lookup_hash. */
  GString *sql = g_string_new("SELECT l.record FROM lookup AS l"
                              " JOIN records AS r ON r.id = l.record"
                              " WHERE r.tombstone = 0 AND l.hash IN (?1");
  for (gsize i = 2; i <= n_hashes; i++)
    g_string_append_printf(sql, ", ?%" G_GSIZE_FORMAT, i);
  g_string_append_printf(sql, ") GROUP BY l.record HAVING count(*) = %" G_GSIZE_FORMAT, n_hashes);
  return g_string_free(sql, FALSE);
}

/* Steps stmt (bound or without parameters) collecting column 0 as ids. */
static gboolean
collect_ids(CofferStore *store, sqlite3_stmt *stmt, GArray **ids, GError **error)
{
  g_autoptr(GArray) found = g_array_new(FALSE, FALSE, COFFER_STORE_ID_BYTES);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(stmt, 0) != COFFER_STORE_ID_BYTES) {
      g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_CORRUPT, "%s: malformed record id", store->path);
      return FALSE;
    }
    g_array_append_vals(found, sqlite3_column_blob(stmt, 0), 1);
  }
  if (rc != SQLITE_DONE)
    return fail(store, error, rc, "searching records");
  *ids = g_steal_pointer(&found);
  return TRUE;
}

static gboolean
find_with(CofferStore *store, sqlite3_stmt *stmt, const guint8 *hashes, gsize n, GArray **ids, GError **error)
{
  for (gsize i = 0; i < n; i++)
    sqlite3_bind_blob(stmt, (int)i + 1, hashes + i * COFFER_STORE_HASH_BYTES, COFFER_STORE_HASH_BYTES, SQLITE_STATIC);
  return collect_ids(store, stmt, ids, error);
}

gboolean
coffer_store_find_lookup(CofferStore *store, const guint8 *hashes, gsize n_hashes, GArray **ids, GError **error)
{
  g_return_val_if_fail(store != NULL && ids != NULL && (hashes != NULL || n_hashes == 0), FALSE);
  *ids = NULL;
  if (n_hashes == 0) {
    g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_ALL_ITEMS);
    return collect_ids(store, stmt, ids, error);
  }

  gsize n;
  g_autoptr(GByteArray) distinct = distinct_hashes(hashes, n_hashes, &n);
  gboolean keep = n <= FIND_CACHE_MAX;
  if (!keep || store->find[n] == NULL) {
    g_autofree char *sql = coffer_store_find_sql(n);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(store->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, NULL);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return fail(store, error, rc, "searching records");
    }
    if (!keep) {
      g_autoptr(OneShotStmt) once = stmt;
      return find_with(store, once, distinct->data, n, ids, error);
    }
    store->find[n] = stmt;
  }
  g_autoptr(KeptStmt) stmt = store->find[n];
  return find_with(store, stmt, distinct->data, n, ids, error);
}

/* ---- history and stats ------------------------------------------------ */

gboolean
coffer_store_add_history(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GBytes *envelope, GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL && envelope != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_ADD_HISTORY);
  bind_id(stmt, 1, id);
  /* When it was kept, for pruning by age. */
  sqlite3_bind_int64(stmt, 2, g_get_real_time() / G_USEC_PER_SEC);
  int rc = bind_bytes(stmt, 3, envelope);
  if (rc != SQLITE_OK)
    return fail(store, error, rc, "writing history");
  return run(store, stmt, "writing history", error);
}

static guint64
file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && st.st_size > 0 ? (guint64)st.st_size : 0;
}

gboolean
coffer_store_get_stats(CofferStore *store, CofferStoreStats *stats, GError **error)
{
  g_return_val_if_fail(store != NULL && stats != NULL, FALSE);
  memset(stats, 0, sizeof *stats);
  {
    g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_COUNT_RECORDS);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
      return fail(store, error, rc, "counting records");
    stats->collections = (guint64)sqlite3_column_int64(stmt, 0);
    stats->items = (guint64)sqlite3_column_int64(stmt, 1);
    stats->tombstones = (guint64)sqlite3_column_int64(stmt, 2);
  }
  {
    g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_COUNT_HISTORY);
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW)
      return fail(store, error, rc, "counting history");
    stats->history = (guint64)sqlite3_column_int64(stmt, 0);
  }
  g_autofree char *wal = g_strconcat(store->path, "-wal", NULL);
  stats->bytes = file_size(store->path) + file_size(wal);
  return TRUE;
}

/* ---- test seams (store-private.h) ------------------------------------ */

const char *
coffer_store_stmt_sql(CofferStoreStmt id)
{
  g_return_val_if_fail(id < COFFER_STORE_N_STMTS, NULL);
  return stmt_sql[id];
}

sqlite3 *
coffer_store_db(CofferStore *store)
{
  return store->db;
}

/* ---- sync state --------------------------------------------------------- */

static gboolean
bind_record(CofferStore *store, sqlite3_stmt *stmt, const CofferStoreRecord *record, GError **error)
{
  bind_id(stmt, 1, record->id);
  sqlite3_bind_int(stmt, 2, record->kind);
  if (!is_zero_id(record->parent))
    bind_id(stmt, 3, record->parent);
  sqlite3_bind_int(stmt, 4, record->tombstone ? 1 : 0);
  int rc = bind_bytes(stmt, 5, record->envelope);
  if (rc != SQLITE_OK)
    return fail(store, error, rc, "writing record");
  return TRUE;
}

gboolean
coffer_store_put_synced_record(CofferStore *store, const CofferStoreRecord *record, const char *etag, GError **error)
{
  g_return_val_if_fail(store != NULL && record != NULL && record->envelope != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_PUT_SYNCED);
  if (!bind_record(store, stmt, record, error))
    return FALSE;
  if (etag != NULL)
    sqlite3_bind_text(stmt, 6, etag, -1, SQLITE_STATIC);
  return run(store, stmt, "writing synced record", error);
}

gboolean
coffer_store_get_sync_state(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], char **etag, gboolean *dirty,
                            GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL, FALSE);
  if (etag != NULL)
    *etag = NULL;
  if (dirty != NULL)
    *dirty = FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_GET_SYNC_STATE);
  bind_id(stmt, 1, id);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    return fail(store, error, rc, "reading sync state");
  if (etag != NULL && sqlite3_column_text(stmt, 0) != NULL)
    *etag = g_strdup((const char *)sqlite3_column_text(stmt, 0));
  if (dirty != NULL)
    *dirty = sqlite3_column_int(stmt, 1) != 0;
  return TRUE;
}

gboolean
coffer_store_mark_pushed(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GBytes *pushed, const char *etag,
                         GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL && pushed != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_MARK_PUSHED);
  bind_id(stmt, 1, id);
  if (etag != NULL)
    sqlite3_bind_text(stmt, 2, etag, -1, SQLITE_STATIC);
  int rc = bind_bytes(stmt, 3, pushed);
  if (rc != SQLITE_OK)
    return fail(store, error, rc, "marking pushed");
  return run(store, stmt, "marking pushed", error);
}

gboolean
coffer_store_mark_dirty(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL, FALSE);
  if (!check_writable(store, error))
    return FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_MARK_DIRTY);
  bind_id(stmt, 1, id);
  return run(store, stmt, "marking dirty", error);
}

/* Runs a query of (id, kind, parent, tombstone, envelope[, etag]) rows. */
static gboolean
foreach_row(CofferStore *store, CofferStoreStmt which, CofferStoreRecordFunc func, gpointer user_data, GError **error)
{
  g_return_val_if_fail(!sqlite3_stmt_busy(store->stmts[which]), FALSE);
  g_autoptr(KeptStmt) stmt = kept(store, which);
  gboolean with_etag = sqlite3_column_count(stmt) > 5;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    g_autoptr(CofferStoreRecord) record = NULL;
    if (!record_from_row(store, stmt, &record, error))
      return FALSE;
    if (with_etag && sqlite3_column_text(stmt, 5) != NULL)
      record->etag = g_strdup((const char *)sqlite3_column_text(stmt, 5));
    if (!func(record, user_data))
      return TRUE;
  }
  if (rc != SQLITE_DONE)
    return fail(store, error, rc, "listing records");
  return TRUE;
}

gboolean
coffer_store_foreach_dirty(CofferStore *store, CofferStoreRecordFunc func, gpointer user_data, GError **error)
{
  g_return_val_if_fail(store != NULL && func != NULL, FALSE);
  return foreach_row(store, COFFER_STORE_STMT_DIRTY_RECORDS, func, user_data, error);
}

gboolean
coffer_store_foreach_tombstone(CofferStore *store, CofferStoreRecordFunc func, gpointer user_data, GError **error)
{
  g_return_val_if_fail(store != NULL && func != NULL, FALSE);
  return foreach_row(store, COFFER_STORE_STMT_TOMBSTONES, func, user_data, error);
}

/* ---- history -------------------------------------------------------------- */

void
coffer_store_history_free(CofferStoreHistory *entry)
{
  if (entry == NULL)
    return;
  g_clear_pointer(&entry->envelope, g_bytes_unref);
  g_free(entry);
}

gboolean
coffer_store_list_history(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GPtrArray **entries,
                          GError **error)
{
  g_return_val_if_fail(store != NULL && id != NULL && entries != NULL, FALSE);
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_store_history_free);
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_HISTORY_OF);
  bind_id(stmt, 1, id);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    CofferStoreHistory *entry = g_new0(CofferStoreHistory, 1);
    entry->seq = sqlite3_column_int64(stmt, 0);
    entry->added = sqlite3_column_int64(stmt, 1);
    memcpy(entry->record, id, COFFER_STORE_ID_BYTES);
    entry->envelope = g_bytes_new(sqlite3_column_blob(stmt, 2), (gsize)sqlite3_column_bytes(stmt, 2));
    g_ptr_array_add(list, entry);
  }
  if (rc != SQLITE_DONE)
    return fail(store, error, rc, "reading history");
  *entries = g_steal_pointer(&list);
  return TRUE;
}

gboolean
coffer_store_get_history(CofferStore *store, gint64 seq, CofferStoreHistory **entry, GError **error)
{
  g_return_val_if_fail(store != NULL && entry != NULL, FALSE);
  *entry = NULL;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_GET_HISTORY);
  sqlite3_bind_int64(stmt, 1, seq);
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    return fail(store, error, rc, "reading history");
  if (sqlite3_column_bytes(stmt, 0) != COFFER_STORE_ID_BYTES) {
    g_set_error(error, COFFER_STORE_ERROR, COFFER_STORE_ERROR_CORRUPT, "%s: malformed history row", store->path);
    return FALSE;
  }
  CofferStoreHistory *found = g_new0(CofferStoreHistory, 1);
  found->seq = seq;
  memcpy(found->record, sqlite3_column_blob(stmt, 0), COFFER_STORE_ID_BYTES);
  found->added = sqlite3_column_int64(stmt, 1);
  found->envelope = g_bytes_new(sqlite3_column_blob(stmt, 2), (gsize)sqlite3_column_bytes(stmt, 2));
  *entry = found;
  return TRUE;
}

gboolean
coffer_store_prune_history(CofferStore *store, gint64 older_than, guint keep, guint64 *removed, guint64 *bytes,
                           GError **error)
{
  g_return_val_if_fail(store != NULL, FALSE);
  *removed = *bytes = 0;
  if (!check_writable(store, error))
    return FALSE;
  g_autoptr(KeptStmt) stmt = kept(store, COFFER_STORE_STMT_REMOVE_HISTORY);
  sqlite3_bind_int64(stmt, 1, older_than);
  sqlite3_bind_int64(stmt, 2, keep);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    (*removed)++;
    *bytes += (guint64)sqlite3_column_int64(stmt, 0);
  }
  if (rc != SQLITE_DONE)
    return fail(store, error, rc, "pruning history");
  return TRUE;
}
