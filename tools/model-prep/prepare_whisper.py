"""Prepares a Whisper model folder (transformers.js / Optimum layout) for the
engine: rebuilt encoder and merged decoder, plus a single decode-loop graph.

    python tools/model-prep/prepare_whisper.py --source DIR --variant q8 --out DIR

Recipe (RECIPE_VERSION below; bump it whenever the output changes):
  1. Dequantize q8 graphs to float32 (W = (Wq − zero_point) × scale).
  2. Encoder: keep only `last_hidden_state` (the exports also output every
     layer's attention probabilities), fuse self-attention into
     MultiHeadAttention.
  3. Decoder: split the merged graph into its no-cache and cached halves; the
     cached half never outputs the cross-attention cache.
  4. q8 only: quantize MatMul weights again with ONNX Runtime's
     `quantize_dynamic`, unsigned 8-bit with one scale per tensor: the
     scheme of the exports themselves, so the requantized weights are the
     shipped ones and the graphs decode like them (the output head, which
     the exports dequantize at every step, becomes an integer MatMul too).
     Measured with whisper-base in the bench on one machine (Intel Xeon,
     AVX512-VNNI): uint8 per tensor 11.88 % long-form / 8.79 % clips WER at
     18.8× / 6.6× real time; uint8 per channel 12.72 / 8.42 at 17.8× / 6.7×;
     int8 per channel (recipe 1) 12.58 / 9.17 at 15.5× / 6.5×; the shipped
     files 11.60 / 8.72. On an AMD EPYC int8 per channel had measured 8.42 %
     on the clips against 9.09 % for the shipped files: integer kernels
     differ between CPUs, and only the exports' own scheme tracks them on
     every machine.
  5. Merge the decoder halves again (same file, input and output names) and
     build the WhisperBeamSearch graph over them.

Outputs go to OUT/onnx/ under the source's file names, with
`decoder_search{suffix}.onnx` beside them and OUT/manifest.json recording
source and output hashes, the recipe version and what each step did (see
manifest.py). A second run with unchanged sources and recipe does nothing.
Exit code 0 on success or when up to date, 1 on failure (the message says
which file and step)."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import onnx
from onnx import helper

from attention_fusion import fuse_encoder_attention
from decoder_graphs import merge_decoders, split_merged_decoder
from dequantize import dequantize_graph, remaining_integer_ops
from manifest import log, new_manifest, publish, run_and_report, staging_dir, up_to_date
from onnx_graph import remove_dead_nodes
from search_graph import build_search_model

RECIPE_VERSION = 2
SUFFIX = {"q8": "_quantized", "fp16": "_fp16", "fp32": ""}
CONFIG_FILES = ("config.json", "generation_config.json", "preprocessor_config.json", "tokenizer.json")


def special_tokens(source: Path) -> dict[str, int]:
    """Token ids the decode-loop operator needs, read from tokenizer.json and the configs."""
    tokenizer = json.loads((source / "tokenizer.json").read_text())
    added = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}
    config = json.loads((source / "config.json").read_text())

    def token(*names: str) -> int:
        for name in names:
            if name in added:
                return added[name]
        raise ValueError(f"tokenizer.json has none of {names}")

    no_timestamps = token("<|notimestamps|>")
    eos = config.get("eos_token_id", token("<|endoftext|>"))
    return {
        "eos": eos,
        "pad": config.get("pad_token_id", eos),
        "decoder_start": config.get("decoder_start_token_id", token("<|startoftranscript|>")),
        "translate": token("<|translate|>"),
        "transcribe": token("<|transcribe|>"),
        "start_of_lm": token("<|startoflm|>"),
        "start_of_prev": token("<|startofprev|>"),
        "no_speech": token("<|nospeech|>", "<|nocaptions|>"),
        "no_timestamps": no_timestamps,
        "timestamp_begin": no_timestamps + 1,
    }


def suppress_tokens(source: Path) -> list[int]:
    """generation_config.json's suppress_tokens (config.json's in older exports)."""
    for name in ("generation_config.json", "config.json"):
        path = source / name
        if path.exists():
            tokens = json.loads(path.read_text()).get("suppress_tokens")
            if tokens is not None:
                return [int(t) for t in tokens]
    return []


def save(model: onnx.ModelProto, path: Path) -> None:
    """Saves with weights inline when under 2 GB, else in `<file>_data` beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    large = model.ByteSize() > 1_900_000_000
    onnx.save_model(model, str(path), save_as_external_data=large, all_tensors_to_one_file=True, location=f"{path.name}_data")


def quantize(model: onnx.ModelProto, work: Path, name: str) -> onnx.ModelProto:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, target = work / f"{name}.float.onnx", work / f"{name}.q8.onnx"
    save(model, source)
    quantize_dynamic(str(source), str(target), op_types_to_quantize=["MatMul"], per_channel=False, weight_type=QuantType.QUInt8)
    return onnx.load(str(target))


def prepare_encoder(source: onnx.ModelProto, heads: int, variant: str, work: Path, report: dict) -> onnx.ModelProto:
    model = source
    if variant == "q8":
        report["dequantized"] = dequantize_graph(model.graph)
        left = remaining_integer_ops(model.graph)
        if left:
            raise ValueError(f"encoder still has quantized ops after dequantizing: {left}")
    dropped = [o.name for o in model.graph.output if o.name != "last_hidden_state"]
    for name in dropped:
        model.graph.output.remove(next(o for o in model.graph.output if o.name == name))
    report["droppedOutputs"] = len(dropped)
    report["prunedNodes"] = remove_dead_nodes(model.graph)
    fusion = fuse_encoder_attention(model.graph, heads)
    report["attentionFused"] = len(fusion["fused"])
    if fusion["skipped"]:
        report["attentionSkipped"] = fusion["skipped"]
    if fusion["fused"] and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return quantize(model, work, "encoder") if variant == "q8" else model


def prepare_decoder_halves(source: onnx.ModelProto, variant: str, work: Path, report: dict) -> tuple[onnx.ModelProto, onnx.ModelProto]:
    no_past, with_past = split_merged_decoder(source)
    halves = []
    for name, half in (("no_past", no_past), ("with_past", with_past)):
        if variant == "q8":
            report[f"{name}Dequantized"] = dequantize_graph(half.graph)
            left = remaining_integer_ops(half.graph)
            if left:
                raise ValueError(f"decoder ({name}) still has quantized ops after dequantizing: {left}")
            half = quantize(half, work, f"decoder_{name}")
        halves.append(half)
    return halves[0], halves[1]


def prepare(source: Path, variant: str, out: Path, force: bool) -> dict:
    suffix = SUFFIX[variant]
    encoder_path = source / "onnx" / f"encoder_model{suffix}.onnx"
    decoder_path = source / "onnx" / f"decoder_model_merged{suffix}.onnx"
    for path in (encoder_path, decoder_path):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: is {source} a Whisper model folder with the {variant} variant?")
    sources = {f"onnx/{encoder_path.name}": encoder_path, f"onnx/{decoder_path.name}": decoder_path}
    sources.update({name: source / name for name in CONFIG_FILES if (source / name).exists()})
    if not force and (manifest := up_to_date(out, sources, RECIPE_VERSION)):
        log(f"{out} is up to date")
        return manifest

    config = json.loads((source / "config.json").read_text())
    heads, d_model = config["decoder_attention_heads"], config["d_model"]
    started = time.time()
    report: dict[str, dict] = {"encoder": {}, "decoder": {}}
    staging = staging_dir(out)
    try:
        with tempfile.TemporaryDirectory(prefix="meno-model-prep-") as tmp:
            work = Path(tmp)
            log(f"encoder: {encoder_path}")
            encoder = prepare_encoder(onnx.load(str(encoder_path)), config["encoder_attention_heads"], variant, work, report["encoder"])
            save(encoder, staging / "onnx" / encoder_path.name)
            del encoder
            log(f"decoder: {decoder_path}")
            merged_source = onnx.load(str(decoder_path))
            no_past, with_past = prepare_decoder_halves(merged_source, variant, work, report["decoder"])
            save(merge_decoders(no_past, with_past, merged_source), staging / "onnx" / decoder_path.name)
            log("decode-loop graph")
            search = build_search_model(
                no_past, with_past, special_tokens(source), suppress_tokens(source), heads, d_model // heads, config["vocab_size"]
            )
            save(search, staging / "onnx" / f"decoder_search{suffix}.onnx")
        return publish(staging, out, new_manifest(RECIPE_VERSION, source, sources, started, variant=variant, steps=report))
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Prepare a Whisper ONNX model folder for the meno engine.")
    parser.add_argument("--source", required=True, type=Path, help="model folder (config.json, tokenizer.json, onnx/)")
    parser.add_argument("--variant", default="q8", choices=sorted(SUFFIX), help="which ONNX files to prepare (default q8)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the prepared graphs and manifest.json")
    parser.add_argument("--force", action="store_true", help="rebuild even when the manifest says it is up to date")
    args = parser.parse_args(argv)
    return run_and_report(args.out, lambda: prepare(args.source.resolve(), args.variant, args.out.resolve(), args.force))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
