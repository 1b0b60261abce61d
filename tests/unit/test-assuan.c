/* Unit tests for agent/prompt/assuan.c: percent escaping, response line
 * parsing, command building, and the asynchronous client against a fake
 * server on a socket pair. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "prompt/assuan.h"

/* ---- escaping ------------------------------------------------------------------ */

static void
test_escape(void **state)
{
  char out[64];
  const char in[] = "a%b\nc\rd\x01\x7f ü";
  size_t n = coffer_assuan_escape(in, strlen(in), out, sizeof out);

  assert_int_equal(n, strlen("a%25b%0Ac%0Dd%01%7F ü"));
  assert_memory_equal(out, "a%25b%0Ac%0Dd%01%7F ü", n);
  /* Too small: nothing past cap, full length reported. */
  memset(out, 'X', sizeof out);
  assert_int_equal(coffer_assuan_escape("%%", 2, out, 4), 6);
  assert_memory_equal(out, "%25X", 4);
}

static void
test_unescape(void **state)
{
  char out[32];
  char buf[] = "se%25cr%0aet%0D%c3%BC";

  assert_int_equal(coffer_assuan_unescape("se%25cr%0aet", 12, out, sizeof out), 8);
  assert_memory_equal(out, "se%cr\net", 8);
  /* In place. */
  assert_int_equal(coffer_assuan_unescape(buf, strlen(buf), buf, sizeof buf), 11);
  assert_memory_equal(buf, "se%cr\net\r\xc3\xbc", 11);
  /* Malformed escapes. */
  assert_int_equal(coffer_assuan_unescape("ab%4", 4, out, sizeof out), -1);
  assert_int_equal(coffer_assuan_unescape("ab%", 3, out, sizeof out), -1);
  assert_int_equal(coffer_assuan_unescape("%g0", 3, out, sizeof out), -1);
  assert_int_equal(coffer_assuan_unescape("%0g", 3, out, sizeof out), -1);
  /* Capacity is respected exactly. */
  assert_int_equal(coffer_assuan_unescape("abcd", 4, out, 4), 4);
  assert_int_equal(coffer_assuan_unescape("abcde", 5, out, 4), -1);
  assert_int_equal(coffer_assuan_unescape("%00", 3, out, 1), 1);
  assert_int_equal(out[0], '\0');
  assert_int_equal(coffer_assuan_unescape("", 0, out, 0), 0);
}

static void
test_round_trip(void **state)
{
  unsigned char bytes[256];
  char escaped[3 * sizeof bytes];
  char back[sizeof bytes];

  for (unsigned i = 0; i < sizeof bytes; i++)
    bytes[i] = (unsigned char)i;
  size_t n = coffer_assuan_escape((const char *)bytes, sizeof bytes, escaped, sizeof escaped);
  assert_null(memchr(escaped, '\n', n));
  assert_null(memchr(escaped, '\r', n));
  assert_int_equal(coffer_assuan_unescape(escaped, n, back, sizeof back), sizeof bytes);
  assert_memory_equal(back, bytes, sizeof bytes);
}

/* ---- lines ---------------------------------------------------------------------- */

static CofferAssuanLine
parse_ok(const char *text)
{
  CofferAssuanLine line;
  assert_int_equal(coffer_assuan_parse_line(text, strlen(text), &line), 0);
  return line;
}

static void
assert_args(CofferAssuanLine line, const char *expected)
{
  assert_int_equal(line.args_len, strlen(expected));
  assert_memory_equal(line.args, expected, line.args_len);
}

static void
test_parse_lines(void **state)
{
  CofferAssuanLine line;

  line = parse_ok("OK");
  assert_int_equal(line.kind, COFFER_ASSUAN_OK);
  assert_args(line, "");
  line = parse_ok("OK Pleased to meet you");
  assert_args(line, "Pleased to meet you");
  line = parse_ok("ERR 83886179 Operation cancelled <Pinentry>");
  assert_int_equal(line.kind, COFFER_ASSUAN_ERR);
  assert_int_equal(line.code, 83886179u);
  assert_int_equal(COFFER_GPG_ERR_CODE(line.code), COFFER_GPG_ERR_CANCELED);
  assert_args(line, "Operation cancelled <Pinentry>");
  line = parse_ok("ERR 4294967295");
  assert_int_equal(line.code, 4294967295u);
  assert_args(line, "");
  line = parse_ok("D pa%25ss");
  assert_int_equal(line.kind, COFFER_ASSUAN_DATA);
  assert_args(line, "pa%25ss");
  line = parse_ok("D");
  assert_args(line, "");
  line = parse_ok("S PIN_REPEATED");
  assert_int_equal(line.kind, COFFER_ASSUAN_STATUS);
  line = parse_ok("INQUIRE PINENTRY_LAUNCHED 12");
  assert_int_equal(line.kind, COFFER_ASSUAN_INQUIRE);
  line = parse_ok("# hello");
  assert_int_equal(line.kind, COFFER_ASSUAN_COMMENT);
  line = parse_ok("#");
  assert_int_equal(line.kind, COFFER_ASSUAN_COMMENT);
}

static void
test_parse_rejects(void **state)
{
  static const char *const bad[] = {
    "",       "OKAY", "ok",  "ERR",      "ERR ", "ERR x", "ERR 12x", "ERR 4294967296", "ERR 99999999999999999999 x",
    "DATA x", "Dx",   " OK", "INQUIREX",
  };
  CofferAssuanLine line;
  char nul[] = "OK\0x";
  char longest[COFFER_ASSUAN_LINE_MAX + 1];

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(coffer_assuan_parse_line(bad[i], strlen(bad[i]), &line), -1);
  assert_int_equal(coffer_assuan_parse_line(nul, 4, &line), -1);
  assert_int_equal(coffer_assuan_parse_line("OK\nOK", 5, &line), -1);
  /* LINE_MAX includes the LF: LINE_MAX - 1 bytes of content is the longest. */
  memset(longest, 'a', sizeof longest);
  longest[0] = 'D';
  longest[1] = ' ';
  assert_int_equal(coffer_assuan_parse_line(longest, COFFER_ASSUAN_LINE_MAX - 1, &line), 0);
  assert_int_equal(coffer_assuan_parse_line(longest, COFFER_ASSUAN_LINE_MAX, &line), -1);
}

static void
test_build_command(void **state)
{
  g_autofree char *simple = coffer_assuan_build_command("SETDESC", "Line one\nLine 100%");
  g_autoptr(GString) big = g_string_new(NULL);
  g_autofree char *cut = NULL;

  assert_string_equal(simple, "SETDESC Line one%0ALine 100%25");
  /* Far too long, in two-byte characters: cut to fit, never mid-character. */
  for (int i = 0; i < 2000; i++)
    g_string_append(big, "é");
  cut = coffer_assuan_build_command("SETDESC", big->str);
  assert_true(strlen(cut) + 1 <= COFFER_ASSUAN_COMMAND_MAX);
  assert_true(strlen(cut) + 1 >= COFFER_ASSUAN_COMMAND_MAX - 2);
  assert_true(g_utf8_validate(cut, -1, NULL));
  g_clear_pointer(&cut, g_free);
  /* Escapes count: 500 '%' need 1500 bytes. */
  g_string_assign(big, "");
  for (int i = 0; i < 500; i++)
    g_string_append_c(big, '%');
  cut = coffer_assuan_build_command("SETERROR", big->str);
  assert_true(strlen(cut) + 1 <= COFFER_ASSUAN_COMMAND_MAX);
  assert_int_equal((strlen(cut) - strlen("SETERROR ")) % 3, 0);
}

/* ---- the client, against a fake server ------------------------------------------------ */

typedef struct {
  int server; /* our end of the socket pair */
  CofferAssuan *assuan;
  GIOStream *stream;
  GMainLoop *loop;
  gboolean ok;
  char *data;
  gsize data_len;
  GError *error;
} Fixture;

static int
fixture_setup(void **state)
{
  Fixture *f = g_new0(Fixture, 1);
  int fds[2];
  g_autoptr(GSocket) socket = NULL;

  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  f->server = fds[0];
  socket = g_socket_new_from_fd(fds[1], NULL);
  assert_non_null(socket);
  f->stream = G_IO_STREAM(g_socket_connection_factory_create_connection(socket));
  f->assuan = coffer_assuan_new(g_io_stream_get_output_stream(f->stream), g_io_stream_get_input_stream(f->stream));
  f->loop = g_main_loop_new(NULL, FALSE);
  *state = f;
  return 0;
}

static int
fixture_teardown(void **state)
{
  Fixture *f = *state;

  if (f->data != NULL)
    sodium_free(f->data);
  g_clear_error(&f->error);
  g_object_unref(f->assuan);
  g_object_unref(f->stream);
  g_main_loop_unref(f->loop);
  close(f->server);
  g_free(f);
  return 0;
}

static void
on_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Fixture *f = data;

  if (f->data != NULL)
    sodium_free(f->data);
  f->data = NULL;
  g_clear_error(&f->error);
  f->ok = coffer_assuan_command_finish(COFFER_ASSUAN(source), result, &f->data, &f->data_len, &f->error);
  g_main_loop_quit(f->loop);
}

static void
serve(Fixture *f, const char *bytes)
{
  assert_int_equal(write(f->server, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
}

static void
transact(Fixture *f, const char *command)
{
  coffer_assuan_command_async(f->assuan, command, NULL, on_done, f);
  g_main_loop_run(f->loop);
}

/* What the client wrote so far. */
static char *
received(Fixture *f)
{
  char buf[4096];
  ssize_t n = recv(f->server, buf, sizeof buf - 1, MSG_DONTWAIT);
  buf[n > 0 ? n : 0] = '\0';
  return g_strdup(buf);
}

static void
test_client_greeting_and_getpin(void **state)
{
  Fixture *f = *state;
  g_autofree char *sent = NULL;

  serve(f, "OK Pleased to meet you\n");
  transact(f, NULL);
  assert_true(f->ok);
  assert_null(f->data);

  /* Data split over lines, status and comments between, and the next
   * response already in the same write. */
  serve(f, "S PIN_REPEATED\nD pa%25ss\n# note\nD  w%0Ard\nOK\nOK second\n");
  transact(f, "GETPIN");
  assert_true(f->ok);
  assert_non_null(f->data);
  assert_int_equal(f->data_len, 10);
  assert_memory_equal(f->data, "pa%ss w\nrd", 10);
  assert_int_equal(f->data[10], '\0');
  sent = received(f);
  assert_string_equal(sent, "GETPIN\n");

  transact(f, "BYE");
  assert_true(f->ok);
  assert_null(f->data);
}

static void
test_client_err(void **state)
{
  Fixture *f = *state;

  serve(f, "D partial\nERR 83886179 Operation cancelled <Pinentry>\n");
  transact(f, "GETPIN");
  assert_false(f->ok);
  assert_null(f->data);
  assert_true(g_error_matches(f->error, COFFER_ASSUAN_ERROR, COFFER_GPG_ERR_CANCELED));
  assert_non_null(strstr(f->error->message, "Operation cancelled"));
}

static void
test_client_inquire_is_cancelled(void **state)
{
  Fixture *f = *state;
  g_autofree char *sent = NULL;

  serve(f, "INQUIRE NEEDPIN\nERR 83886179 canceled\n");
  transact(f, "GETPIN");
  assert_false(f->ok);
  sent = received(f);
  assert_string_equal(sent, "GETPIN\nCAN\n");
}

static void
test_client_eof(void **state)
{
  Fixture *f = *state;

  serve(f, "D secret");
  shutdown(f->server, SHUT_WR);
  transact(f, "GETPIN");
  assert_false(f->ok);
  assert_true(g_error_matches(f->error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED));
}

static void
test_client_protocol_errors(void **state)
{
  Fixture *f = *state;
  g_autoptr(GString) line = g_string_new("D ");

  serve(f, "HELLO\n");
  transact(f, NULL);
  assert_false(f->ok);
  assert_true(g_error_matches(f->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));

  serve(f, "D bad%zz\n");
  transact(f, NULL);
  assert_true(g_error_matches(f->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));

  for (int i = 0; i < COFFER_ASSUAN_LINE_MAX; i++)
    g_string_append_c(line, 'x');
  g_string_append_c(line, '\n');
  serve(f, line->str);
  transact(f, NULL);
  assert_true(g_error_matches(f->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));
}

static void
test_client_too_much_data(void **state)
{
  Fixture *f = *state;
  g_autoptr(GString) line = g_string_new(NULL);
  size_t total = 0;

  /* 17 lines of 990 bytes each: more than COFFER_ASSUAN_DATA_MAX. */
  for (int l = 0; l < 17; l++) {
    g_string_append(line, "D ");
    for (int i = 0; i < 990; i++)
      g_string_append_c(line, 'y');
    g_string_append_c(line, '\n');
    total += 990;
  }
  g_string_append(line, "OK\n");
  assert_true(total > COFFER_ASSUAN_DATA_MAX);
  serve(f, line->str);
  transact(f, NULL);
  assert_false(f->ok);
  assert_true(g_error_matches(f->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA));
}

static void
test_client_rejects_bad_commands(void **state)
{
  Fixture *f = *state;

  transact(f, "SETDESC two\nlines");
  assert_false(f->ok);
  assert_true(g_error_matches(f->error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT));
}

int
main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_escape),
    cmocka_unit_test(test_unescape),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_parse_lines),
    cmocka_unit_test(test_parse_rejects),
    cmocka_unit_test(test_build_command),
    cmocka_unit_test_setup_teardown(test_client_greeting_and_getpin, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_client_err, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_client_inquire_is_cancelled, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_client_eof, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_client_protocol_errors, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_client_too_much_data, fixture_setup, fixture_teardown),
    cmocka_unit_test_setup_teardown(test_client_rejects_bad_commands, fixture_setup, fixture_teardown),
  };

  if (sodium_init() < 0)
    return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
