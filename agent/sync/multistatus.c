/* coffer — WebDAV multistatus parser (see multistatus.h for the rules). */
#include "sync/multistatus.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "sync/remote-backend.h"

static const xmlChar dav_ns[] = "DAV:";

void
coffer_dav_response_free(CofferDavResponse *response)
{
  if (response == NULL)
    return;
  g_free(response->path);
  g_free(response->etag);
  g_free(response);
}

static gboolean
protocol_error(GError **error, const char *what)
{
  g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_PROTOCOL, "bad multistatus answer: %s", what);
  return FALSE;
}

/* ---- hrefs ------------------------------------------------------------------ */

static int
hex_value(char c)
{
  return g_ascii_xdigit_value(c);
}

/* Decodes one path segment; NULL for a bad escape, a NUL or "/" inside, or
 * "." / "..". */
static char *
decode_segment(const char *segment, gsize len)
{
  GString *out = g_string_sized_new(len);

  for (gsize i = 0; i < len; i++) {
    char c = segment[i];
    if (c == '%') {
      int hi, lo;
      if (i + 2 >= len)
        goto bad;
      hi = hex_value(segment[i + 1]);
      lo = hex_value(segment[i + 2]);
      if (hi < 0 || lo < 0)
        goto bad;
      c = (char)(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '/')
      goto bad;
    g_string_append_c(out, c);
  }
  if (strcmp(out->str, ".") == 0 || strcmp(out->str, "..") == 0)
    goto bad;
  return g_string_free(out, FALSE);
bad:
  g_string_free(out, TRUE);
  return NULL;
}

char *
coffer_dav_href_path(const char *href)
{
  g_autofree char *copy = NULL;
  const char *p, *scheme_end;
  GString *path;

  if (href == NULL || strlen(href) > COFFER_MULTISTATUS_MAX_HREF)
    return NULL;
  copy = g_strstrip(g_strdup(href));
  copy[strcspn(copy, "?#")] = '\0';
  p = copy;
  scheme_end = strstr(p, "://");
  if (scheme_end != NULL && strchr(p, '/') > scheme_end) {
    p = strchr(scheme_end + 3, '/'); /* skip the authority */
    if (p == NULL)
      return g_strdup("/");
  }
  if (*p != '/')
    return NULL;
  path = g_string_new(NULL);
  while (*p != '\0') {
    const char *start = p + 1, *end = strchr(start, '/');
    gsize len = end ? (gsize)(end - start) : strlen(start);
    if (len > 0) {
      char *segment = decode_segment(start, len);
      if (segment == NULL) {
        g_string_free(path, TRUE);
        return NULL;
      }
      g_string_append_c(path, '/');
      g_string_append(path, segment);
      g_free(segment);
    }
    p = start + len;
  }
  if (path->len == 0)
    g_string_append_c(path, '/');
  return g_string_free(path, FALSE);
}

/* ---- the document ------------------------------------------------------------- */

static gboolean
is_dav(const xmlNode *node, const char *name)
{
  return node->type == XML_ELEMENT_NODE && node->ns != NULL && xmlStrEqual(node->ns->href, dav_ns) &&
         xmlStrEqual(node->name, (const xmlChar *)name);
}

static xmlNode *
first_dav_child(xmlNode *parent, const char *name)
{
  for (xmlNode *child = parent->children; child != NULL; child = child->next)
    if (is_dav(child, name))
      return child;
  return NULL;
}

static char *
node_text(xmlNode *node)
{
  xmlChar *content = xmlNodeGetContent(node);
  char *text = g_strstrip(g_strdup(content ? (const char *)content : ""));

  xmlFree(content);
  return text;
}

/* "HTTP/1.1 200 OK" → 200; 0 when unreadable. */
static guint
status_code(xmlNode *status)
{
  g_autofree char *text = node_text(status);
  const char *space = strchr(text, ' ');
  guint code = 0;

  if (space == NULL)
    return 0;
  for (int i = 1; i <= 3; i++) {
    if (!g_ascii_isdigit(space[i]))
      return 0;
    code = code * 10 + (guint)(space[i] - '0');
  }
  return code;
}

static gboolean
parse_prop(xmlNode *prop, CofferDavResponse *response, GError **error)
{
  for (xmlNode *p = prop->children; p != NULL; p = p->next) {
    if (is_dav(p, "getetag")) {
      g_autofree char *etag = node_text(p);
      if (strlen(etag) > COFFER_REMOTE_MAX_ETAG)
        return protocol_error(error, "ETag too long");
      g_free(response->etag);
      response->etag = *etag ? g_steal_pointer(&etag) : NULL;
    } else if (is_dav(p, "getcontentlength")) {
      g_autofree char *text = node_text(p);
      guint64 size;
      if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &size, NULL))
        return protocol_error(error, "bad getcontentlength");
      response->size = size;
      response->has_size = TRUE;
    } else if (is_dav(p, "resourcetype")) {
      response->collection = first_dav_child(p, "collection") != NULL;
    }
  }
  return TRUE;
}

static CofferDavResponse *
parse_response(xmlNode *node, GError **error)
{
  xmlNode *href = first_dav_child(node, "href"), *status = first_dav_child(node, "status");
  CofferDavResponse *response;
  g_autofree char *href_text = NULL;

  if (href == NULL) {
    protocol_error(error, "response without href");
    return NULL;
  }
  href_text = node_text(href);
  if (strlen(href_text) > COFFER_MULTISTATUS_MAX_HREF) {
    protocol_error(error, "href too long");
    return NULL;
  }
  response = g_new0(CofferDavResponse, 1);
  response->path = coffer_dav_href_path(href_text);
  /* A response-level status (e.g. 404) reports the href without props. */
  if (status != NULL)
    return response;
  for (xmlNode *ps = node->children; ps != NULL; ps = ps->next) {
    xmlNode *prop, *ps_status;
    guint code;
    if (!is_dav(ps, "propstat"))
      continue;
    prop = first_dav_child(ps, "prop");
    ps_status = first_dav_child(ps, "status");
    code = ps_status ? status_code(ps_status) : 0;
    if (prop == NULL || code < 200 || code > 299)
      continue;
    if (!parse_prop(prop, response, error)) {
      coffer_dav_response_free(response);
      return NULL;
    }
  }
  return response;
}

/* A DOCTYPE is never needed in a multistatus answer and is the door to
 * entity expansion and external loads: stop the parser at the first one. */
typedef struct {
  gboolean doctype_seen;
} Guard;

static void
refuse_subset(void *user_data, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
  xmlParserCtxtPtr ctxt = user_data;
  Guard *guard = ctxt->_private;

  guard->doctype_seen = TRUE;
  xmlStopParser(ctxt);
}

static void
refuse_entity(void *user_data, const xmlChar *name, int type, const xmlChar *public_id, const xmlChar *system_id,
              xmlChar *content)
{
  refuse_subset(user_data, name, public_id, system_id);
}

static gpointer
init_libxml(gpointer unused)
{
  xmlInitParser();
  return NULL;
}

static xmlDoc *
read_document(const char *xml, gsize len, GError **error)
{
  static GOnce once = G_ONCE_INIT;
  Guard guard = { FALSE };
  xmlParserCtxtPtr ctxt;
  xmlDoc *doc;

  g_once(&once, init_libxml, NULL);
  ctxt = xmlNewParserCtxt();
  if (ctxt == NULL) {
    protocol_error(error, "out of memory");
    return NULL;
  }
  ctxt->_private = &guard;
  ctxt->sax->internalSubset = refuse_subset;
  ctxt->sax->externalSubset = refuse_subset;
  ctxt->sax->entityDecl = refuse_entity;
  doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
  if (doc != NULL && (guard.doctype_seen || !ctxt->wellFormed)) {
    xmlFreeDoc(doc);
    doc = NULL;
  }
  xmlFreeParserCtxt(ctxt);
  if (doc == NULL)
    protocol_error(error, guard.doctype_seen ? "DOCTYPE refused" : "not well-formed XML");
  return doc;
}

GPtrArray *
coffer_multistatus_parse(const char *xml, gsize len, GError **error)
{
  g_autoptr(GPtrArray) responses = NULL;
  xmlDoc *doc;
  xmlNode *root;

  if (len > COFFER_MULTISTATUS_MAX_BYTES) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_TOO_LARGE, "multistatus answer over %u bytes",
                COFFER_MULTISTATUS_MAX_BYTES);
    return NULL;
  }
  doc = read_document(xml, len, error);
  if (doc == NULL)
    return NULL;
  root = xmlDocGetRootElement(doc);
  if (root == NULL || !is_dav(root, "multistatus")) {
    xmlFreeDoc(doc);
    protocol_error(error, "no DAV:multistatus root");
    return NULL;
  }
  responses = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_dav_response_free);
  for (xmlNode *node = root->children; node != NULL; node = node->next) {
    CofferDavResponse *response;
    if (!is_dav(node, "response"))
      continue;
    if (responses->len >= COFFER_MULTISTATUS_MAX_RESPONSES) {
      xmlFreeDoc(doc);
      protocol_error(error, "too many responses");
      return NULL;
    }
    response = parse_response(node, error);
    if (response == NULL) {
      xmlFreeDoc(doc);
      return NULL;
    }
    g_ptr_array_add(responses, response);
  }
  xmlFreeDoc(doc);
  return g_steal_pointer(&responses);
}

/* ---- from responses to a listing ----------------------------------------------- */

/* "/a/b/c" → parent "/a/b" and leaf "c"; FALSE for "/". */
static gboolean
split_path(const char *path, gsize *parent_len, const char **leaf)
{
  const char *slash = strrchr(path, '/');

  if (slash == NULL || slash[1] == '\0')
    return FALSE;
  *parent_len = (gsize)(slash - path);
  *leaf = slash + 1;
  return TRUE;
}

static gboolean
is_parent(const char *dir, gsize parent_len, const char *path)
{
  /* the root's children have an empty parent */
  if (strcmp(dir, "/") == 0)
    return parent_len == 0;
  return strlen(dir) == parent_len && strncmp(dir, path, parent_len) == 0;
}

GPtrArray *
coffer_multistatus_children(GPtrArray *responses, const char *collection_path, GError **error)
{
  g_autofree char *dir = coffer_dav_href_path(collection_path);
  g_autoptr(GPtrArray) entries = NULL;
  g_autoptr(GHashTable) seen = NULL;
  gboolean related = FALSE;

  if (dir == NULL) {
    g_set_error(error, COFFER_REMOTE_ERROR, COFFER_REMOTE_ERROR_CONFIG, "bad collection path");
    return NULL;
  }
  entries = g_ptr_array_new_with_free_func((GDestroyNotify)coffer_remote_entry_free);
  seen = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < responses->len; i++) {
    const CofferDavResponse *r = responses->pdata[i];
    const char *leaf;
    gsize parent_len;
    g_autofree char *etag = NULL;

    if (r->path == NULL)
      continue;
    if (strcmp(r->path, dir) == 0) {
      related = TRUE;
      continue;
    }
    if (!split_path(r->path, &parent_len, &leaf) || !is_parent(dir, parent_len, r->path))
      continue;
    related = TRUE;
    if (r->collection || !coffer_remote_name_component_valid(leaf, strlen(leaf)))
      continue;
    if (g_hash_table_contains(seen, leaf)) {
      protocol_error(error, "a name listed twice");
      return NULL;
    }
    if (r->etag != NULL && (etag = coffer_remote_etag_normalise(r->etag)) == NULL) {
      protocol_error(error, "unusable ETag");
      return NULL;
    }
    g_hash_table_add(seen, (gpointer)leaf);
    g_ptr_array_add(entries, coffer_remote_entry_new(leaf, etag, r->has_size ? r->size : 0));
  }
  if (responses->len > 0 && !related) {
    protocol_error(error, "the answer is about another path");
    return NULL;
  }
  return g_steal_pointer(&entries);
}

GPtrArray *
coffer_multistatus_list(const char *xml, gsize len, const char *collection_path, GError **error)
{
  g_autoptr(GPtrArray) responses = coffer_multistatus_parse(xml, len, error);

  if (responses == NULL)
    return NULL;
  return coffer_multistatus_children(responses, collection_path, error);
}
