/* coffer — the client side of the Assuan protocol, as spoken by pinentry.
 *
 * Assuan (libassuan's documentation, "The Assuan Protocol") is line based:
 * every line ends with LF and is at most 1000 bytes plus the line end.  The
 * client sends one command line and reads response lines until the final
 * one:
 *
 *   OK [text]                 the command succeeded (also the server's greeting)
 *   ERR <code> [description]  it failed; code is a libgpg-error value
 *   D <data>                  data, percent-escaped (%25 '%', %0D CR, %0A LF)
 *   S <keyword> [args]        status information
 *   INQUIRE <keyword> [args]  the server asks for data (we answer CAN)
 *   # text                    a comment
 *
 * This module has two halves: pure functions for escaping and parsing (no
 * I/O, fuzzed by tests/fuzz/fuzz-assuan.c), and CofferAssuan, an
 * asynchronous client over a pair of pipes.  Data lines may carry a
 * password: every buffer that holds one (the read buffer, the line buffer,
 * the decoded data) is sodium memory, wiped as soon as it has been used.
 */
#pragma once

#include <gio/gio.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest line we read, line end included (libassuan's ASSUAN_LINELENGTH:
 * 1000 bytes plus CR LF). */
#define COFFER_ASSUAN_LINE_MAX 1002
/* Longest command line we send, LF included. */
#define COFFER_ASSUAN_COMMAND_MAX 1000
/* Most data (all D lines of one response, decoded) we accept. */
#define COFFER_ASSUAN_DATA_MAX 16384

/* ---- lines ------------------------------------------------------------------ */

typedef enum {
  COFFER_ASSUAN_OK,
  COFFER_ASSUAN_ERR,
  COFFER_ASSUAN_DATA,
  COFFER_ASSUAN_STATUS,
  COFFER_ASSUAN_INQUIRE,
  COFFER_ASSUAN_COMMENT,
} CofferAssuanKind;

typedef struct {
  CofferAssuanKind kind;
  /* What follows the keyword and its space (not NUL-terminated: use
   * args_len); for ERR, what follows the code.  Points into the line. */
  const char *args;
  size_t args_len;
  unsigned int code; /* ERR only */
} CofferAssuanLine;

/* Parses one response line, without its LF.  Returns 0, or -1 when the line
 * is not a valid response (unknown keyword, NUL or LF inside, too long, an
 * ERR without a number). */
int coffer_assuan_parse_line(const char *line, size_t len, CofferAssuanLine *out);

/* Percent-decodes src into dst (which may be src itself).  Returns the
 * decoded length, or -1 on a malformed escape or when dst (cap bytes) is too
 * small.  Nothing is written past cap. */
ssize_t coffer_assuan_unescape(const char *src, size_t len, char *dst, size_t cap);

/* Percent-escapes src for a command argument: '%', CR, LF and every other
 * control character become %XX.  Writes at most cap bytes (no NUL) and
 * returns the full escaped length, so a result > cap means it did not fit. */
size_t coffer_assuan_escape(const char *src, size_t len, char *dst, size_t cap);

/* The part of an error code that names the error (libgpg-error keeps the
 * source in the high bits). */
#define COFFER_GPG_ERR_CODE(code) ((code)&0xffffu)
enum {
  COFFER_GPG_ERR_TIMEOUT = 62,
  COFFER_GPG_ERR_CANCELED = 99,
  COFFER_GPG_ERR_NOT_CONFIRMED = 114,
  COFFER_GPG_ERR_ASS_UNKNOWN_CMD = 275,
};

/* ---- the client --------------------------------------------------------------- */

/* An ERR response: the code is COFFER_GPG_ERR_CODE of the server's code.
 * Broken or closed pipes are G_IO_ERROR_CONNECTION_CLOSED; protocol
 * violations G_IO_ERROR_INVALID_DATA. */
#define COFFER_ASSUAN_ERROR (coffer_assuan_error_quark())
GQuark coffer_assuan_error_quark(void);

#define COFFER_TYPE_ASSUAN (coffer_assuan_get_type())
G_DECLARE_FINAL_TYPE(CofferAssuan, coffer_assuan, COFFER, ASSUAN, GObject)

/* Talks to a server reading from `to_server` and writing to `from_server`. */
CofferAssuan *coffer_assuan_new(GOutputStream *to_server, GInputStream *from_server);

/* Sends one command (NULL: none, only read the server's greeting) and reads
 * the response.  One command at a time. */
void coffer_assuan_command_async(CofferAssuan *self, const char *command, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
/* TRUE on OK.  *data (may be NULL) receives the decoded D lines, if any, in
 * sodium_malloc() memory with a NUL after *data_len bytes: sodium_free() it. */
gboolean coffer_assuan_command_finish(CofferAssuan *self, GAsyncResult *result, char **data, gsize *data_len,
                                      GError **error);

/* Builds "KEYWORD escaped-argument", cut (at a UTF-8 boundary) so that it
 * fits in one command line. */
char *coffer_assuan_build_command(const char *keyword, const char *argument);
