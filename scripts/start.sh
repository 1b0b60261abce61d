#!/bin/sh
# Installs what coffer needs, builds it, and starts cofferd with a local
# vault.  Uses the session bus when there is one, otherwise starts a private
# bus and says how to reach it.  Safe to run again: it reuses what runs.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

sh scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
meson compile -C build >/dev/null
echo "coffer: built in $top/build"

if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  XDG_RUNTIME_DIR=/tmp/coffer-runtime-$(id -u)
  mkdir -p "$XDG_RUNTIME_DIR"
  chmod 700 "$XDG_RUNTIME_DIR"
  echo "coffer: no XDG_RUNTIME_DIR; using $XDG_RUNTIME_DIR"
fi
export XDG_RUNTIME_DIR
state="$XDG_RUNTIME_DIR/coffer-dev"
mkdir -p "$state"
chmod 700 "$state"

bus_works() {
  [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] &&
    dbus-send --session --dest=org.freedesktop.DBus --print-reply / org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1
}
if ! bus_works; then
  DBUS_SESSION_BUS_ADDRESS=$(cat "$state/bus-address" 2>/dev/null || true)
  export DBUS_SESSION_BUS_ADDRESS
  if ! bus_works; then
    DBUS_SESSION_BUS_ADDRESS=$(dbus-daemon --session --fork --print-address=1 --print-pid=3 3>"$state/bus-pid")
    echo "$DBUS_SESSION_BUS_ADDRESS" >"$state/bus-address"
    echo "coffer: no session bus; started a private one"
  fi
fi
export DBUS_SESSION_BUS_ADDRESS

owner_pid() {
  dbus-send --session --dest=org.freedesktop.DBus --print-reply /org/freedesktop/DBus \
    org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets 2>/dev/null |
    awk '/uint32/ {print $2}'
}
pid=$(owner_pid)
if [ -z "$pid" ]; then
  nohup "$top/build/agent/cofferd" >"$state/cofferd.log" 2>&1 &
  for _ in $(seq 50); do
    pid=$(owner_pid)
    [ -n "$pid" ] && break
    sleep 0.1
  done
  [ -n "$pid" ] || { cat "$state/cofferd.log" >&2; echo "coffer: cofferd did not start" >&2; exit 1; }
  echo "coffer: cofferd started (pid $pid, log $state/cofferd.log)"
else
  echo "coffer: org.freedesktop.secrets is already served by pid $pid ($(cat /proc/"$pid"/comm 2>/dev/null))"
fi

coffer="$top/build/cli/coffer"
if "$coffer" status 2>&1 | grep -q 'not initialized'; then
  if [ -t 0 ]; then
    echo "coffer: no vault yet; choose its password"
    "$coffer" init
  else
    # No terminal to ask on: generate a password and say so, once.
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    printf '%s\n' "$password" | "$coffer" init --password-stdin
    echo "coffer: created a vault with the generated password: $password"
    echo "coffer: keep it, or change it with: $coffer passwd"
  fi
fi
"$coffer" status
cat <<MSG

To use it from this shell:
  export XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS'
  secret-tool store --label=test service demo   # then: secret-tool lookup service demo
MSG
