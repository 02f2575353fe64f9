#!/usr/bin/env bash
# Tools the test suite needs beyond the Python dev extra; run by `make test`.
#
#   promtool  Prometheus' rule checker and rule unit tester (tests/ops), taken from
#             Debian's prometheus package: only the promtool binary is unpacked into
#             $PULSE_LOCAL_DIR/tools/bin (default .pulse/tools/bin); no Prometheus
#             server is installed or started.
#
# Idempotent and silent when everything is there already.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${PULSE_LOCAL_DIR:-$ROOT/.pulse}
BIN="$STATE/tools/bin"

say() { printf 'pulse tools: %s\n' "$*"; }
die() { printf 'pulse tools: error: %s\n' "$*" >&2; exit 1; }

promtool_ok() { "$BIN/promtool" --version >/dev/null 2>&1; }

install_promtool() {
  command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 \
    || die "promtool is missing and apt-get is not available; put promtool (Prometheus 2.42 or newer) at $BIN/promtool"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "promtool is missing and this user cannot run apt-get update"
    sudo=sudo
  fi
  say "promtool not found; unpacking it from Debian's prometheus package into $BIN"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # apt-get download needs current package lists; refresh them only if it fails.
  if ! (cd "$tmp" && apt-get download prometheus) >"$tmp/apt.log" 2>&1; then
    $sudo apt-get update -qq >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; die "apt-get update failed"; }
    (cd "$tmp" && apt-get download prometheus) >"$tmp/apt.log" 2>&1 \
      || { cat "$tmp/apt.log" >&2; die "apt-get download prometheus failed"; }
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  mkdir -p "$BIN"
  install -m 0755 "$tmp/root/usr/bin/promtool" "$BIN/promtool"
  promtool_ok || die "the unpacked promtool does not run"
  say "installed $("$BIN/promtool" --version 2>&1 | head -n 1)"
}

promtool_ok || install_promtool
