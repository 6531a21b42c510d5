"""Silero VAD (v5, 16 kHz) wrapped in an ONNX `Scan` over frames.

Silero is a small recurrent model run on 32-ms frames one after another; run
from JavaScript that is one `session.run()` per frame (about 22,000 for ten
minutes of audio), and the call overhead costs more than the model. Inside
a Scan, one run covers a whole block of frames and carries the LSTM state
from frame to frame exactly as the per-frame loop does.

Model I/O: inputs `frames` [N, 576] (each row: the previous frame's last 64
samples, then the frame's 512), `initial_state` [2, 1, 128]; outputs
`probs` [N, 1, 1] and `final_state` [2, 1, 128]."""

from __future__ import annotations

import copy

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FRAME_WITH_CONTEXT = 576
SAMPLE_RATE = 16_000


def build_vad_scan(silero: onnx.ModelProto) -> onnx.ModelProto:
    graph = silero.graph
    names = [i.name for i in graph.input]
    if names[:3] != ["input", "state", "sr"] or [o.name for o in graph.output][:2] != ["output", "stateN"]:
        raise ValueError(f"not a Silero v5 model: inputs {names}, outputs {[o.name for o in graph.output]}")
    body = helper.make_graph([], "silero frame", [], [])
    body.input.extend(
        [
            helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [2, 1, 128]),
            helper.make_tensor_value_info("frame", TensorProto.FLOAT, [FRAME_WITH_CONTEXT]),
        ]
    )
    body.initializer.extend(
        [
            numpy_helper.from_array(np.array([0], dtype=np.int64), "frame/axes"),
            numpy_helper.from_array(np.array(SAMPLE_RATE, dtype=np.int64), "sr"),
        ]
    )
    body.node.append(helper.make_node("Unsqueeze", ["frame", "frame/axes"], ["input"], name="frame/batch"))
    body.node.append(helper.make_node("Identity", ["state_in"], ["state"], name="state/in"))
    body.node.extend(copy.deepcopy(list(graph.node)))
    body.node.append(helper.make_node("Identity", ["stateN"], ["state_next"], name="state/out"))
    body.node.append(helper.make_node("Identity", ["output"], ["prob"], name="prob/out"))
    body.output.extend(
        [
            helper.make_tensor_value_info("state_next", TensorProto.FLOAT, [2, 1, 128]),
            helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 1]),
        ]
    )
    scan = helper.make_node(
        "Scan", ["initial_state", "frames"], ["final_state", "probs"], name="silero/scan", num_scan_inputs=1, body=body
    )
    outer = helper.make_graph(
        [scan],
        "silero vad scan",
        [
            helper.make_tensor_value_info("frames", TensorProto.FLOAT, ["frames", FRAME_WITH_CONTEXT]),
            helper.make_tensor_value_info("initial_state", TensorProto.FLOAT, [2, 1, 128]),
        ],
        [
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["frames", 1, 1]),
            helper.make_tensor_value_info("final_state", TensorProto.FLOAT, [2, 1, 128]),
        ],
        initializer=copy.deepcopy(list(graph.initializer)),
    )
    model = helper.make_model(outer, opset_imports=list(silero.opset_import), producer_name="meno model-prep")
    model.ir_version = silero.ir_version
    return model
