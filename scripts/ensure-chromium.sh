#!/usr/bin/env bash
# Installs Debian's chromium (and a font for its screenshots) when it is
# missing and this machine can: the web view's end-to-end test drives a
# real headless browser. Otherwise says exactly what to run.
set -euo pipefail
font=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if { [ -n "${BALCONY_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; } && [ -e "$font" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and fonts-dejavu-core from Debian (without recommendations)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  command -v chromium >/dev/null && exit 0
fi
echo "A headless browser is needed for the web view's test: run 'sudo apt-get install -y --no-install-recommends chromium fonts-dejavu-core' (or set BALCONY_CHROMIUM to one)." >&2
exit 1
