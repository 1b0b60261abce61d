/* coffer — Secret Service session algorithms: negotiation, and moving one
 * secret across in either direction.  See transport.h for the contract. */
#include "transport-private.h"

#include <string.h>

#define ALGORITHM_PLAIN "plain"
#define ALGORITHM_DH "dh-ietf1024-sha256-aes128-cbc-pkcs7"

typedef enum {
  TRANSPORT_PLAIN,
  TRANSPORT_DH,
} TransportKind;

struct CofferTransport {
  TransportKind kind;
  guint8 *aes_key; /* sodium_malloc(COFFER_AES_KEY_BYTES); NULL for plain */
};

void
coffer_transport_global_init(void)
{
  static gsize initialised = 0;

  if (!g_once_init_enter(&initialised))
    return;
  /* sodium_init is idempotent; sodium_malloc needs it. */
  if (sodium_init() < 0)
    g_error("libsodium failed to initialise");
  if (gcry_check_version(GCRYPT_VERSION) == NULL)
    g_error("libgcrypt is older than the %s this was built against", GCRYPT_VERSION);
  /* Someone else in the process may already have set gcrypt up; its
   * configuration can only be chosen once. */
  if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
    /* gcrypt's secure pool is small, needs privileges to lock, and warns
     * when it cannot.  Our own keys and plaintexts already live in
     * sodium_malloc memory, and gcrypt wipes its mpi limbs and cipher/md
     * contexts on release anyway, so we do without the pool. */
    gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
    gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
  }
  g_once_init_leave(&initialised, 1);
}

static gboolean
fail(GError **error, gint code, const char *message)
{
  g_set_error_literal(error, G_DBUS_ERROR, code, message);
  return FALSE;
}

static gboolean
fail_no_memory(GError **error)
{
  return fail(error, G_DBUS_ERROR_NO_MEMORY, "Out of secure memory");
}

static gboolean
fail_gcrypt(GError **error, const char *what, gcry_error_t err)
{
  g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, "Transport %s failed: %s", what, gcry_strerror(err));
  return FALSE;
}

static CofferTransport *
negotiate_dh(GVariant *input, GVariant **output, GError **error)
{
  if (!g_variant_is_of_type(input, G_VARIANT_TYPE_BYTESTRING)) {
    fail(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid DH public key");
    return NULL;
  }
  gsize peer_len = 0;
  const guint8 *peer = g_variant_get_fixed_array(input, &peer_len, 1);

  g_autoptr(CofferTransport) transport = g_new0(CofferTransport, 1);
  transport->kind = TRANSPORT_DH;
  transport->aes_key = sodium_malloc(COFFER_AES_KEY_BYTES);
  if (transport->aes_key == NULL) {
    fail_no_memory(error);
    return NULL;
  }
  guint8 server_public[COFFER_DH_BYTES];
  if (!coffer_transport_dh_agree(peer, peer_len, server_public, transport->aes_key, error))
    return NULL;
  *output = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, server_public, COFFER_DH_BYTES, 1);
  return g_steal_pointer(&transport);
}

CofferTransport *
coffer_transport_negotiate(const char *algorithm, GVariant *input, GVariant **output, GError **error)
{
  g_return_val_if_fail(algorithm != NULL, NULL);
  g_return_val_if_fail(input != NULL, NULL);
  g_return_val_if_fail(output != NULL, NULL);

  if (g_str_equal(algorithm, ALGORITHM_PLAIN)) {
    /* libsecret sends "" here, other clients other things: plain has no
     * input to check, so any variant is accepted. */
    CofferTransport *transport = g_new0(CofferTransport, 1);
    transport->kind = TRANSPORT_PLAIN;
    *output = g_variant_new_string("");
    return transport;
  }
  if (g_str_equal(algorithm, ALGORITHM_DH))
    return negotiate_dh(input, output, error);
  g_set_error(error, G_DBUS_ERROR, G_DBUS_ERROR_NOT_SUPPORTED, "Algorithm %s is not supported", algorithm);
  return NULL;
}

void
coffer_transport_free(CofferTransport *transport)
{
  if (transport == NULL)
    return;
  sodium_free(transport->aes_key); /* wipes the key; NULL is fine */
  g_free(transport);
}

const char *
coffer_transport_algorithm(const CofferTransport *transport)
{
  g_return_val_if_fail(transport != NULL, NULL);
  return transport->kind == TRANSPORT_DH ? ALGORITHM_DH : ALGORITHM_PLAIN;
}

static gcry_cipher_hd_t
open_cipher(const CofferTransport *transport, const guint8 *iv, GError **error)
{
  g_auto(gcry_cipher_hd_t) cipher = NULL;
  gcry_error_t err = gcry_cipher_open(&cipher, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_CBC, GCRY_CIPHER_SECURE);
  if (err == 0)
    err = gcry_cipher_setkey(cipher, transport->aes_key, COFFER_AES_KEY_BYTES);
  if (err == 0)
    err = gcry_cipher_setiv(cipher, iv, COFFER_AES_BLOCK);
  if (err != 0) {
    fail_gcrypt(error, "cipher setup", err);
    return NULL;
  }
  return g_steal_pointer(&cipher);
}

static gboolean
encrypt_dh(CofferTransport *transport, const guint8 *plain, gsize plain_len, GBytes **parameters, GBytes **value,
           GError **error)
{
  /* PKCS#7 always adds 1..16 bytes, a whole block when already aligned. */
  gsize pad = COFFER_AES_BLOCK - plain_len % COFFER_AES_BLOCK;
  gsize whole = plain_len - plain_len % COFFER_AES_BLOCK;
  gsize padded_len = plain_len + pad;
  guint8 last[COFFER_AES_BLOCK];
  gcry_error_t err;

  /* CBC needs an unpredictable IV, fresh for every secret: gcrypt's nonce
   * generator is meant for exactly that, and is ~50x cheaper than
   * GCRY_STRONG_RANDOM (measured 0.15 vs 7.3 us). */
  guint8 iv[COFFER_AES_BLOCK];
  gcry_create_nonce(iv, sizeof iv);
  g_auto(gcry_cipher_hd_t) cipher = open_cipher(transport, iv, error);
  if (cipher == NULL)
    return FALSE;
  /* The whole blocks go straight from the caller's secure buffer; only the
   * last, padded block needs a copy, kept on the stack and wiped.  No
   * secure heap allocation per secret (each costs ~15 us of syscalls). */
  g_autofree guint8 *ciphertext = g_malloc(padded_len);
  err = whole > 0 ? gcry_cipher_encrypt(cipher, ciphertext, whole, plain, whole) : 0;
  if (err == 0) {
    if (plain_len > whole) /* plain may be NULL for an empty secret */
      memcpy(last, plain + whole, plain_len - whole);
    memset(last + (plain_len - whole), (int)pad, pad);
    err = gcry_cipher_encrypt(cipher, ciphertext + whole, COFFER_AES_BLOCK, last, COFFER_AES_BLOCK);
    sodium_memzero(last, sizeof last);
  }
  if (err != 0)
    return fail_gcrypt(error, "encryption", err);

  *parameters = g_bytes_new(iv, sizeof iv);
  *value = g_bytes_new_take(g_steal_pointer(&ciphertext), padded_len);
  return TRUE;
}

gboolean
coffer_transport_encrypt(CofferTransport *transport, const guint8 *plain, gsize plain_len, GBytes **parameters,
                         GBytes **value, GError **error)
{
  g_return_val_if_fail(transport != NULL, FALSE);
  g_return_val_if_fail(plain != NULL || plain_len == 0, FALSE);
  g_return_val_if_fail(parameters != NULL && value != NULL, FALSE);

  if (plain_len > COFFER_TRANSPORT_MAX_SECRET)
    return fail(error, G_DBUS_ERROR_INVALID_ARGS, "Secret too large");
  if (transport->kind == TRANSPORT_DH)
    return encrypt_dh(transport, plain, plain_len, parameters, value, error);
  *parameters = g_bytes_new(NULL, 0);
  *value = g_bytes_new(plain, plain_len);
  return TRUE;
}

/* Returns the PKCS#7 pad length of a decrypted buffer (a non-empty whole
 * number of blocks), or 0 when the padding is invalid.  The whole last block
 * is always looked at, without an early exit, so the time taken does not
 * say which byte was wrong. */
static gsize
pkcs7_pad_length(const guint8 *buf, gsize len)
{
  guint8 pad = buf[len - 1];
  unsigned int bad = (pad == 0) | (pad > COFFER_AES_BLOCK);

  for (gsize i = 1; i <= COFFER_AES_BLOCK; i++) {
    unsigned int in_pad = i <= pad;
    bad |= in_pad & (buf[len - i] != pad);
  }
  return bad ? 0 : pad;
}

/* Copies len bytes into fresh sodium_malloc memory (a valid pointer even
 * for len 0, so callers can always sodium_free it). */
static gboolean
secure_copy(const guint8 *src, gsize len, guint8 **out, GError **error)
{
  guint8 *copy = sodium_malloc(len);
  if (copy == NULL)
    return fail_no_memory(error);
  if (len > 0)
    memcpy(copy, src, len);
  *out = copy;
  return TRUE;
}

static gboolean
decrypt_dh(CofferTransport *transport, const guint8 *iv, gsize iv_len, const guint8 *ciphertext, gsize ciphertext_len,
           guint8 **plain, gsize *plain_len, GError **error)
{
  if (iv_len != COFFER_AES_BLOCK)
    return fail(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid secret parameters");
  if (ciphertext_len == 0 || ciphertext_len % COFFER_AES_BLOCK != 0)
    return fail(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid secret value");

  g_auto(gcry_cipher_hd_t) cipher = open_cipher(transport, iv, error);
  if (cipher == NULL)
    return FALSE;
  g_auto(CofferSecureBytes) padded = sodium_malloc(ciphertext_len);
  if (padded == NULL)
    return fail_no_memory(error);
  gcry_error_t err = gcry_cipher_decrypt(cipher, padded, ciphertext_len, ciphertext, ciphertext_len);
  if (err != 0)
    return fail_gcrypt(error, "decryption", err);

  gsize pad = pkcs7_pad_length(padded, ciphertext_len);
  if (pad == 0)
    return fail(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid secret padding");
  /* An exact-size copy, so the caller's buffer ends at sodium's guard page. */
  if (!secure_copy(padded, ciphertext_len - pad, plain, error))
    return FALSE;
  *plain_len = ciphertext_len - pad;
  return TRUE;
}

gboolean
coffer_transport_decrypt(CofferTransport *transport, const guint8 *parameters, gsize parameters_len,
                         const guint8 *value, gsize value_len, guint8 **plain, gsize *plain_len, GError **error)
{
  g_return_val_if_fail(transport != NULL, FALSE);
  g_return_val_if_fail(parameters != NULL || parameters_len == 0, FALSE);
  g_return_val_if_fail(value != NULL || value_len == 0, FALSE);
  g_return_val_if_fail(plain != NULL && plain_len != NULL, FALSE);

  /* Room for a maximal secret plus its padding block, and no more. */
  gsize limit = COFFER_TRANSPORT_MAX_SECRET + (transport->kind == TRANSPORT_DH ? COFFER_AES_BLOCK : 0);
  if (value_len > limit)
    return fail(error, G_DBUS_ERROR_INVALID_ARGS, "Secret too large");
  if (transport->kind == TRANSPORT_DH)
    return decrypt_dh(transport, parameters, parameters_len, value, value_len, plain, plain_len, error);

  if (parameters_len != 0)
    return fail(error, G_DBUS_ERROR_INVALID_ARGS, "Invalid secret parameters");
  if (!secure_copy(value, value_len, plain, error))
    return FALSE;
  *plain_len = value_len;
  return TRUE;
}
