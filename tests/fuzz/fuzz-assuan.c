/* Fuzz target for the Assuan line parser and escaping (agent/prompt/assuan.c),
 * the code that reads what a pinentry sends back.
 *
 * The input is a byte stream as a server would send it; it is cut into
 * lines at LF.  Beyond "does not crash", it checks: a parsed line's
 * arguments lie inside the line; a D line's data decodes within bounds;
 * escaping any bytes and decoding them gives them back; and a command built
 * from any text fits in one line and has no raw CR or LF.
 *
 * Built with -DCOFFER_LIBFUZZER and -fsanitize=fuzzer it is a libFuzzer
 * target; otherwise main() runs the files named on the command line (the
 * seed corpus in tests/fuzz/corpus/assuan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt/assuan.h"

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "fuzz-assuan: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                            \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

static char decoded[COFFER_ASSUAN_LINE_MAX];
static char escaped[3 * COFFER_ASSUAN_LINE_MAX];
static char again[COFFER_ASSUAN_LINE_MAX];

static void
check_round_trip(const char *bytes, size_t len)
{
  if (len > sizeof again) /* lines may be longer than any valid one */
    len = sizeof again;
  size_t n = coffer_assuan_escape(bytes, len, escaped, sizeof escaped);
  CHECK(n <= sizeof escaped && n >= len && n <= 3 * len);
  CHECK(memchr(escaped, '\n', n) == NULL && memchr(escaped, '\r', n) == NULL);
  ssize_t back = coffer_assuan_unescape(escaped, n, again, sizeof again);
  CHECK(back == (ssize_t)len && memcmp(again, bytes, len) == 0);
}

/* Returns 1 when the line is a valid response (with valid data). */
static int
check_line(const char *line, size_t len)
{
  CofferAssuanLine parsed;

  check_round_trip(line, len);
  if (coffer_assuan_parse_line(line, len, &parsed) != 0)
    return 0;
  CHECK(len + 1 <= COFFER_ASSUAN_LINE_MAX);
  CHECK(parsed.args >= line && parsed.args + parsed.args_len <= line + len);
  if (parsed.kind != COFFER_ASSUAN_DATA)
    return 1;
  ssize_t n = coffer_assuan_unescape(parsed.args, parsed.args_len, decoded, sizeof decoded);
  if (n < 0)
    return 0;
  CHECK((size_t)n <= parsed.args_len);
  return 1;
}

static void
check_command(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  CHECK(text != NULL);
  memcpy(text, data, size);
  text[size] = '\0';
  char *command = coffer_assuan_build_command("SETDESC", text);
  size_t len = strlen(command);
  CHECK(len + 1 <= COFFER_ASSUAN_COMMAND_MAX);
  CHECK(strchr(command, '\n') == NULL && strchr(command, '\r') == NULL);
  CHECK(strncmp(command, "SETDESC ", 8) == 0);
  g_free(command);
  free(text);
}

/* Runs every line; returns 1 when all were valid. */
static int
run(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  size_t start = 0;
  int valid = 1;

  for (size_t i = 0; i <= size; i++) {
    if (i < size && text[i] != '\n')
      continue;
    if (i < size || i > start) /* a last line without LF still counts */
      valid &= check_line(text + start, i - start);
    start = i + 1;
  }
  check_command(data, size);
  return valid;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  run(data, size);
  return 0;
}

#ifndef COFFER_LIBFUZZER
#include "corpus-runner.h"

int
main(int argc, char **argv)
{
  return coffer_fuzz_corpus_main("fuzz-assuan", argc, argv, run);
}
#endif
