/* coffer — the network half of a sync round (see steps.h).  Runs in the
 * worker thread: blocking requests, no vault, no main loop. */
#include "sync/steps.h"

#include <string.h>

/* After a write, Apache's mod_dav serves a weak ETag for about a second, and
 * a weak ETag never satisfies If-Match: a conditional write that fails while
 * the object is unchanged is retried after this long. */
#define WEAK_ETAG_WAIT_MS 1100
#define WEAK_ETAG_RETRIES 3
#define HEAD_MAGIC "coffer-head-v1 "

gboolean
sync_cancelled(SyncCancel *cancel)
{
  return cancel != NULL && g_atomic_int_get(&cancel->cancelled);
}

static gboolean
check_cancel(SyncCancel *cancel, GError **error)
{
  if (!sync_cancelled(cancel))
    return TRUE;
  g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "sync cancelled");
  return FALSE;
}

/* Sleeps in short slices so a cancel (lock, shutdown) is seen quickly. */
static gboolean
sleep_ms(guint ms, SyncCancel *cancel)
{
  gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
  while (g_get_monotonic_time() < end) {
    if (sync_cancelled(cancel))
      return FALSE;
    g_usleep(MIN(50 * 1000, (gulong)MAX(end - g_get_monotonic_time(), 0)));
  }
  return !sync_cancelled(cancel);
}

gboolean
sync_transient_wait(guint attempt, SyncCancel *cancel)
{
  guint base = MIN(200u << MIN(attempt, 4u), 3000u);
  /* Jitter: agents that failed together must not retry in lock step. */
  guint ms = base / 2 + g_random_int_range(0, (gint32)base / 2 + 1);
  return sleep_ms(ms, cancel);
}

static gboolean
is_remote_error(const GError *error, CofferRemoteError code)
{
  return g_error_matches(error, COFFER_REMOTE_ERROR, code);
}

/* ---- objects and names ---------------------------------------------------- */

SyncObject *
sync_object_new(const guint8 id[COFFER_ID_BYTES], GBytes *data, const char *etag)
{
  SyncObject *o = g_new0(SyncObject, 1);
  if (id != NULL)
    memcpy(o->id, id, COFFER_ID_BYTES);
  o->data = data ? g_bytes_ref(data) : NULL;
  o->etag = g_strdup(etag);
  return o;
}

void
sync_object_free(SyncObject *object)
{
  if (object == NULL)
    return;
  g_clear_pointer(&object->data, g_bytes_unref);
  g_free(object->etag);
  g_free(object);
}

char *
sync_record_name(const guint8 id[COFFER_ID_BYTES])
{
  char hex[COFFER_ID_BYTES * 2 + 1];
  for (guint i = 0; i < COFFER_ID_BYTES; i++)
    g_snprintf(hex + 2 * i, 3, "%02x", id[i]);
  return g_strconcat(SYNC_RECORDS_DIR "/", hex, NULL);
}

gboolean
sync_parse_record_name(const char *name, guint8 id[COFFER_ID_BYTES])
{
  const char *slash = strrchr(name, '/');
  const char *hex = slash ? slash + 1 : name;
  if (strlen(hex) != COFFER_ID_BYTES * 2)
    return FALSE;
  for (guint i = 0; i < COFFER_ID_BYTES; i++) {
    int hi = g_ascii_xdigit_value(hex[2 * i]);
    int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
    /* lowercase only: one name per record, never two spellings of one id */
    if (hi < 0 || lo < 0 || g_ascii_isupper(hex[2 * i]) || g_ascii_isupper(hex[2 * i + 1]))
      return FALSE;
    id[i] = (guint8)(hi << 4 | lo);
  }
  return TRUE;
}

/* ---- requests with retries on transient failures -------------------------- */

static gboolean
get_retry(CofferRemote *remote, const char *name, const char *if_none_match, GBytes **data, char **etag,
          gboolean *not_modified, SyncCancel *cancel, GError **error)
{
  for (guint attempt = 0;; attempt++) {
    g_autoptr(GError) local = NULL;
    if (!check_cancel(cancel, error))
      return FALSE;
    gboolean nm = FALSE;
    if (coffer_remote_get(remote, name, if_none_match, data, etag, &nm, &local)) {
      if (not_modified != NULL)
        *not_modified = nm;
      return TRUE;
    }
    if (!is_remote_error(local, COFFER_REMOTE_ERROR_TRANSIENT) || attempt + 1 >= SYNC_REQUEST_ATTEMPTS ||
        !sync_transient_wait(attempt, cancel)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
  }
}

/* A PUT retried after a transient failure may find its own earlier attempt
 * succeeded (the response was lost): the precondition then fails, and the
 * caller sorts that out by fetching the object. */
static gboolean
put_retry(CofferRemote *remote, const char *name, GBytes *data, const char *if_match, gboolean create_only, char **etag,
          SyncCancel *cancel, GError **error)
{
  for (guint attempt = 0;; attempt++) {
    g_autoptr(GError) local = NULL;
    if (!check_cancel(cancel, error))
      return FALSE;
    if (coffer_remote_put(remote, name, data, if_match, create_only, etag, &local))
      return TRUE;
    if (!is_remote_error(local, COFFER_REMOTE_ERROR_TRANSIENT) || attempt + 1 >= SYNC_REQUEST_ATTEMPTS ||
        !sync_transient_wait(attempt, cancel)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
  }
}

static GPtrArray *
list_retry(CofferRemote *remote, const char *dir, SyncCancel *cancel, GError **error)
{
  for (guint attempt = 0;; attempt++) {
    g_autoptr(GError) local = NULL;
    if (!check_cancel(cancel, error))
      return NULL;
    GPtrArray *listing = coffer_remote_list(remote, dir, &local);
    if (listing != NULL)
      return listing;
    if (!is_remote_error(local, COFFER_REMOTE_ERROR_TRANSIENT) || attempt + 1 >= SYNC_REQUEST_ATTEMPTS ||
        !sync_transient_wait(attempt, cancel)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return NULL;
    }
  }
}

static gboolean
ensure_dir_retry(CofferRemote *remote, const char *dir, SyncCancel *cancel, GError **error)
{
  for (guint attempt = 0;; attempt++) {
    g_autoptr(GError) local = NULL;
    if (!check_cancel(cancel, error))
      return FALSE;
    if (coffer_remote_ensure_directory(remote, dir, &local))
      return TRUE;
    if (!is_remote_error(local, COFFER_REMOTE_ERROR_TRANSIENT) || attempt + 1 >= SYNC_REQUEST_ATTEMPTS ||
        !sync_transient_wait(attempt, cancel)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
  }
}

/* ---- setup ------------------------------------------------------------------- */

GBytes *
sync_step_fetch_header(CofferRemote *remote, SyncCancel *cancel, GError **error)
{
  GBytes *data = NULL;
  g_autofree char *etag = NULL;
  if (!get_retry(remote, SYNC_HEADER_NAME, NULL, &data, &etag, NULL, cancel, error))
    return NULL;
  return data;
}

/* ---- head: a change marker with a short journal ------------------------------ */

typedef struct {
  guint64 seq;
  guint8 id[COFFER_ID_BYTES];
} JournalEntry;

/* Parses head; FALSE for anything that is not a well-formed head (a poller
 * then lists the records instead of trusting it).  Entries come out in
 * ascending seq. */
static gboolean
parse_head(GBytes *data, GArray *entries)
{
  gsize len;
  const char *p = g_bytes_get_data(data, &len);
  if (p == NULL || len > SYNC_HEAD_MAX_BYTES || memchr(p, '\0', len) != NULL)
    return FALSE;
  g_autofree char *text = g_strndup(p, len);
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  if (lines[0] == NULL || !g_str_has_prefix(lines[0], HEAD_MAGIC) || strlen(lines[0]) != strlen(HEAD_MAGIC) + 32)
    return FALSE;
  guint64 previous = 0;
  for (guint i = 1; lines[i] != NULL; i++) {
    if (lines[i][0] == '\0' && lines[i + 1] == NULL)
      break; /* the final newline */
    JournalEntry e;
    char *space = strchr(lines[i], ' ');
    if (space == NULL)
      return FALSE;
    *space = '\0';
    if (!g_ascii_string_to_unsigned(lines[i], 10, 1, G_MAXUINT64, &e.seq, NULL) || e.seq <= previous ||
        !sync_parse_record_name(space + 1, e.id) || i > SYNC_JOURNAL_MAX)
      return FALSE;
    previous = e.seq;
    g_array_append_val(entries, e);
  }
  return TRUE;
}

static guint64
journal_last_seq(GArray *entries)
{
  return entries->len > 0 ? g_array_index(entries, JournalEntry, entries->len - 1).seq : 0;
}

/* The next head: a fresh token, the previous journal (when readable) plus
 * the new announcements, trimmed to the newest SYNC_JOURNAL_MAX. */
static GBytes *
build_head(GBytes *previous, GPtrArray *announce, guint64 *last_seq)
{
  g_autoptr(GArray) entries = g_array_new(FALSE, FALSE, sizeof(JournalEntry));
  if (previous == NULL || !parse_head(previous, entries))
    g_array_set_size(entries, 0);
  guint64 seq = journal_last_seq(entries);
  for (guint i = 0; i < announce->len; i++) {
    JournalEntry e = { .seq = ++seq };
    memcpy(e.id, ((SyncObject *)announce->pdata[i])->id, COFFER_ID_BYTES);
    g_array_append_val(entries, e);
  }
  guint skip = entries->len > SYNC_JOURNAL_MAX ? entries->len - SYNC_JOURNAL_MAX : 0;
  guint8 raw[16];
  coffer_random(raw, sizeof raw);
  g_autoptr(GString) s = g_string_new(HEAD_MAGIC);
  for (guint i = 0; i < sizeof raw; i++)
    g_string_append_printf(s, "%02x", raw[i]);
  g_string_append_c(s, '\n');
  for (guint i = skip; i < entries->len; i++) {
    JournalEntry *e = &g_array_index(entries, JournalEntry, i);
    g_autofree char *name = sync_record_name(e->id);
    g_string_append_printf(s, "%" G_GUINT64_FORMAT " %s\n", e->seq, name + strlen(SYNC_RECORDS_DIR "/"));
  }
  *last_seq = seq;
  return g_string_free_to_bytes(g_steal_pointer(&s));
}

gboolean
sync_step_create_layout(CofferRemote *remote, GBytes *header, GBytes **existing, SyncCancel *cancel, GError **error)
{
  g_autoptr(GError) local = NULL;
  *existing = NULL;
  if (!ensure_dir_retry(remote, SYNC_RECORDS_DIR, cancel, error))
    return FALSE;
  GBytes *found = sync_step_fetch_header(remote, cancel, &local);
  if (found != NULL) {
    *existing = found;
    return TRUE;
  }
  if (!is_remote_error(local, COFFER_REMOTE_ERROR_NOT_FOUND)) {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  g_clear_error(&local);
  g_autofree char *etag = NULL;
  if (!put_retry(remote, SYNC_HEADER_NAME, header, NULL, TRUE, &etag, cancel, &local)) {
    /* Created meanwhile, by another machine or by our own lost attempt. */
    if (!is_remote_error(local, COFFER_REMOTE_ERROR_PRECONDITION)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    *existing = sync_step_fetch_header(remote, cancel, error);
    if (*existing == NULL)
      return FALSE;
    if (g_bytes_equal(*existing, header))
      g_clear_pointer(existing, g_bytes_unref); /* our own lost attempt */
    return TRUE;
  }
  return TRUE;
}

/* ---- pull ----------------------------------------------------------------------- */

void
sync_pull_clear(SyncPull *pull)
{
  g_clear_pointer(&pull->head_etag, g_free);
  g_clear_pointer(&pull->header_data, g_bytes_unref);
  g_clear_pointer(&pull->new_head_etag, g_free);
  g_clear_pointer(&pull->new_head, g_bytes_unref);
  g_clear_pointer(&pull->listing, g_ptr_array_unref);
  g_clear_pointer(&pull->journal, g_ptr_array_unref);
}

static guint64
head_last_seq(GBytes *head)
{
  g_autoptr(GArray) entries = g_array_new(FALSE, FALSE, sizeof(JournalEntry));
  return parse_head(head, entries) ? journal_last_seq(entries) : 0;
}

/* What head announces beyond last_seq, or NULL when it cannot say (we fell
 * too far behind, or head is not readable): then the records are listed. */
static GPtrArray *
journal_since(GBytes *head, guint64 last_seq, guint64 *new_last_seq)
{
  g_autoptr(GArray) entries = g_array_new(FALSE, FALSE, sizeof(JournalEntry));
  if (!parse_head(head, entries))
    return NULL;
  *new_last_seq = journal_last_seq(entries);
  if (last_seq == 0 || *new_last_seq < last_seq)
    return NULL; /* never read a journal, or head was rewritten from scratch */
  if (*new_last_seq > last_seq && (entries->len == 0 || g_array_index(entries, JournalEntry, 0).seq > last_seq + 1))
    return NULL; /* announcements we never saw fell off the journal */
  GPtrArray *ids = g_ptr_array_new_with_free_func((GDestroyNotify)sync_object_free);
  g_autoptr(GHashTable) seen = g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify)g_bytes_unref, NULL);
  for (guint i = entries->len; i-- > 0;) { /* newest first; each id once */
    JournalEntry *e = &g_array_index(entries, JournalEntry, i);
    if (e->seq <= last_seq)
      break;
    if (g_hash_table_add(seen, g_bytes_new(e->id, COFFER_ID_BYTES)))
      g_ptr_array_add(ids, sync_object_new(e->id, NULL, NULL));
  }
  return ids;
}

/* One conditional GET of head.  When it moved: the records its journal
 * announces since last time, or (fallen behind, first time, safety net) a
 * listing of every record. */
gboolean
sync_step_pull(CofferRemote *remote, SyncPull *pull, SyncCancel *cancel, GError **error)
{
  if (pull->header) {
    pull->header_data = sync_step_fetch_header(remote, cancel, error);
    if (pull->header_data == NULL)
      return FALSE;
  }

  g_autoptr(GBytes) data = NULL;
  g_autoptr(GError) local = NULL;
  gboolean not_modified = FALSE;
  char *etag = NULL;
  pull->new_last_seq = pull->last_seq;
  if (get_retry(remote, SYNC_HEAD_NAME, pull->head_etag, &data, &etag, &not_modified, cancel, &local)) {
    if (not_modified) {
      g_free(etag);
      pull->new_head_etag = g_strdup(pull->head_etag);
      pull->changed = FALSE;
    } else {
      pull->new_head_etag = etag;
      pull->new_head = g_bytes_ref(data);
      pull->changed = TRUE;
      if (!pull->full)
        pull->journal = journal_since(data, pull->last_seq, &pull->new_last_seq);
      else
        pull->new_last_seq = head_last_seq(data);
    }
  } else if (is_remote_error(local, COFFER_REMOTE_ERROR_NOT_FOUND)) {
    pull->changed = TRUE; /* no head yet: nobody pushed; the listing is short */
    pull->new_last_seq = 0;
  } else {
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }

  if ((pull->changed && pull->journal == NULL) || pull->full) {
    g_clear_pointer(&pull->journal, g_ptr_array_unref);
    pull->listing = list_retry(remote, SYNC_RECORDS_DIR, cancel, error);
    if (pull->listing == NULL)
      return FALSE;
  }
  return TRUE;
}

gboolean
sync_step_fetch(CofferRemote *remote, GPtrArray *in, GPtrArray *out, SyncCancel *cancel, GError **error)
{
  for (guint i = 0; i < in->len; i++) {
    SyncObject *want = in->pdata[i];
    g_autofree char *name = sync_record_name(want->id);
    g_autoptr(GBytes) data = NULL;
    g_autofree char *etag = NULL;
    g_autoptr(GError) local = NULL;
    if (!get_retry(remote, name, NULL, &data, &etag, NULL, cancel, &local)) {
      if (is_remote_error(local, COFFER_REMOTE_ERROR_NOT_FOUND))
        continue; /* gone since the listing: not a deletion, nothing to merge */
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE; /* what was fetched so far is still merged */
    }
    g_ptr_array_add(out, sync_object_new(want->id, data, etag));
  }
  return TRUE;
}

/* ---- push ----------------------------------------------------------------------- */

void
sync_push_clear(SyncPush *push)
{
  g_clear_pointer(&push->records, g_ptr_array_unref);
  g_clear_pointer(&push->announce, g_ptr_array_unref);
  g_clear_pointer(&push->pushed, g_ptr_array_unref);
  g_clear_pointer(&push->conflicts, g_ptr_array_unref);
  g_clear_pointer(&push->head_etag, g_free);
  g_clear_pointer(&push->head, g_bytes_unref);
  g_clear_pointer(&push->new_head_etag, g_free);
  g_clear_pointer(&push->new_head, g_bytes_unref);
}

typedef enum { PUT_DONE, PUT_CONFLICT, PUT_FAILED } PutOutcome;

/* A conditional PUT that settles every 412: the object vanished (create it),
 * our own earlier attempt landed (done), Apache's weak ETag (wait, retry),
 * or a real concurrent change (conflict: *theirs holds the remote version). */
static PutOutcome
put_conditional(CofferRemote *remote, const char *name, GBytes *data, const char *if_match, char **etag,
                GBytes **theirs, char **their_etag, SyncCancel *cancel, GError **error)
{
  g_autofree char *expect = g_strdup(if_match);
  guint weak_retries = 0, missing_retries = 0;
  for (;;) {
    g_autoptr(GError) local = NULL;
    if (put_retry(remote, name, data, expect, expect == NULL, etag, cancel, &local))
      return PUT_DONE;
    if (!is_remote_error(local, COFFER_REMOTE_ERROR_PRECONDITION)) {
      g_propagate_error(error, g_steal_pointer(&local));
      return PUT_FAILED;
    }
    g_clear_error(&local);
    g_autoptr(GBytes) current = NULL;
    g_autofree char *current_etag = NULL;
    if (!get_retry(remote, name, NULL, &current, &current_etag, NULL, cancel, &local)) {
      if (is_remote_error(local, COFFER_REMOTE_ERROR_NOT_FOUND) && missing_retries++ < 2) {
        g_clear_pointer(&expect, g_free); /* gone: create it again */
        continue;
      }
      g_propagate_error(error, g_steal_pointer(&local));
      return PUT_FAILED;
    }
    if (g_bytes_equal(current, data)) {
      *etag = g_steal_pointer(&current_etag);
      return PUT_DONE;
    }
    if (expect != NULL && g_strcmp0(current_etag, expect) == 0 && weak_retries++ < WEAK_ETAG_RETRIES) {
      if (!sleep_ms(WEAK_ETAG_WAIT_MS, cancel)) {
        check_cancel(cancel, error);
        return PUT_FAILED;
      }
      continue;
    }
    *theirs = g_steal_pointer(&current);
    *their_etag = g_steal_pointer(&current_etag);
    return PUT_CONFLICT;
  }
}

/* Announces what went out: the previous journal plus our ids, written only
 * over the head we last saw (If-Match), so announcements are never lost. */
static gboolean
push_head(CofferRemote *remote, SyncPush *push, SyncCancel *cancel, GError **error)
{
  g_autoptr(GPtrArray) announce = g_ptr_array_new();
  for (guint i = 0; i < push->announce->len; i++)
    g_ptr_array_add(announce, push->announce->pdata[i]);
  for (guint i = 0; i < push->pushed->len; i++)
    g_ptr_array_add(announce, push->pushed->pdata[i]);
  guint64 last_seq = 0;
  g_autoptr(GBytes) body = build_head(push->head, announce, &last_seq);
  g_autoptr(GBytes) theirs = NULL;
  g_autofree char *their_etag = NULL;
  char *etag = NULL;
  switch (put_conditional(remote, SYNC_HEAD_NAME, body, push->head_etag, &etag, &theirs, &their_etag, cancel, error)) {
  case PUT_DONE:
    push->head_written = TRUE;
    push->new_head_etag = etag;
    push->new_head = g_bytes_ref(body);
    push->new_last_seq = last_seq;
    return TRUE;
  case PUT_CONFLICT:
    push->head_conflict = TRUE;
    return TRUE;
  case PUT_FAILED:
  default:
    return FALSE;
  }
}

gboolean
sync_step_push(CofferRemote *remote, SyncPush *push, SyncCancel *cancel, GError **error)
{
  push->pushed = g_ptr_array_new_with_free_func((GDestroyNotify)sync_object_free);
  push->conflicts = g_ptr_array_new_with_free_func((GDestroyNotify)sync_object_free);
  for (guint i = 0; i < push->records->len; i++) {
    SyncObject *rec = push->records->pdata[i];
    g_autofree char *name = sync_record_name(rec->id);
    g_autofree char *etag = NULL, *their_etag = NULL;
    g_autoptr(GBytes) theirs = NULL;
    switch (put_conditional(remote, name, rec->data, rec->etag, &etag, &theirs, &their_etag, cancel, error)) {
    case PUT_DONE:
      if (etag == NULL) {
        /* The server did not say; learn it now, or the next update of this
         * record could not be conditional. */
        g_autoptr(GBytes) again = NULL;
        if (!get_retry(remote, name, NULL, &again, &etag, NULL, cancel, NULL))
          etag = NULL;
      }
      g_ptr_array_add(push->pushed, sync_object_new(rec->id, rec->data, etag));
      break;
    case PUT_CONFLICT:
      g_ptr_array_add(push->conflicts, sync_object_new(rec->id, theirs, their_etag));
      break;
    case PUT_FAILED:
      return FALSE; /* what went out so far is reported back all the same */
    }
  }
  if (push->pushed->len > 0 || push->announce->len > 0)
    return push_head(remote, push, cancel, error);
  return TRUE;
}

/* ---- cleanup ---------------------------------------------------------------------- */

gboolean
sync_step_cleanup(CofferRemote *remote, GHashTable *live, guint64 cutoff_hlc, guint64 *removed, SyncCancel *cancel,
                  GError **error)
{
  *removed = 0;
  g_autoptr(GPtrArray) listing = list_retry(remote, SYNC_RECORDS_DIR, cancel, error);
  if (listing == NULL)
    return FALSE;
  for (guint i = 0; i < listing->len; i++) {
    CofferRemoteEntry *entry = listing->pdata[i];
    guint8 id[COFFER_ID_BYTES];
    if (!sync_parse_record_name(entry->name, id))
      continue;
    g_autofree char *name = sync_record_name(id);
    if (g_hash_table_contains(live, name + strlen(SYNC_RECORDS_DIR "/")))
      continue; /* a live record here: certainly not an expired tombstone */
    g_autoptr(GBytes) data = NULL;
    g_autofree char *etag = NULL;
    g_autoptr(GError) local = NULL;
    if (!get_retry(remote, name, NULL, &data, &etag, NULL, cancel, &local)) {
      if (is_remote_error(local, COFFER_REMOTE_ERROR_NOT_FOUND))
        continue;
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    gsize len;
    const guint8 *env = g_bytes_get_data(data, &len);
    CofferRecordHeader header;
    if (coffer_envelope_parse_header(env, len, &header) != COFFER_CRYPTO_OK || memcmp(header.id, id, sizeof id) != 0)
      continue; /* not ours to judge: the merge reports it */
    if (!(header.flags & COFFER_RECORD_FLAG_TOMBSTONE) || header.rev.hlc >= cutoff_hlc)
      continue;
    /* Conditional: a record revived since we looked is left alone. */
    if (!coffer_remote_delete(remote, name, etag, &local)) {
      if (is_remote_error(local, COFFER_REMOTE_ERROR_PRECONDITION))
        continue;
      g_propagate_error(error, g_steal_pointer(&local));
      return FALSE;
    }
    (*removed)++;
  }
  return TRUE;
}
