/* coffer — vault cryptography: record envelopes, key slots, hybrid logical
 * clocks and attribute lookup hashes.  Plain C on libsodium, no GLib, so it
 * can be unit-tested alone and, later, reused by the CLI.
 *
 * Every function returns 0 on success or a negative COFFER_CRYPTO_E* code.
 * Keys and plaintext secrets are only ever written into memory the caller
 * got from sodium_malloc(); functions that allocate secret output do so with
 * sodium_malloc() and the caller frees with sodium_free().
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define COFFER_KEY_BYTES 32  /* vault key VK, lookup key LK */
#define COFFER_ID_BYTES 16   /* record ids, vault id, device id */
#define COFFER_HASH_BYTES 32 /* lookup hashes */

enum {
  COFFER_CRYPTO_OK = 0,
  COFFER_CRYPTO_EINVAL = -1, /* malformed input: bad length, version, field */
  COFFER_CRYPTO_EAUTH = -2,  /* authentication failed: wrong key/password or tampered */
  COFFER_CRYPTO_ENOMEM = -3,
  COFFER_CRYPTO_EVERSION = -4, /* a format version newer than this build knows */
};

/* Must be called once before anything else (wraps sodium_init()). */
int coffer_crypto_init(void);

/* ---- Hybrid logical clock ------------------------------------------------
 * A timestamp is 64 bits: the upper 48 are milliseconds since the epoch, the
 * lower 16 a counter that breaks ties inside one millisecond and lets the
 * clock run ahead of a lagging wall clock. */
typedef struct {
  uint64_t last;
} CofferHlc;

/* Returns a timestamp strictly greater than every one returned or observed.
 * A full counter carries into the millisecond field (the clock runs ahead of
 * the wall clock for a moment).  The single exception: once last is
 * UINT64_MAX (only a remote claiming the year 10889 can cause that) the
 * clock saturates and returns UINT64_MAX again. */
uint64_t coffer_hlc_now(CofferHlc *clock);
/* Moves the clock past a timestamp seen on a remote record. */
void coffer_hlc_observe(CofferHlc *clock, uint64_t remote);

typedef struct {
  uint64_t hlc;
  uint8_t device[COFFER_ID_BYTES];
} CofferRevision;

/* Total order: by hlc, then device bytes (memcmp). <0, 0, >0. */
int coffer_revision_compare(const CofferRevision *a, const CofferRevision *b);

/* ---- Record envelope -----------------------------------------------------
 * Wire/disk format (all integers big-endian), documented in
 * docs/sync-format.md:
 *   magic "CFR1" (4) | kind u8 | flags u8 | id[16] | hlc u64 | device[16]
 *   | meta_nonce[24] | meta_len u32 | meta_ct[meta_len]
 *   | secret_nonce[24] | secret_len u32 | secret_ct[secret_len]
 * meta_ct and secret_ct are XChaCha20-Poly1305-IETF; secret_len == 0 means
 * "no secret part" (collections, tombstones).  Associated data for each part
 * is "coffer-record-v1" | vault_id[16] | the header bytes (magic..device)
 * | one byte 'M' or 'S', so a part cannot be moved to another record, another
 * vault, another revision, another kind/flags, or swapped with the other part.
 * meta_len and secret_len count the ciphertext including its 16-byte tag, so
 * meta_len >= 16 always and secret_len is 0 or >= 16.  Every seal draws fresh
 * random nonces.  Unknown flag bits are EINVAL; magic "CFR2".."CFR9" is
 * COFFER_CRYPTO_EVERSION.
 */
#define COFFER_RECORD_FLAG_TOMBSTONE 0x01u

/* meta + secret plaintext together may not exceed this; larger envelopes are
 * rejected as EINVAL before anything is allocated or decrypted. */
#define COFFER_ENVELOPE_MAX_PLAINTEXT (64u * 1024 * 1024)
/* Framing + both tags: 46 header + 2 * (24 nonce + 4 length + 16 tag). */
#define COFFER_ENVELOPE_OVERHEAD 134u
#define COFFER_ENVELOPE_MAX_BYTES (COFFER_ENVELOPE_MAX_PLAINTEXT + COFFER_ENVELOPE_OVERHEAD)

typedef enum {
  COFFER_RECORD_COLLECTION = 1,
  COFFER_RECORD_ITEM = 2,
} CofferRecordKind;

typedef struct {
  uint8_t kind;  /* CofferRecordKind */
  uint8_t flags; /* COFFER_RECORD_FLAG_* */
  uint8_t id[COFFER_ID_BYTES];
  CofferRevision rev;
} CofferRecordHeader;

/* Seals a record.  secret may be NULL/0 (no secret part).  A non-NULL secret
 * with secret_len 0 is an empty secret: it gets a part (secret_len 16 on the
 * wire) and open_secret returns a non-NULL buffer of length 0 for it.
 * *out is malloc()ed (the envelope holds only ciphertext), free() it. */
int coffer_envelope_seal(const uint8_t vk[COFFER_KEY_BYTES], const uint8_t vault_id[COFFER_ID_BYTES],
                         const CofferRecordHeader *header, const uint8_t *meta, size_t meta_len, const uint8_t *secret,
                         size_t secret_len, uint8_t **out, size_t *out_len);

/* Parses and validates the framing only (no key needed): lengths add up
 * exactly to env_len, magic and kind known. */
int coffer_envelope_parse_header(const uint8_t *env, size_t env_len, CofferRecordHeader *header);

/* Authenticates and decrypts the metadata part into a malloc()ed buffer
 * (non-NULL even for empty metadata).  Framing is validated exactly as by
 * parse_header first.  On any error *meta is NULL and *meta_len 0. */
int coffer_envelope_open_meta(const uint8_t vk[COFFER_KEY_BYTES], const uint8_t vault_id[COFFER_ID_BYTES],
                              const uint8_t *env, size_t env_len, uint8_t **meta, size_t *meta_len);

/* Authenticates and decrypts the secret part into coffer_secure_alloc()
 * memory (coffer_secure_release() or sodium_free() it).  A record without a secret part yields *secret=NULL,
 * *secret_len=0 and COFFER_CRYPTO_OK. */
int coffer_envelope_open_secret(const uint8_t vk[COFFER_KEY_BYTES], const uint8_t vault_id[COFFER_ID_BYTES],
                                const uint8_t *env, size_t env_len, uint8_t **secret, size_t *secret_len);

/* ---- Key slot --------------------------------------------------------------
 * VK wrapped under Argon2id(password, salt):
 *   magic "CKS1" | opslimit u64 | memlimit u64 | salt[16] | nonce[24]
 *   | ct[32 + 16]
 * Associated data: "coffer-keyslot-v1" | the bytes magic..salt, so the KDF
 * parameters cannot be lowered by an attacker with write access. */
#define COFFER_KEYSLOT_BYTES (4 + 8 + 8 + 16 + 24 + COFFER_KEY_BYTES + 16)

/* Upper bounds accepted for stored (or requested) KDF parameters, on top of
 * libsodium's Argon2id range: a slot written by an attacker must not make
 * unlock allocate unbounded memory or spin for hours.  Out of range: EINVAL. */
#define COFFER_KDF_OPSLIMIT_CAP 32u
#define COFFER_KDF_MEMLIMIT_CAP (1024u * 1024 * 1024)

typedef struct {
  uint64_t opslimit;
  uint64_t memlimit;
} CofferKdfParams;

/* Parameters for interactive unlock (~0.3-0.5 s on a 2-core laptop class
 * machine).  COFFER_KDF_FAST (environment variable, tests only) selects the
 * minimum parameters so suites stay fast; it never weakens an existing slot,
 * because the parameters used are stored in the slot. */
CofferKdfParams coffer_kdf_default_params(void);

int coffer_keyslot_wrap(const uint8_t vk[COFFER_KEY_BYTES], const char *password, size_t password_len,
                        CofferKdfParams params, uint8_t slot[COFFER_KEYSLOT_BYTES]);

/* Wrong password -> COFFER_CRYPTO_EAUTH.  vk must be sodium_malloc() memory. */
int coffer_keyslot_unwrap(const uint8_t slot[COFFER_KEYSLOT_BYTES], const char *password, size_t password_len,
                          uint8_t vk[COFFER_KEY_BYTES]);

/* ---- Lookup hashes ---------------------------------------------------------
 * keyed BLAKE2b-256(LK, name | 0x00 | value): lets SearchItems find items of
 * a locked vault without decrypting anything. */
int coffer_lookup_hash(const uint8_t lk[COFFER_KEY_BYTES], const char *name, const char *value,
                       uint8_t out[COFFER_HASH_BYTES]);

/* Same hash with explicit lengths.  The 0x00 separator is unambiguous only
 * because a name never contains NUL: a name with a NUL byte is EINVAL.  The
 * value may contain NUL (everything after the first NUL is the value).
 * coffer_lookup_hash(lk, n, v) == coffer_lookup_hash_len(lk, n, strlen(n),
 * v, strlen(v)). */
int coffer_lookup_hash_len(const uint8_t lk[COFFER_KEY_BYTES], const char *name, size_t name_len, const char *value,
                           size_t value_len, uint8_t out[COFFER_HASH_BYTES]);

/* ---- Secure buffers for plaintext secrets ------------------------------------
 * coffer_secure_alloc() returns sodium_malloc() memory (guarded, locked) of at
 * least len bytes.  Give it back with coffer_secure_release(buffer, len) (same
 * len), which wipes it and keeps small ones for reuse; sodium_free() is also
 * always correct, only slower next time. */
void *coffer_secure_alloc(size_t len);
void coffer_secure_release(void *buffer, size_t len);

/* Fills buf with n random bytes (ids, keys). */
void coffer_random(void *buf, size_t n);
