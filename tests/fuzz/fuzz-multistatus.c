/* Fuzz target for the WebDAV multistatus parser (agent/sync/multistatus.c):
 * its input comes from an untrusted server.
 *
 * Properties beyond "does not crash": a failure always comes with a
 * COFFER_REMOTE_ERROR, a success never with one; every listed name is a
 * coffer object name; every ETag is normalised (no "W/") and safe to send
 * back in a header; no name is listed twice.
 *
 * With -DCOFFER_LIBFUZZER it is a libFuzzer target; otherwise main() runs
 * the files named on the command line (the seed corpus).  `--expect` makes
 * the runner check the seed's name: "bad-*" seeds must be refused, the
 * others accepted. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/multistatus.h"
#include "sync/remote.h"

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "fuzz-multistatus: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                       \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_one(const uint8_t *data, size_t size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) entries = coffer_multistatus_list((const char *)data, size, "/dav/records/", &error);
  g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);

  if (entries == NULL) {
    CHECK(error != NULL && error->domain == COFFER_REMOTE_ERROR);
    return 0;
  }
  CHECK(error == NULL);
  for (guint i = 0; i < entries->len; i++) {
    const CofferRemoteEntry *e = entries->pdata[i];
    CHECK(e->name != NULL && *e->name != '\0' && strlen(e->name) <= 128);
    for (const char *p = e->name; *p; p++)
      CHECK((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-');
    CHECK(g_hash_table_add(names, e->name));
    if (e->etag != NULL) {
      CHECK(*e->etag != '\0' && !g_str_has_prefix(e->etag, "W/"));
      for (const char *p = e->etag; *p; p++)
        CHECK(*p > 0x20 && *p < 0x7f);
    }
  }
  return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  check_one(data, size);
  return 0;
}

#ifndef COFFER_LIBFUZZER
int
main(int argc, char **argv)
{
  gboolean expect = argc > 1 && strcmp(argv[1], "--expect") == 0;

  for (int i = expect ? 2 : 1; i < argc; i++) {
    g_autofree char *contents = NULL;
    g_autofree char *base = g_path_get_basename(argv[i]);
    gsize len;
    int accepted;

    if (!g_file_get_contents(argv[i], &contents, &len, NULL)) {
      fprintf(stderr, "fuzz-multistatus: cannot read %s\n", argv[i]);
      return 1;
    }
    accepted = check_one((const uint8_t *)contents, len);
    if (expect && accepted == g_str_has_prefix(base, "bad-")) {
      fprintf(stderr, "fuzz-multistatus: %s was %s\n", base, accepted ? "accepted" : "refused");
      return 1;
    }
  }
  return 0;
}
#endif
