/* Fuzz target for the control protocol parser (lib/control.c).
 *
 * The input is one message body (what follows the length prefix).  Beyond
 * "does not crash", it checks two properties: whatever the parser accepts,
 * the builder can re-encode, and re-parsing that gives the same message.
 *
 * Built with -DCOFFER_LIBFUZZER and -fsanitize=fuzzer it is a libFuzzer
 * target; otherwise a small main() runs every file named on the command line
 * through it, so the seed corpus is a regression test under any compiler. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "fuzz-control: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                           \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

/* The sync and access fields: byte fields by pointer, u64 fields by value. */
static void
add_sync_field(CofferControlBuilder *b, const CofferControlMessage *m, uint8_t tag)
{
  const CofferControlBytes *bytes = NULL;
  const uint64_t *u64 = NULL;
  switch (tag) {
  case COFFER_FIELD_REMOTE_URL:
    bytes = &m->remote_url;
    break;
  case COFFER_FIELD_REMOTE_USER:
    bytes = &m->remote_user;
    break;
  case COFFER_FIELD_REMOTE_PASSWORD:
    bytes = &m->remote_password;
    break;
  case COFFER_FIELD_ACCOUNT_PASSWORD:
    bytes = &m->account_password;
    break;
  case COFFER_FIELD_ITEM:
    bytes = &m->item;
    break;
  case COFFER_FIELD_LAST_ERROR:
    bytes = &m->last_error;
    break;
  case COFFER_FIELD_HISTORY:
    bytes = &m->history;
    break;
  case COFFER_FIELD_SEQ:
    u64 = &m->seq;
    break;
  case COFFER_FIELD_LAST_SYNC:
    u64 = &m->last_sync;
    break;
  case COFFER_FIELD_PENDING:
    u64 = &m->pending;
    break;
  case COFFER_FIELD_REMOTE_BYTES:
    u64 = &m->remote_bytes;
    break;
  case COFFER_FIELD_PUSHED:
    u64 = &m->pushed;
    break;
  case COFFER_FIELD_PULLED:
    u64 = &m->pulled;
    break;
  case COFFER_FIELD_CONFLICTS:
    u64 = &m->conflicts;
    break;
  case COFFER_FIELD_REFUSED:
    u64 = &m->refused;
    break;
  case COFFER_FIELD_HISTORY_REMOVED:
    u64 = &m->history_removed;
    break;
  case COFFER_FIELD_TOMBSTONES_REMOVED:
    u64 = &m->tombstones_removed;
    break;
  case COFFER_FIELD_BYTES_RECLAIMED:
    u64 = &m->bytes_reclaimed;
    break;
  case COFFER_FIELD_REMOTE_REMOVED:
    u64 = &m->remote_removed;
    break;
  case COFFER_FIELD_APP:
    bytes = &m->app;
    break;
  case COFFER_FIELD_ACCESS:
    bytes = &m->access;
    break;
  case COFFER_FIELD_REVOKED:
    u64 = &m->revoked;
    break;
  default:
    return;
  }
  if (bytes != NULL)
    coffer_control_builder_add_bytes(b, tag, bytes->data, bytes->len);
  else
    coffer_control_builder_add_u64(b, tag, *u64);
}

static void
add_field(CofferControlBuilder *b, const CofferControlMessage *m, uint8_t tag)
{
  if (!coffer_control_has(m, tag))
    return;
  switch (tag) {
  case COFFER_FIELD_PASSWORD:
    coffer_control_builder_add_bytes(b, tag, m->password.data, m->password.len);
    break;
  case COFFER_FIELD_NEW_PASSWORD:
    coffer_control_builder_add_bytes(b, tag, m->new_password.data, m->new_password.len);
    break;
  case COFFER_FIELD_ERROR_CODE:
    coffer_control_builder_add_u32(b, tag, m->error_code);
    break;
  case COFFER_FIELD_MESSAGE:
    coffer_control_builder_add_bytes(b, tag, m->message.data, m->message.len);
    break;
  case COFFER_FIELD_CREATE:
    coffer_control_builder_add_u8(b, tag, m->create);
    break;
  case COFFER_FIELD_INITIALIZED:
    coffer_control_builder_add_u8(b, tag, m->initialized);
    break;
  case COFFER_FIELD_LOCKED:
    coffer_control_builder_add_u8(b, tag, m->locked);
    break;
  case COFFER_FIELD_COLLECTIONS:
    coffer_control_builder_add_u64(b, tag, m->collections);
    break;
  case COFFER_FIELD_ITEMS:
    coffer_control_builder_add_u64(b, tag, m->items);
    break;
  case COFFER_FIELD_STORE_BYTES:
    coffer_control_builder_add_u64(b, tag, m->store_bytes);
    break;
  case COFFER_FIELD_STORE_PATH:
    coffer_control_builder_add_bytes(b, tag, m->store_path.data, m->store_path.len);
    break;
  case COFFER_FIELD_AGENT_VERSION:
    coffer_control_builder_add_bytes(b, tag, m->agent_version.data, m->agent_version.len);
    break;
  default:
    add_sync_field(b, m, tag);
    break;
  }
}

static int
same_bytes(CofferControlBytes a, CofferControlBytes b)
{
  return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static void
check_round_trip(const CofferControlMessage *m, size_t input_len)
{
  CofferControlBuilder b;
  const uint8_t *frame;
  size_t len;
  CofferControlMessage again;
  CHECK(coffer_control_builder_init(&b, m->type) == 0);
  for (unsigned tag = 0; tag < 64; tag++)
    add_field(&b, m, (uint8_t)tag);
  CHECK(coffer_control_builder_finish(&b, &frame, &len) == 0);
  CHECK(len == input_len + COFFER_CONTROL_HEADER_BYTES); /* TLV sizes are canonical */
  CHECK(coffer_control_parse(frame + COFFER_CONTROL_HEADER_BYTES, len - COFFER_CONTROL_HEADER_BYTES, &again) == 0);
  CHECK(again.type == m->type && again.present == m->present);
  CHECK(again.error_code == m->error_code && again.initialized == m->initialized && again.locked == m->locked &&
        again.create == m->create && again.collections == m->collections && again.items == m->items &&
        again.store_bytes == m->store_bytes);
  CHECK(same_bytes(again.password, m->password) && same_bytes(again.new_password, m->new_password) &&
        same_bytes(again.message, m->message) && same_bytes(again.store_path, m->store_path) &&
        same_bytes(again.agent_version, m->agent_version));
  CHECK(same_bytes(again.remote_url, m->remote_url) && same_bytes(again.history, m->history) &&
        same_bytes(again.item, m->item) && again.seq == m->seq && again.pending == m->pending &&
        again.remote_bytes == m->remote_bytes && again.pushed == m->pushed);
  CHECK(same_bytes(again.app, m->app) && same_bytes(again.access, m->access) && again.revoked == m->revoked);
  coffer_control_builder_clear(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size >= COFFER_CONTROL_HEADER_BYTES) {
    size_t body_len;
    if (coffer_control_frame_body_length(data, &body_len) == 0)
      CHECK(body_len >= 2 && body_len <= COFFER_CONTROL_MAX_BODY);
  }
  CofferControlMessage m;
  int r = coffer_control_parse(data, size, &m);
  if (r == 0) {
    CHECK(size >= 2 && size <= COFFER_CONTROL_MAX_BODY);
    check_round_trip(&m, size);
  } else {
    CHECK(m.present == 0 && m.password.data == NULL);
  }
  return 0;
}

#ifndef COFFER_LIBFUZZER
#include <libgen.h>

/* With --expect, the seed corpus's naming is checked too: a file whose name
 * starts with "bad-" must be rejected, every other one accepted. */
static int
check_expectation(const char *path, const uint8_t *data, size_t size)
{
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  int want_bad = strncmp(basename(copy), "bad-", 4) == 0;
  CofferControlMessage m;
  int r = coffer_control_parse(data, size, &m);
  if ((r != 0) != want_bad) {
    fprintf(stderr, "fuzz-control: %s: parse returned %d, expected %s\n", path, r,
            want_bad ? "a rejection" : "success");
    return 1;
  }
  return 0;
}

/* Corpus runner: fuzz-control [--expect] FILE... */
int
main(int argc, char **argv)
{
  static uint8_t buf[4 * COFFER_CONTROL_MAX_BODY];
  int expect = argc > 1 && strcmp(argv[1], "--expect") == 0;
  int failed = 0, ran = 0;
  for (int i = 1 + expect; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (f == NULL) {
      perror(argv[i]);
      return 1;
    }
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    if (expect)
      failed |= check_expectation(argv[i], buf, n);
    ran++;
  }
  printf("fuzz-control: %d input(s) run\n", ran);
  return failed;
}
#endif
