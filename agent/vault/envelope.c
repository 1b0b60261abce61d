/* coffer — record envelopes (format in crypto.h and docs/sync-format.md),
 * plus library init and randomness.
 *
 * Envelopes arrive from untrusted storage (a WebDAV server, a synced folder),
 * so every length is checked against the buffer before it is used, with
 * arithmetic that cannot wrap, and nothing is decrypted before the framing
 * is known to be exactly right. */
#include "vault/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Byte offsets inside an envelope. */
enum {
  OFF_MAGIC = 0,
  OFF_KIND = 4,
  OFF_FLAGS = 5,
  OFF_ID = 6,
  OFF_HLC = OFF_ID + COFFER_ID_BYTES,          /* 22 */
  OFF_DEVICE = OFF_HLC + 8,                    /* 30 */
  HEADER_BYTES = OFF_DEVICE + COFFER_ID_BYTES, /* 46: magic..device */
  NONCE_BYTES = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
  TAG_BYTES = crypto_aead_xchacha20poly1305_ietf_ABYTES,
  OFF_META_NONCE = HEADER_BYTES,
  OFF_META_LEN = OFF_META_NONCE + NONCE_BYTES, /* 70 */
  OFF_META_CT = OFF_META_LEN + 4,              /* 74 */
  PART_FRAME_BYTES = NONCE_BYTES + 4,          /* nonce + length */
};

_Static_assert(HEADER_BYTES + 2 * PART_FRAME_BYTES + 2 * TAG_BYTES == COFFER_ENVELOPE_OVERHEAD,
               "COFFER_ENVELOPE_OVERHEAD out of date");
_Static_assert(COFFER_ENVELOPE_MAX_BYTES < UINT32_MAX, "part lengths must fit the u32 length fields");

static const uint8_t magic[4] = { 'C', 'F', 'R', '1' };
static const char ad_label[] = "coffer-record-v1"; /* used without its NUL */
#define AD_LABEL_BYTES (sizeof ad_label - 1)
#define AD_BYTES (AD_LABEL_BYTES + COFFER_ID_BYTES + HEADER_BYTES + 1)

#define KNOWN_FLAGS (COFFER_RECORD_FLAG_TOMBSTONE)

int
coffer_crypto_init(void)
{
  /* sodium_init() returns 1 when already initialised: not an error. */
  return sodium_init() < 0 ? COFFER_CRYPTO_ENOMEM : COFFER_CRYPTO_OK;
}

void
coffer_random(void *buf, size_t n)
{
  randombytes_buf(buf, n);
}

static uint32_t
load_be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t
load_be64(const uint8_t *p)
{
  return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

static void
store_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void
store_be64(uint8_t *p, uint64_t v)
{
  store_be32(p, (uint32_t)(v >> 32));
  store_be32(p + 4, (uint32_t)v);
}

static int
kind_known(uint8_t kind)
{
  return kind == COFFER_RECORD_COLLECTION || kind == COFFER_RECORD_ITEM;
}

/* Where the two ciphertext parts sit in a validated envelope. */
typedef struct {
  const uint8_t *meta_nonce, *meta_ct;
  size_t meta_ct_len;
  const uint8_t *secret_nonce, *secret_ct;
  size_t secret_ct_len; /* 0: no secret part */
} Parts;

/* Checks magic, kind, flags and that the two length fields account for
 * exactly env_len bytes.  Each length is compared against what is left of
 * the buffer before it is added to anything, so nothing can wrap. */
static int
parse(const uint8_t *env, size_t env_len, CofferRecordHeader *header, Parts *parts)
{
  if (env == NULL)
    return COFFER_CRYPTO_EINVAL;
  if (env_len < COFFER_ENVELOPE_OVERHEAD - TAG_BYTES /* secret part absent */
      || env_len > COFFER_ENVELOPE_MAX_BYTES)
    return COFFER_CRYPTO_EINVAL;
  if (memcmp(env + OFF_MAGIC, magic, 3) != 0)
    return COFFER_CRYPTO_EINVAL;
  if (env[OFF_MAGIC + 3] != magic[3])
    /* "CFR2".."CFR9": a later format we cannot read; anything else is junk. */
    return env[OFF_MAGIC + 3] > magic[3] && env[OFF_MAGIC + 3] <= '9' ? COFFER_CRYPTO_EVERSION : COFFER_CRYPTO_EINVAL;
  if (!kind_known(env[OFF_KIND]) || (env[OFF_FLAGS] & ~KNOWN_FLAGS) != 0)
    return COFFER_CRYPTO_EINVAL;

  size_t left = env_len - OFF_META_CT; /* >= 0 by the minimum above */
  size_t meta_len = load_be32(env + OFF_META_LEN);
  if (meta_len < TAG_BYTES || meta_len > left)
    return COFFER_CRYPTO_EINVAL;
  left -= meta_len;
  if (left < PART_FRAME_BYTES)
    return COFFER_CRYPTO_EINVAL;
  left -= PART_FRAME_BYTES;

  const uint8_t *secret_frame = env + OFF_META_CT + meta_len;
  size_t secret_len = load_be32(secret_frame + NONCE_BYTES);
  if (secret_len != left || (secret_len != 0 && secret_len < TAG_BYTES))
    return COFFER_CRYPTO_EINVAL;

  if (header != NULL) {
    header->kind = env[OFF_KIND];
    header->flags = env[OFF_FLAGS];
    memcpy(header->id, env + OFF_ID, COFFER_ID_BYTES);
    header->rev.hlc = load_be64(env + OFF_HLC);
    memcpy(header->rev.device, env + OFF_DEVICE, COFFER_ID_BYTES);
  }
  if (parts != NULL) {
    parts->meta_nonce = env + OFF_META_NONCE;
    parts->meta_ct = env + OFF_META_CT;
    parts->meta_ct_len = meta_len;
    parts->secret_nonce = secret_frame;
    parts->secret_ct = secret_frame + PART_FRAME_BYTES;
    parts->secret_ct_len = secret_len;
  }
  return COFFER_CRYPTO_OK;
}

int
coffer_envelope_parse_header(const uint8_t *env, size_t env_len, CofferRecordHeader *header)
{
  return parse(env, env_len, header, NULL);
}

/* The header bytes are copied from the envelope itself, so the AD covers
 * exactly what was stored, not a re-encoding of it. */
static void
build_ad(uint8_t ad[AD_BYTES], const uint8_t vault_id[COFFER_ID_BYTES], const uint8_t header_bytes[HEADER_BYTES],
         uint8_t part)
{
  memcpy(ad, ad_label, AD_LABEL_BYTES);
  memcpy(ad + AD_LABEL_BYTES, vault_id, COFFER_ID_BYTES);
  memcpy(ad + AD_LABEL_BYTES + COFFER_ID_BYTES, header_bytes, HEADER_BYTES);
  ad[AD_BYTES - 1] = part;
}

/* Writes nonce | len | ciphertext+tag at p; returns the bytes written. */
static size_t
seal_part(uint8_t *p, const uint8_t vk[COFFER_KEY_BYTES], const uint8_t ad[AD_BYTES], const uint8_t *plain,
          size_t plain_len)
{
  static const uint8_t empty[1];
  uint8_t *nonce = p, *ct = p + PART_FRAME_BYTES;
  unsigned long long ct_len = 0;

  randombytes_buf(nonce, NONCE_BYTES);
  store_be32(p + NONCE_BYTES, (uint32_t)(plain_len + TAG_BYTES));
  crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, plain ? plain : empty, plain_len, ad, AD_BYTES, NULL, nonce,
                                             vk);
  return PART_FRAME_BYTES + (size_t)ct_len;
}

int
coffer_envelope_seal(const uint8_t vk[COFFER_KEY_BYTES], const uint8_t vault_id[COFFER_ID_BYTES],
                     const CofferRecordHeader *header, const uint8_t *meta, size_t meta_len, const uint8_t *secret,
                     size_t secret_len, uint8_t **out, size_t *out_len)
{
  if (out == NULL || out_len == NULL)
    return COFFER_CRYPTO_EINVAL;
  *out = NULL;
  *out_len = 0;
  if (vk == NULL || vault_id == NULL || header == NULL)
    return COFFER_CRYPTO_EINVAL;
  if ((meta == NULL && meta_len != 0) || (secret == NULL && secret_len != 0))
    return COFFER_CRYPTO_EINVAL;
  if (!kind_known(header->kind) || (header->flags & ~KNOWN_FLAGS) != 0)
    return COFFER_CRYPTO_EINVAL;
  /* Checked one at a time first so the sum below cannot wrap. */
  if (meta_len > COFFER_ENVELOPE_MAX_PLAINTEXT || secret_len > COFFER_ENVELOPE_MAX_PLAINTEXT ||
      meta_len + secret_len > COFFER_ENVELOPE_MAX_PLAINTEXT)
    return COFFER_CRYPTO_EINVAL;

  size_t total = COFFER_ENVELOPE_OVERHEAD - TAG_BYTES + meta_len;
  if (secret != NULL)
    total += TAG_BYTES + secret_len;
  uint8_t *env = malloc(total);
  if (env == NULL)
    return COFFER_CRYPTO_ENOMEM;

  memcpy(env + OFF_MAGIC, magic, sizeof magic);
  env[OFF_KIND] = header->kind;
  env[OFF_FLAGS] = header->flags;
  memcpy(env + OFF_ID, header->id, COFFER_ID_BYTES);
  store_be64(env + OFF_HLC, header->rev.hlc);
  memcpy(env + OFF_DEVICE, header->rev.device, COFFER_ID_BYTES);

  uint8_t ad[AD_BYTES];
  size_t pos = HEADER_BYTES;
  build_ad(ad, vault_id, env, 'M');
  pos += seal_part(env + pos, vk, ad, meta, meta_len);
  if (secret != NULL) {
    build_ad(ad, vault_id, env, 'S');
    pos += seal_part(env + pos, vk, ad, secret, secret_len);
  } else {
    /* No secret part: a random nonce anyway, so the frame looks uniform. */
    randombytes_buf(env + pos, NONCE_BYTES);
    store_be32(env + pos + NONCE_BYTES, 0);
    pos += PART_FRAME_BYTES;
  }
  if (pos != total) { /* cannot happen; refuse rather than emit garbage */
    free(env);
    return COFFER_CRYPTO_EINVAL;
  }
  *out = env;
  *out_len = total;
  return COFFER_CRYPTO_OK;
}

static int
open_part(const uint8_t vk[COFFER_KEY_BYTES], const uint8_t vault_id[COFFER_ID_BYTES], const uint8_t *env,
          const uint8_t *nonce, const uint8_t *ct, size_t ct_len, uint8_t part, uint8_t *plain)
{
  uint8_t ad[AD_BYTES];
  build_ad(ad, vault_id, env, part);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, ct, ct_len, ad, AD_BYTES, nonce, vk) != 0)
    return COFFER_CRYPTO_EAUTH;
  return COFFER_CRYPTO_OK;
}

int
coffer_envelope_open_meta(const uint8_t vk[COFFER_KEY_BYTES], const uint8_t vault_id[COFFER_ID_BYTES],
                          const uint8_t *env, size_t env_len, uint8_t **meta, size_t *meta_len)
{
  if (meta == NULL || meta_len == NULL)
    return COFFER_CRYPTO_EINVAL;
  *meta = NULL;
  *meta_len = 0;
  if (vk == NULL || vault_id == NULL)
    return COFFER_CRYPTO_EINVAL;

  Parts parts;
  int rc = parse(env, env_len, NULL, &parts);
  if (rc != COFFER_CRYPTO_OK)
    return rc;

  size_t len = parts.meta_ct_len - TAG_BYTES;
  uint8_t *buf = malloc(len > 0 ? len : 1); /* non-NULL even when empty */
  if (buf == NULL)
    return COFFER_CRYPTO_ENOMEM;
  rc = open_part(vk, vault_id, env, parts.meta_nonce, parts.meta_ct, parts.meta_ct_len, 'M', buf);
  if (rc != COFFER_CRYPTO_OK) {
    free(buf);
    return rc;
  }
  *meta = buf;
  *meta_len = len;
  return COFFER_CRYPTO_OK;
}

int
coffer_envelope_open_secret(const uint8_t vk[COFFER_KEY_BYTES], const uint8_t vault_id[COFFER_ID_BYTES],
                            const uint8_t *env, size_t env_len, uint8_t **secret, size_t *secret_len)
{
  if (secret == NULL || secret_len == NULL)
    return COFFER_CRYPTO_EINVAL;
  *secret = NULL;
  *secret_len = 0;
  if (vk == NULL || vault_id == NULL)
    return COFFER_CRYPTO_EINVAL;

  Parts parts;
  int rc = parse(env, env_len, NULL, &parts);
  if (rc != COFFER_CRYPTO_OK || parts.secret_ct_len == 0)
    return rc;

  size_t len = parts.secret_ct_len - TAG_BYTES;
  /* Decrypt straight into guarded memory: the plaintext never touches the
   * ordinary heap. */
  uint8_t *buf = coffer_secure_alloc(len > 0 ? len : 1);
  if (buf == NULL)
    return COFFER_CRYPTO_ENOMEM;
  rc = open_part(vk, vault_id, env, parts.secret_nonce, parts.secret_ct, parts.secret_ct_len, 'S', buf);
  if (rc != COFFER_CRYPTO_OK) {
    coffer_secure_release(buf, len > 0 ? len : 1); /* wipes */
    return rc;
  }
  *secret = buf;
  *secret_len = len;
  return COFFER_CRYPTO_OK;
}
