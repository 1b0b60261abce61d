/* coffer — building control-protocol replies (shared by the control
 * server's request handlers). */
#pragma once

#include <glib.h>
#include "control.h"

/* Finishes and clears the builder; NULL when the reply does not fit. */
GBytes *coffer_control_reply_finish(CofferControlBuilder *builder);
/* OK, with an optional message (dropped rather than fail, e.g. bad UTF-8). */
GBytes *coffer_control_reply_ok(const char *message);
/* ERROR with its code and an optional message (dropped likewise). */
GBytes *coffer_control_reply_error(guint32 code, const char *message);
