/* coffer — control protocol: message builder and strict parser.
 * Format: docs/control-protocol.md.  Socket I/O is in control-socket.c. */
#include "control.h"
#include "control-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define TLV_HEADER_BYTES 5  /* u8 tag + u32 length */
#define BODY_HEADER_BYTES 2 /* u8 version + u8 type */

typedef enum {
  KIND_SECRET,
  KIND_BYTES,
  KIND_UTF8,
  KIND_NAME, /* UTF-8, not empty */
  KIND_BOOL,
  KIND_U32,
  KIND_U64,
  KIND_ITEM_ID,
  KIND_HISTORY,
  KIND_ACCESS,
} FieldKind;

#define BIT(tag) ((uint64_t)1 << (tag))

/* ---- field and message tables -------------------------------------------- */

static int
field_kind(uint8_t tag, FieldKind *kind)
{
  switch (tag) {
  case COFFER_FIELD_PASSWORD:
  case COFFER_FIELD_NEW_PASSWORD:
  case COFFER_FIELD_REMOTE_PASSWORD:
  case COFFER_FIELD_ACCOUNT_PASSWORD:
    *kind = KIND_SECRET;
    return 0;
  case COFFER_FIELD_ITEM:
    *kind = KIND_ITEM_ID;
    return 0;
  case COFFER_FIELD_HISTORY:
    *kind = KIND_HISTORY;
    return 0;
  case COFFER_FIELD_ACCESS:
    *kind = KIND_ACCESS;
    return 0;
  case COFFER_FIELD_APP:
    *kind = KIND_NAME;
    return 0;
  case COFFER_FIELD_ERROR_CODE:
    *kind = KIND_U32;
    return 0;
  case COFFER_FIELD_MESSAGE:
  case COFFER_FIELD_AGENT_VERSION:
  case COFFER_FIELD_REMOTE_URL:
  case COFFER_FIELD_REMOTE_USER:
  case COFFER_FIELD_LAST_ERROR:
    *kind = KIND_UTF8;
    return 0;
  case COFFER_FIELD_CREATE:
  case COFFER_FIELD_INITIALIZED:
  case COFFER_FIELD_LOCKED:
    *kind = KIND_BOOL;
    return 0;
  case COFFER_FIELD_COLLECTIONS:
  case COFFER_FIELD_ITEMS:
  case COFFER_FIELD_STORE_BYTES:
  case COFFER_FIELD_SEQ:
  case COFFER_FIELD_LAST_SYNC:
  case COFFER_FIELD_PENDING:
  case COFFER_FIELD_REMOTE_BYTES:
  case COFFER_FIELD_PUSHED:
  case COFFER_FIELD_PULLED:
  case COFFER_FIELD_CONFLICTS:
  case COFFER_FIELD_REFUSED:
  case COFFER_FIELD_HISTORY_REMOVED:
  case COFFER_FIELD_TOMBSTONES_REMOVED:
  case COFFER_FIELD_BYTES_RECLAIMED:
  case COFFER_FIELD_REMOTE_REMOVED:
  case COFFER_FIELD_REVOKED:
    *kind = KIND_U64;
    return 0;
  case COFFER_FIELD_STORE_PATH:
    *kind = KIND_BYTES;
    return 0;
  default:
    return -EBADMSG;
  }
}

/* Which fields each message type may and must carry.  Anything else is a
 * protocol error: a peer that sends a password where none belongs has a bug
 * we want to hear about, not a field we silently drop. */
static int
message_rules(uint8_t type, uint64_t *allowed, uint64_t *required)
{
  const uint64_t status_fields =
      BIT(COFFER_FIELD_INITIALIZED) | BIT(COFFER_FIELD_LOCKED) | BIT(COFFER_FIELD_COLLECTIONS) |
      BIT(COFFER_FIELD_ITEMS) | BIT(COFFER_FIELD_STORE_BYTES) | BIT(COFFER_FIELD_STORE_PATH) |
      BIT(COFFER_FIELD_AGENT_VERSION) | BIT(COFFER_FIELD_REMOTE_URL) | BIT(COFFER_FIELD_REMOTE_USER) |
      BIT(COFFER_FIELD_LAST_SYNC) | BIT(COFFER_FIELD_PENDING) | BIT(COFFER_FIELD_LAST_ERROR) |
      BIT(COFFER_FIELD_REMOTE_BYTES);
  const uint64_t sync_fields = BIT(COFFER_FIELD_PUSHED) | BIT(COFFER_FIELD_PULLED) | BIT(COFFER_FIELD_CONFLICTS) |
                               BIT(COFFER_FIELD_REFUSED) | BIT(COFFER_FIELD_HISTORY) |
                               BIT(COFFER_FIELD_HISTORY_REMOVED) | BIT(COFFER_FIELD_TOMBSTONES_REMOVED) |
                               BIT(COFFER_FIELD_BYTES_RECLAIMED) | BIT(COFFER_FIELD_REMOTE_REMOVED);
  const uint64_t access_fields = BIT(COFFER_FIELD_ACCESS) | BIT(COFFER_FIELD_REVOKED);
  const uint64_t remote_fields =
      BIT(COFFER_FIELD_REMOTE_URL) | BIT(COFFER_FIELD_REMOTE_USER) | BIT(COFFER_FIELD_REMOTE_PASSWORD);
  switch (type) {
  case COFFER_CONTROL_INIT:
  case COFFER_CONTROL_UNLOCK:
    *allowed = *required = BIT(COFFER_FIELD_PASSWORD);
    return 0;
  case COFFER_CONTROL_LOGIN:
    *allowed = BIT(COFFER_FIELD_PASSWORD) | BIT(COFFER_FIELD_CREATE);
    *required = BIT(COFFER_FIELD_PASSWORD);
    return 0;
  case COFFER_CONTROL_LOCK:
  case COFFER_CONTROL_STATUS:
    *allowed = *required = 0;
    return 0;
  case COFFER_CONTROL_PASSWD:
    *allowed = *required = BIT(COFFER_FIELD_PASSWORD) | BIT(COFFER_FIELD_NEW_PASSWORD);
    return 0;
  case COFFER_CONTROL_REMOTE_SET:
    *allowed = remote_fields | BIT(COFFER_FIELD_ACCOUNT_PASSWORD);
    *required = BIT(COFFER_FIELD_REMOTE_URL) | BIT(COFFER_FIELD_ACCOUNT_PASSWORD);
    return 0;
  case COFFER_CONTROL_JOIN:
    *allowed = remote_fields | BIT(COFFER_FIELD_ACCOUNT_PASSWORD) | BIT(COFFER_FIELD_PASSWORD);
    *required = BIT(COFFER_FIELD_REMOTE_URL) | BIT(COFFER_FIELD_ACCOUNT_PASSWORD) | BIT(COFFER_FIELD_PASSWORD);
    return 0;
  case COFFER_CONTROL_REMOTE_REMOVE:
  case COFFER_CONTROL_SYNC:
  case COFFER_CONTROL_CLEANUP:
    *allowed = *required = 0;
    return 0;
  case COFFER_CONTROL_HISTORY:
    *allowed = *required = BIT(COFFER_FIELD_ITEM);
    return 0;
  case COFFER_CONTROL_RESTORE:
    *allowed = *required = BIT(COFFER_FIELD_ITEM) | BIT(COFFER_FIELD_SEQ);
    return 0;
  case COFFER_CONTROL_ACCESS_LIST:
    *allowed = *required = 0;
    return 0;
  case COFFER_CONTROL_ACCESS_REVOKE:
    *allowed = BIT(COFFER_FIELD_APP) | BIT(COFFER_FIELD_ITEM);
    *required = BIT(COFFER_FIELD_APP);
    return 0;
  case COFFER_CONTROL_OK:
    *allowed = status_fields | sync_fields | access_fields | BIT(COFFER_FIELD_MESSAGE);
    *required = 0;
    return 0;
  case COFFER_CONTROL_ERROR:
    *allowed = BIT(COFFER_FIELD_ERROR_CODE) | BIT(COFFER_FIELD_MESSAGE);
    *required = BIT(COFFER_FIELD_ERROR_CODE);
    return 0;
  default:
    return -EBADMSG;
  }
}

const char *
coffer_control_error_name(uint32_t code)
{
  switch (code) {
  case COFFER_CONTROL_ERR_BAD_PASSWORD:
    return "bad-password";
  case COFFER_CONTROL_ERR_NOT_INITIALIZED:
    return "not-initialized";
  case COFFER_CONTROL_ERR_ALREADY_INITIALIZED:
    return "already-initialized";
  case COFFER_CONTROL_ERR_LOCKED:
    return "locked";
  case COFFER_CONTROL_ERR_INVALID:
    return "invalid";
  case COFFER_CONTROL_ERR_INTERNAL:
    return "internal";
  case COFFER_CONTROL_ERR_PROTOCOL:
    return "protocol";
  case COFFER_CONTROL_ERR_NO_REMOTE:
    return "no-remote";
  case COFFER_CONTROL_ERR_SYNC:
    return "sync";
  default:
    return "unknown";
  }
}

/* ---- byte order ---------------------------------------------------------- */

static void
put_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t
get_be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
  return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* ---- value checks -------------------------------------------------------- */

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool
valid_utf8(const uint8_t *s, size_t len)
{
  size_t i = 0;
  while (i < len) {
    uint8_t c = s[i];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else
      return false;
    if (len - i <= n)
      return false;
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

/* Passwords reach PAM and the terminal as C strings: a NUL inside one would
 * make a password nobody can type at login, so the wire forbids it. */
static bool
has_nul(const uint8_t *s, size_t len)
{
  return len > 0 && memchr(s, 0, len) != NULL;
}

/* An item id: 32 lowercase hex digits (one spelling per id). */
static bool
valid_item_id(const uint8_t *v, size_t len)
{
  if (len != 32)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
      return false;
  return true;
}

static bool
valid_history(const uint8_t *v, size_t len)
{
  CofferControlBytes cursor = { v, len };
  CofferControlHistoryEntry entry;
  int r;
  while ((r = coffer_control_history_next(&cursor, &entry)) > 0)
    ;
  return r == 0;
}

static bool
valid_access(const uint8_t *v, size_t len)
{
  CofferControlBytes cursor = { v, len };
  CofferControlAccessEntry entry;
  int r;
  while ((r = coffer_control_access_next(&cursor, &entry)) > 0)
    ;
  return r == 0;
}

static int
check_value(FieldKind kind, const uint8_t *v, size_t len)
{
  switch (kind) {
  case KIND_SECRET:
  case KIND_BYTES:
    return has_nul(v, len) ? -EBADMSG : 0;
  case KIND_UTF8:
    return !has_nul(v, len) && valid_utf8(v, len) ? 0 : -EBADMSG;
  case KIND_NAME:
    return len > 0 && !has_nul(v, len) && valid_utf8(v, len) ? 0 : -EBADMSG;
  case KIND_ACCESS:
    return valid_access(v, len) ? 0 : -EBADMSG;
  case KIND_BOOL:
    return len == 1 && v[0] <= 1 ? 0 : -EBADMSG;
  case KIND_U32:
    return len == 4 ? 0 : -EBADMSG;
  case KIND_U64:
    return len == 8 ? 0 : -EBADMSG;
  case KIND_ITEM_ID:
    return valid_item_id(v, len) ? 0 : -EBADMSG;
  case KIND_HISTORY:
    return valid_history(v, len) ? 0 : -EBADMSG;
  }
  return -EBADMSG;
}

static void
store_sync_field(CofferControlMessage *m, uint8_t tag, CofferControlBytes bytes)
{
  uint64_t u64 = bytes.len == 8 ? get_be64(bytes.data) : 0;
  switch (tag) {
  case COFFER_FIELD_REMOTE_URL:
    m->remote_url = bytes;
    break;
  case COFFER_FIELD_REMOTE_USER:
    m->remote_user = bytes;
    break;
  case COFFER_FIELD_REMOTE_PASSWORD:
    m->remote_password = bytes;
    break;
  case COFFER_FIELD_ACCOUNT_PASSWORD:
    m->account_password = bytes;
    break;
  case COFFER_FIELD_ITEM:
    m->item = bytes;
    break;
  case COFFER_FIELD_LAST_ERROR:
    m->last_error = bytes;
    break;
  case COFFER_FIELD_HISTORY:
    m->history = bytes;
    break;
  case COFFER_FIELD_SEQ:
    m->seq = u64;
    break;
  case COFFER_FIELD_LAST_SYNC:
    m->last_sync = u64;
    break;
  case COFFER_FIELD_PENDING:
    m->pending = u64;
    break;
  case COFFER_FIELD_REMOTE_BYTES:
    m->remote_bytes = u64;
    break;
  case COFFER_FIELD_PUSHED:
    m->pushed = u64;
    break;
  case COFFER_FIELD_PULLED:
    m->pulled = u64;
    break;
  case COFFER_FIELD_CONFLICTS:
    m->conflicts = u64;
    break;
  case COFFER_FIELD_REFUSED:
    m->refused = u64;
    break;
  case COFFER_FIELD_HISTORY_REMOVED:
    m->history_removed = u64;
    break;
  case COFFER_FIELD_TOMBSTONES_REMOVED:
    m->tombstones_removed = u64;
    break;
  case COFFER_FIELD_BYTES_RECLAIMED:
    m->bytes_reclaimed = u64;
    break;
  case COFFER_FIELD_REMOTE_REMOVED:
    m->remote_removed = u64;
    break;
  case COFFER_FIELD_APP:
    m->app = bytes;
    break;
  case COFFER_FIELD_ACCESS:
    m->access = bytes;
    break;
  case COFFER_FIELD_REVOKED:
    m->revoked = u64;
    break;
  }
}

static void
store_field(CofferControlMessage *m, uint8_t tag, const uint8_t *v, size_t len)
{
  CofferControlBytes bytes = { v, len };
  switch (tag) {
  case COFFER_FIELD_PASSWORD:
    m->password = bytes;
    break;
  case COFFER_FIELD_NEW_PASSWORD:
    m->new_password = bytes;
    break;
  case COFFER_FIELD_ERROR_CODE:
    m->error_code = get_be32(v);
    break;
  case COFFER_FIELD_MESSAGE:
    m->message = bytes;
    break;
  case COFFER_FIELD_INITIALIZED:
    m->initialized = v[0];
    break;
  case COFFER_FIELD_LOCKED:
    m->locked = v[0];
    break;
  case COFFER_FIELD_COLLECTIONS:
    m->collections = get_be64(v);
    break;
  case COFFER_FIELD_ITEMS:
    m->items = get_be64(v);
    break;
  case COFFER_FIELD_STORE_BYTES:
    m->store_bytes = get_be64(v);
    break;
  case COFFER_FIELD_STORE_PATH:
    m->store_path = bytes;
    break;
  case COFFER_FIELD_AGENT_VERSION:
    m->agent_version = bytes;
    break;
  case COFFER_FIELD_CREATE:
    m->create = v[0];
    break;
  default:
    store_sync_field(m, tag, bytes);
    break;
  }
}

/* ---- parser -------------------------------------------------------------- */

static int
parse_fields(const uint8_t *p, size_t left, uint64_t allowed, CofferControlMessage *m)
{
  while (left > 0) {
    if (left < TLV_HEADER_BYTES)
      return -EBADMSG;
    uint8_t tag = p[0];
    uint32_t flen = get_be32(p + 1);
    p += TLV_HEADER_BYTES;
    left -= TLV_HEADER_BYTES;
    /* Compare against what is left, never compute p + flen first: flen is
     * attacker-controlled and the sum could wrap. */
    if (flen > left)
      return -EBADMSG;

    FieldKind kind;
    if (field_kind(tag, &kind) < 0)
      return -EBADMSG;
    if (!(allowed & BIT(tag)))
      return -EBADMSG;
    if (m->present & BIT(tag))
      return -EBADMSG;
    if (check_value(kind, p, flen) < 0)
      return -EBADMSG;

    m->present |= BIT(tag);
    store_field(m, tag, p, flen);
    p += flen;
    left -= flen;
  }
  return 0;
}

int
coffer_control_parse(const uint8_t *body, size_t len, CofferControlMessage *msg)
{
  memset(msg, 0, sizeof *msg);
  if (len > COFFER_CONTROL_MAX_BODY)
    return -EMSGSIZE;
  if (body == NULL || len < BODY_HEADER_BYTES)
    return -EBADMSG;
  if (body[0] != COFFER_CONTROL_VERSION)
    return -EPROTONOSUPPORT;

  uint64_t allowed, required;
  if (message_rules(body[1], &allowed, &required) < 0)
    return -EBADMSG;

  CofferControlMessage m = { .type = body[1] };
  int r = parse_fields(body + BODY_HEADER_BYTES, len - BODY_HEADER_BYTES, allowed, &m);
  if (r == 0 && (m.present & required) != required)
    r = -EBADMSG;
  if (r == 0 && m.type == COFFER_CONTROL_ERROR && m.error_code == 0)
    r = -EBADMSG;
  if (r == 0)
    *msg = m;
  /* m may hold pointers to passwords; it is only pointers, but leave no
   * stale copy of them either. */
  explicit_bzero(&m, sizeof m);
  return r;
}

int
coffer_control_frame_body_length(const uint8_t header[COFFER_CONTROL_HEADER_BYTES], size_t *body_len)
{
  uint32_t n = get_be32(header);
  if (n > COFFER_CONTROL_MAX_BODY)
    return -EMSGSIZE;
  if (n < BODY_HEADER_BYTES)
    return -EBADMSG;
  *body_len = n;
  return 0;
}

/* ---- history entries ----------------------------------------------------- */

int
coffer_control_history_encode(const CofferControlHistoryEntry *e, uint8_t *out, size_t cap)
{
  if (e->label_len > UINT32_MAX || has_nul(e->label, e->label_len) || !valid_utf8(e->label, e->label_len))
    return -EBADMSG;
  if (e->label_len > cap || COFFER_CONTROL_HISTORY_FIXED > cap - e->label_len ||
      COFFER_CONTROL_HISTORY_FIXED + e->label_len > INT32_MAX)
    return -EMSGSIZE;
  put_be32(out, (uint32_t)(e->seq >> 32));
  put_be32(out + 4, (uint32_t)e->seq);
  put_be32(out + 8, (uint32_t)(e->added >> 32));
  put_be32(out + 12, (uint32_t)e->added);
  put_be32(out + 16, (uint32_t)(e->hlc >> 32));
  put_be32(out + 20, (uint32_t)e->hlc);
  memcpy(out + 24, e->device, 16);
  out[40] = e->tombstone ? 1 : 0;
  put_be32(out + 41, (uint32_t)e->label_len);
  if (e->label_len > 0)
    memcpy(out + COFFER_CONTROL_HISTORY_FIXED, e->label, e->label_len);
  return (int)(COFFER_CONTROL_HISTORY_FIXED + e->label_len);
}

int
coffer_control_history_next(CofferControlBytes *cursor, CofferControlHistoryEntry *e)
{
  memset(e, 0, sizeof *e);
  if (cursor->len == 0)
    return 0;
  if (cursor->len < COFFER_CONTROL_HISTORY_FIXED)
    return -EBADMSG;
  const uint8_t *p = cursor->data;
  uint32_t label_len = get_be32(p + 41);
  if (label_len > cursor->len - COFFER_CONTROL_HISTORY_FIXED || p[40] > 1)
    return -EBADMSG;
  const uint8_t *label = p + COFFER_CONTROL_HISTORY_FIXED;
  if (has_nul(label, label_len) || !valid_utf8(label, label_len))
    return -EBADMSG;
  e->seq = get_be64(p);
  e->added = get_be64(p + 8);
  e->hlc = get_be64(p + 16);
  memcpy(e->device, p + 24, 16);
  e->tombstone = p[40];
  e->label = label;
  e->label_len = label_len;
  cursor->data += COFFER_CONTROL_HISTORY_FIXED + label_len;
  cursor->len -= COFFER_CONTROL_HISTORY_FIXED + label_len;
  return 1;
}

/* ---- access entries ------------------------------------------------------ */

static bool
valid_text(const uint8_t *s, size_t len)
{
  return !has_nul(s, len) && valid_utf8(s, len);
}

int
coffer_control_access_encode(const CofferControlAccessEntry *e, uint8_t *out, size_t cap)
{
  if (e->decision > 1 || e->item == NULL || !valid_item_id(e->item, 32) || e->app_len == 0 || e->app_len > UINT32_MAX ||
      e->label_len > UINT32_MAX || !valid_text(e->app, e->app_len) || !valid_text(e->label, e->label_len))
    return -EBADMSG;
  if (e->app_len > cap || e->label_len > cap - e->app_len ||
      COFFER_CONTROL_ACCESS_FIXED > cap - e->app_len - e->label_len ||
      COFFER_CONTROL_ACCESS_FIXED + e->app_len + e->label_len > INT32_MAX)
    return -EMSGSIZE;
  out[0] = e->decision;
  put_be32(out + 1, (uint32_t)(e->created >> 32));
  put_be32(out + 5, (uint32_t)e->created);
  memcpy(out + 9, e->item, 32);
  put_be32(out + 41, (uint32_t)e->app_len);
  put_be32(out + 45, (uint32_t)e->label_len);
  memcpy(out + COFFER_CONTROL_ACCESS_FIXED, e->app, e->app_len);
  if (e->label_len > 0)
    memcpy(out + COFFER_CONTROL_ACCESS_FIXED + e->app_len, e->label, e->label_len);
  return (int)(COFFER_CONTROL_ACCESS_FIXED + e->app_len + e->label_len);
}

int
coffer_control_access_next(CofferControlBytes *cursor, CofferControlAccessEntry *e)
{
  memset(e, 0, sizeof *e);
  if (cursor->len == 0)
    return 0;
  if (cursor->len < COFFER_CONTROL_ACCESS_FIXED)
    return -EBADMSG;
  const uint8_t *p = cursor->data;
  size_t room = cursor->len - COFFER_CONTROL_ACCESS_FIXED;
  uint32_t app_len = get_be32(p + 41);
  uint32_t label_len = get_be32(p + 45);
  /* Compared one at a time against what is left: the sum could wrap. */
  if (p[0] > 1 || app_len == 0 || app_len > room || label_len > room - app_len || !valid_item_id(p + 9, 32))
    return -EBADMSG;
  const uint8_t *app = p + COFFER_CONTROL_ACCESS_FIXED;
  const uint8_t *label = app + app_len;
  if (!valid_text(app, app_len) || !valid_text(label, label_len))
    return -EBADMSG;
  e->decision = p[0];
  e->created = get_be64(p + 1);
  e->item = p + 9;
  e->app = app;
  e->app_len = app_len;
  e->label = label;
  e->label_len = label_len;
  cursor->data += COFFER_CONTROL_ACCESS_FIXED + app_len + label_len;
  cursor->len -= COFFER_CONTROL_ACCESS_FIXED + app_len + label_len;
  return 1;
}

/* ---- builder ------------------------------------------------------------- */

int
coffer_control_builder_init(CofferControlBuilder *b, uint8_t type)
{
  memset(b, 0, sizeof *b);
  b->frame = coffer_control_secure_alloc(COFFER_CONTROL_MAX_FRAME);
  if (b->frame == NULL) {
    b->error = -ENOMEM;
    return -ENOMEM;
  }
  b->frame[4] = COFFER_CONTROL_VERSION;
  b->frame[5] = type;
  b->len = COFFER_CONTROL_HEADER_BYTES + BODY_HEADER_BYTES;
  return 0;
}

void
coffer_control_builder_add_bytes(CofferControlBuilder *b, uint8_t tag, const void *data, size_t len)
{
  if (b->error)
    return;
  if (len > COFFER_CONTROL_MAX_FRAME - b->len || TLV_HEADER_BYTES > COFFER_CONTROL_MAX_FRAME - b->len - len) {
    b->error = -EMSGSIZE;
    return;
  }
  uint8_t *p = b->frame + b->len;
  p[0] = tag;
  put_be32(p + 1, (uint32_t)len);
  if (len > 0)
    memcpy(p + TLV_HEADER_BYTES, data, len);
  b->len += TLV_HEADER_BYTES + len;
}

void
coffer_control_builder_add_string(CofferControlBuilder *b, uint8_t tag, const char *s)
{
  coffer_control_builder_add_bytes(b, tag, s, s ? strlen(s) : 0);
}

void
coffer_control_builder_add_u8(CofferControlBuilder *b, uint8_t tag, uint8_t value)
{
  coffer_control_builder_add_bytes(b, tag, &value, 1);
}

void
coffer_control_builder_add_u32(CofferControlBuilder *b, uint8_t tag, uint32_t value)
{
  uint8_t v[4];
  put_be32(v, value);
  coffer_control_builder_add_bytes(b, tag, v, sizeof v);
}

void
coffer_control_builder_add_u64(CofferControlBuilder *b, uint8_t tag, uint64_t value)
{
  uint8_t v[8];
  put_be32(v, (uint32_t)(value >> 32));
  put_be32(v + 4, (uint32_t)value);
  coffer_control_builder_add_bytes(b, tag, v, sizeof v);
}

int
coffer_control_builder_finish(CofferControlBuilder *b, const uint8_t **frame, size_t *len)
{
  if (b->error)
    return b->error;
  size_t body_len = b->len - COFFER_CONTROL_HEADER_BYTES;
  CofferControlMessage check;
  int r = coffer_control_parse(b->frame + COFFER_CONTROL_HEADER_BYTES, body_len, &check);
  explicit_bzero(&check, sizeof check);
  if (r < 0) {
    b->error = r;
    return r;
  }
  put_be32(b->frame, (uint32_t)body_len);
  *frame = b->frame;
  *len = b->len;
  return 0;
}

void
coffer_control_builder_clear(CofferControlBuilder *b)
{
  if (b->frame != NULL)
    coffer_control_secure_free(b->frame, COFFER_CONTROL_MAX_FRAME, b->len);
  memset(b, 0, sizeof *b);
}

void
coffer_control_body_free(uint8_t *body, size_t body_len)
{
  if (body != NULL)
    coffer_control_secure_free(body, body_len, body_len);
}

/* ---- message memory ------------------------------------------------------
 * Message buffers get their own anonymous mapping: page-aligned, so mlock()
 * and munlock() never touch a neighbour's page, excluded from core dumps,
 * and gone from the address space once freed.  mlock() is best effort
 * (RLIMIT_MEMLOCK may forbid it); the wipe happens either way. */

void *
coffer_control_secure_alloc(size_t size)
{
  if (size == 0)
    return NULL;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return NULL;
  (void)mlock(p, size);
#ifdef MADV_DONTDUMP
  (void)madvise(p, size, MADV_DONTDUMP);
#endif
  return p;
}

void
coffer_control_secure_free(void *p, size_t size, size_t used)
{
  if (p == NULL)
    return;
  explicit_bzero(p, used < size ? used : size);
  (void)munlock(p, size);
  munmap(p, size);
}
