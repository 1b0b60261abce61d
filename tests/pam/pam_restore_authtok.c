/* Test helper module: puts back the password pam_matrix wiped.
 *
 * pam_matrix (pam_wrapper's password checker) zeroes PAM_AUTHTOK and
 * PAM_OLDAUTHTOK in place once it has checked them -- it is a test tool.
 * Real checkers (pam_unix, pam_sss) leave them for the modules after them,
 * which is what pam_coffer.so relies on.  Placed right after pam_matrix,
 * this module asks the conversation once more and sets the item again:
 *   auth:      PAM_AUTHTOK
 *   password:  PAM_OLDAUTHTOK in the preliminary pass (the update pass
 *              leaves pam_matrix's new PAM_AUTHTOK alone). */
#include <security/pam_ext.h>
#include <security/pam_modules.h>
#include <stdlib.h>
#include <string.h>

static int
ask_and_set(pam_handle_t *pamh, int item, const char *prompt)
{
  char *answer = NULL;
  int r = pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", prompt);
  if (r != PAM_SUCCESS || answer == NULL)
    return PAM_AUTHINFO_UNAVAIL;
  r = pam_set_item(pamh, item, answer);
  explicit_bzero(answer, strlen(answer));
  free(answer);
  return r;
}

PAM_EXTERN int
pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  return ask_and_set(pamh, PAM_AUTHTOK, "Password (again): ");
}

PAM_EXTERN int
pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  return PAM_IGNORE;
}

PAM_EXTERN int
pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
  if (flags & PAM_PRELIM_CHECK)
    return ask_and_set(pamh, PAM_OLDAUTHTOK, "Old password (again): ");
  return PAM_IGNORE;
}
