"""Prepares Silero VAD for the engine: the model wrapped in a Scan over
frames (vad_scan.py), one ONNX Runtime call per block of frames instead of
one per 32-ms frame.

    python tools/model-prep/prepare_vad.py --source silero_vad_16k_op15.onnx --out DIR

Writes OUT/silero_vad_scan.onnx and OUT/manifest.json; does nothing when the
manifest matches the source and RECIPE_VERSION. Exit 0 on success, 1 on failure."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import onnx

from manifest import log, new_manifest, publish, run_and_report, staging_dir, up_to_date
from vad_scan import build_vad_scan

RECIPE_VERSION = 1


def prepare(source: Path, out: Path, force: bool) -> dict:
    sources = {source.name: source}
    if not force and (manifest := up_to_date(out, sources, RECIPE_VERSION)):
        log(f"{out} is up to date")
        return manifest
    started = time.time()
    staging = staging_dir(out)
    try:
        onnx.save(build_vad_scan(onnx.load(str(source))), str(staging / "silero_vad_scan.onnx"))
        return publish(staging, out, new_manifest(RECIPE_VERSION, source.parent, sources, started))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Prepare Silero VAD (Scan over frames) for the meno engine.")
    parser.add_argument("--source", required=True, type=Path, help="silero_vad_16k_op15.onnx")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    return run_and_report(args.out, lambda: prepare(args.source.resolve(), args.out.resolve(), args.force))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
