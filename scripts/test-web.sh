#!/usr/bin/env bash
# The browser UI's tests: type check, unit tests (framing, sync, position
# keys against the Rust ones, output rendering) and the browser tests
# (Playwright driving Debian's Chromium against a real sync-server with
# real runtime agents and kernels). Expects scripts/setup.sh and the
# workspace's debug build (scripts/test.sh does both).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
cd "$here/../web-client"
npx tsc --noEmit
npx tsc --noEmit -p worker
node build.mjs --tests
# Keys the Rust side makes, for the port's test (schema/examples).
"$CARGO_TARGET_DIR/debug/examples/position_vectors" > dist-test/position-vectors.json
node --test dist-test/unit/
node --test --test-concurrency=1 --test-timeout=600000 dist-test/e2e/
