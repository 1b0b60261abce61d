/* Unit tests for lib/control: framing, the strict parser, the builder, frame
 * I/O, and the client's socket checks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"

/* ---- helpers ------------------------------------------------------------- */

/* A raw body written by hand, so malformed input is exactly what we say. */
typedef struct {
  uint8_t data[COFFER_CONTROL_MAX_BODY + 64];
  size_t len;
} Raw;

static void
raw_start(Raw *r, uint8_t version, uint8_t type)
{
  r->data[0] = version;
  r->data[1] = type;
  r->len = 2;
}

static void
raw_bytes(Raw *r, const void *p, size_t n)
{
  memcpy(r->data + r->len, p, n);
  r->len += n;
}

static void
raw_tlv_len(Raw *r, uint8_t tag, uint32_t declared, const void *p, size_t n)
{
  uint8_t h[5] = { tag, (uint8_t)(declared >> 24), (uint8_t)(declared >> 16), (uint8_t)(declared >> 8),
                   (uint8_t)declared };
  raw_bytes(r, h, sizeof h);
  raw_bytes(r, p, n);
}

static void
raw_tlv(Raw *r, uint8_t tag, const void *p, size_t n)
{
  raw_tlv_len(r, tag, (uint32_t)n, p, n);
}

static int
raw_parse(const Raw *r)
{
  CofferControlMessage m;
  return coffer_control_parse(r->data, r->len, &m);
}

/* Finishes a builder and parses its body back; returns the body pointer. */
static const uint8_t *
finish_and_parse(CofferControlBuilder *b, CofferControlMessage *m, size_t *body_len)
{
  const uint8_t *frame;
  size_t len;
  assert_int_equal(coffer_control_builder_finish(b, &frame, &len), 0);
  assert_true(len >= COFFER_CONTROL_HEADER_BYTES + 2);
  size_t declared;
  assert_int_equal(coffer_control_frame_body_length(frame, &declared), 0);
  assert_int_equal(declared, len - COFFER_CONTROL_HEADER_BYTES);
  *body_len = declared;
  assert_int_equal(coffer_control_parse(frame + 4, declared, m), 0);
  return frame + 4;
}

static void
assert_bytes(CofferControlBytes b, const char *expected)
{
  assert_int_equal(b.len, strlen(expected));
  assert_memory_equal(b.data, expected, b.len);
}

static int64_t
now_ms(void)
{
  return coffer_control_now_ms();
}

/* ---- round trips --------------------------------------------------------- */

static void
test_roundtrip_password_requests(void **state)
{
  static const uint8_t types[] = { COFFER_CONTROL_INIT, COFFER_CONTROL_UNLOCK };
  for (size_t i = 0; i < 2; i++) {
    CofferControlBuilder b;
    CofferControlMessage m;
    size_t len;
    assert_int_equal(coffer_control_builder_init(&b, types[i]), 0);
    coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "correct horse");
    const uint8_t *body = finish_and_parse(&b, &m, &len);
    assert_int_equal(m.type, types[i]);
    assert_true(coffer_control_has(&m, COFFER_FIELD_PASSWORD));
    assert_false(coffer_control_has(&m, COFFER_FIELD_NEW_PASSWORD));
    assert_bytes(m.password, "correct horse");
    /* The password points into the body, not into a copy. */
    assert_true(m.password.data > body && m.password.data < body + len);
    coffer_control_builder_clear(&b);
    assert_null(b.frame);
  }

  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_PASSWD);
  coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "old");
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_NEW_PASSWORD, "n\xc3\xa9w\xff", 5);
  finish_and_parse(&b, &m, &len);
  assert_int_equal(m.type, COFFER_CONTROL_PASSWD);
  assert_bytes(m.password, "old");
  assert_bytes(m.new_password, "n\xc3\xa9w\xff"); /* passwords need not be UTF-8 */
  coffer_control_builder_clear(&b);
}

/* LOGIN (the PAM module's request): PASSWORD required, CREATE optional. */
static void
test_roundtrip_login(void **state)
{
  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_LOGIN);
  coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "login pw");
  coffer_control_builder_add_u8(&b, COFFER_FIELD_CREATE, 1);
  finish_and_parse(&b, &m, &len);
  assert_int_equal(m.type, COFFER_CONTROL_LOGIN);
  assert_bytes(m.password, "login pw");
  assert_true(coffer_control_has(&m, COFFER_FIELD_CREATE));
  assert_int_equal(m.create, 1);
  coffer_control_builder_clear(&b);

  coffer_control_builder_init(&b, COFFER_CONTROL_LOGIN);
  coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "login pw");
  finish_and_parse(&b, &m, &len);
  assert_false(coffer_control_has(&m, COFFER_FIELD_CREATE));
  assert_int_equal(m.create, 0);
  coffer_control_builder_clear(&b);

  Raw r;
  raw_start(&r, 1, COFFER_CONTROL_LOGIN); /* CREATE alone: no password */
  raw_tlv(&r, COFFER_FIELD_CREATE, "\1", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_LOGIN); /* CREATE is a boolean */
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  raw_tlv(&r, COFFER_FIELD_CREATE, "\2", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_UNLOCK); /* CREATE belongs to LOGIN only */
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  raw_tlv(&r, COFFER_FIELD_CREATE, "\1", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_LOGIN); /* no new password in a login */
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  raw_tlv(&r, COFFER_FIELD_NEW_PASSWORD, "pw", 2);
  assert_int_equal(raw_parse(&r), -EBADMSG);
}

static void
test_roundtrip_bare_requests(void **state)
{
  static const uint8_t types[] = { COFFER_CONTROL_LOCK, COFFER_CONTROL_STATUS };
  for (size_t i = 0; i < 2; i++) {
    CofferControlBuilder b;
    CofferControlMessage m;
    size_t len;
    coffer_control_builder_init(&b, types[i]);
    finish_and_parse(&b, &m, &len);
    assert_int_equal(len, 2);
    assert_int_equal(m.type, types[i]);
    assert_int_equal(m.present, 0);
    coffer_control_builder_clear(&b);
  }
}

/* ---- sync requests (docs/control-protocol.md, "Sync") -------------------- */

static void
test_roundtrip_sync_requests(void **state)
{
  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;

  coffer_control_builder_init(&b, COFFER_CONTROL_JOIN);
  coffer_control_builder_add_string(&b, COFFER_FIELD_REMOTE_URL, "https://dav.example/coffer");
  coffer_control_builder_add_string(&b, COFFER_FIELD_REMOTE_USER, "alice");
  coffer_control_builder_add_string(&b, COFFER_FIELD_REMOTE_PASSWORD, "server pw");
  coffer_control_builder_add_string(&b, COFFER_FIELD_ACCOUNT_PASSWORD, "account pw");
  coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "login pw");
  finish_and_parse(&b, &m, &len);
  assert_int_equal(m.type, COFFER_CONTROL_JOIN);
  assert_bytes(m.remote_url, "https://dav.example/coffer");
  assert_bytes(m.remote_user, "alice");
  assert_bytes(m.remote_password, "server pw");
  assert_bytes(m.account_password, "account pw");
  assert_bytes(m.password, "login pw");
  coffer_control_builder_clear(&b);

  /* A folder remote: no user, no server password. */
  coffer_control_builder_init(&b, COFFER_CONTROL_REMOTE_SET);
  coffer_control_builder_add_string(&b, COFFER_FIELD_REMOTE_URL, "file:///srv/share");
  coffer_control_builder_add_string(&b, COFFER_FIELD_ACCOUNT_PASSWORD, "account pw");
  finish_and_parse(&b, &m, &len);
  assert_false(coffer_control_has(&m, COFFER_FIELD_REMOTE_USER));
  coffer_control_builder_clear(&b);

  coffer_control_builder_init(&b, COFFER_CONTROL_RESTORE);
  coffer_control_builder_add_string(&b, COFFER_FIELD_ITEM, "0123456789abcdef0123456789abcdef");
  coffer_control_builder_add_u64(&b, COFFER_FIELD_SEQ, 42);
  finish_and_parse(&b, &m, &len);
  assert_bytes(m.item, "0123456789abcdef0123456789abcdef");
  assert_int_equal(m.seq, 42);
  coffer_control_builder_clear(&b);

  static const uint8_t bare[] = { COFFER_CONTROL_SYNC, COFFER_CONTROL_CLEANUP, COFFER_CONTROL_REMOTE_REMOVE };
  for (size_t i = 0; i < sizeof bare; i++) {
    coffer_control_builder_init(&b, bare[i]);
    finish_and_parse(&b, &m, &len);
    assert_int_equal(m.present, 0);
    coffer_control_builder_clear(&b);
  }
}

static void
test_sync_requests_rejected(void **state)
{
  Raw r;
  /* REMOTE_SET needs the account password (it wraps the vault key). */
  raw_start(&r, 1, COFFER_CONTROL_REMOTE_SET);
  raw_tlv(&r, COFFER_FIELD_REMOTE_URL, "file:///x", 9);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* JOIN needs this machine's password too. */
  raw_start(&r, 1, COFFER_CONTROL_JOIN);
  raw_tlv(&r, COFFER_FIELD_REMOTE_URL, "file:///x", 9);
  raw_tlv(&r, COFFER_FIELD_ACCOUNT_PASSWORD, "a", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* An item id is exactly 32 lowercase hex digits. */
  raw_start(&r, 1, COFFER_CONTROL_HISTORY);
  raw_tlv(&r, COFFER_FIELD_ITEM, "0123456789ABCDEF0123456789abcdef", 32);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_HISTORY);
  raw_tlv(&r, COFFER_FIELD_ITEM, "../../etc/passwd", 16);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* A password never rides on SYNC. */
  raw_start(&r, 1, COFFER_CONTROL_SYNC);
  raw_tlv(&r, COFFER_FIELD_ACCOUNT_PASSWORD, "a", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* Sync report fields belong to replies, not requests. */
  uint8_t zero[8] = { 0 };
  raw_start(&r, 1, COFFER_CONTROL_SYNC);
  raw_tlv(&r, COFFER_FIELD_PUSHED, zero, 8);
  assert_int_equal(raw_parse(&r), -EBADMSG);
}

static void
test_history_entries(void **state)
{
  uint8_t buf[256];
  CofferControlHistoryEntry e = { .seq = 7,
                                  .added = 1700000000,
                                  .hlc = 0x0102030405060708ull,
                                  .tombstone = 1,
                                  .label = (const uint8_t *)"old label",
                                  .label_len = 9 };
  memset(e.device, 0xab, sizeof e.device);
  int n1 = coffer_control_history_encode(&e, buf, sizeof buf);
  assert_int_equal(n1, COFFER_CONTROL_HISTORY_FIXED + 9);
  e.seq = 3;
  e.tombstone = 0;
  e.label_len = 0;
  int n2 = coffer_control_history_encode(&e, buf + n1, sizeof buf - (size_t)n1);
  assert_int_equal(n2, COFFER_CONTROL_HISTORY_FIXED);
  /* Too small a buffer: nothing written. */
  assert_int_equal(coffer_control_history_encode(&e, buf, COFFER_CONTROL_HISTORY_FIXED - 1), -EMSGSIZE);
  /* A label with a NUL or bad UTF-8 is refused. */
  CofferControlHistoryEntry bad = e;
  bad.label = (const uint8_t *)"a\0b";
  bad.label_len = 3;
  assert_int_equal(coffer_control_history_encode(&bad, buf + 200, 56), -EBADMSG);

  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_HISTORY, buf, (size_t)(n1 + n2));
  finish_and_parse(&b, &m, &len);
  CofferControlBytes cursor = m.history;
  CofferControlHistoryEntry got;
  assert_int_equal(coffer_control_history_next(&cursor, &got), 1);
  assert_int_equal(got.seq, 7);
  assert_int_equal(got.added, 1700000000);
  assert_int_equal(got.hlc, 0x0102030405060708ull);
  assert_int_equal(got.tombstone, 1);
  assert_int_equal(got.device[15], 0xab);
  assert_int_equal(got.label_len, 9);
  assert_memory_equal(got.label, "old label", 9);
  assert_int_equal(coffer_control_history_next(&cursor, &got), 1);
  assert_int_equal(got.seq, 3);
  assert_int_equal(got.label_len, 0);
  assert_int_equal(coffer_control_history_next(&cursor, &got), 0);
  coffer_control_builder_clear(&b);

  /* Every truncation of the sequence, and a label length past the end,
   * make the whole reply malformed. */
  Raw r;
  for (size_t cut = 1; cut < (size_t)(n1 + n2); cut++) {
    if (cut == (size_t)n1)
      continue; /* a whole first entry alone is fine */
    raw_start(&r, 1, COFFER_CONTROL_OK);
    raw_tlv(&r, COFFER_FIELD_HISTORY, buf, cut);
    assert_int_equal(raw_parse(&r), -EBADMSG);
  }
  buf[41 + 3] = 200; /* first label length: 9 -> 200 */
  raw_start(&r, 1, COFFER_CONTROL_OK);
  raw_tlv(&r, COFFER_FIELD_HISTORY, buf, (size_t)(n1 + n2));
  assert_int_equal(raw_parse(&r), -EBADMSG);
}

static void
test_access_requests(void **state)
{
  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  Raw r;

  coffer_control_builder_init(&b, COFFER_CONTROL_ACCESS_LIST);
  finish_and_parse(&b, &m, &len);
  assert_int_equal(m.present, 0);
  coffer_control_builder_clear(&b);

  coffer_control_builder_init(&b, COFFER_CONTROL_ACCESS_REVOKE);
  coffer_control_builder_add_string(&b, COFFER_FIELD_APP, "/usr/bin/reader");
  coffer_control_builder_add_string(&b, COFFER_FIELD_ITEM, "0123456789abcdef0123456789abcdef");
  finish_and_parse(&b, &m, &len);
  assert_bytes(m.app, "/usr/bin/reader");
  assert_bytes(m.item, "0123456789abcdef0123456789abcdef");
  coffer_control_builder_clear(&b);

  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_REVOKED, 3);
  finish_and_parse(&b, &m, &len);
  assert_int_equal(m.revoked, 3);
  coffer_control_builder_clear(&b);

  /* REVOKE names an application, never an empty one; LIST takes nothing. */
  raw_start(&r, 1, COFFER_CONTROL_ACCESS_REVOKE);
  raw_tlv(&r, COFFER_FIELD_ITEM, "0123456789abcdef0123456789abcdef", 32);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_ACCESS_REVOKE);
  raw_tlv(&r, COFFER_FIELD_APP, "", 0);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_ACCESS_REVOKE);
  raw_tlv(&r, COFFER_FIELD_APP, "a\0b", 3);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_ACCESS_LIST);
  raw_tlv(&r, COFFER_FIELD_APP, "x", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* Decisions travel in replies only. */
  raw_start(&r, 1, COFFER_CONTROL_ACCESS_LIST);
  raw_tlv(&r, COFFER_FIELD_ACCESS, "", 0);
  assert_int_equal(raw_parse(&r), -EBADMSG);
}

static void
test_access_entries(void **state)
{
  static const char item[] = "0123456789abcdef0123456789abcdef";
  static const char app[] = "exe:00:/usr/bin/reader";
  uint8_t buf[256];
  CofferControlAccessEntry e = { .decision = COFFER_CONTROL_ACCESS_ALLOW,
                                 .created = 1700000000,
                                 .item = (const uint8_t *)item,
                                 .app = (const uint8_t *)app,
                                 .app_len = strlen(app),
                                 .label = (const uint8_t *)"Mail",
                                 .label_len = 4 };
  int n1 = coffer_control_access_encode(&e, buf, sizeof buf);
  assert_int_equal(n1, COFFER_CONTROL_ACCESS_FIXED + strlen(app) + 4);
  e.label_len = 0;
  e.decision = COFFER_CONTROL_ACCESS_DENY;
  int n2 = coffer_control_access_encode(&e, buf + n1, sizeof buf - (size_t)n1);
  assert_int_equal(n2, COFFER_CONTROL_ACCESS_FIXED + strlen(app));
  assert_int_equal(coffer_control_access_encode(&e, buf, COFFER_CONTROL_ACCESS_FIXED + 3), -EMSGSIZE);
  CofferControlAccessEntry bad = e;
  bad.app_len = 0;
  assert_int_equal(coffer_control_access_encode(&bad, buf + 200, 56), -EBADMSG);
  bad = e;
  bad.item = (const uint8_t *)"0123456789ABCDEF0123456789abcdef";
  assert_int_equal(coffer_control_access_encode(&bad, buf + 200, 56), -EBADMSG);
  bad = e;
  bad.decision = 2;
  assert_int_equal(coffer_control_access_encode(&bad, buf + 200, 56), -EBADMSG);

  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_ACCESS, buf, (size_t)(n1 + n2));
  finish_and_parse(&b, &m, &len);
  CofferControlBytes cursor = m.access;
  CofferControlAccessEntry got;
  assert_int_equal(coffer_control_access_next(&cursor, &got), 1);
  assert_int_equal(got.decision, COFFER_CONTROL_ACCESS_ALLOW);
  assert_int_equal(got.created, 1700000000);
  assert_memory_equal(got.item, item, 32);
  assert_int_equal(got.app_len, strlen(app));
  assert_memory_equal(got.app, app, got.app_len);
  assert_int_equal(got.label_len, 4);
  assert_memory_equal(got.label, "Mail", 4);
  assert_int_equal(coffer_control_access_next(&cursor, &got), 1);
  assert_int_equal(got.decision, COFFER_CONTROL_ACCESS_DENY);
  assert_int_equal(got.label_len, 0);
  assert_int_equal(coffer_control_access_next(&cursor, &got), 0);
  coffer_control_builder_clear(&b);

  /* Every truncation, an app length past the end, and a bad decision make
   * the whole reply malformed. */
  Raw r;
  for (size_t cut = 1; cut < (size_t)(n1 + n2); cut++) {
    if (cut == (size_t)n1)
      continue;
    raw_start(&r, 1, COFFER_CONTROL_OK);
    raw_tlv(&r, COFFER_FIELD_ACCESS, buf, cut);
    assert_int_equal(raw_parse(&r), -EBADMSG);
  }
  buf[41 + 3] = 250; /* first app length past the end */
  raw_start(&r, 1, COFFER_CONTROL_OK);
  raw_tlv(&r, COFFER_FIELD_ACCESS, buf, (size_t)(n1 + n2));
  assert_int_equal(raw_parse(&r), -EBADMSG);
  buf[41 + 3] = (uint8_t)strlen(app);
  buf[0] = 7;
  raw_start(&r, 1, COFFER_CONTROL_OK);
  raw_tlv(&r, COFFER_FIELD_ACCESS, buf, (size_t)(n1 + n2));
  assert_int_equal(raw_parse(&r), -EBADMSG);
}

static void
test_status_reply_with_sync_fields(void **state)
{
  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_u8(&b, COFFER_FIELD_INITIALIZED, 1);
  coffer_control_builder_add_string(&b, COFFER_FIELD_REMOTE_URL, "https://dav.example/");
  coffer_control_builder_add_u64(&b, COFFER_FIELD_LAST_SYNC, 1700000000);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_PENDING, 3);
  coffer_control_builder_add_string(&b, COFFER_FIELD_LAST_ERROR, "refused records/00: rollback");
  coffer_control_builder_add_u64(&b, COFFER_FIELD_REMOTE_BYTES, 123456);
  finish_and_parse(&b, &m, &len);
  assert_true(coffer_control_has(&m, COFFER_FIELD_REMOTE_BYTES)); /* a tag above 31 */
  assert_int_equal(m.last_sync, 1700000000);
  assert_int_equal(m.pending, 3);
  assert_int_equal(m.remote_bytes, 123456);
  assert_bytes(m.last_error, "refused records/00: rollback");
  coffer_control_builder_clear(&b);
  assert_string_equal(coffer_control_error_name(COFFER_CONTROL_ERR_SYNC), "sync");
  assert_string_equal(coffer_control_error_name(COFFER_CONTROL_ERR_NO_REMOTE), "no-remote");
}

static void
test_roundtrip_status_reply(void **state)
{
  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_u8(&b, COFFER_FIELD_INITIALIZED, 1);
  coffer_control_builder_add_u8(&b, COFFER_FIELD_LOCKED, 0);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_COLLECTIONS, 2);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_ITEMS, UINT64_MAX);
  coffer_control_builder_add_u64(&b, COFFER_FIELD_STORE_BYTES, 0x0102030405060708ull);
  coffer_control_builder_add_string(&b, COFFER_FIELD_STORE_PATH, "/home/u/.local/share/coffer/vault.db");
  coffer_control_builder_add_string(&b, COFFER_FIELD_AGENT_VERSION, "0.1.0");
  const uint8_t *body = finish_and_parse(&b, &m, &len);
  assert_int_equal(m.type, COFFER_CONTROL_OK);
  assert_int_equal(m.initialized, 1);
  assert_int_equal(m.locked, 0);
  assert_true(coffer_control_has(&m, COFFER_FIELD_LOCKED));
  assert_int_equal(m.collections, 2);
  assert_true(m.items == UINT64_MAX);
  assert_true(m.store_bytes == 0x0102030405060708ull);
  assert_bytes(m.store_path, "/home/u/.local/share/coffer/vault.db");
  assert_bytes(m.agent_version, "0.1.0");
  /* Big-endian on the wire: find the STORE_BYTES TLV and look. */
  const uint8_t want[] = { COFFER_FIELD_STORE_BYTES, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
  assert_non_null(memmem(body, len, want, sizeof want));
  coffer_control_builder_clear(&b);
}

static void
test_roundtrip_error_reply(void **state)
{
  CofferControlBuilder b;
  CofferControlMessage m;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_ERROR);
  coffer_control_builder_add_u32(&b, COFFER_FIELD_ERROR_CODE, COFFER_CONTROL_ERR_BAD_PASSWORD);
  coffer_control_builder_add_string(&b, COFFER_FIELD_MESSAGE, "wrong password \xe2\x80\x94 try again");
  finish_and_parse(&b, &m, &len);
  assert_int_equal(m.type, COFFER_CONTROL_ERROR);
  assert_int_equal(m.error_code, COFFER_CONTROL_ERR_BAD_PASSWORD);
  assert_bytes(m.message, "wrong password \xe2\x80\x94 try again");
  assert_string_equal(coffer_control_error_name(m.error_code), "bad-password");
  assert_string_equal(coffer_control_error_name(999), "unknown");
  coffer_control_builder_clear(&b);
}

/* Field order on the wire does not matter. */
static void
test_parse_any_field_order(void **state)
{
  Raw r;
  raw_start(&r, 1, COFFER_CONTROL_PASSWD);
  raw_tlv(&r, COFFER_FIELD_NEW_PASSWORD, "new", 3);
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "old", 3);
  CofferControlMessage m;
  assert_int_equal(coffer_control_parse(r.data, r.len, &m), 0);
  assert_bytes(m.password, "old");
  assert_bytes(m.new_password, "new");
}

/* ---- malformations --------------------------------------------------------- */

static void
test_parse_rejects_headers(void **state)
{
  CofferControlMessage m;
  const uint8_t one[] = { 1 };
  assert_int_equal(coffer_control_parse(one, 0, &m), -EBADMSG);
  assert_int_equal(coffer_control_parse(NULL, 0, &m), -EBADMSG);
  assert_int_equal(coffer_control_parse(one, 1, &m), -EBADMSG);

  Raw r;
  raw_start(&r, 2, COFFER_CONTROL_LOCK);
  assert_int_equal(raw_parse(&r), -EPROTONOSUPPORT);
  raw_start(&r, 0, COFFER_CONTROL_LOCK);
  assert_int_equal(raw_parse(&r), -EPROTONOSUPPORT);

  static const uint8_t unknown_types[] = { 0x00, 0x06, 0x7f, 0x82, 0xff };
  for (size_t i = 0; i < sizeof unknown_types; i++) {
    raw_start(&r, 1, unknown_types[i]);
    assert_int_equal(raw_parse(&r), -EBADMSG);
  }
}

static void
test_parse_rejects_bad_tlvs(void **state)
{
  Raw r;
  /* TLV header cut short */
  raw_start(&r, 1, COFFER_CONTROL_INIT);
  raw_bytes(&r, "\x01\x00\x00", 3);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* declared length past the end */
  raw_start(&r, 1, COFFER_CONTROL_INIT);
  raw_tlv_len(&r, COFFER_FIELD_PASSWORD, 10, "abc", 3);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* a length that would wrap a pointer or size_t sum */
  raw_start(&r, 1, COFFER_CONTROL_INIT);
  raw_tlv_len(&r, COFFER_FIELD_PASSWORD, 0xffffffffu, "abc", 3);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_INIT);
  raw_tlv_len(&r, COFFER_FIELD_PASSWORD, 0xfffffffbu, "abc", 3);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* trailing bytes after a complete message */
  raw_start(&r, 1, COFFER_CONTROL_INIT);
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  assert_int_equal(raw_parse(&r), 0);
  raw_bytes(&r, "\x00", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* duplicate field */
  raw_start(&r, 1, COFFER_CONTROL_INIT);
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  /* unknown tags, including ones past the presence bitmask */
  static const uint8_t unknown_tags[] = { 0x00, 0x05, 0x0f, 0x2a, 0x3f, 0x40, 0x41, 0x80, 0xff };
  for (size_t i = 0; i < sizeof unknown_tags; i++) {
    raw_start(&r, 1, COFFER_CONTROL_OK);
    raw_tlv(&r, unknown_tags[i], "x", 1);
    assert_int_equal(raw_parse(&r), -EBADMSG);
  }
}

static void
test_parse_rejects_wrong_fields_for_type(void **state)
{
  Raw r;
  raw_start(&r, 1, COFFER_CONTROL_INIT); /* missing password */
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_UNLOCK);
  raw_tlv(&r, COFFER_FIELD_NEW_PASSWORD, "pw", 2); /* wrong password field */
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_PASSWD); /* only one of two */
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_LOCK); /* a password where none belongs */
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_STATUS);
  raw_tlv(&r, COFFER_FIELD_MESSAGE, "hi", 2);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_OK); /* responses never carry passwords */
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "pw", 2);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_OK);
  raw_tlv(&r, COFFER_FIELD_ERROR_CODE, "\0\0\0\1", 4);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_ERROR); /* no code */
  raw_tlv(&r, COFFER_FIELD_MESSAGE, "hi", 2);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_ERROR); /* code 0 is not an error */
  raw_tlv(&r, COFFER_FIELD_ERROR_CODE, "\0\0\0\0", 4);
  assert_int_equal(raw_parse(&r), -EBADMSG);
  raw_start(&r, 1, COFFER_CONTROL_ERROR);
  raw_tlv(&r, COFFER_FIELD_ERROR_CODE, "\0\0\0\7", 4);
  raw_tlv(&r, COFFER_FIELD_LOCKED, "\1", 1);
  assert_int_equal(raw_parse(&r), -EBADMSG);
}

static void
test_parse_rejects_bad_values(void **state)
{
  Raw r;
  struct {
    uint8_t type, tag;
    const char *value;
    size_t len;
  } cases[] = {
    { COFFER_CONTROL_INIT, COFFER_FIELD_PASSWORD, "a\0b", 3 },
    { COFFER_CONTROL_OK, COFFER_FIELD_INITIALIZED, "\2", 1 },
    { COFFER_CONTROL_OK, COFFER_FIELD_INITIALIZED, "", 0 },
    { COFFER_CONTROL_OK, COFFER_FIELD_LOCKED, "\0\0", 2 },
    { COFFER_CONTROL_OK, COFFER_FIELD_COLLECTIONS, "\0\0\0\0\0\0\0", 7 },
    { COFFER_CONTROL_OK, COFFER_FIELD_ITEMS, "\0\0\0\0\0\0\0\0\0", 9 },
    { COFFER_CONTROL_OK, COFFER_FIELD_STORE_PATH, "/a\0b", 4 },
    { COFFER_CONTROL_ERROR, COFFER_FIELD_ERROR_CODE, "\0\0\1", 3 },
    { COFFER_CONTROL_ERROR, COFFER_FIELD_ERROR_CODE, "\0\0\0\0\1", 5 },
    /* UTF-8: overlong, surrogate, above U+10FFFF, truncated, stray
     * continuation, 5-byte lead, embedded NUL */
    { COFFER_CONTROL_OK, COFFER_FIELD_MESSAGE, "\xc0\x80", 2 },
    { COFFER_CONTROL_OK, COFFER_FIELD_MESSAGE, "\xe0\x80\xaf", 3 },
    { COFFER_CONTROL_OK, COFFER_FIELD_MESSAGE, "\xed\xa0\x80", 3 },
    { COFFER_CONTROL_OK, COFFER_FIELD_MESSAGE, "\xf4\x90\x80\x80", 4 },
    { COFFER_CONTROL_OK, COFFER_FIELD_MESSAGE, "ok\xe2\x82", 4 },
    { COFFER_CONTROL_OK, COFFER_FIELD_MESSAGE, "\x80", 1 },
    { COFFER_CONTROL_OK, COFFER_FIELD_MESSAGE, "\xf8\x88\x80\x80\x80", 5 },
    { COFFER_CONTROL_OK, COFFER_FIELD_AGENT_VERSION, "1\0", 2 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    raw_start(&r, 1, cases[i].type);
    if (cases[i].type == COFFER_CONTROL_ERROR && cases[i].tag != COFFER_FIELD_ERROR_CODE)
      raw_tlv(&r, COFFER_FIELD_ERROR_CODE, "\0\0\0\1", 4);
    raw_tlv(&r, cases[i].tag, cases[i].value, cases[i].len);
    if (raw_parse(&r) != -EBADMSG)
      fail_msg("case %zu was accepted", i);
  }
  /* and the good neighbours of those cases pass */
  raw_start(&r, 1, COFFER_CONTROL_OK);
  raw_tlv(&r, COFFER_FIELD_MESSAGE, "\xf4\x8f\xbf\xbf \xe2\x82\xac \xc3\xa9", 11);
  raw_tlv(&r, COFFER_FIELD_LOCKED, "\1", 1);
  assert_int_equal(raw_parse(&r), 0);
}

/* Every proper prefix of a valid message, and every one-byte extension of
 * it, is rejected. */
static void
test_parse_rejects_every_truncation(void **state)
{
  Raw r;
  raw_start(&r, 1, COFFER_CONTROL_PASSWD);
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "old password", 12);
  raw_tlv(&r, COFFER_FIELD_NEW_PASSWORD, "new password", 12);
  CofferControlMessage m;
  assert_int_equal(coffer_control_parse(r.data, r.len, &m), 0);
  for (size_t n = 0; n < r.len; n++)
    if (coffer_control_parse(r.data, n, &m) == 0)
      fail_msg("prefix of %zu bytes accepted", n);
  for (int b = 0; b < 256; b++) {
    r.data[r.len] = (uint8_t)b;
    if (coffer_control_parse(r.data, r.len + 1, &m) == 0)
      fail_msg("extension %d accepted", b);
  }
}

/* A failed parse leaves nothing behind in the output. */
static void
test_parse_failure_clears_output(void **state)
{
  Raw r;
  raw_start(&r, 1, COFFER_CONTROL_INIT);
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "secret", 6);
  raw_tlv(&r, COFFER_FIELD_PASSWORD, "secret", 6);
  CofferControlMessage m;
  memset(&m, 0xaa, sizeof m);
  assert_int_equal(coffer_control_parse(r.data, r.len, &m), -EBADMSG);
  assert_null(m.password.data);
  assert_int_equal(m.present, 0);
}

/* ---- size limits ----------------------------------------------------------- */

static void
test_size_limits(void **state)
{
  static Raw r;
  const size_t fill = COFFER_CONTROL_MAX_BODY - 2 - 5;
  raw_start(&r, 1, COFFER_CONTROL_OK);
  uint8_t *big = malloc(fill + 1);
  memset(big, 'a', fill + 1);
  raw_tlv(&r, COFFER_FIELD_MESSAGE, big, fill);
  assert_int_equal(r.len, COFFER_CONTROL_MAX_BODY);
  assert_int_equal(raw_parse(&r), 0);
  raw_start(&r, 1, COFFER_CONTROL_OK);
  raw_tlv(&r, COFFER_FIELD_MESSAGE, big, fill + 1);
  assert_int_equal(raw_parse(&r), -EMSGSIZE);

  /* the builder stops at the same place */
  CofferControlBuilder b;
  const uint8_t *frame;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_MESSAGE, big, fill);
  assert_int_equal(coffer_control_builder_finish(&b, &frame, &len), 0);
  assert_int_equal(len, COFFER_CONTROL_MAX_FRAME);
  coffer_control_builder_clear(&b);
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_MESSAGE, big, fill + 1);
  coffer_control_builder_add_u8(&b, COFFER_FIELD_LOCKED, 1); /* sticky: ignored */
  assert_int_equal(coffer_control_builder_finish(&b, &frame, &len), -EMSGSIZE);
  coffer_control_builder_clear(&b);
  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_MESSAGE, big, SIZE_MAX - 2);
  assert_int_equal(coffer_control_builder_finish(&b, &frame, &len), -EMSGSIZE);
  coffer_control_builder_clear(&b);
  free(big);

  struct {
    uint32_t n;
    int want;
  } headers[] = { { 0, -EBADMSG },
                  { 1, -EBADMSG },
                  { 2, 0 },
                  { COFFER_CONTROL_MAX_BODY, 0 },
                  { COFFER_CONTROL_MAX_BODY + 1, -EMSGSIZE },
                  { 0xffffffffu, -EMSGSIZE } };
  for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
    uint32_t n = headers[i].n;
    uint8_t h[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
    size_t got = 12345;
    assert_int_equal(coffer_control_frame_body_length(h, &got), headers[i].want);
    if (headers[i].want == 0)
      assert_int_equal(got, n);
  }
}

/* The builder refuses to emit what the parser would reject. */
static void
test_builder_validates(void **state)
{
  CofferControlBuilder b;
  const uint8_t *frame;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_LOCK);
  coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "pw");
  assert_int_equal(coffer_control_builder_finish(&b, &frame, &len), -EBADMSG);
  coffer_control_builder_clear(&b);
  coffer_control_builder_init(&b, COFFER_CONTROL_UNLOCK);
  coffer_control_builder_add_bytes(&b, COFFER_FIELD_PASSWORD, "a\0b", 3);
  assert_int_equal(coffer_control_builder_finish(&b, &frame, &len), -EBADMSG);
  coffer_control_builder_clear(&b);
  coffer_control_builder_init(&b, COFFER_CONTROL_UNLOCK);
  assert_int_equal(coffer_control_builder_finish(&b, &frame, &len), -EBADMSG);
  coffer_control_builder_clear(&b);
  coffer_control_builder_clear(&b); /* twice is harmless */
}

/* ---- frame I/O ------------------------------------------------------------- */

static pid_t
fork_writer(int fd, const uint8_t *data, size_t len, size_t stop_at, size_t chunk)
{
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    for (size_t off = 0; off < stop_at; off += chunk) {
      size_t n = stop_at - off < chunk ? stop_at - off : chunk;
      if (write(fd, data + off, n) != (ssize_t)n)
        _exit(1);
      struct timespec ts = { 0, 1000000 };
      nanosleep(&ts, NULL);
    }
    _exit(0);
  }
  (void)len;
  return pid;
}

static void
wait_child(pid_t pid)
{
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void
test_read_frame_partial_writes(void **state)
{
  CofferControlBuilder b;
  const uint8_t *frame;
  size_t len;
  coffer_control_builder_init(&b, COFFER_CONTROL_PASSWD);
  coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "old one");
  coffer_control_builder_add_string(&b, COFFER_FIELD_NEW_PASSWORD, "new one");
  assert_int_equal(coffer_control_builder_finish(&b, &frame, &len), 0);

  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  pid_t pid = fork_writer(sv[1], frame, len, len, 1); /* one byte at a time */
  close(sv[1]);
  uint8_t *body;
  size_t body_len;
  assert_int_equal(coffer_control_read_frame(sv[0], &body, &body_len, now_ms() + 5000), 0);
  wait_child(pid);
  CofferControlMessage m;
  assert_int_equal(coffer_control_parse(body, body_len, &m), 0);
  assert_bytes(m.password, "old one");
  assert_bytes(m.new_password, "new one");
  coffer_control_body_free(body, body_len);
  close(sv[0]);

  /* the peer hangs up mid-body */
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  pid = fork_writer(sv[1], frame, len, len - 3, 4);
  close(sv[1]);
  assert_int_equal(coffer_control_read_frame(sv[0], &body, &body_len, now_ms() + 5000), -ECONNRESET);
  assert_null(body);
  wait_child(pid);
  close(sv[0]);
  coffer_control_builder_clear(&b);
}

static void
test_read_frame_rejects_oversize_header(void **state)
{
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  const uint8_t header[4] = { 0x00, 0x01, 0x00, 0x01 }; /* 64 KiB + 1 */
  assert_int_equal(write(sv[1], header, 4), 4);
  uint8_t *body;
  size_t body_len;
  assert_int_equal(coffer_control_read_frame(sv[0], &body, &body_len, now_ms() + 1000), -EMSGSIZE);
  close(sv[0]);
  close(sv[1]);
}

static void
test_read_frame_times_out(void **state)
{
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  assert_int_equal(write(sv[1], "\0\0\0", 3), 3); /* a header that never completes */
  uint8_t *body;
  size_t body_len;
  int64_t start = now_ms();
  assert_int_equal(coffer_control_read_frame(sv[0], &body, &body_len, start + 200), -ETIMEDOUT);
  int64_t took = now_ms() - start;
  assert_true(took >= 190 && took < 1500);
  close(sv[0]);
  close(sv[1]);
}

/* ---- socket path ----------------------------------------------------------- */

static void
test_socket_path(void **state)
{
  char buf[256];
  assert_int_equal(coffer_control_socket_path_for(buf, sizeof buf, "/run/user/1000", 1000), 0);
  assert_string_equal(buf, "/run/user/1000/coffer/control");
  /* a relative XDG_RUNTIME_DIR is ignored; this uid has no /run/user dir */
  assert_int_equal(coffer_control_socket_path_for(buf, sizeof buf, "run/x", 3999999), -ENOENT);
  assert_int_equal(coffer_control_socket_path_for(buf, sizeof buf, "", 3999999), -ENOENT);
  assert_int_equal(coffer_control_socket_path_for(buf, sizeof buf, NULL, 3999999), -ENOENT);
  assert_int_equal(coffer_control_socket_path_for(buf, 10, "/run/user/1000", 1000), -ENAMETOOLONG);
  char longdir[200];
  memset(longdir, 'x', sizeof longdir - 1);
  longdir[0] = '/';
  longdir[sizeof longdir - 1] = '\0';
  /* fits in buf but not in sockaddr_un.sun_path */
  assert_int_equal(coffer_control_socket_path_for(buf, sizeof buf, longdir, 0), -ENAMETOOLONG);

  char *saved = getenv("XDG_RUNTIME_DIR") ? strdup(getenv("XDG_RUNTIME_DIR")) : NULL;
  setenv("XDG_RUNTIME_DIR", "/tmp/rt-test", 1);
  assert_int_equal(coffer_control_socket_path(buf, sizeof buf), 0);
  assert_string_equal(buf, "/tmp/rt-test/coffer/control");
  if (saved)
    setenv("XDG_RUNTIME_DIR", saved, 1);
  else
    unsetenv("XDG_RUNTIME_DIR");
  free(saved);
}

/* ---- client socket checks -------------------------------------------------- */

typedef struct {
  char root[64];  /* mkdtemp */
  char dir[128];  /* root/coffer, 0700 */
  char path[160]; /* root/coffer/control */
  int listen_fd;
} Fixture;

static int
bind_listen(const char *path, bool do_listen)
{
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  strcpy(sun.sun_path, path);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0)
    return -1;
  if (do_listen && listen(fd, 8) < 0)
    return -1;
  return fd;
}

static int
fixture_setup(void **state)
{
  Fixture *f = calloc(1, sizeof *f);
  strcpy(f->root, "/tmp/test-control-XXXXXX");
  if (mkdtemp(f->root) == NULL)
    return -1;
  snprintf(f->dir, sizeof f->dir, "%s/coffer", f->root);
  snprintf(f->path, sizeof f->path, "%s/control", f->dir);
  if (mkdir(f->dir, 0700) < 0 || chmod(f->dir, 0700) < 0)
    return -1;
  f->listen_fd = bind_listen(f->path, true);
  if (f->listen_fd < 0)
    return -1;
  *state = f;
  return 0;
}

static int
fixture_teardown(void **state)
{
  Fixture *f = *state;
  char cmd[128];
  close(f->listen_fd);
  /* everything in it was made by this test; the name comes from mkdtemp */
  snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", f->root);
  if (system(cmd) != 0)
    return -1;
  free(f);
  return 0;
}

static void
test_connect_ok(void **state)
{
  Fixture *f = *state;
  int fd = coffer_control_connect(f->path, getuid(), 1000);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  close(fd);
}

static void
test_connect_refuses_open_directory(void **state)
{
  Fixture *f = *state;
  static const mode_t modes[] = { 0755, 0711, 0770, 0701, 01700, 0500 };
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    assert_int_equal(chmod(f->dir, modes[i]), 0);
    assert_int_equal(coffer_control_connect(f->path, getuid(), 1000), -EPERM);
  }
  assert_int_equal(chmod(f->dir, 0700), 0);
}

static void
test_connect_refuses_wrong_owner(void **state)
{
  Fixture *f = *state;
  /* everything is ours, so another expected uid must be refused */
  assert_int_equal(coffer_control_connect(f->path, getuid() + 1, 1000), -EPERM);
}

static void
test_connect_refuses_symlinked_socket(void **state)
{
  Fixture *f = *state;
  char dir2[192], link[224];
  snprintf(dir2, sizeof dir2, "%s/other", f->root);
  snprintf(link, sizeof link, "%s/control", dir2);
  assert_int_equal(mkdir(dir2, 0700), 0);
  assert_int_equal(symlink(f->path, link), 0);
  assert_int_equal(coffer_control_connect(link, getuid(), 1000), -ELOOP);
}

static void
test_connect_refuses_symlinked_directory(void **state)
{
  Fixture *f = *state;
  char linkdir[192], path[224];
  snprintf(linkdir, sizeof linkdir, "%s/linked", f->root);
  snprintf(path, sizeof path, "%s/control", linkdir);
  assert_int_equal(symlink(f->dir, linkdir), 0);
  int r = coffer_control_connect(path, getuid(), 1000);
  assert_true(r == -ELOOP || r == -ENOTDIR);
}

static void
test_connect_refuses_regular_file(void **state)
{
  Fixture *f = *state;
  char path[192];
  snprintf(path, sizeof path, "%s/file", f->dir);
  int fd = open(path, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(coffer_control_connect(path, getuid(), 1000), -ENOTSOCK);
  snprintf(path, sizeof path, "%s/missing", f->dir);
  assert_int_equal(coffer_control_connect(path, getuid(), 1000), -ENOENT);
}

static void
test_connect_nobody_listening(void **state)
{
  Fixture *f = *state;
  char path[192];
  snprintf(path, sizeof path, "%s/stale", f->dir);
  int fd = bind_listen(path, false); /* bound, never listening: like a dead agent */
  assert_true(fd >= 0);
  assert_int_equal(coffer_control_connect(path, getuid(), 1000), -ECONNREFUSED);
  close(fd);
}

/* The listener's uid is what SO_PEERCRED reports: a listener that changed
 * uid before listen() looks like another user's agent.  Needs root. */
static void
test_connect_refuses_foreign_peer(void **state)
{
  Fixture *f = *state;
  if (getuid() != 0)
    skip();
  char path[192];
  snprintf(path, sizeof path, "%s/foreign", f->dir);
  int fd = bind_listen(path, false);
  assert_true(fd >= 0);
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (setgid(65534) < 0 || setuid(65534) < 0 || listen(fd, 4) < 0)
      _exit(1);
    (void)!write(ready[1], "r", 1);
    pause();
    _exit(0);
  }
  close(fd);
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  assert_int_equal(coffer_control_connect(path, getuid(), 1000), -EPERM);
  kill(pid, SIGTERM);
  wait_child(pid);
  close(ready[0]);
  close(ready[1]);
}

/* A server that accepts and reads but never answers: the call gives up
 * within its timeout. */
static void
test_call_times_out(void **state)
{
  Fixture *f = *state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int c = accept(f->listen_fd, NULL, NULL);
    char buf[256];
    while (c >= 0 && read(c, buf, sizeof buf) > 0) {
    }
    pause();
    _exit(0);
  }
  int fd = coffer_control_connect(f->path, getuid(), 1000);
  assert_true(fd >= 0);
  CofferControlBuilder b;
  coffer_control_builder_init(&b, COFFER_CONTROL_UNLOCK);
  coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "pw");
  uint8_t *body;
  size_t len;
  CofferControlMessage m;
  int64_t start = now_ms();
  assert_int_equal(coffer_control_call(fd, &b, 300, &body, &len, &m), -ETIMEDOUT);
  int64_t took = now_ms() - start;
  assert_true(took >= 290 && took < 2000);
  assert_null(b.frame); /* the request was wiped and freed anyway */
  assert_null(body);
  close(fd);
  kill(pid, SIGKILL);
  wait_child(pid);
}

/* A full exchange against a minimal server; a reply that is a request type
 * is refused. */
static void
test_call_round_trip(void **state)
{
  Fixture *f = *state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    for (int i = 0; i < 2; i++) {
      int c = accept(f->listen_fd, NULL, NULL);
      uint8_t *body;
      size_t len;
      CofferControlMessage m;
      if (c < 0 || coffer_control_read_frame(c, &body, &len, now_ms() + 5000) < 0)
        _exit(1);
      if (coffer_control_parse(body, len, &m) < 0 || m.type != COFFER_CONTROL_UNLOCK)
        _exit(2);
      if (m.password.len != 2 || memcmp(m.password.data, "pw", 2) != 0)
        _exit(3);
      coffer_control_body_free(body, len);
      CofferControlBuilder b;
      const uint8_t *frame;
      size_t flen;
      coffer_control_builder_init(&b, i == 0 ? COFFER_CONTROL_ERROR : COFFER_CONTROL_LOCK);
      if (i == 0)
        coffer_control_builder_add_u32(&b, COFFER_FIELD_ERROR_CODE, COFFER_CONTROL_ERR_BAD_PASSWORD);
      if (coffer_control_builder_finish(&b, &frame, &flen) < 0 ||
          coffer_control_write_all(c, frame, flen, now_ms() + 5000) < 0)
        _exit(4);
      coffer_control_builder_clear(&b);
      close(c);
    }
    _exit(0);
  }
  for (int i = 0; i < 2; i++) {
    int fd = coffer_control_connect(f->path, getuid(), 1000);
    assert_true(fd >= 0);
    CofferControlBuilder b;
    coffer_control_builder_init(&b, COFFER_CONTROL_UNLOCK);
    coffer_control_builder_add_string(&b, COFFER_FIELD_PASSWORD, "pw");
    uint8_t *body;
    size_t len;
    CofferControlMessage m;
    int r = coffer_control_call(fd, &b, 5000, &body, &len, &m);
    if (i == 0) {
      assert_int_equal(r, 0);
      assert_int_equal(m.type, COFFER_CONTROL_ERROR);
      assert_int_equal(m.error_code, COFFER_CONTROL_ERR_BAD_PASSWORD);
      coffer_control_body_free(body, len);
    } else {
      assert_int_equal(r, -EBADMSG);
    }
    close(fd);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_roundtrip_password_requests),
    cmocka_unit_test(test_roundtrip_bare_requests),
    cmocka_unit_test(test_roundtrip_login),
    cmocka_unit_test(test_roundtrip_status_reply),
    cmocka_unit_test(test_roundtrip_sync_requests),
    cmocka_unit_test(test_sync_requests_rejected),
    cmocka_unit_test(test_history_entries),
    cmocka_unit_test(test_access_requests),
    cmocka_unit_test(test_access_entries),
    cmocka_unit_test(test_status_reply_with_sync_fields),
    cmocka_unit_test(test_roundtrip_error_reply),
    cmocka_unit_test(test_parse_any_field_order),
    cmocka_unit_test(test_parse_rejects_headers),
    cmocka_unit_test(test_parse_rejects_bad_tlvs),
    cmocka_unit_test(test_parse_rejects_wrong_fields_for_type),
    cmocka_unit_test(test_parse_rejects_bad_values),
    cmocka_unit_test(test_parse_rejects_every_truncation),
    cmocka_unit_test(test_parse_failure_clears_output),
    cmocka_unit_test(test_size_limits),
    cmocka_unit_test(test_builder_validates),
    cmocka_unit_test(test_read_frame_partial_writes),
    cmocka_unit_test(test_read_frame_rejects_oversize_header),
    cmocka_unit_test(test_read_frame_times_out),
    cmocka_unit_test(test_socket_path),
    cmocka_unit_test_setup_teardown(test_connect_ok, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_connect_refuses_open_directory, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_connect_refuses_wrong_owner, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_connect_refuses_symlinked_socket, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_connect_refuses_symlinked_directory, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_connect_refuses_regular_file, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_connect_nobody_listening, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_connect_refuses_foreign_peer, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_call_times_out, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_call_round_trip, fixture_setup, fixture_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
