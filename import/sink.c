/* coffer-import — into the vault.  See sink.h. */
#include "sink.h"

#include <sodium.h>
#include <string.h>

#include "vault/vault-import.h"

void
import_summary_init(ImportSummary *summary)
{
  memset(summary, 0, sizeof *summary);
  summary->failures = g_ptr_array_new_with_free_func(g_free);
  summary->conflicts = g_ptr_array_new_with_free_func(g_free);
}

void
import_summary_clear(ImportSummary *summary)
{
  g_clear_pointer(&summary->failures, g_ptr_array_unref);
  g_clear_pointer(&summary->conflicts, g_ptr_array_unref);
}

void
import_summary_print(const ImportSummary *summary, const char *from, FILE *out)
{
  fprintf(out,
          "Imported from %s: %u imported, %u already present, %u kept (coffer has a different secret), "
          "%u failed; %u new collection(s).\n",
          from, summary->imported, summary->skipped, summary->kept, summary->failed, summary->collections_created);
  if (summary->conflicts->len > 0) {
    fputs("Kept coffer's copy (same label and attributes, different secret):\n", out);
    for (guint i = 0; i < summary->conflicts->len; i++)
      fprintf(out, "  %s\n", (const char *)summary->conflicts->pdata[i]);
  }
  if (summary->failures->len > 0) {
    fputs("Failed:\n", out);
    for (guint i = 0; i < summary->failures->len; i++)
      fprintf(out, "  %s\n", (const char *)summary->failures->pdata[i]);
  }
}

/* ---- matching items already in coffer --------------------------------------- */

/* (label, sorted attributes but xdg:schema) as bytes: equal keys mean "the
 * same item".  The schema is left out because gnome-keyring itself is not
 * stable about it: an item stored without one is served with
 * xdg:schema=org.freedesktop.Secret.Generic once gnome-keyring has reloaded
 * its file, and a second import must still recognise it. */
static GBytes *
item_key(const char *label, GHashTable *attributes)
{
  g_autoptr(GPtrArray) names = import_sorted_names(attributes);
  GVariantBuilder builder;
  g_autoptr(GVariant) key = NULL;

  g_variant_builder_init(&builder, G_VARIANT_TYPE("a(ss)"));
  for (guint i = 0; i < names->len; i++)
    if (strcmp(names->pdata[i], "xdg:schema") != 0)
      g_variant_builder_add(&builder, "(ss)", names->pdata[i], g_hash_table_lookup(attributes, names->pdata[i]));
  key = g_variant_ref_sink(g_variant_new("(sa(ss))", label != NULL ? label : "", &builder));
  return g_variant_get_data_as_bytes(key);
}

typedef struct {
  CofferVault *vault;
  ImportSummary *summary;
  ImportProgress *progress;
  GHashTable *index; /* collection name -> (GBytes key -> GPtrArray of item names) */
} Sink;

static GHashTable *
collection_index(Sink *sink, CofferCollection *collection)
{
  const char *name = coffer_collection_get_name(collection);
  GHashTable *by_key = g_hash_table_lookup(sink->index, name);
  g_autoptr(GPtrArray) items = NULL;

  if (by_key != NULL)
    return by_key;
  by_key = g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify)g_bytes_unref,
                                 (GDestroyNotify)g_ptr_array_unref);
  items = coffer_collection_list_items(collection);
  for (guint i = 0; i < items->len; i++) {
    CofferItem *item = items->pdata[i];
    GBytes *key = item_key(coffer_item_get_label(item), coffer_item_get_attributes(item));
    GPtrArray *names = g_hash_table_lookup(by_key, key);
    if (names == NULL) {
      names = g_ptr_array_new_with_free_func(g_free);
      g_hash_table_insert(by_key, g_bytes_ref(key), names);
    }
    g_ptr_array_add(names, g_strdup(coffer_item_get_name(item)));
    g_bytes_unref(key);
  }
  g_hash_table_insert(sink->index, g_strdup(name), by_key);
  return by_key;
}

static gboolean
same_secret(Sink *sink, CofferItem *item, const ImportItem *source_item)
{
  guint8 *secret = NULL;
  gsize len = 0;
  const char *content_type = NULL;
  gboolean same;

  if (!coffer_vault_get_item_secret(sink->vault, item, &secret, &len, &content_type, NULL))
    return FALSE;
  same = len == source_item->secret_len && (len == 0 || sodium_memcmp(secret, source_item->secret, len) == 0) &&
         g_strcmp0(content_type, source_item->content_type ? source_item->content_type : "text/plain") == 0;
  if (secret != NULL)
    coffer_secure_release(secret, len);
  return same;
}

/* ---- collections ----------------------------------------------------------- */

static CofferCollection *
find_by_label(CofferVault *vault, const char *label)
{
  g_autoptr(GPtrArray) all = coffer_vault_list_collections(vault);
  for (guint i = 0; i < all->len; i++) {
    const char *name = coffer_collection_get_name(all->pdata[i]);
    if (strcmp(name, COFFER_LOGIN_COLLECTION) != 0 && strcmp(name, COFFER_SESSION_COLLECTION) != 0 &&
        g_strcmp0(coffer_collection_get_label(all->pdata[i]), label) == 0)
      return all->pdata[i];
  }
  return NULL;
}

static CofferCollection *
target_collection(Sink *sink, const ImportCollection *source, GError **error)
{
  CofferCollection *target;

  if (source->is_login)
    return coffer_vault_find_collection(sink->vault, COFFER_LOGIN_COLLECTION);
  target = find_by_label(sink->vault, source->label);
  if (target != NULL)
    return target;
  target = coffer_vault_import_collection(sink->vault, source->label, source->created, source->modified, error);
  if (target != NULL)
    sink->summary->collections_created++;
  return target;
}

static gboolean
apply_aliases(Sink *sink, const ImportCollection *source, CofferCollection *target, GError **error)
{
  for (guint i = 0; i < source->aliases->len; i++) {
    const char *alias = source->aliases->pdata[i];
    if (coffer_vault_resolve_alias(sink->vault, alias) == NULL &&
        !coffer_vault_set_alias(sink->vault, alias, target, error))
      return FALSE;
  }
  return TRUE;
}

/* ---- items --------------------------------------------------------------- */

static void
note_failure(Sink *sink, const ImportCollection *collection, const char *label, const char *reason)
{
  sink->summary->failed++;
  g_ptr_array_add(sink->summary->failures,
                  g_strdup_printf("%s / \"%s\": %s", collection->label, label ? label : "", reason));
}

/* FALSE only for a failure of the store (the whole import stops). */
static gboolean
import_item(Sink *sink, const ImportCollection *source, CofferCollection *target, const ImportItem *item,
            GError **error)
{
  GHashTable *by_key = collection_index(sink, target);
  g_autoptr(GBytes) key = item_key(item->label, item->attributes);
  GPtrArray *existing = g_hash_table_lookup(by_key, key);
  CofferItemContent content = { item->label, item->attributes, item->content_type, item->secret, item->secret_len };
  g_autoptr(GError) local = NULL;
  CofferItem *created;

  if (existing != NULL) {
    for (guint i = 0; i < existing->len; i++) {
      CofferItem *match = coffer_collection_find_item(target, existing->pdata[i]);
      if (match != NULL && same_secret(sink, match, item)) {
        sink->summary->skipped++;
        return TRUE;
      }
    }
    sink->summary->kept++;
    g_ptr_array_add(sink->summary->conflicts, g_strdup_printf("%s / \"%s\"", source->label, item->label));
    return TRUE;
  }
  created = coffer_vault_import_item(sink->vault, target, &content, item->created, item->modified, &local);
  if (created == NULL) {
    if (g_error_matches(local, COFFER_VAULT_ERROR, COFFER_VAULT_ERROR_INVALID)) {
      note_failure(sink, source, item->label, local->message);
      return TRUE;
    }
    g_propagate_error(error, g_steal_pointer(&local));
    return FALSE;
  }
  existing = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(existing, g_strdup(coffer_item_get_name(created)));
  g_hash_table_insert(by_key, g_bytes_ref(key), existing);
  sink->summary->imported++;
  return TRUE;
}

static gboolean
import_collection(Sink *sink, const ImportCollection *source, GError **error)
{
  CofferCollection *target = NULL;

  if (source->error != NULL && source->items->len == 0) {
    note_failure(sink, source, "(whole collection)", source->error);
    return TRUE;
  }
  if (source->error == NULL) {
    target = target_collection(sink, source, error);
    if (target == NULL || !apply_aliases(sink, source, target, error))
      return FALSE;
  }
  for (guint i = 0; i < source->items->len; i++) {
    const ImportItem *item = source->items->pdata[i];
    if (item->error != NULL || target == NULL)
      note_failure(sink, source, item->label, item->error ? item->error : source->error);
    else if (!import_item(sink, source, target, item, error))
      return FALSE;
    import_progress_step(sink->progress, 1);
  }
  return TRUE;
}

gboolean
import_sink_write(CofferVault *vault, const ImportSource *source, ImportProgress *progress, ImportSummary *summary,
                  GError **error)
{
  Sink sink = { vault, summary, progress, NULL };
  gboolean ok = TRUE;

  sink.index = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  if (!coffer_vault_import_begin(vault, error)) {
    g_hash_table_unref(sink.index);
    return FALSE;
  }
  import_progress_start(progress, "writing", import_source_count_items(source));
  for (guint i = 0; ok && i < source->collections->len; i++)
    ok = import_collection(&sink, source->collections->pdata[i], error);
  import_progress_end(progress);
  g_hash_table_unref(sink.index);
  return coffer_vault_import_end(vault, ok, ok ? error : NULL);
}
