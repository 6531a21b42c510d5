#!/usr/bin/env bash
# Creates the Python environment of the offline model preparation
# (tools/model-prep): a venv with the pinned onnx, onnxruntime and numpy from
# PyPI. Idempotent; prints the venv's python. The service itself never runs Python.
#   MENO_TOOLS_DIR  where the venv goes (default ~/.cache/meno-tools)
#   PYTHON          the interpreter to build it from (default python3, 3.10-3.13)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MENO_TOOLS_DIR:-$HOME/.cache/meno-tools}/model-prep-venv"
requirements="$root/tools/model-prep/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py="${PYTHON:-python3}"
  if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "[model-prep] $py lacks venv/ensurepip: install python3-venv (Debian) first" >&2
    exit 1
  fi
  echo "[model-prep] creating $venv" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q -r "$requirements"
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
