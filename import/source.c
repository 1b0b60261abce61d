/* coffer-import — the in-memory form of what is being imported. */
#include "source.h"

#include <sodium.h>
#include <string.h>

G_DEFINE_QUARK(coffer_import_error, import_error)

ImportItem *
import_item_new(void)
{
  ImportItem *item = g_new0(ImportItem, 1);
  item->attributes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  return item;
}

void
import_item_free(ImportItem *item)
{
  if (item == NULL)
    return;
  g_free(item->label);
  g_hash_table_unref(item->attributes);
  g_free(item->content_type);
  if (item->secret != NULL)
    sodium_free(item->secret); /* wipes */
  g_free(item->error);
  g_free(item);
}

gboolean
import_item_set_secret(ImportItem *item, const guint8 *secret, gsize len)
{
  if (item->secret != NULL)
    sodium_free(item->secret);
  item->secret = NULL;
  item->secret_len = 0;
  if (len == 0)
    return TRUE;
  item->secret = sodium_malloc(len);
  if (item->secret == NULL)
    return FALSE;
  memcpy(item->secret, secret, len);
  item->secret_len = len;
  return TRUE;
}

ImportCollection *
import_collection_new(const char *label)
{
  ImportCollection *collection = g_new0(ImportCollection, 1);
  collection->label = g_strdup(label != NULL ? label : "");
  collection->aliases = g_ptr_array_new_with_free_func(g_free);
  collection->items = g_ptr_array_new_with_free_func((GDestroyNotify)import_item_free);
  return collection;
}

void
import_collection_free(ImportCollection *collection)
{
  if (collection == NULL)
    return;
  g_free(collection->label);
  g_ptr_array_unref(collection->aliases);
  g_ptr_array_unref(collection->items);
  g_free(collection->error);
  g_free(collection);
}

ImportSource *
import_source_new(const char *description)
{
  ImportSource *source = g_new0(ImportSource, 1);
  source->description = g_strdup(description);
  source->collections = g_ptr_array_new_with_free_func((GDestroyNotify)import_collection_free);
  return source;
}

void
import_source_free(ImportSource *source)
{
  if (source == NULL)
    return;
  g_free(source->description);
  g_ptr_array_unref(source->collections);
  g_free(source);
}

guint
import_source_count_items(const ImportSource *source)
{
  guint n = 0;
  for (guint i = 0; i < source->collections->len; i++)
    n += ((ImportCollection *)source->collections->pdata[i])->items->len;
  return n;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
import_sorted_names(GHashTable *attributes)
{
  GPtrArray *names = g_ptr_array_new();
  GHashTableIter iter;
  gpointer name;

  g_hash_table_iter_init(&iter, attributes);
  while (g_hash_table_iter_next(&iter, &name, NULL))
    g_ptr_array_add(names, name);
  g_ptr_array_sort(names, compare_names);
  return names;
}
