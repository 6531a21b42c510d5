#!/usr/bin/env bash
# One-command GPU check (issue 9): on a GPU host with this checkout installed
# (bash scripts/provision.sh, or the worker image), prints which execution
# providers load (CUDA, WebGPU) and per-window / per-token times and the
# real-time factor of the step loop and the single decode graph on a prepared
# model, and writes them to bench/results/<date>-<commit>-gpu.md.
#   bash scripts/gpu-check.sh [--model-dir models/whisper-base --variant fp16] [--providers cuda,webgpu]
# Without --model-dir it takes the first fp16 model under ./models, else base q8.
# Takes 1-3 minutes; the model is prepared first when it is not yet.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L || echo "[gpu-check] nvidia-smi not found: CUDA will not load" >&2
exec node --import tsx bench/gpu-check.ts "$@"
