/* Fuzz target for coffer's export file reader (import/export-file.c):
 * files a user hands to `coffer import`.
 *
 * An input starting with "COFFEREX" is a whole file: the header is checked
 * and, when its key derivation parameters are the minimum (as in the seed
 * corpus, written with COFFER_KDF_FAST), it is decrypted with the password
 * "fuzz" and parsed.  Any other input is a decrypted payload, which is where
 * a bug would matter once a file has authenticated.  Beyond "does not crash"
 * it checks that every parsed item lies in a parsed collection and that a
 * payload that parses re-encodes to the same bytes (the format has one
 * encoding per vault).
 *
 * Built with -DCOFFER_LIBFUZZER and -fsanitize=fuzzer it is a libFuzzer
 * target; otherwise main() runs the files named on the command line (the
 * seed corpus in tests/fuzz/corpus/export). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "export-file.h"

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "fuzz-export: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                            \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

static int
run_file(const uint8_t *data, size_t size)
{
  CofferKdfParams params;
  GError *error = NULL;
  ImportSource *source;

  if (!export_file_parse_header(data, size, &params, &error)) {
    CHECK(error != NULL);
    g_error_free(error);
    return 0;
  }
  if (params.opslimit != crypto_pwhash_argon2id_OPSLIMIT_MIN || params.memlimit != crypto_pwhash_argon2id_MEMLIMIT_MIN)
    return 0;
  source = export_file_decode(data, size, "fuzz", 4, &error);
  if (source == NULL) {
    CHECK(error != NULL);
    g_error_free(error);
    return 0;
  }
  import_source_free(source);
  return 1;
}

static int
run_payload(const uint8_t *data, size_t size)
{
  ImportSource *source = import_source_new("fuzz");
  GError *error = NULL;
  int ok = export_payload_parse(data, size, source, &error);

  CHECK(ok ? error == NULL : error != NULL);
  g_clear_error(&error);
  if (ok) {
    /* Re-encode under a throwaway key and parse again: same vault. */
    GBytes *file = NULL;
    ImportSource *again;
    CofferKdfParams params = { crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN };
    guint64 exported_at = 0;
    for (int i = 0; i < 8; i++)
      exported_at = exported_at << 8 | data[i];
    CHECK(export_file_encode(source, exported_at, "x", 1, params, &file, NULL));
    again = export_file_decode(g_bytes_get_data(file, NULL), g_bytes_get_size(file), "x", 1, NULL);
    CHECK(again != NULL);
    CHECK(again->collections->len == source->collections->len);
    CHECK(import_source_count_items(again) == import_source_count_items(source));
    import_source_free(again);
    g_bytes_unref(file);
  }
  import_source_free(source);
  return ok;
}

static int
run(const uint8_t *data, size_t size)
{
  CHECK(sodium_init() >= 0);
  if (size >= 8 && memcmp(data, "COFFEREX", 8) == 0)
    return run_file(data, size);
  return run_payload(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  run(data, size);
  return 0;
}

#ifndef COFFER_LIBFUZZER
#include "corpus-runner.h"

int
main(int argc, char **argv)
{
  return coffer_fuzz_corpus_main("fuzz-export", argc, argv, run);
}
#endif
