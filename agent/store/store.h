/* coffer — the local store: one SQLite database per user.
 *
 * The store knows nothing about crypto: it keeps opaque envelopes (see
 * agent/vault/crypto.h), the plaintext columns the agent needs while the vault
 * is locked (kind, parent collection, lookup hashes), and small meta values.
 *
 * Durability: WAL mode with synchronous=FULL, so a committed transaction is on
 * disk before commit returns; the agent acknowledges a D-Bus write only after
 * coffer_store_commit() succeeded.  Every write is O(1) in the number of
 * records: one row (plus its lookup rows) per call, all through indexes.
 */
#pragma once

#include <gio/gio.h>

#define COFFER_STORE_ID_BYTES 16
#define COFFER_STORE_HASH_BYTES 32
/* Schema version this build writes; a store with a higher user_version is
 * refused with COFFER_STORE_ERROR_TOO_NEW and left untouched. */
#define COFFER_STORE_FORMAT 1

#define COFFER_STORE_ERROR (coffer_store_error_quark())
GQuark coffer_store_error_quark(void);

typedef enum {
  COFFER_STORE_ERROR_IO,      /* cannot open/read/write, disk full, busy */
  COFFER_STORE_ERROR_CORRUPT, /* not a coffer store, malformed database */
  COFFER_STORE_ERROR_TOO_NEW, /* written by a newer coffer */
} CofferStoreError;

typedef struct CofferStore CofferStore;

typedef struct {
  guint8 id[COFFER_STORE_ID_BYTES];
  guint8 kind;                          /* CofferRecordKind */
  guint8 parent[COFFER_STORE_ID_BYTES]; /* owning collection; zeros if none */
  gboolean tombstone;
  GBytes *envelope; /* owned */
  char *etag;       /* owned; only filled by foreach_dirty */
} CofferStoreRecord;

void coffer_store_record_free(CofferStoreRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferStoreRecord, coffer_store_record_free)

/* Opens or creates the database at path (parent directory created 0700,
 * file 0600).  Checks it is a coffer store of a known format. */
CofferStore *coffer_store_open(const char *path, GError **error);
void coffer_store_free(CofferStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferStore, coffer_store_free)

/* Transactions.  Calls may nest: only the outermost begin/commit pair touches
 * SQLite (so a helper can wrap its own writes while a caller batches).
 * rollback undoes the whole outermost transaction: after a rollback below the
 * outermost level, writes and begin fail until the outermost level ends, and
 * the outermost commit returns an error.  A failed commit has already rolled
 * back (do not call rollback after it). */
gboolean coffer_store_begin(CofferStore *store, GError **error);
gboolean coffer_store_commit(CofferStore *store, GError **error);
void coffer_store_rollback(CofferStore *store);

/* Small named values: vault id, device id, key slot, lookup key, HLC, ...
 * get returns NULL in *value (and TRUE) for a missing key. */
gboolean coffer_store_get_meta(CofferStore *store, const char *key, GBytes **value, GError **error);
gboolean coffer_store_set_meta(CofferStore *store, const char *key, GBytes *value, GError **error);

/* Inserts or replaces a record by id and marks it dirty (not yet pushed). */
gboolean coffer_store_put_record(CofferStore *store, const CofferStoreRecord *record, GError **error);
/* *record is NULL (and TRUE returned) when there is no such record. */
gboolean coffer_store_get_record(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], CofferStoreRecord **record,
                                 GError **error);
/* Removes a record and its lookup rows entirely (used for records that never
 * left this machine, and by cleanup).  Missing is not an error. */
gboolean coffer_store_remove_record(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GError **error);

/* Calls func for every record (tombstones included), in no particular order.
 * func returns FALSE to stop early. */
typedef gboolean (*CofferStoreRecordFunc)(const CofferStoreRecord *record, gpointer user_data);
gboolean coffer_store_foreach_record(CofferStore *store, CofferStoreRecordFunc func, gpointer user_data,
                                     GError **error);

/* Replaces the lookup hashes of a record (n_hashes * 32 bytes).  The record
 * must exist (put it first); its lookup rows go when it is removed. */
gboolean coffer_store_set_lookup(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], const guint8 *hashes,
                                 gsize n_hashes, GError **error);
/* Ids (GArray of 16-byte elements, never NULL on success) of non-tombstone
 * records that have every one of the n_hashes hashes.  Uses the hash index;
 * n_hashes == 0 returns every non-tombstone item record. */
gboolean coffer_store_find_lookup(CofferStore *store, const guint8 *hashes, gsize n_hashes, GArray **ids,
                                  GError **error);

/* Keeps an older envelope of a record (overwritten or conflict-losing). */
gboolean coffer_store_add_history(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GBytes *envelope,
                                  GError **error);

/* Counts for `coffer status`. */
typedef struct {
  guint64 collections;
  guint64 items;
  guint64 tombstones;
  guint64 history;
  guint64 bytes; /* database file size incl. WAL */
} CofferStoreStats;
gboolean coffer_store_get_stats(CofferStore *store, CofferStoreStats *stats, GError **error);

/* ---- sync state ------------------------------------------------------------
 * Each record carries the ETag the remote gave for the version we last
 * pushed or pulled, and a dirty flag: changed here, not yet pushed. */

/* Stores a record as the remote has it: clean, with its ETag (NULL: none). */
gboolean coffer_store_put_synced_record(CofferStore *store, const CofferStoreRecord *record, const char *etag,
                                        GError **error);
/* *etag NULL when never synced; a missing record gives NULL/FALSE. */
gboolean coffer_store_get_sync_state(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], char **etag,
                                     gboolean *dirty, GError **error);
/* Records the ETag of a push and clears dirty if the record still holds
 * exactly `pushed` (it may have changed again meanwhile). */
gboolean coffer_store_mark_pushed(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GBytes *pushed,
                                  const char *etag, GError **error);
gboolean coffer_store_mark_dirty(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GError **error);
/* Dirty records, with record->etag filled.  Uses a partial index. */
gboolean coffer_store_foreach_dirty(CofferStore *store, CofferStoreRecordFunc func, gpointer user_data, GError **error);
gboolean coffer_store_foreach_tombstone(CofferStore *store, CofferStoreRecordFunc func, gpointer user_data,
                                        GError **error);

/* ---- history ---------------------------------------------------------------- */
typedef struct {
  gint64 seq;
  gint64 added; /* seconds since the epoch */
  guint8 record[COFFER_STORE_ID_BYTES];
  GBytes *envelope;
} CofferStoreHistory;

void coffer_store_history_free(CofferStoreHistory *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferStoreHistory, coffer_store_history_free)
/* Versions of one record, newest first. */
gboolean coffer_store_list_history(CofferStore *store, const guint8 id[COFFER_STORE_ID_BYTES], GPtrArray **entries,
                                   GError **error);
/* *entry NULL when there is no such row. */
gboolean coffer_store_get_history(CofferStore *store, gint64 seq, CofferStoreHistory **entry, GError **error);
/* Removes versions added before older_than that are not among the newest
 * `keep` of their record; counts what went. */
gboolean coffer_store_prune_history(CofferStore *store, gint64 older_than, guint keep, guint64 *removed, guint64 *bytes,
                                    GError **error);
