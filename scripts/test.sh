#!/usr/bin/env bash
# Set up everything and run every test: unit tests beside the code and the
# whole-system tests in tests/ (real server processes, real sockets, real
# SQLite, real kernels).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
CATHODE_WEB_BROWSER=1 bash "$here/setup.sh"
cd "$here/.."
# Whole-system tests start the workspace's binaries as processes. Building
# every target at once unifies features between binaries and tests, so the
# test run below reuses this build instead of compiling wasmtime twice.
cargo build --workspace --all-targets
# Compile the WASM Python module once (cached), so no test waits on it.
"$CARGO_TARGET_DIR/debug/runtime-agent" --prepare-wasm
status=0
cargo test --workspace --no-fail-fast "$@" || status=$?
# The browser UI's unit tests and its browser tests (real server, agents
# and kernels, Debian's Chromium).
bash "$here/test-web.sh" || status=$?
exit $status
