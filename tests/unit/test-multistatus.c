/* Unit tests for agent/sync/multistatus.c: real server answers (Apache
 * mod_dav, Nextcloud/sabre), namespace handling, href decoding, and hostile
 * documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sync/multistatus.h"
#include "sync/remote.h"

#define ID_A "0123456789abcdef0123456789abcdef"
#define ID_B "fedcba9876543210fedcba9876543210"

/* Captured from Apache 2.4 mod_dav_fs (PROPFIND Depth: 1, allprop trimmed):
 * one namespace prefix per response, weak ETags right after a write. */
static const char apache_doc[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<D:multistatus xmlns:D=\"DAV:\">\n"
    "<D:response xmlns:lp1=\"DAV:\" xmlns:lp2=\"http://apache.org/dav/props/\">\n"
    "<D:href>/dav/records/</D:href>\n"
    "<D:propstat><D:prop>\n"
    "<lp1:resourcetype><D:collection/></lp1:resourcetype>\n"
    "<lp1:getetag>\"1000-66163b4ae5add\"</lp1:getetag>\n"
    "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\n"
    "</D:response>\n"
    "<D:response xmlns:lp1=\"DAV:\" xmlns:lp2=\"http://apache.org/dav/props/\">\n"
    "<D:href>/dav/records/" ID_A "</D:href>\n"
    "<D:propstat><D:prop>\n"
    "<lp1:resourcetype/>\n"
    "<lp1:getcontentlength>3</lp1:getcontentlength>\n"
    "<lp1:getetag>W/\"3-66163b4ae5add\"</lp1:getetag>\n"
    "<lp2:executable>F</lp2:executable>\n"
    "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\n"
    "</D:response>\n"
    "<D:response xmlns:lp1=\"DAV:\">\n"
    "<D:href>/dav/records/" ID_B "</D:href>\n"
    "<D:propstat><D:prop><lp1:resourcetype/><lp1:getcontentlength>1234</lp1:getcontentlength>"
    "<lp1:getetag>\"4d2-66163b4000000\"</lp1:getetag></D:prop>"
    "<D:status>HTTP/1.1 200 OK</D:status></D:propstat>\n"
    "</D:response>\n"
    "</D:multistatus>\n";

/* Nextcloud (sabre/dav): lowercase "d:" prefix, percent-encoded user name,
 * strong ETags, props a collection lacks reported in a 404 propstat. */
static const char nextcloud_doc[] =
    "<?xml version=\"1.0\"?>\n"
    "<d:multistatus xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\" xmlns:oc=\"http://owncloud.org/ns\" "
    "xmlns:nc=\"http://nextcloud.org/ns\">"
    "<d:response><d:href>/remote.php/dav/files/alice%40example.org/coffer/records/</d:href>"
    "<d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype><d:getetag>&quot;65f1c2&quot;</d:getetag>"
    "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
    "<d:propstat><d:prop><d:getcontentlength/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>"
    "</d:response>"
    "<d:response><d:href>/remote.php/dav/files/alice%40example.org/coffer/records/" ID_A "</d:href>"
    "<d:propstat><d:prop><d:resourcetype/><d:getetag>&quot;8c1b0e4e1f6a3d2c&quot;</d:getetag>"
    "<d:getcontentlength>777</d:getcontentlength></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
    "</d:response>"
    "<d:response><d:href>/remote.php/dav/files/alice%40example.org/coffer/records/" ID_A
    ".sync-conflict-20260101-120000-ABC</d:href>"
    "<d:propstat><d:prop><d:resourcetype/><d:getetag>&quot;x&quot;</d:getetag></d:prop>"
    "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    "<d:response><d:href>/remote.php/dav/files/alice%40example.org/coffer/records/sub/</d:href>"
    "<d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop>"
    "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    "</d:multistatus>";

static GPtrArray *
list_ok(const char *doc, const char *path)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *entries = coffer_multistatus_list(doc, strlen(doc), path, &error);

  if (entries == NULL)
    fail_msg("unexpected error: %s", error->message);
  return entries;
}

static void
assert_fails(const char *doc, gsize len, const char *path, CofferRemoteError code)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *entries = coffer_multistatus_list(doc, len, path, &error);

  assert_null(entries);
  assert_non_null(error);
  assert_true(error->domain == COFFER_REMOTE_ERROR);
  assert_int_equal(error->code, code);
}

static const CofferRemoteEntry *
entry(GPtrArray *entries, const char *name)
{
  for (guint i = 0; i < entries->len; i++) {
    const CofferRemoteEntry *e = entries->pdata[i];
    if (strcmp(e->name, name) == 0)
      return e;
  }
  return NULL;
}

static void
test_apache(void **state)
{
  g_autoptr(GPtrArray) entries = list_ok(apache_doc, "/dav/records/");
  const CofferRemoteEntry *a, *b;

  assert_int_equal(entries->len, 2); /* the directory itself is not listed */
  a = entry(entries, ID_A);
  b = entry(entries, ID_B);
  assert_non_null(a);
  assert_non_null(b);
  assert_string_equal(a->etag, "\"3-66163b4ae5add\""); /* weak "W/" stripped */
  assert_int_equal(a->size, 3);
  assert_string_equal(b->etag, "\"4d2-66163b4000000\"");
  assert_int_equal(b->size, 1234);
  /* the request path may lack the trailing slash */
  g_autoptr(GPtrArray) again = list_ok(apache_doc, "/dav/records");
  assert_int_equal(again->len, 2);
}

static void
test_nextcloud(void **state)
{
  /* our URL has "@" literally; the server encodes it: both decode the same */
  g_autoptr(GPtrArray) entries = list_ok(nextcloud_doc, "/remote.php/dav/files/alice@example.org/coffer/records/");

  assert_int_equal(entries->len, 1); /* not the conflict copy, not the sub-collection */
  assert_string_equal(((CofferRemoteEntry *)entries->pdata[0])->name, ID_A);
  assert_string_equal(((CofferRemoteEntry *)entries->pdata[0])->etag, "\"8c1b0e4e1f6a3d2c\"");
  assert_int_equal(((CofferRemoteEntry *)entries->pdata[0])->size, 777);
}

static void
test_namespaces(void **state)
{
  /* default namespace, absolute-URL hrefs, percent-encoded name */
  static const char default_ns[] =
      "<multistatus xmlns=\"DAV:\"><response><href>https://dav.example.org/base/records/</href></response>"
      "<response><href>https://dav.example.org/base/records/%30123456789abcdef0123456789ABCDEF</href></response>"
      "<response><href>https://dav.example.org/base/records/%30123456789abcdef0123456789abcdef</href>"
      "<propstat><prop><getetag>\"e1\"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat>"
      "</response></multistatus>";
  /* "D:" bound to another namespace: not a multistatus at all */
  static const char wrong_ns[] =
      "<D:multistatus xmlns:D=\"urn:not-dav\"><D:response><D:href>/r/" ID_A "</D:href></D:response></D:multistatus>";
  /* the DAV: elements under an arbitrary prefix, with a decoy "D:" */
  static const char odd_prefix[] =
      "<x:multistatus xmlns:x=\"DAV:\" xmlns:D=\"urn:decoy\"><x:response><x:href>/r/" ID_A "</x:href>"
      "<x:propstat><x:prop><D:getetag>\"decoy\"</D:getetag><x:getetag>\"real\"</x:getetag>"
      "<x:getcontentlength>9</x:getcontentlength></x:prop><x:status>HTTP/1.1 200 OK</x:status></x:propstat>"
      "</x:response></x:multistatus>";
  g_autoptr(GPtrArray) a = list_ok(default_ns, "/base/records/");
  g_autoptr(GPtrArray) c = list_ok(odd_prefix, "/r/");

  assert_int_equal(a->len, 1); /* the uppercase name is not one of ours */
  assert_string_equal(((CofferRemoteEntry *)a->pdata[0])->name, ID_A);
  assert_string_equal(((CofferRemoteEntry *)a->pdata[0])->etag, "\"e1\"");
  assert_int_equal(((CofferRemoteEntry *)a->pdata[0])->size, 0); /* missing prop */
  assert_fails(wrong_ns, strlen(wrong_ns), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
  assert_int_equal(c->len, 1);
  assert_string_equal(((CofferRemoteEntry *)c->pdata[0])->etag, "\"real\"");
  assert_int_equal(((CofferRemoteEntry *)c->pdata[0])->size, 9);
}

static void
test_missing_and_failed_props(void **state)
{
  static const char doc[] =
      "<D:multistatus xmlns:D=\"DAV:\">"
      "<D:response><D:href>/r/" ID_A "</D:href>"
      "<D:propstat><D:prop><D:getetag>\"gone\"</D:getetag><D:getcontentlength>5</D:getcontentlength></D:prop>"
      "<D:status>HTTP/1.1 404 Not Found</D:status></D:propstat></D:response>"
      "<D:response><D:href>/r/" ID_B "</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>"
      "</D:multistatus>";
  g_autoptr(GPtrArray) entries = list_ok(doc, "/r/");

  /* props under a 404 propstat are missing, not values */
  assert_int_equal(entries->len, 2);
  assert_null(entry(entries, ID_A)->etag);
  assert_int_equal(entry(entries, ID_A)->size, 0);
}

static void
test_hrefs(void **state)
{
  static const struct {
    const char *href, *path;
  } cases[] = {
    { "/a/b/", "/a/b" },
    { "/a//b", "/a/b" },
    { "/", "/" },
    { "https://h:8443/a/%62", "/a/b" },
    { "http://h", "/" },
    { "/a%20b/c", "/a b/c" },
    { "/a/b?query#frag", "/a/b" },
    { "  /a/b  ", "/a/b" },
    { "/a/%41", "/a/A" },
    { "relative/path", NULL },
    { "/a/%2F", NULL }, /* an encoded slash would change the structure */
    { "/a/%00", NULL },
    { "/a/%4", NULL },
    { "/a/%zz", NULL },
    { "/a/../b", NULL },
    { "/a/%2e%2e/b", NULL },
    { "/a/./b", NULL },
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree char *path = coffer_dav_href_path(cases[i].href);
    if (cases[i].path == NULL) {
      if (path != NULL)
        fail_msg("%s decoded to %s", cases[i].href, path);
    } else {
      if (path == NULL || strcmp(path, cases[i].path) != 0)
        fail_msg("%s decoded to %s, not %s", cases[i].href, path, cases[i].path);
    }
  }
}

static void
test_other_path_and_duplicates(void **state)
{
  static const char other[] =
      "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/elsewhere/" ID_A "</D:href></D:response></D:multistatus>";
  static const char dup[] =
      "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/" ID_A "</D:href></D:response>"
      "<D:response><D:href>/r/%30123456789abcdef0123456789abcdef</D:href></D:response></D:multistatus>";
  static const char deeper[] = "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/</D:href></D:response>"
                               "<D:response><D:href>/r/sub/" ID_A "</D:href></D:response></D:multistatus>";
  static const char empty[] = "<D:multistatus xmlns:D=\"DAV:\"/>";
  g_autoptr(GPtrArray) d = list_ok(deeper, "/r/");
  g_autoptr(GPtrArray) e = list_ok(empty, "/r/");

  assert_fails(other, strlen(other), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
  assert_fails(dup, strlen(dup), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
  assert_int_equal(d->len, 0); /* only direct children count */
  assert_int_equal(e->len, 0);
}

static void
test_bad_values(void **state)
{
  static const char *docs[] = {
    /* an ETag that would inject a header when sent back */
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/" ID_A "</D:href><D:propstat><D:prop>"
    "<D:getetag>\"a\"&#13;&#10;X-Evil: 1</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status>"
    "</D:propstat></D:response></D:multistatus>",
    /* sizes that are not sizes */
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/" ID_A "</D:href><D:propstat><D:prop>"
    "<D:getcontentlength>-1</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status>"
    "</D:propstat></D:response></D:multistatus>",
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/" ID_A "</D:href><D:propstat><D:prop>"
    "<D:getcontentlength>99999999999999999999999</D:getcontentlength></D:prop>"
    "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>",
    /* a response without href */
    "<D:multistatus xmlns:D=\"DAV:\"><D:response/></D:multistatus>",
    /* not multistatus */
    "<D:error xmlns:D=\"DAV:\"/>",
    /* not XML / not well-formed / truncated */
    "",
    "HTTP/1.1 500",
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/",
    "<D:multistatus xmlns:D=\"DAV:\"></D:response></D:multistatus>",
    "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/</D:href></D:response></D:multistatus>trailing<",
  };

  for (gsize i = 0; i < G_N_ELEMENTS(docs); i++)
    assert_fails(docs[i], strlen(docs[i]), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
}

static void
test_hostile(void **state)
{
  static const char laughs[] =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
      " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
      " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
      " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
      " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
      " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
      " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
      " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
      " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n]>\n"
      "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/" ID_A "</D:href><D:propstat><D:prop>"
      "<D:getetag>&lol9;</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
      "</D:response></D:multistatus>";
  static const char xxe[] =
      "<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
      "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/" ID_A "</D:href><D:propstat><D:prop>"
      "<D:getetag>&x;</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
      "</D:response></D:multistatus>";
  static const char external_dtd[] = "<?xml version=\"1.0\"?><!DOCTYPE m SYSTEM \"http://127.0.0.1:1/evil.dtd\">"
                                     "<D:multistatus xmlns:D=\"DAV:\"/>";
  static const char undeclared_entity[] = "<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/r/&x;"
                                          "</D:href></D:response></D:multistatus>";
  g_autoptr(GError) error = NULL;
  g_autofree char *deep = NULL;
  GString *nest = g_string_new("<D:multistatus xmlns:D=\"DAV:\">");

  assert_fails(laughs, strlen(laughs), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
  assert_null(coffer_multistatus_parse(laughs, strlen(laughs), &error));
  assert_non_null(strstr(error->message, "DOCTYPE"));
  assert_fails(xxe, strlen(xxe), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
  assert_fails(external_dtd, strlen(external_dtd), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
  assert_fails(undeclared_entity, strlen(undeclared_entity), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);

  /* nesting far deeper than libxml2 allows without XML_PARSE_HUGE */
  for (int i = 0; i < 100000; i++)
    g_string_append(nest, "<a>");
  deep = g_string_free(nest, FALSE);
  assert_fails(deep, strlen(deep), "/r/", COFFER_REMOTE_ERROR_PROTOCOL);
}

static void
test_size_limit(void **state)
{
  gsize len = COFFER_MULTISTATUS_MAX_BYTES + 1;
  g_autofree char *big = g_malloc(len);

  memset(big, ' ', len);
  assert_fails(big, len, "/r/", COFFER_REMOTE_ERROR_TOO_LARGE);
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_apache),     cmocka_unit_test(test_nextcloud),
    cmocka_unit_test(test_namespaces), cmocka_unit_test(test_missing_and_failed_props),
    cmocka_unit_test(test_hrefs),      cmocka_unit_test(test_other_path_and_duplicates),
    cmocka_unit_test(test_bad_values), cmocka_unit_test(test_hostile),
    cmocka_unit_test(test_size_limit),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
