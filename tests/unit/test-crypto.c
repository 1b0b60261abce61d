/* Unit tests for agent/vault/crypto.h: envelopes, key slots, HLC, lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "vault/crypto.h"

/* Wire offsets, spelled out here independently of envelope.c so the tests
 * pin the documented format rather than the implementation's constants. */
#define E_KIND 4
#define E_FLAGS 5
#define E_ID 6
#define E_HLC 22
#define E_DEVICE 30
#define E_META_NONCE 46
#define E_META_LEN 70
#define E_META_CT 74

static const uint8_t meta_text[] = "{\"label\":\"mail\",\"attrs\":{\"user\":\"a\"}}";
static const uint8_t secret_text[] = "hunter2-correct-horse";

typedef struct {
  uint8_t vk[COFFER_KEY_BYTES];
  uint8_t vault_id[COFFER_ID_BYTES];
  CofferRecordHeader hdr;
  uint8_t *env;
  size_t env_len;
} Fixture;

static int
is_failure(int rc)
{
  return rc == COFFER_CRYPTO_EAUTH || rc == COFFER_CRYPTO_EINVAL || rc == COFFER_CRYPTO_EVERSION;
}

static uint32_t
be32_at(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static int
setup_record(void **state)
{
  Fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  coffer_random(f->vk, sizeof f->vk);
  coffer_random(f->vault_id, sizeof f->vault_id);
  f->hdr.kind = COFFER_RECORD_ITEM;
  f->hdr.flags = 0;
  coffer_random(f->hdr.id, sizeof f->hdr.id);
  f->hdr.rev.hlc = UINT64_C(0x0123456789abcdef);
  coffer_random(f->hdr.rev.device, sizeof f->hdr.rev.device);
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, meta_text, sizeof meta_text, secret_text,
                                        sizeof secret_text, &f->env, &f->env_len),
                   COFFER_CRYPTO_OK);
  *state = f;
  return 0;
}

static int
teardown_record(void **state)
{
  Fixture *f = *state;
  free(f->env);
  free(f);
  return 0;
}

/* Opens both parts and checks they decrypt to the originals. */
static void
assert_opens(const Fixture *f, const uint8_t *env, size_t env_len)
{
  uint8_t *meta = NULL, *secret = NULL;
  size_t meta_len = 0, secret_len = 0;
  assert_int_equal(coffer_envelope_open_meta(f->vk, f->vault_id, env, env_len, &meta, &meta_len), COFFER_CRYPTO_OK);
  assert_int_equal(meta_len, sizeof meta_text);
  assert_memory_equal(meta, meta_text, meta_len);
  free(meta);
  assert_int_equal(coffer_envelope_open_secret(f->vk, f->vault_id, env, env_len, &secret, &secret_len),
                   COFFER_CRYPTO_OK);
  assert_int_equal(secret_len, sizeof secret_text);
  assert_memory_equal(secret, secret_text, secret_len);
  sodium_free(secret);
}

/* Expects both opens to fail without handing out any plaintext. */
static void
assert_both_fail(const Fixture *f, const uint8_t *env, size_t env_len, int expected)
{
  uint8_t *out = (uint8_t *)"sentinel";
  size_t out_len = 99;
  int rc = coffer_envelope_open_meta(f->vk, f->vault_id, env, env_len, &out, &out_len);
  assert_int_equal(rc, expected);
  assert_null(out);
  assert_int_equal(out_len, 0);
  out = (uint8_t *)"sentinel";
  out_len = 99;
  rc = coffer_envelope_open_secret(f->vk, f->vault_id, env, env_len, &out, &out_len);
  assert_int_equal(rc, expected);
  assert_null(out);
  assert_int_equal(out_len, 0);
}

/* ---- envelope ------------------------------------------------------------ */

static void
test_seal_open_round_trip(void **state)
{
  Fixture *f = *state;
  assert_int_equal(f->env_len, COFFER_ENVELOPE_OVERHEAD + sizeof meta_text + sizeof secret_text);
  assert_memory_equal(f->env, "CFR1", 4);
  assert_int_equal(be32_at(f->env + E_META_LEN), sizeof meta_text + 16);
  /* hlc is stored big-endian */
  static const uint8_t hlc_be[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };
  assert_memory_equal(f->env + E_HLC, hlc_be, 8);
  /* no plaintext leaks into the envelope */
  assert_null(memmem(f->env, f->env_len, secret_text, 8));
  assert_null(memmem(f->env, f->env_len, meta_text, 8));

  CofferRecordHeader h;
  memset(&h, 0xAA, sizeof h);
  assert_int_equal(coffer_envelope_parse_header(f->env, f->env_len, &h), COFFER_CRYPTO_OK);
  assert_int_equal(h.kind, f->hdr.kind);
  assert_int_equal(h.flags, f->hdr.flags);
  assert_memory_equal(h.id, f->hdr.id, COFFER_ID_BYTES);
  assert_int_equal(h.rev.hlc, f->hdr.rev.hlc);
  assert_memory_equal(h.rev.device, f->hdr.rev.device, COFFER_ID_BYTES);
  assert_opens(f, f->env, f->env_len);
}

static void
test_seal_without_secret(void **state)
{
  Fixture *f = *state;
  CofferRecordHeader hdr = f->hdr;
  hdr.kind = COFFER_RECORD_COLLECTION;
  hdr.flags = COFFER_RECORD_FLAG_TOMBSTONE;
  uint8_t *env = NULL, *meta = NULL, *secret = (uint8_t *)"x";
  size_t env_len = 0, meta_len = 0, secret_len = 7;
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &hdr, meta_text, sizeof meta_text, NULL, 0, &env, &env_len),
                   COFFER_CRYPTO_OK);
  assert_int_equal(env_len, COFFER_ENVELOPE_OVERHEAD - 16 + sizeof meta_text);
  assert_int_equal(be32_at(env + env_len - 4), 0); /* secret_len field */

  CofferRecordHeader h;
  assert_int_equal(coffer_envelope_parse_header(env, env_len, &h), COFFER_CRYPTO_OK);
  assert_int_equal(h.kind, COFFER_RECORD_COLLECTION);
  assert_int_equal(h.flags, COFFER_RECORD_FLAG_TOMBSTONE);
  assert_int_equal(coffer_envelope_open_meta(f->vk, f->vault_id, env, env_len, &meta, &meta_len), COFFER_CRYPTO_OK);
  assert_memory_equal(meta, meta_text, sizeof meta_text);
  free(meta);
  assert_int_equal(coffer_envelope_open_secret(f->vk, f->vault_id, env, env_len, &secret, &secret_len),
                   COFFER_CRYPTO_OK);
  assert_null(secret);
  assert_int_equal(secret_len, 0);
  free(env);
}

static void
test_empty_meta_and_empty_secret(void **state)
{
  Fixture *f = *state;
  static const uint8_t nothing[1];
  uint8_t *env = NULL, *meta = NULL, *secret = NULL;
  size_t env_len = 0, meta_len = 99, secret_len = 99;
  /* NULL meta with length 0, non-NULL secret with length 0 = empty secret */
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, NULL, 0, nothing, 0, &env, &env_len),
                   COFFER_CRYPTO_OK);
  assert_int_equal(env_len, COFFER_ENVELOPE_OVERHEAD);
  assert_int_equal(coffer_envelope_open_meta(f->vk, f->vault_id, env, env_len, &meta, &meta_len), COFFER_CRYPTO_OK);
  assert_non_null(meta);
  assert_int_equal(meta_len, 0);
  free(meta);
  assert_int_equal(coffer_envelope_open_secret(f->vk, f->vault_id, env, env_len, &secret, &secret_len),
                   COFFER_CRYPTO_OK);
  assert_non_null(secret);
  assert_int_equal(secret_len, 0);
  sodium_free(secret);
  free(env);
}

static void
test_nonces_fresh_per_seal(void **state)
{
  Fixture *f = *state;
  uint8_t *env = NULL;
  size_t env_len = 0;
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, meta_text, sizeof meta_text, secret_text,
                                        sizeof secret_text, &env, &env_len),
                   COFFER_CRYPTO_OK);
  assert_int_equal(env_len, f->env_len);
  assert_memory_equal(env, f->env, E_META_NONCE); /* same header */
  assert_memory_not_equal(env + E_META_NONCE, f->env + E_META_NONCE, 24);
  size_t s_nonce = E_META_CT + sizeof meta_text + 16;
  assert_memory_not_equal(env + s_nonce, f->env + s_nonce, 24);
  assert_memory_not_equal(env + E_META_NONCE, env + s_nonce, 24);
  free(env);
}

/* Flips bits in every byte of the envelope.  Whatever was hit, the open of
 * the part it belongs to must fail and return nothing; framing fields (the
 * header and both lengths) must break both opens; a part that was not
 * touched still opens to exactly its original plaintext. */
static void
test_tamper_every_byte(void **state)
{
  Fixture *f = *state;
  const size_t s_nonce = E_META_CT + sizeof meta_text + 16;
  const size_t s_len = s_nonce + 24;
  static const uint8_t masks[] = { 0x01, 0x80, 0xff };
  uint8_t *env = malloc(f->env_len);
  assert_non_null(env);

  for (size_t i = 0; i < f->env_len; i++) {
    for (size_t m = 0; m < sizeof masks; m++) {
      memcpy(env, f->env, f->env_len);
      env[i] ^= masks[m];
      int in_header = i < E_META_NONCE;
      int in_len = (i >= E_META_LEN && i < E_META_CT) || (i >= s_len && i < s_len + 4);
      int in_meta = (i >= E_META_NONCE && i < s_nonce) || in_header;
      int in_secret = i >= s_nonce || in_header;

      uint8_t *out = (uint8_t *)"sentinel";
      size_t out_len = 99;
      int rc = coffer_envelope_open_meta(f->vk, f->vault_id, env, f->env_len, &out, &out_len);
      if (in_meta || in_len) {
        if (!is_failure(rc))
          fail_msg("open_meta accepted a flip at byte %zu mask %02x", i, masks[m]);
        assert_null(out);
        assert_int_equal(out_len, 0);
      } else {
        assert_int_equal(rc, COFFER_CRYPTO_OK);
        assert_int_equal(out_len, sizeof meta_text);
        assert_memory_equal(out, meta_text, out_len);
        free(out);
      }

      out = (uint8_t *)"sentinel";
      out_len = 99;
      rc = coffer_envelope_open_secret(f->vk, f->vault_id, env, f->env_len, &out, &out_len);
      if (in_secret || in_len) {
        if (!is_failure(rc))
          fail_msg("open_secret accepted a flip at byte %zu mask %02x", i, masks[m]);
        assert_null(out);
        assert_int_equal(out_len, 0);
      } else {
        assert_int_equal(rc, COFFER_CRYPTO_OK);
        assert_int_equal(out_len, sizeof secret_text);
        assert_memory_equal(out, secret_text, out_len);
        sodium_free(out);
      }
      if (in_header || in_len) {
        CofferRecordHeader h;
        int prc = coffer_envelope_parse_header(env, f->env_len, &h);
        /* header fields other than magic/kind/flags are only caught by the
         * AEAD; lengths, magic, kind and unknown flags by the framing */
        if (in_len || i < E_ID)
          assert_true(prc == COFFER_CRYPTO_EINVAL || prc == COFFER_CRYPTO_EVERSION ||
                      (i == E_FLAGS && masks[m] == COFFER_RECORD_FLAG_TOMBSTONE));
      }
    }
  }
  free(env);
}

/* Valid-looking changes of authenticated header fields: the framing parses,
 * only the AEAD can notice. */
static void
test_header_changes_fail_auth(void **state)
{
  Fixture *f = *state;
  uint8_t *env = malloc(f->env_len);
  assert_non_null(env);
  const size_t fields[] = { E_KIND, E_FLAGS, E_ID, E_HLC + 7, E_DEVICE + 15 };
  const uint8_t values[] = { COFFER_RECORD_COLLECTION, COFFER_RECORD_FLAG_TOMBSTONE, 0, 0, 0 };
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
    memcpy(env, f->env, f->env_len);
    env[fields[k]] = values[k] ? values[k] : (uint8_t)(env[fields[k]] + 1);
    assert_int_equal(coffer_envelope_parse_header(env, f->env_len, NULL), COFFER_CRYPTO_OK);
    assert_both_fail(f, env, f->env_len, COFFER_CRYPTO_EAUTH);
  }
  free(env);
}

static void
test_wrong_vault_or_key(void **state)
{
  Fixture *f = *state;
  Fixture other = *f;
  other.vault_id[0] ^= 1;
  assert_both_fail(&other, f->env, f->env_len, COFFER_CRYPTO_EAUTH);
  other = *f;
  coffer_random(other.vk, sizeof other.vk);
  assert_both_fail(&other, f->env, f->env_len, COFFER_CRYPTO_EAUTH);
}

/* Re-frames the envelope with the two parts (nonce, length, ciphertext) in
 * swapped order: the framing is valid, the AD byte 'M'/'S' is not. */
static void
test_swapped_parts(void **state)
{
  Fixture *f = *state;
  const size_t meta_part = 24 + 4 + sizeof meta_text + 16;
  const size_t secret_part = 24 + 4 + sizeof secret_text + 16;
  uint8_t *env = malloc(f->env_len);
  assert_non_null(env);
  memcpy(env, f->env, E_META_NONCE);
  memcpy(env + E_META_NONCE, f->env + E_META_NONCE + meta_part, secret_part);
  memcpy(env + E_META_NONCE + secret_part, f->env + E_META_NONCE, meta_part);
  assert_int_equal(coffer_envelope_parse_header(env, f->env_len, NULL), COFFER_CRYPTO_OK);
  assert_both_fail(f, env, f->env_len, COFFER_CRYPTO_EAUTH);
  free(env);
}

/* The parts of one record grafted under another record's header (another id,
 * same everything else) must not open: no replay under another id. */
static void
test_record_moved_to_other_id(void **state)
{
  Fixture *f = *state;
  CofferRecordHeader b = f->hdr;
  coffer_random(b.id, sizeof b.id);
  uint8_t *env_b = NULL;
  size_t len_b = 0;
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &b, meta_text, sizeof meta_text, secret_text,
                                        sizeof secret_text, &env_b, &len_b),
                   COFFER_CRYPTO_OK);
  assert_int_equal(len_b, f->env_len);
  memcpy(env_b + E_META_NONCE, f->env + E_META_NONCE, f->env_len - E_META_NONCE);
  assert_both_fail(f, env_b, len_b, COFFER_CRYPTO_EAUTH);
  /* and the untouched original still opens */
  assert_opens(f, f->env, f->env_len);
  free(env_b);
}

static void
test_truncated_and_extended(void **state)
{
  Fixture *f = *state;
  uint8_t *env = malloc(f->env_len + 32);
  assert_non_null(env);
  memcpy(env, f->env, f->env_len);
  memset(env + f->env_len, 0, 32);
  for (size_t len = 0; len < f->env_len; len++) {
    assert_int_equal(coffer_envelope_parse_header(env, len, NULL), COFFER_CRYPTO_EINVAL);
    assert_both_fail(f, env, len, COFFER_CRYPTO_EINVAL);
  }
  for (size_t extra = 1; extra <= 32; extra++) {
    assert_int_equal(coffer_envelope_parse_header(env, f->env_len + extra, NULL), COFFER_CRYPTO_EINVAL);
    assert_both_fail(f, env, f->env_len + extra, COFFER_CRYPTO_EINVAL);
  }
  assert_int_equal(coffer_envelope_parse_header(NULL, 0, NULL), COFFER_CRYPTO_EINVAL);
  free(env);
}

/* Length fields that point past the end, or that would wrap a 32-bit sum. */
static void
test_bad_length_fields(void **state)
{
  Fixture *f = *state;
  uint8_t *env = malloc(f->env_len);
  assert_non_null(env);
  const size_t s_len = E_META_CT + sizeof meta_text + 16 + 24;
  const uint32_t bad[] = { 0, 15, UINT32_MAX, UINT32_MAX - 15, 0x80000000u };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    memcpy(env, f->env, f->env_len);
    put_be32(env + E_META_LEN, bad[k]);
    assert_both_fail(f, env, f->env_len, COFFER_CRYPTO_EINVAL);
    memcpy(env, f->env, f->env_len);
    put_be32(env + s_len, bad[k]);
    assert_both_fail(f, env, f->env_len, COFFER_CRYPTO_EINVAL);
  }
  free(env);
  /* a 1..15 byte secret part cannot hold a tag: refused even though the
   * lengths add up; the same bytes framed as meta only are fine */
  uint8_t small[COFFER_ENVELOPE_OVERHEAD - 16 + 8];
  memset(small, 0, sizeof small);
  memcpy(small, f->env, E_META_LEN);
  put_be32(small + E_META_LEN, 16);
  memset(small + E_META_CT, 0, 16 + 24);
  put_be32(small + E_META_CT + 16 + 24, 8);
  assert_int_equal(coffer_envelope_parse_header(small, sizeof small, NULL), COFFER_CRYPTO_EINVAL);
  put_be32(small + E_META_LEN, 24); /* same bytes, as an absent secret part */
  put_be32(small + E_META_CT + 24 + 24, 0);
  assert_int_equal(coffer_envelope_parse_header(small, sizeof small, NULL), COFFER_CRYPTO_OK);
  /* likewise a meta part shorter than a tag, lengths adding up */
  put_be32(small + E_META_LEN, 8);
  memset(small + E_META_CT + 8, 0, 24);
  put_be32(small + E_META_CT + 8 + 24, 16);
  assert_int_equal(coffer_envelope_parse_header(small, sizeof small, NULL), COFFER_CRYPTO_EINVAL);
  assert_both_fail(f, small, sizeof small, COFFER_CRYPTO_EINVAL);
}

static void
test_unknown_version_kind_flags(void **state)
{
  Fixture *f = *state;
  uint8_t *env = malloc(f->env_len);
  assert_non_null(env);
  memcpy(env, f->env, f->env_len);
  env[3] = '2';
  assert_int_equal(coffer_envelope_parse_header(env, f->env_len, NULL), COFFER_CRYPTO_EVERSION);
  assert_both_fail(f, env, f->env_len, COFFER_CRYPTO_EVERSION);
  env[3] = '0';
  assert_int_equal(coffer_envelope_parse_header(env, f->env_len, NULL), COFFER_CRYPTO_EINVAL);
  memcpy(env, f->env, f->env_len);
  env[E_KIND] = 3;
  assert_int_equal(coffer_envelope_parse_header(env, f->env_len, NULL), COFFER_CRYPTO_EINVAL);
  memcpy(env, f->env, f->env_len);
  env[E_FLAGS] = 0x02;
  assert_int_equal(coffer_envelope_parse_header(env, f->env_len, NULL), COFFER_CRYPTO_EINVAL);
  free(env);

  CofferRecordHeader h = f->hdr;
  uint8_t *out = (uint8_t *)"x";
  size_t out_len = 5;
  h.kind = 0;
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &h, meta_text, 1, NULL, 0, &out, &out_len),
                   COFFER_CRYPTO_EINVAL);
  assert_null(out);
  h = f->hdr;
  h.flags = 0x80;
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &h, meta_text, 1, NULL, 0, &out, &out_len),
                   COFFER_CRYPTO_EINVAL);
  /* NULL data with a length */
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, NULL, 4, NULL, 0, &out, &out_len),
                   COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, meta_text, 1, NULL, 4, &out, &out_len),
                   COFFER_CRYPTO_EINVAL);
}

/* The 64 MiB cap: exactly the cap seals and opens, one byte more is refused
 * both when sealing and when parsing a (consistent) oversized envelope. */
static void
test_size_cap(void **state)
{
  Fixture *f = *state;
  const size_t max = COFFER_ENVELOPE_MAX_PLAINTEXT;
  uint8_t *big = calloc(1, max + 1);
  assert_non_null(big);
  uint8_t *env = NULL, *secret = NULL;
  size_t env_len = 0, secret_len = 0;

  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, big, max - 10, big, 11, &env, &env_len),
                   COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, big, 1, big, max + 1, &env, &env_len),
                   COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, big, SIZE_MAX, big, SIZE_MAX, &env, &env_len),
                   COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_envelope_seal(f->vk, f->vault_id, &f->hdr, big, 10, big, max - 10, &env, &env_len),
                   COFFER_CRYPTO_OK);
  assert_int_equal(env_len, COFFER_ENVELOPE_MAX_BYTES);
  assert_int_equal(coffer_envelope_open_secret(f->vk, f->vault_id, env, env_len, &secret, &secret_len),
                   COFFER_CRYPTO_OK);
  assert_int_equal(secret_len, max - 10);
  sodium_free(secret);
  free(env);

  /* a hand-framed envelope one byte over the cap whose lengths add up */
  size_t over = COFFER_ENVELOPE_MAX_BYTES + 1;
  env = calloc(1, over);
  assert_non_null(env);
  memcpy(env, f->env, E_META_LEN);
  put_be32(env + E_META_LEN, 16);
  put_be32(env + E_META_CT + 16 + 24, (uint32_t)(over - (E_META_CT + 16 + 28)));
  assert_int_equal(coffer_envelope_parse_header(env, over, NULL), COFFER_CRYPTO_EINVAL);
  assert_both_fail(f, env, over, COFFER_CRYPTO_EINVAL);
  free(env);
  free(big);
}

/* ---- key slot ------------------------------------------------------------ */

static uint8_t *
new_vk(void)
{
  uint8_t *vk = sodium_malloc(COFFER_KEY_BYTES);
  assert_non_null(vk);
  return vk;
}

static void
put_be64(uint8_t *p, uint64_t v)
{
  put_be32(p, (uint32_t)(v >> 32));
  put_be32(p + 4, (uint32_t)v);
}

static void
test_keyslot_round_trip(void **state)
{
  (void)state;
  setenv("COFFER_KDF_FAST", "1", 1);
  CofferKdfParams p = coffer_kdf_default_params();
  assert_int_equal(p.opslimit, crypto_pwhash_OPSLIMIT_MIN);
  assert_int_equal(p.memlimit, crypto_pwhash_MEMLIMIT_MIN);

  uint8_t *vk = new_vk(), *out = new_vk();
  coffer_random(vk, COFFER_KEY_BYTES);
  uint8_t slot[COFFER_KEYSLOT_BYTES], slot2[COFFER_KEYSLOT_BYTES];
  assert_int_equal(coffer_keyslot_wrap(vk, "pw", 2, p, slot), COFFER_CRYPTO_OK);
  assert_memory_equal(slot, "CKS1", 4);
  uint8_t expect[16];
  put_be64(expect, p.opslimit);
  put_be64(expect + 8, p.memlimit);
  assert_memory_equal(slot + 4, expect, 16);
  assert_null(memmem(slot, sizeof slot, vk, 8));

  assert_int_equal(coffer_keyslot_unwrap(slot, "pw", 2, out), COFFER_CRYPTO_OK);
  assert_memory_equal(out, vk, COFFER_KEY_BYTES);

  /* fresh salt and nonce every wrap */
  assert_int_equal(coffer_keyslot_wrap(vk, "pw", 2, p, slot2), COFFER_CRYPTO_OK);
  assert_memory_not_equal(slot + 20, slot2 + 20, 16 + 24);

  /* empty password is a valid (if poor) password */
  assert_int_equal(coffer_keyslot_wrap(vk, "", 0, p, slot), COFFER_CRYPTO_OK);
  assert_int_equal(coffer_keyslot_unwrap(slot, NULL, 0, out), COFFER_CRYPTO_OK);
  assert_memory_equal(out, vk, COFFER_KEY_BYTES);
  sodium_free(vk);
  sodium_free(out);
}

static void
test_keyslot_wrong_password(void **state)
{
  (void)state;
  setenv("COFFER_KDF_FAST", "1", 1);
  uint8_t *vk = new_vk(), *out = new_vk();
  coffer_random(vk, COFFER_KEY_BYTES);
  uint8_t slot[COFFER_KEYSLOT_BYTES];
  assert_int_equal(coffer_keyslot_wrap(vk, "correct", 7, coffer_kdf_default_params(), slot), COFFER_CRYPTO_OK);
  memset(out, 0x5A, COFFER_KEY_BYTES);
  assert_int_equal(coffer_keyslot_unwrap(slot, "Correct", 7, out), COFFER_CRYPTO_EAUTH);
  static const uint8_t zero[COFFER_KEY_BYTES];
  assert_memory_equal(out, zero, COFFER_KEY_BYTES); /* nothing half-written */
  assert_int_equal(coffer_keyslot_unwrap(slot, "correct", 6, out), COFFER_CRYPTO_EAUTH);
  assert_int_equal(coffer_keyslot_unwrap(slot, "correct!", 8, out), COFFER_CRYPTO_EAUTH);
  assert_int_equal(coffer_keyslot_unwrap(slot, "correct", 7, out), COFFER_CRYPTO_OK);
  assert_memory_equal(out, vk, COFFER_KEY_BYTES);
  sodium_free(vk);
  sodium_free(out);
}

/* In-range parameter changes (what an attacker lowering the cost would do)
 * are caught by the AD, even where Argon2 would derive the same key. */
static void
test_keyslot_tampered_params(void **state)
{
  (void)state;
  setenv("COFFER_KDF_FAST", "1", 1);
  uint8_t *vk = new_vk(), *out = new_vk();
  coffer_random(vk, COFFER_KEY_BYTES);
  uint8_t slot[COFFER_KEYSLOT_BYTES], t[COFFER_KEYSLOT_BYTES];
  CofferKdfParams p = { 2, 16384 };
  assert_int_equal(coffer_keyslot_wrap(vk, "pw", 2, p, slot), COFFER_CRYPTO_OK);
  const CofferKdfParams lowered[] = { { 1, 16384 }, { 2, 8192 }, { 2, 16385 }, { 3, 16384 } };
  for (size_t k = 0; k < sizeof lowered / sizeof lowered[0]; k++) {
    memcpy(t, slot, sizeof t);
    put_be64(t + 4, lowered[k].opslimit);
    put_be64(t + 12, lowered[k].memlimit);
    assert_int_equal(coffer_keyslot_unwrap(t, "pw", 2, out), COFFER_CRYPTO_EAUTH);
  }
  /* every other byte too */
  for (size_t i = 0; i < sizeof slot; i++) {
    memcpy(t, slot, sizeof t);
    t[i] ^= 0x01;
    int rc = coffer_keyslot_unwrap(t, "pw", 2, out);
    if (!is_failure(rc))
      fail_msg("unwrap accepted a flip at byte %zu", i);
  }
  memcpy(t, slot, sizeof t);
  t[3] = '2';
  assert_int_equal(coffer_keyslot_unwrap(t, "pw", 2, out), COFFER_CRYPTO_EVERSION);
  sodium_free(vk);
  sodium_free(out);
}

/* Parameters that would make unlock hang or allocate without bound are
 * refused before the KDF runs: memlimit 2^62 would otherwise be ENOMEM, and
 * opslimit 2^32-1 would take days. */
static void
test_keyslot_absurd_params(void **state)
{
  (void)state;
  setenv("COFFER_KDF_FAST", "1", 1);
  uint8_t *vk = new_vk(), *out = new_vk();
  coffer_random(vk, COFFER_KEY_BYTES);
  uint8_t slot[COFFER_KEYSLOT_BYTES], t[COFFER_KEYSLOT_BYTES];
  assert_int_equal(coffer_keyslot_wrap(vk, "pw", 2, coffer_kdf_default_params(), slot), COFFER_CRYPTO_OK);
  const CofferKdfParams absurd[] = {
    { 0, 8192 },
    { UINT32_MAX, 8192 },
    { UINT64_MAX, 8192 },
    { COFFER_KDF_OPSLIMIT_CAP + 1, 8192 },
    { 1, 0 },
    { 1, 8191 },
    { 1, (uint64_t)COFFER_KDF_MEMLIMIT_CAP + 1 },
    { 1, UINT64_C(1) << 62 },
    { 1, UINT64_MAX },
  };
  for (size_t k = 0; k < sizeof absurd / sizeof absurd[0]; k++) {
    memcpy(t, slot, sizeof t);
    put_be64(t + 4, absurd[k].opslimit);
    put_be64(t + 12, absurd[k].memlimit);
    assert_int_equal(coffer_keyslot_unwrap(t, "pw", 2, out), COFFER_CRYPTO_EINVAL);
    assert_int_equal(coffer_keyslot_wrap(vk, "pw", 2, absurd[k], t), COFFER_CRYPTO_EINVAL);
  }
  sodium_free(vk);
  sodium_free(out);
}

/* One wrap with the real defaults: proves they are accepted by our own
 * bounds and reports the cost on this machine. */
static void
test_keyslot_default_params(void **state)
{
  (void)state;
  setenv("COFFER_KDF_FAST", "0", 1);
  CofferKdfParams p = coffer_kdf_default_params();
  unsetenv("COFFER_KDF_FAST");
  assert_true(p.opslimit >= 3);
  assert_true(p.memlimit >= 64u * 1024 * 1024);
  assert_true(p.memlimit <= COFFER_KDF_MEMLIMIT_CAP);
  CofferKdfParams q = coffer_kdf_default_params();
  assert_int_equal(q.opslimit, p.opslimit);
  assert_int_equal(q.memlimit, p.memlimit);

  uint8_t *vk = new_vk(), *out = new_vk();
  coffer_random(vk, COFFER_KEY_BYTES);
  uint8_t slot[COFFER_KEYSLOT_BYTES];
  assert_int_equal(coffer_keyslot_wrap(vk, "pw", 2, p, slot), COFFER_CRYPTO_OK);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(coffer_keyslot_unwrap(slot, "pw", 2, out), COFFER_CRYPTO_OK);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_memory_equal(out, vk, COFFER_KEY_BYTES);
  printf("# default KDF (ops %llu, %llu MiB) unwrap took %.3f s\n", (unsigned long long)p.opslimit,
         (unsigned long long)(p.memlimit >> 20), (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
  sodium_free(vk);
  sodium_free(out);
}

/* ---- HLC and revisions ----------------------------------------------------- */

static uint64_t
wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
test_hlc_monotonic(void **state)
{
  (void)state;
  CofferHlc clock = { 0 };
  uint64_t before = wall_ms();
  uint64_t prev = coffer_hlc_now(&clock);
  /* tracks the wall clock: the millisecond part is "now" */
  assert_true((prev >> 16) >= before && (prev >> 16) <= wall_ms());
  for (int i = 0; i < 100000; i++) {
    uint64_t t = coffer_hlc_now(&clock);
    if (t <= prev)
      fail_msg("HLC went from %llu to %llu at call %d", (unsigned long long)prev, (unsigned long long)t, i);
    prev = t;
  }
  assert_int_equal(clock.last, prev);
}

static void
test_hlc_observe_future(void **state)
{
  (void)state;
  CofferHlc clock = { 0 };
  uint64_t t0 = coffer_hlc_now(&clock);
  /* a remote ten years ahead */
  uint64_t remote = ((wall_ms() + UINT64_C(10) * 365 * 24 * 3600 * 1000) << 16) | 5;
  coffer_hlc_observe(&clock, remote);
  uint64_t t1 = coffer_hlc_now(&clock);
  assert_true(t1 > remote);
  assert_true(t1 > t0);
  assert_int_equal(t1, remote + 1);
  /* an older remote never moves it back */
  coffer_hlc_observe(&clock, t0);
  assert_true(coffer_hlc_now(&clock) > t1);
  /* a remote behind us that we have not seen still leaves us ahead of it */
  CofferHlc fresh = { 0 };
  coffer_hlc_observe(&fresh, t0 - 1000);
  assert_true(coffer_hlc_now(&fresh) > t0 - 1000);
}

static void
test_hlc_counter_overflow(void **state)
{
  (void)state;
  CofferHlc clock = { 0 };
  /* a millisecond in the future whose counter is exhausted */
  uint64_t ms = wall_ms() + 60000;
  clock.last = (ms << 16) | 0xFFFF;
  uint64_t t = coffer_hlc_now(&clock);
  assert_int_equal(t, (ms + 1) << 16);
  assert_int_equal(coffer_hlc_now(&clock), ((ms + 1) << 16) | 1);
  /* after 70000 calls the counter has wrapped once more, still ordered */
  uint64_t prev = clock.last;
  for (int i = 0; i < 70000; i++) {
    uint64_t n = coffer_hlc_now(&clock);
    assert_true(n > prev);
    prev = n;
  }
  assert_true((prev >> 16) == ms + 2);
  /* saturation is the documented exception */
  clock.last = UINT64_MAX;
  assert_int_equal(coffer_hlc_now(&clock), UINT64_MAX);
}

static void
test_revision_compare(void **state)
{
  (void)state;
  CofferRevision r[4];
  memset(r, 0, sizeof r);
  r[0].hlc = 100;
  r[0].device[0] = 0xFF; /* device bytes lose to a higher hlc */
  r[1].hlc = 101;
  r[1].device[15] = 0x01;
  r[2].hlc = 101;
  r[2].device[15] = 0x02;
  r[3].hlc = 101;
  r[3].device[0] = 0x01; /* memcmp order: first byte dominates */
  for (int i = 0; i < 4; i++) {
    assert_int_equal(coffer_revision_compare(&r[i], &r[i]), 0);
    for (int j = i + 1; j < 4; j++) {
      assert_true(coffer_revision_compare(&r[i], &r[j]) < 0);
      assert_true(coffer_revision_compare(&r[j], &r[i]) > 0);
    }
  }
  CofferRevision copy = r[2];
  assert_int_equal(coffer_revision_compare(&copy, &r[2]), 0);
  CofferRevision hi = { .hlc = UINT64_MAX }, lo = { .hlc = 0 };
  assert_true(coffer_revision_compare(&lo, &hi) < 0); /* no subtraction overflow */
  assert_true(coffer_revision_compare(&hi, &lo) > 0);
}

/* ---- lookup hashes ----------------------------------------------------------- */

static void
hash_ok(const uint8_t *lk, const char *name, const char *value, uint8_t *out)
{
  assert_int_equal(coffer_lookup_hash(lk, name, value, out), COFFER_CRYPTO_OK);
}

static void
test_lookup_hash(void **state)
{
  (void)state;
  uint8_t lk[COFFER_KEY_BYTES], lk2[COFFER_KEY_BYTES];
  coffer_random(lk, sizeof lk);
  memcpy(lk2, lk, sizeof lk2);
  lk2[31] ^= 1;
  uint8_t a[COFFER_HASH_BYTES], b[COFFER_HASH_BYTES];

  hash_ok(lk, "user", "alice", a);
  hash_ok(lk, "user", "alice", b);
  assert_memory_equal(a, b, sizeof a);

  /* known answer: keyed BLAKE2b-256 of "user\0alice" */
  uint8_t ref[COFFER_HASH_BYTES];
  crypto_generichash(ref, sizeof ref, (const uint8_t *)"user\0alice", 10, lk, sizeof lk);
  assert_memory_equal(a, ref, sizeof a);

  hash_ok(lk2, "user", "alice", b);
  assert_memory_not_equal(a, b, sizeof a);
  hash_ok(lk, "users", "alice", b);
  assert_memory_not_equal(a, b, sizeof a);
  hash_ok(lk, "user", "alicf", b);
  assert_memory_not_equal(a, b, sizeof a);
  hash_ok(lk, "user", "", b);
  assert_memory_not_equal(a, b, sizeof a);

  /* moving the boundary changes the hash */
  hash_ok(lk, "ab", "c", a);
  hash_ok(lk, "a", "bc", b);
  assert_memory_not_equal(a, b, sizeof a);
  hash_ok(lk, "", "abc", b);
  assert_memory_not_equal(a, b, sizeof a);
  hash_ok(lk, "abc", "", b);
  assert_memory_not_equal(a, b, sizeof a);
}

/* ("a", "b\0c") and ("a\0b", "c") would both hash "a\0b\0c": the second
 * cannot be expressed, because names containing NUL are refused. */
static void
test_lookup_boundary(void **state)
{
  (void)state;
  uint8_t lk[COFFER_KEY_BYTES];
  coffer_random(lk, sizeof lk);
  uint8_t a[COFFER_HASH_BYTES], b[COFFER_HASH_BYTES];
  memset(b, 0x77, sizeof b);

  assert_int_equal(coffer_lookup_hash_len(lk, "a", 1, "b\0c", 3, a), COFFER_CRYPTO_OK);
  assert_int_equal(coffer_lookup_hash_len(lk, "a\0b", 3, "c", 1, b), COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_lookup_hash_len(lk, "\0", 1, "", 0, b), COFFER_CRYPTO_EINVAL);
  /* a NUL in the value is just value bytes, distinct from the shorter value */
  assert_int_equal(coffer_lookup_hash_len(lk, "a", 1, "b", 1, b), COFFER_CRYPTO_OK);
  assert_memory_not_equal(a, b, sizeof a);
  /* C-string form equals the explicit-length form */
  hash_ok(lk, "a", "b", a);
  assert_memory_equal(a, b, sizeof a);

  assert_int_equal(coffer_lookup_hash(lk, NULL, "v", a), COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_lookup_hash(lk, "n", NULL, a), COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_lookup_hash(NULL, "n", "v", a), COFFER_CRYPTO_EINVAL);
  assert_int_equal(coffer_lookup_hash_len(lk, NULL, 2, "v", 1, a), COFFER_CRYPTO_EINVAL);
}

int
main(void)
{
  if (coffer_crypto_init() != COFFER_CRYPTO_OK)
    return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_seal_open_round_trip, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_seal_without_secret, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_empty_meta_and_empty_secret, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_nonces_fresh_per_seal, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_tamper_every_byte, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_header_changes_fail_auth, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_wrong_vault_or_key, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_swapped_parts, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_record_moved_to_other_id, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_truncated_and_extended, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_bad_length_fields, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_unknown_version_kind_flags, setup_record, teardown_record),
    cmocka_unit_test_setup_teardown(test_size_cap, setup_record, teardown_record),
    cmocka_unit_test(test_keyslot_round_trip),
    cmocka_unit_test(test_keyslot_wrong_password),
    cmocka_unit_test(test_keyslot_tampered_params),
    cmocka_unit_test(test_keyslot_absurd_params),
    cmocka_unit_test(test_keyslot_default_params),
    cmocka_unit_test(test_hlc_monotonic),
    cmocka_unit_test(test_hlc_observe_future),
    cmocka_unit_test(test_hlc_counter_overflow),
    cmocka_unit_test(test_revision_compare),
    cmocka_unit_test(test_lookup_hash),
    cmocka_unit_test(test_lookup_boundary),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
