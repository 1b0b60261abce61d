/* coffer — the pinentry prompter (see pinentry.h). */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "prompt/assuan.h"
#include "prompt/pinentry.h"

#define MAX_TRIES 3
/* How long a pinentry may take to leave after its last command (and after
 * SIGTERM) before it is killed. */
#define REAP_GRACE_SECONDS 1

struct _CofferPinentryPrompter {
  GObject parent_instance;
  char *program;
  guint timeout;
  char *ttyname;
  char *ttytype;
  char *display;
};

static void coffer_pinentry_prompter_iface_init(CofferPrompterInterface *iface);

G_DEFINE_TYPE_WITH_CODE(CofferPinentryPrompter, coffer_pinentry_prompter, G_TYPE_OBJECT,
                        G_IMPLEMENT_INTERFACE(COFFER_TYPE_PROMPTER, coffer_pinentry_prompter_iface_init))

/* ---- texts ------------------------------------------------------------------ */

#define TEXT_UNLOCK_TITLE "Unlock Keyring"
#define TEXT_UNLOCK_DESC                                                                                               \
  "An application wants to use your keyring, which is locked.\nEnter the keyring password to unlock it."
#define TEXT_CREATE_TITLE "New Keyring Password"
#define TEXT_CREATE_DESC                                                                                               \
  "An application wants to store a secret, but there is no keyring yet.\nChoose a password for the new keyring."
#define TEXT_CHANGE_TITLE "Change Keyring Password"
#define TEXT_CHANGE_OLD_DESC "Enter the current password of the keyring."
#define TEXT_CHANGE_NEW_DESC "Choose a new password for the keyring."
#define TEXT_MISMATCH "The passwords do not match."

/* ---- ending a pinentry process ---------------------------------------------------- */

/* Owns a finished run's process until it has exited and been reaped. */
typedef struct {
  GSubprocess *process;
  guint timer;
  gboolean terminated;
} Reaper;

static gboolean
reaper_timeout(gpointer data)
{
  Reaper *reaper = data;

  if (!reaper->terminated) {
    reaper->terminated = TRUE;
    g_subprocess_send_signal(reaper->process, SIGTERM);
    return G_SOURCE_CONTINUE;
  }
  g_debug("pinentry %s ignored SIGTERM; killing it", g_subprocess_get_identifier(reaper->process));
  g_subprocess_force_exit(reaper->process);
  reaper->timer = 0;
  return G_SOURCE_REMOVE;
}

static void
reaper_done(GObject *source, GAsyncResult *result, gpointer data)
{
  Reaper *reaper = data;

  g_subprocess_wait_finish(G_SUBPROCESS(source), result, NULL);
  if (reaper->timer != 0)
    g_source_remove(reaper->timer);
  g_object_unref(reaper->process);
  g_free(reaper);
}

/* Ends the process: closes its input (a pinentry leaves on EOF), or sends
 * SIGTERM at once when it may still be showing a dialog; SIGKILL follows if
 * it is still there after the grace period. */
static void
reap(GSubprocess *process, gboolean terminate)
{
  Reaper *reaper = g_new0(Reaper, 1);

  reaper->process = g_object_ref(process);
  if (terminate) {
    reaper->terminated = TRUE;
    g_subprocess_send_signal(process, SIGTERM);
  } else {
    g_output_stream_close(g_subprocess_get_stdin_pipe(process), NULL, NULL);
  }
  reaper->timer = g_timeout_add_seconds(REAP_GRACE_SECONDS, reaper_timeout, reaper);
  g_subprocess_wait_async(process, NULL, reaper_done, reaper);
}

/* Runs in the child between fork and exec: a pinentry must not outlive the
 * agent that holds its other end. */
static void
child_setup(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
}

/* ---- one request ---------------------------------------------------------------- */

typedef enum { RUN_UNLOCK, RUN_CHANGE, RUN_CONFIRM } RunKind;

typedef void (*RunStep)(GTask *task);

typedef struct {
  RunKind kind;
  CofferVault *vault; /* reference; NULL for confirm */
  gboolean creating;  /* no vault yet: choose a new password */
  GSubprocess *process;
  CofferAssuan *assuan;
  GCancellable *cancellable; /* ours: cancelled by the caller's, the timeout, or the end */
  GCancellable *caller;
  gulong caller_handler;
  gulong lock_handler;
  guint timeout_source;
  gboolean timed_out;
  gboolean finished;
  GQueue commands; /* char*: set-up lines to send before `next` */
  char *current;   /* the queued line in flight */
  RunStep next;
  guint tries;
  gboolean repeat; /* the pinentry took SETREPEAT */
  char *first;     /* sodium: a new password typed once, awaiting the repeat */
  gsize first_len;
  char *old_password; /* sodium (change) */
  gsize old_len;
  char *new_password; /* sodium (change, create) */
  gsize new_len;
  const char *new_prompt;                                            /* SETPROMPT for a new password */
  char *title, *description, *ok_label, *cancel_label, *notok_label; /* confirm */
} Run;

static void
wipe(char **secret, gsize *len)
{
  if (*secret != NULL)
    sodium_free(*secret);
  *secret = NULL;
  *len = 0;
}

static void
run_free(Run *run)
{
  g_assert(run->caller_handler == 0 && run->lock_handler == 0 && run->timeout_source == 0);
  g_clear_object(&run->vault);
  g_clear_object(&run->process);
  g_clear_object(&run->assuan);
  g_clear_object(&run->cancellable);
  g_clear_object(&run->caller);
  g_queue_clear_full(&run->commands, g_free);
  g_free(run->current);
  wipe(&run->first, &run->first_len);
  wipe(&run->old_password, &run->old_len);
  wipe(&run->new_password, &run->new_len);
  g_free(run->title);
  g_free(run->description);
  g_free(run->ok_label);
  g_free(run->cancel_label);
  g_free(run->notok_label);
  g_free(run);
}

static Run *
run_of(GTask *task)
{
  return g_task_get_task_data(task);
}

/* Detaches the run from everything and lets the process go.  The task is
 * completed by the caller right after. */
static void
run_end(GTask *task, gboolean clean)
{
  Run *run = run_of(task);

  run->finished = TRUE;
  if (run->timeout_source != 0) {
    g_source_remove(run->timeout_source);
    run->timeout_source = 0;
  }
  if (run->caller_handler != 0) {
    g_cancellable_disconnect(run->caller, run->caller_handler);
    run->caller_handler = 0;
  }
  if (run->lock_handler != 0) {
    g_signal_handler_disconnect(run->vault, run->lock_handler);
    run->lock_handler = 0;
  }
  /* Aborts a command in flight; its callback finds the run finished. */
  g_cancellable_cancel(run->cancellable);
  if (run->process != NULL)
    reap(run->process, !clean);
  wipe(&run->first, &run->first_len);
  wipe(&run->old_password, &run->old_len);
  wipe(&run->new_password, &run->new_len);
}

static void
run_fail(GTask *task, GError *error)
{
  Run *run = run_of(task);

  if (run->finished) {
    g_error_free(error);
    return;
  }
  if (run->timed_out) {
    g_error_free(error);
    error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the prompt timed out");
  } else if (g_error_matches(error, COFFER_ASSUAN_ERROR, COFFER_GPG_ERR_CANCELED) ||
             g_error_matches(error, COFFER_ASSUAN_ERROR, COFFER_GPG_ERR_TIMEOUT)) {
    g_error_free(error);
    error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "the prompt was cancelled");
  } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED) ||
             g_error_matches(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE)) {
    g_error_free(error);
    error = g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "the pinentry exited unexpectedly");
  }
  run_end(task, FALSE);
  g_task_return_error(task, error);
  g_object_unref(task); /* the run's own reference */
}

static void
run_succeed(GTask *task, int answer)
{
  Run *run = run_of(task);

  if (run->finished)
    return;
  run_end(task, TRUE);
  if (run->kind == RUN_CONFIRM)
    g_task_return_int(task, answer);
  else
    g_task_return_boolean(task, TRUE);
  g_object_unref(task); /* the run's own reference */
}

/* Every asynchronous step holds a reference to the task and starts with
 * this: a run that ended meanwhile (cancelled, timed out, unlocked from
 * elsewhere) ignores what comes back. */
static gboolean
run_gone(GTask *task)
{
  return run_of(task)->finished;
}

static void
on_caller_cancelled(GCancellable *caller, gpointer data)
{
  /* Only cancel ours here (we are inside the emission); the step in flight
   * then fails and ends the run from the main loop. */
  g_cancellable_cancel(run_of(data)->cancellable);
}

static gboolean
on_timeout(gpointer data)
{
  Run *run = run_of(data);

  g_message("the password prompt timed out");
  run->timeout_source = 0;
  run->timed_out = TRUE;
  g_cancellable_cancel(run->cancellable);
  return G_SOURCE_REMOVE;
}

/* The vault was unlocked (or created) from elsewhere, e.g. `coffer unlock`,
 * while our dialog was open: done. */
static void
on_lock_changed(CofferVault *vault, gboolean locked, gpointer data)
{
  if (!locked)
    run_succeed(data, 0);
}

/* ---- set-up commands ------------------------------------------------------------ */

static void
queue(Run *run, const char *keyword, const char *argument)
{
  g_queue_push_tail(&run->commands, argument ? coffer_assuan_build_command(keyword, argument) : g_strdup(keyword));
}

static void run_queue(GTask *task);

static void
on_queued_done(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  GError *error = NULL;
  gboolean ok = coffer_assuan_command_finish(COFFER_ASSUAN(source), result, NULL, NULL, &error);
  gboolean repeat_line;

  if (run_gone(task)) {
    g_clear_error(&error);
    return;
  }
  /* A pinentry may not know an option or a newer command (SETREPEAT,
   * SETNOTOK...): it says ERR and we carry on without it. */
  if (!ok && error->domain != COFFER_ASSUAN_ERROR) {
    run_fail(task, error);
    return;
  }
  repeat_line = g_str_has_prefix(run->current, "SETREPEAT ");
  if (!ok) {
    g_debug("pinentry refused \"%.20s\": %s", run->current, error->message);
    g_clear_error(&error);
  }
  if (repeat_line)
    run->repeat = ok;
  g_clear_pointer(&run->current, g_free);
  run_queue(task);
}

/* Sends the queued lines, then runs `next`. */
static void
run_queue(GTask *task)
{
  Run *run = run_of(task);

  run->current = g_queue_pop_head(&run->commands);
  if (run->current == NULL) {
    run->next(task);
    return;
  }
  coffer_assuan_command_async(run->assuan, run->current, run->cancellable, on_queued_done, g_object_ref(task));
}

static void
then(GTask *task, RunStep next)
{
  run_of(task)->next = next;
  run_queue(task);
}

/* ---- asking for passwords ---------------------------------------------------------- */

static void
ask_pin(GTask *task, GAsyncReadyCallback callback)
{
  Run *run = run_of(task);

  coffer_assuan_command_async(run->assuan, "GETPIN", run->cancellable, callback, g_object_ref(task));
}

/* Takes a GETPIN answer; FALSE (run failed) on error. */
static gboolean
take_pin(GTask *task, GAsyncResult *result, char **pin, gsize *len)
{
  Run *run = run_of(task);
  GError *error = NULL;

  if (!coffer_assuan_command_finish(run->assuan, result, pin, len, &error)) {
    run_fail(task, error);
    return FALSE;
  }
  if (run_gone(task)) {
    wipe(pin, len);
    return FALSE;
  }
  return TRUE;
}

/* Counts a failed try: FALSE (and the run failed) after the last one. */
static gboolean
count_try(GTask *task, const char *what)
{
  Run *run = run_of(task);

  if (++run->tries >= MAX_TRIES) {
    run_fail(task, g_error_new(COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD, "%s (%u tries)", what, run->tries));
    return FALSE;
  }
  return TRUE;
}

static void
queue_error(Run *run, const char *what)
{
  g_autofree char *text = g_strdup_printf("%s (try %u of %u)", what, run->tries + 1, MAX_TRIES);
  queue(run, "SETERROR", text);
}

/* A failed try: shown in the pinentry, then step asks again; after the
 * last try the run fails instead (why says what went wrong). */
static void
retry(GTask *task, const char *why, const char *shown, RunStep step)
{
  if (!count_try(task, why))
    return;
  queue_error(run_of(task), shown);
  then(task, step);
}

static void ask_unlock(GTask *task);
static void ask_new(GTask *task);
static void new_password_ready(GTask *task);

static void
on_unlocked(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  g_autoptr(GError) error = NULL;

  if (coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error)) {
    run_succeed(task, 0);
    return;
  }
  if (run_gone(task))
    return;
  if (g_cancellable_is_cancelled(run->cancellable)) {
    run_fail(task, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "the prompt was cancelled"));
    return;
  }
  if (!g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD)) {
    run_fail(task, g_steal_pointer(&error));
    return;
  }
  retry(task, "wrong password", "Wrong password", ask_unlock);
}

static void
on_unlock_pin(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  char *pin = NULL;
  gsize len = 0;

  if (!take_pin(task, result, &pin, &len))
    return;
  if (len == 0) {
    wipe(&pin, &len);
    retry(task, "no password given", "Enter the password", ask_unlock);
    return;
  }
  /* The vault copies the password at once. */
  coffer_vault_unlock_async(run->vault, pin, len, on_unlocked, g_object_ref(task));
  wipe(&pin, &len);
}

static void
ask_unlock(GTask *task)
{
  ask_pin(task, on_unlock_pin);
}

/* ---- new passwords: creating the vault, or the second half of a change ------------ */

static void
on_repeat_pin(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  char *pin = NULL;
  gsize len = 0;

  if (!take_pin(task, result, &pin, &len))
    return;
  if (len != run->first_len || sodium_memcmp(pin, run->first, len) != 0) {
    wipe(&pin, &len);
    wipe(&run->first, &run->first_len);
    if (!count_try(task, "the passwords did not match"))
      return;
    queue_error(run, TEXT_MISMATCH);
    queue(run, "SETPROMPT", run->new_prompt);
    then(task, ask_new);
    return;
  }
  wipe(&pin, &len);
  run->new_password = g_steal_pointer(&run->first);
  run->new_len = run->first_len;
  run->first_len = 0;
  new_password_ready(task);
}

static void
ask_repeat(GTask *task)
{
  ask_pin(task, on_repeat_pin);
}

static void
on_new_pin(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  char *pin = NULL;
  gsize len = 0;

  if (!take_pin(task, result, &pin, &len))
    return;
  if (len == 0) {
    wipe(&pin, &len);
    retry(task, "no password given", "The password must not be empty", ask_new);
    return;
  }
  if (run->repeat) { /* the pinentry compared both already */
    run->new_password = pin;
    run->new_len = len;
    new_password_ready(task);
    return;
  }
  run->first = pin;
  run->first_len = len;
  queue(run, "SETPROMPT", "Repeat:");
  then(task, ask_repeat);
}

static void
ask_new_pin(GTask *task)
{
  ask_pin(task, on_new_pin);
}

static void
ask_new(GTask *task)
{
  Run *run = run_of(task);

  /* SETREPEAT holds for one GETPIN: set it before each. */
  queue(run, "SETREPEAT", "Repeat:");
  queue(run, "SETREPEATERROR", TEXT_MISMATCH);
  then(task, ask_new_pin);
}

static void ask_old(GTask *task);

static void
on_changed(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  g_autoptr(GError) error = NULL;

  if (coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error)) {
    g_message("the keyring password was changed");
    run_succeed(task, 0);
    return;
  }
  if (run_gone(task))
    return;
  if (!g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_BAD_PASSWORD)) {
    run_fail(task, g_steal_pointer(&error));
    return;
  }
  /* Keep the new password; ask for the current one again. */
  wipe(&run->old_password, &run->old_len);
  retry(task, "wrong current password", "Wrong password", ask_old);
}

static void
on_created(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  g_autoptr(GError) error = NULL;

  if (coffer_vault_kdf_finish(COFFER_VAULT(source), result, &error)) {
    g_message("created the keyring with the password given at the prompt");
    run_succeed(task, 0);
    return;
  }
  if (run_gone(task))
    return;
  wipe(&run->new_password, &run->new_len);
  if (!g_error_matches(error, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_ALREADY_INITIALIZED)) {
    run_fail(task, g_steal_pointer(&error));
    return;
  }
  /* Created meanwhile (`coffer init`) but locked: ask to unlock it instead. */
  run->creating = FALSE;
  run->lock_handler = g_signal_connect(run->vault, "lock-changed", G_CALLBACK(on_lock_changed), task);
  queue(run, "SETTITLE", TEXT_UNLOCK_TITLE);
  queue(run, "SETDESC", TEXT_UNLOCK_DESC);
  queue(run, "SETPROMPT", "Password:");
  then(task, ask_unlock);
}

/* Creates the vault; its key is wrapped in a worker thread. */
static void
create_vault(GTask *task)
{
  Run *run = run_of(task);

  /* Creating emits lock-changed; we finish ourselves rather than from inside
   * that emission. */
  g_signal_handler_disconnect(run->vault, run->lock_handler);
  run->lock_handler = 0;
  coffer_vault_initialize_async(run->vault, run->new_password, run->new_len, on_created, g_object_ref(task));
}

static void
new_password_ready(GTask *task)
{
  Run *run = run_of(task);

  if (run->kind == RUN_UNLOCK) {
    create_vault(task);
    return;
  }
  coffer_vault_change_password_async(run->vault, run->old_password, run->old_len, run->new_password, run->new_len,
                                     on_changed, g_object_ref(task));
}

/* ---- changing the password -------------------------------------------------------- */

static void
on_old_pin(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  Run *run = run_of(task);
  char *pin = NULL;
  gsize len = 0;

  if (!take_pin(task, result, &pin, &len))
    return;
  if (len == 0) {
    wipe(&pin, &len);
    retry(task, "no password given", "Enter the current password", ask_old);
    return;
  }
  run->old_password = pin;
  run->old_len = len;
  if (run->new_password != NULL) { /* a retry of the current password */
    new_password_ready(task);
    return;
  }
  queue(run, "SETDESC", TEXT_CHANGE_NEW_DESC);
  queue(run, "SETPROMPT", run->new_prompt);
  ask_new(task);
}

static void
ask_old_pin(GTask *task)
{
  ask_pin(task, on_old_pin);
}

static void
ask_old(GTask *task)
{
  Run *run = run_of(task);

  queue(run, "SETDESC", TEXT_CHANGE_OLD_DESC);
  queue(run, "SETPROMPT", "Password:");
  then(task, ask_old_pin);
}

/* ---- confirmation ------------------------------------------------------------------ */

static void
on_confirmed(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  GError *error = NULL;

  if (coffer_assuan_command_finish(COFFER_ASSUAN(source), result, NULL, NULL, &error)) {
    run_succeed(task, COFFER_CONFIRM_ALLOW);
  } else if (run_gone(task)) {
    g_error_free(error);
  } else if (g_error_matches(error, COFFER_ASSUAN_ERROR, COFFER_GPG_ERR_NOT_CONFIRMED)) {
    g_error_free(error);
    run_succeed(task, COFFER_CONFIRM_DENY);
  } else if (g_error_matches(error, COFFER_ASSUAN_ERROR, COFFER_GPG_ERR_CANCELED) && !run_of(task)->timed_out) {
    g_error_free(error);
    run_succeed(task, COFFER_CONFIRM_CANCEL);
  } else {
    run_fail(task, error);
  }
}

static void
ask_confirm(GTask *task)
{
  Run *run = run_of(task);

  coffer_assuan_command_async(run->assuan, "CONFIRM", run->cancellable, on_confirmed, g_object_ref(task));
}

/* ---- starting a run ----------------------------------------------------------------- */

static void
on_greeting(GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr(GTask) task = data;
  GError *error = NULL;

  if (!coffer_assuan_command_finish(COFFER_ASSUAN(source), result, NULL, NULL, &error)) {
    run_fail(task, error);
    return;
  }
  if (!run_gone(task))
    run_queue(task);
}

/* A task for one request.  It holds one reference of its own until the run
 * ends (run_succeed/run_fail drop it); every step in flight holds another. */
static GTask *
run_new(CofferPinentryPrompter *self, RunKind kind, CofferVault *vault, GCancellable *cancellable,
        GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new(self, NULL, callback, user_data);
  Run *run = g_new0(Run, 1);

  run->kind = kind;
  run->vault = vault ? g_object_ref(vault) : NULL;
  run->cancellable = g_cancellable_new();
  run->caller = cancellable ? g_object_ref(cancellable) : NULL;
  run->new_prompt = "Password:";
  g_queue_init(&run->commands);
  g_task_set_task_data(task, run, (GDestroyNotify)run_free);
  return task;
}

/* A Secret Service window id is an X11 window number ("0x3a00007" or
 * decimal); anything else (empty, a Wayland handle) is not passed on. */
static gboolean
is_x11_window_id(const char *window_id)
{
  const char *digits = window_id;

  if (window_id == NULL || *window_id == '\0' || strlen(window_id) > 20)
    return FALSE;
  if (g_str_has_prefix(window_id, "0x"))
    digits += 2;
  for (const char *p = digits; *p != '\0'; p++)
    if (digits == window_id ? !g_ascii_isdigit(*p) : !g_ascii_isxdigit(*p))
      return FALSE;
  return *digits != '\0';
}

static void
queue_options(CofferPinentryPrompter *self, Run *run, const char *window_id)
{
  const struct {
    const char *name;
    const char *value;
  } options[] = { { "ttyname", self->ttyname },
                  { "ttytype", self->ttytype },
                  { "display", self->display },
                  /* so the dialog stays above the application that asked */
                  { "parent-wid", is_x11_window_id(window_id) ? window_id : NULL } };

  for (guint i = 0; i < G_N_ELEMENTS(options); i++)
    if (options[i].value != NULL) {
      g_autofree char *option = g_strdup_printf("%s=%s", options[i].name, options[i].value);
      queue(run, "OPTION", option);
    }
}

/* Starts the pinentry; the queued set-up lines, then run->next, follow its
 * greeting. */
static void
run_start(GTask *task)
{
  CofferPinentryPrompter *self = g_task_get_source_object(task);
  Run *run = run_of(task);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  GError *error = NULL;

  /* The run's own reference, dropped when it ends. */
  g_object_ref(task);
  if (run->caller != NULL)
    run->caller_handler = g_cancellable_connect(run->caller, G_CALLBACK(on_caller_cancelled), task, NULL);
  if (g_cancellable_is_cancelled(run->cancellable)) {
    run_fail(task, g_error_new_literal(G_IO_ERROR, G_IO_ERROR_CANCELLED, "the prompt was dismissed"));
    g_object_unref(task);
    return;
  }
  launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup(launcher, child_setup, NULL, NULL);
  run->process = g_subprocess_launcher_spawn(launcher, &error, self->program, NULL);
  if (run->process == NULL) {
    g_warning("cannot run the pinentry %s: %s", self->program, error->message);
    run_fail(task, error);
    g_object_unref(task);
    return;
  }
  g_debug("pinentry %s started as %s", self->program, g_subprocess_get_identifier(run->process));
  run->assuan =
      coffer_assuan_new(g_subprocess_get_stdin_pipe(run->process), g_subprocess_get_stdout_pipe(run->process));
  if (self->timeout > 0)
    run->timeout_source = g_timeout_add_seconds(self->timeout, on_timeout, task);
  if (run->kind == RUN_UNLOCK)
    run->lock_handler = g_signal_connect(run->vault, "lock-changed", G_CALLBACK(on_lock_changed), task);
  coffer_assuan_command_async(run->assuan, NULL, run->cancellable, on_greeting, g_object_ref(task));
  g_object_unref(task);
}

/* ---- the prompter ------------------------------------------------------------------- */

static void
pinentry_unlock_async(CofferPrompter *prompter, CofferVault *vault, const char *window_id, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data)
{
  CofferPinentryPrompter *self = COFFER_PINENTRY_PROMPTER(prompter);
  GTask *task = run_new(self, RUN_UNLOCK, vault, cancellable, callback, user_data);
  Run *run = run_of(task);

  if (!coffer_vault_is_locked(vault)) {
    g_task_return_boolean(task, TRUE);
    g_object_unref(task);
    return;
  }
  run->creating = !coffer_vault_is_initialized(vault);
  queue_options(self, run, window_id);
  queue(run, "SETTITLE", run->creating ? TEXT_CREATE_TITLE : TEXT_UNLOCK_TITLE);
  queue(run, "SETDESC", run->creating ? TEXT_CREATE_DESC : TEXT_UNLOCK_DESC);
  queue(run, "SETPROMPT", "Password:");
  run->next = run->creating ? ask_new : ask_unlock;
  run_start(task);
}

static gboolean
pinentry_unlock_finish(CofferPrompter *prompter, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void
pinentry_change_password_async(CofferPrompter *prompter, CofferVault *vault, const char *window_id,
                               GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  CofferPinentryPrompter *self = COFFER_PINENTRY_PROMPTER(prompter);
  GTask *task = run_new(self, RUN_CHANGE, vault, cancellable, callback, user_data);
  Run *run = run_of(task);

  if (!coffer_vault_is_initialized(vault)) {
    g_task_return_new_error(task, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_NOT_INITIALIZED, "there is no keyring yet");
    g_object_unref(task);
    return;
  }
  run->new_prompt = "New password:";
  queue_options(self, run, window_id);
  queue(run, "SETTITLE", TEXT_CHANGE_TITLE);
  run->next = ask_old;
  run_start(task);
}

static gboolean
pinentry_change_password_finish(CofferPrompter *prompter, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean(G_TASK(result), error);
}

static void
pinentry_confirm_async(CofferPrompter *prompter, const char *title, const char *description, const char *ok_label,
                       const char *cancel_label, const char *notok_label, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  CofferPinentryPrompter *self = COFFER_PINENTRY_PROMPTER(prompter);
  GTask *task = run_new(self, RUN_CONFIRM, NULL, cancellable, callback, user_data);
  Run *run = run_of(task);

  queue_options(self, run, NULL);
  queue(run, "SETTITLE", title);
  queue(run, "SETDESC", description);
  queue(run, "SETOK", ok_label);
  if (cancel_label != NULL)
    queue(run, "SETCANCEL", cancel_label);
  if (notok_label != NULL)
    queue(run, "SETNOTOK", notok_label);
  run->next = ask_confirm;
  run_start(task);
}

static int
pinentry_confirm_finish(CofferPrompter *prompter, GAsyncResult *result, GError **error)
{
  return (int)g_task_propagate_int(G_TASK(result), error);
}

static void
coffer_pinentry_prompter_iface_init(CofferPrompterInterface *iface)
{
  iface->unlock_async = pinentry_unlock_async;
  iface->unlock_finish = pinentry_unlock_finish;
  iface->change_password_async = pinentry_change_password_async;
  iface->change_password_finish = pinentry_change_password_finish;
  iface->confirm_async = pinentry_confirm_async;
  iface->confirm_finish = pinentry_confirm_finish;
}

static void
coffer_pinentry_prompter_finalize(GObject *object)
{
  CofferPinentryPrompter *self = COFFER_PINENTRY_PROMPTER(object);

  g_free(self->program);
  g_free(self->ttyname);
  g_free(self->ttytype);
  g_free(self->display);
  G_OBJECT_CLASS(coffer_pinentry_prompter_parent_class)->finalize(object);
}

static void
coffer_pinentry_prompter_class_init(CofferPinentryPrompterClass *klass)
{
  G_OBJECT_CLASS(klass)->finalize = coffer_pinentry_prompter_finalize;
}

static void
coffer_pinentry_prompter_init(CofferPinentryPrompter *self)
{
}

CofferPrompter *
coffer_pinentry_prompter_new(const char *program, guint timeout_seconds, const CofferPinentryEnv *env)
{
  CofferPinentryPrompter *self = g_object_new(COFFER_TYPE_PINENTRY_PROMPTER, NULL);

  self->program = g_strdup(program);
  self->timeout = timeout_seconds;
  if (env != NULL) {
    self->ttyname = g_strdup(env->ttyname);
    self->ttytype = g_strdup(env->ttytype);
    self->display = g_strdup(env->display);
  }
  return COFFER_PROMPTER(self);
}

/* ---- choosing a pinentry ------------------------------------------------------------- */

const char *const coffer_pinentry_candidates[] = {
  "pinentry-gnome3", "pinentry-qt", "pinentry-gtk2", "pinentry-curses", "pinentry-tty", NULL,
};

static gboolean
is_graphical(const char *name)
{
  return !g_str_has_suffix(name, "-curses") && !g_str_has_suffix(name, "-tty");
}

char *
coffer_pinentry_find(gboolean have_display, gboolean have_tty)
{
  for (guint i = 0; coffer_pinentry_candidates[i] != NULL; i++) {
    const char *name = coffer_pinentry_candidates[i];
    if (is_graphical(name) ? !have_display : !have_tty)
      continue;
    char *path = g_find_program_in_path(name);
    if (path != NULL)
      return path;
  }
  return NULL;
}

/* The terminal this process runs on, if any (the agent usually has none). */
static char *
find_tty(void)
{
  for (int fd = 0; fd <= 2; fd++)
    if (isatty(fd)) {
      const char *name = ttyname(fd);
      if (name != NULL)
        return g_strdup(name);
    }
  return NULL;
}

static const char *
non_empty_env(const char *name)
{
  const char *value = g_getenv(name);
  return value != NULL && value[0] != '\0' ? value : NULL;
}

static char *
resolve_program(const char *program)
{
  if (!g_path_is_absolute(program))
    return g_find_program_in_path(program);
  if (!g_file_test(program, G_FILE_TEST_IS_EXECUTABLE))
    return NULL;
  return g_strdup(program);
}

CofferPrompter *
coffer_prompter_new_for_config(const char *pinentry, guint timeout_seconds)
{
  g_autofree char *tty = find_tty();
  g_autofree char *path = NULL;
  CofferPinentryEnv env = { tty, non_empty_env("TERM"), non_empty_env("DISPLAY") };
  gboolean have_display = env.display != NULL || non_empty_env("WAYLAND_DISPLAY") != NULL;

  if (g_strcmp0(pinentry, "none") == 0) {
    g_message("pinentry=none: prompts wait for `coffer unlock`");
    return coffer_external_prompter_new();
  }
  if (pinentry != NULL && pinentry[0] != '\0') {
    path = resolve_program(pinentry);
    if (path == NULL) {
      g_warning("the configured pinentry %s is not an executable program; prompts wait for `coffer unlock`", pinentry);
      return coffer_external_prompter_new();
    }
  } else {
    path = coffer_pinentry_find(have_display, tty != NULL);
    if (path == NULL) {
      g_message("no usable pinentry (%s, %s): prompts wait for `coffer unlock`",
                have_display ? "a display" : "no display", tty ? "a terminal" : "no terminal");
      return coffer_external_prompter_new();
    }
  }
  g_message("prompts use %s%s%s", path, tty ? " on " : "", tty ? tty : "");
  return coffer_pinentry_prompter_new(path, timeout_seconds, &env);
}
