#!/bin/sh
# Fails when a C file of the tree differs from what the committed
# .clang-format makes of it (run `clang-format -i FILE` to fix).
set -eu
cd "$1"
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "format: $(echo "$files" | wc -w) files checked"
