#!/usr/bin/env bash
# Installs the Debian packages the tests drive: redis-server and redis-cli (Redis down and
# Redis Cluster tests), chromium (browser test), docker-compose (compose file validation), gcc
# (a test library that skews a Redis server's clock).
set -euo pipefail
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v chromium >/dev/null || missing+=(chromium)
command -v docker-compose >/dev/null || missing+=(docker-compose)
# A Cluster test builds a small library that sets redis-server's clock off (test/skewed-clock.ts).
command -v gcc >/dev/null || missing+=(gcc)
[ -e /usr/include/dlfcn.h ] || missing+=(libc6-dev)
if ((${#missing[@]})); then
  echo "Installing: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
