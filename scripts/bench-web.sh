#!/usr/bin/env bash
# The web client's benchmark (figures printed, never asserted): keystroke
# from one page to another, opening a 200-cell notebook cold and warm,
# typing while a cell streams, 1+1 to the painted result, page memory,
# the history panel on 100,000 changes, Tab to the completion popup, and
# JupyterLab's figures beside ours. CATHODE_BENCH_ONLY=run,completion (any of
# keys, open, streaming, run, history, completion, jupyterlab) runs only those.
# Uses the release build of the server and agent when
# CATHODE_BENCH_PROFILE=release (built here), else the debug build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
CATHODE_WEB_BROWSER=1 bash "$here/setup.sh"
cd "$here/.."
profile="${CATHODE_BENCH_PROFILE:-debug}"
if [ "$profile" = release ]; then
  cargo build --release -p sync-server -p runtime-agent --bins
  cargo build --release -p cathode-tests --bin history-fill
  # The harness starts target/debug binaries: point it at the release ones.
  export CARGO_TARGET_DIR_BENCH="$CARGO_TARGET_DIR/release"
else
  cargo build -p sync-server -p runtime-agent --bins
  cargo build -p cathode-tests --bin history-fill
fi
if [ "${CATHODE_BENCH_JUPYTERLAB:-0}" = 1 ]; then
  # JupyterLab with jupyter-collaboration, in a venv of its own, for the
  # ratios (the kernels' venv is left as the tests expect it).
  export CATHODE_JLAB_VENV="${CATHODE_JLAB_VENV:-$CATHODE_CACHE/jlab-venv}"
  if [ ! -x "$CATHODE_JLAB_VENV/bin/jupyter" ]; then
    python3 -m venv "$CATHODE_JLAB_VENV"
    "$CATHODE_JLAB_VENV/bin/pip" install --quiet jupyterlab jupyter-collaboration ipykernel
  fi
fi
cd web-client
node build.mjs --tests
CATHODE_BENCH_PROFILE="$profile" node dist-test/bench/bench.mjs
