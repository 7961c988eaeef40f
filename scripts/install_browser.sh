#!/usr/bin/env bash
# The browser of the console's tests (test/ros/node/test_console.py): Debian's chromium at
# /usr/bin/chromium, which Playwright drives as it is (never `playwright install`, which downloads a
# browser of its own). Idempotent: does nothing when /usr/bin/chromium exists; installs the Debian
# package otherwise, which needs root.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
die() { printf '[install_browser] ERROR: %s\n' "$*" >&2; exit 1; }

[ -x "$CHROMIUM" ] && exit 0
[ "$(id -u)" -eq 0 ] || die "$CHROMIUM is missing, and installing it needs root: sudo apt-get install -y chromium"
printf '[install_browser] installing Debian chromium for the console tests ...\n'
log="$(mktemp)"
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: update them once if the first try fails.
if ! apt-get install -y chromium >"$log" 2>&1; then
  if ! { apt-get update && apt-get install -y chromium; } >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    rm -f "$log"
    die "apt-get install -y chromium failed (its output is above)"
  fi
fi
rm -f "$log"
[ -x "$CHROMIUM" ] || die "the chromium package did not install $CHROMIUM"
printf '[install_browser] %s\n' "$("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM installed")"
