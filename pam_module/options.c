/* pam_coffer — module arguments. */
#include "config.h"
#include "options.h"

#include <string.h>
#include <syslog.h>
#include <security/pam_ext.h>

#define DEFAULT_AGENT COFFER_LIBEXECDIR "/cofferd"

/* "yes"/"no" and friends; -1 when it is neither. */
static int
parse_bool(const char *value)
{
  static const char *const yes[] = { "1", "yes", "true", "on" };
  static const char *const no[] = { "0", "no", "false", "off" };
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcmp(value, yes[i]) == 0)
      return 1;
    if (strcmp(value, no[i]) == 0)
      return 0;
  }
  return -1;
}

/* A flag that may be given bare ("debug") or with a value ("debug=no").
 * Returns false when arg is not this flag at all. */
static bool
match_flag(pam_handle_t *pamh, const char *arg, const char *name, bool *flag)
{
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0)
    return false;
  if (arg[n] == '\0') {
    *flag = true;
    return true;
  }
  if (arg[n] != '=')
    return false;
  int value = parse_bool(arg + n + 1);
  if (value < 0)
    pam_syslog(pamh, LOG_WARNING, "ignoring %s: expected yes or no", arg);
  else
    *flag = value != 0;
  return true;
}

void
coffer_pam_parse_options(pam_handle_t *pamh, int argc, const char **argv, CofferPamOptions *opts)
{
  *opts = (CofferPamOptions){ .init_on_login = true, .agent = DEFAULT_AGENT };

  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    if (arg == NULL)
      continue;
    if (match_flag(pamh, arg, "auto_start", &opts->auto_start) ||
        match_flag(pamh, arg, "init_on_login", &opts->init_on_login) ||
        match_flag(pamh, arg, "lock_on_close", &opts->lock_on_close) || match_flag(pamh, arg, "debug", &opts->debug))
      continue;
    if (strncmp(arg, "only_if=", 8) == 0) {
      opts->only_if = arg + 8;
    } else if (strncmp(arg, "agent=", 6) == 0) {
      if (arg[6] == '/')
        opts->agent = arg + 6;
      else
        pam_syslog(pamh, LOG_WARNING, "ignoring %s: the agent must be an absolute path", arg);
    } else {
      pam_syslog(pamh, LOG_WARNING, "ignoring unknown option %s", arg);
    }
  }
}

bool
coffer_pam_service_wanted(pam_handle_t *pamh, const CofferPamOptions *opts)
{
  const void *item = NULL;
  if (opts->only_if == NULL)
    return true;
  if (pam_get_item(pamh, PAM_SERVICE, &item) != PAM_SUCCESS || item == NULL)
    return false;
  const char *service = item;
  size_t n = strlen(service);
  for (const char *p = opts->only_if; *p != '\0';) {
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, service, n) == 0)
      return true;
    if (end == NULL)
      break;
    p = end + 1;
  }
  return false;
}
