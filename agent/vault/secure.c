/* coffer — secure buffers for plaintext secrets, with a small reuse pool.
 *
 * Every sodium_malloc() maps fresh pages with guard pages and locks them: about
 * ten syscalls, ~15 us each way here, twice per GetSecret.  Small secrets
 * (passwords, tokens: nearly all of them) instead reuse a few locked 4 KiB
 * buffers that are wiped whenever they are handed back.  The pool is per
 * thread, so the Argon2id worker threads never share it. */
#include <sodium.h>

#include "vault/crypto.h"

#define POOL_BUFFER 4096
#define POOL_DEPTH 8

static _Thread_local void *pool[POOL_DEPTH];
static _Thread_local unsigned pool_size;

void *
coffer_secure_alloc(size_t len)
{
  if (len <= POOL_BUFFER && pool_size > 0)
    return pool[--pool_size];
  return sodium_malloc(len <= POOL_BUFFER ? POOL_BUFFER : len);
}

void
coffer_secure_release(void *buffer, size_t len)
{
  if (buffer == NULL)
    return;
  if (len <= POOL_BUFFER && pool_size < POOL_DEPTH) {
    sodium_memzero(buffer, POOL_BUFFER);
    pool[pool_size++] = buffer;
    return;
  }
  sodium_free(buffer); /* wipes */
}
