/* coffer — Secret Service transport encryption ("session algorithms").
 *
 *   "plain": secrets travel as they are, parameters empty.
 *   "dh-ietf1024-sha256-aes128-cbc-pkcs7": RFC 2409 group 2 (1024-bit MODP,
 *     generator 2) Diffie-Hellman; the shared secret, big-endian and left-padded
 *     with zeros to 128 bytes, goes through HKDF-SHA256 with an empty salt and
 *     empty info to a 16-byte AES key; secrets are AES-128-CBC with PKCS#7
 *     padding and a fresh random 16-byte IV per secret, carried as the
 *     Secret's `parameters`.
 *
 * libgcrypt does the bignum and AES work (it is what libsecret itself uses);
 * the AES key and every decrypted plaintext live in sodium_malloc() memory.
 * Errors are G_DBUS_ERROR_INVALID_ARGS with a message that says what is wrong
 * (G_DBUS_ERROR_NOT_SUPPORTED for an unknown algorithm), ready to be returned
 * to the D-Bus caller.
 */
#pragma once

#include <gio/gio.h>

typedef struct CofferTransport CofferTransport;

/* Must be called once at start-up (initialises libgcrypt). */
void coffer_transport_global_init(void);

/* Negotiates a transport for OpenSession.  input is the client's variant:
 * "" for plain, "ay" (client public value, 1..128 bytes, big-endian, may be
 * shorter when it has leading zeros) for dh.  The public value must satisfy
 * 1 < y < p-1.  *output is the variant to return to the client (floating ref
 * sunk by the caller's g_variant_new; "" for plain, "ay" of exactly 128 bytes
 * for dh). */
CofferTransport *coffer_transport_negotiate(const char *algorithm, GVariant *input, GVariant **output, GError **error);
void coffer_transport_free(CofferTransport *transport);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferTransport, coffer_transport_free)

const char *coffer_transport_algorithm(const CofferTransport *transport);

/* Encrypts a secret for the client: fills *parameters and *value (new
 * GBytes, caller owns). */
gboolean coffer_transport_encrypt(CofferTransport *transport, const guint8 *plain, gsize plain_len, GBytes **parameters,
                                  GBytes **value, GError **error);

/* Decrypts a secret from the client into sodium_malloc() memory
 * (*plain, *plain_len; sodium_free() it; *plain may be non-NULL with length 0
 * for an empty secret).  Checks for dh: IV exactly 16 bytes, ciphertext a
 * non-zero whole number of 16-byte blocks, valid PKCS#7 padding; for plain:
 * parameters empty. */
gboolean coffer_transport_decrypt(CofferTransport *transport, const guint8 *parameters, gsize parameters_len,
                                  const guint8 *value, gsize value_len, guint8 **plain, gsize *plain_len,
                                  GError **error);
