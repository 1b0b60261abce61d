/* pam_coffer — a password copy that never reaches swap, a core file or the
 * heap: its own mlock'ed anonymous mapping, wiped before it is unmapped. */
#pragma once

#include <stddef.h>

typedef struct {
  size_t len;  /* bytes of password, without the NUL */
  size_t size; /* bytes mapped, this header included */
  char data[]; /* NUL-terminated */
} CofferSecret;

/* NULL when out of memory. */
CofferSecret *coffer_secret_new(const char *password, size_t len);
/* Wipes and unmaps; NULL is fine. */
void coffer_secret_free(CofferSecret *secret);

static inline void
coffer_secret_freep(CofferSecret **secret)
{
  coffer_secret_free(*secret);
}
#define _cleanup_secret_ __attribute__((cleanup(coffer_secret_freep)))
