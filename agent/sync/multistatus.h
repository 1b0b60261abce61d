/* coffer — the WebDAV multistatus parser (RFC 4918 §13), for PROPFIND
 * Depth: 1 answers.
 *
 * The document comes from an untrusted server, so the parser
 *   - matches elements by the DAV: namespace URI, never by prefix
 *     ("D:", "d:", a default namespace, one declared per element);
 *   - refuses any DOCTYPE: no entity declarations (billion laughs), no
 *     external entities, no network (XML_PARSE_NONET);
 *   - bounds the input size, the number of responses and each href/ETag;
 *   - takes properties only from a propstat whose status is 2xx, so a prop
 *     reported "404 Not Found" is missing, not empty.
 * No I/O: the fuzz target (tests/fuzz/fuzz-multistatus.c) drives it directly.
 */
#pragma once

#include <glib.h>

#define COFFER_MULTISTATUS_MAX_BYTES (32u * 1024 * 1024)
#define COFFER_MULTISTATUS_MAX_RESPONSES 1000000u
#define COFFER_MULTISTATUS_MAX_HREF 8192u

typedef struct {
  char *path; /* the href's path, percent-decoded, "/"-joined, no trailing "/" ("/" for the root);
                 NULL when the href is not an absolute path or URL, or does not decode */
  char *etag; /* getetag as sent (not normalised); NULL when missing */
  gboolean has_size;
  guint64 size;        /* getcontentlength */
  gboolean collection; /* resourcetype contains DAV:collection */
} CofferDavResponse;

void coffer_dav_response_free(CofferDavResponse *response);

/* Parses a multistatus document into CofferDavResponse*.  Errors are in
 * COFFER_REMOTE_ERROR: PROTOCOL for anything malformed or refused,
 * TOO_LARGE over COFFER_MULTISTATUS_MAX_BYTES. */
GPtrArray *coffer_multistatus_parse(const char *xml, gsize len, GError **error);

/* Percent-decodes an href (absolute URL or absolute path) the way
 * CofferDavResponse.path is; NULL when it does not decode to a safe path. */
char *coffer_dav_href_path(const char *href);

/* From parsed responses to the listing of `collection_path` (the path the
 * PROPFIND went to, percent-encoded as sent): the files directly inside it,
 * as CofferRemoteEntry* with normalised ETags.  Skips the collection's own
 * entry, sub-collections and names that are not coffer object names.  A
 * document about some other path, a duplicate name or an unusable ETag is
 * PROTOCOL. */
GPtrArray *coffer_multistatus_children(GPtrArray *responses, const char *collection_path, GError **error);

/* Both steps at once. */
GPtrArray *coffer_multistatus_list(const char *xml, gsize len, const char *collection_path, GError **error);
