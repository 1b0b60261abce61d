/* coffer — who is calling: the application behind a D-Bus connection.
 *
 * One question, asked in one place (like xdg-desktop-portal's xdp-app-info):
 * the bus tells us the peer's process (GetConnectionCredentials), and the
 * process tells us what it runs.  Two backends:
 *
 *   - Flatpak: the sandbox's /.flatpak-info (read through /proc/<pid>/root)
 *     names the application; the identity is "flatpak:<app id>".
 *   - host: /proc/<pid>/exe, the executable's path and the SHA-256 of its
 *     bytes; the identity is "exe:<sha256 hex>:<path>", so a changed or
 *     replaced program is another application.
 *
 * When neither works (the process is gone, /proc is not ours to read, the
 * executable is larger than we hash) the caller is "unknown": it can be
 * asked, never remembered.
 *
 * Limits, also in docs/security.md: a pid can be reused between the bus
 * answering and /proc being read (a bus that sends ProcessFD, a pidfd,
 * closes that gap: a process that exited meanwhile makes the caller
 * unknown); the identity is taken once per connection, so a process that
 * execs another program keeping its bus connection keeps its first
 * identity; and nothing here stops a same-user process from injecting code
 * into an identified one (ptrace, LD_PRELOAD) or, with user namespaces,
 * from showing a fake /.flatpak-info.  Interpreters and generic tools are
 * recognised so that a prompt says "python3 (an interpreter: any script it
 * runs)" rather than suggesting one particular script asked. */
#pragma once

#include <gio/gio.h>

typedef enum {
  COFFER_APP_UNKNOWN,
  COFFER_APP_HOST,
  COFFER_APP_FLATPAK,
} CofferAppKind;

typedef struct _CofferAppInfo CofferAppInfo;

CofferAppInfo *coffer_app_info_new_host(const char *path, const char *sha256_hex);
CofferAppInfo *coffer_app_info_new_flatpak(const char *app_id);
/* why: for the log and the prompt ("the process exited", ...). */
CofferAppInfo *coffer_app_info_new_unknown(const char *why);
CofferAppInfo *coffer_app_info_ref(CofferAppInfo *info);
void coffer_app_info_unref(CofferAppInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferAppInfo, coffer_app_info_unref)

CofferAppKind coffer_app_info_get_kind(const CofferAppInfo *info);
/* The identity stored with items and decisions; NULL when unknown. */
const char *coffer_app_info_get_id(const CofferAppInfo *info);
/* For people: "reader (/opt/x/reader)", "python3 (an interpreter: any
 * script it runs)", "org.example.App (Flatpak)", "an unidentified program". */
const char *coffer_app_info_get_display_name(const CofferAppInfo *info);
/* Why the caller is unknown (NULL for known ones). */
const char *coffer_app_info_get_reason(const CofferAppInfo *info);

/* ---- identity strings ------------------------------------------------------
 * Items and decisions keep only the identity string; these read it back. */

/* The display name for an identity (NULL: "an unknown application"). */
char *coffer_app_id_describe(const char *id);
/* The executable path of an "exe:" identity, the app id of a "flatpak:" one;
 * NULL for anything else. */
char *coffer_app_id_name(const char *id);
/* The SHA-256 (hex) of an "exe:" identity; NULL otherwise. */
char *coffer_app_id_sha256(const char *id);
/* TRUE when what a person typed names this identity: the identity itself,
 * or its path / app id (then every version of the program matches). */
gboolean coffer_app_id_matches(const char *id, const char *pattern);

/* "an interpreter: any script it runs" / "a generic tool: whoever runs it"
 * for the programs that run other people's code or commands (python3*,
 * perl, ruby, node, shells, secret-tool, gdbus, dbus-send...); NULL for the
 * rest.  Decided from the executable's file name. */
const char *coffer_app_exe_note(const char *path);

/* Parses a .flatpak-info key file: the [Application] name (a valid app id),
 * or NULL with an error. */
char *coffer_app_info_parse_flatpak_info(const char *data, gsize len, GError **error);

/* ---- resolving a bus peer ---------------------------------------------------
 * Identities are cached per unique name until the peer leaves the bus
 * (coffer_app_info_cache_forget), and executable digests per (device,
 * inode, size, mtime, ctime): a program is hashed once, and hashed again
 * when it changes (ctime cannot be set back by its owner).  Hashing runs in
 * a worker thread. */
typedef struct _CofferAppInfoCache CofferAppInfoCache;

CofferAppInfoCache *coffer_app_info_cache_new(GDBusConnection *connection);
void coffer_app_info_cache_free(CofferAppInfoCache *cache);
/* The cached identity of a peer, or NULL when it is not known yet. */
CofferAppInfo *coffer_app_info_cache_peek(CofferAppInfoCache *cache, const char *sender);
void coffer_app_info_cache_forget(CofferAppInfoCache *cache, const char *sender);
/* Never fails: an identification that fails yields an unknown caller.
 * callback runs on the caller's main context. */
void coffer_app_info_lookup_async(CofferAppInfoCache *cache, const char *sender, GAsyncReadyCallback callback,
                                  gpointer user_data);
CofferAppInfo *coffer_app_info_lookup_finish(GAsyncResult *result);
