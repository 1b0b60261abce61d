/* coffer — key slots: the vault key VK wrapped under Argon2id(password).
 *
 * A slot may come from untrusted storage (the account slot lives in the
 * remote vault header), so its KDF parameters are range-checked before the
 * KDF runs, and they are part of the AEAD associated data so that lowering
 * them makes the slot fail to open instead of making it cheaper to attack. */
#include "vault/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum {
  OFF_OPS = 4,
  OFF_MEM = OFF_OPS + 8,
  OFF_SALT = OFF_MEM + 8,
  OFF_NONCE = OFF_SALT + crypto_pwhash_argon2id_SALTBYTES,           /* 36 */
  OFF_CT = OFF_NONCE + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, /* 60 */
};

_Static_assert(crypto_pwhash_argon2id_SALTBYTES == 16, "salt size in format");
_Static_assert(crypto_pwhash_argon2id_PASSWD_MIN == 0, "empty passwords allowed");
_Static_assert(OFF_CT + COFFER_KEY_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES == COFFER_KEYSLOT_BYTES,
               "COFFER_KEYSLOT_BYTES out of date");

static const uint8_t magic[4] = { 'C', 'K', 'S', '1' };
static const char ad_label[] = "coffer-keyslot-v1"; /* used without its NUL */
#define AD_LABEL_BYTES (sizeof ad_label - 1)
#define AD_BYTES (AD_LABEL_BYTES + OFF_NONCE)

/* Measured on the development machine (AMD EPYC, 2 vCPUs, libsodium 1.0.18),
 * best of 3 runs of crypto_pwhash for a 32-byte key:
 *   ops 2:  64 MiB 0.055 s  128 MiB 0.125 s  256 MiB 0.250 s
 *   ops 3:  64 MiB 0.072 s  128 MiB 0.150 s  256 MiB 0.330 s
 *   ops 4:  64 MiB 0.078 s  128 MiB 0.187 s  256 MiB 0.400 s
 * ops 3 / 256 MiB lands at 0.33 s here, leaving headroom for a slower laptop
 * to stay near 0.5 s; memory is what makes GPU guessing expensive, so it gets
 * the budget rather than passes. */
#define DEFAULT_OPSLIMIT 3u
#define DEFAULT_MEMLIMIT (256u * 1024 * 1024)

CofferKdfParams
coffer_kdf_default_params(void)
{
  const char *fast = getenv("COFFER_KDF_FAST");
  if (fast != NULL && strcmp(fast, "1") == 0)
    return (CofferKdfParams){ crypto_pwhash_argon2id_OPSLIMIT_MIN, crypto_pwhash_argon2id_MEMLIMIT_MIN };
  return (CofferKdfParams){ DEFAULT_OPSLIMIT, DEFAULT_MEMLIMIT };
}

static int
params_valid(CofferKdfParams p)
{
  return p.opslimit >= crypto_pwhash_argon2id_OPSLIMIT_MIN && p.opslimit <= crypto_pwhash_argon2id_OPSLIMIT_MAX &&
         p.opslimit <= COFFER_KDF_OPSLIMIT_CAP && p.memlimit >= crypto_pwhash_argon2id_MEMLIMIT_MIN &&
         p.memlimit <= crypto_pwhash_argon2id_MEMLIMIT_MAX && p.memlimit <= COFFER_KDF_MEMLIMIT_CAP;
}

static int
password_valid(const char *password, size_t password_len)
{
  if (password == NULL && password_len != 0)
    return 0;
  /* PASSWD_MIN is 0 (asserted above), so only the maximum needs a check. */
  return password_len <= crypto_pwhash_argon2id_PASSWD_MAX;
}

static void
store_be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t
load_be64(const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | p[i];
  return v;
}

/* Derives the key-encryption key into fresh sodium memory; *kek is NULL on
 * error.  Parameters must already be validated. */
static int
derive_kek(const char *password, size_t password_len, const uint8_t *salt, CofferKdfParams params, uint8_t **kek)
{
  *kek = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  if (*kek == NULL)
    return COFFER_CRYPTO_ENOMEM;
  if (crypto_pwhash(*kek, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, password != NULL ? password : "", password_len,
                    salt, params.opslimit, (size_t)params.memlimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    /* With valid parameters the only failure is running out of memory. */
    sodium_free(*kek);
    *kek = NULL;
    return COFFER_CRYPTO_ENOMEM;
  }
  return COFFER_CRYPTO_OK;
}

static void
build_ad(uint8_t ad[AD_BYTES], const uint8_t slot[COFFER_KEYSLOT_BYTES])
{
  memcpy(ad, ad_label, AD_LABEL_BYTES);
  memcpy(ad + AD_LABEL_BYTES, slot, OFF_NONCE); /* magic..salt */
}

int
coffer_keyslot_wrap(const uint8_t vk[COFFER_KEY_BYTES], const char *password, size_t password_len,
                    CofferKdfParams params, uint8_t slot[COFFER_KEYSLOT_BYTES])
{
  if (vk == NULL || slot == NULL || !password_valid(password, password_len) || !params_valid(params))
    return COFFER_CRYPTO_EINVAL;

  memcpy(slot, magic, sizeof magic);
  store_be64(slot + OFF_OPS, params.opslimit);
  store_be64(slot + OFF_MEM, params.memlimit);
  randombytes_buf(slot + OFF_SALT, OFF_NONCE - OFF_SALT);
  randombytes_buf(slot + OFF_NONCE, OFF_CT - OFF_NONCE);

  uint8_t *kek;
  int rc = derive_kek(password, password_len, slot + OFF_SALT, params, &kek);
  if (rc != COFFER_CRYPTO_OK) {
    sodium_memzero(slot, COFFER_KEYSLOT_BYTES);
    return rc;
  }
  uint8_t ad[AD_BYTES];
  build_ad(ad, slot);
  crypto_aead_xchacha20poly1305_ietf_encrypt(slot + OFF_CT, NULL, vk, COFFER_KEY_BYTES, ad, AD_BYTES, NULL,
                                             slot + OFF_NONCE, kek);
  sodium_free(kek);
  return COFFER_CRYPTO_OK;
}

int
coffer_keyslot_unwrap(const uint8_t slot[COFFER_KEYSLOT_BYTES], const char *password, size_t password_len,
                      uint8_t vk[COFFER_KEY_BYTES])
{
  if (slot == NULL || vk == NULL || !password_valid(password, password_len))
    return COFFER_CRYPTO_EINVAL;
  if (memcmp(slot, magic, 3) != 0)
    return COFFER_CRYPTO_EINVAL;
  if (slot[3] != magic[3])
    /* "CKS2".."CKS9": a later slot format we cannot read. */
    return slot[3] > magic[3] && slot[3] <= '9' ? COFFER_CRYPTO_EVERSION : COFFER_CRYPTO_EINVAL;

  CofferKdfParams params = { load_be64(slot + OFF_OPS), load_be64(slot + OFF_MEM) };
  if (!params_valid(params))
    return COFFER_CRYPTO_EINVAL;

  uint8_t *kek;
  int rc = derive_kek(password, password_len, slot + OFF_SALT, params, &kek);
  if (rc != COFFER_CRYPTO_OK)
    return rc;
  uint8_t ad[AD_BYTES];
  build_ad(ad, slot);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(vk, NULL, NULL, slot + OFF_CT, COFFER_KEYSLOT_BYTES - OFF_CT, ad,
                                                 AD_BYTES, slot + OFF_NONCE, kek) != 0) {
    sodium_memzero(vk, COFFER_KEY_BYTES);
    rc = COFFER_CRYPTO_EAUTH;
  }
  sodium_free(kek);
  return rc;
}
