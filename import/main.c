/* coffer-import — `coffer import` and `coffer export` (the coffer CLI execs
 * this helper so that the CLI itself stays free of GLib).
 *
 *   coffer import --from-running-service   read the current Secret Service provider
 *   coffer import FILE.keyring             a gnome-keyring binary keyring file
 *   coffer import FILE                     a coffer export file
 *   coffer export FILE                     write a coffer export file
 *
 * Imports write the vault's store directly: the old provider owns
 * org.freedesktop.secrets while we read it, so cofferd cannot be serving at
 * the same time anyway.  We refuse when a cofferd answers on the control
 * socket for the same store.  Export only reads the store and may run beside
 * cofferd (SQLite WAL readers do not disturb the writer).
 *
 * Order of work: the source is read completely (file decrypted and parsed,
 * or the provider read) before the vault is opened, so a bad file or a wrong
 * file password never touches the vault; then all writes go in one store
 * transaction.
 *
 * Exit codes: 0 everything imported (or already present), 1 an error or some
 * items failed (the others are imported), 2 usage. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "control.h"
#include "export-file.h"
#include "keyring-file.h"
#include "progress.h"
#include "service.h"
#include "sink.h"
#include "transport/transport.h"
#include "vault/vault.h"

#define MAX_KEYRING_FILE ((gsize)256 * 1024 * 1024)
#define DEFAULT_PROMPT_TIMEOUT 120

/* password.c (shared with the CLI) reports through this. */
void
cli_error(const char *fmt, ...)
{
  va_list ap;
  fputs("coffer: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

typedef struct {
  gboolean from_service;
  gboolean init;
  gboolean password_stdin;
  gboolean force;
  char *store;
  gint prompt_timeout;
  char **files;
} Options;

static void
options_clear(Options *o)
{
  g_free(o->store);
  g_strfreev(o->files);
}

/* ---- is cofferd serving this store? ------------------------------------------ */

static gboolean
same_file(const char *a, const char *b)
{
  struct stat sa, sb;
  if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return strcmp(a, b) == 0;
}

/* FALSE (with the reason printed) when a cofferd answers for store_path, or
 * when we cannot tell. */
static gboolean
check_no_agent(const char *store_path)
{
  char path[256];
  CofferControlBuilder req;
  CofferControlMessage reply;
  uint8_t *body = NULL;
  size_t body_len = 0;
  int fd, r;

  if (coffer_control_socket_path(path, sizeof path) < 0)
    return TRUE; /* no runtime dir: no agent of ours either */
  fd = coffer_control_connect(path, getuid(), 2000);
  if (fd == -ENOENT || fd == -ECONNREFUSED)
    return TRUE;
  if (fd < 0) {
    cli_error("cannot tell whether cofferd is running (%s: %s); refusing to write the vault", path, strerror(-fd));
    return FALSE;
  }
  r = coffer_control_builder_init(&req, COFFER_CONTROL_STATUS);
  if (r == 0)
    r = coffer_control_call(fd, &req, 5000, &body, &body_len, &reply);
  else
    coffer_control_builder_clear(&req);
  close(fd);
  if (r < 0) {
    cli_error("a cofferd answers on %s but not to STATUS (%s); stop it before importing", path, strerror(-r));
    return FALSE;
  }
  if (reply.type == COFFER_CONTROL_OK && coffer_control_has(&reply, COFFER_FIELD_STORE_PATH)) {
    g_autofree char *served = g_strndup((const char *)reply.store_path.data, reply.store_path.len);
    gboolean same = same_file(served, store_path);
    coffer_control_body_free(body, body_len);
    if (!same)
      return TRUE;
  } else {
    coffer_control_body_free(body, body_len);
  }
  cli_error("cofferd is running and serving %s.\n"
            "Importing writes the vault directly, so stop cofferd first (for example\n"
            "`systemctl --user stop coffer.service`), run the import, then start it again.",
            store_path);
  return FALSE;
}

/* ---- the vault -------------------------------------------------------------------- */

static CofferVault *
open_vault(const char *store_path, gboolean init, gboolean password_stdin)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(CofferVault) vault = NULL;
  CliPassword pw = { NULL, 0 };
  gboolean ok;

  if (!init && !g_file_test(store_path, G_FILE_TEST_EXISTS)) {
    cli_error("there is no coffer vault at %s yet; add --init to create it", store_path);
    return NULL;
  }
  vault = coffer_vault_open(store_path, &error);
  if (vault == NULL) {
    cli_error("cannot open the vault %s: %s", store_path, error->message);
    return NULL;
  }
  if (!coffer_vault_is_initialized(vault)) {
    if (!init) {
      cli_error("there is no coffer vault at %s yet; add --init to create it", store_path);
      return NULL;
    }
    if (cli_password_read_new(password_stdin, "New password for the coffer vault: ", "Repeat it: ", &pw) < 0)
      return NULL;
    ok = coffer_vault_initialize(vault, pw.data, pw.len, &error);
  } else {
    if (cli_password_read(password_stdin, "Password of the coffer vault: ", &pw) < 0)
      return NULL;
    ok = coffer_vault_unlock(vault, pw.data, pw.len, &error);
  }
  cli_password_free(&pw);
  if (!ok) {
    if (g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD))
      cli_error("wrong password for the coffer vault");
    else
      cli_error("%s", error->message);
    return NULL;
  }
  return g_steal_pointer(&vault);
}

/* ---- sources --------------------------------------------------------------------- */

static gboolean
read_file(const char *path, gsize max, guint8 **data, gsize *len)
{
  g_autoptr(GError) error = NULL;
  struct stat st;

  if (stat(path, &st) < 0) {
    cli_error("cannot read %s: %s", path, strerror(errno));
    return FALSE;
  }
  if (!S_ISREG(st.st_mode) || (guint64)st.st_size > max) {
    cli_error("%s is not a regular file of at most %zu MiB", path, max / (1024 * 1024));
    return FALSE;
  }
  if (!g_file_get_contents(path, (char **)data, len, &error)) {
    cli_error("cannot read %s: %s", path, error->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean
is_login_keyring(const char *path, const char *name)
{
  g_autofree char *base = g_path_get_basename(path);
  return strcmp(base, "login.keyring") == 0 || (name != NULL && g_ascii_strcasecmp(name, "login") == 0);
}

static void
file_error(const char *path, const GError *error)
{
  cli_error("%s: %s", path, error->message);
}

static ImportSource *
read_file_source(const char *path, gboolean password_stdin)
{
  g_autofree guint8 *data = NULL;
  gsize len = 0;
  g_autoptr(GError) error = NULL;
  g_autoptr(ImportSource) source = NULL;
  g_autofree char *prompt = NULL;
  g_autofree char *base = g_path_get_basename(path);
  CliPassword pw = { NULL, 0 };
  gboolean keyring;

  if (!read_file(path, EXPORT_MAX_FILE, &data, &len))
    return NULL;
  keyring = len >= 12 && memcmp(data, "GnomeKeyring", 12) == 0;
  if (!keyring && !(len >= 8 && memcmp(data, "COFFEREX", 8) == 0)) {
    if (len >= 9 && memcmp(data, "[keyring]", 9) == 0)
      cli_error("%s is an unencrypted (text) gnome-keyring file; only password-protected binary keyrings "
                "are read",
                path);
    else
      cli_error("%s is neither a gnome-keyring .keyring file nor a coffer export file", path);
    return NULL;
  }
  if (keyring && len > MAX_KEYRING_FILE) {
    cli_error("%s is too large for a keyring file", path);
    return NULL;
  }
  prompt = g_strdup_printf("Password of %s: ", base);
  if (cli_password_read(password_stdin, prompt, &pw) < 0)
    return NULL;
  if (keyring) {
    ImportCollection *collection = keyring_file_read(data, len, pw.data, pw.len, &error);
    if (collection != NULL) {
      collection->is_login = is_login_keyring(path, collection->label);
      source = import_source_new(base);
      g_ptr_array_add(source->collections, collection);
    }
  } else {
    source = export_file_decode(data, len, pw.data, pw.len, &error);
    if (source != NULL) {
      g_free(source->description);
      source->description = g_strdup(base);
    }
  }
  cli_password_free(&pw);
  sodium_memzero(data, len); /* the file is encrypted, but be tidy */
  if (source == NULL)
    file_error(path, error);
  return g_steal_pointer(&source);
}

static ImportSource *
read_service_source(const Options *o, ImportProgress *progress)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusConnection) bus = g_bus_get_sync(G_BUS_TYPE_SESSION, NULL, &error);
  ServiceReadOptions options = { (guint)o->prompt_timeout, progress };
  ImportSource *source;

  if (bus == NULL) {
    cli_error("cannot connect to the session bus: %s", error->message);
    return NULL;
  }
  source = service_read(bus, &options, &error);
  if (source == NULL)
    cli_error("%s", error->message);
  return source;
}

/* ---- verbs --------------------------------------------------------------------- */

static char *
store_path(const Options *o)
{
  return o->store ? g_strdup(o->store) : g_build_filename(g_get_user_data_dir(), "coffer", "vault.db", NULL);
}

static int
run_import(const Options *o)
{
  g_autofree char *store = store_path(o);
  g_autoptr(ImportSource) source = NULL;
  g_autoptr(CofferVault) vault = NULL;
  g_autoptr(GError) error = NULL;
  ImportProgress progress;
  ImportSummary summary;
  int status;

  if (o->from_service == (o->files != NULL && o->files[0] != NULL) || (o->files && o->files[0] && o->files[1])) {
    cli_error("give either --from-running-service or one FILE");
    return CLI_EXIT_USAGE;
  }
  if (!check_no_agent(store))
    return CLI_EXIT_ERROR;
  import_progress_init(&progress);
  source = o->from_service ? read_service_source(o, &progress) : read_file_source(o->files[0], o->password_stdin);
  if (source == NULL)
    return CLI_EXIT_ERROR;
  vault = open_vault(store, o->init, o->password_stdin);
  if (vault == NULL)
    return CLI_EXIT_ERROR;
  import_summary_init(&summary);
  if (!import_sink_write(vault, source, &progress, &summary, &error)) {
    cli_error("nothing was imported: %s", error->message);
    import_summary_clear(&summary);
    return CLI_EXIT_ERROR;
  }
  import_summary_print(&summary, source->description, stdout);
  status = summary.failed > 0 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
  import_summary_clear(&summary);
  return status;
}

/* The vault (session collection aside) as an ImportSource. */
static ImportSource *
read_vault(CofferVault *vault, GError **error)
{
  g_autoptr(ImportSource) source = import_source_new("coffer");
  g_autoptr(GPtrArray) collections = coffer_vault_list_collections(vault);
  g_autoptr(GPtrArray) aliases = coffer_vault_list_aliases(vault);

  for (guint c = 0; c < collections->len; c++) {
    CofferCollection *from = collections->pdata[c];
    const char *name = coffer_collection_get_name(from);
    ImportCollection *to;
    g_autoptr(GPtrArray) items = NULL;

    if (strcmp(name, COFFER_SESSION_COLLECTION) == 0)
      continue;
    to = import_collection_new(coffer_collection_get_label(from));
    g_ptr_array_add(source->collections, to);
    to->is_login = strcmp(name, COFFER_LOGIN_COLLECTION) == 0;
    to->created = coffer_collection_get_created(from);
    to->modified = coffer_collection_get_modified(from);
    for (guint a = 0; a < aliases->len; a++)
      if (coffer_vault_resolve_alias(vault, aliases->pdata[a]) == from)
        g_ptr_array_add(to->aliases, g_strdup(aliases->pdata[a]));
    items = coffer_collection_list_items(from);
    for (guint i = 0; i < items->len; i++) {
      CofferItem *item = items->pdata[i];
      g_autoptr(ImportItem) copy = import_item_new();
      GHashTableIter iter;
      gpointer k, v;
      guint8 *secret = NULL;
      gsize len = 0;
      const char *content_type = NULL;
      gboolean ok;

      if (!coffer_vault_get_item_secret(vault, item, &secret, &len, &content_type, error))
        return NULL;
      ok = import_item_set_secret(copy, secret, len);
      if (secret != NULL)
        coffer_secure_release(secret, len);
      if (!ok) {
        g_set_error(error, IMPORT_ERROR, IMPORT_ERROR_FAILED, "out of secure memory");
        return NULL;
      }
      copy->label = g_strdup(coffer_item_get_label(item));
      copy->content_type = g_strdup(content_type);
      copy->created = coffer_item_get_created(item);
      copy->modified = coffer_item_get_modified(item);
      g_hash_table_iter_init(&iter, coffer_item_get_attributes(item));
      while (g_hash_table_iter_next(&iter, &k, &v))
        g_hash_table_replace(copy->attributes, g_strdup(k), g_strdup(v));
      g_ptr_array_add(to->items, g_steal_pointer(&copy));
    }
  }
  return g_steal_pointer(&source);
}

static int
run_export(const Options *o)
{
  g_autofree char *store = store_path(o);
  g_autoptr(CofferVault) vault = NULL;
  g_autoptr(ImportSource) source = NULL;
  g_autoptr(GBytes) file = NULL;
  g_autoptr(GError) error = NULL;
  CliPassword pw = { NULL, 0 };
  const char *path;
  gboolean ok;

  if (o->files == NULL || o->files[0] == NULL || o->files[1] != NULL || o->from_service || o->init) {
    cli_error("usage: coffer export [--password-stdin] [--force] [--store PATH] FILE");
    return CLI_EXIT_USAGE;
  }
  path = o->files[0];
  if (!o->force && g_file_test(path, G_FILE_TEST_EXISTS)) {
    cli_error("%s exists; add --force to replace it", path);
    return CLI_EXIT_ERROR;
  }
  vault = open_vault(store, FALSE, o->password_stdin);
  if (vault == NULL)
    return CLI_EXIT_ERROR;
  source = read_vault(vault, &error);
  if (source == NULL) {
    cli_error("cannot read the vault: %s", error->message);
    return CLI_EXIT_ERROR;
  }
  if (cli_password_read_new(o->password_stdin, "Password for the export file: ", "Repeat it: ", &pw) < 0)
    return CLI_EXIT_ERROR;
  ok = export_file_encode(source, (guint64)(g_get_real_time() / G_USEC_PER_SEC), pw.data, pw.len,
                          coffer_kdf_default_params(), &file, &error);
  cli_password_free(&pw);
  /* Written to a temporary file, synced, then renamed: a crash leaves the
   * old file or the new one, never half of one. */
  if (ok)
    ok = g_file_set_contents_full(path, g_bytes_get_data(file, NULL), (gssize)g_bytes_get_size(file),
                                  G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0600, &error);
  if (!ok) {
    cli_error("cannot export: %s", error->message);
    return CLI_EXIT_ERROR;
  }
  printf("Exported %u item(s) in %u collection(s) to %s.\n", import_source_count_items(source),
         source->collections->len, path);
  return CLI_EXIT_OK;
}

static const char import_summary_text[] =
    "Import secrets into coffer's vault.\n\n"
    "  coffer import --from-running-service   from the Secret Service provider now on the bus\n"
    "                                         (gnome-keyring, KWallet, KeePassXC)\n"
    "  coffer import FILE.keyring             from a gnome-keyring keyring file\n"
    "  coffer import FILE                     from a `coffer export` file\n\n"
    "cofferd must not be running for this vault while importing.  A second import of the\n"
    "same source adds nothing: items with the same label and attributes are skipped.\n"
    "With --password-stdin: the file's password first (files only), then the vault's.";

static const char export_summary_text[] =
    "Write the whole vault to a password-protected file (docs/export-format.md).\n"
    "With --password-stdin: the vault's password first, then the export file's.";

int
main(int argc, char **argv)
{
  Options o = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = NULL;
  gboolean is_export;
  int status;
  GOptionEntry import_entries[] = {
    { "from-running-service", 0, 0, G_OPTION_ARG_NONE, &o.from_service,
      "Read the Secret Service provider currently on the session bus", NULL },
    { "init", 0, 0, G_OPTION_ARG_NONE, &o.init, "Create coffer's vault when there is none", NULL },
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &o.password_stdin, "Read passwords from standard input, one a line",
      NULL },
    { "store", 0, 0, G_OPTION_ARG_FILENAME, &o.store, "The vault database (default: $XDG_DATA_HOME/coffer/vault.db)",
      "PATH" },
    { "prompt-timeout", 0, 0, G_OPTION_ARG_INT, &o.prompt_timeout,
      "Seconds to wait for the old keyring's unlock prompt (default 120)", "SECONDS" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.files, NULL, NULL },
    { NULL },
  };
  GOptionEntry export_entries[] = {
    { "password-stdin", 0, 0, G_OPTION_ARG_NONE, &o.password_stdin, "Read passwords from standard input, one a line",
      NULL },
    { "force", 0, 0, G_OPTION_ARG_NONE, &o.force, "Replace FILE if it exists", NULL },
    { "store", 0, 0, G_OPTION_ARG_FILENAME, &o.store, "The vault database (default: $XDG_DATA_HOME/coffer/vault.db)",
      "PATH" },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &o.files, NULL, NULL },
    { NULL },
  };

  setlocale(LC_ALL, "");
  if (argc < 2 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "export") != 0)) {
    cli_error("coffer-import is run by `coffer import` and `coffer export`");
    return CLI_EXIT_USAGE;
  }
  is_export = strcmp(argv[1], "export") == 0;
  coffer_transport_global_init(); /* libsodium and libgcrypt */

  /* GOption wants the program name first: "coffer import ...". */
  argv[1] = is_export ? "coffer export" : "coffer import";
  context = g_option_context_new(is_export ? "FILE" : "[--from-running-service | FILE]");
  g_option_context_set_summary(context, is_export ? export_summary_text : import_summary_text);
  g_option_context_add_main_entries(context, is_export ? export_entries : import_entries, NULL);
  o.prompt_timeout = DEFAULT_PROMPT_TIMEOUT;
  if (!g_option_context_parse(context, &(int){ argc - 1 }, &(char **){ argv + 1 }, &error)) {
    cli_error("%s (see `coffer %s --help`)", error->message, is_export ? "export" : "import");
    options_clear(&o);
    return CLI_EXIT_USAGE;
  }
  if (o.prompt_timeout <= 0)
    o.prompt_timeout = DEFAULT_PROMPT_TIMEOUT;
  status = is_export ? run_export(&o) : run_import(&o);
  options_clear(&o);
  return status;
}
