#!/usr/bin/env bash
# Installs Debian's puppet-agent (Puppet 7.23 on Debian 12) when it is
# missing and this machine can; otherwise says exactly what to run.
set -euo pipefail
if command -v puppet >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing puppet-agent from Debian..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq puppet-agent >/dev/null
  command -v puppet >/dev/null && exit 0
fi
echo "Puppet is needed: run 'sudo apt-get install -y puppet-agent' (Debian 12 ships Puppet 7.23)." >&2
exit 1
