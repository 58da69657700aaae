#!/usr/bin/env bash
# Set up everything cathode needs on a fresh machine: the Rust toolchain's
# presence is checked, the kernels' Python environment and WASM artifacts are
# installed (scripts/setup-kernels.sh), and nothing is written into the clone.
# Idempotent: a second run only checks.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"

log() { printf '[setup] %s\n' "$*" >&2; }

command -v cargo >/dev/null || { echo "cargo is required (rustup)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

bash "$here/setup-kernels.sh"
# The tests (CATHODE_WEB_BROWSER=1, set by scripts/test.sh) also run the
# server on a real PostgreSQL, which they start themselves in a temporary
# folder: only Debian's server binaries are needed.
if [ "${CATHODE_WEB_BROWSER:-0}" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing Debian's postgresql for the tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
# The browser UI: npm packages from the lock file and the bundle the server
# serves (CATHODE_WEB_BROWSER=1 also installs Chromium for its tests).
if [ "${CATHODE_WEB_BROWSER:-0}" = 1 ]; then
  bash "$here/setup-web.sh" --browser
else
  bash "$here/setup-web.sh"
fi
log "ready: cache in $CATHODE_CACHE"
