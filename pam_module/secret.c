/* pam_coffer — password copies in locked memory. */
#include "secret.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

CofferSecret *
coffer_secret_new(const char *password, size_t len)
{
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t need = sizeof(CofferSecret) + len + 1;
  if (len > 65536) /* no login password is this long; bound the mapping */
    return NULL;
  size_t size = (need + page - 1) / page * page;
  CofferSecret *s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED)
    return NULL;
  /* Best effort: RLIMIT_MEMLOCK may forbid it; the wipe happens anyway. */
  (void)mlock(s, size);
  (void)madvise(s, size, MADV_DONTDUMP);
  s->len = len;
  s->size = size;
  memcpy(s->data, password, len);
  s->data[len] = '\0';
  return s;
}

void
coffer_secret_free(CofferSecret *s)
{
  if (s == NULL)
    return;
  size_t size = s->size;
  explicit_bzero(s, size);
  (void)munlock(s, size);
  munmap(s, size);
}
