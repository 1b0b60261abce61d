/* coffer — store internals the unit tests inspect (query plans, scan and
 * step counters).  The agent uses store.h only. */
#pragma once

#include <sqlite3.h>

#include "store/store.h"

/* Every statement the store prepares once and keeps. */
typedef enum {
  COFFER_STORE_STMT_BEGIN,
  COFFER_STORE_STMT_COMMIT,
  COFFER_STORE_STMT_ROLLBACK,
  COFFER_STORE_STMT_GET_META,
  COFFER_STORE_STMT_SET_META,
  COFFER_STORE_STMT_PUT_RECORD,
  COFFER_STORE_STMT_GET_RECORD,
  COFFER_STORE_STMT_REMOVE_RECORD,
  COFFER_STORE_STMT_ALL_RECORDS, /* scans: foreach */
  COFFER_STORE_STMT_CLEAR_LOOKUP,
  COFFER_STORE_STMT_ADD_LOOKUP,
  COFFER_STORE_STMT_ALL_ITEMS, /* scans: find with no hashes */
  COFFER_STORE_STMT_ADD_HISTORY,
  COFFER_STORE_STMT_COUNT_RECORDS, /* scans: stats */
  COFFER_STORE_STMT_COUNT_HISTORY, /* scans: stats */
  COFFER_STORE_STMT_PUT_SYNCED,
  COFFER_STORE_STMT_GET_SYNC_STATE,
  COFFER_STORE_STMT_MARK_PUSHED,
  COFFER_STORE_STMT_MARK_DIRTY,
  COFFER_STORE_STMT_DIRTY_RECORDS, /* partial index records_dirty */
  COFFER_STORE_STMT_HISTORY_OF,
  COFFER_STORE_STMT_GET_HISTORY,
  COFFER_STORE_STMT_TOMBSTONES, /* scans: cleanup */
  COFFER_STORE_STMT_REMOVE_HISTORY,
  COFFER_STORE_N_STMTS
} CofferStoreStmt;

const char *coffer_store_stmt_sql(CofferStoreStmt id);
/* The lookup query for n distinct hashes (n >= 1); g_free() it. */
char *coffer_store_find_sql(gsize n_hashes);
sqlite3 *coffer_store_db(CofferStore *store);
