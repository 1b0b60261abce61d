/* coffer — building control-protocol replies. */
#include "config.h"

#include "control/control-reply.h"

GBytes *
coffer_control_reply_finish(CofferControlBuilder *builder)
{
  const uint8_t *frame;
  size_t len;
  GBytes *bytes = NULL;

  if (coffer_control_builder_finish(builder, &frame, &len) == 0)
    bytes = g_bytes_new(frame, len);
  coffer_control_builder_clear(builder);
  return bytes;
}

GBytes *
coffer_control_reply_ok(const char *message)
{
  CofferControlBuilder b;
  GBytes *bytes;

  coffer_control_builder_init(&b, COFFER_CONTROL_OK);
  if (message != NULL)
    coffer_control_builder_add_string(&b, COFFER_FIELD_MESSAGE, message);
  bytes = coffer_control_reply_finish(&b);
  return bytes != NULL || message == NULL ? bytes : coffer_control_reply_ok(NULL);
}

GBytes *
coffer_control_reply_error(guint32 code, const char *message)
{
  CofferControlBuilder b;
  GBytes *bytes;

  coffer_control_builder_init(&b, COFFER_CONTROL_ERROR);
  coffer_control_builder_add_u32(&b, COFFER_FIELD_ERROR_CODE, code);
  if (message != NULL)
    coffer_control_builder_add_string(&b, COFFER_FIELD_MESSAGE, message);
  bytes = coffer_control_reply_finish(&b);
  return bytes != NULL || message == NULL ? bytes : coffer_control_reply_error(code, NULL);
}
