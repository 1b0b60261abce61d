/* coffer-import — reading everything from the Secret Service provider that
 * currently owns org.freedesktop.secrets (gnome-keyring, KWallet's ksecretd,
 * KeePassXC), as one of its clients: a dh-ietf1024-sha256-aes128-cbc-pkcs7
 * session like libsecret's, the provider's own Unlock prompt for locked
 * collections, then every collection's items with their secrets.
 *
 * Every call goes to the provider's unique bus name without auto-start, so
 * nothing is activated behind the user's back and all answers come from one
 * process. */
#pragma once

#include <gio/gio.h>

#include "progress.h"
#include "source.h"

typedef struct {
  guint prompt_timeout_s; /* how long to wait for the provider's unlock prompt */
  ImportProgress *progress;
} ServiceReadOptions;

/* Reads the provider on bus.  Collections or items that cannot be read
 * (still locked, the prompt dismissed, a secret refused) come back with their
 * `error` set; only a failure to talk to the provider at all is fatal. */
ImportSource *service_read(GDBusConnection *bus, const ServiceReadOptions *options, GError **error);
