/* coffer-import — progress bar.  See progress.h. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 30

void
import_progress_init(ImportProgress *progress)
{
  progress->enabled = isatty(STDERR_FILENO);
  progress->what = "";
  progress->total = progress->done = 0;
  progress->last_draw = 0;
}

static void
draw(ImportProgress *progress)
{
  guint filled = progress->total ? (guint)((guint64)BAR_WIDTH * progress->done / progress->total) : BAR_WIDTH;
  char bar[BAR_WIDTH + 1];

  for (guint i = 0; i < BAR_WIDTH; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[BAR_WIDTH] = '\0';
  fprintf(stderr, "\r%-8s [%s] %u/%u", progress->what, bar, progress->done, progress->total);
  fflush(stderr);
  progress->last_draw = g_get_monotonic_time();
}

void
import_progress_start(ImportProgress *progress, const char *what, guint total)
{
  progress->what = what;
  progress->total = total;
  progress->done = 0;
  if (progress->enabled)
    draw(progress);
}

void
import_progress_step(ImportProgress *progress, guint n)
{
  progress->done = MIN(progress->done + n, progress->total);
  if (progress->enabled && (progress->done == progress->total || g_get_monotonic_time() - progress->last_draw > 50000))
    draw(progress);
}

void
import_progress_end(ImportProgress *progress)
{
  if (progress->enabled) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}
