#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser tests (Playwright drives
# /usr/bin/chromium; its own browser download does not work here). Installs it when
# missing and we are root or have password-less sudo; otherwise says so loudly and
# carries on: the browser tests then skip themselves. Never fails the build.
set -uo pipefail

CHROMIUM=${CHROMIUM_BIN:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] && exit 0

banner() {
  echo "################################################################################" >&2
  echo "##  BROWSER TESTS WILL BE SKIPPED: chromium not installed                     ##" >&2
  echo "##  ($1)" >&2
  echo "##  Fix: sudo apt-get install -y chromium                                     ##" >&2
  echo "################################################################################" >&2
}

if ! command -v apt-get >/dev/null 2>&1; then
  banner "no apt-get on this machine"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  AS_ROOT=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  AS_ROOT=(sudo -n)
else
  banner "not root and no password-less sudo"
  exit 0
fi

mkdir -p .run
LOG=.run/apt-chromium.log
apt_install() {
  "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q chromium >>"$LOG" 2>&1
}
echo "Installing Debian's chromium for the browser tests (log: $LOG)..."
: >"$LOG"
if ! apt_install; then
  echo "apt-get install failed; running apt-get update and trying again..."
  "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$LOG" 2>&1
  apt_install
fi
if [ -x "$CHROMIUM" ]; then
  echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
  tail -n 15 "$LOG" >&2
  banner "apt-get install chromium failed; see $LOG"
fi
exit 0
