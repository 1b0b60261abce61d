/* coffer — Diffie-Hellman over RFC 2409 group 2 and the HKDF that turns the
 * shared secret into the session's AES key.  libgcrypt does the bignum and
 * HMAC work; this file only wires the steps together and validates input. */
#include "transport-private.h"

#include <string.h>

/* RFC 2409 section 6.2, "Second Oakley Group": 2^1024 - 2^960 - 1 +
 * 2^64 * { [2^894 pi] + 129093 }, a safe prime (p = 2q + 1, q prime). */
static const char group2_prime_hex[] = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD1"
                                       "29024E088A67CC74020BBEA63B139B22514A08798E3404DD"
                                       "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245"
                                       "E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
                                       "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381"
                                       "FFFFFFFFFFFFFFFF";
#define GROUP2_GENERATOR 2

/* Full-length exponent, uniformly random below 2^1023 (< p): the session's
 * secrecy then rests on the group's discrete logarithm alone, not on the
 * extra short-exponent assumption.  It costs about a millisecond per
 * OpenSession, which is nothing next to the D-Bus round trip. */
#define PRIVATE_EXPONENT_BITS 1023

static gboolean
fail_crypto(GError **error, const char *what, gcry_error_t err)
{
  g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, "Transport %s failed: %s", what, gcry_strerror(err));
  return FALSE;
}

static gboolean
fail_invalid_key(GError **error)
{
  g_set_error_literal(error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "Invalid DH public key");
  return FALSE;
}

static gcry_mpi_t
group2_prime(void)
{
  gcry_mpi_t p = NULL;
  gcry_error_t err = gcry_mpi_scan(&p, GCRYMPI_FMT_HEX, group2_prime_hex, 0, NULL);
  g_assert(err == 0); /* a constant: it cannot fail to parse */
  return p;
}

/* Writes v big-endian into out, left-padded with zeros to exactly
 * COFFER_DH_BYTES; every value mod p fits. */
static gboolean
mpi_to_fixed(gcry_mpi_t v, guint8 out[COFFER_DH_BYTES], GError **error)
{
  size_t len = (gcry_mpi_get_nbits(v) + 7) / 8;
  size_t written = 0;

  g_assert(len <= COFFER_DH_BYTES);
  memset(out, 0, COFFER_DH_BYTES - len);
  if (len == 0)
    return TRUE;
  gcry_error_t err = gcry_mpi_print(GCRYMPI_FMT_USG, out + COFFER_DH_BYTES - len, len, &written, v);
  if (err != 0)
    return fail_crypto(error, "number encoding", err);
  g_assert(written == len);
  return TRUE;
}

/* 1 < y < p-1 excludes the only small subgroups of a safe-prime group
 * ({1} and {1, p-1}), so no further membership test is needed. */
static gcry_mpi_t
parse_peer_public(const guint8 *peer, gsize peer_len, gcry_mpi_t p, GError **error)
{
  if (peer == NULL || peer_len == 0 || peer_len > COFFER_DH_BYTES) {
    fail_invalid_key(error);
    return NULL;
  }
  g_auto(gcry_mpi_t) y = NULL;
  gcry_error_t err = gcry_mpi_scan(&y, GCRYMPI_FMT_USG, peer, peer_len, NULL);
  if (err != 0) {
    fail_crypto(error, "number decoding", err);
    return NULL;
  }
  g_auto(gcry_mpi_t) p_minus_1 = gcry_mpi_new(0);
  gcry_mpi_sub_ui(p_minus_1, p, 1);
  if (gcry_mpi_cmp_ui(y, 1) <= 0 || gcry_mpi_cmp(y, p_minus_1) >= 0) {
    fail_invalid_key(error);
    return NULL;
  }
  return g_steal_pointer(&y);
}

static gcry_mpi_t
new_private_exponent(void)
{
  /* "snew": gcrypt marks it secret and wipes its limbs on release. */
  gcry_mpi_t x = gcry_mpi_snew(PRIVATE_EXPONENT_BITS);
  do
    gcry_mpi_randomize(x, PRIVATE_EXPONENT_BITS, GCRY_STRONG_RANDOM);
  while (gcry_mpi_cmp_ui(x, 1) <= 0);
  return x;
}

gboolean
coffer_transport_dh_agree(const guint8 *peer, gsize peer_len, guint8 server_public[COFFER_DH_BYTES], guint8 *aes_key,
                          GError **error)
{
  g_auto(gcry_mpi_t) p = group2_prime();
  g_auto(gcry_mpi_t) y = parse_peer_public(peer, peer_len, p, error);
  if (y == NULL)
    return FALSE;

  g_auto(gcry_mpi_t) x = new_private_exponent();
  g_auto(gcry_mpi_t) g = gcry_mpi_set_ui(NULL, GROUP2_GENERATOR);
  g_auto(gcry_mpi_t) ours = gcry_mpi_new(0);
  gcry_mpi_powm(ours, g, x, p);
  if (!mpi_to_fixed(ours, server_public, error))
    return FALSE;

  g_auto(gcry_mpi_t) shared = gcry_mpi_snew(0);
  gcry_mpi_powm(shared, y, x, p);
  g_auto(CofferSecureBytes) shared_bytes = sodium_malloc(COFFER_DH_BYTES);
  if (shared_bytes == NULL) {
    g_set_error_literal(error, G_DBUS_ERROR, G_DBUS_ERROR_NO_MEMORY, "Out of secure memory");
    return FALSE;
  }
  /* The fixed 128-byte form matters: peers that strip leading zeros here
   * derive a different key about once in 256 sessions. */
  if (!mpi_to_fixed(shared, shared_bytes, error))
    return FALSE;
  if (!coffer_transport_hkdf_sha256(shared_bytes, COFFER_DH_BYTES, aes_key, COFFER_AES_KEY_BYTES))
    return fail_crypto(error, "key derivation", GPG_ERR_GENERAL);
  return TRUE;
}

static gboolean
hmac_sha256(const guint8 *key, gsize key_len, const guint8 *msg, gsize msg_len, guint8 out[COFFER_SHA256_BYTES])
{
  g_auto(gcry_md_hd_t) md = NULL;
  if (gcry_md_open(&md, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC | GCRY_MD_FLAG_SECURE) != 0)
    return FALSE;
  if (gcry_md_setkey(md, key, key_len) != 0)
    return FALSE;
  gcry_md_write(md, msg, msg_len);
  const unsigned char *digest = gcry_md_read(md, GCRY_MD_SHA256);
  if (digest == NULL)
    return FALSE;
  memcpy(out, digest, COFFER_SHA256_BYTES);
  return TRUE; /* gcry_md_close wipes the context and digest */
}

/* libgcrypt 1.10 has no HKDF, so the two HMAC steps of RFC 5869 are spelled
 * out; HMAC itself is gcrypt's. */
gboolean
coffer_transport_hkdf_sha256(const guint8 *ikm, gsize ikm_len, guint8 *okm, gsize okm_len)
{
  /* RFC 5869 2.2: an absent salt is HashLen zero bytes (HMAC pads an empty
   * key to the same thing, so this equals the "empty salt" wording). */
  static const guint8 zero_salt[COFFER_SHA256_BYTES] = { 0 };
  /* Expand with empty info needs only T(1) = HMAC(PRK, 0x01). */
  static const guint8 first_block = 0x01;

  g_return_val_if_fail(okm_len <= COFFER_SHA256_BYTES, FALSE);
  g_auto(CofferSecureBytes) prk = sodium_malloc(COFFER_SHA256_BYTES);
  g_auto(CofferSecureBytes) t1 = sodium_malloc(COFFER_SHA256_BYTES);
  if (prk == NULL || t1 == NULL)
    return FALSE;
  if (!hmac_sha256(zero_salt, sizeof zero_salt, ikm, ikm_len, prk))
    return FALSE;
  if (!hmac_sha256(prk, COFFER_SHA256_BYTES, &first_block, 1, t1))
    return FALSE;
  memcpy(okm, t1, okm_len);
  return TRUE;
}
