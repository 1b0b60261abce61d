/* coffer-import — coffer's own export file: a whole vault (collections,
 * aliases, items with secrets and times) under a password, so it can be
 * moved by hand.  The format is defined in docs/export-format.md; this is
 * its one implementation.
 *
 *   header (64 bytes, authenticated as associated data):
 *     "COFFEREX" | version u8 = 1 | kdf u8 = 1 (Argon2id v1.3) | 0 u16
 *     | opslimit u32 | memlimit u64 | salt[16] | nonce[24]
 *   then XChaCha20-Poly1305-IETF(key, nonce, header) of the payload,
 *   key = Argon2id(password, salt, opslimit, memlimit), 32 bytes. */
#pragma once

#include "source.h"
#include "vault/crypto.h"

#define EXPORT_HEADER_BYTES 64
#define EXPORT_VERSION 1
/* A whole vault fits easily; anything bigger is not a file we wrote. */
#define EXPORT_MAX_FILE ((gsize)1024 * 1024 * 1024)

/* Encodes source into a complete export file (*out, caller frees).  The
 * plaintext payload only ever exists in secure memory. */
gboolean export_file_encode(const ImportSource *source, guint64 exported_at, const char *password, gsize password_len,
                            CofferKdfParams params, GBytes **out, GError **error);

/* Checks the header, derives the key, authenticates and decrypts, then
 * parses.  A wrong password (or any change to the file) is
 * IMPORT_ERROR_BAD_PASSWORD: AEAD cannot tell the two apart. */
ImportSource *export_file_decode(const guint8 *data, gsize len, const char *password, gsize password_len,
                                 GError **error);

/* The header alone (for the fuzz target): version and KDF bounds. */
gboolean export_file_parse_header(const guint8 *data, gsize len, CofferKdfParams *params, GError **error);

/* Parses a decrypted payload into source (for the fuzz target and decode). */
gboolean export_payload_parse(const guint8 *payload, gsize len, ImportSource *source, GError **error);
