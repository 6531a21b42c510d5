"""faster-whisper row of the inference benchmark.

Usage: .bench-venv/bin/python bench/faster_whisper_runner.py JOB.json OUT.json

Reads the job written by bench/inference.bench.ts (see bench/lib/engine-job.ts),
transcribes every item with faster-whisper on CPU and writes the texts, per-item
wall times, load time and peak RSS as JSON. WER is scored in TypeScript so that
every row goes through the same normaliser. Progress goes to stderr.
"""

import json
import resource
import sys
import time
from importlib import metadata


def max_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: faster_whisper_runner.py JOB.json OUT.json")
    job_path, out_path = sys.argv[1], sys.argv[2]
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    settings = job["settings"]
    tag = f"[{job['label']}]"
    result = {
        "status": "ok",
        "checkpoint": settings.get("checkpoint", job["modelDir"]),
        "loadSec": 0.0,
        "maxRssMb": 0.0,
        "items": [],
        "info": {},
    }

    def write() -> None:
        result["maxRssMb"] = max_rss_mb()
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump(result, f)

    try:
        from faster_whisper import WhisperModel
    except ImportError as err:
        result["status"] = "skipped"
        result["reason"] = f"faster-whisper not installed ({err}); run bench/setup-python.sh"
        print(f"{tag} {result['reason']}", file=sys.stderr)
        write()
        return

    result["info"] = {
        "faster-whisper": metadata.version("faster-whisper"),
        "ctranslate2": metadata.version("ctranslate2"),
        "python": sys.version.split()[0],
    }
    t0 = time.perf_counter()
    model = WhisperModel(
        job["modelDir"],
        device="cpu",
        compute_type=settings["computeType"],
        cpu_threads=job["threads"],
        num_workers=1,
        local_files_only=True,
    )
    result["loadSec"] = time.perf_counter() - t0
    print(f"{tag} loaded in {result['loadSec']:.1f} s: {result['checkpoint']}", file=sys.stderr)
    write()

    options = dict(
        language=job["language"],
        task="transcribe",
        beam_size=int(settings.get("beamSize", 1)),
        vad_filter=bool(settings.get("vadFilter", False)),
    )

    def transcribe(path: str) -> str:
        segments, _info = model.transcribe(path, **options)
        # segments is a generator: decoding happens while it is consumed
        return " ".join(s.text.strip() for s in segments).strip()

    try:
        transcribe(job["warmupPath"])
        audio = wall = 0.0
        items = job["items"]
        for n, item in enumerate(items, start=1):
            t = time.perf_counter()
            text = transcribe(item["path"])
            wall_sec = time.perf_counter() - t
            result["items"].append({"id": item["id"], "text": text, "wallSec": wall_sec})
            audio += item["durationSec"]
            wall += wall_sec
            if item["durationSec"] > 60 or n % 10 == 0 or n == len(items):
                print(
                    f"{tag} {n}/{len(items)} items, {audio:.0f} s audio in {wall:.1f} s ({audio / wall:.2f}x)",
                    file=sys.stderr,
                )
            write()
    except Exception as err:  # reported in the table, not raised: the other rows still run
        result["status"] = "failed"
        result["reason"] = repr(err)
        print(f"{tag} failed: {err!r}", file=sys.stderr)
    write()


if __name__ == "__main__":
    main()
