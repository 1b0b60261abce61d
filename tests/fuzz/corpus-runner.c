/* The seed-corpus runner shared by the fuzz targets (see corpus-runner.h). */
#include "corpus-runner.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>

int
coffer_fuzz_corpus_main(const char *name, int argc, char **argv, int (*run)(const uint8_t *data, size_t size))
{
  static uint8_t buf[1024 * 1024];
  int expect = argc > 1 && strcmp(argv[1], "--expect") == 0;
  int failed = 0, ran = 0;

  for (int i = 1 + expect; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    char copy[4096];
    size_t n;
    int valid, want_bad;

    if (f == NULL) {
      perror(argv[i]);
      return 1;
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    valid = run(buf, n);
    snprintf(copy, sizeof copy, "%s", argv[i]);
    want_bad = strncmp(basename(copy), "bad-", 4) == 0;
    if (expect && valid == want_bad) {
      fprintf(stderr, "%s: %s: expected %s\n", name, argv[i], want_bad ? "a rejection" : "success");
      failed = 1;
    }
    ran++;
  }
  printf("%s: %d input(s) run\n", name, ran);
  return failed;
}
