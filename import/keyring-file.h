/* coffer-import — gnome-keyring's binary keyring files (`*.keyring`,
 * format 0, as under ~/.local/share/keyrings/), read with the keyring's
 * password.  Our own reader, written from the format's description; see
 * docs/migrating.md for the layout.
 *
 * Layout (all integers big-endian u32; strings and byte arrays are a u32
 * length then the bytes, 0xffffffff meaning "none"; times are two u32, high
 * then low):
 *   "GnomeKeyring\n\r\0\n" | major 0 | minor 0 | crypto 0 (AES) | hash 0 (MD5)
 *   name | time (modified) | time (created) | flags | lock timeout
 *   | hash iterations | salt[8] | reserved u32 x4
 *   | n_items | n_items x (id | type | attributes, values hashed)
 *   | n_encrypted | encrypted[n_encrypted]
 * The encrypted part is AES-128-CBC; key and IV are the two halves of
 * SHA-256 applied `iterations` times to password || salt.  Decrypted it is
 * MD5(rest) | n_items x (label | secret | ctime | mtime | reserved string
 * | reserved u32 x4 | attributes | acl) | zero padding to 16 bytes.
 *
 * The parsers are split so the fuzz target (tests/fuzz/fuzz-keyring.c) can
 * reach the item parser without having to forge an MD5 under AES. */
#pragma once

#include "source.h"

#define KEYRING_SALT_BYTES 8
/* gnome-keyring picks 1000..4095; anything far above would only be a way to
 * make us spin. */
#define KEYRING_MAX_ITERATIONS (1u << 20)

typedef struct {
  char *name; /* the keyring's label; NULL when the file has none */
  guint64 modified;
  guint64 created;
  guint32 iterations;
  guint8 salt[KEYRING_SALT_BYTES];
  guint32 n_items;
  GArray *item_types;     /* guint32 per item, from the clear part */
  gsize encrypted_offset; /* where the encrypted part starts in the file */
  gsize encrypted_len;    /* a non-zero multiple of 16 */
} KeyringHeader;

void keyring_header_clear(KeyringHeader *header);

/* Checks the file's magic and version, parses the clear part (hashed items
 * included, for bounds) and locates the encrypted part, which must end
 * exactly at the end of the file. */
gboolean keyring_file_parse_header(const guint8 *data, gsize len, KeyringHeader *header, GError **error);

/* Parses the items of the decrypted part (after its 16-byte checksum) into
 * collection, one per entry of item_types; only zero padding may follow.
 * An item without an xdg:schema attribute gets the schema its type names
 * (org.freedesktop.Secret.Generic for 0, ...), as gnome-keyring itself
 * shows it over D-Bus once it has loaded the file. */
gboolean keyring_file_parse_items(const guint8 *plain, gsize len, const GArray *item_types,
                                  ImportCollection *collection, GError **error);

/* The whole file: header, key derivation, decryption, checksum, items.
 * A wrong password is IMPORT_ERROR_BAD_PASSWORD.  Needs libgcrypt set up
 * (coffer_transport_global_init). */
ImportCollection *keyring_file_read(const guint8 *data, gsize len, const char *password, gsize password_len,
                                    GError **error);
