/* coffer-import — a bounds-checked cursor over untrusted bytes, shared by
 * the file parsers.  Every read checks the remaining length first and
 * fails (FALSE) without moving when it would run past the end, so a parser
 * built from these can never read outside its buffer. */
#pragma once

#include <glib.h>
#include <string.h>

typedef struct {
  const guint8 *p;
  gsize left;
} ImportReader;

static inline void
import_reader_init(ImportReader *r, const guint8 *data, gsize len)
{
  r->p = data;
  r->left = len;
}

static inline gboolean
import_read_bytes(ImportReader *r, gsize n, const guint8 **out)
{
  if (n > r->left)
    return FALSE;
  *out = r->p;
  r->p += n;
  r->left -= n;
  return TRUE;
}

static inline gboolean
import_read_u8(ImportReader *r, guint8 *v)
{
  const guint8 *b;
  if (!import_read_bytes(r, 1, &b))
    return FALSE;
  *v = b[0];
  return TRUE;
}

static inline gboolean
import_read_u32(ImportReader *r, guint32 *v)
{
  const guint8 *b;
  if (!import_read_bytes(r, 4, &b))
    return FALSE;
  *v = (guint32)b[0] << 24 | (guint32)b[1] << 16 | (guint32)b[2] << 8 | b[3];
  return TRUE;
}

static inline gboolean
import_read_u64(ImportReader *r, guint64 *v)
{
  guint32 hi, lo;
  ImportReader save = *r;
  if (!import_read_u32(r, &hi) || !import_read_u32(r, &lo)) {
    *r = save;
    return FALSE;
  }
  *v = (guint64)hi << 32 | lo;
  return TRUE;
}

/* A u32-length-prefixed run of bytes. */
static inline gboolean
import_read_blob(ImportReader *r, const guint8 **data, gsize *len)
{
  guint32 n;
  ImportReader save = *r;
  if (!import_read_u32(r, &n) || !import_read_bytes(r, n, data)) {
    *r = save;
    return FALSE;
  }
  *len = n;
  return TRUE;
}

/* A new NUL-terminated copy of a length-prefixed string if it is valid UTF-8
 * without NUL bytes; NULL otherwise. */
static inline char *
import_dup_utf8(const guint8 *data, gsize len)
{
  if (memchr(data, '\0', len) != NULL || !g_utf8_validate((const char *)data, (gssize)len, NULL))
    return NULL;
  return g_strndup((const char *)data, len);
}
