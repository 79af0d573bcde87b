#!/usr/bin/env bash
# Install the Debian packages the operations tests need: Prometheus (promtool,
# prometheus) and Alertmanager (amtool, alertmanager).
#
# Why this shape:
# * idempotent and quick: when every binary is already on PATH it does nothing
#   (no apt-get update, no network);
# * never starts the services: Debian's postinst scripts call invoke-rc.d /
#   deb-systemd-invoke, which ask /usr/sbin/policy-rc.d first. We put a
#   policy that answers 101 ("action forbidden") in place for the duration of
#   the install (keeping any existing one untouched), and, belt and braces,
#   stop any prometheus/alertmanager process that appeared during the install
#   (by pid, only the ones that were not running before);
# * non-interactive: DEBIAN_FRONTEND=noninteractive, --no-install-recommends.
set -euo pipefail

need=()
for bin in promtool prometheus; do
  command -v "$bin" >/dev/null 2>&1 || { need+=(prometheus); break; }
done
# Debian ships the Alertmanager server as /usr/bin/prometheus-alertmanager.
if ! command -v amtool >/dev/null 2>&1 || \
   ! { command -v alertmanager >/dev/null 2>&1 || command -v prometheus-alertmanager >/dev/null 2>&1; }; then
  need+=(prometheus-alertmanager)
fi

if [ ${#need[@]} -eq 0 ]; then
  echo "system packages: promtool, prometheus, amtool, alertmanager already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "system packages: need root (or sudo) to install ${need[*]}" >&2
    exit 1
  fi
fi

policy=/usr/sbin/policy-rc.d
added_policy=0
cleanup() {
  if [ "$added_policy" -eq 1 ]; then
    $SUDO rm -f "$policy"
  fi
}
trap cleanup EXIT

if [ ! -e "$policy" ]; then
  tmp=$(mktemp)
  printf '#!/bin/sh\n# temporary: surgewatch tests/system-packages.sh forbids service starts during install\nexit 101\n' >"$tmp"
  chmod 0755 "$tmp"
  $SUDO install -m 0755 "$tmp" "$policy"
  rm -f "$tmp"
  added_policy=1
fi

before=" $( (pgrep -x 'prometheus|alertmanager|prometheus-aler' 2>/dev/null || true) | tr '\n' ' ') "

echo "system packages: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null

# Stop anything the install started despite the policy (only new pids).
for pid in $(pgrep -x 'prometheus|alertmanager|prometheus-aler' 2>/dev/null || true); do
  case "$before" in
    *" $pid "*) ;;
    *) echo "system packages: stopping service started by the install (pid $pid)"; $SUDO kill "$pid" || true ;;
  esac
done

for bin in promtool prometheus amtool alertmanager; do
  if ! command -v "$bin" >/dev/null 2>&1; then
    if [ "$bin" = alertmanager ] && command -v prometheus-alertmanager >/dev/null 2>&1; then
      continue
    fi
    echo "system packages: $bin still missing after install" >&2
    exit 1
  fi
done
echo "system packages: done"
