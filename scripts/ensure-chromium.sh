#!/usr/bin/env bash
# The end-to-end tests drive Debian's Chromium through Playwright (no browser downloads here).
set -euo pipefail
browser=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$browser" ] && exit 0

echo "Installing Debian's chromium for the browser tests..."
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "Chromium is missing at $browser and this user cannot install it." >&2
  echo "Install it with 'apt-get install chromium' (as root) or set CHROMIUM_PATH." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y -q chromium >/dev/null 2>&1 || {
  $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null
}
[ -x "$browser" ] || { echo "apt-get did not install $browser." >&2; exit 1; }
