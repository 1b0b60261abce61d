/* Fuzz target for the record envelope parser (agent/vault/envelope.c):
 * envelopes come from disk and, with sync, from an untrusted server.
 *
 * Properties beyond "does not crash": open_meta and open_secret never accept
 * what parse_header refuses, a failed open returns no buffer, and an
 * envelope sealed under the fuzz key opens to what was sealed.
 *
 * With -DCOFFER_LIBFUZZER it is a libFuzzer target; otherwise main() runs
 * the files named on the command line (the seed corpus), and
 * `--make-seeds DIR` writes valid seeds sealed under the fuzz key. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/crypto.h"

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "fuzz-envelope: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                          \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

static const uint8_t fuzz_key[COFFER_KEY_BYTES] = { 0x42 };
static const uint8_t fuzz_vault[COFFER_ID_BYTES] = { 0x17 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  CofferRecordHeader header;
  uint8_t *meta = NULL, *secret = NULL;
  size_t meta_len = 0, secret_len = 0;
  int parsed, rc_meta, rc_secret;

  if (coffer_crypto_init() != COFFER_CRYPTO_OK)
    abort();
  parsed = coffer_envelope_parse_header(data, size, &header);
  rc_meta = coffer_envelope_open_meta(fuzz_key, fuzz_vault, data, size, &meta, &meta_len);
  rc_secret = coffer_envelope_open_secret(fuzz_key, fuzz_vault, data, size, &secret, &secret_len);
  if (parsed != COFFER_CRYPTO_OK) {
    CHECK(rc_meta != COFFER_CRYPTO_OK && rc_secret != COFFER_CRYPTO_OK);
  }
  if (rc_meta != COFFER_CRYPTO_OK)
    CHECK(meta == NULL && meta_len == 0);
  if (rc_secret != COFFER_CRYPTO_OK)
    CHECK(secret == NULL && secret_len == 0);
  free(meta);
  if (secret != NULL)
    sodium_free(secret);
  return 0;
}

#ifndef COFFER_LIBFUZZER
static int
write_seed(const char *dir, const char *name, const CofferRecordHeader *header, const char *meta, const char *secret)
{
  uint8_t *env = NULL;
  size_t env_len = 0;
  char path[4096];
  FILE *f;

  if (coffer_envelope_seal(fuzz_key, fuzz_vault, header, (const uint8_t *)meta, strlen(meta), (const uint8_t *)secret,
                           secret ? strlen(secret) : 0, &env, &env_len) != 0)
    return 1;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (f == NULL || fwrite(env, 1, env_len, f) != env_len || fclose(f) != 0)
    return 1;
  free(env);
  return 0;
}

static int
make_seeds(const char *dir)
{
  CofferRecordHeader item = { COFFER_RECORD_ITEM, 0, { 1, 2, 3 }, { 1ull << 20, { 9 } } };
  CofferRecordHeader collection = { COFFER_RECORD_COLLECTION, 0, { 4, 5, 6 }, { 2ull << 20, { 8 } } };
  CofferRecordHeader tombstone = { COFFER_RECORD_ITEM, COFFER_RECORD_FLAG_TOMBSTONE, { 7 }, { 3ull << 20, { 7 } } };

  return write_seed(dir, "item", &item, "meta of an item", "the secret") |
         write_seed(dir, "collection", &collection, "meta of a collection", NULL) |
         write_seed(dir, "tombstone", &tombstone, "", NULL);
}

int
main(int argc, char **argv)
{
  int failed = 0;

  if (coffer_crypto_init() != COFFER_CRYPTO_OK)
    return 1;
  if (argc == 3 && strcmp(argv[1], "--make-seeds") == 0)
    return make_seeds(argv[2]);
  for (int i = 1; i < argc; i++) {
    static uint8_t buf[1 << 20];
    FILE *f = fopen(argv[i], "rb");
    size_t n;
    uint8_t *meta = NULL;
    size_t meta_len = 0;

    if (f == NULL) {
      perror(argv[i]);
      failed = 1;
      continue;
    }
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    /* Seeds are valid envelopes sealed under the fuzz key. */
    if (coffer_envelope_open_meta(fuzz_key, fuzz_vault, buf, n, &meta, &meta_len) != COFFER_CRYPTO_OK) {
      fprintf(stderr, "fuzz-envelope: seed %s does not open\n", argv[i]);
      failed = 1;
    }
    free(meta);
  }
  return failed;
}
#endif
