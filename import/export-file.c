/* coffer-import — coffer's export file format; see export-file.h and
 * docs/export-format.md.
 *
 * Payload (big-endian; str = u32 length + UTF-8 without NUL; blob = u32
 * length + bytes):
 *   exported_at u64
 *   n_collections u32, each: label str | flags u8 (bit 0: the login
 *     collection) | created u64 | modified u64 | n_aliases u32 | alias str...
 *   n_items u32, each: collection u32 (index) | label str | content_type str
 *     | created u64 | modified u64 | n_attributes u32 | (name str, value str)...
 *     | secret blob
 * and nothing after. */
#include "export-file.h"

#include <sodium.h>

#include "reader.h"

static const guint8 export_magic[8] = { 'C', 'O', 'F', 'F', 'E', 'R', 'E', 'X' };
#define KDF_ARGON2ID13 1
#define SALT_BYTES crypto_pwhash_argon2id_SALTBYTES
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define COLLECTION_FLAG_LOGIN 0x01

_Static_assert(8 + 1 + 1 + 2 + 4 + 8 + SALT_BYTES + NONCE_BYTES == EXPORT_HEADER_BYTES, "header layout");

/* ---- payload writer: sizes first, then one secure buffer ------------------- */

typedef struct {
  guint8 *buf; /* NULL while measuring */
  gsize len;
} Writer;

static void
put(Writer *w, const void *data, gsize n)
{
  if (w->buf != NULL && n > 0)
    memcpy(w->buf + w->len, data, n);
  w->len += n;
}

static void
put_u8(Writer *w, guint8 v)
{
  put(w, &v, 1);
}

static void
put_u32(Writer *w, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };
  put(w, b, 4);
}

static void
put_u64(Writer *w, guint64 v)
{
  put_u32(w, (guint32)(v >> 32));
  put_u32(w, (guint32)v);
}

static void
put_blob(Writer *w, const void *data, gsize n)
{
  put_u32(w, (guint32)n);
  put(w, data, n);
}

static void
put_str(Writer *w, const char *s)
{
  put_blob(w, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static void
put_attributes(Writer *w, GHashTable *attributes)
{
  /* Sorted, so the same vault always makes the same payload. */
  g_autoptr(GPtrArray) names = import_sorted_names(attributes);
  put_u32(w, names->len);
  for (guint i = 0; i < names->len; i++) {
    put_str(w, names->pdata[i]);
    put_str(w, g_hash_table_lookup(attributes, names->pdata[i]));
  }
}

static void
write_payload(Writer *w, const ImportSource *source, guint64 exported_at)
{
  put_u64(w, exported_at);
  put_u32(w, source->collections->len);
  for (guint c = 0; c < source->collections->len; c++) {
    ImportCollection *collection = source->collections->pdata[c];
    put_str(w, collection->label);
    put_u8(w, collection->is_login ? COLLECTION_FLAG_LOGIN : 0);
    put_u64(w, collection->created);
    put_u64(w, collection->modified);
    put_u32(w, collection->aliases->len);
    for (guint a = 0; a < collection->aliases->len; a++)
      put_str(w, collection->aliases->pdata[a]);
  }
  put_u32(w, import_source_count_items(source));
  for (guint c = 0; c < source->collections->len; c++) {
    ImportCollection *collection = source->collections->pdata[c];
    for (guint i = 0; i < collection->items->len; i++) {
      ImportItem *item = collection->items->pdata[i];
      put_u32(w, c);
      put_str(w, item->label);
      put_str(w, item->content_type != NULL ? item->content_type : "text/plain");
      put_u64(w, item->created);
      put_u64(w, item->modified);
      put_attributes(w, item->attributes);
      put_blob(w, item->secret, item->secret_len);
    }
  }
}

static void
store_be32(guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

gboolean
export_file_encode(const ImportSource *source, guint64 exported_at, const char *password, gsize password_len,
                   CofferKdfParams params, GBytes **out, GError **error)
{
  Writer w = { NULL, 0 };
  guint8 header[EXPORT_HEADER_BYTES] = { 0 };
  guint8 *key = NULL, *file = NULL;
  unsigned long long ct_len = 0;
  gboolean ok = FALSE;

  write_payload(&w, source, exported_at); /* measure */
  if (w.len > EXPORT_MAX_FILE - EXPORT_HEADER_BYTES - TAG_BYTES) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FAILED, "the vault is too large for one export file");
    return FALSE;
  }
  w.buf = sodium_malloc(MAX(w.len, 1));
  key = sodium_malloc(KEY_BYTES);
  if (w.buf == NULL || key == NULL) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FAILED, "out of secure memory");
    goto out;
  }
  w.len = 0;
  write_payload(&w, source, exported_at);

  memcpy(header, export_magic, sizeof export_magic);
  header[8] = EXPORT_VERSION;
  header[9] = KDF_ARGON2ID13;
  store_be32(header + 12, (guint32)params.opslimit);
  store_be32(header + 16, (guint32)(params.memlimit >> 32));
  store_be32(header + 20, (guint32)params.memlimit);
  randombytes_buf(header + 24, SALT_BYTES);
  randombytes_buf(header + 24 + SALT_BYTES, NONCE_BYTES);
  if (crypto_pwhash(key, KEY_BYTES, password, password_len, header + 24, params.opslimit, params.memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FAILED, "key derivation failed (out of memory?)");
    goto out;
  }
  file = g_malloc(EXPORT_HEADER_BYTES + w.len + TAG_BYTES);
  memcpy(file, header, EXPORT_HEADER_BYTES);
  crypto_aead_xchacha20poly1305_ietf_encrypt(file + EXPORT_HEADER_BYTES, &ct_len, w.buf, w.len, header,
                                             EXPORT_HEADER_BYTES, NULL, header + 24 + SALT_BYTES, key);
  *out = g_bytes_new_take(g_steal_pointer(&file), EXPORT_HEADER_BYTES + ct_len);
  ok = TRUE;
out:
  if (w.buf != NULL)
    sodium_free(w.buf);
  if (key != NULL)
    sodium_free(key);
  return ok;
}

/* ---- reading -------------------------------------------------------------- */

static gboolean
corrupt(GError **error, const char *what)
{
  g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_CORRUPT, "the export file is malformed (%s)", what);
  return FALSE;
}

gboolean
export_file_parse_header(const guint8 *data, gsize len, CofferKdfParams *params, GError **error)
{
  ImportReader r;
  const guint8 *magic;
  guint8 version, kdf;
  guint32 reserved_and_ops[2];
  guint64 memlimit;

  import_reader_init(&r, data, len);
  if (!import_read_bytes(&r, sizeof export_magic, &magic) || memcmp(magic, export_magic, sizeof export_magic) != 0) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FORMAT, "not a coffer export file");
    return FALSE;
  }
  if (!import_read_u8(&r, &version) || !import_read_u8(&r, &kdf))
    return corrupt(error, "truncated header");
  if (version != EXPORT_VERSION) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FORMAT,
                "export file version %u is not known to this coffer (it reads version %u)", version, EXPORT_VERSION);
    return FALSE;
  }
  if (kdf != KDF_ARGON2ID13)
    return corrupt(error, "unknown key derivation");
  {
    const guint8 *two;
    if (!import_read_bytes(&r, 2, &two))
      return corrupt(error, "truncated header");
    reserved_and_ops[0] = (guint32)two[0] << 8 | two[1];
  }
  if (reserved_and_ops[0] != 0)
    return corrupt(error, "reserved bytes set");
  if (!import_read_u32(&r, &reserved_and_ops[1]) || !import_read_u64(&r, &memlimit) ||
      r.left < SALT_BYTES + NONCE_BYTES + TAG_BYTES)
    return corrupt(error, "truncated");
  /* Bounded: a crafted file must not make us allocate gigabytes or spin. */
  if (reserved_and_ops[1] < crypto_pwhash_argon2id_OPSLIMIT_MIN || reserved_and_ops[1] > COFFER_KDF_OPSLIMIT_CAP ||
      memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN || memlimit > COFFER_KDF_MEMLIMIT_CAP)
    return corrupt(error, "key derivation parameters out of range");
  params->opslimit = reserved_and_ops[1];
  params->memlimit = memlimit;
  return TRUE;
}

static gboolean
read_str(ImportReader *r, char **out)
{
  const guint8 *data;
  gsize len;
  if (!import_read_blob(r, &data, &len))
    return FALSE;
  *out = import_dup_utf8(data, len);
  return *out != NULL;
}

static gboolean
read_collection(ImportReader *r, ImportSource *source, gboolean *seen_login)
{
  g_autofree char *label = NULL;
  g_autoptr(ImportCollection) collection = NULL;
  guint8 flags;
  guint32 n_aliases;

  if (!read_str(r, &label) || !import_read_u8(r, &flags) || (flags & ~COLLECTION_FLAG_LOGIN) != 0)
    return FALSE;
  collection = import_collection_new(label);
  collection->is_login = (flags & COLLECTION_FLAG_LOGIN) != 0;
  if (collection->is_login && *seen_login)
    return FALSE; /* one login collection at most */
  *seen_login = *seen_login || collection->is_login;
  if (!import_read_u64(r, &collection->created) || !import_read_u64(r, &collection->modified) ||
      !import_read_u32(r, &n_aliases))
    return FALSE;
  for (guint32 i = 0; i < n_aliases; i++) {
    char *alias;
    if (!read_str(r, &alias))
      return FALSE;
    g_ptr_array_add(collection->aliases, alias);
  }
  g_ptr_array_add(source->collections, g_steal_pointer(&collection));
  return TRUE;
}

static gboolean
read_item(ImportReader *r, ImportSource *source)
{
  g_autoptr(ImportItem) item = import_item_new();
  guint32 index, n_attributes;
  const guint8 *secret;
  gsize secret_len;

  if (!import_read_u32(r, &index) || index >= source->collections->len || !read_str(r, &item->label) ||
      !read_str(r, &item->content_type) || !import_read_u64(r, &item->created) ||
      !import_read_u64(r, &item->modified) || !import_read_u32(r, &n_attributes))
    return FALSE;
  for (guint32 i = 0; i < n_attributes; i++) {
    g_autofree char *name = NULL;
    g_autofree char *value = NULL;
    if (!read_str(r, &name) || !read_str(r, &value) || g_hash_table_contains(item->attributes, name))
      return FALSE;
    g_hash_table_replace(item->attributes, g_steal_pointer(&name), g_steal_pointer(&value));
  }
  if (!import_read_blob(r, &secret, &secret_len) || !import_item_set_secret(item, secret, secret_len))
    return FALSE;
  g_ptr_array_add(((ImportCollection *)source->collections->pdata[index])->items, g_steal_pointer(&item));
  return TRUE;
}

gboolean
export_payload_parse(const guint8 *payload, gsize len, ImportSource *source, GError **error)
{
  ImportReader r;
  guint64 exported_at;
  guint32 n_collections, n_items;
  gboolean seen_login = FALSE;

  import_reader_init(&r, payload, len);
  if (!import_read_u64(&r, &exported_at) || !import_read_u32(&r, &n_collections))
    return corrupt(error, "payload header");
  for (guint32 i = 0; i < n_collections; i++)
    if (!read_collection(&r, source, &seen_login))
      return corrupt(error, "collection");
  if (!import_read_u32(&r, &n_items))
    return corrupt(error, "item count");
  for (guint32 i = 0; i < n_items; i++)
    if (!read_item(&r, source))
      return corrupt(error, "item");
  if (r.left != 0)
    return corrupt(error, "data after the last item");
  return TRUE;
}

ImportSource *
export_file_decode(const guint8 *data, gsize len, const char *password, gsize password_len, GError **error)
{
  CofferKdfParams params;
  g_autoptr(ImportSource) source = NULL;
  const guint8 *salt = data + 24, *nonce = data + 24 + SALT_BYTES;
  guint8 *key = NULL, *payload = NULL;
  unsigned long long payload_len = 0;
  gsize ct_len;
  gboolean ok = FALSE;

  if (!export_file_parse_header(data, len, &params, error))
    return NULL;
  if (len > EXPORT_MAX_FILE) {
    corrupt(error, "too large");
    return NULL;
  }
  ct_len = len - EXPORT_HEADER_BYTES;
  key = sodium_malloc(KEY_BYTES);
  payload = sodium_malloc(ct_len - TAG_BYTES + 1);
  if (key == NULL || payload == NULL) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FAILED, "out of secure memory");
    goto out;
  }
  if (crypto_pwhash(key, KEY_BYTES, password, password_len, salt, params.opslimit, (size_t)params.memlimit,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FAILED, "key derivation failed (out of memory?)");
    goto out;
  }
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(payload, &payload_len, NULL, data + EXPORT_HEADER_BYTES, ct_len, data,
                                                 EXPORT_HEADER_BYTES, nonce, key) != 0) {
    g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_BAD_PASSWORD,
                "wrong password for this export file (or the file was changed or damaged)");
    goto out;
  }
  source = import_source_new("export file");
  ok = export_payload_parse(payload, payload_len, source, error);
out:
  if (key != NULL)
    sodium_free(key);
  if (payload != NULL)
    sodium_free(payload);
  return ok ? g_steal_pointer(&source) : NULL;
}
