#!/usr/bin/env bash
# What `npm test` runs besides Node (its `pretest` calls this): Debian's chromium for the
# browser tests (the admin dashboard, the SDK's example page), and nginx for the load-balancer
# test when DATABASE_URL and REDIS_URL select the cluster project. Installed when missing, so a
# fresh machine needs only `npm test`.
set -euo pipefail

need=()
command -v chromium >/dev/null || need+=(chromium)
if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then
  command -v nginx >/dev/null || need+=(nginx)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing ${need[*]} for the tests (Debian packages)…"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
  echo "Installing ${need[*]} for the tests (Debian packages, with sudo)…"
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "The tests need: ${need[*]} (on Debian: apt-get install ${need[*]})." >&2
  exit 1
fi
