/* coffer — the control protocol spoken on $XDG_RUNTIME_DIR/coffer/control
 * between cofferd and its clients (the coffer CLI, pam_coffer.so).
 *
 * Plain C and libc only: the PAM module links this.  The wire format is
 * documented in docs/control-protocol.md; this header is its one
 * implementation.
 *
 * A frame is a u32 big-endian body length followed by the body:
 *   u8 version (1) | u8 message type | fields...
 * and every field is a TLV: u8 tag | u32 big-endian length | bytes.
 *
 * Functions return 0 (or a non-negative value) on success and a negative
 * errno value on failure, so callers can strerror(-r).
 *
 * Secrets: every buffer this library fills or allocates for a message is
 * wiped with explicit_bzero() before it is freed.  Password fields handed
 * out by the parser point into the caller's body buffer; the caller copies
 * them into secure memory and then frees the body with
 * coffer_control_body_free(), which wipes it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define COFFER_CONTROL_VERSION 1
#define COFFER_CONTROL_HEADER_BYTES 4
#define COFFER_CONTROL_MAX_BODY (64u * 1024u)
#define COFFER_CONTROL_MAX_FRAME (COFFER_CONTROL_HEADER_BYTES + COFFER_CONTROL_MAX_BODY)

/* Message types.  Requests are below 0x80, responses at 0x80 and above, so
 * new requests (e.g. the PAM module's "unlock or init") fit without
 * renumbering anything. */
typedef enum {
  COFFER_CONTROL_INIT = 0x01,
  COFFER_CONTROL_UNLOCK = 0x02,
  COFFER_CONTROL_LOCK = 0x03,
  COFFER_CONTROL_STATUS = 0x04,
  COFFER_CONTROL_PASSWD = 0x05,
  COFFER_CONTROL_LOGIN = 0x06, /* pam_coffer.so: the password a user just logged in with */
  /* sync (docs/sync-format.md) */
  COFFER_CONTROL_REMOTE_SET = 0x10,    /* make URL this vault's remote */
  COFFER_CONTROL_REMOTE_REMOVE = 0x11, /* forget the remote on this device */
  COFFER_CONTROL_JOIN = 0x12,          /* use the vault at URL on this device */
  COFFER_CONTROL_SYNC = 0x13,          /* sync now, answer when done */
  COFFER_CONTROL_HISTORY = 0x14,       /* older versions of an item */
  COFFER_CONTROL_RESTORE = 0x15,       /* make an older version current */
  COFFER_CONTROL_CLEANUP = 0x16,       /* prune history and expired tombstones */
  /* per-application access control (docs/security.md) */
  COFFER_CONTROL_ACCESS_LIST = 0x20,   /* the stored decisions */
  COFFER_CONTROL_ACCESS_REVOKE = 0x21, /* delete the decisions of APP (about ITEM) */
  COFFER_CONTROL_OK = 0x80,
  COFFER_CONTROL_ERROR = 0x81,
} CofferControlType;

/* Field tags.  A tag may appear at most once per message. */
typedef enum {
  COFFER_FIELD_PASSWORD = 0x01,      /* bytes, no NUL, may be empty on the wire */
  COFFER_FIELD_NEW_PASSWORD = 0x02,  /* bytes, no NUL */
  COFFER_FIELD_ERROR_CODE = 0x03,    /* u32 BE, a CofferControlError */
  COFFER_FIELD_MESSAGE = 0x04,       /* UTF-8, no NUL */
  COFFER_FIELD_CREATE = 0x05,        /* u8, 0 or 1: LOGIN may create a missing vault */
  COFFER_FIELD_INITIALIZED = 0x10,   /* u8, 0 or 1 */
  COFFER_FIELD_LOCKED = 0x11,        /* u8, 0 or 1 */
  COFFER_FIELD_COLLECTIONS = 0x12,   /* u64 BE */
  COFFER_FIELD_ITEMS = 0x13,         /* u64 BE */
  COFFER_FIELD_STORE_BYTES = 0x14,   /* u64 BE */
  COFFER_FIELD_STORE_PATH = 0x15,    /* bytes (a file name), no NUL */
  COFFER_FIELD_AGENT_VERSION = 0x16, /* UTF-8, no NUL */
  /* sync */
  COFFER_FIELD_REMOTE_URL = 0x17,         /* UTF-8, no NUL */
  COFFER_FIELD_REMOTE_USER = 0x18,        /* UTF-8, no NUL */
  COFFER_FIELD_REMOTE_PASSWORD = 0x19,    /* bytes, no NUL: the server's password */
  COFFER_FIELD_ACCOUNT_PASSWORD = 0x1a,   /* bytes, no NUL: wraps VK in the remote header */
  COFFER_FIELD_ITEM = 0x1b,               /* UTF-8: an item id, 32 lowercase hex digits */
  COFFER_FIELD_SEQ = 0x1c,                /* u64 BE: a history version */
  COFFER_FIELD_LAST_SYNC = 0x1d,          /* u64 BE: seconds since the epoch, 0 never */
  COFFER_FIELD_PENDING = 0x1e,            /* u64 BE: local changes not yet pushed */
  COFFER_FIELD_LAST_ERROR = 0x1f,         /* UTF-8, no NUL */
  COFFER_FIELD_REMOTE_BYTES = 0x20,       /* u64 BE */
  COFFER_FIELD_HISTORY = 0x21,            /* history entries, see coffer_control_history_next() */
  COFFER_FIELD_PUSHED = 0x22,             /* u64 BE */
  COFFER_FIELD_PULLED = 0x23,             /* u64 BE */
  COFFER_FIELD_CONFLICTS = 0x24,          /* u64 BE */
  COFFER_FIELD_REFUSED = 0x25,            /* u64 BE */
  COFFER_FIELD_HISTORY_REMOVED = 0x26,    /* u64 BE */
  COFFER_FIELD_TOMBSTONES_REMOVED = 0x27, /* u64 BE */
  COFFER_FIELD_BYTES_RECLAIMED = 0x28,    /* u64 BE */
  COFFER_FIELD_REMOTE_REMOVED = 0x29,     /* u64 BE */
  /* access control */
  COFFER_FIELD_APP = 0x2a,     /* UTF-8, no NUL, not empty: an app identity, path or app id */
  COFFER_FIELD_ACCESS = 0x2b,  /* decisions, see coffer_control_access_next() */
  COFFER_FIELD_REVOKED = 0x2c, /* u64 BE: decisions deleted */
} CofferControlField;

/* Error codes carried in ERROR_CODE of an ERROR response. */
typedef enum {
  COFFER_CONTROL_ERR_BAD_PASSWORD = 1,
  COFFER_CONTROL_ERR_NOT_INITIALIZED = 2,
  COFFER_CONTROL_ERR_ALREADY_INITIALIZED = 3,
  COFFER_CONTROL_ERR_LOCKED = 4,
  COFFER_CONTROL_ERR_INVALID = 5,
  COFFER_CONTROL_ERR_INTERNAL = 6,
  COFFER_CONTROL_ERR_PROTOCOL = 7,
  COFFER_CONTROL_ERR_NO_REMOTE = 8, /* sync needs a remote: `coffer remote set` or `coffer join` */
  COFFER_CONTROL_ERR_SYNC = 9,      /* the remote failed or was refused; MESSAGE says how */
} CofferControlError;

/* A file of this name beside the vault's store (e.g.
 * ~/.local/share/coffer/login-password-reset) says an administrator reset the
 * user's login password without the old one.  pam_coffer.so creates it in
 * chauthtok; the agent acts on it when a LOGIN fails (docs/pam.md). */
#define COFFER_LOGIN_RESET_MARKER "login-password-reset"

/* Short English name of an error code ("bad-password", ...; "unknown"). */
const char *coffer_control_error_name(uint32_t code);

/* ---- building ------------------------------------------------------------
 * The builder owns one buffer of COFFER_CONTROL_MAX_FRAME bytes, allocated
 * once so a password is never left behind by a realloc.  Errors are sticky:
 * add_* calls after a failure do nothing and finish() reports the first. */
typedef struct {
  uint8_t *frame; /* header + body */
  size_t len;     /* bytes used, header included */
  int error;      /* first error, 0 if none */
} CofferControlBuilder;

int coffer_control_builder_init(CofferControlBuilder *b, uint8_t type);
void coffer_control_builder_add_bytes(CofferControlBuilder *b, uint8_t tag, const void *data, size_t len);
void coffer_control_builder_add_string(CofferControlBuilder *b, uint8_t tag, const char *s);
void coffer_control_builder_add_u8(CofferControlBuilder *b, uint8_t tag, uint8_t value);
void coffer_control_builder_add_u32(CofferControlBuilder *b, uint8_t tag, uint32_t value);
void coffer_control_builder_add_u64(CofferControlBuilder *b, uint8_t tag, uint64_t value);
/* Writes the length prefix and validates the body with the parser (so a
 * builder can never emit what the peer would reject).  On success *frame and
 * *len describe the whole frame, owned by the builder. */
int coffer_control_builder_finish(CofferControlBuilder *b, const uint8_t **frame, size_t *len);
/* Wipes and frees the buffer.  Safe to call twice or after a failed init. */
void coffer_control_builder_clear(CofferControlBuilder *b);

/* ---- parsing ------------------------------------------------------------- */
typedef struct {
  const uint8_t *data; /* points into the parsed body; not NUL-terminated */
  size_t len;
} CofferControlBytes;

typedef struct {
  uint8_t type;
  uint64_t present; /* bit (1 << tag) set for each field present */
  CofferControlBytes password;
  CofferControlBytes new_password;
  uint32_t error_code;
  CofferControlBytes message;
  uint8_t initialized;
  uint8_t locked;
  uint64_t collections;
  uint64_t items;
  uint64_t store_bytes;
  CofferControlBytes store_path;
  CofferControlBytes agent_version;
  uint8_t create;
  CofferControlBytes remote_url;
  CofferControlBytes remote_user;
  CofferControlBytes remote_password;
  CofferControlBytes account_password;
  CofferControlBytes item;
  uint64_t seq;
  uint64_t last_sync;
  uint64_t pending;
  CofferControlBytes last_error;
  uint64_t remote_bytes;
  CofferControlBytes history;
  uint64_t pushed, pulled, conflicts, refused;
  uint64_t history_removed, tombstones_removed, bytes_reclaimed, remote_removed;
  CofferControlBytes app;
  CofferControlBytes access;
  uint64_t revoked;
} CofferControlMessage;

static inline bool
coffer_control_has(const CofferControlMessage *m, uint8_t tag)
{
  return tag < 64 && (m->present & ((uint64_t)1 << tag)) != 0;
}

/* ---- history entries ------------------------------------------------------
 * The HISTORY field is a sequence of entries, newest first:
 *   seq u64 | added u64 (seconds) | hlc u64 | device[16] | tombstone u8
 *   | label_len u32 | label (UTF-8, no NUL)
 * The parser validates the whole sequence before the message is accepted. */
#define COFFER_CONTROL_HISTORY_FIXED 45

typedef struct {
  uint64_t seq;
  uint64_t added;
  uint64_t hlc;
  uint8_t device[16];
  uint8_t tombstone;
  const uint8_t *label; /* points into the message; not NUL-terminated */
  size_t label_len;
} CofferControlHistoryEntry;

/* Encodes one entry at out (cap bytes).  Returns the bytes written, or
 * -EMSGSIZE when it does not fit (nothing written), -EBADMSG for a label
 * that is not UTF-8 without NUL. */
int coffer_control_history_encode(const CofferControlHistoryEntry *entry, uint8_t *out, size_t cap);
/* Takes the next entry off *cursor (advancing it).  1: an entry, 0: the
 * end, -EBADMSG: malformed (never for a parsed message). */
int coffer_control_history_next(CofferControlBytes *cursor, CofferControlHistoryEntry *entry);

/* ---- access decisions -----------------------------------------------------
 * The ACCESS field is a sequence of entries:
 *   decision u8 (0 deny, 1 allow) | created u64 (seconds) | item[32] (hex id)
 *   | app_len u32 | label_len u32 | app (UTF-8, no NUL, not empty)
 *   | label (UTF-8, no NUL: the item's label, empty when it is gone)
 * The parser validates the whole sequence before the message is accepted. */
#define COFFER_CONTROL_ACCESS_FIXED 49
#define COFFER_CONTROL_ACCESS_DENY 0
#define COFFER_CONTROL_ACCESS_ALLOW 1

typedef struct {
  uint8_t decision;
  uint64_t created;
  const uint8_t *item; /* 32 lowercase hex digits, not NUL-terminated */
  const uint8_t *app;  /* these point into the message; not NUL-terminated */
  size_t app_len;
  const uint8_t *label;
  size_t label_len;
} CofferControlAccessEntry;

/* Encodes one entry at out (cap bytes): the bytes written, -EMSGSIZE when
 * it does not fit (nothing written), -EBADMSG for an invalid field. */
int coffer_control_access_encode(const CofferControlAccessEntry *entry, uint8_t *out, size_t cap);
/* Takes the next entry off *cursor.  1: an entry, 0: the end, -EBADMSG. */
int coffer_control_access_next(CofferControlBytes *cursor, CofferControlAccessEntry *entry);

/* Strict parse of one body (the bytes after the length prefix).
 * Returns 0, or:
 *   -EMSGSIZE        body longer than COFFER_CONTROL_MAX_BODY
 *   -EPROTONOSUPPORT version is not COFFER_CONTROL_VERSION
 *   -EBADMSG         anything else: truncation, trailing bytes, unknown type
 *                    or tag, duplicate field, wrong field size or value, a
 *                    field not allowed for the type, a required field missing
 */
int coffer_control_parse(const uint8_t *body, size_t len, CofferControlMessage *msg);

/* Decodes a length prefix; rejects bodies shorter than 2 or longer than the
 * maximum (-EMSGSIZE / -EBADMSG) before anything is allocated. */
int coffer_control_frame_body_length(const uint8_t header[COFFER_CONTROL_HEADER_BYTES], size_t *body_len);

/* ---- sockets ------------------------------------------------------------- */

/* $XDG_RUNTIME_DIR/coffer/control, or /run/user/<uid>/coffer/control when
 * XDG_RUNTIME_DIR is unset or not absolute and that directory exists and is
 * owned by the caller.  -ENOENT when neither works, -ENAMETOOLONG when the
 * path does not fit in buf or in a sockaddr_un. */
int coffer_control_socket_path(char *buf, size_t size);
/* The same for an explicit runtime dir (may be NULL) and uid: the PAM module
 * gets XDG_RUNTIME_DIR from pam_getenv(), not from its own environment. */
int coffer_control_socket_path_for(char *buf, size_t size, const char *runtime_dir, uid_t uid);

/* Connects to the agent and returns a non-blocking, close-on-exec fd.
 * Before connecting it checks that the socket's directory is a real
 * directory (not a symlink) owned by expected_uid with mode 0700, and that
 * the socket is a socket (not a symlink) owned by expected_uid; after
 * connecting, that the peer (SO_PEERCRED) runs as expected_uid.
 * Errors: -ENOENT (no socket), -ECONNREFUSED (nobody listening), -ELOOP (a
 * symlink), -ENOTDIR, -ENOTSOCK, -EPERM (owner, mode or peer uid wrong),
 * -ETIMEDOUT, or another negative errno. */
int coffer_control_connect(const char *path, uid_t expected_uid, int timeout_ms);

/* Monotonic milliseconds, for deadlines. */
int64_t coffer_control_now_ms(void);

/* Writes all of buf before deadline_ms (coffer_control_now_ms() based),
 * retrying partial writes and EINTR.  -ETIMEDOUT, -EPIPE, ... */
int coffer_control_write_all(int fd, const void *buf, size_t len, int64_t deadline_ms);
/* Reads one frame before deadline_ms.  On success *body is a malloc'ed body
 * of *body_len bytes; free it with coffer_control_body_free().  -ECONNRESET
 * when the peer closes mid-frame or before the first byte. */
int coffer_control_read_frame(int fd, uint8_t **body, size_t *body_len, int64_t deadline_ms);
/* Wipes and frees a body from coffer_control_read_frame(). */
void coffer_control_body_free(uint8_t *body, size_t body_len);

/* One request/response exchange within timeout_ms in total.  Sends the
 * finished request in *req (then clears the builder, wiping it), reads and
 * parses the response.  On success *body holds the response body that
 * *reply points into; the caller frees it with coffer_control_body_free().
 * A response that is not OK or ERROR is -EBADMSG. */
int coffer_control_call(int fd, CofferControlBuilder *req, int timeout_ms, uint8_t **body, size_t *body_len,
                        CofferControlMessage *reply);
