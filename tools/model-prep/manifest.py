"""Manifests of prepared files: which sources (with SHA-256) they were made
from, by which recipe version, and what came out. A folder whose manifest
still matches its sources is not rebuilt; a finished folder replaces the old
one in a single rename, so a reader never sees half-written graphs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_record(path: Path) -> dict:
    stat = path.stat()
    return {"sha256": sha256(path), "bytes": stat.st_size, "mtimeMs": int(stat.st_mtime * 1000)}


def new_manifest(recipe: int, source_dir: Path, sources: dict[str, Path], started: float, **extra) -> dict:
    """The manifest fields every prepared folder has; `publish` adds the outputs."""
    import onnx
    import onnxruntime

    return {
        "recipeVersion": recipe,
        **extra,
        "sourceDir": str(source_dir.resolve()),
        "sources": {name: file_record(path) for name, path in sources.items()},
        "tools": {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "python": sys.version.split()[0]},
        "seconds": round(time.time() - started, 1),
    }


def run_and_report(out: Path, prepare: Callable[[], dict]) -> int:
    """Runs a recipe for a command line: one readable line on failure (exit 1), else the
    `ready` line on stderr and the JSON result (folder, outputs) on stdout (exit 0)."""
    try:
        manifest = prepare()
    except Exception as err:  # noqa: BLE001 - one readable line for the caller, details on stderr
        log(f"failed: {type(err).__name__}: {err}")
        return 1
    log(f"ready: {out} ({manifest['seconds']} s, recipe {manifest['recipeVersion']})")
    print(json.dumps({"out": str(out.resolve()), "outputs": sorted(manifest["outputs"])}))
    return 0


def log(message: str) -> None:
    print(f"[model-prep] {message}", file=sys.stderr, flush=True)


def up_to_date(out: Path, sources: dict[str, Path], recipe: int) -> dict | None:
    """The manifest in `out` when it was made by `recipe` from these very sources and its outputs are all there."""
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if manifest.get("recipeVersion") != recipe or set(manifest.get("sources", {})) != set(sources):
        return None
    for name, path in sources.items():
        if manifest["sources"][name].get("sha256") != sha256(path):
            return None
    for name, recorded in manifest.get("outputs", {}).items():
        target = out / name
        if not target.exists() or target.stat().st_size != recorded.get("bytes"):
            return None
    return manifest


def staging_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".staging-", dir=out.parent))


def publish(staging: Path, out: Path, manifest: dict) -> dict:
    """Records the outputs in `staging` in the manifest and swaps the folder in as `out`."""
    manifest["outputs"] = {
        str(p.relative_to(staging)): file_record(p) for p in sorted(staging.rglob("*")) if p.is_file() and p.name != "manifest.json"
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    return manifest
