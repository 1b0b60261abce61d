/* coffer-import — what every source (a running Secret Service, a
 * gnome-keyring file, a coffer export file) is read into before anything is
 * written: collections of items with their metadata and secrets.
 *
 * Secrets live in sodium_malloc() memory and are wiped when the source is
 * freed.  An item or collection that could not be read carries the reason in
 * `error` and is reported as failed, never silently dropped. */
#pragma once

#include <glib.h>

typedef struct {
  char *label;
  GHashTable *attributes; /* char* -> char*, owned */
  char *content_type;     /* NULL: text/plain */
  guint8 *secret;         /* sodium_malloc(); NULL when secret_len is 0 */
  gsize secret_len;
  guint64 created; /* seconds since the epoch, 0 unknown */
  guint64 modified;
  char *error; /* NULL, or why this item could not be read */
} ImportItem;

typedef struct {
  char *label;
  gboolean is_login; /* the source's default/login collection */
  guint64 created;
  guint64 modified;
  GPtrArray *aliases; /* char*: aliases the source gives this collection */
  GPtrArray *items;   /* ImportItem* */
  char *error;        /* NULL, or why its items could not be read */
} ImportCollection;

typedef struct {
  char *description;      /* for messages: "gnome-keyring-daemon", "login.keyring" */
  GPtrArray *collections; /* ImportCollection* */
} ImportSource;

ImportItem *import_item_new(void);
void import_item_free(ImportItem *item);
/* Takes a copy of secret into secure memory; FALSE when none is left. */
gboolean import_item_set_secret(ImportItem *item, const guint8 *secret, gsize len);

ImportCollection *import_collection_new(const char *label);
void import_collection_free(ImportCollection *collection);

ImportSource *import_source_new(const char *description);
void import_source_free(ImportSource *source);
guint import_source_count_items(const ImportSource *source);
/* The attribute names of an item, sorted (borrowed strings). */
GPtrArray *import_sorted_names(GHashTable *attributes);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ImportItem, import_item_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ImportCollection, import_collection_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ImportSource, import_source_free)

#define IMPORT_ERROR (import_error_quark())
GQuark import_error_quark(void);
typedef enum {
  IMPORT_ERROR_FORMAT,       /* not this kind of file, or a version we do not read */
  IMPORT_ERROR_CORRUPT,      /* truncated or malformed */
  IMPORT_ERROR_BAD_PASSWORD, /* the file's password is wrong */
  IMPORT_ERROR_FAILED,       /* anything else */
} ImportError;
