#!/usr/bin/env bash
# The main job on embedded defaults: set up, build, and start the sync server
# on 127.0.0.1 with its embedded SQLite database, printing the URL with the
# owner token on first start. Ctrl-C (or SIGTERM) stops it cleanly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
bash "$here/setup.sh"
cd "$here/.."
cargo build --release -p sync-server
export CATHODE_DATA_DIR="${CATHODE_DATA_DIR:-$HOME/.local/share/cathode}"
export CATHODE_OWNER_TOKEN_FILE="${CATHODE_OWNER_TOKEN_FILE:-$CATHODE_DATA_DIR/owner-token}"
mkdir -p "$CATHODE_DATA_DIR"
echo "[run] data in $CATHODE_DATA_DIR (the owner token is also kept in $CATHODE_OWNER_TOKEN_FILE)" >&2
exec "$CARGO_TARGET_DIR/release/sync-server" "$@"
