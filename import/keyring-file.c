/* coffer-import — reader for gnome-keyring's binary keyring files.
 * See keyring-file.h for the layout.  Every length is checked against what
 * is left before it is used; nothing is allocated from a count in the file. */
#include "keyring-file.h"

#include <gcrypt.h>
#include <sodium.h>

#include "reader.h"

static const guint8 keyring_magic[16] = { 'G', 'n', 'o', 'm', 'e',  'K',  'e', 'y',
                                          'r', 'i', 'n', 'g', '\n', '\r', 0,   '\n' };
#define NONE 0xffffffffu
#define CHECKSUM_BYTES 16
#define AES_BLOCK 16
#define AES_KEY 16
#define SHA256_BYTES 32

enum { ATTRIBUTE_STRING = 0, ATTRIBUTE_UINT32 = 1 };

static gboolean
corrupt(GError **error, const char *what)
{
  g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_CORRUPT, "the keyring file is damaged or truncated (%s)", what);
  return FALSE;
}

/* A string field: *out is NULL for "none", else a UTF-8 copy. */
static gboolean
read_string(ImportReader *r, char **out)
{
  guint32 n;
  const guint8 *data;

  *out = NULL;
  if (!import_read_u32(r, &n))
    return FALSE;
  if (n == NONE)
    return TRUE;
  if (!import_read_bytes(r, n, &data))
    return FALSE;
  *out = import_dup_utf8(data, n);
  return *out != NULL;
}

static gboolean
skip_string(ImportReader *r)
{
  g_autofree char *s = NULL;
  return read_string(r, &s);
}

static gboolean
read_time(ImportReader *r, guint64 *t)
{
  return import_read_u64(r, t);
}

/* Attributes.  In the clear part the values are hashes (MD5 of strings,
 * a scrambled uint32): we only walk over them.  In the encrypted part they
 * are the real values; uint32 ones are shown as decimal strings, which is
 * how gnome-keyring itself presents them over D-Bus. */
static gboolean
read_attributes(ImportReader *r, GHashTable *into)
{
  guint32 n, type, number;

  if (!import_read_u32(r, &n))
    return FALSE;
  for (guint32 i = 0; i < n; i++) {
    g_autofree char *name = NULL;
    g_autofree char *value = NULL;
    if (!read_string(r, &name) || name == NULL || !import_read_u32(r, &type))
      return FALSE;
    if (type == ATTRIBUTE_STRING) {
      if (!read_string(r, &value))
        return FALSE;
      if (value == NULL)
        value = g_strdup("");
    } else if (type == ATTRIBUTE_UINT32) {
      if (!import_read_u32(r, &number))
        return FALSE;
      value = g_strdup_printf("%u", number);
    } else {
      return FALSE;
    }
    if (into != NULL)
      g_hash_table_replace(into, g_steal_pointer(&name), g_steal_pointer(&value));
  }
  return TRUE;
}

void
keyring_header_clear(KeyringHeader *header)
{
  g_clear_pointer(&header->name, g_free);
  g_clear_pointer(&header->item_types, g_array_unref);
}

gboolean
keyring_file_parse_header(const guint8 *data, gsize len, KeyringHeader *header, GError **error)
{
  ImportReader r;
  const guint8 *magic, *salt, *version;
  guint32 flags, lock_timeout, reserved, n_encrypted;

  memset(header, 0, sizeof *header);
  import_reader_init(&r, data, len);
  if (!import_read_bytes(&r, sizeof keyring_magic, &magic) || memcmp(magic, keyring_magic, sizeof keyring_magic) != 0) {
    if (len >= 9 && memcmp(data, "[keyring]", 9) == 0)
      g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FORMAT,
                  "this is an unencrypted (text) keyring file; only password-protected binary keyrings are read");
    else
      g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FORMAT, "not a gnome-keyring keyring file");
    return FALSE;
  }
  if (!import_read_bytes(&r, 4, &version))
    return corrupt(error, "header");
  if (version[0] != 0 || version[1] != 0 || version[2] != 0 || version[3] != 0) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FORMAT,
                "unsupported keyring file version %u.%u (crypto %u, hash %u); only 0.0 is known", version[0],
                version[1], version[2], version[3]);
    return FALSE;
  }
  if (!read_string(&r, &header->name) || !read_time(&r, &header->modified) || !read_time(&r, &header->created) ||
      !import_read_u32(&r, &flags) || !import_read_u32(&r, &lock_timeout) ||
      !import_read_u32(&r, &header->iterations) || !import_read_bytes(&r, KEYRING_SALT_BYTES, &salt))
    goto bad_header;
  memcpy(header->salt, salt, KEYRING_SALT_BYTES);
  for (int i = 0; i < 4; i++)
    if (!import_read_u32(&r, &reserved))
      goto bad_header;
  if (header->iterations == 0 || header->iterations > KEYRING_MAX_ITERATIONS) {
    keyring_header_clear(header);
    return corrupt(error, "hash iterations out of range");
  }
  if (!import_read_u32(&r, &header->n_items))
    goto bad_header;
  /* Grows with what is actually parsed, never from the count alone. */
  header->item_types = g_array_new(FALSE, FALSE, sizeof(guint32));
  for (guint32 i = 0; i < header->n_items; i++) {
    guint32 id, type;
    if (!import_read_u32(&r, &id) || !import_read_u32(&r, &type) || !read_attributes(&r, NULL)) {
      keyring_header_clear(header);
      return corrupt(error, "item index");
    }
    g_array_append_val(header->item_types, type);
  }
  if (!import_read_u32(&r, &n_encrypted) || n_encrypted == 0 || n_encrypted % AES_BLOCK != 0 ||
      n_encrypted < CHECKSUM_BYTES || n_encrypted != r.left) {
    keyring_header_clear(header);
    return corrupt(error, "encrypted part");
  }
  header->encrypted_offset = len - r.left;
  header->encrypted_len = n_encrypted;
  return TRUE;

bad_header:
  keyring_header_clear(header);
  return corrupt(error, "header");
}

static gboolean
skip_acl(ImportReader *r)
{
  guint32 n, u;
  if (!import_read_u32(r, &n))
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (!import_read_u32(r, &u) || !skip_string(r) || !skip_string(r) || !skip_string(r) || !import_read_u32(r, &u))
      return FALSE;
  return TRUE;
}

static gboolean
read_item(ImportReader *r, ImportItem *item)
{
  const guint8 *secret = NULL;
  guint32 secret_len, reserved;

  if (!read_string(r, &item->label) || !import_read_u32(r, &secret_len))
    return FALSE;
  if (secret_len != NONE && !import_read_bytes(r, secret_len, &secret))
    return FALSE;
  if (secret != NULL && !import_item_set_secret(item, secret, secret_len))
    return FALSE;
  if (!read_time(r, &item->created) || !read_time(r, &item->modified) || !skip_string(r))
    return FALSE;
  for (int i = 0; i < 4; i++)
    if (!import_read_u32(r, &reserved))
      return FALSE;
  if (!read_attributes(r, item->attributes) || !skip_acl(r))
    return FALSE;
  if (item->label == NULL)
    item->label = g_strdup("");
  return TRUE;
}

/* gnome-keyring's old item types and the schemas it shows for them. */
static const char *
schema_for_type(guint32 type)
{
  switch (type & 0xffff) {
  case 0:
    return "org.freedesktop.Secret.Generic";
  case 1:
    return "org.gnome.keyring.NetworkPassword";
  case 2:
    return "org.gnome.keyring.Note";
  case 3:
    return "org.gnome.keyring.ChainedKeyring";
  case 4:
    return "org.gnome.keyring.EncryptionKey";
  case 0x100:
    return "org.gnome.keyring.PkStorage";
  default:
    return NULL;
  }
}

gboolean
keyring_file_parse_items(const guint8 *plain, gsize len, const GArray *item_types, ImportCollection *collection,
                         GError **error)
{
  ImportReader r;
  const guint8 *padding;

  import_reader_init(&r, plain, len);
  for (guint i = 0; i < item_types->len; i++) {
    g_autoptr(ImportItem) item = import_item_new();
    const char *schema = schema_for_type(g_array_index(item_types, guint32, i));
    if (!read_item(&r, item)) {
      g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_CORRUPT, "the keyring file is damaged (item %u of %u)", i + 1,
                  item_types->len);
      return FALSE;
    }
    if (schema != NULL && !g_hash_table_contains(item->attributes, "xdg:schema"))
      g_hash_table_replace(item->attributes, g_strdup("xdg:schema"), g_strdup(schema));
    g_ptr_array_add(collection->items, g_steal_pointer(&item));
  }
  /* Only the zero padding to the block size may follow. */
  gsize n_padding = r.left;
  if (n_padding >= AES_BLOCK || !import_read_bytes(&r, n_padding, &padding))
    return corrupt(error, "data after the items");
  for (gsize i = 0; i < n_padding; i++)
    if (padding[i] != 0)
      return corrupt(error, "padding");
  return TRUE;
}

/* key || iv = SHA-256^iterations(password || salt). */
static gboolean
derive_key(const KeyringHeader *header, const char *password, gsize password_len, guint8 *key_iv)
{
  gcry_md_hd_t md = NULL;
  guint8 *digest = sodium_malloc(SHA256_BYTES);
  gboolean ok = FALSE;

  if (digest == NULL || gcry_md_open(&md, GCRY_MD_SHA256, 0) != 0)
    goto out;
  gcry_md_write(md, password, password_len);
  gcry_md_write(md, header->salt, KEYRING_SALT_BYTES);
  memcpy(digest, gcry_md_read(md, GCRY_MD_SHA256), SHA256_BYTES);
  for (guint32 i = 1; i < header->iterations; i++) {
    gcry_md_reset(md);
    gcry_md_write(md, digest, SHA256_BYTES);
    memcpy(digest, gcry_md_read(md, GCRY_MD_SHA256), SHA256_BYTES);
  }
  memcpy(key_iv, digest, AES_KEY + AES_BLOCK);
  ok = TRUE;
out:
  if (md != NULL)
    gcry_md_close(md); /* wipes its state */
  if (digest != NULL)
    sodium_free(digest);
  return ok;
}

/* Decrypts the encrypted part into secure memory and checks its MD5. */
static guint8 *
decrypt(const guint8 *data, const KeyringHeader *header, const char *password, gsize password_len, GError **error)
{
  guint8 *key_iv = sodium_malloc(AES_KEY + AES_BLOCK);
  guint8 *plain = sodium_malloc(header->encrypted_len);
  guint8 digest[CHECKSUM_BYTES];
  gcry_cipher_hd_t cipher = NULL;
  gboolean ok = FALSE;

  if (key_iv == NULL || plain == NULL || !derive_key(header, password, password_len, key_iv) ||
      gcry_cipher_open(&cipher, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_CBC, GCRY_CIPHER_SECURE) != 0 ||
      gcry_cipher_setkey(cipher, key_iv, AES_KEY) != 0 || gcry_cipher_setiv(cipher, key_iv + AES_KEY, AES_BLOCK) != 0 ||
      gcry_cipher_decrypt(cipher, plain, header->encrypted_len, data + header->encrypted_offset,
                          header->encrypted_len) != 0) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FAILED, "cannot decrypt the keyring (out of secure memory?)");
    goto out;
  }
  gcry_md_hash_buffer(GCRY_MD_MD5, digest, plain + CHECKSUM_BYTES, header->encrypted_len - CHECKSUM_BYTES);
  if (sodium_memcmp(digest, plain, CHECKSUM_BYTES) != 0) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_BAD_PASSWORD,
                "wrong password for this keyring (or its encrypted part is damaged)");
    goto out;
  }
  ok = TRUE;
out:
  if (cipher != NULL)
    gcry_cipher_close(cipher);
  if (key_iv != NULL)
    sodium_free(key_iv);
  if (!ok && plain != NULL) {
    sodium_free(plain);
    plain = NULL;
  }
  return plain;
}

ImportCollection *
keyring_file_read(const guint8 *data, gsize len, const char *password, gsize password_len, GError **error)
{
  KeyringHeader header;
  g_autoptr(ImportCollection) collection = NULL;
  guint8 *plain;
  gboolean ok;

  if (!keyring_file_parse_header(data, len, &header, error))
    return NULL;
  plain = decrypt(data, &header, password, password_len, error);
  if (plain == NULL) {
    keyring_header_clear(&header);
    return NULL;
  }
  collection = import_collection_new(header.name);
  collection->created = header.created;
  collection->modified = header.modified;
  ok = keyring_file_parse_items(plain + CHECKSUM_BYTES, header.encrypted_len - CHECKSUM_BYTES, header.item_types,
                                collection, error);
  sodium_free(plain);
  keyring_header_clear(&header);
  return ok ? g_steal_pointer(&collection) : NULL;
}
