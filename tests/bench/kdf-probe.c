/* kdf-probe — times one Argon2id derivation with the given parameters, so
 * the benchmark can say how much of coffer's unlock is the KDF itself.
 * Usage: kdf-probe OPSLIMIT MEMLIMIT_BYTES; prints seconds on stdout. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double
now_seconds(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int
main(int argc, char **argv)
{
  static const char password[] = "kdf probe password";
  unsigned char key[32];
  unsigned char salt[crypto_pwhash_SALTBYTES];
  unsigned long long ops;
  size_t mem;
  double start;

  if (argc != 3 || sodium_init() < 0) {
    fprintf(stderr, "usage: kdf-probe OPSLIMIT MEMLIMIT_BYTES\n");
    return 2;
  }
  ops = strtoull(argv[1], NULL, 10);
  mem = (size_t)strtoull(argv[2], NULL, 10);
  randombytes_buf(salt, sizeof salt);
  start = now_seconds();
  if (crypto_pwhash(key, sizeof key, password, sizeof password - 1, salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) !=
      0) {
    fprintf(stderr, "kdf-probe: crypto_pwhash failed (out of memory?)\n");
    return 1;
  }
  printf("%.6f\n", now_seconds() - start);
  sodium_memzero(key, sizeof key);
  return 0;
}
