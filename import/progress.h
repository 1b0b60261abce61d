/* coffer-import — a one-line progress bar on stderr, drawn only when stderr
 * is a terminal (scripts and logs get the summary alone). */
#pragma once

#include <glib.h>

typedef struct {
  gboolean enabled;
  const char *what;
  guint total;
  guint done;
  gint64 last_draw; /* monotonic µs: redraw at most ~20 times a second */
} ImportProgress;

void import_progress_init(ImportProgress *progress);
void import_progress_start(ImportProgress *progress, const char *what, guint total);
void import_progress_step(ImportProgress *progress, guint n);
/* Clears the line so the next message starts clean. */
void import_progress_end(ImportProgress *progress);
