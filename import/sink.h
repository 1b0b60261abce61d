/* coffer-import — writing an ImportSource into coffer's vault.
 *
 * Structure is kept: the source's login/default collection goes into
 * coffer's login collection, every other collection into a coffer
 * collection of the same label (created when there is none), and aliases
 * the source names are set when coffer has not set them yet.
 *
 * Idempotent: an item whose label and attributes equal those of an item
 * already in the target collection is not imported again; it is "skipped"
 * (the same secret) or "kept" (coffer has a different secret: coffer's copy
 * wins and the summary lists it).  All writes are one store transaction:
 * a storage failure leaves the vault as it was. */
#pragma once

#include <stdio.h>

#include "progress.h"
#include "source.h"
#include "vault/vault.h"

typedef struct {
  guint imported;
  guint skipped; /* already in coffer with the same secret */
  guint kept;    /* already in coffer with a different secret */
  guint failed;
  guint collections_created;
  GPtrArray *failures;  /* char*: "<collection> / <label>: <reason>" */
  GPtrArray *conflicts; /* char*: "<collection> / <label>" */
} ImportSummary;

void import_summary_init(ImportSummary *summary);
void import_summary_clear(ImportSummary *summary);
void import_summary_print(const ImportSummary *summary, const char *from, FILE *out);

gboolean import_sink_write(CofferVault *vault, const ImportSource *source, ImportProgress *progress,
                           ImportSummary *summary, GError **error);
