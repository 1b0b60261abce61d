/* coffer — transport internals shared by transport.c, transport-dh.c and the
 * unit tests (which check the key derivation against RFC 5869's vectors).
 * Not part of the module's contract; the service only uses transport.h. */
#pragma once

#include <gcrypt.h>
#include <sodium.h>

#include "transport.h"

#define COFFER_DH_BYTES 128     /* 1024-bit group: every value fits in 128 bytes */
#define COFFER_AES_KEY_BYTES 16 /* AES-128 */
#define COFFER_AES_BLOCK 16
#define COFFER_SHA256_BYTES 32

/* The largest secret we carry either way: the default D-Bus message limit,
 * so every per-call allocation is bounded. */
#define COFFER_TRANSPORT_MAX_SECRET ((gsize)64 * 1024 * 1024)

/* A sodium_malloc() buffer; sodium_free() wipes it. */
typedef guint8 *CofferSecureBytes;
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(CofferSecureBytes, sodium_free, NULL)

/* gcrypt handles are pointer typedefs; close/release wipe their contents. */
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gcry_mpi_t, gcry_mpi_release, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gcry_md_hd_t, gcry_md_close, NULL)
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(gcry_cipher_hd_t, gcry_cipher_close, NULL)

/* Server side of the dh algorithm: validates the peer's public value
 * (1..128 bytes big-endian, 1 < y < p-1), makes a fresh key pair, writes our
 * public value left-padded to 128 bytes into server_public and the derived
 * 16-byte AES key into aes_key (caller's sodium_malloc memory). */
gboolean coffer_transport_dh_agree(const guint8 *peer, gsize peer_len, guint8 server_public[COFFER_DH_BYTES],
                                   guint8 *aes_key, GError **error);

/* HKDF-SHA256 (RFC 5869) with empty salt and empty info; okm_len <= 32
 * (one output block is all the transport needs). */
gboolean coffer_transport_hkdf_sha256(const guint8 *ikm, gsize ikm_len, guint8 *okm, gsize okm_len);
