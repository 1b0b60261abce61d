#!/bin/sh
# Builds coffer's Debian packages from this work tree and checks them with
# lintian (no errors, no warnings).
#
#   sh packaging/build-deb.sh [OUTDIR]      (default: ./build-deb)
#
# dpkg-buildpackage wants debian/ at the top of the source tree, and builds
# its parent directory full of files: so the tree (tracked and new files, not
# build directories) is copied to a temporary directory, packaging/debian is
# put at its top, and the results are copied to OUTDIR: the .deb files, the
# .changes and .buildinfo, and lintian.log.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/coffer-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
src="$work/coffer-$version"
mkdir "$src"
# What git knows of, committed or not, minus what .gitignore hides (build
# directories): the same tree a fresh clone with the pending work would have.
(cd "$top" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$top" && xargs -0 tar -cf - --no-recursion --ignore-failed-read) |
  tar -xf - -C "$src"
cp -a "$top/packaging/debian" "$src/debian"

(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
  tail -n 60 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
  exit 1
}

rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out"/
changes=$(ls "$out"/*.changes)

# --fail-on: errors and warnings fail the build; overrides in debian/ each
# carry a written reason.
if ! lintian --fail-on error,warning --display-info "$changes" >"$out/lintian.log" 2>&1; then
  cat "$out/lintian.log" >&2
  echo "build-deb: lintian found problems" >&2
  exit 1
fi
cat "$out/lintian.log"
echo "build-deb: packages in $out"
