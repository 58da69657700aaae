#!/usr/bin/env bash
# Set up everything and run every test: unit tests beside the code and the
# whole-system tests in tests/ (real server processes, real sockets, real
# SQLite, real kernels).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
bash "$here/setup.sh"
cd "$here/.."
# Whole-system tests start the workspace's binaries as processes.
cargo build --bins
cargo test --workspace --no-fail-fast "$@"
