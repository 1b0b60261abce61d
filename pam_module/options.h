/* pam_coffer — module arguments (docs/pam.md). */
#pragma once

#include <stdbool.h>
#include <security/pam_modules.h>

typedef struct {
  bool auto_start;     /* start cofferd when none runs */
  bool init_on_login;  /* the first login creates the vault (default on) */
  bool lock_on_close;  /* close_session locks the vault */
  bool debug;          /* log successes and skips too */
  const char *only_if; /* comma-separated services, or NULL for all; points into argv */
  const char *agent;   /* cofferd to start; absolute */
} CofferPamOptions;

/* Fills opts from the module arguments.  Unknown or malformed arguments are
 * logged and ignored: a typo in /etc/pam.d must never lock anyone out. */
void coffer_pam_parse_options(pam_handle_t *pamh, int argc, const char **argv, CofferPamOptions *opts);

/* Whether this PAM service is one only_if= names (true without only_if=). */
bool coffer_pam_service_wanted(pam_handle_t *pamh, const CofferPamOptions *opts);
