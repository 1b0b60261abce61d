/* Fuzz target for the gnome-keyring keyring file reader
 * (import/keyring-file.c), which reads files a user hands to
 * `coffer import`: they may be damaged, truncated or crafted.
 *
 * An input starting with the keyring magic is a whole file: the clear part
 * is parsed and, when the header says so, decrypted with the password
 * "fuzz" (the seed corpus was written by a real gnome-keyring-daemon with
 * that password) and its items parsed.  Any other input is a decrypted item
 * section: its first byte is the number of items.  Beyond "does not crash"
 * it checks that a parsed header's encrypted part lies inside the input and
 * that the reader returns exactly as many items as the file announces.
 *
 * Built with -DCOFFER_LIBFUZZER and -fsanitize=fuzzer it is a libFuzzer
 * target; otherwise main() runs the files named on the command line (the
 * seed corpus in tests/fuzz/corpus/keyring). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>
#include <sodium.h>

#include "keyring-file.h"

#define CHECK(cond)                                                                                                    \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      fprintf(stderr, "fuzz-keyring: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                           \
      abort();                                                                                                         \
    }                                                                                                                  \
  } while (0)

/* Decrypting costs `iterations` SHA-256 rounds; keep fuzzing fast. */
#define FUZZ_MAX_ITERATIONS 5000

static void
setup(void)
{
  static int done;
  if (done)
    return;
  CHECK(sodium_init() >= 0);
  CHECK(gcry_check_version(NULL) != NULL);
  gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
  gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
  done = 1;
}

static int
run_file(const uint8_t *data, size_t size)
{
  KeyringHeader header;
  GError *error = NULL;
  ImportCollection *collection;
  guint32 n_items;

  if (!keyring_file_parse_header(data, size, &header, &error)) {
    CHECK(error != NULL);
    g_error_free(error);
    return 0;
  }
  CHECK(header.encrypted_len > 0 && header.encrypted_len % 16 == 0);
  CHECK(header.encrypted_offset + header.encrypted_len == size);
  CHECK(header.item_types != NULL && header.item_types->len == header.n_items);
  n_items = header.n_items;
  if (header.iterations > FUZZ_MAX_ITERATIONS) {
    keyring_header_clear(&header);
    return 0;
  }
  keyring_header_clear(&header);
  collection = keyring_file_read(data, size, "fuzz", 4, &error);
  if (collection == NULL) {
    CHECK(error != NULL);
    g_error_free(error);
    return 0;
  }
  CHECK(collection->items->len == n_items);
  for (guint i = 0; i < collection->items->len; i++) {
    ImportItem *item = collection->items->pdata[i];
    CHECK(item->label != NULL && g_utf8_validate(item->label, -1, NULL));
    CHECK((item->secret == NULL) == (item->secret_len == 0));
  }
  import_collection_free(collection);
  return 1;
}

static int
run_items(const uint8_t *data, size_t size)
{
  GArray *types = g_array_new(FALSE, TRUE, sizeof(guint32));
  ImportCollection *collection = import_collection_new("fuzz");
  GError *error = NULL;
  int ok;

  if (size == 0) {
    g_array_unref(types);
    import_collection_free(collection);
    return 0;
  }
  g_array_set_size(types, data[0]);
  ok = keyring_file_parse_items(data + 1, size - 1, types, collection, &error);
  CHECK(ok ? error == NULL : error != NULL);
  if (ok)
    CHECK(collection->items->len == types->len);
  g_clear_error(&error);
  g_array_unref(types);
  import_collection_free(collection);
  return ok;
}

static int
run(const uint8_t *data, size_t size)
{
  setup();
  if (size >= 12 && memcmp(data, "GnomeKeyring", 12) == 0)
    return run_file(data, size);
  return run_items(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  run(data, size);
  return 0;
}

#ifndef COFFER_LIBFUZZER
#include "corpus-runner.h"

int
main(int argc, char **argv)
{
  return coffer_fuzz_corpus_main("fuzz-keyring", argc, argv, run);
}
#endif
