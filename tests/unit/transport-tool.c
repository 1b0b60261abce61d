/* transport-tool — drives agent/transport from a line protocol on stdin so
 * tests/service/dh_crosscheck.py can check it against an independent
 * implementation.  One command per line, one reply line each; byte strings
 * are lowercase hex, "-" for an empty one.
 *
 *   open <algorithm> <input-hex>  -> ok <output-hex>   (a new session; for
 *                                    "plain" the input is ignored and "-" is
 *                                    the empty-string output)
 *   enc <secret-hex>              -> ok <parameters-hex> <value-hex>
 *   dec <parameters-hex> <value-hex> -> ok <secret-hex>
 *
 * Failures reply "error <D-Bus error name> <message>".  A test tool: it
 * prints secrets, which the agent itself never does. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "transport/transport.h"

static GBytes *
parse_hex(const char *text)
{
  if (text == NULL)
    return NULL;
  if (g_str_equal(text, "-"))
    return g_bytes_new(NULL, 0);
  gsize len = strlen(text);
  if (len % 2 != 0)
    return NULL;
  g_autofree guint8 *out = g_malloc(len / 2 + 1);
  for (gsize i = 0; i < len / 2; i++) {
    int hi = g_ascii_xdigit_value(text[2 * i]);
    int lo = g_ascii_xdigit_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return NULL;
    out[i] = (guint8)(hi << 4 | lo);
  }
  return g_bytes_new_take(g_steal_pointer(&out), len / 2);
}

static void
print_hex(const guint8 *data, gsize len)
{
  if (len == 0)
    fputs(" -", stdout);
  else
    putchar(' ');
  for (gsize i = 0; i < len; i++)
    printf("%02x", data[i]);
}

static void
reply_error(const GError *error)
{
  g_autofree char *name = g_dbus_error_encode_gerror(error);
  printf("error %s %s\n", name, error->message);
}

static void
reply_usage(const char *what)
{
  printf("error usage %s\n", what);
}

static void
do_open(CofferTransport **session, char **args, guint argc)
{
  g_autoptr(GBytes) input = argc == 3 ? parse_hex(args[2]) : NULL;
  if (input == NULL) {
    reply_usage("open <algorithm> <input-hex>");
    return;
  }

  gsize len = 0;
  const guint8 *data = g_bytes_get_data(input, &len);
  g_autoptr(GVariant) in =
      g_variant_ref_sink(g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, len ? data : (const guint8 *)"", len, 1));
  if (g_str_equal(args[1], "plain")) {
    g_variant_unref(in);
    in = g_variant_ref_sink(g_variant_new_string(""));
  }
  g_autoptr(GError) error = NULL;
  GVariant *output = NULL;
  g_clear_pointer(session, coffer_transport_free);
  *session = coffer_transport_negotiate(args[1], in, &output, &error);
  if (*session == NULL) {
    reply_error(error);
    return;
  }

  g_autoptr(GVariant) out = g_variant_ref_sink(output);
  fputs("ok", stdout);
  if (g_variant_is_of_type(out, G_VARIANT_TYPE_BYTESTRING)) {
    gsize n = 0;
    const guint8 *bytes = g_variant_get_fixed_array(out, &n, 1);
    print_hex(bytes, n);
  } else {
    /* plain's "" (anything else would be a bug the script catches) */
    fputs(g_variant_is_of_type(out, G_VARIANT_TYPE_STRING) && *g_variant_get_string(out, NULL) == '\0'
              ? " -"
              : " not-an-empty-string",
          stdout);
  }
  putchar('\n');
}

static void
do_encrypt(CofferTransport *session, char **args, guint argc)
{
  g_autoptr(GBytes) secret = argc == 2 ? parse_hex(args[1]) : NULL;
  if (session == NULL || secret == NULL) {
    reply_usage("enc <secret-hex> after open");
    return;
  }

  gsize len = 0;
  const guint8 *data = g_bytes_get_data(secret, &len);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) parameters = NULL;
  g_autoptr(GBytes) value = NULL;
  if (!coffer_transport_encrypt(session, data, len, &parameters, &value, &error)) {
    reply_error(error);
    return;
  }
  fputs("ok", stdout);
  print_hex(g_bytes_get_data(parameters, NULL), g_bytes_get_size(parameters));
  print_hex(g_bytes_get_data(value, NULL), g_bytes_get_size(value));
  putchar('\n');
}

static void
do_decrypt(CofferTransport *session, char **args, guint argc)
{
  g_autoptr(GBytes) parameters = argc == 3 ? parse_hex(args[1]) : NULL;
  g_autoptr(GBytes) value = argc == 3 ? parse_hex(args[2]) : NULL;
  if (session == NULL || parameters == NULL || value == NULL) {
    reply_usage("dec <parameters-hex> <value-hex> after open");
    return;
  }

  gsize params_len = 0, value_len = 0;
  const guint8 *params_data = g_bytes_get_data(parameters, &params_len);
  const guint8 *value_data = g_bytes_get_data(value, &value_len);
  g_autoptr(GError) error = NULL;
  guint8 *plain = NULL;
  gsize plain_len = 0;
  if (!coffer_transport_decrypt(session, params_data, params_len, value_data, value_len, &plain, &plain_len, &error)) {
    reply_error(error);
    return;
  }
  fputs("ok", stdout);
  print_hex(plain, plain_len);
  putchar('\n');
  sodium_free(plain);
}

int
main(void)
{
  coffer_transport_global_init();

  CofferTransport *session = NULL;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) >= 0) {
    g_strstrip(line);
    g_auto(GStrv) args = g_strsplit(line, " ", 4);
    guint argc = g_strv_length(args);
    if (argc > 0 && g_str_equal(args[0], "open"))
      do_open(&session, args, argc);
    else if (argc > 0 && g_str_equal(args[0], "enc"))
      do_encrypt(session, args, argc);
    else if (argc > 0 && g_str_equal(args[0], "dec"))
      do_decrypt(session, args, argc);
    else
      reply_usage("unknown command");
    fflush(stdout);
  }
  free(line);
  coffer_transport_free(session);
  return 0;
}
