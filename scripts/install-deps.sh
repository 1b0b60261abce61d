#!/bin/sh
# Installs everything coffer needs to build, run and test on Debian/Ubuntu.
# Idempotent: apt-get skips what is already there.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
PKGS="build-essential meson ninja-build pkg-config clang-format
  libglib2.0-dev libglib2.0-bin libsodium-dev libgcrypt20-dev libsqlite3-dev
  libcmocka-dev dbus dbus-daemon dbus-bin
  libsecret-tools libsecret-1-dev gnome-keyring
  python3 python3-secretstorage python3-cryptography python3-dbus python3-gi
  procps psmisc pinentry-tty tmux
  libcurl4-openssl-dev libxml2-dev apache2
  scdoc lintian debhelper dpkg-dev desktop-file-utils rpmlint rpm bash-completion man-db groff-base systemd libpam0g-dev
  libpam-wrapper libpamtest0-dev libnss-wrapper valgrind
  apache2-utils fakeroot python3-jeepney"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  $SUDO apt-get update -q
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q --no-install-recommends $missing
fi
