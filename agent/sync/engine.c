/* coffer — the sync engine (see engine.h and docs/sync-format.md).
 *
 * A round is a small state machine on the main loop:
 *
 *   pull (worker: GET head, PROPFIND if it moved)
 *     → main: which listed objects differ from what the vault knows
 *   fetch (worker: GET those)
 *     → main: merge each into the vault, a slice per main-loop iteration
 *   push (worker: conditional PUT of each dirty record, then head)
 *     → main: mark pushed; merge what a 412 brought back; if anything
 *       conflicted or head moved under us, go round again (bounded)
 *
 * Every worker step is a Job: its own thread, inputs copied in, outputs
 * handed back to the main loop through an idle source.  The engine never
 * touches a Job's data while its thread runs; the thread never touches the
 * vault or the engine.  A lock, a new remote or a shutdown while a step runs
 * makes the round stale: its results are dropped when they arrive (the next
 * round finds the same work again, and every vault call is idempotent). */
#include "sync/engine.h"

#include <sodium.h>
#include <string.h>

#include "sync/remote.h"
#include "sync/steps.h"
#include "vault/vault-sync.h"

G_DEFINE_QUARK(coffer_sync_error, coffer_sync_error)

/* Rounds per request: pull+push again after a conflict or a moved head. */
#define MAX_ITERATIONS 6
/* Merges per main-loop iteration, so D-Bus clients are served during a large pull. */
#define MERGE_SLICE 64
/* Round-level backoff after a failed round: base * 2^n, capped, with jitter. */
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS (5 * 60 * 1000)
/* On shutdown, how long to wait for a worker blocked in a request. */
#define SHUTDOWN_WAIT_MS 2000

void
coffer_sync_config_defaults(CofferSyncConfig *config)
{
  config->poll_interval_s = 60;
  config->debounce_ms = 1000;
  config->full_listing_every = 30;
  config->request_timeout_s = 30;
  config->cleanup_max_age_s = 90 * 24 * 3600;
  config->cleanup_keep = 10;
}

typedef struct _Job Job;
typedef void (*JobDone)(CofferSyncEngine *engine, Job *job);

typedef enum { JOB_PULL, JOB_FETCH, JOB_PUSH, JOB_SETUP, JOB_HEADER, JOB_CLEANUP } JobKind;

struct _Job {
  gint refcount;
  JobKind kind;
  CofferSyncEngine *engine; /* main loop only; NULL once delivered or abandoned */
  CofferRemote *remote;     /* the worker's while it runs */
  SyncCancel cancel;
  GMutex lock;
  GCond cond;
  gboolean done;
  GThread *thread;
  GMainContext *context;
  JobDone on_done;
  gboolean ok;
  GError *error;
  guint generation;
  /* step data */
  SyncPull pull;
  GPtrArray *fetch_in, *fetch_out;
  SyncPush push;
  GBytes *header, *existing;
  GHashTable *live;
  guint64 cutoff_hlc, removed;
  GTask *task; /* the request a setup/cleanup job answers */
};

typedef struct {
  guint iterations;
  CofferSyncReport report;
  GPtrArray *waiters; /* GTask*: completed when this round ends */
  char *head_etag;    /* head as seen by this round's pull; committed after merging */
  GBytes *head;
  guint64 last_seq;
  gboolean head_seen;
  GPtrArray *merge; /* SyncObject* fetched, being merged */
  guint merge_pos;
  guint merge_id;
  GError *fetch_error;
  GHashTable *force_etag; /* hex id → ETag to overwrite (a version we refused) */
  char *first_refusal;
} Round;

struct _CofferSyncEngine {
  CofferVault *vault;
  CofferSyncConfig config;
  GMainContext *context;
  gulong handlers[8];
  guint n_handlers;
  GList *jobs; /* running Job*, each with a ref held here */

  CofferRemoteSettings settings; /* while unlocked with a remote */
  gboolean have_settings;
  CofferRemote *remote; /* idle between steps (a running step holds it) */
  guint generation;     /* bumped when settings or lock state change */

  /* what we know of the remote */
  char *head_etag;
  GBytes *head;        /* its body: the journal our next head extends */
  guint64 last_seq;    /* newest journal entry merged here */
  GPtrArray *announce; /* SyncObject* ids pushed but not yet in a head we wrote */
  gboolean header_ok;
  guint polls_since_full;
  GHashTable *ignored; /* hex id → ETag of a remote version not to fetch again */

  Round *round;
  gboolean round_wanted;
  gboolean full_wanted;
  GPtrArray *waiters; /* GTask*: for the next round */

  guint debounce_id, poll_id, retry_id;
  guint failures;
  gboolean stopped; /* AUTH or FOREIGN: no automatic rounds until asked */
  gboolean merging;

  gint64 last_sync;
  char *last_error;
  guint64 remote_bytes;
};

static void round_request(CofferSyncEngine *engine);
static void round_step_pull(CofferSyncEngine *engine);
static void round_step_push(CofferSyncEngine *engine);
static void round_finish(CofferSyncEngine *engine, GError *error);
static void schedule_poll(CofferSyncEngine *engine);

/* ---- small helpers ------------------------------------------------------------- */

static char *
secure_strndup(const char *s, gsize len)
{
  char *copy = sodium_malloc(len + 1);
  g_assert(copy != NULL);
  memcpy(copy, s, len);
  copy[len] = '\0';
  return copy;
}

static char *
id_hex(const guint8 id[COFFER_ID_BYTES])
{
  return coffer_id_to_hex(id);
}

static gboolean
is_unlocked(CofferSyncEngine *engine)
{
  return coffer_vault_is_initialized(engine->vault) && !coffer_vault_is_locked(engine->vault);
}

static CofferRemote *
remote_from_settings(CofferSyncEngine *engine, const CofferRemoteSettings *settings, GError **error)
{
  CofferRemoteConfig config = {
    .url = settings->url,
    .user = settings->user,
    .password = settings->password,
    .timeout_s = engine->config.request_timeout_s,
  };
  return coffer_remote_new(&config, error);
}

/* Maps a remote's or the vault's error to what the user is told. */
static GError *
describe_error(const GError *error)
{
  if (error->domain == COFFER_SYNC_ERROR)
    return g_error_copy(error);
  CofferSyncError code = COFFER_SYNC_ERROR_REMOTE;
  if (error->domain == COFFER_REMOTE_ERROR) {
    switch ((CofferRemoteError)error->code) {
    case COFFER_REMOTE_ERROR_AUTH:
      code = COFFER_SYNC_ERROR_AUTH;
      break;
    case COFFER_REMOTE_ERROR_TRANSIENT:
      code = COFFER_SYNC_ERROR_NETWORK;
      break;
    default:
      code = COFFER_SYNC_ERROR_REMOTE;
      break;
    }
  } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    code = COFFER_SYNC_ERROR_CANCELLED;
  } else if (g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED)) {
    code = COFFER_SYNC_ERROR_LOCKED;
  }
  return g_error_new_literal(COFFER_SYNC_ERROR, code, error->message);
}

/* ---- jobs ---------------------------------------------------------------------- */

static Job *
job_ref(Job *job)
{
  g_atomic_int_inc(&job->refcount);
  return job;
}

static void
job_unref(Job *job)
{
  if (!g_atomic_int_dec_and_test(&job->refcount))
    return;
  g_clear_pointer(&job->remote, coffer_remote_free);
  g_clear_error(&job->error);
  sync_pull_clear(&job->pull);
  g_clear_pointer(&job->fetch_in, g_ptr_array_unref);
  g_clear_pointer(&job->fetch_out, g_ptr_array_unref);
  sync_push_clear(&job->push);
  g_clear_pointer(&job->header, g_bytes_unref);
  g_clear_pointer(&job->existing, g_bytes_unref);
  g_clear_pointer(&job->live, g_hash_table_unref);
  if (job->task != NULL) {
    /* Only an abandoned job still holds its request: answer it. */
    if (!g_task_had_error(job->task) && !g_task_get_completed(job->task))
      g_task_return_new_error(job->task, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_CANCELLED, "the agent is stopping");
    g_clear_object(&job->task);
  }
  g_clear_pointer(&job->context, g_main_context_unref);
  g_mutex_clear(&job->lock);
  g_cond_clear(&job->cond);
  g_free(job);
}

static Job *
job_new(CofferSyncEngine *engine, JobKind kind, CofferRemote *remote, JobDone on_done)
{
  Job *job = g_new0(Job, 1);
  job->refcount = 1;
  job->kind = kind;
  job->remote = remote;
  job->on_done = on_done;
  job->generation = engine->generation;
  job->context = g_main_context_ref(engine->context);
  g_mutex_init(&job->lock);
  g_cond_init(&job->cond);
  return job;
}

static gboolean
job_run_step(Job *job)
{
  switch (job->kind) {
  case JOB_PULL:
    return sync_step_pull(job->remote, &job->pull, &job->cancel, &job->error);
  case JOB_FETCH:
    return sync_step_fetch(job->remote, job->fetch_in, job->fetch_out, &job->cancel, &job->error);
  case JOB_PUSH:
    return sync_step_push(job->remote, &job->push, &job->cancel, &job->error);
  case JOB_SETUP:
    return sync_step_create_layout(job->remote, job->header, &job->existing, &job->cancel, &job->error);
  case JOB_HEADER:
    job->existing = sync_step_fetch_header(job->remote, &job->cancel, &job->error);
    return job->existing != NULL;
  case JOB_CLEANUP:
    return sync_step_cleanup(job->remote, job->live, job->cutoff_hlc, &job->removed, &job->cancel, &job->error);
  }
  return FALSE;
}

/* Back on the main loop.  The engine may be gone (abandoned job): then
 * there is nobody to tell and the job just goes away. */
static gboolean
job_deliver(gpointer data)
{
  Job *job = data;
  CofferSyncEngine *engine = job->engine;
  if (engine == NULL)
    return G_SOURCE_REMOVE;
  engine->jobs = g_list_remove(engine->jobs, job);
  g_thread_join(job->thread);
  job->thread = NULL;
  job->engine = NULL;
  job->on_done(engine, job);
  job_unref(job); /* the engine's list reference */
  return G_SOURCE_REMOVE;
}

static gpointer
job_thread(gpointer data)
{
  Job *job = data;
  job->ok = job_run_step(job);
  g_mutex_lock(&job->lock);
  job->done = TRUE;
  g_cond_signal(&job->cond);
  g_mutex_unlock(&job->lock);
  /* Always through a source dispatched by the main loop, never called here
   * (g_main_context_invoke() would run it in this thread whenever the main
   * context happens to be free, e.g. during shutdown).  The thread's
   * reference travels with the source. */
  GSource *source = g_idle_source_new();
  g_source_set_priority(source, G_PRIORITY_DEFAULT);
  g_source_set_callback(source, job_deliver, job, (GDestroyNotify)job_unref);
  g_source_attach(source, job->context);
  g_source_unref(source);
  return NULL;
}

static void
job_start(CofferSyncEngine *engine, Job *job)
{
  job->engine = engine;
  engine->jobs = g_list_prepend(engine->jobs, job); /* takes the caller's reference */
  job->thread = g_thread_new("coffer-sync", job_thread, job_ref(job));
}

/* Gives the remote back to the engine if it is still the one in use. */
static void
job_return_remote(CofferSyncEngine *engine, Job *job)
{
  if (job->generation == engine->generation && engine->have_settings && engine->remote == NULL)
    engine->remote = g_steal_pointer(&job->remote);
}

/* The remote for a round's step: the engine's, or a new one. */
static CofferRemote *
take_remote(CofferSyncEngine *engine, GError **error)
{
  if (engine->remote != NULL)
    return g_steal_pointer(&engine->remote);
  return remote_from_settings(engine, &engine->settings, error);
}

/* ---- settings and lock state ----------------------------------------------------- */

static void
forget_remote_state(CofferSyncEngine *engine)
{
  g_clear_pointer(&engine->head_etag, g_free);
  g_clear_pointer(&engine->head, g_bytes_unref);
  engine->last_seq = 0;
  engine->header_ok = FALSE;
  engine->polls_since_full = 0;
  g_hash_table_remove_all(engine->ignored);
  engine->full_wanted = TRUE;
}

static void
drop_settings(CofferSyncEngine *engine)
{
  engine->generation++;
  coffer_remote_settings_clear(&engine->settings);
  engine->have_settings = FALSE;
  g_clear_pointer(&engine->remote, coffer_remote_free);
  g_clear_handle_id(&engine->debounce_id, g_source_remove);
  g_clear_handle_id(&engine->poll_id, g_source_remove);
  g_clear_handle_id(&engine->retry_id, g_source_remove);
  /* A running step notices on its next request; its results are dropped. */
  for (GList *l = engine->jobs; l != NULL; l = l->next) {
    Job *job = l->data;
    if (job->kind == JOB_PULL || job->kind == JOB_FETCH || job->kind == JOB_PUSH)
      g_atomic_int_set(&job->cancel.cancelled, 1);
  }
}

static void
load_settings(CofferSyncEngine *engine)
{
  g_autoptr(GError) error = NULL;
  drop_settings(engine);
  if (!is_unlocked(engine))
    return;
  if (!coffer_vault_get_remote_settings(engine->vault, &engine->settings, &error)) {
    if (error != NULL)
      g_warning("sync: cannot read the remote settings: %s", error->message);
    return;
  }
  engine->have_settings = TRUE;
  forget_remote_state(engine);
}

static void
fail_tasks(GPtrArray *tasks, CofferSyncError code, const char *message)
{
  if (tasks == NULL)
    return;
  for (guint i = 0; i < tasks->len; i++)
    g_task_return_new_error(tasks->pdata[i], COFFER_SYNC_ERROR, code, "%s", message);
  g_ptr_array_set_size(tasks, 0);
}

static void
on_lock_changed(CofferVault *vault, gboolean locked, gpointer user_data)
{
  CofferSyncEngine *engine = user_data;
  if (locked) {
    drop_settings(engine);
    fail_tasks(engine->waiters, COFFER_SYNC_ERROR_LOCKED, "the vault was locked");
    return;
  }
  load_settings(engine);
  if (engine->have_settings) {
    engine->stopped = FALSE;
    engine->failures = 0;
    round_request(engine); /* pull what changed meanwhile, push what waited */
  }
}

static gboolean
on_debounce(gpointer user_data)
{
  CofferSyncEngine *engine = user_data;
  engine->debounce_id = 0;
  if (!engine->stopped && engine->failures == 0)
    round_request(engine);
  return G_SOURCE_REMOVE;
}

/* Every vault change, whoever made it.  Our own merges are not local changes. */
static void
local_change(CofferSyncEngine *engine)
{
  if (engine->merging || !engine->have_settings)
    return;
  g_debug("sync: local change; round in %u ms", engine->config.debounce_ms);
  g_clear_handle_id(&engine->debounce_id, g_source_remove);
  engine->debounce_id = g_timeout_add(engine->config.debounce_ms, on_debounce, engine);
}

static void
on_collection_signal(CofferVault *vault, const char *collection, gpointer user_data)
{
  local_change(user_data);
}

static void
on_item_signal(CofferVault *vault, const char *collection, const char *item, gpointer user_data)
{
  local_change(user_data);
}

/* ---- timers ------------------------------------------------------------------------ */

static gboolean
on_poll(gpointer user_data)
{
  CofferSyncEngine *engine = user_data;
  engine->poll_id = 0;
  engine->polls_since_full++;
  if (engine->config.full_listing_every > 0 && engine->polls_since_full >= engine->config.full_listing_every)
    engine->full_wanted = TRUE;
  round_request(engine);
  return G_SOURCE_REMOVE;
}

static void
schedule_poll(CofferSyncEngine *engine)
{
  g_clear_handle_id(&engine->poll_id, g_source_remove);
  if (engine->have_settings && !engine->stopped && engine->config.poll_interval_s > 0)
    engine->poll_id = g_timeout_add_seconds(engine->config.poll_interval_s, on_poll, engine);
}

static gboolean
on_retry(gpointer user_data)
{
  CofferSyncEngine *engine = user_data;
  engine->retry_id = 0;
  round_request(engine);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry(CofferSyncEngine *engine)
{
  guint shift = MIN(engine->failures, 16u);
  guint64 delay = MIN((guint64)BACKOFF_BASE_MS << shift, (guint64)BACKOFF_CAP_MS);
  /* Full jitter in the upper half: machines that failed together spread out. */
  delay = delay / 2 + (guint64)g_random_int_range(0, (gint32)(delay / 2) + 1);
  g_clear_handle_id(&engine->retry_id, g_source_remove);
  g_clear_handle_id(&engine->poll_id, g_source_remove);
  engine->retry_id = g_timeout_add((guint)delay, on_retry, engine);
}

/* ---- rounds ----------------------------------------------------------------------- */

static void
round_free(Round *round)
{
  g_clear_pointer(&round->waiters, g_ptr_array_unref);
  g_free(round->head_etag);
  g_clear_pointer(&round->head, g_bytes_unref);
  g_clear_pointer(&round->merge, g_ptr_array_unref);
  g_clear_handle_id(&round->merge_id, g_source_remove);
  g_clear_error(&round->fetch_error);
  g_clear_pointer(&round->force_etag, g_hash_table_unref);
  g_free(round->first_refusal);
  g_free(round);
}

static gboolean
round_job_is_stale(CofferSyncEngine *engine, Job *job)
{
  return engine->round == NULL || job->generation != engine->generation || !engine->have_settings ||
         !is_unlocked(engine);
}

static GError *
interrupted(void)
{
  return g_error_new_literal(COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_CANCELLED, "sync interrupted");
}

static void
round_request(CofferSyncEngine *engine)
{
  g_debug("sync: round requested%s", engine->round ? " (after the one running)" : "");
  if (engine->round != NULL) {
    engine->round_wanted = TRUE; /* runs when this one ends */
    return;
  }
  engine->round_wanted = FALSE;
  if (!is_unlocked(engine)) {
    fail_tasks(engine->waiters, COFFER_SYNC_ERROR_LOCKED, "the vault is locked");
    return;
  }
  if (!engine->have_settings) {
    fail_tasks(engine->waiters, COFFER_SYNC_ERROR_NO_REMOTE, "no remote is set (`coffer remote set`)");
    return;
  }
  g_clear_handle_id(&engine->poll_id, g_source_remove);
  g_clear_handle_id(&engine->retry_id, g_source_remove);
  Round *round = g_new0(Round, 1);
  round->waiters = engine->waiters;
  engine->waiters = g_ptr_array_new_with_free_func(g_object_unref);
  round->force_etag = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  engine->round = round;
  round_step_pull(engine);
}

/* -- pull -- */

static void on_pull_done(CofferSyncEngine *engine, Job *job);
static void on_fetch_done(CofferSyncEngine *engine, Job *job);

static void
round_step_pull(CofferSyncEngine *engine)
{
  GError *error = NULL;
  CofferRemote *remote = take_remote(engine, &error);
  if (remote == NULL) {
    round_finish(engine, error);
    return;
  }
  Job *job = job_new(engine, JOB_PULL, remote, on_pull_done);
  job->pull.head_etag = g_strdup(engine->head_etag);
  job->pull.last_seq = engine->last_seq;
  job->pull.full = engine->full_wanted;
  /* The header is checked once per session and again with every full
   * listing, so a replaced header (another vault) is noticed. */
  job->pull.header = !engine->header_ok || engine->full_wanted;
  job_start(engine, job);
}

/* Ids (hex) of every live collection and item here: what the remote should hold. */
static GHashTable *
live_ids(CofferSyncEngine *engine)
{
  GHashTable *live = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) collections = coffer_vault_list_collections(engine->vault);
  /* The internal access-decision collection is not listed, but it syncs. */
  CofferCollection *access = coffer_vault_get_access_collection(engine->vault, FALSE, NULL);
  if (access != NULL)
    g_ptr_array_add(collections, access);
  for (guint i = 0; i < collections->len; i++) {
    CofferCollection *c = collections->pdata[i];
    const char *name = coffer_collection_get_name(c);
    if (g_strcmp0(name, COFFER_SESSION_COLLECTION) == 0)
      continue; /* memory only, never synced */
    if (g_strcmp0(name, COFFER_LOGIN_COLLECTION) == 0) {
      guint8 login[COFFER_ID_BYTES] = "login";
      g_hash_table_add(live, id_hex(login));
    } else {
      g_hash_table_add(live, g_strdup(name));
    }
    g_autoptr(GPtrArray) items = coffer_collection_list_items(c);
    for (guint k = 0; k < items->len; k++)
      g_hash_table_add(live, g_strdup(coffer_item_get_name(items->pdata[k])));
  }
  return live;
}

/* Decides which listed objects to fetch: those whose ETag differs from the
 * one the vault recorded for the record (or that it has never seen).  A
 * record we hold that the listing lacks is not a deletion: see
 * report_missing(). */
static GPtrArray *
plan_fetch(CofferSyncEngine *engine, GPtrArray *listing, GHashTable *listed)
{
  GPtrArray *want = g_ptr_array_new_with_free_func((GDestroyNotify)sync_object_free);
  guint64 bytes = 0;
  for (guint i = 0; i < listing->len; i++) {
    CofferRemoteEntry *entry = listing->pdata[i];
    guint8 id[COFFER_ID_BYTES];
    bytes += entry->size;
    if (!sync_parse_record_name(entry->name, id))
      continue; /* a sync tool's conflict copy, a temp file: not ours */
    g_autofree char *hex = id_hex(id);
    g_hash_table_add(listed, g_strdup(hex));
    const char *ignored = g_hash_table_lookup(engine->ignored, hex);
    if (entry->etag != NULL && ignored != NULL && strcmp(ignored, entry->etag) == 0)
      continue;
    g_autofree char *known = coffer_vault_record_etag(engine->vault, id);
    if (entry->etag != NULL && known != NULL && strcmp(known, entry->etag) == 0)
      continue;
    g_ptr_array_add(want, sync_object_new(id, NULL, entry->etag));
  }
  engine->remote_bytes = bytes;
  return want;
}

/* Records we synced before that the server no longer lists.  The server may
 * have lost them, or someone deleted them by hand: either way that is not a
 * deletion.  Our copy stays and is pushed again as new. */
static void
report_missing(CofferSyncEngine *engine, GHashTable *listed)
{
  g_autoptr(GHashTable) live = live_ids(engine);
  GHashTableIter iter;
  gpointer key;
  guint missing = 0;
  g_hash_table_iter_init(&iter, live);
  while (g_hash_table_iter_next(&iter, &key, NULL)) {
    guint8 id[COFFER_ID_BYTES];
    if (g_hash_table_contains(listed, key) || !coffer_id_from_hex(key, id))
      continue;
    g_autofree char *etag = coffer_vault_record_etag(engine->vault, id);
    if (etag != NULL && coffer_vault_mark_unsynced(engine->vault, id, NULL))
      missing++;
  }
  if (missing > 0)
    g_message("sync: %u record(s) we synced before are missing on the server; pushing them again", missing);
}

/* A round job's worker is done: gives its remote back, and says whether its
 * round still stands (otherwise the round, if any, ends as interrupted). */
static gboolean
job_back_in_round(CofferSyncEngine *engine, Job *job)
{
  job_return_remote(engine, job);
  if (!round_job_is_stale(engine, job))
    return TRUE;
  if (engine->round != NULL)
    round_finish(engine, interrupted());
  return FALSE;
}

static void
on_pull_done(CofferSyncEngine *engine, Job *job)
{
  if (!job_back_in_round(engine, job))
    return;
  Round *round = engine->round;
  if (!job->ok) {
    if (job->pull.header && g_error_matches(job->error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_NOT_FOUND)) {
      round_finish(engine, g_error_new_literal(COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_FOREIGN,
                                               "the remote holds no coffer vault (its header is gone)"));
      return;
    }
    round_finish(engine, describe_error(job->error));
    return;
  }
  if (job->pull.header_data != NULL) {
    g_autoptr(GError) error = NULL;
    if (!coffer_vault_check_header(engine->vault, job->pull.header_data, &error)) {
      round_finish(
          engine, g_error_new(COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_FOREIGN, "refusing the remote: %s", error->message));
      return;
    }
    engine->header_ok = TRUE;
  }
  g_free(round->head_etag);
  g_clear_pointer(&round->head, g_bytes_unref);
  round->head_etag = g_steal_pointer(&job->pull.new_head_etag);
  /* 304: the body we had is still head's */
  round->head =
      job->pull.new_head ? g_steal_pointer(&job->pull.new_head) : (engine->head ? g_bytes_ref(engine->head) : NULL);
  round->last_seq = job->pull.new_last_seq;
  round->head_seen = TRUE;
  if (job->pull.full)
    engine->polls_since_full = 0;
  engine->full_wanted = FALSE;

  g_autoptr(GPtrArray) want = NULL;
  if (job->pull.listing != NULL) {
    g_autoptr(GHashTable) listed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    want = plan_fetch(engine, job->pull.listing, listed);
    report_missing(engine, listed);
  } else if (job->pull.journal != NULL) {
    want = g_steal_pointer(&job->pull.journal); /* announced since our last look: O(changes) */
  }
  if (want == NULL) {
    round_step_push(engine);
    return;
  }
  if (want->len == 0) {
    round_step_push(engine);
    return;
  }
  GError *error = NULL;
  CofferRemote *remote = take_remote(engine, &error);
  if (remote == NULL) {
    round_finish(engine, error);
    return;
  }
  Job *fetch = job_new(engine, JOB_FETCH, remote, on_fetch_done);
  fetch->fetch_in = g_steal_pointer(&want);
  fetch->fetch_out = g_ptr_array_new_with_free_func((GDestroyNotify)sync_object_free);
  job_start(engine, fetch);
}

/* -- merge -- */

/* A tombstone older than the cleanup age that we do not hold was pruned
 * here (or never mattered here): taking it back would undo cleanup. */
static gboolean
is_expired_unknown_tombstone(CofferSyncEngine *engine, SyncObject *object)
{
  gsize len;
  const guint8 *env = g_bytes_get_data(object->data, &len);
  CofferRecordHeader header;
  if (coffer_envelope_parse_header(env, len, &header) != COFFER_CRYPTO_OK ||
      !(header.flags & COFFER_RECORD_FLAG_TOMBSTONE))
    return FALSE;
  gint64 now_ms = g_get_real_time() / 1000;
  gint64 cutoff_ms = now_ms - (gint64)engine->config.cleanup_max_age_s * 1000;
  if ((gint64)(header.rev.hlc >> 16) >= cutoff_ms)
    return FALSE;
  g_autofree char *known = coffer_vault_record_etag(engine->vault, object->id);
  return known == NULL;
}

static void
note_refusal(CofferSyncEngine *engine, SyncObject *object, const GError *error)
{
  Round *round = engine->round;
  g_autofree char *hex = id_hex(object->id);
  round->report.refused++;
  g_warning("sync: refused records/%s from the remote: %s", hex, error ? error->message : "unknown reason");
  if (round->first_refusal == NULL)
    round->first_refusal = g_strdup_printf("refused records/%s: %s", hex, error ? error->message : "unknown reason");
  /* Do not fetch this exact version again; a new one gets a new chance. */
  if (object->etag != NULL)
    g_hash_table_replace(engine->ignored, g_strdup(hex), g_strdup(object->etag));
}

/* The vault authenticates the envelope; the name it was stored under is
 * ours to check: records/<X> must hold record X, or a server could answer
 * for one record with another's (valid) envelope. */
static gboolean
name_matches(SyncObject *object, GError **error)
{
  gsize len;
  const guint8 *env = g_bytes_get_data(object->data, &len);
  CofferRecordHeader header;
  if (coffer_envelope_parse_header(env, len, &header) != COFFER_CRYPTO_OK) {
    g_set_error_literal(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "not a record envelope");
    return FALSE;
  }
  if (memcmp(header.id, object->id, COFFER_ID_BYTES) != 0) {
    g_autofree char *hex = id_hex(header.id);
    g_set_error(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_CORRUPT, "the object holds another record (%s)", hex);
    return FALSE;
  }
  return TRUE;
}

static CofferMergeResult
merge_one(CofferSyncEngine *engine, SyncObject *object, GError **error)
{
  if (!name_matches(object, error))
    return COFFER_MERGE_REFUSED;
  engine->merging = TRUE;
  CofferMergeResult result = coffer_vault_merge_remote(engine->vault, object->data, object->etag, error);
  engine->merging = FALSE;
  return result;
}

static gboolean
merge_slice(gpointer user_data)
{
  CofferSyncEngine *engine = user_data;
  Round *round = engine->round;
  if (!is_unlocked(engine) || !engine->have_settings) {
    round->merge_id = 0;
    round_finish(engine, interrupted());
    return G_SOURCE_REMOVE;
  }
  guint end = MIN(round->merge_pos + MERGE_SLICE, round->merge->len);
  g_autoptr(GError) batch_error = NULL;
  /* One transaction (one fsync) per slice rather than per record. */
  if (!coffer_vault_merge_begin(engine->vault, &batch_error)) {
    round->merge_id = 0;
    round_finish(engine, describe_error(batch_error));
    return G_SOURCE_REMOVE;
  }
  for (; round->merge_pos < end; round->merge_pos++) {
    SyncObject *object = round->merge->pdata[round->merge_pos];
    g_autoptr(GError) error = NULL;
    if (is_expired_unknown_tombstone(engine, object)) {
      g_autofree char *hex = id_hex(object->id);
      if (object->etag != NULL)
        g_hash_table_replace(engine->ignored, g_strdup(hex), g_strdup(object->etag));
      continue;
    }
    switch (merge_one(engine, object, &error)) {
    case COFFER_MERGE_APPLIED:
      round->report.pulled++;
      break;
    case COFFER_MERGE_KEPT_LOCAL:
      round->report.conflicts++;
      break;
    case COFFER_MERGE_SAME:
      break;
    case COFFER_MERGE_REFUSED:
      if (g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED) ||
          g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_STORAGE)) {
        coffer_vault_merge_commit(engine->vault, NULL);
        round->merge_id = 0;
        round_finish(engine, describe_error(error));
        return G_SOURCE_REMOVE;
      }
      note_refusal(engine, object, error);
      break;
    }
  }
  if (!coffer_vault_merge_commit(engine->vault, &batch_error)) {
    round->merge_id = 0;
    round_finish(engine, describe_error(batch_error));
    return G_SOURCE_REMOVE;
  }
  if (round->merge_pos < round->merge->len)
    return G_SOURCE_CONTINUE;
  round->merge_id = 0;
  g_debug("sync: merged %u object(s)", round->merge->len);
  g_clear_pointer(&round->merge, g_ptr_array_unref);
  if (round->fetch_error != NULL) {
    round_finish(engine, describe_error(round->fetch_error));
    return G_SOURCE_REMOVE;
  }
  round_step_push(engine);
  return G_SOURCE_REMOVE;
}

static void
on_fetch_done(CofferSyncEngine *engine, Job *job)
{
  if (!job_back_in_round(engine, job))
    return;
  Round *round = engine->round;
  /* Whatever arrived is merged even if the step failed half way. */
  if (!job->ok)
    round->fetch_error = g_steal_pointer(&job->error);
  round->merge = g_steal_pointer(&job->fetch_out);
  round->merge_pos = 0;
  g_debug("sync: fetched %u object(s)", round->merge->len);
  round->merge_id = g_idle_add(merge_slice, engine);
}

/* -- push -- */

static void on_push_done(CofferSyncEngine *engine, Job *job);

static void
round_step_push(CofferSyncEngine *engine)
{
  Round *round = engine->round;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) dirty = coffer_vault_dirty_records(engine->vault, &error);
  if (dirty == NULL) {
    round_finish(engine, describe_error(error));
    return;
  }
  if (dirty->len == 0 && engine->announce->len == 0) {
    round_finish(engine, NULL);
    return;
  }
  GPtrArray *records = g_ptr_array_new_full(dirty->len, (GDestroyNotify)sync_object_free);
  for (guint i = 0; i < dirty->len; i++) {
    CofferSyncRecord *r = dirty->pdata[i];
    g_autofree char *hex = id_hex(r->id);
    const char *forced = g_hash_table_lookup(round->force_etag, hex);
    g_ptr_array_add(records, sync_object_new(r->id, r->envelope, forced ? forced : r->etag));
  }
  GError *remote_error = NULL;
  CofferRemote *remote = take_remote(engine, &remote_error);
  if (remote == NULL) {
    g_ptr_array_unref(records);
    round_finish(engine, remote_error);
    return;
  }
  Job *job = job_new(engine, JOB_PUSH, remote, on_push_done);
  job->push.records = records;
  job->push.announce = g_ptr_array_new_with_free_func((GDestroyNotify)sync_object_free);
  for (guint i = 0; i < engine->announce->len; i++)
    g_ptr_array_add(job->push.announce, sync_object_new(((SyncObject *)engine->announce->pdata[i])->id, NULL, NULL));
  job->push.head_etag = g_strdup(round->head_seen ? round->head_etag : engine->head_etag);
  GBytes *head = round->head_seen ? round->head : engine->head;
  job->push.head = head ? g_bytes_ref(head) : NULL;
  job_start(engine, job);
}

/* A 412 brought back the remote's version: merge it; the next iteration
 * pushes again whatever is still dirty. */
static void
merge_conflict(CofferSyncEngine *engine, SyncObject *theirs)
{
  Round *round = engine->round;
  g_autoptr(GError) error = NULL;
  switch (merge_one(engine, theirs, &error)) {
  case COFFER_MERGE_APPLIED:
    round->report.pulled++;
    round->report.conflicts++;
    break;
  case COFFER_MERGE_KEPT_LOCAL:
    round->report.conflicts++;
    break;
  case COFFER_MERGE_SAME:
    break;
  case COFFER_MERGE_REFUSED:
    if (g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_LOCKED))
      return;
    note_refusal(engine, theirs, error);
    /* What sits there is not a version we accept (tampered, rolled back,
     * foreign): our own replaces it, conditionally on exactly that object. */
    if (theirs->etag != NULL)
      g_hash_table_replace(round->force_etag, id_hex(theirs->id), g_strdup(theirs->etag));
    break;
  }
}

static void
on_push_done(CofferSyncEngine *engine, Job *job)
{
  if (!job_back_in_round(engine, job))
    return;
  Round *round = engine->round;
  SyncPush *push = &job->push;
  /* Results first, even of a step that failed part way: those PUTs landed. */
  for (guint i = 0; push->pushed != NULL && i < push->pushed->len; i++) {
    SyncObject *o = push->pushed->pdata[i];
    g_autoptr(GError) error = NULL;
    engine->merging = TRUE; /* bookkeeping, not a local change */
    gboolean marked = coffer_vault_mark_pushed(engine->vault, o->id, o->data, o->etag, &error);
    engine->merging = FALSE;
    if (!marked)
      g_warning("sync: cannot record a push: %s", error->message);
    g_autofree char *hex = id_hex(o->id);
    g_hash_table_remove(round->force_etag, hex);
    round->report.pushed++;
    if (!push->head_written)
      g_ptr_array_add(engine->announce, sync_object_new(o->id, NULL, NULL));
  }
  for (guint i = 0; push->conflicts != NULL && i < push->conflicts->len; i++)
    merge_conflict(engine, push->conflicts->pdata[i]);
  if (push->head_written) {
    /* Our head extends the one this round pulled and merged: everything up
     * to its last entry is either merged here or ours. */
    g_ptr_array_set_size(engine->announce, 0);
    g_free(engine->head_etag);
    g_clear_pointer(&engine->head, g_bytes_unref);
    engine->head_etag = g_steal_pointer(&push->new_head_etag);
    engine->head = g_steal_pointer(&push->new_head);
    engine->last_seq = push->new_last_seq;
    g_clear_pointer(&round->head_etag, g_free);
    g_clear_pointer(&round->head, g_bytes_unref);
    round->head_seen = FALSE;
  }
  if (!job->ok) {
    round_finish(engine, describe_error(job->error));
    return;
  }
  gboolean again = push->head_conflict || push->conflicts->len > 0;
  if (!again) {
    round_finish(engine, NULL);
    return;
  }
  if (++round->iterations >= MAX_ITERATIONS) {
    /* Something keeps changing under us; what is left goes next round. */
    engine->round_wanted = TRUE;
    round_finish(engine, NULL);
    return;
  }
  /* Someone else moved head or a record: pull their changes, then push ours. */
  round_step_pull(engine);
}

/* -- end of a round -- */

static void
round_finish(CofferSyncEngine *engine, GError *error)
{
  Round *round = engine->round;
  engine->round = NULL;
  g_clear_handle_id(&round->merge_id, g_source_remove);

  if (error == NULL && round->head_seen) {
    /* Everything head announced is merged: only now may the next poll
     * take an unchanged head as "nothing to do". */
    g_free(engine->head_etag);
    g_clear_pointer(&engine->head, g_bytes_unref);
    engine->head_etag = g_steal_pointer(&round->head_etag);
    engine->head = g_steal_pointer(&round->head);
    engine->last_seq = round->last_seq;
  }
  gboolean cancelled = error != NULL && g_error_matches(error, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_CANCELLED);
  if (error == NULL) {
    engine->last_sync = g_get_real_time() / G_USEC_PER_SEC;
    engine->failures = 0;
    g_free(engine->last_error);
    engine->last_error = g_strdup(round->first_refusal);
    g_debug("sync: round done: %" G_GUINT64_FORMAT " pushed, %" G_GUINT64_FORMAT " pulled, %" G_GUINT64_FORMAT
            " conflicts, %" G_GUINT64_FORMAT " refused",
            round->report.pushed, round->report.pulled, round->report.conflicts, round->report.refused);
  } else if (!cancelled) {
    g_free(engine->last_error);
    engine->last_error = g_strdup(error->message);
    g_message("sync: %s", error->message);
    if (g_error_matches(error, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_AUTH) ||
        g_error_matches(error, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_FOREIGN))
      engine->stopped = TRUE; /* needs the user: no automatic retries */
    else
      engine->failures++;
  }

  for (guint i = 0; i < round->waiters->len; i++) {
    GTask *task = round->waiters->pdata[i];
    if (error != NULL)
      g_task_return_error(task, g_error_copy(error));
    else
      g_task_return_pointer(task, g_memdup2(&round->report, sizeof round->report), g_free);
  }
  round_free(round);

  if (engine->have_settings && is_unlocked(engine)) {
    if (engine->round_wanted || engine->waiters->len > 0)
      round_request(engine);
    else if (error != NULL && !cancelled && !engine->stopped)
      schedule_retry(engine);
    else
      schedule_poll(engine);
  } else {
    fail_tasks(engine->waiters, COFFER_SYNC_ERROR_LOCKED, "the vault was locked");
  }
  g_clear_error(&error);
}

/* ---- construction ------------------------------------------------------------------- */

CofferSyncEngine *
coffer_sync_engine_new(CofferVault *vault, const CofferSyncConfig *config)
{
  CofferSyncEngine *engine = g_new0(CofferSyncEngine, 1);
  engine->vault = g_object_ref(vault);
  if (config != NULL)
    engine->config = *config;
  else
    coffer_sync_config_defaults(&engine->config);
  engine->config.debounce_ms = MAX(engine->config.debounce_ms, 1);
  engine->context = g_main_context_ref_thread_default();
  engine->ignored = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  engine->announce = g_ptr_array_new_with_free_func((GDestroyNotify)sync_object_free);
  engine->waiters = g_ptr_array_new_with_free_func(g_object_unref);

  static const char *const one_id[] = { "collection-created", "collection-changed", "collection-deleted" };
  static const char *const two_ids[] = { "item-created", "item-changed", "item-deleted" };
  engine->handlers[engine->n_handlers++] = g_signal_connect(vault, "lock-changed", G_CALLBACK(on_lock_changed), engine);
  for (guint i = 0; i < G_N_ELEMENTS(one_id); i++)
    engine->handlers[engine->n_handlers++] =
        g_signal_connect(vault, one_id[i], G_CALLBACK(on_collection_signal), engine);
  for (guint i = 0; i < G_N_ELEMENTS(two_ids); i++)
    engine->handlers[engine->n_handlers++] = g_signal_connect(vault, two_ids[i], G_CALLBACK(on_item_signal), engine);

  if (is_unlocked(engine)) {
    load_settings(engine);
    if (engine->have_settings)
      round_request(engine);
  }
  return engine;
}

void
coffer_sync_engine_free(CofferSyncEngine *engine)
{
  if (engine == NULL)
    return;
  for (guint i = 0; i < engine->n_handlers; i++)
    g_signal_handler_disconnect(engine->vault, engine->handlers[i]);
  drop_settings(engine);

  /* Give each worker a moment to notice the cancel; one still blocked in a
   * request after that is left to finish alone and free its own job. */
  gint64 deadline = g_get_monotonic_time() + SHUTDOWN_WAIT_MS * 1000;
  for (GList *l = engine->jobs; l != NULL; l = l->next) {
    Job *job = l->data;
    g_atomic_int_set(&job->cancel.cancelled, 1);
    g_mutex_lock(&job->lock);
    while (!job->done && g_cond_wait_until(&job->cond, &job->lock, deadline))
      ;
    gboolean done = job->done;
    g_mutex_unlock(&job->lock);
    if (done)
      g_thread_join(job->thread);
    else
      g_thread_unref(job->thread);
    job->thread = NULL;
    job->engine = NULL;
    job_unref(job);
  }
  g_list_free(engine->jobs);
  engine->jobs = NULL;

  if (engine->round != NULL) {
    Round *round = engine->round;
    engine->round = NULL;
    fail_tasks(round->waiters, COFFER_SYNC_ERROR_CANCELLED, "the agent is stopping");
    round_free(round);
  }
  fail_tasks(engine->waiters, COFFER_SYNC_ERROR_CANCELLED, "the agent is stopping");
  g_ptr_array_unref(engine->waiters);
  g_hash_table_unref(engine->ignored);
  g_free(engine->head_etag);
  g_clear_pointer(&engine->head, g_bytes_unref);
  g_ptr_array_unref(engine->announce);
  g_free(engine->last_error);
  g_main_context_unref(engine->context);
  g_object_unref(engine->vault);
  g_free(engine);
}

/* ---- explicit sync -------------------------------------------------------------------- */

void
coffer_sync_engine_sync_async(CofferSyncEngine *engine, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(NULL, NULL, callback, user_data);
  g_task_set_source_tag(task, coffer_sync_engine_sync_async);
  if (!is_unlocked(engine)) {
    g_task_return_new_error(task, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_LOCKED, "the vault is locked");
    g_object_unref(task);
    return;
  }
  if (!engine->have_settings) {
    g_task_return_new_error(task, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_NO_REMOTE,
                            "no remote is set (`coffer remote set`)");
    g_object_unref(task);
    return;
  }
  /* An explicit request is the user saying "try now": forget backoff and
   * stops, and look at the whole listing. */
  engine->stopped = FALSE;
  engine->failures = 0;
  engine->full_wanted = TRUE;
  g_ptr_array_add(engine->waiters, task);
  round_request(engine);
}

static gboolean
report_finish(GAsyncResult *result, CofferSyncReport *report, GError **error)
{
  g_autofree CofferSyncReport *r = g_task_propagate_pointer(G_TASK(result), error);
  if (r == NULL)
    return FALSE;
  if (report != NULL)
    *report = *r;
  return TRUE;
}

gboolean
coffer_sync_engine_sync_finish(CofferSyncEngine *engine, GAsyncResult *result, CofferSyncReport *report, GError **error)
{
  return report_finish(result, report, error);
}

/* ---- remote set / join -------------------------------------------------------------------- */

typedef struct {
  CofferRemoteSettings settings; /* the password in sodium memory */
  char *account;                 /* sodium memory */
  gsize account_len;
  char *login; /* sodium memory (join) */
  gsize login_len;
  gboolean join;
  CofferSyncEngine *engine; /* for callbacks; the engine outlives its requests */
} SetupData;

static void
setup_data_free(SetupData *d)
{
  coffer_remote_settings_clear(&d->settings);
  g_clear_pointer(&d->account, sodium_free);
  g_clear_pointer(&d->login, sodium_free);
  g_free(d);
}

static SetupData *
setup_data_new(const char *url, const char *user, const char *password, gsize password_len,
               const char *account_password, gsize account_len)
{
  SetupData *d = g_new0(SetupData, 1);
  d->settings.url = g_strdup(url);
  d->settings.user = user && *user ? g_strdup(user) : NULL;
  d->settings.password = secure_strndup(password ? password : "", password ? password_len : 0);
  d->settings.password_len = password ? password_len : 0;
  d->account = secure_strndup(account_password, account_len);
  d->account_len = account_len;
  return d;
}

/* Makes the new settings this device's remote and starts a first round. */
static gboolean
install_settings(CofferSyncEngine *engine, const CofferRemoteSettings *settings, GError **error)
{
  if (!coffer_vault_set_remote_settings(engine->vault, settings, error))
    return FALSE;
  g_ptr_array_set_size(engine->announce, 0); /* announcements for another remote */
  load_settings(engine);
  if (!engine->have_settings) {
    g_set_error_literal(error, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_REMOTE, "the remote settings did not stick");
    return FALSE;
  }
  engine->header_ok = TRUE; /* checked by the caller just now */
  engine->stopped = FALSE;
  engine->failures = 0;
  g_free(engine->last_error);
  engine->last_error = NULL;
  return TRUE;
}

static void
on_setup_done(CofferSyncEngine *engine, Job *job)
{
  g_autoptr(GTask) task = g_steal_pointer(&job->task);
  SetupData *d = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!job->ok) {
    g_task_return_error(task, describe_error(job->error));
    return;
  }
  if (job->existing != NULL && !coffer_vault_check_header(engine->vault, job->existing, &error)) {
    g_task_return_new_error(task, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_FOREIGN,
                            "the remote holds another vault (%s); use `coffer join` to use it", error->message);
    return;
  }
  if (!install_settings(engine, &d->settings, &error)) {
    g_task_return_error(task, describe_error(error));
    return;
  }
  round_request(engine);
  g_task_return_boolean(task, TRUE);
}

static void
on_setup_header(GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SetupData *d = g_task_get_task_data(task);
  CofferSyncEngine *engine = d->engine;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) header = coffer_vault_make_header_finish(COFFER_VAULT(source), result, &error);
  CofferRemote *remote = header ? remote_from_settings(engine, &d->settings, &error) : NULL;

  if (remote == NULL) {
    g_task_return_error(task, describe_error(error));
    return;
  }
  Job *job = job_new(engine, JOB_SETUP, remote, on_setup_done);
  job->header = g_steal_pointer(&header);
  job->task = g_steal_pointer(&task);
  job_start(engine, job);
}

void
coffer_sync_engine_set_remote_async(CofferSyncEngine *engine, const char *url, const char *user, const char *password,
                                    gsize password_len, const char *account_password, gsize account_len,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
  SetupData *d = setup_data_new(url, user, password, password_len, account_password, account_len);
  g_task_set_task_data(task, d, (GDestroyNotify)setup_data_free);

  if (!is_unlocked(engine)) {
    g_task_return_new_error(task, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_LOCKED, "the vault is locked");
    return;
  }
  /* Argon2id for the account slot (~0.3 s) runs in a worker thread. */
  d->engine = engine;
  coffer_vault_make_header_async(engine->vault, d->account, d->account_len, on_setup_header, g_steal_pointer(&task));
}

gboolean
coffer_sync_engine_set_remote_finish(CofferSyncEngine *engine, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void
on_join_header(CofferSyncEngine *engine, Job *job)
{
  g_autoptr(GTask) task = g_steal_pointer(&job->task);
  SetupData *d = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;

  if (!job->ok) {
    if (g_error_matches(job->error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_NOT_FOUND))
      g_task_return_new_error(task, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_FOREIGN, "there is no coffer vault at %s",
                              d->settings.url);
    else
      g_task_return_error(task, describe_error(job->error));
    return;
  }
  if (!coffer_vault_join(engine->vault, job->existing, d->account, d->account_len, d->login, d->login_len, &error)) {
    g_task_return_error(task, g_steal_pointer(&error)); /* vault errors map to control codes */
    return;
  }
  if (!install_settings(engine, &d->settings, &error)) {
    g_task_return_error(task, describe_error(error));
    return;
  }
  /* The join completes with its first round: everything pulled (and our
   * own records, re-sealed by the join, pushed). */
  engine->full_wanted = TRUE;
  g_ptr_array_add(engine->waiters, g_steal_pointer(&task));
  round_request(engine); /* after a round in flight (made stale by the new settings) ends */
}

void
coffer_sync_engine_join_async(CofferSyncEngine *engine, const char *url, const char *user, const char *password,
                              gsize password_len, const char *account_password, gsize account_len,
                              const char *login_password, gsize login_len, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
  g_autoptr(GError) error = NULL;
  SetupData *d = setup_data_new(url, user, password, password_len, account_password, account_len);
  d->login = secure_strndup(login_password, login_len);
  d->login_len = login_len;
  d->join = TRUE;
  g_task_set_task_data(task, d, (GDestroyNotify)setup_data_free);

  CofferRemote *remote = remote_from_settings(engine, &d->settings, &error);
  if (remote == NULL) {
    g_task_return_error(task, describe_error(error));
    return;
  }
  Job *job = job_new(engine, JOB_HEADER, remote, on_join_header);
  job->task = g_steal_pointer(&task);
  job_start(engine, job);
}

gboolean
coffer_sync_engine_join_finish(CofferSyncEngine *engine, GAsyncResult *result, CofferSyncReport *report, GError **error)
{
  return report_finish(result, report, error);
}

gboolean
coffer_sync_engine_remove_remote(CofferSyncEngine *engine, GError **error)
{
  CofferRemoteSettings none = { 0 };
  if (!is_unlocked(engine)) {
    g_set_error_literal(error, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_LOCKED, "the vault is locked");
    return FALSE;
  }
  if (!coffer_vault_set_remote_settings(engine->vault, &none, error))
    return FALSE;
  drop_settings(engine);
  forget_remote_state(engine);
  g_ptr_array_set_size(engine->announce, 0);
  engine->remote_bytes = 0;
  engine->last_sync = 0;
  g_clear_pointer(&engine->last_error, g_free);
  fail_tasks(engine->waiters, COFFER_SYNC_ERROR_NO_REMOTE, "the remote was removed");
  return TRUE;
}

/* ---- cleanup ------------------------------------------------------------------------------- */

static void
on_cleanup_done(CofferSyncEngine *engine, Job *job)
{
  g_autoptr(GTask) task = g_steal_pointer(&job->task);
  CofferSyncCleanupReport *report = g_task_get_task_data(task);
  job_return_remote(engine, job);
  if (!job->ok) {
    g_autoptr(GError) error = describe_error(job->error);
    g_task_return_new_error(task, error->domain, error->code,
                            "local cleanup done (%" G_GUINT64_FORMAT " versions, %" G_GUINT64_FORMAT
                            " tombstones); the remote part failed: %s",
                            report->history_removed, report->tombstones_removed, error->message);
    return;
  }
  report->remote_removed = job->removed;
  g_task_return_pointer(task, g_memdup2(report, sizeof *report), g_free);
}

void
coffer_sync_engine_cleanup_async(CofferSyncEngine *engine, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new(NULL, NULL, callback, user_data);
  g_autoptr(GError) error = NULL;
  CofferSyncCleanupReport *report = g_new0(CofferSyncCleanupReport, 1);
  g_task_set_task_data(task, report, g_free);

  if (!is_unlocked(engine)) {
    g_task_return_new_error(task, COFFER_SYNC_ERROR, COFFER_SYNC_ERROR_LOCKED, "the vault is locked");
    return;
  }
  CofferCleanupReport local = { 0 };
  if (!coffer_vault_cleanup(engine->vault, (gint64)engine->config.cleanup_max_age_s, engine->config.cleanup_keep,
                            &local, &error)) {
    g_task_return_error(task, g_steal_pointer(&error));
    return;
  }
  report->history_removed = local.history_removed;
  report->tombstones_removed = local.tombstones_removed;
  report->bytes_reclaimed = local.bytes_reclaimed;
  if (!engine->have_settings) {
    g_task_return_pointer(task, g_memdup2(report, sizeof *report), g_free);
    return;
  }
  CofferRemote *remote = remote_from_settings(engine, &engine->settings, &error);
  if (remote == NULL) {
    g_task_return_error(task, describe_error(error));
    return;
  }
  Job *job = job_new(engine, JOB_CLEANUP, remote, on_cleanup_done);
  job->live = live_ids(engine);
  gint64 cutoff_ms = g_get_real_time() / 1000 - (gint64)engine->config.cleanup_max_age_s * 1000;
  job->cutoff_hlc = cutoff_ms > 0 ? (guint64)cutoff_ms << 16 : 0;
  job->task = g_steal_pointer(&task);
  job_start(engine, job);
}

gboolean
coffer_sync_engine_cleanup_finish(CofferSyncEngine *engine, GAsyncResult *result, CofferSyncCleanupReport *report,
                                  GError **error)
{
  g_autofree CofferSyncCleanupReport *r = g_task_propagate_pointer(G_TASK(result), error);
  if (r == NULL)
    return FALSE;
  *report = *r;
  return TRUE;
}

/* ---- status --------------------------------------------------------------------------------- */

void
coffer_sync_engine_get_status(CofferSyncEngine *engine, CofferSyncStatus *status)
{
  memset(status, 0, sizeof *status);
  if (engine->have_settings) {
    status->url = g_strdup(engine->settings.url);
    status->user = g_strdup(engine->settings.user);
  }
  status->last_sync = engine->last_sync;
  status->last_error = g_strdup(engine->last_error);
  status->remote_bytes = engine->remote_bytes;
  status->running = engine->round != NULL;
  if (coffer_vault_is_initialized(engine->vault)) {
    g_autoptr(GPtrArray) dirty = coffer_vault_dirty_records(engine->vault, NULL);
    status->pending = dirty ? dirty->len : 0;
  }
}

void
coffer_sync_status_clear(CofferSyncStatus *status)
{
  g_clear_pointer(&status->url, g_free);
  g_clear_pointer(&status->user, g_free);
  g_clear_pointer(&status->last_error, g_free);
}
