/* coffer — the agent's configuration file (see config.h).
 *
 * No #include "config.h" (the build's) here: from this folder that name
 * finds config/config.h first, and nothing here needs the build's. */
#include "config/config.h"

typedef enum { KEY_STRING, KEY_UINT, KEY_BOOLEAN } KeyType;

typedef struct {
  const char *group;
  const char *key;
  KeyType type;
  const char *fallback; /* the default, in the file's syntax; NULL: unset */
  guint64 max;          /* KEY_UINT: the largest value accepted */
  const char *choices;  /* KEY_STRING: the values accepted, "a|b"; NULL: any */
} KeySpec;

/* Every key the agent reads; docs/configuration.md describes each one. */
static const KeySpec known_keys[] = {
  { "agent", "pinentry", KEY_STRING, NULL, 0, NULL },
  { "agent", "prompt_timeout", KEY_UINT, "300", 24 * 60 * 60, NULL },
  { "agent", "access", KEY_STRING, "off", 0, "off|ask" },
  { "sync", "poll_interval", KEY_UINT, "60", 24 * 60 * 60, NULL },
  { "sync", "cleanup_max_age_days", KEY_UINT, "90", 100 * 365, NULL },
  { "sync", "cleanup_keep", KEY_UINT, "10", 10000, NULL },
  { "lock", "lock_after_idle", KEY_UINT, "0", 7 * 24 * 60, NULL },
  { "lock", "lock_after_idle_seconds", KEY_UINT, "0", 7 * 24 * 60 * 60, NULL }, /* tests: overrides the minutes */
  { "lock", "lock_on_screen_lock", KEY_BOOLEAN, "false", 0, NULL },
  { "lock", "lock_before_sleep", KEY_BOOLEAN, "false", 0, NULL },
};

typedef union {
  char *string;
  guint number;
  gboolean flag;
} Value;

struct CofferConfig {
  Value values[G_N_ELEMENTS(known_keys)];
};

char *
coffer_config_default_path(void)
{
  return g_build_filename(g_get_user_config_dir(), "coffer", "coffer.conf", NULL);
}

static int
find_key(const char *group, const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS(known_keys); i++)
    if (g_strcmp0(known_keys[i].group, group) == 0 && g_strcmp0(known_keys[i].key, key) == 0)
      return (int)i;
  return -1;
}

static gboolean
known_group(const char *group)
{
  for (guint i = 0; i < G_N_ELEMENTS(known_keys); i++)
    if (g_strcmp0(known_keys[i].group, group) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
is_choice(const char *choices, const char *text)
{
  g_auto(GStrv) each = g_strsplit(choices, "|", -1);

  return g_strv_contains((const char *const *)each, text);
}

/* Parses text as the key's type; FALSE (and a reason) when it is not one. */
static gboolean
parse_value(const KeySpec *spec, const char *text, Value *value, char **reason)
{
  guint64 number;

  switch (spec->type) {
  case KEY_STRING:
    if (spec->choices != NULL && !is_choice(spec->choices, text)) {
      g_auto(GStrv) choices = g_strsplit(spec->choices, "|", -1);
      g_autofree char *list = g_strjoinv(" or ", choices);
      *reason = g_strdup_printf("expected %s", list);
      return FALSE;
    }
    value->string = g_strdup(text);
    return TRUE;
  case KEY_UINT:
    if (!g_ascii_string_to_unsigned(text, 10, 0, spec->max, &number, NULL)) {
      *reason = g_strdup_printf("expected a whole number from 0 to %" G_GUINT64_FORMAT, spec->max);
      return FALSE;
    }
    value->number = (guint)number;
    return TRUE;
  case KEY_BOOLEAN:
    if (g_strcmp0(text, "true") != 0 && g_strcmp0(text, "false") != 0) {
      *reason = g_strdup("expected true or false");
      return FALSE;
    }
    value->flag = g_strcmp0(text, "true") == 0;
    return TRUE;
  }
  g_assert_not_reached();
}

static void
set_defaults(CofferConfig *config)
{
  for (guint i = 0; i < G_N_ELEMENTS(known_keys); i++) {
    g_autofree char *reason = NULL;
    if (known_keys[i].fallback != NULL &&
        !parse_value(&known_keys[i], known_keys[i].fallback, &config->values[i], &reason))
      g_error("bad default for %s.%s: %s", known_keys[i].group, known_keys[i].key, reason);
  }
}

static void
read_key(CofferConfig *config, GKeyFile *file, const char *path, const char *group, const char *key)
{
  int index = find_key(group, key);
  g_autofree char *text = NULL;
  g_autofree char *reason = NULL;
  g_autoptr(GError) error = NULL;
  Value value = { 0 };

  if (index < 0) {
    g_warning("%s: unknown key %s in [%s], ignored", path, key, group);
    return;
  }
  /* get_string undoes the file's escapes (\s, \n, ...) for every type. */
  text = g_key_file_get_string(file, group, key, &error);
  if (text == NULL) {
    g_warning("%s: %s.%s: %s; using the default", path, group, key, error->message);
    return;
  }
  text = g_strstrip(text);
  if (!parse_value(&known_keys[index], text, &value, &reason)) {
    g_warning("%s: %s.%s=%s: %s; using the default", path, group, key, text, reason);
    return;
  }
  if (known_keys[index].type == KEY_STRING)
    g_free(config->values[index].string);
  config->values[index] = value;
}

CofferConfig *
coffer_config_load(const char *path)
{
  CofferConfig *config = g_new0(CofferConfig, 1);
  g_autofree char *default_path = path ? NULL : coffer_config_default_path();
  g_autoptr(GKeyFile) file = g_key_file_new();
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) groups = NULL;

  set_defaults(config);
  if (path == NULL)
    path = default_path;
  if (!g_key_file_load_from_file(file, path, G_KEY_FILE_NONE, &error)) {
    if (!g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      g_warning("cannot read %s: %s; using the defaults", path, error->message);
    return config;
  }
  groups = g_key_file_get_groups(file, NULL);
  for (guint g = 0; groups[g] != NULL; g++) {
    g_auto(GStrv) keys = NULL;
    if (!known_group(groups[g])) {
      g_warning("%s: unknown group [%s], ignored", path, groups[g]);
      continue;
    }
    keys = g_key_file_get_keys(file, groups[g], NULL, NULL);
    for (guint k = 0; keys != NULL && keys[k] != NULL; k++)
      read_key(config, file, path, groups[g], keys[k]);
  }
  g_debug("configuration read from %s", path);
  return config;
}

void
coffer_config_free(CofferConfig *config)
{
  for (guint i = 0; i < G_N_ELEMENTS(known_keys); i++)
    if (known_keys[i].type == KEY_STRING)
      g_free(config->values[i].string);
  g_free(config);
}

static const Value *
lookup(CofferConfig *config, const char *group, const char *key, KeyType type)
{
  int index = find_key(group, key);

  if (index < 0 || known_keys[index].type != type) {
    g_critical("no configuration key %s.%s of that type", group, key);
    return NULL;
  }
  return &config->values[index];
}

const char *
coffer_config_get_string(CofferConfig *config, const char *group, const char *key)
{
  const Value *value = lookup(config, group, key, KEY_STRING);
  return value ? value->string : NULL;
}

guint
coffer_config_get_uint(CofferConfig *config, const char *group, const char *key)
{
  const Value *value = lookup(config, group, key, KEY_UINT);
  return value ? value->number : 0;
}

gboolean
coffer_config_get_boolean(CofferConfig *config, const char *group, const char *key)
{
  const Value *value = lookup(config, group, key, KEY_BOOLEAN);
  return value ? value->flag : FALSE;
}
