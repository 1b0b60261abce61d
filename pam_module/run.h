/* pam_coffer — run a step as the user, in a child, within a deadline.
 *
 * The PAM stack runs as root inside login, gdm, sshd or su.  Everything that
 * touches the user's files or sockets runs in a forked child that has
 * dropped to the user completely (supplementary groups, gid, uid, all
 * checked, and a check that root cannot be regained), so a socket or file
 * the user controls is only ever opened with the user's own rights.  The
 * parent waits a bounded time, kills the child when it is up, and never
 * fails the login: the child's result is only logged. */
#pragma once

#include <stdint.h>

#include "user.h"

/* What the child ended with.  The parent turns it into one log line. */
typedef enum {
  COFFER_OUTCOME_NONE = 0,     /* the child died without saying */
  COFFER_OUTCOME_DROP_FAILED,  /* err: could not become the user */
  COFFER_OUTCOME_REPLY,        /* a running agent answered: agent_code, message */
  COFFER_OUTCOME_NO_AGENT,     /* nothing listens on the socket (err ENOENT/ECONNREFUSED) */
  COFFER_OUTCOME_REFUSED,      /* err: the socket or its directory failed the ownership checks */
  COFFER_OUTCOME_IO_FAILED,    /* err: connecting or the exchange failed (ETIMEDOUT: hung agent) */
  COFFER_OUTCOME_NO_HOME,      /* err: the home directory is not there (not mounted yet?) */
  COFFER_OUTCOME_NO_BUS,       /* no session bus to start an agent on */
  COFFER_OUTCOME_SPAWN_FAILED, /* err: could not start cofferd */
  COFFER_OUTCOME_STARTED,      /* cofferd started and answered: agent_code, message, agent_pid */
  COFFER_OUTCOME_AGENT_EXITED, /* cofferd exited before answering: agent_status, agent_pid */
  COFFER_OUTCOME_AGENT_SLOW,   /* cofferd started, no answer before the deadline: agent_pid */
  COFFER_OUTCOME_NO_VAULT,     /* the user has no vault: nothing to change */
  COFFER_OUTCOME_MARKED,       /* the reset marker was written */
  COFFER_OUTCOME_MARK_FAILED,  /* err */
} CofferOutcome;

typedef struct {
  int32_t outcome;
  int32_t err;          /* a positive errno value, 0 if none */
  uint32_t agent_code;  /* 0 for OK, else a CofferControlError */
  int32_t agent_pid;    /* a cofferd this step started, or 0 */
  int32_t agent_status; /* its wait status when it exited early */
  char message[200];    /* the agent's MESSAGE (text for people; never a secret) */
} CofferReport;

/* The step, run in the child after the drop.  It fills report and returns;
 * it must not call malloc, stdio or NSS (the parent may be multi-threaded,
 * and after fork() only async-signal-safe calls are safe). */
typedef void (*CofferChildStep)(const void *job, CofferReport *report);

/* Runs step(job, report) as user in a child and waits for its report until
 * deadline_ms (coffer_control_now_ms() time), then kills it.  Returns 0 with
 * *report from the child, -ETIMEDOUT when it was killed, -ECHILD when it
 * died without a report, or another negative errno when it could not be
 * started. */
int coffer_pam_run_as_user(const CofferPamUser *user, int64_t deadline_ms, CofferChildStep step, const void *job,
                           CofferReport *report);
