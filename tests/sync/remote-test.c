/* Exercises the sync remotes (agent/sync/remote.h) against real storage:
 * Apache mod_dav (started by test_remote.py) or a folder.
 *
 *   remote-test api URL [JUNK_DIR]      every call and its error cases
 *   remote-test expect URL CODES         every call fails with one of CODES
 *                                        ("auth", "transient,protocol", ...)
 *   remote-test large URL                an object over the limit → TOO_LARGE
 *   remote-test faults URL DIRECT_URL SEED OPS
 *                                        random operations through the fault
 *                                        proxy, checked against a model
 *   remote-test race URL ROUNDS strict|loose
 *                                        two processes compare-and-swap at once:
 *                                        exactly one wins (see race_round)
 *   remote-test counter URL N            two processes each add N to a counter
 *                                        with get + conditional put: no update lost
 *
 * Credentials come from COFFER_TEST_USER / COFFER_TEST_PASSWORD.  Exits 0
 * when every check holds; prints the failed check and exits 1 otherwise.
 */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sync/remote.h"

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "remote-test: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                            \
      exit(1);                                                                                                         \
    }                                                                                                                  \
  } while (0)

#define CHECK_OK(ok, err)                                                                                              \
  do {                                                                                                                 \
    if (!(ok)) {                                                                                                       \
      fprintf(stderr, "remote-test: %s:%d: unexpected error: %s\n", __FILE__, __LINE__,                                \
              (err) ? (err)->message : "(none)");                                                                      \
      exit(1);                                                                                                         \
    }                                                                                                                  \
  } while (0)

#define CHECK_ERROR(ok, err, expected)                                                                                 \
  do {                                                                                                                 \
    if ((ok) || !g_error_matches((err), COFFER_REMOTE_ERROR, (expected))) {                                            \
      fprintf(stderr, "remote-test: %s:%d: expected error %d, got %s (%d)\n", __FILE__, __LINE__, (int)(expected),     \
              (err) ? (err)->message : "success", (err) ? (err)->code : -1);                                           \
      exit(1);                                                                                                         \
    }                                                                                                                  \
    g_clear_error(&(err));                                                                                             \
  } while (0)

static const char record_a[] = "records/0123456789abcdef0123456789abcdef";
static const char record_b[] = "records/fedcba9876543210fedcba9876543210";

static CofferRemote *
open_remote(const char *url, guint timeout_s)
{
  const char *user = g_getenv("COFFER_TEST_USER");
  const char *password = g_getenv("COFFER_TEST_PASSWORD");
  const char *timeout = g_getenv("COFFER_TEST_TIMEOUT");
  CofferRemoteConfig config = { .url = (char *)url, .user = (char *)user, .timeout_s = timeout_s };
  g_autoptr(GError) error = NULL;
  CofferRemote *remote;

  if (timeout != NULL)
    config.timeout_s = (guint)atoi(timeout);
  if (password != NULL) {
    config.password = sodium_malloc(strlen(password) + 1);
    CHECK(config.password != NULL);
    memcpy(config.password, password, strlen(password) + 1);
  }
  remote = coffer_remote_new(&config, &error);
  CHECK_OK(remote != NULL, error);
  if (config.password != NULL)
    sodium_free(config.password); /* the backend keeps its own copy */
  return remote;
}

static GBytes *bytes_printf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static GBytes *
bytes_printf(const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  return g_bytes_new_take(s, strlen(s));
}

static const CofferRemoteEntry *
find_entry(GPtrArray *entries, const char *name)
{
  for (guint i = 0; i < entries->len; i++) {
    const CofferRemoteEntry *e = entries->pdata[i];
    if (strcmp(e->name, name) == 0)
      return e;
  }
  return NULL;
}

static GBytes *
get_ok(CofferRemote *remote, const char *name, char **etag)
{
  g_autoptr(GError) error = NULL;
  GBytes *data = NULL;
  gboolean not_modified = TRUE, ok;

  ok = coffer_remote_get(remote, name, NULL, &data, etag, &not_modified, &error);
  CHECK_OK(ok, error);
  CHECK(data != NULL && !not_modified);
  return data;
}

/* ---- api ----------------------------------------------------------------------- */

static void
plant_junk(const char *dir)
{
  /* What sync tools leave next to our objects; list() must not report them. */
  static const char *junk[] = {
    "0123456789abcdef0123456789abcdef.sync-conflict-20260101-120000-ABCDEFG",
    "0123456789abcdef0123456789abcdef (conflicted copy 2026-01-01)",
    ".syncthing.0123456789abcdef0123456789abcdef.tmp",
    "~0123456789abcdef.tmp",
    "UPPERCASE",
    ".coffer-tmp-abc123",
  };
  g_autofree char *sub = g_build_filename(dir, "subdirectory", NULL);

  for (gsize i = 0; i < G_N_ELEMENTS(junk); i++) {
    g_autofree char *path = g_build_filename(dir, junk[i], NULL);
    CHECK(g_file_set_contents(path, "junk", 4, NULL));
    chmod(path, 0644);
  }
  CHECK(mkdir(sub, 0755) == 0);
}

static void
test_arguments(CofferRemote *remote)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = bytes_printf("x");
  g_autoptr(GBytes) big = NULL;
  g_autofree char *etag = NULL;
  CofferRemoteStats before, after;
  GBytes *got = NULL;
  gboolean nm;
  static const char *bad_names[] = { "",    "../x", "records/../../etc", "/abs",     "a//b", "Records",
                                     "a b", "x/",   "records/0a.tmp",    "a/b/c/d/e" };

  for (gsize i = 0; i < G_N_ELEMENTS(bad_names); i++) {
    CHECK_ERROR(coffer_remote_get(remote, bad_names[i], NULL, &got, &etag, &nm, &error), error,
                COFFER_REMOTE_ERROR_CONFIG);
    CHECK_ERROR(coffer_remote_put(remote, bad_names[i], data, NULL, TRUE, &etag, &error), error,
                COFFER_REMOTE_ERROR_CONFIG);
  }
  CHECK_ERROR(coffer_remote_list(remote, "../x", &error) != NULL, error, COFFER_REMOTE_ERROR_CONFIG);
  /* exactly one precondition */
  CHECK_ERROR(coffer_remote_put(remote, record_b, data, NULL, FALSE, &etag, &error), error, COFFER_REMOTE_ERROR_CONFIG);
  CHECK_ERROR(coffer_remote_put(remote, record_b, data, "\"x\"", TRUE, &etag, &error), error,
              COFFER_REMOTE_ERROR_CONFIG);
  /* an ETag that would inject a header */
  CHECK_ERROR(coffer_remote_put(remote, record_b, data, "\"x\"\r\nX-Evil: 1", FALSE, &etag, &error), error,
              COFFER_REMOTE_ERROR_CONFIG);
  /* an object over the limit never reaches the wire */
  coffer_remote_get_stats(remote, &before);
  big = g_bytes_new_take(g_malloc0(COFFER_REMOTE_MAX_OBJECT + 1), COFFER_REMOTE_MAX_OBJECT + 1);
  CHECK_ERROR(coffer_remote_put(remote, record_b, big, NULL, TRUE, &etag, &error), error,
              COFFER_REMOTE_ERROR_TOO_LARGE);
  coffer_remote_get_stats(remote, &after);
  CHECK(after.requests == before.requests);
}

/* PUT, then at once PUT again with the ETag just returned.  On Apache the
 * object's ETag is weak for a second after the first write and If-Match
 * fails; the backend waits the window out, so the second PUT succeeds. */
static void
test_weak_window(CofferRemote *remote)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) v1 = bytes_printf("weak window: version 1");
  g_autoptr(GBytes) v2 = bytes_printf("weak window: version 2 (longer)");
  g_autoptr(GBytes) got = NULL;
  g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e_stale = NULL;
  gint64 start;

  CHECK_OK(coffer_remote_put(remote, record_b, v1, NULL, TRUE, &e1, &error), error);
  CHECK(e1 != NULL);
  CHECK(!g_str_has_prefix(e1, "W/"));
  start = g_get_monotonic_time();
  CHECK_OK(coffer_remote_put(remote, record_b, v2, e1, FALSE, &e2, &error), error);
  CHECK(e2 != NULL && strcmp(e1, e2) != 0);
  fprintf(stderr, "weak window: second PUT took %.2f s\n", (g_get_monotonic_time() - start) / 1e6);
  got = get_ok(remote, record_b, &e3);
  CHECK(g_bytes_equal(got, v2));
  CHECK(strcmp(e2, e3) == 0);
  /* The old version is gone for good: its ETag no longer matches. */
  CHECK_ERROR(coffer_remote_put(remote, record_b, v1, e1, FALSE, &e_stale, &error), error,
              COFFER_REMOTE_ERROR_PRECONDITION);
}

static void
test_listing(CofferRemote *remote, const char *etag_a, gsize size_a, gboolean junk)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = coffer_remote_list(remote, "records", &error);
  g_autoptr(GPtrArray) top = NULL;
  g_autoptr(GPtrArray) none = NULL;
  const CofferRemoteEntry *a;

  CHECK_OK(entries != NULL, error);
  for (guint i = 0; i < entries->len; i++)
    fprintf(stderr, "listed: %s %s %" G_GUINT64_FORMAT "\n", ((CofferRemoteEntry *)entries->pdata[i])->name,
            ((CofferRemoteEntry *)entries->pdata[i])->etag, ((CofferRemoteEntry *)entries->pdata[i])->size);
  CHECK(entries->len == 2); /* record a, record b; never the junk or the subdirectory */
  a = find_entry(entries, record_a + strlen("records/"));
  CHECK(a != NULL && a->etag != NULL);
  CHECK(strcmp(a->etag, etag_a) == 0);
  CHECK(a->size == size_a);
  CHECK(find_entry(entries, record_b + strlen("records/")) != NULL);
  (void)junk;

  top = coffer_remote_list(remote, "", &error);
  CHECK_OK(top != NULL, error);
  CHECK(find_entry(top, "head") != NULL);
  CHECK(find_entry(top, "records") == NULL); /* a directory, not an object */

  none = coffer_remote_list(remote, "missing", &error);
  CHECK_OK(none != NULL, error);
  CHECK(none->len == 0);
}

static void
test_delete(CofferRemote *remote, const char *etag_a)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autofree char *etag = NULL;
  gboolean nm;

  CHECK_ERROR(coffer_remote_delete(remote, record_a, "\"stale-etag\"", &error), error,
              COFFER_REMOTE_ERROR_PRECONDITION);
  CHECK_OK(coffer_remote_delete(remote, record_a, etag_a, &error), error);
  CHECK_ERROR(coffer_remote_get(remote, record_a, NULL, &data, &etag, &nm, &error), error,
              COFFER_REMOTE_ERROR_NOT_FOUND);
  /* missing is not an error, with or without a precondition */
  CHECK_OK(coffer_remote_delete(remote, record_a, NULL, &error), error);
  CHECK_OK(coffer_remote_delete(remote, record_a, etag_a, &error), error);
  CHECK_OK(coffer_remote_delete(remote, "nodir/x", NULL, &error), error);
}

static int
run_api(const char *url, const char *junk_dir)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 10);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) a1 = bytes_printf("record a, version 1");
  g_autoptr(GBytes) a2 = bytes_printf("record a, version 2: %s", "a little longer");
  g_autoptr(GBytes) head = bytes_printf("head marker");
  g_autoptr(GBytes) got = NULL;
  g_autofree char *e1 = NULL, *e2 = NULL, *e_get = NULL, *e_nm = NULL, *e_head = NULL, *e_x = NULL;
  CofferRemoteStats s0, s1;
  gboolean nm = TRUE;

  test_arguments(remote);
  CHECK_OK(coffer_remote_ensure_directory(remote, "", &error), error);
  CHECK_OK(coffer_remote_ensure_directory(remote, "records", &error), error);
  CHECK_OK(coffer_remote_ensure_directory(remote, "records", &error), error); /* existing: fine */
  CHECK_ERROR(coffer_remote_ensure_directory(remote, "missing/sub", &error), error, COFFER_REMOTE_ERROR_NOT_FOUND);
  if (junk_dir != NULL)
    plant_junk(junk_dir);

  /* absent objects */
  CHECK_ERROR(coffer_remote_get(remote, record_a, NULL, &got, &e_get, &nm, &error), error,
              COFFER_REMOTE_ERROR_NOT_FOUND);
  CHECK_ERROR(coffer_remote_put(remote, "missing/x", a1, NULL, TRUE, &e_x, &error), error,
              COFFER_REMOTE_ERROR_NOT_FOUND);

  /* create, and create again */
  coffer_remote_get_stats(remote, &s0);
  CHECK_OK(coffer_remote_put(remote, record_a, a1, NULL, TRUE, &e1, &error), error);
  coffer_remote_get_stats(remote, &s1);
  CHECK(e1 != NULL);
  CHECK(s1.requests > s0.requests);
  CHECK(s1.bytes_sent - s0.bytes_sent >= g_bytes_get_size(a1));
  CHECK_ERROR(coffer_remote_put(remote, record_a, a2, NULL, TRUE, &e_x, &error), error,
              COFFER_REMOTE_ERROR_PRECONDITION);
  CHECK(e_x == NULL);

  /* read back */
  coffer_remote_get_stats(remote, &s0);
  got = get_ok(remote, record_a, &e_get);
  coffer_remote_get_stats(remote, &s1);
  CHECK(g_bytes_equal(got, a1));
  CHECK(strcmp(e_get, e1) == 0);
  CHECK(s1.requests == s0.requests + 1);
  CHECK(s1.bytes_received - s0.bytes_received >= g_bytes_get_size(a1));
  g_clear_pointer(&got, g_bytes_unref);

  /* stale If-Match loses; the current one wins (after the weak window) */
  CHECK_ERROR(coffer_remote_put(remote, record_a, a2, "\"0-0000\"", FALSE, &e_x, &error), error,
              COFFER_REMOTE_ERROR_PRECONDITION);
  CHECK_OK(coffer_remote_put(remote, record_a, a2, e1, FALSE, &e2, &error), error);
  CHECK(e2 != NULL && strcmp(e1, e2) != 0);

  /* conditional GET: unchanged → not modified, one cheap request */
  coffer_remote_get_stats(remote, &s0);
  CHECK_OK(coffer_remote_get(remote, record_a, e2, &got, &e_nm, &nm, &error), error);
  coffer_remote_get_stats(remote, &s1);
  CHECK(nm && got == NULL);
  CHECK(strcmp(e_nm, e2) == 0);
  CHECK(s1.requests == s0.requests + 1);
  CHECK(s1.bytes_received - s0.bytes_received < 1024);
  g_clear_pointer(&e_nm, g_free);
  /* changed since the ETag we hold → the new data */
  CHECK_OK(coffer_remote_get(remote, record_a, e1, &got, &e_nm, &nm, &error), error);
  CHECK(!nm && got != NULL && g_bytes_equal(got, a2));
  CHECK(strcmp(e_nm, e2) == 0);

  test_weak_window(remote);
  CHECK_OK(coffer_remote_put(remote, "head", head, NULL, TRUE, &e_head, &error), error);
  test_listing(remote, e2, g_bytes_get_size(a2), junk_dir != NULL);
  test_delete(remote, e2);
  coffer_remote_get_stats(remote, &s1);
  fprintf(stderr,
          "stats: %" G_GUINT64_FORMAT " requests, %" G_GUINT64_FORMAT " bytes sent, %" G_GUINT64_FORMAT " received\n",
          s1.requests, s1.bytes_sent, s1.bytes_received);
  return 0;
}

/* ---- failures ------------------------------------------------------------------ */

/* Every call fails, each with one of the codes in `codes` ("auth",
 * "transient,protocol"). */
static gboolean
error_in(GError *error, const char *codes)
{
  static const char *names[] = {
    [COFFER_REMOTE_ERROR_NOT_FOUND] = "not_found", [COFFER_REMOTE_ERROR_PRECONDITION] = "precondition",
    [COFFER_REMOTE_ERROR_AUTH] = "auth",           [COFFER_REMOTE_ERROR_TRANSIENT] = "transient",
    [COFFER_REMOTE_ERROR_PROTOCOL] = "protocol",   [COFFER_REMOTE_ERROR_TOO_LARGE] = "too_large",
    [COFFER_REMOTE_ERROR_CONFIG] = "config"
  };
  g_auto(GStrv) allowed = g_strsplit(codes, ",", -1);

  if (error == NULL || error->domain != COFFER_REMOTE_ERROR || error->code < 0 ||
      error->code >= (int)G_N_ELEMENTS(names))
    return FALSE;
  fprintf(stderr, "got: %s (%s)\n", names[error->code], error->message);
  return g_strv_contains((const char *const *)allowed, names[error->code]);
}

#define CHECK_FAILS(ok, err, codes)                                                                                    \
  do {                                                                                                                 \
    CHECK(!(ok));                                                                                                      \
    CHECK(error_in((err), (codes)));                                                                                   \
    g_clear_error(&(err));                                                                                             \
  } while (0)

static int
run_expect(const char *url, const char *codes)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = bytes_printf("x");
  g_autoptr(GBytes) got = NULL;
  g_autofree char *etag = NULL;
  gboolean nm;

  CHECK_FAILS(coffer_remote_get(remote, record_a, NULL, &got, &etag, &nm, &error), error, codes);
  CHECK_FAILS(coffer_remote_get(remote, record_a, "\"x\"", &got, &etag, &nm, &error), error, codes);
  CHECK_FAILS(coffer_remote_put(remote, record_a, data, NULL, TRUE, &etag, &error), error, codes);
  CHECK_FAILS(coffer_remote_put(remote, record_a, data, "\"x\"", FALSE, &etag, &error), error, codes);
  CHECK_FAILS(coffer_remote_delete(remote, record_a, NULL, &error), error, codes);
  CHECK_FAILS(coffer_remote_list(remote, "records", &error) != NULL, error, codes);
  CHECK_FAILS(coffer_remote_ensure_directory(remote, "records", &error), error, codes);
  CHECK(got == NULL);
  return 0;
}

static int
run_large(const char *url)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 30);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) got = NULL;
  g_autofree char *etag = NULL;
  CofferRemoteStats stats;
  gboolean nm;

  CHECK_ERROR(coffer_remote_get(remote, "big", NULL, &got, &etag, &nm, &error), error, COFFER_REMOTE_ERROR_TOO_LARGE);
  CHECK(got == NULL && etag == NULL);
  coffer_remote_get_stats(remote, &stats);
  /* the transfer was cut short, not read to the end */
  CHECK(stats.bytes_received <= (guint64)COFFER_REMOTE_MAX_OBJECT + 65536);
  /* an object just under the limit passes */
  got = get_ok(remote, "fits", &etag);
  CHECK(g_bytes_get_size(got) == COFFER_REMOTE_MAX_OBJECT);
  return 0;
}

/* ---- random faults against a model ------------------------------------------------- */

#define FAULT_NAMES 3

typedef struct {
  const char *name;
  GPtrArray *possible; /* GBytes*: versions the server may hold */
  gboolean maybe_absent;
  char *etag; /* the ETag of the version we know is there, or NULL */
} ModelObject;

static gboolean
model_has(ModelObject *o, GBytes *data)
{
  for (guint i = 0; i < o->possible->len; i++)
    if (g_bytes_equal(o->possible->pdata[i], data))
      return TRUE;
  return FALSE;
}

static void
model_collapse(ModelObject *o, GBytes *data, const char *etag)
{
  g_ptr_array_set_size(o->possible, 0);
  o->maybe_absent = data == NULL;
  if (data != NULL)
    g_ptr_array_add(o->possible, g_bytes_ref(data));
  g_free(o->etag);
  o->etag = g_strdup(etag);
}

static gboolean
transient_or_protocol(GError *error)
{
  return g_error_matches(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_TRANSIENT) ||
         g_error_matches(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PROTOCOL);
}

static void
fault_get(CofferRemote *remote, ModelObject *o, GRand *rand, guint *counts)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autofree char *etag = NULL;
  const char *inm = g_rand_boolean(rand) ? o->etag : NULL;
  gboolean nm = FALSE;

  if (coffer_remote_get(remote, o->name, inm, &data, &etag, &nm, &error)) {
    counts[0]++;
    if (nm) {
      CHECK(inm != NULL && data == NULL && g_strcmp0(etag, inm) == 0);
      return;
    }
    CHECK(data != NULL && etag != NULL);
    CHECK(model_has(o, data)); /* never a truncated or foreign body */
    model_collapse(o, data, etag);
  } else if (g_error_matches(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_NOT_FOUND)) {
    counts[0]++;
    CHECK(o->maybe_absent);
    model_collapse(o, NULL, NULL);
  } else {
    CHECK(transient_or_protocol(error));
    counts[1]++;
  }
}

static void
fault_put(CofferRemote *remote, ModelObject *o, GRand *rand, guint seq, guint *counts)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) data = NULL;
  g_autofree char *etag = NULL;
  g_autofree char *filler = g_strnfill(g_rand_int_range(rand, 0, 3000), 'z');
  gboolean create = o->maybe_absent && o->possible->len == 0;

  if (!create && o->etag == NULL)
    return fault_get(remote, o, rand, counts); /* learn the version first */
  data = bytes_printf("%s version %u %s", o->name, seq, filler);
  if (coffer_remote_put(remote, o->name, data, create ? NULL : o->etag, create, &etag, &error)) {
    counts[0]++;
    model_collapse(o, data, etag);
  } else if (g_error_matches(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PRECONDITION)) {
    /* An earlier write we were not told about landed, or the weak-window
     * check could not be made, or this very write landed and libcurl resent
     * it after the connection died unanswered (it does so once on a reused
     * connection): the resend then fails its precondition.  Learn the
     * version again. */
    counts[1]++;
    g_ptr_array_add(o->possible, g_bytes_ref(data));
    g_clear_pointer(&o->etag, g_free);
  } else {
    CHECK(transient_or_protocol(error));
    counts[1]++;
    g_ptr_array_add(o->possible, g_bytes_ref(data)); /* it may have landed */
    g_clear_pointer(&o->etag, g_free);
  }
}

static void
fault_delete(CofferRemote *remote, ModelObject *o, guint *counts)
{
  g_autoptr(GError) error = NULL;

  if (o->etag == NULL)
    return;
  if (coffer_remote_delete(remote, o->name, o->etag, &error)) {
    counts[0]++;
    model_collapse(o, NULL, NULL);
  } else if (g_error_matches(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PRECONDITION)) {
    counts[1]++;
    g_clear_pointer(&o->etag, g_free);
  } else {
    CHECK(transient_or_protocol(error));
    counts[1]++;
    o->maybe_absent = TRUE;
    g_clear_pointer(&o->etag, g_free);
  }
}

static gboolean
size_possible(ModelObject *o, guint64 size)
{
  for (guint i = 0; i < o->possible->len; i++)
    if (g_bytes_get_size(o->possible->pdata[i]) == size)
      return TRUE;
  return FALSE;
}

static void
fault_list(CofferRemote *remote, ModelObject *objects, guint *counts)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = coffer_remote_list(remote, "records", &error);

  if (entries == NULL) {
    CHECK(transient_or_protocol(error));
    counts[1]++;
    return;
  }
  counts[0]++;
  CHECK(entries->len <= FAULT_NAMES);
  for (guint i = 0; i < FAULT_NAMES; i++) {
    const CofferRemoteEntry *e = find_entry(entries, objects[i].name + strlen("records/"));
    if (e == NULL)
      CHECK(objects[i].maybe_absent);
    else
      CHECK(size_possible(&objects[i], e->size) && e->etag != NULL);
  }
}

static int
run_faults(const char *url, const char *direct_url, guint32 seed, guint ops)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 3);
  g_autoptr(CofferRemote) direct = open_remote(direct_url, 10);
  g_autoptr(GError) error = NULL;
  g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
  static const char *names[FAULT_NAMES] = { "records/00000000000000000000000000000001",
                                            "records/00000000000000000000000000000002",
                                            "records/00000000000000000000000000000003" };
  ModelObject objects[FAULT_NAMES];
  guint counts[2] = { 0, 0 }; /* answered, failed */

  CHECK_OK(coffer_remote_ensure_directory(direct, "", &error), error);
  CHECK_OK(coffer_remote_ensure_directory(direct, "records", &error), error);
  for (guint i = 0; i < FAULT_NAMES; i++)
    objects[i] = (ModelObject){ names[i], g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref), TRUE, NULL };
  for (guint op = 0; op < ops; op++) {
    ModelObject *o = &objects[g_rand_int_range(rand, 0, FAULT_NAMES)];
    switch (g_rand_int_range(rand, 0, 6)) {
    case 0:
    case 1:
      fault_get(remote, o, rand, counts);
      break;
    case 2:
    case 3:
      fault_put(remote, o, rand, op, counts);
      break;
    case 4:
      fault_delete(remote, o, counts);
      break;
    default:
      fault_list(remote, objects, counts);
    }
  }
  /* Past the proxy, the server holds a version the model allows. */
  for (guint i = 0; i < FAULT_NAMES; i++) {
    g_autoptr(GBytes) data = NULL;
    g_autofree char *etag = NULL;
    gboolean nm;
    if (coffer_remote_get(direct, objects[i].name, NULL, &data, &etag, &nm, &error))
      CHECK(model_has(&objects[i], data));
    else {
      CHECK_ERROR(FALSE, error, COFFER_REMOTE_ERROR_NOT_FOUND);
      CHECK(objects[i].maybe_absent);
    }
    g_ptr_array_unref(objects[i].possible);
    g_free(objects[i].etag);
  }
  fprintf(stderr, "faults seed %u: %u answered, %u failed\n", seed, counts[0], counts[1]);
  CHECK(counts[0] > 0 && counts[1] > 0); /* the run saw both */
  return 0;
}

/* ---- two processes at once ---------------------------------------------------------- */

/* Forks a child that waits on `gate`, then runs fn; returns its pid. */
static pid_t
spawn(int gate, int (*fn)(const char *url, const char *name, guint arg), const char *url, const char *name, guint arg)
{
  pid_t pid = fork();
  char c;

  CHECK(pid >= 0);
  if (pid == 0) {
    if (read(gate, &c, 1) != 1)
      _exit(3);
    _exit(fn(url, name, arg));
  }
  return pid;
}

static int
wait_child(pid_t pid)
{
  int status;

  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void
open_gate(int gate[2], guint children)
{
  for (guint i = 0; i < children; i++)
    CHECK(write(gate[1], "go", 1) == 1);
}

/* Where race children report "<pid> <etag>" when told they won, and the
 * version both replace (read before either starts, so both hold the same). */
static int race_results = -1;
static char *race_if_match;

/* child: 0 won, 1 lost on the precondition, 2 anything else */
static int
race_put(const char *url, const char *name, guint arg)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 30);
  g_autoptr(GError) error = NULL;
  /* The two writers' bytes differ in size: Apache's ETag is (size, mtime)
   * and the mtime has the kernel clock's coarse granularity, so two
   * same-size writes a few ms apart can share an ETag (docs/sync-remotes.md). */
  g_autoptr(GBytes) data = bytes_printf("written by %d%s", (int)getpid(), (arg & 2) ? " (second)" : "");
  g_autofree char *etag = NULL, *line = NULL;
  gboolean won;

  if (arg & 1) /* replace the version both read */
    won = coffer_remote_put(remote, name, data, race_if_match, FALSE, &etag, &error);
  else
    won = coffer_remote_put(remote, name, data, NULL, TRUE, &etag, &error);
  if (!won)
    return g_error_matches(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PRECONDITION) ? 1 : 2;
  line = g_strdup_printf("%d %s\n", (int)getpid(), etag ? etag : "-");
  return write(race_results, line, strlen(line)) == (ssize_t)strlen(line) ? 0 : 2;
}

/* Two processes put the same object at the same moment, first both
 * creating it, then both replacing the version they read.
 *
 * strict (the folder backend): exactly one wins, the other gets
 * PRECONDITION, and the object holds the winner's bytes.
 *
 * not strict (stock Apache mod_dav_fs checks the precondition and writes
 * without a lock, so both may be told 201/204): at least one wins, nobody
 * fails otherwise, and an ETag returned to a winner matches the server's
 * current ETag only if the server holds that winner's bytes, so a device
 * whose write was overwritten sees a changed ETag on its next poll. */
static void
race_round(CofferRemote *remote, const char *url, const char *name, guint replace, gboolean strict, guint *double_wins)
{
  g_autoptr(GBytes) final = NULL;
  g_autofree char *final_etag = NULL, *expect = NULL;
  char buf[512];
  g_auto(GStrv) lines = NULL;
  int gate[2], results[2], rc[2];
  pid_t pids[2];
  ssize_t n;

  if (replace) {
    g_autoptr(GBytes) current = get_ok(remote, name, &race_if_match);
  }
  CHECK(pipe(gate) == 0 && pipe(results) == 0);
  race_results = results[1];
  for (int i = 0; i < 2; i++)
    pids[i] = spawn(gate[0], race_put, url, name, replace | (guint)(i << 1));
  close(results[1]);
  open_gate(gate, 2);
  for (int i = 0; i < 2; i++)
    rc[i] = wait_child(pids[i]);
  n = read(results[0], buf, sizeof buf - 1);
  CHECK(n >= 0);
  buf[n] = '\0';
  close(results[0]);
  close(gate[0]);
  close(gate[1]);
  g_clear_pointer(&race_if_match, g_free);
  fprintf(stderr, "race %s replace=%u: %d %d\n", name, replace, rc[0], rc[1]);
  CHECK(rc[0] <= 1 && rc[1] <= 1 && (rc[0] == 0 || rc[1] == 0));
  if (strict)
    CHECK(rc[0] + rc[1] == 1);
  if (rc[0] + rc[1] == 0)
    (*double_wins)++;
  final = get_ok(remote, name, &final_etag);
  lines = g_strsplit(buf, "\n", -1);
  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++) {
    g_auto(GStrv) f = g_strsplit(lines[i], " ", 2);
    g_autofree char *bytes = g_strdup_printf("written by %s%s", f[0], atoi(f[0]) == (int)pids[1] ? " (second)" : "");
    gboolean holds =
        g_bytes_get_size(final) == strlen(bytes) && memcmp(g_bytes_get_data(final, NULL), bytes, strlen(bytes)) == 0;
    CHECK(f[1] != NULL);
    if (strict)
      CHECK(holds && strcmp(f[1], final_etag) == 0);
    else if (strcmp(f[1], final_etag) == 0)
      CHECK(holds);
  }
}

static int
run_race(const char *url, guint rounds, gboolean strict)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 30);
  g_autoptr(GError) error = NULL;
  guint double_wins = 0;

  CHECK_OK(coffer_remote_ensure_directory(remote, "", &error), error);
  CHECK_OK(coffer_remote_ensure_directory(remote, "records", &error), error);
  for (guint round = 0; round < rounds; round++) {
    g_autofree char *name = g_strdup_printf("records/%032x", round);
    for (guint replace = 0; replace < 2; replace++)
      race_round(remote, url, name, replace, strict, &double_wins);
  }
  fprintf(stderr, "race: %u of %u rounds had two winners\n", double_wins, 2 * rounds);
  return 0;
}

/* child: adds n to the counter with get + put(if_match), retrying lost races */
static int
counter_add(const char *url, const char *name, guint n)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 30);

  for (guint done = 0, tries = 0; done < n; tries++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) data = NULL, next = NULL;
    g_autofree char *etag = NULL, *new_etag = NULL, *text = NULL;

    if (tries > 100 * n)
      return 2;
    data = get_ok(remote, name, &etag);
    text = g_strndup(g_bytes_get_data(data, NULL), g_bytes_get_size(data));
    next = bytes_printf("%ld", atol(text) + 1);
    if (coffer_remote_put(remote, name, next, etag, FALSE, &new_etag, &error))
      done++;
    else if (!g_error_matches(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PRECONDITION))
      return 2;
  }
  return 0;
}

static int
run_counter(const char *url, guint n)
{
  g_autoptr(CofferRemote) remote = open_remote(url, 30);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) zero = bytes_printf("0");
  g_autoptr(GBytes) final = NULL;
  g_autofree char *etag = NULL, *text = NULL;
  int gate[2];
  pid_t pids[2];

  CHECK_OK(coffer_remote_ensure_directory(remote, "", &error), error);
  CHECK_OK(coffer_remote_put(remote, "counter", zero, NULL, TRUE, &etag, &error), error);
  CHECK(pipe(gate) == 0);
  for (int i = 0; i < 2; i++)
    pids[i] = spawn(gate[0], counter_add, url, "counter", n);
  open_gate(gate, 2);
  for (int i = 0; i < 2; i++)
    CHECK(wait_child(pids[i]) == 0);
  g_clear_pointer(&etag, g_free);
  final = get_ok(remote, "counter", &etag);
  text = g_strndup(g_bytes_get_data(final, NULL), g_bytes_get_size(final));
  fprintf(stderr, "counter: %s (expected %u)\n", text, 2 * n);
  CHECK(atol(text) == (long)(2 * n));
  return 0;
}

int
main(int argc, char **argv)
{
  if (sodium_init() < 0 || argc < 3) {
    fprintf(stderr, "usage: remote-test CASE URL [ARGS...]\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (strcmp(argv[1], "api") == 0)
    return run_api(argv[2], argc > 3 ? argv[3] : NULL);
  if (strcmp(argv[1], "expect") == 0 && argc == 4)
    return run_expect(argv[2], argv[3]);
  if (strcmp(argv[1], "large") == 0)
    return run_large(argv[2]);
  if (strcmp(argv[1], "faults") == 0 && argc == 6)
    return run_faults(argv[2], argv[3], (guint32)atol(argv[4]), (guint)atoi(argv[5]));
  if (strcmp(argv[1], "race") == 0 && argc == 5)
    return run_race(argv[2], (guint)atoi(argv[3]), strcmp(argv[4], "strict") == 0);
  if (strcmp(argv[1], "counter") == 0 && argc == 4)
    return run_counter(argv[2], (guint)atoi(argv[3]));
  fprintf(stderr, "remote-test: unknown case %s\n", argv[1]);
  return 2;
}
