#!/usr/bin/env bash
# Run each cargo-fuzz target (fuzz/fuzz_targets) for SECONDS (default 60):
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
# Corpora live in ~/.cache/cathode/fuzz-corpus; a crash is written to
# fuzz/artifacts/TARGET/. Copy it into fuzz/regressions/TARGET/ to keep it:
# the normal tests run every file there (sync-server/tests/fuzz_regressions.rs).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/env.sh"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame sync_message)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# Its own build directory: the fuzz flags would otherwise rebuild the
# shared one. cargo-fuzz passes flags the stable toolchain keeps for
# nightly; RUSTC_BOOTSTRAP lets it accept them.
export CARGO_TARGET_DIR="$CATHODE_CACHE/fuzz-target"
export RUSTC_BOOTSTRAP=1
cd "$here/../fuzz"
for target in "${targets[@]}"; do
  corpus="$CATHODE_CACHE/fuzz-corpus/$target"
  mkdir -p "$corpus"
  echo "[fuzz] $target for ${seconds}s"
  cargo fuzz run --sanitizer none "$target" "$corpus" "regressions/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
done
