/* coffer — a sync remote: untrusted storage of named opaque objects.
 *
 * The sync engine sees every remote through this one interface, so adding a
 * backend (S3-compatible storage, say) never touches merge logic.  Backends:
 * WebDAV over libcurl (remote-webdav.c) and a local folder (remote-folder.c,
 * for Syncthing/Dropbox/NFS).
 *
 * Names are relative paths under the remote's base: "vault", "head",
 * "records/<32 hex>".  Every call blocks: the engine runs them in its worker
 * thread, never on the main loop.  A CofferRemote is used by one thread at a
 * time.
 *
 * ETags are opaque strings compared for equality only.  A backend returns
 * them normalised so that an ETag it hands out can be given back in
 * if_match: e.g. WebDAV strips Apache's weak "W/" prefix (Apache marks an
 * ETag weak for a second after a write, and a weak ETag never matches
 * If-Match; the strong value is the same string without "W/").
 */
#pragma once

#include <gio/gio.h>

#define COFFER_REMOTE_ERROR (coffer_remote_error_quark())
GQuark coffer_remote_error_quark(void);

typedef enum {
  COFFER_REMOTE_ERROR_NOT_FOUND,    /* no such object (404) */
  COFFER_REMOTE_ERROR_PRECONDITION, /* If-Match / If-None-Match failed (412) */
  COFFER_REMOTE_ERROR_AUTH,         /* 401/403: wrong credentials; not retried */
  COFFER_REMOTE_ERROR_TRANSIENT,    /* timeouts, resets, 5xx, 429, truncated bodies: retry with backoff */
  COFFER_REMOTE_ERROR_PROTOCOL,     /* a malformed answer (bad multistatus, missing ETag, ...) */
  COFFER_REMOTE_ERROR_TOO_LARGE,    /* an object over the size limit */
  COFFER_REMOTE_ERROR_CONFIG,       /* bad URL, unsupported scheme */
} CofferRemoteError;

/* Objects larger than this are refused on GET and PUT (an envelope is at
 * most 64 MiB + 134 bytes). */
#define COFFER_REMOTE_MAX_OBJECT (65u * 1024 * 1024)

typedef struct CofferRemote CofferRemote;

typedef struct {
  char *name; /* relative to the listed directory, e.g. "0a1b..." */
  char *etag; /* normalised; may be NULL if the server gave none */
  guint64 size;
} CofferRemoteEntry;

void coffer_remote_entry_free(CofferRemoteEntry *entry);

typedef struct {
  char *url;       /* https://…, http://… (tests), file:///… */
  char *user;      /* WebDAV basic auth; NULL for none */
  char *password;  /* sodium_malloc()ed by the caller, copied by the backend into its own secure memory */
  guint timeout_s; /* per request; 0 = default (30 s) */
} CofferRemoteConfig;

/* Picks the backend from the URL scheme.  Does no I/O. */
CofferRemote *coffer_remote_new(const CofferRemoteConfig *config, GError **error);
void coffer_remote_free(CofferRemote *remote);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferRemote, coffer_remote_free)

/* Fetches an object.  With if_none_match (an ETag) and an unchanged object:
 * returns TRUE with *data = NULL and *not_modified = TRUE (one cheap request
 * for idle polling).  *etag gets the object's current ETag. */
gboolean coffer_remote_get(CofferRemote *remote, const char *name, const char *if_none_match, GBytes **data,
                           char **etag, gboolean *not_modified, GError **error);

/* Stores an object atomically.  Exactly one precondition: if_match (replace
 * only that version) or create_only (only if absent: If-None-Match: *).  A
 * failed precondition is COFFER_REMOTE_ERROR_PRECONDITION.  *etag gets the new
 * ETag when the server tells it (NULL otherwise: re-list to learn it). */
gboolean coffer_remote_put(CofferRemote *remote, const char *name, GBytes *data, const char *if_match,
                           gboolean create_only, char **etag, GError **error);

/* Deletes an object (cleanup of pruned history/tombstones), conditionally
 * when if_match is given.  A missing object is not an error. */
gboolean coffer_remote_delete(CofferRemote *remote, const char *name, const char *if_match, GError **error);

/* Lists the objects directly inside a directory ("records"), with ETags and
 * sizes, in one request (PROPFIND Depth: 1).  A missing directory gives an
 * empty list. */
GPtrArray *coffer_remote_list(CofferRemote *remote, const char *directory, GError **error);

/* Creates a directory if missing (MKCOL).  Existing is not an error. */
gboolean coffer_remote_ensure_directory(CofferRemote *remote, const char *directory, GError **error);

/* Counters for `coffer status` and the benchmark. */
typedef struct {
  guint64 requests;
  guint64 bytes_sent;
  guint64 bytes_received;
} CofferRemoteStats;
void coffer_remote_get_stats(CofferRemote *remote, CofferRemoteStats *stats);
