/* Unit tests for agent/transport: the Secret Service session algorithms.
 *
 * The dh tests play the client with libgcrypt directly (own copy of the
 * group, own HKDF with a literally empty salt), so a mistake in the agent's
 * encoding or key derivation shows up as a failed round trip.
 * tests/service/dh_crosscheck.py checks the same against Python. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "transport/transport.h"
#include "transport/transport-private.h"

#define DH "dh-ietf1024-sha256-aes128-cbc-pkcs7"
#define LEN 128

/* RFC 2409 6.2, copied as the RFC prints it. */
static const char rfc2409_group2[] = "FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1"
                                     "29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD"
                                     "EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245"
                                     "E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED"
                                     "EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE65381"
                                     "FFFFFFFF FFFFFFFF";

/* ---- client side, written against gcrypt directly ---- */

static gcry_mpi_t
test_prime(void)
{
  g_autoptr(GString) hex = g_string_new(NULL);
  for (const char *c = rfc2409_group2; *c; c++)
    if (*c != ' ')
      g_string_append_c(hex, *c);
  gcry_mpi_t p = NULL;
  assert_int_equal(gcry_mpi_scan(&p, GCRYMPI_FMT_HEX, hex->str, 0, NULL), 0);
  assert_int_equal(gcry_mpi_get_nbits(p), 1024);
  return p;
}

static void
mpi_to_128(gcry_mpi_t v, guint8 out[LEN])
{
  size_t n = (gcry_mpi_get_nbits(v) + 7) / 8;
  size_t written = 0;
  assert_true(n <= LEN);
  memset(out, 0, LEN);
  if (n > 0)
    assert_int_equal(gcry_mpi_print(GCRYMPI_FMT_USG, out + LEN - n, n, &written, v), 0);
}

typedef struct {
  gcry_mpi_t x;
  guint8 pub[LEN]; /* left-padded */
} Client;

static void
client_init(Client *c)
{
  g_auto(gcry_mpi_t) p = test_prime();
  g_auto(gcry_mpi_t) g = gcry_mpi_set_ui(NULL, 2);
  g_auto(gcry_mpi_t) y = gcry_mpi_new(0);
  c->x = gcry_mpi_new(256);
  gcry_mpi_randomize(c->x, 256, GCRY_WEAK_RANDOM);
  gcry_mpi_powm(y, g, c->x, p);
  mpi_to_128(y, c->pub);
}

static void
client_clear(Client *c)
{
  gcry_mpi_release(c->x);
  c->x = NULL;
}

static void
hmac(const guint8 *key, gsize key_len, const guint8 *msg, gsize msg_len, guint8 out[32])
{
  g_auto(gcry_md_hd_t) md = NULL;
  assert_int_equal(gcry_md_open(&md, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC), 0);
  /* The salt really is empty here (the agent uses HashLen zeros, which
   * RFC 5869 says is the same thing). */
  assert_int_equal(gcry_md_setkey(md, key_len ? key : (const guint8 *)"", key_len), 0);
  gcry_md_write(md, msg, msg_len);
  memcpy(out, gcry_md_read(md, GCRY_MD_SHA256), 32);
}

/* The server's output variant -> the session key, as a client computes it. */
static void
client_key(const Client *c, GVariant *server_output, guint8 key[16], guint8 shared_out[LEN])
{
  assert_true(g_variant_is_of_type(server_output, G_VARIANT_TYPE_BYTESTRING));
  gsize n = 0;
  const guint8 *server_pub = g_variant_get_fixed_array(server_output, &n, 1);
  assert_int_equal(n, LEN); /* always the full 128 bytes */

  g_auto(gcry_mpi_t) p = test_prime();
  g_auto(gcry_mpi_t) y = NULL;
  g_auto(gcry_mpi_t) s = gcry_mpi_new(0);
  assert_int_equal(gcry_mpi_scan(&y, GCRYMPI_FMT_USG, server_pub, n, NULL), 0);
  assert_true(gcry_mpi_cmp_ui(y, 1) > 0 && gcry_mpi_cmp(y, p) < 0);
  gcry_mpi_powm(s, y, c->x, p);

  guint8 shared[LEN], prk[32], t1[32];
  static const guint8 one = 1;
  mpi_to_128(s, shared);
  hmac(NULL, 0, shared, LEN, prk);
  hmac(prk, 32, &one, 1, t1);
  memcpy(key, t1, 16);
  if (shared_out)
    memcpy(shared_out, shared, LEN);
}

static void
aes_cbc(gboolean encrypt, const guint8 key[16], const guint8 iv[16], guint8 *buf, gsize len)
{
  g_auto(gcry_cipher_hd_t) h = NULL;
  assert_int_equal(gcry_cipher_open(&h, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_CBC, 0), 0);
  assert_int_equal(gcry_cipher_setkey(h, key, 16), 0);
  assert_int_equal(gcry_cipher_setiv(h, iv, 16), 0);
  if (encrypt)
    assert_int_equal(gcry_cipher_encrypt(h, buf, len, NULL, 0), 0);
  else
    assert_int_equal(gcry_cipher_decrypt(h, buf, len, NULL, 0), 0);
}

/* ---- helpers around the API under test ---- */

static GVariant *
bytes_variant(const guint8 *data, gsize len)
{
  return g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE_BYTESTRING, g_bytes_new(data, len), TRUE));
}

static CofferTransport *
negotiate(const char *alg, GVariant *input, GVariant **out, GError **error)
{
  GVariant *floating = NULL;
  CofferTransport *t = coffer_transport_negotiate(alg, input, &floating, error);
  if (t != NULL) {
    assert_non_null(floating);
    assert_true(g_variant_is_floating(floating));
    *out = g_variant_ref_sink(floating);
  } else {
    assert_null(floating);
  }
  return t;
}

static CofferTransport *
negotiate_bytes(const guint8 *pub, gsize len, GVariant **out, GError **error)
{
  g_autoptr(GVariant) in = bytes_variant(pub, len);
  return negotiate(DH, in, out, error);
}

static void
assert_error(GError *error, gint code, const char *message)
{
  assert_non_null(error);
  assert_true(g_error_matches(error, G_DBUS_ERROR, code));
  if (message != NULL)
    assert_string_equal(error->message, message);
}

/* A dh session with a fresh client; key is the client's view of the key. */
typedef struct {
  Client client;
  CofferTransport *t;
  guint8 key[16];
} Session;

static void
session_open(Session *s)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) out = NULL;
  client_init(&s->client);
  s->t = negotiate_bytes(s->client.pub, LEN, &out, &error);
  assert_null(error);
  assert_non_null(s->t);
  client_key(&s->client, out, s->key, NULL);
}

static void
session_close(Session *s)
{
  coffer_transport_free(s->t);
  client_clear(&s->client);
}

/* The client encrypts a raw, already padded buffer; the server decrypts. */
static gboolean
server_decrypt_raw(Session *s, const guint8 *padded, gsize len, guint8 **plain, gsize *plain_len, GError **error)
{
  guint8 iv[16];
  g_autofree guint8 *buf = g_memdup2(padded, len);
  gcry_randomize(iv, 16, GCRY_WEAK_RANDOM);
  aes_cbc(TRUE, s->key, iv, buf, len);
  return coffer_transport_decrypt(s->t, iv, 16, buf, len, plain, plain_len, error);
}

/* Server -> client -> server for one secret. */
static void
check_round_trip(CofferTransport *t, const guint8 key[16], const guint8 *secret, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) params = NULL;
  g_autoptr(GBytes) value = NULL;
  assert_true(coffer_transport_encrypt(t, secret, len, &params, &value, &error));
  assert_null(error);

  gsize iv_len = 0, ct_len = 0;
  const guint8 *iv = g_bytes_get_data(params, &iv_len);
  const guint8 *ct = g_bytes_get_data(value, &ct_len);
  assert_int_equal(iv_len, 16);
  assert_int_equal(ct_len, (len / 16 + 1) * 16);

  /* the client's own decryption and PKCS#7 check */
  g_autofree guint8 *buf = g_memdup2(ct, ct_len);
  aes_cbc(FALSE, key, iv, buf, ct_len);
  guint8 pad = buf[ct_len - 1];
  assert_int_equal(pad, ct_len - len);
  for (gsize i = len; i < ct_len; i++)
    assert_int_equal(buf[i], pad);
  if (len > 0)
    assert_memory_equal(buf, secret, len);

  /* and back: what the client sends, the server reads */
  guint8 *plain = NULL;
  gsize plain_len = 99;
  assert_true(coffer_transport_decrypt(t, iv, iv_len, ct, ct_len, &plain, &plain_len, &error));
  assert_null(error);
  assert_non_null(plain);
  assert_int_equal(plain_len, len);
  if (len > 0)
    assert_memory_equal(plain, secret, len);
  sodium_free(plain);
}

/* ---- tests ---- */

static void
test_global_init_idempotent(void **state)
{
  coffer_transport_global_init();
  coffer_transport_global_init();
  assert_true(gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P));
}

static void
test_plain_round_trip(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) in = g_variant_ref_sink(g_variant_new_string(""));
  g_autoptr(GVariant) out = NULL;
  g_autoptr(CofferTransport) t = negotiate("plain", in, &out, &error);
  assert_non_null(t);
  assert_string_equal(coffer_transport_algorithm(t), "plain");
  assert_true(g_variant_is_of_type(out, G_VARIANT_TYPE_STRING));
  assert_string_equal(g_variant_get_string(out, NULL), "");

  static const guint8 secret[] = "hunter2";
  g_autoptr(GBytes) params = NULL;
  g_autoptr(GBytes) value = NULL;
  assert_true(coffer_transport_encrypt(t, secret, 7, &params, &value, &error));
  assert_int_equal(g_bytes_get_size(params), 0);
  assert_int_equal(g_bytes_get_size(value), 7);
  assert_memory_equal(g_bytes_get_data(value, NULL), secret, 7);

  guint8 *plain = NULL;
  gsize plain_len = 0;
  assert_true(coffer_transport_decrypt(t, NULL, 0, secret, 7, &plain, &plain_len, &error));
  assert_int_equal(plain_len, 7);
  assert_memory_equal(plain, secret, 7);
  sodium_free(plain);

  /* an empty secret still yields a buffer to sodium_free */
  plain = NULL;
  assert_true(coffer_transport_decrypt(t, NULL, 0, NULL, 0, &plain, &plain_len, &error));
  assert_non_null(plain);
  assert_int_equal(plain_len, 0);
  sodium_free(plain);
  assert_null(error);
}

static void
test_plain_rejects_parameters(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) in = g_variant_ref_sink(g_variant_new_string(""));
  g_autoptr(GVariant) out = NULL;
  g_autoptr(CofferTransport) t = negotiate("plain", in, &out, &error);
  static const guint8 iv[1] = { 0 };
  guint8 *plain = NULL;
  gsize plain_len = 0;
  assert_false(coffer_transport_decrypt(t, iv, 1, (const guint8 *)"x", 1, &plain, &plain_len, &error));
  assert_error(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid secret parameters");
  assert_null(plain);
}

static void
test_plain_accepts_any_input(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) in = g_variant_ref_sink(g_variant_new_int32(42));
  g_autoptr(GVariant) out = NULL;
  g_autoptr(CofferTransport) t = negotiate("plain", in, &out, &error);
  assert_non_null(t);
  assert_null(error);
  assert_string_equal(g_variant_get_string(out, NULL), "");
}

static void
test_unknown_algorithm(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) in = g_variant_ref_sink(g_variant_new_string(""));
  g_autoptr(GVariant) out = NULL;
  assert_null(negotiate("dh-ietf1024-sha1-aes128-cbc-pkcs7", in, &out, &error));
  assert_error(error, G_DBUS_ERROR_NOT_SUPPORTED, "Algorithm dh-ietf1024-sha1-aes128-cbc-pkcs7 is not supported");
  g_clear_error(&error);
  assert_null(negotiate("PLAIN", in, &out, &error)); /* names are exact */
  assert_error(error, G_DBUS_ERROR_NOT_SUPPORTED, NULL);
}

static void
test_dh_wrong_variant_type(void **state)
{
  GVariant *inputs[] = {
    g_variant_new_string(""),
    g_variant_new_variant(g_variant_new_from_data(G_VARIANT_TYPE_BYTESTRING, "\x02", 1, TRUE, NULL, NULL)),
    g_variant_new_parsed("[2, 3]"), /* ai */
    g_variant_new_parsed("@aq [2]"),
  };
  for (gsize i = 0; i < G_N_ELEMENTS(inputs); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) in = g_variant_ref_sink(inputs[i]);
    g_autoptr(GVariant) out = NULL;
    assert_null(negotiate(DH, in, &out, &error));
    assert_error(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid DH public key");
  }
}

static void
test_dh_round_trip(void **state)
{
  Session s;
  session_open(&s);
  assert_string_equal(coffer_transport_algorithm(s.t), DH);
  static const gsize sizes[] = { 0, 1, 15, 16, 17, 31, 32, 1000, 4096 };
  for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
    g_autofree guint8 *secret = g_malloc(sizes[i] + 1);
    gcry_randomize(secret, sizes[i], GCRY_WEAK_RANDOM);
    check_round_trip(s.t, s.key, secret, sizes[i]);
  }
  session_close(&s);
}

static void
test_dh_server_public_value(void **state)
{
  /* Two sessions: each a fresh private key, and a valid 128-byte value. */
  Session a, b;
  session_open(&a);
  session_open(&b);
  assert_memory_not_equal(a.key, b.key, 16);
  session_close(&a);
  session_close(&b);
}

static void
test_dh_leading_zero_client_key(void **state)
{
  Client c;
  for (int tries = 0;; tries++) {
    assert_true(tries < 20000);
    client_init(&c);
    if (c.pub[0] == 0)
      break;
    client_clear(&c);
  }
  gsize skip = 0;
  while (c.pub[skip] == 0)
    skip++;

  /* Sent stripped (as many clients do) and left-padded: same session key. */
  const gsize lens[] = { LEN - skip, LEN };
  for (gsize i = 0; i < G_N_ELEMENTS(lens); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) out = NULL;
    g_autoptr(CofferTransport) t = negotiate_bytes(c.pub + LEN - lens[i], lens[i], &out, &error);
    assert_null(error);
    assert_non_null(t);
    guint8 key[16];
    client_key(&c, out, key, NULL);
    check_round_trip(t, key, (const guint8 *)"leading zeros", 13);
  }
  client_clear(&c);
}

static void
test_dh_leading_zero_shared_secret(void **state)
{
  /* About one session in 256 has a shared secret whose top byte is zero;
   * it must still be hashed as 128 bytes. */
  for (int tries = 0;; tries++) {
    assert_true(tries < 20000);
    g_autoptr(GError) error = NULL;
    g_autoptr(GVariant) out = NULL;
    Client c;
    client_init(&c);
    g_autoptr(CofferTransport) t = negotiate_bytes(c.pub, LEN, &out, &error);
    assert_non_null(t);
    guint8 key[16], shared[LEN];
    client_key(&c, out, key, shared);
    client_clear(&c);
    if (shared[0] == 0) {
      check_round_trip(t, key, (const guint8 *)"short shared secret", 19);
      return;
    }
  }
}

static void
check_rejected_key(const guint8 *pub, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) out = NULL;
  assert_null(negotiate_bytes(pub, len, &out, &error));
  assert_error(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid DH public key");
}

static void
check_accepted_key(const guint8 *pub, gsize len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) out = NULL;
  g_autoptr(CofferTransport) t = negotiate_bytes(pub, len, &out, &error);
  assert_null(error);
  assert_non_null(t);
}

static void
check_key_mpi(gcry_mpi_t v, gboolean accepted)
{
  guint8 buf[LEN];
  mpi_to_128(v, buf);
  if (accepted)
    check_accepted_key(buf, LEN);
  else
    check_rejected_key(buf, LEN);
}

static void
test_dh_invalid_public_values(void **state)
{
  g_auto(gcry_mpi_t) p = test_prime();
  g_auto(gcry_mpi_t) v = gcry_mpi_new(0);

  check_rejected_key(NULL, 0);                           /* empty */
  check_rejected_key((const guint8 *)"\x00", 1);         /* 0 */
  check_rejected_key((const guint8 *)"\x01", 1);         /* 1 */
  check_rejected_key((const guint8 *)"\x00\x00\x01", 3); /* 1, padded */
  check_accepted_key((const guint8 *)"\x02", 1);         /* 2: smallest valid */
  check_key_mpi(v, FALSE);                               /* 0, 128 bytes */
  gcry_mpi_sub_ui(v, p, 1);
  check_key_mpi(v, FALSE); /* p-1 */
  gcry_mpi_sub_ui(v, p, 2);
  check_key_mpi(v, TRUE);  /* p-2: largest valid */
  check_key_mpi(p, FALSE); /* p */
  gcry_mpi_add_ui(v, p, 1);
  check_key_mpi(v, FALSE); /* p+1 */

  guint8 ff[LEN];
  memset(ff, 0xff, LEN);
  check_rejected_key(ff, LEN); /* 2^1024-1 */

  /* 129 bytes, even when the value itself would be fine */
  Client c;
  client_init(&c);
  guint8 long_key[LEN + 1] = { 0 };
  memcpy(long_key + 1, c.pub, LEN);
  check_accepted_key(c.pub, LEN);
  check_rejected_key(long_key, LEN + 1);
  client_clear(&c);
}

static void
check_decrypt_rejected(Session *s, gsize iv_len, gsize ct_len, const char *message)
{
  g_autoptr(GError) error = NULL;
  guint8 iv[32] = { 0 }, ct[64] = { 0 };
  guint8 *plain = NULL;
  gsize plain_len = 0;
  assert_false(coffer_transport_decrypt(s->t, iv, iv_len, ct, ct_len, &plain, &plain_len, &error));
  assert_error(error, G_DBUS_ERROR_INVALID_ARGS, message);
  assert_null(plain);
}

static void
test_dh_bad_lengths(void **state)
{
  Session s;
  session_open(&s);
  check_decrypt_rejected(&s, 0, 16, "Invalid secret parameters");
  check_decrypt_rejected(&s, 15, 16, "Invalid secret parameters");
  check_decrypt_rejected(&s, 17, 16, "Invalid secret parameters");
  check_decrypt_rejected(&s, 16, 0, "Invalid secret value");
  check_decrypt_rejected(&s, 16, 15, "Invalid secret value");
  check_decrypt_rejected(&s, 16, 17, "Invalid secret value");
  check_decrypt_rejected(&s, 16, 33, "Invalid secret value");
  session_close(&s);
}

static void
check_padding(Session *s, const guint8 *padded, gsize len, gssize expect_len)
{
  g_autoptr(GError) error = NULL;
  guint8 *plain = NULL;
  gsize plain_len = 0;
  gboolean ok = server_decrypt_raw(s, padded, len, &plain, &plain_len, &error);
  if (expect_len < 0) {
    assert_false(ok);
    assert_error(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid secret padding");
    assert_null(plain);
    return;
  }
  assert_true(ok);
  assert_int_equal(plain_len, expect_len);
  assert_memory_equal(plain, padded, plain_len);
  sodium_free(plain);
}

static void
test_dh_padding(void **state)
{
  Session s;
  session_open(&s);
  guint8 block[32];
  memset(block, 'a', sizeof block);

  block[15] = 0; /* pad byte 0 */
  check_padding(&s, block, 16, -1);
  block[15] = 17; /* longer than a block */
  check_padding(&s, block, 16, -1);
  block[31] = 32; /* longer than a block, even though two are there */
  check_padding(&s, block, 32, -1);
  memset(block + 12, 4, 4);
  block[13] = 3; /* inconsistent bytes */
  check_padding(&s, block, 16, -1);
  memset(block + 12, 4, 4);
  check_padding(&s, block, 16, 12); /* the same, made right */
  block[15] = 1;
  check_padding(&s, block, 16, 15);
  memset(block, 16, 16); /* a whole block of padding: empty secret */
  check_padding(&s, block, 16, 0);
  block[0] = 15; /* first of 16 pad bytes wrong */
  check_padding(&s, block, 16, -1);
  session_close(&s);
}

static void
test_dh_fresh_iv(void **state)
{
  Session s;
  session_open(&s);
  static const guint8 secret[] = "same secret twice";
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) p1 = NULL, v1 = NULL, p2 = NULL, v2 = NULL;
  assert_true(coffer_transport_encrypt(s.t, secret, sizeof secret, &p1, &v1, &error));
  assert_true(coffer_transport_encrypt(s.t, secret, sizeof secret, &p2, &v2, &error));
  assert_false(g_bytes_equal(p1, p2));
  assert_false(g_bytes_equal(v1, v2));
  assert_int_equal(g_bytes_get_size(v1), g_bytes_get_size(v2));
  session_close(&s);
}

static void
test_size_limits(void **state)
{
  const gsize max = COFFER_TRANSPORT_MAX_SECRET;
  g_autofree guint8 *big = g_malloc0(max + 32);
  g_autoptr(GError) error = NULL;
  guint8 *plain = NULL;
  gsize plain_len = 0;

  g_autoptr(GVariant) in = g_variant_ref_sink(g_variant_new_string(""));
  g_autoptr(GVariant) out = NULL;
  g_autoptr(CofferTransport) pt = negotiate("plain", in, &out, &error);
  g_autoptr(GBytes) params = NULL, value = NULL;
  assert_false(coffer_transport_encrypt(pt, big, max + 1, &params, &value, &error));
  assert_error(error, G_DBUS_ERROR_INVALID_ARGS, NULL);
  assert_null(params);
  g_clear_error(&error);
  assert_false(coffer_transport_decrypt(pt, NULL, 0, big, max + 1, &plain, &plain_len, &error));
  assert_error(error, G_DBUS_ERROR_INVALID_ARGS, NULL);
  g_clear_error(&error);

  Session s;
  session_open(&s);
  assert_false(coffer_transport_encrypt(s.t, big, max + 1, &params, &value, &error));
  assert_error(error, G_DBUS_ERROR_INVALID_ARGS, NULL);
  g_clear_error(&error);
  guint8 iv[16] = { 0 };
  assert_false(coffer_transport_decrypt(s.t, iv, 16, big, max + 32, &plain, &plain_len, &error));
  assert_error(error, G_DBUS_ERROR_INVALID_ARGS, "Secret too large");
  g_clear_error(&error);

  /* exactly the maximum still goes through both ways */
  assert_true(coffer_transport_encrypt(s.t, big, max, &params, &value, &error));
  assert_int_equal(g_bytes_get_size(value), max + 16);
  assert_true(coffer_transport_decrypt(s.t, g_bytes_get_data(params, NULL), 16, g_bytes_get_data(value, NULL), max + 16,
                                       &plain, &plain_len, &error));
  assert_int_equal(plain_len, max);
  assert_memory_equal(plain, big, max);
  sodium_free(plain);
  session_close(&s);
}

static void
test_hkdf_rfc5869_case3(void **state)
{
  /* RFC 5869 A.3: SHA-256, zero-length salt and info, IKM = 22 x 0x0b. */
  static const guint8 expected[32] = {
    0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71, 0x5f, 0x80, 0x2a, 0x06, 0x3c, 0x5a, 0x31,
    0xb8, 0xa1, 0x1f, 0x5c, 0x5e, 0xe1, 0x87, 0x9e, 0xc3, 0x45, 0x4e, 0x5f, 0x3c, 0x73, 0x8d, 0x2d,
  };
  guint8 ikm[22], okm[32];
  memset(ikm, 0x0b, sizeof ikm);
  assert_true(coffer_transport_hkdf_sha256(ikm, sizeof ikm, okm, 32));
  assert_memory_equal(okm, expected, 32);
  memset(okm, 0, sizeof okm);
  assert_true(coffer_transport_hkdf_sha256(ikm, sizeof ikm, okm, 16));
  assert_memory_equal(okm, expected, 16);
  assert_int_equal(okm[16], 0);
}

static int
group_setup(void **state)
{
  coffer_transport_global_init();
  return 0;
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_global_init_idempotent),
    cmocka_unit_test(test_hkdf_rfc5869_case3),
    cmocka_unit_test(test_plain_round_trip),
    cmocka_unit_test(test_plain_rejects_parameters),
    cmocka_unit_test(test_plain_accepts_any_input),
    cmocka_unit_test(test_unknown_algorithm),
    cmocka_unit_test(test_dh_wrong_variant_type),
    cmocka_unit_test(test_dh_round_trip),
    cmocka_unit_test(test_dh_server_public_value),
    cmocka_unit_test(test_dh_leading_zero_client_key),
    cmocka_unit_test(test_dh_leading_zero_shared_secret),
    cmocka_unit_test(test_dh_invalid_public_values),
    cmocka_unit_test(test_dh_bad_lengths),
    cmocka_unit_test(test_dh_padding),
    cmocka_unit_test(test_dh_fresh_iv),
    cmocka_unit_test(test_size_limits),
  };
  return cmocka_run_group_tests(tests, group_setup, NULL);
}
