/* coffer — the Assuan protocol, client side (see assuan.h). */
#include "config.h"

#include <sodium.h>
#include <string.h>

#include "prompt/assuan.h"

/* ---- lines ------------------------------------------------------------------ */

static int
hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

ssize_t
coffer_assuan_unescape(const char *src, size_t len, char *dst, size_t cap)
{
  size_t out = 0;

  /* out never passes i, so dst == src is safe. */
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '%') {
      int high, low;
      if (len - i < 3)
        return -1;
      high = hex_value(src[i + 1]);
      low = hex_value(src[i + 2]);
      if (high < 0 || low < 0)
        return -1;
      c = (char)(high << 4 | low);
      i += 2;
    }
    if (out >= cap)
      return -1;
    dst[out++] = c;
  }
  return (ssize_t)out;
}

static gboolean
needs_escape(unsigned char c)
{
  return c == '%' || c < 0x20 || c == 0x7f;
}

size_t
coffer_assuan_escape(const char *src, size_t len, char *dst, size_t cap)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t out = 0;

  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)src[i];
    if (needs_escape(c)) {
      if (out + 3 <= cap) {
        dst[out] = '%';
        dst[out + 1] = hex[c >> 4];
        dst[out + 2] = hex[c & 0xf];
      }
      out += 3;
    } else {
      if (out < cap)
        dst[out] = (char)c;
      out++;
    }
  }
  return out;
}

/* Reads the decimal code of an ERR line; -1 if there is none or it does not
 * fit in 32 bits. */
static int
parse_code(const char *text, size_t len, unsigned int *code, size_t *used)
{
  guint64 value = 0;
  size_t i = 0;

  while (i < len && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + (guint64)(text[i] - '0');
    if (value > G_MAXUINT32)
      return -1;
    i++;
  }
  if (i == 0 || (i < len && text[i] != ' '))
    return -1;
  *code = (unsigned int)value;
  *used = i;
  return 0;
}

int
coffer_assuan_parse_line(const char *line, size_t len, CofferAssuanLine *out)
{
  static const struct {
    const char *word;
    CofferAssuanKind kind;
  } words[] = {
    { "OK", COFFER_ASSUAN_OK },    { "ERR", COFFER_ASSUAN_ERR },         { "D", COFFER_ASSUAN_DATA },
    { "S", COFFER_ASSUAN_STATUS }, { "INQUIRE", COFFER_ASSUAN_INQUIRE },
  };

  memset(out, 0, sizeof *out);
  if (len + 1 > COFFER_ASSUAN_LINE_MAX || memchr(line, '\0', len) != NULL || memchr(line, '\n', len) != NULL)
    return -1;
  /* A comment is '#' followed by anything. */
  if (len > 0 && line[0] == '#') {
    out->kind = COFFER_ASSUAN_COMMENT;
    out->args = line + 1;
    out->args_len = len - 1;
    return 0;
  }
  for (size_t i = 0; i < G_N_ELEMENTS(words); i++) {
    size_t word_len = strlen(words[i].word);
    if (len < word_len || memcmp(line, words[i].word, word_len) != 0 || (len > word_len && line[word_len] != ' '))
      continue;
    out->kind = words[i].kind;
    out->args = line + word_len + (len > word_len ? 1 : 0);
    out->args_len = len - word_len - (len > word_len ? 1 : 0);
    if (out->kind == COFFER_ASSUAN_ERR) {
      size_t used;
      if (parse_code(out->args, out->args_len, &out->code, &used) != 0)
        return -1;
      out->args += used;
      out->args_len -= used;
      if (out->args_len > 0) { /* skip the space before the description */
        out->args++;
        out->args_len--;
      }
    }
    return 0;
  }
  return -1;
}

/* Bytes the argument prefix [0, end) takes once escaped. */
static size_t
escaped_len(const char *text, size_t end)
{
  return coffer_assuan_escape(text, end, NULL, 0);
}

char *
coffer_assuan_build_command(const char *keyword, const char *argument)
{
  size_t budget = COFFER_ASSUAN_COMMAND_MAX - 1 - strlen(keyword) - 1; /* LF, space */
  size_t len = strlen(argument), cut = len, escaped;
  char *command;

  g_return_val_if_fail(strlen(keyword) + 2 < COFFER_ASSUAN_COMMAND_MAX, NULL);
  if (escaped_len(argument, len) > budget) {
    /* Cut whole characters (or bytes, for text that is not UTF-8). */
    gboolean utf8 = g_utf8_validate(argument, (gssize)len, NULL);
    const char *p = argument;
    cut = 0;
    while (*p != '\0') {
      const char *next = utf8 ? g_utf8_next_char(p) : p + 1;
      if (escaped_len(argument, (size_t)(next - argument)) > budget)
        break;
      p = next;
    }
    cut = (size_t)(p - argument);
  }
  escaped = escaped_len(argument, cut);
  command = g_malloc(strlen(keyword) + 1 + escaped + 1);
  strcpy(command, keyword);
  strcat(command, " ");
  coffer_assuan_escape(argument, cut, command + strlen(keyword) + 1, escaped);
  command[strlen(keyword) + 1 + escaped] = '\0';
  return command;
}

/* ---- the client --------------------------------------------------------------- */

G_DEFINE_QUARK(coffer_assuan_error, coffer_assuan_error)

#define READ_CHUNK 1024

struct _CofferAssuan {
  GObject parent_instance;
  GOutputStream *out;
  GInputStream *in;
  char *buffer; /* sodium: bytes read, [start, end) not yet parsed */
  gsize start, end;
  char *line; /* sodium: the line being assembled */
  gsize line_len;
  gboolean busy;
};

G_DEFINE_TYPE(CofferAssuan, coffer_assuan, G_TYPE_OBJECT)

/* One command in flight. */
typedef struct {
  char *command; /* with its LF; NULL when only reading */
  char *data;    /* sodium, COFFER_ASSUAN_DATA_MAX + 1 bytes, or NULL */
  gsize data_len;
} Op;

typedef struct {
  char *data;
  gsize len;
} Data;

static void
data_free(Data *data)
{
  if (data->data != NULL)
    sodium_free(data->data);
  g_free(data);
}

static void
op_free(Op *op)
{
  g_free(op->command);
  if (op->data != NULL)
    sodium_free(op->data);
  g_free(op);
}

static void read_more(GTask *task);

static void
finish_error(GTask *task, GError *error)
{
  CofferAssuan *self = g_task_get_source_object(task);

  self->busy = FALSE;
  sodium_memzero(self->line, COFFER_ASSUAN_LINE_MAX);
  self->line_len = 0;
  g_task_return_error(task, error);
  g_object_unref(task);
}

static void
finish_ok(GTask *task)
{
  CofferAssuan *self = g_task_get_source_object(task);
  Op *op = g_task_get_task_data(task);
  Data *data = g_new0(Data, 1);

  self->busy = FALSE;
  sodium_memzero(self->line, COFFER_ASSUAN_LINE_MAX);
  self->line_len = 0;
  data->data = g_steal_pointer(&op->data);
  data->len = op->data_len;
  g_task_return_pointer(task, data, (GDestroyNotify)data_free);
  g_object_unref(task);
}

static gboolean
append_data(Op *op, const CofferAssuanLine *line, GError **error)
{
  ssize_t n;

  if (op->data == NULL) {
    op->data = sodium_malloc(COFFER_ASSUAN_DATA_MAX + 1);
    if (op->data == NULL) {
      g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "cannot allocate secure memory");
      return FALSE;
    }
  }
  n = coffer_assuan_unescape(line->args, line->args_len, op->data + op->data_len,
                             COFFER_ASSUAN_DATA_MAX - op->data_len);
  if (n < 0) {
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad or too much data from the Assuan server");
    return FALSE;
  }
  op->data_len += (gsize)n;
  op->data[op->data_len] = '\0';
  return TRUE;
}

static GError *
server_error(const CofferAssuanLine *line)
{
  g_autofree char *text = g_utf8_make_valid(line->args, (gssize)line->args_len);

  return g_error_new(COFFER_ASSUAN_ERROR, (int)COFFER_GPG_ERR_CODE(line->code), "%s (%u)", text[0] ? text : "error",
                     line->code);
}

static void
on_cancel_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
    finish_error(task, error);
    return;
  }
  read_more(task);
}

typedef enum { LINE_MORE, LINE_DONE, LINE_INQUIRE } LineResult;

/* Handles one complete line; on LINE_DONE the task has been completed. */
static LineResult
handle_line(GTask *task, const char *text, gsize len)
{
  Op *op = g_task_get_task_data(task);
  CofferAssuanLine line;
  GError *error = NULL;

  if (coffer_assuan_parse_line(text, len, &line) != 0) {
    finish_error(task, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "malformed Assuan response"));
    return LINE_DONE;
  }
  switch (line.kind) {
  case COFFER_ASSUAN_OK:
    finish_ok(task);
    return LINE_DONE;
  case COFFER_ASSUAN_ERR:
    finish_error(task, server_error(&line));
    return LINE_DONE;
  case COFFER_ASSUAN_DATA:
    if (!append_data(op, &line, &error)) {
      finish_error(task, error);
      return LINE_DONE;
    }
    return LINE_MORE;
  case COFFER_ASSUAN_INQUIRE:
    return LINE_INQUIRE;
  case COFFER_ASSUAN_STATUS:
  case COFFER_ASSUAN_COMMENT:
    return LINE_MORE;
  }
  g_assert_not_reached();
}

/* Parses buffered bytes; returns TRUE when the task went on (completed, or
 * waiting on an INQUIRE answer), FALSE when it needs more input.
 *
 * Completing the task may run the caller's callback at once, which may
 * drop its last reference to us or start the next command (which then owns
 * the line buffer): after LINE_DONE nothing here touches the line again. */
static gboolean
parse_buffer(GTask *task)
{
  g_autoptr(CofferAssuan) self = g_object_ref(g_task_get_source_object(task));

  while (self->start < self->end) {
    char c = self->buffer[self->start];
    LineResult result;

    self->buffer[self->start++] = '\0';
    if (c != '\n') {
      if (self->line_len + 1 >= COFFER_ASSUAN_LINE_MAX) {
        finish_error(task, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "Assuan line too long"));
        return TRUE;
      }
      self->line[self->line_len++] = c;
      continue;
    }
    gsize len = self->line_len;
    self->line_len = 0;
    result = handle_line(task, self->line, len);
    if (result == LINE_DONE)
      return TRUE; /* the line was wiped before the task completed */
    sodium_memzero(self->line, len);
    if (result == LINE_INQUIRE) {
      /* We never have anything to give: cancel, and read on to the ERR. */
      g_output_stream_write_all_async(self->out, "CAN\n", 4, G_PRIORITY_DEFAULT, g_task_get_cancellable(task),
                                      on_cancel_written, task);
      return TRUE;
    }
  }
  self->start = self->end = 0;
  return FALSE;
}

static void
on_read(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  CofferAssuan *self = g_task_get_source_object(task);
  GError *error = NULL;
  gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

  if (n < 0) {
    finish_error(task, error);
    return;
  }
  if (n == 0) {
    finish_error(
        task, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "the Assuan server closed the connection"));
    return;
  }
  self->start = 0;
  self->end = (gsize)n;
  read_more(task);
}

static void
read_more(GTask *task)
{
  CofferAssuan *self = g_task_get_source_object(task);

  if (parse_buffer(task))
    return;
  g_input_stream_read_async(self->in, self->buffer, READ_CHUNK, G_PRIORITY_DEFAULT, g_task_get_cancellable(task),
                            on_read, task);
}

static void
on_written(GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  GError *error = NULL;

  if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
    finish_error(task, error);
    return;
  }
  read_more(task);
}

void
coffer_assuan_command_async(CofferAssuan *self, const char *command, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, cancellable, callback, user_data);
  Op *op = g_new0(Op, 1);

  g_task_set_task_data(task, op, (GDestroyNotify)op_free);
  if (self->busy) {
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_PENDING, "an Assuan command is already running");
    g_object_unref(task);
    return;
  }
  if (command != NULL && (strlen(command) + 1 > COFFER_ASSUAN_COMMAND_MAX || strchr(command, '\n') != NULL)) {
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad Assuan command line");
    g_object_unref(task);
    return;
  }
  self->busy = TRUE;
  if (command == NULL) {
    read_more(task);
    return;
  }
  op->command = g_strconcat(command, "\n", NULL);
  g_output_stream_write_all_async(self->out, op->command, strlen(op->command), G_PRIORITY_DEFAULT, cancellable,
                                  on_written, task);
}

gboolean
coffer_assuan_command_finish(CofferAssuan *self, GAsyncResult *result, char **data, gsize *data_len, GError **error)
{
  Data *reply = g_task_propagate_pointer(G_TASK(result), error);

  if (data != NULL)
    *data = NULL;
  if (data_len != NULL)
    *data_len = 0;
  if (reply == NULL)
    return FALSE;
  if (data != NULL) {
    *data = g_steal_pointer(&reply->data);
    if (data_len != NULL)
      *data_len = reply->len;
  }
  data_free(reply);
  return TRUE;
}

static void
coffer_assuan_finalize(GObject *object)
{
  CofferAssuan *self = COFFER_ASSUAN(object);

  sodium_free(self->buffer);
  sodium_free(self->line);
  g_clear_object(&self->out);
  g_clear_object(&self->in);
  G_OBJECT_CLASS(coffer_assuan_parent_class)->finalize(object);
}

static void
coffer_assuan_class_init(CofferAssuanClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = coffer_assuan_finalize;
}

static void
coffer_assuan_init(CofferAssuan *self)
{
  /* sodium_malloc fails only when out of memory, like g_malloc aborts. */
  self->buffer = sodium_malloc(READ_CHUNK);
  self->line = sodium_malloc(COFFER_ASSUAN_LINE_MAX);
  if (self->buffer == NULL || self->line == NULL)
    g_error("cannot allocate secure memory for the Assuan client");
  sodium_memzero(self->buffer, READ_CHUNK);
  sodium_memzero(self->line, COFFER_ASSUAN_LINE_MAX);
}

CofferAssuan *
coffer_assuan_new(GOutputStream *to_server, GInputStream *from_server)
{
  CofferAssuan *self = g_object_new(COFFER_TYPE_ASSUAN, NULL);

  self->out = g_object_ref(to_server);
  self->in = g_object_ref(from_server);
  return self;
}
