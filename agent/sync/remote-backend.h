/* coffer — what a remote backend implements (private to agent/sync/remote*.c).
 *
 * remote.c checks every argument (names, ETags, the one-precondition rule)
 * before a backend sees it, so backends trust their inputs and only map
 * their storage to the interface of remote.h.
 */
#pragma once

#include "sync/remote.h"

typedef struct {
  gboolean (*get)(CofferRemote *remote, const char *name, const char *if_none_match, GBytes **data, char **etag,
                  gboolean *not_modified, GError **error);
  gboolean (*put)(CofferRemote *remote, const char *name, GBytes *data, const char *if_match, gboolean create_only,
                  char **etag, GError **error);
  gboolean (*delete)(CofferRemote *remote, const char *name, const char *if_match, GError **error);
  GPtrArray *(*list)(CofferRemote *remote, const char *directory, GError **error);
  gboolean (*ensure_directory)(CofferRemote *remote, const char *directory, GError **error);
  void (*free)(CofferRemote *remote);
} CofferRemoteOps;

/* Every backend's struct starts with this. */
struct CofferRemote {
  const CofferRemoteOps *ops;
  CofferRemoteStats stats;
  guint timeout_s;
};

#define COFFER_REMOTE_DEFAULT_TIMEOUT_S 30u
/* ETags longer than this, or with bytes outside printable ASCII, are refused:
 * they go back to the server in a header. */
#define COFFER_REMOTE_MAX_ETAG 256u

CofferRemote *coffer_remote_webdav_new(const CofferRemoteConfig *config, GError **error);
CofferRemote *coffer_remote_folder_new(const CofferRemoteConfig *config, GError **error);

/* A name component as coffer writes them: [a-z0-9_-], 1..128 bytes.  Lists
 * report only such names, which leaves out sync tools' conflict copies
 * ("<id>.sync-conflict-…", "<id> (conflicted copy …)") and temp files
 * (".syncthing.*.tmp", our own ".coffer-tmp-*"). */
gboolean coffer_remote_name_component_valid(const char *component, gsize len);

/* Strips a weak "W/" prefix and surrounding blanks; NULL when what is left is
 * empty or not a safe header value. */
char *coffer_remote_etag_normalise(const char *etag);

CofferRemoteEntry *coffer_remote_entry_new(const char *name, const char *etag, guint64 size);
