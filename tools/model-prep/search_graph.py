"""One ONNX graph that decodes whole 30-s windows: ONNX Runtime's
`com.microsoft.WhisperBeamSearch` around the prepared decoder.

With the decode loop inside ONNX Runtime a window costs one `run()` instead
of one per token, and on a GPU the KV cache never leaves the device (the
Node binding cannot keep CUDA tensors between runs).

The graph takes the encoder's output, so the engine keeps its own encoder
run (the temperature fallback, a step loop, needs the hidden states too).
Around the operator the graph does what the engine would otherwise do in
extra decoder passes:
  1. project the encoder output to every layer's cross-attention keys and
     values, once (the costly part of a first decoder pass);
  2. run the decoder on <|startoftranscript|> alone: its softmax gives
     Whisper's no-speech probability and, where the prompt holds -1 instead
     of a language token, the most likely language (OpenAI's detect_language);
  3. hand the projected cache to the operator, whose "encoder" subgraph is
     the decoder's pass over the prompt and whose "decoder" subgraph is the
     cached single-token step.
Tokens that Whisper never samples (suppress_tokens, the control tokens,
<|notimestamps|>) get -inf logits inside both subgraphs, so that the
operator's log-softmax, like OpenAI's, spreads the probability over the
tokens that may be sampled. The operator applies the timestamp rules itself;
its per-step masks are not renormalised, so the sequence score is a little
lower than OpenAI's sum of log-probabilities where those rules cut mass.

Subgraph contract (onnxruntime/contrib_ops/cpu/transformers/subgraph_whisper_*.cc):
- encoder: inputs `encoder_input_ids`, `decoder_input_ids` (int32); outputs
  `logits`, `encoder_hidden_states` (unused when the decoder does not read it),
  then `present_{key,value}_self_{i}` for every layer, then
  `present_{key,value}_cross_{i}` for every layer.
- decoder: inputs `input_ids` (int32, [B, 1]), `past_{key,value}_self_{i}`, then
  `past_{key,value}_cross_{i}`; outputs `logits`, `present_{key,value}_self_{i}`.
  Presents replace the first 2 × layers pasts, so self-attention caches come first.
ONNX Runtime hands both subgraphs all of the operator's outer-scope values,
so only weights both subgraphs read live outside them."""

from __future__ import annotations

import copy

import numpy as np
from onnx import GraphProto, ModelProto, TensorProto, helper, numpy_helper

from decoder_graphs import PAST, PRESENT, cut_cross_projection
from onnx_graph import absorb_graph, hoist_shared_initializers, remove_dead_nodes, rename_values

OPERATOR_INPUTS = [
    "cross_cache",
    "max_length",
    "min_length",
    "num_beams",
    "num_return_sequences",
    "length_penalty",
    "repetition_penalty",
    "vocab_mask",
    "prefix_vocab_mask",
    "",  # attention_mask
    "prompt_ids",
    "logits_processor",
]


def _cache_name(kind: str, direction: str, layer: int, key_or_value: str) -> str:
    """`present_key_self_0`, `past_value_cross_3`, …"""
    return f"{direction}_{key_or_value}_{'self' if kind == 'decoder' else 'cross'}_{layer}"


def _cross_order(layers: int) -> list[tuple[int, str]]:
    return [(i, kv) for i in range(layers) for kv in ("key", "value")]


def _elem_type(graph: GraphProto, name: str) -> int:
    for value in list(graph.input) + list(graph.output):
        if value.name == name:
            return value.type.tensor_type.elem_type
    raise KeyError(name)


def _add_logit_bias(graph: GraphProto, bias_name: str) -> None:
    """logits ← logits + bias (bias is -inf on tokens never sampled)."""
    producer = next(n for n in graph.node if "logits" in n.output)
    producer.output[list(producer.output).index("logits")] = "logits_unmasked"
    graph.node.append(helper.make_node("Add", ["logits_unmasked", bias_name], ["logits"], name="logits/suppress"))


def _split_node(inputs: str, outputs: list[str], sizes: list[int], opset: int, graph: GraphProto) -> None:
    if opset >= 13:
        graph.initializer.append(numpy_helper.from_array(np.array(sizes, dtype=np.int64), "cross_cache/split_sizes"))
        graph.node.append(helper.make_node("Split", [inputs, "cross_cache/split_sizes"], outputs, name="cross_cache/split", axis=1))
    else:
        graph.node.append(helper.make_node("Split", [inputs], outputs, name="cross_cache/split", axis=1, split=sizes))


def _init_subgraph(prompt_decoder: GraphProto, layers: int, heads: int, head_size: int, vocab: int, opset: int) -> GraphProto:
    """The operator's "encoder": unpack the cross cache, run the decoder over the prompt."""
    g = copy.deepcopy(prompt_decoder)
    g.name = "prompt subgraph"
    float_type = _elem_type(g, "logits")
    renames = {"input_ids": "input_ids_int64"}
    for i, kv in _cross_order(layers):
        renames[f"present.{i}.encoder.{kv}"] = _cache_name("encoder", "present", i, kv)
    for o in g.output:
        m = PRESENT.match(o.name)
        if m:
            renames[o.name] = _cache_name(m.group(2), "present", int(m.group(1)), m.group(3))
    rename_values(g, renames)
    del g.input[:]
    g.input.extend(
        [
            helper.make_tensor_value_info("encoder_input_ids", float_type, ["batch_size", "packed_length", head_size]),
            helper.make_tensor_value_info("decoder_input_ids", TensorProto.INT32, ["batch_size", "initial_sequence_length"]),
        ]
    )
    head = [
        helper.make_node("Cast", ["decoder_input_ids"], ["input_ids_int64"], name="decoder_input_ids/cast", to=TensorProto.INT64),
        helper.make_node("Reshape", ["encoder_input_ids", "cross_cache/shape"], ["cross_cache/unpacked"], name="cross_cache/unpack"),
    ]
    g.initializer.append(numpy_helper.from_array(np.array([0, 2 * layers * heads, -1, head_size], dtype=np.int64), "cross_cache/shape"))
    # The operator requires this output; nothing reads it when the step subgraph takes no encoder_hidden_states.
    unused = numpy_helper.from_array(np.zeros((1, 1, 1), dtype=np.float16 if float_type == TensorProto.FLOAT16 else np.float32), "unused")
    head.append(helper.make_node("Constant", [], ["encoder_hidden_states"], name="encoder_hidden_states/unused", value=unused))
    cross = [_cache_name("encoder", "present", i, kv) for i, kv in _cross_order(layers)]
    tail = GraphProto()
    _split_node("cross_cache/unpacked", cross, [heads] * len(cross), opset, tail)
    g.initializer.extend(tail.initializer)
    nodes = head + list(tail.node) + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("logits", float_type, ["batch_size", "initial_sequence_length", vocab]))
    g.output.append(helper.make_tensor_value_info("encoder_hidden_states", float_type, [1, 1, 1]))
    for i, kv in _cross_order(layers):
        g.output.append(helper.make_tensor_value_info(_cache_name("decoder", "present", i, kv), float_type, ["batch_size", heads, "initial_sequence_length", head_size]))
    for name in cross:
        g.output.append(helper.make_tensor_value_info(name, float_type, ["batch_size", heads, "encode_sequence_length", head_size]))
    return g


def _step_subgraph(with_past: GraphProto, layers: int, heads: int, head_size: int, vocab: int) -> GraphProto:
    """The operator's "decoder": the cached single-token step."""
    g = copy.deepcopy(with_past)
    g.name = "step subgraph"
    if any(i.name == "encoder_hidden_states" for i in g.input):
        raise ValueError("the cached decoder step reads encoder_hidden_states; expected it to use the cross-attention cache only")
    float_type = _elem_type(g, "logits")
    renames = {"input_ids": "input_ids_int64"}
    for value in list(g.input) + list(g.output):
        m = PAST.match(value.name) or PRESENT.match(value.name)
        if m:
            direction = "past" if value.name.startswith("past") else "present"
            renames[value.name] = _cache_name(m.group(2), direction, int(m.group(1)), m.group(3))
    rename_values(g, renames)
    g.node.insert(0, helper.make_node("Cast", ["input_ids"], ["input_ids_int64"], name="input_ids/cast", to=TensorProto.INT64))
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch_size", 1]))
    for kind in ("decoder", "encoder"):
        length = "past_sequence_length" if kind == "decoder" else "encode_sequence_length"
        for i, kv in _cross_order(layers):
            g.input.append(helper.make_tensor_value_info(_cache_name(kind, "past", i, kv), float_type, ["batch_size", heads, length, head_size]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("logits", float_type, ["batch_size", 1, vocab]))
    for i, kv in _cross_order(layers):
        g.output.append(helper.make_tensor_value_info(_cache_name("decoder", "present", i, kv), float_type, ["batch_size", heads, "total_sequence_length", head_size]))
    remove_dead_nodes(g)
    return g


def _suppress_bias(tokens: dict[str, int], suppress: list[int], vocab: int, float_type: int) -> np.ndarray:
    never = set(suppress) | {tokens[k] for k in ("decoder_start", "translate", "transcribe", "start_of_lm", "start_of_prev", "no_speech", "no_timestamps")}
    bias = np.zeros(vocab, dtype=np.float16 if float_type == TensorProto.FLOAT16 else np.float32)
    bias[[t for t in sorted(never) if 0 <= t < vocab]] = -np.inf
    return bias


def build_search_model(
    no_past: ModelProto, with_past: ModelProto, tokens: dict[str, int], suppress: list[int], heads: int, head_size: int, vocab: int
) -> ModelProto:
    """The decode-loop model over the prepared decoder halves.

    `tokens`: eos, pad, decoder_start, translate, transcribe, start_of_lm,
    start_of_prev, no_speech, no_timestamps, timestamp_begin token ids;
    `suppress`: generation_config's suppress_tokens."""
    opset = next(o.version for o in no_past.opset_import if o.domain in ("", "ai.onnx"))
    projector, prompt_decoder = cut_cross_projection(no_past.graph)
    layers = sum(1 for o in projector.output) // 2
    float_type = _elem_type(prompt_decoder, "logits")

    init = _init_subgraph(prompt_decoder, layers, heads, head_size, vocab, opset)
    step = _step_subgraph(with_past.graph, layers, heads, head_size, vocab)
    bias = _suppress_bias(tokens, suppress, vocab, float_type)
    for sub in (init, step):
        sub.initializer.append(numpy_helper.from_array(bias, "suppress_bias"))
        _add_logit_bias(sub, "suppress_bias")

    graph = helper.make_graph([], "whisper decode loop", [], [])
    hoist_shared_initializers(graph, [init, step], only_common=True)

    # <|startoftranscript|> for every row (the exports read the batch size from input_ids too).
    nodes = [
        helper.make_node("Shape", ["encoder_output"], ["sot/encoder_shape"], name="sot/shape"),
        helper.make_node("Gather", ["sot/encoder_shape", "sot/zero"], ["sot/batch"], name="sot/batch", axis=0),
        helper.make_node("Concat", ["sot/batch", "sot/one"], ["sot/ids_shape"], name="sot/ids_shape", axis=0),
        helper.make_node(
            "ConstantOfShape", ["sot/ids_shape"], ["sot/input_ids"], name="sot/ids",
            value=numpy_helper.from_array(np.array([tokens["decoder_start"]], dtype=np.int64)),
        ),
    ]
    graph.initializer.extend(
        [numpy_helper.from_array(np.array([0], dtype=np.int64), "sot/zero"), numpy_helper.from_array(np.array([1], dtype=np.int64), "sot/one")]
    )
    graph.node.extend(nodes)
    # 1. Cross-attention cache, projected once.
    inputs_of_projector = {"encoder_hidden_states": "encoder_output", "input_ids": "sot/input_ids"}
    cross = absorb_graph(graph, projector, "cross/", {i.name: inputs_of_projector[i.name] for i in projector.input})
    cross_values = [cross[f"present.{i}.encoder.{kv}"] for i, kv in _cross_order(layers)]
    # 2. The pass over <|startoftranscript|>: no-speech probability and language.
    first = absorb_graph(
        graph,
        _logits_only(prompt_decoder),
        "sot/",
        {"input_ids": "sot/input_ids", **{f"present.{i}.encoder.{kv}": v for (i, kv), v in zip(_cross_order(layers), cross_values)}},
    )
    sot_logits = first["logits"]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array([tokens["no_speech"]], dtype=np.int64), "sot/no_speech_token"),
            numpy_helper.from_array(np.array([0, -1], dtype=np.int64), "sot/rows"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Cast", [sot_logits], ["sot/logits_float"], name="sot/logits_float", to=TensorProto.FLOAT),
            helper.make_node("Softmax", ["sot/logits_float"], ["sot/probs"], name="sot/softmax", axis=-1),
            helper.make_node("Gather", ["sot/probs", "sot/no_speech_token"], ["sot/no_speech"], name="sot/no_speech", axis=2),
            helper.make_node("Reshape", ["sot/no_speech", "sot/rows"], ["no_speech_probs_2d"], name="sot/no_speech_rows"),
            helper.make_node("Squeeze", ["no_speech_probs_2d"], ["no_speech_probs"], name="sot/no_speech_flat", axes=[1])
            if opset < 13
            else helper.make_node("Squeeze", ["no_speech_probs_2d", "sot/one"], ["no_speech_probs"], name="sot/no_speech_flat"),
            helper.make_node("Gather", ["sot/logits_float", "language_tokens"], ["sot/language_logits"], name="sot/language_logits", axis=2),
            helper.make_node("ArgMax", ["sot/language_logits"], ["sot/language_index"], name="sot/language_argmax", axis=2, keepdims=0),
            helper.make_node("Gather", ["language_tokens", "sot/language_index"], ["sot/language_rows"], name="sot/language", axis=0),
            helper.make_node("Reshape", ["sot/language_rows", "sot/flat"], ["detected_language"], name="sot/language_flat"),
            # A prompt position holding -1 takes the detected language token.
            helper.make_node("Less", ["decoder_input_ids", "prompt/zero"], ["prompt/detect"], name="prompt/detect"),
            helper.make_node("Shape", ["decoder_input_ids"], ["prompt/shape"], name="prompt/shape"),
            helper.make_node("Expand", ["sot/language_rows", "prompt/shape"], ["prompt/language"], name="prompt/language"),
            helper.make_node("Where", ["prompt/detect", "prompt/language", "decoder_input_ids"], ["prompt_ids"], name="prompt/ids"),
        ]
    )
    graph.initializer.extend(
        [numpy_helper.from_array(np.array(0, dtype=np.int32), "prompt/zero"), numpy_helper.from_array(np.array([-1], dtype=np.int64), "sot/flat")]
    )
    # 3. The cache, packed into the operator's one encoder input, and the operator.
    graph.initializer.append(numpy_helper.from_array(np.array([0, -1, head_size], dtype=np.int64), "cross_cache/packed_shape"))
    graph.node.extend(
        [
            helper.make_node("Concat", cross_values, ["cross_cache/stacked"], name="cross_cache/concat", axis=1),
            helper.make_node("Reshape", ["cross_cache/stacked", "cross_cache/packed_shape"], ["cross_cache"], name="cross_cache/pack"),
        ]
    )
    inputs = list(OPERATOR_INPUTS)
    half = float_type == TensorProto.FLOAT16
    if half:
        # The operator reads its float scalars in the model's precision.
        for name in ("length_penalty", "repetition_penalty"):
            graph.node.append(helper.make_node("Cast", [name], [f"{name}_fp16"], name=f"{name}/cast", to=TensorProto.FLOAT16))
            inputs[inputs.index(name)] = f"{name}_fp16"
    graph.node.append(
        helper.make_node(
            "WhisperBeamSearch",
            inputs,
            ["sequences", "sequences_scores"],
            name="WhisperBeamSearch",
            domain="com.microsoft",
            eos_token_id=tokens["eos"],
            pad_token_id=tokens["pad"],
            decoder_start_token_id=tokens["decoder_start"],
            translate_token_id=tokens["translate"],
            transcribe_token_id=tokens["transcribe"],
            start_of_lm_token_id=tokens["start_of_lm"],
            no_timestamps_token_id=tokens["no_timestamps"],
            beginning_timestamp_token_id=tokens["timestamp_begin"],
            no_repeat_ngram_size=0,
            early_stopping=1,
            model_type=2,
            vocab_size=vocab,
            decoder=step,
            encoder=init,
        )
    )
    graph.input.extend(
        [
            helper.make_tensor_value_info("encoder_output", float_type, ["batch_size", "encode_sequence_length", heads * head_size]),
            helper.make_tensor_value_info("decoder_input_ids", TensorProto.INT32, ["batch_size", "initial_sequence_length"]),
            helper.make_tensor_value_info("language_tokens", TensorProto.INT32, ["languages"]),
            helper.make_tensor_value_info("max_length", TensorProto.INT32, [1]),
            helper.make_tensor_value_info("min_length", TensorProto.INT32, [1]),
            helper.make_tensor_value_info("num_beams", TensorProto.INT32, [1]),
            helper.make_tensor_value_info("num_return_sequences", TensorProto.INT32, [1]),
            helper.make_tensor_value_info("length_penalty", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("repetition_penalty", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("vocab_mask", TensorProto.INT32, [vocab]),
            helper.make_tensor_value_info("prefix_vocab_mask", TensorProto.INT32, ["batch_size", vocab]),
            helper.make_tensor_value_info("logits_processor", TensorProto.INT32, [1]),
        ]
    )
    graph.output.extend(
        [
            helper.make_tensor_value_info("sequences", TensorProto.INT32, ["batch_size", "num_return_sequences", "max_length"]),
            helper.make_tensor_value_info("sequences_scores", float_type, ["batch_size", "num_return_sequences"]),
            helper.make_tensor_value_info("no_speech_probs", TensorProto.FLOAT, ["batch_size"]),
            helper.make_tensor_value_info("detected_language", TensorProto.INT32, ["batch_size"]),
        ]
    )
    opsets = {o.domain: o.version for o in list(no_past.opset_import) + list(with_past.opset_import)}
    opsets["com.microsoft"] = 1
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())], producer_name="meno model-prep")
    model.ir_version = max(no_past.ir_version, with_past.ir_version)
    return model


def _logits_only(prompt_decoder: GraphProto) -> GraphProto:
    g = copy.deepcopy(prompt_decoder)
    keep = [o for o in g.output if o.name == "logits"]
    del g.output[:]
    g.output.extend(keep)
    remove_dead_nodes(g)
    return g
