/* coffer CLI — shared declarations.  One file per verb; this header is the
 * seam between them and the pieces they share (password entry, talking to
 * cofferd).  No GLib here: plain C, libsodium for secret memory. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "control.h"

enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_ERROR = 1,
  CLI_EXIT_USAGE = 2,
};

/* Every error message starts with this, e.g. "coffer: wrong password". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- verbs (one file each) ------------------------------------------------ */
int cli_init(int argc, char **argv);
int cli_unlock(int argc, char **argv);
int cli_lock(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_passwd(int argc, char **argv);
int cli_remote(int argc, char **argv);
int cli_join(int argc, char **argv);
int cli_sync(int argc, char **argv);
int cli_history(int argc, char **argv);
int cli_restore(int argc, char **argv);
int cli_cleanup(int argc, char **argv);
int cli_access(int argc, char **argv);
int cli_import(int argc, char **argv); /* import.c: both exec coffer-import */
int cli_export(int argc, char **argv);

/* Option parsing shared by the verbs: accepts -h/--help and, when
 * password_stdin is non-NULL, --password-stdin.  Returns -1 to go on,
 * otherwise the exit code to return (help printed: 0, bad usage: 2). */
int cli_parse_options(int argc, char **argv, const char *usage, bool *password_stdin);

/* The same for verbs with positional arguments and options: `flags` says
 * which options are accepted (--user VALUE, --password-stdin); between
 * min_pos and max_pos (at most 3) positional arguments are required. */
enum { CLI_ARG_USER = 1, CLI_ARG_PASSWORD_STDIN = 2 };
typedef struct {
  bool password_stdin;
  const char *user;
  const char *positional[3];
  int n_positional;
} CliArgs;
int cli_parse_args(int argc, char **argv, const char *usage, unsigned flags, int min_pos, int max_pos, CliArgs *args);

/* An item given as an object path (…/collection/login/<id>) or as its id:
 * the 32-hex-digit id (pointing into arg), or NULL after printing why not. */
const char *cli_item_id(const char *arg);

/* ---- passwords (password.c) ----------------------------------------------
 * A password lives in sodium_malloc() memory, is NUL-terminated, and is
 * wiped by cli_password_free(). */
typedef struct {
  char *data;
  size_t len;
} CliPassword;

/* Reads one password: from the terminal without echo, or, with from_stdin,
 * one line of standard input.  Prints the error itself; returns 0 or -1. */
int cli_password_read(bool from_stdin, const char *prompt, CliPassword *out);
/* Reads a new password; on the terminal it is asked twice and must match. */
int cli_password_read_new(bool from_stdin, const char *prompt, const char *repeat_prompt, CliPassword *out);
void cli_password_free(CliPassword *pw);

/* ---- talking to cofferd (client.c) ---------------------------------------- */
typedef struct {
  uint8_t *body;
  size_t body_len;
  CofferControlMessage msg; /* points into body */
} CliReply;

/* Sends the request (clearing the builder, which wipes it) and waits for
 * the reply.  Returns 0 with an OK reply in *reply, or prints why not
 * ("coffer: wrong password", "coffer: cofferd is not running ...") and
 * returns -1. */
int cli_call(CofferControlBuilder *req, CliReply *reply);
void cli_reply_clear(CliReply *reply);
/* For requests whose OK carries nothing: cli_call, then print done.
 * Returns the exit code. */
int cli_call_and_say(CofferControlBuilder *req, const char *done);
