/* coffer — hybrid logical clock and revision order.
 *
 * Revisions are compared across devices whose wall clocks disagree, so the
 * clock never goes backwards: it takes the wall clock when that is ahead,
 * otherwise it counts up from the last value it returned or observed. */
#include "vault/crypto.h"

#include <string.h>
#include <time.h>

#define HLC_COUNTER_BITS 16
#define HLC_MS_MASK ((UINT64_C(1) << (64 - HLC_COUNTER_BITS)) - 1)

/* Wall clock as an HLC value with a zero counter. */
static uint64_t
wall_hlc(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
    return 0; /* no usable wall clock: the counter alone keeps order */
  uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  return (ms & HLC_MS_MASK) << HLC_COUNTER_BITS;
}

uint64_t
coffer_hlc_now(CofferHlc *clock)
{
  uint64_t wall = wall_hlc();
  if (wall > clock->last)
    clock->last = wall;
  else if (clock->last != UINT64_MAX)
    /* A full counter carries into the millisecond field: the clock runs a
     * millisecond ahead of the wall clock until the wall clock catches up,
     * which keeps it strictly increasing without a wait. */
    clock->last++;
  /* else: saturated (year 10889, or a remote that claimed it); returning
   * the same value again is the least bad option. */
  return clock->last;
}

void
coffer_hlc_observe(CofferHlc *clock, uint64_t remote)
{
  /* now() returns something greater than last, so remembering the maximum
   * is all "moving past" needs. */
  if (remote > clock->last)
    clock->last = remote;
}

int
coffer_revision_compare(const CofferRevision *a, const CofferRevision *b)
{
  if (a->hlc != b->hlc)
    return a->hlc < b->hlc ? -1 : 1;
  int c = memcmp(a->device, b->device, COFFER_ID_BYTES);
  return (c > 0) - (c < 0);
}
