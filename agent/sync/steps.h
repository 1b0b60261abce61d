/* coffer — the network half of a sync round (internal to agent/sync).
 *
 * Each step is a blocking function over one CofferRemote, run in the worker
 * thread.  Steps know the remote layout and the request patterns of the
 * protocol (docs/sync-format.md) but nothing of the vault: their inputs are
 * copies made on the main loop and their outputs go back to it.
 *
 * Layout under the remote base:
 *   vault             the header (vault-sync.h: "CVH1" | format | vault id | account key slot)
 *   head              "coffer-head-v1 <32 hex token>\n" then up to SYNC_JOURNAL_MAX
 *                     lines "<seq> <32 hex id>\n": the records announced by the
 *                     latest pushes, oldest first; rewritten (If-Match) after
 *                     every push
 *   records/<32 hex>  one record envelope, byte for byte as in the local store
 */
#pragma once

#include <gio/gio.h>
#include "sync/remote.h"
#include "vault/crypto.h"

#define SYNC_HEADER_NAME "vault"
#define SYNC_HEAD_NAME "head"
#define SYNC_RECORDS_DIR "records"
/* Journal lines kept in head: a poller that missed more than this many
 * announcements lists the records instead. */
#define SYNC_JOURNAL_MAX 32
#define SYNC_HEAD_MAX_BYTES (16 * 1024)

/* Set from the main loop to make a step give up between two requests. */
typedef struct {
  gint cancelled; /* atomic */
} SyncCancel;

gboolean sync_cancelled(SyncCancel *cancel);

/* One object moved between the remote and the vault. */
typedef struct {
  guint8 id[COFFER_ID_BYTES];
  GBytes *data; /* NULL when only the name/etag matter */
  char *etag;   /* NULL: unknown / never synced */
} SyncObject;

SyncObject *sync_object_new(const guint8 id[COFFER_ID_BYTES], GBytes *data, const char *etag);
void sync_object_free(SyncObject *object);
char *sync_record_name(const guint8 id[COFFER_ID_BYTES]);

/* ---- setup ------------------------------------------------------------------- */

/* GET vault.  NOT_FOUND when the remote holds no vault. */
GBytes *sync_step_fetch_header(CofferRemote *remote, SyncCancel *cancel, GError **error);

/* Makes the layout (records/) and stores header unless a header is there
 * already; returns the header found (NULL when ours was written). */
gboolean sync_step_create_layout(CofferRemote *remote, GBytes *header, GBytes **existing, SyncCancel *cancel,
                                 GError **error);

/* ---- pull ------------------------------------------------------------------------ */

typedef struct {
  /* in */
  char *head_etag;  /* what we last saw of head; NULL: nothing */
  guint64 last_seq; /* the newest journal entry we have merged; 0: none */
  gboolean full;    /* list even when head is unchanged (safety net, first round) */
  gboolean header;  /* fetch the header too */
  /* out */
  GBytes *header_data;
  gboolean changed; /* head moved (or full) */
  char *new_head_etag;
  GBytes *new_head; /* head's body, or NULL when there is none */
  guint64 new_last_seq;
  GPtrArray *listing; /* CofferRemoteEntry* of records/, when listed */
  GPtrArray *journal; /* SyncObject* (ids only) announced since last_seq, when not listed */
} SyncPull;

void sync_pull_clear(SyncPull *pull);
gboolean sync_step_pull(CofferRemote *remote, SyncPull *pull, SyncCancel *cancel, GError **error);

/* GETs every object of in (ids only); out gets SyncObject*s with data and
 * etag.  An object gone meanwhile is skipped (a missing object is never a
 * deletion). */
gboolean sync_step_fetch(CofferRemote *remote, GPtrArray *in, GPtrArray *out, SyncCancel *cancel, GError **error);

/* ---- push ------------------------------------------------------------------------- */

typedef struct {
  /* in */
  GPtrArray *records;  /* SyncObject*: envelope + the ETag to replace (NULL: create) */
  GPtrArray *announce; /* SyncObject* (ids): pushed earlier, not yet in a head we wrote */
  char *head_etag;     /* head as last seen, and its body (NULL: none yet) */
  GBytes *head;
  /* out */
  GPtrArray *pushed;    /* SyncObject*: the envelope sent + its new ETag (may be NULL) */
  GPtrArray *conflicts; /* SyncObject*: what the remote holds instead (412) */
  gboolean head_written;
  gboolean head_conflict; /* someone else moved head since our pull: pull again */
  char *new_head_etag;
  GBytes *new_head;
  guint64 new_last_seq;
} SyncPush;

void sync_push_clear(SyncPush *push);
gboolean sync_step_push(CofferRemote *remote, SyncPush *push, SyncCancel *cancel, GError **error);

/* ---- cleanup ---------------------------------------------------------------------- */

/* Deletes remote tombstones whose revision is older than cutoff_hlc, looking
 * only at objects that are not live records here (live: hex id set). */
gboolean sync_step_cleanup(CofferRemote *remote, GHashTable *live, guint64 cutoff_hlc, guint64 *removed,
                           SyncCancel *cancel, GError **error);

/* ---- helpers shared with the engine ------------------------------------------------ */

/* Runs fn again on TRANSIENT errors: a few attempts with exponential backoff
 * and jitter (bounded), giving up early when cancelled. */
gboolean sync_transient_wait(guint attempt, SyncCancel *cancel);
#define SYNC_REQUEST_ATTEMPTS 4

/* "records/<32 hex>" → id; FALSE for anything else (e.g. a sync tool's
 * conflict copy "…(conflicted copy)"). */
gboolean sync_parse_record_name(const char *name, guint8 id[COFFER_ID_BYTES]);
