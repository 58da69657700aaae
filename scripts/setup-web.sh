#!/usr/bin/env bash
# Sets up and builds the browser UI (web-client/): the npm packages from the
# lock file (npm ci), the bundle (web-client/dist, which sync-server serves
# by default), and, for the browser tests, Debian's Chromium when
# /usr/bin/chromium is missing (playwright-core drives it; it never
# downloads a browser of its own).
#   bash scripts/setup-web.sh            # packages and build
#   bash scripts/setup-web.sh --browser  # also Chromium for the tests
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[setup-web] %s\n' "$*" >&2; }
command -v node >/dev/null || { echo "node (20+) is required" >&2; exit 1; }
cd "$here/../web-client"
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f node_modules/.cathode-lock ] || [ "$(cat node_modules/.cathode-lock)" != "$lock_hash" ]; then
  log "installing npm packages from the lock file"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.cathode-lock
fi
log "building the UI into web-client/dist"
node build.mjs
if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi
