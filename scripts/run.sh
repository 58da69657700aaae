#!/usr/bin/env bash
# The main job on embedded defaults: set up and build, start the sync server
# on 127.0.0.1 with its embedded SQLite database, then import the sample
# notebook (examples/tour.ipynb), start its runtime agent (WASM Python) and
# run every cell headless, printing the outputs. The server keeps running
# afterwards with the results; Ctrl-C stops it cleanly.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
bash "$here/setup.sh"
cd "$here/.."
# The same build as the tests (scripts/test.sh), so the two share one cache.
cargo build --workspace --all-targets
bin="$CARGO_TARGET_DIR/debug"
"$bin/runtime-agent" --prepare-wasm

export CATHODE_DATA_DIR="${CATHODE_DATA_DIR:-$HOME/.local/share/cathode}"
export CATHODE_OWNER_TOKEN_FILE="${CATHODE_OWNER_TOKEN_FILE:-$CATHODE_DATA_DIR/owner-token}"
bind="${CATHODE_BIND:-127.0.0.1:8787}"
mkdir -p "$CATHODE_DATA_DIR"
if [ ! -s "$CATHODE_OWNER_TOKEN_FILE" ] && [ -e "$CATHODE_DATA_DIR/cathode.sqlite" ]; then
  echo "[run] $CATHODE_DATA_DIR holds a database but no owner token file; set CATHODE_DATA_DIR to a fresh directory" >&2
  exit 1
fi

log="$CATHODE_DATA_DIR/sync-server.log"
"$bin/sync-server" --bind "$bind" --web-dir "$PWD/web-client/dist" > >(tee "$log") 2>>"$log.err" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" 2>/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$log.err" >&2; exit 1; }
  sleep 0.1
done
url="http://$bind"

echo "[run] running examples/tour.ipynb on the WASM Python kernel" >&2
status=0
"$bin/cathode-run" --server-url "$url" --token-file "$CATHODE_OWNER_TOKEN_FILE" \
  --import examples/tour.ipynb --start-agent --kernel wasm-python --allow-errors \
  --output "$CATHODE_DATA_DIR/tour.executed.ipynb" || status=$?
echo "[run] the sample's last cell fails on purpose (exit status $status)." >&2
echo "[run] the executed notebook: $CATHODE_DATA_DIR/tour.executed.ipynb" >&2
echo "[run] its results are in the notebook's runtime document, stored in $CATHODE_DATA_DIR/cathode.sqlite;" >&2
echo "[run] GET $url/api/notebooks lists it (token in $CATHODE_OWNER_TOKEN_FILE)." >&2
echo "[run] open the notebook UI (this link signs you in as the owner; the server keeps running, Ctrl-C stops it):" >&2
echo "" >&2
echo "    $url/?token=$(cat "$CATHODE_OWNER_TOKEN_FILE")" >&2
echo "" >&2
wait $server
