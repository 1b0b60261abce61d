/* coffer — control protocol internals shared by lib/control*.c only. */
#pragma once

#include <stddef.h>

/* A private, page-aligned, best-effort mlock'ed, zero-filled mapping. */
void *coffer_control_secure_alloc(size_t size);
/* Wipes the first `used` bytes, unlocks and unmaps. */
void coffer_control_secure_free(void *p, size_t size, size_t used);
