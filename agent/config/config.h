/* coffer — the agent's configuration file.
 *
 * $XDG_CONFIG_HOME/coffer/coffer.conf, a GKeyFile:
 *
 *   [agent]
 *   pinentry=/usr/bin/pinentry-gnome3    # or "none": no pinentry, `coffer unlock` only
 *   prompt_timeout=120                   # seconds a prompt may stay open
 *   access=ask                           # per-application access control (default off)
 *
 * Every key the agent knows is listed once in config.c's table with its type,
 * default and bounds; docs/configuration.md documents each.  A missing file
 * means all defaults.  The agent never refuses to start because of its
 * configuration: an unreadable file, an unknown group or key, or a bad value
 * is reported once, in the log, and the default is used instead.
 *
 * To add a key: one line in config.c's table and one section in
 * docs/configuration.md; read it with coffer_config_get_string/_uint/_boolean.
 */
#pragma once

#include <glib.h>

typedef struct CofferConfig CofferConfig;

/* The default path: $XDG_CONFIG_HOME/coffer/coffer.conf. */
char *coffer_config_default_path(void);

/* Loads path (NULL: the default path).  Never fails: problems are logged. */
CofferConfig *coffer_config_load(const char *path);
void coffer_config_free(CofferConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CofferConfig, coffer_config_free)

/* Values of known keys (a programming error for unknown ones: g_critical and
 * NULL/0/FALSE).  Strings are owned by the config. */
const char *coffer_config_get_string(CofferConfig *config, const char *group, const char *key);
guint coffer_config_get_uint(CofferConfig *config, const char *group, const char *key);
gboolean coffer_config_get_boolean(CofferConfig *config, const char *group, const char *key);
