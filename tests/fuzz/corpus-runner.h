/* The seed-corpus runner shared by the fuzz targets' plain builds: each
 * file named on the command line goes through run(); with --expect, a file
 * whose name starts with "bad-" must be rejected (run returns 0) and any
 * other accepted (run returns non-zero).  Returns the process exit code. */
#pragma once

#include <stddef.h>
#include <stdint.h>

int coffer_fuzz_corpus_main(const char *name, int argc, char **argv, int (*run)(const uint8_t *data, size_t size));
