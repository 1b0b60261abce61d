/* coffer — attribute lookup hashes: keyed BLAKE2b-256(LK, name | 0x00 | value).
 *
 * The hash input must be a unique encoding of (name, value), or two different
 * attributes could collide on purpose.  Names never contain NUL (D-Bus strings
 * cannot), so the first 0x00 ends the name; a name with a NUL is refused so
 * the assumption is checked rather than trusted. */
#include "vault/crypto.h"

#include <sodium.h>
#include <string.h>

_Static_assert(COFFER_HASH_BYTES >= crypto_generichash_BYTES_MIN && COFFER_HASH_BYTES <= crypto_generichash_BYTES_MAX,
               "lookup hash size");
_Static_assert(COFFER_KEY_BYTES >= crypto_generichash_KEYBYTES_MIN &&
                   COFFER_KEY_BYTES <= crypto_generichash_KEYBYTES_MAX,
               "lookup key size");

int
coffer_lookup_hash_len(const uint8_t lk[COFFER_KEY_BYTES], const char *name, size_t name_len, const char *value,
                       size_t value_len, uint8_t out[COFFER_HASH_BYTES])
{
  static const uint8_t sep = 0x00;

  if (lk == NULL || out == NULL || (name == NULL && name_len != 0) || (value == NULL && value_len != 0))
    return COFFER_CRYPTO_EINVAL;
  if (name_len != 0 && memchr(name, '\0', name_len) != NULL)
    return COFFER_CRYPTO_EINVAL;

  crypto_generichash_state st;
  int rc = crypto_generichash_init(&st, lk, COFFER_KEY_BYTES, COFFER_HASH_BYTES);
  if (rc == 0 && name_len != 0)
    rc = crypto_generichash_update(&st, (const uint8_t *)name, name_len);
  if (rc == 0)
    rc = crypto_generichash_update(&st, &sep, 1);
  if (rc == 0 && value_len != 0)
    rc = crypto_generichash_update(&st, (const uint8_t *)value, value_len);
  if (rc == 0)
    rc = crypto_generichash_final(&st, out, COFFER_HASH_BYTES);
  sodium_memzero(&st, sizeof st); /* holds key-derived state */
  return rc == 0 ? COFFER_CRYPTO_OK : COFFER_CRYPTO_EINVAL;
}

int
coffer_lookup_hash(const uint8_t lk[COFFER_KEY_BYTES], const char *name, const char *value,
                   uint8_t out[COFFER_HASH_BYTES])
{
  if (name == NULL || value == NULL)
    return COFFER_CRYPTO_EINVAL;
  return coffer_lookup_hash_len(lk, name, strlen(name), value, strlen(value), out);
}
