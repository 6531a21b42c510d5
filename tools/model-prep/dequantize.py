"""Turns a dynamically quantized graph (ONNX Runtime's `quantize_dynamic`
output, as in the transformers.js q8 exports) back into float32:

- DynamicQuantizeLinear(x) → MatMulInteger(·, Wq) → Cast → Mul(scale)  becomes  MatMul(x, W)
- DynamicQuantizeLinear(x) → ConvInteger(·, Wq) → Cast → Mul(scale)    becomes  Conv(x, W)
- DequantizeLinear(Wq, scale, zp) of constants                          becomes  the constant W

with W = (Wq − zero_point) × scale, the exact weights the quantized graph
multiplies by. The float graph can then be pruned, fused and quantized again
with settings that suit ONNX Runtime's CPU kernels."""

from __future__ import annotations

import numpy as np
from onnx import GraphProto, NodeProto, helper

from onnx_graph import GraphIndex, remove_dead_nodes, set_initializer, unique_name


def _weight(q: np.ndarray, zero_point: np.ndarray | int, scale: np.ndarray, axis: int | None = None) -> np.ndarray:
    w = q.astype(np.float32) - np.asarray(zero_point, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    if scale.ndim == 1 and scale.size > 1 and axis is not None:
        shape = [1] * q.ndim
        shape[axis] = scale.size
        scale = scale.reshape(shape)
        if np.asarray(zero_point).ndim == 1:
            w = q.astype(np.float32) - np.asarray(zero_point, dtype=np.float32).reshape(shape)
    return (w * scale).astype(np.float32)


def _integer_chain(index: GraphIndex, node: NodeProto):
    """For MatMulInteger/ConvInteger: (float input, float weight, node whose output is the dequantized result, nodes to drop)."""
    quantizer = index.producer.get(node.input[0])
    if quantizer is None or quantizer.op_type != "DynamicQuantizeLinear":
        return None
    weight_q = index.constant(node.input[1])
    weight_zp = index.constant(node.input[3]) if len(node.input) > 3 and node.input[3] else 0
    if weight_q is None or weight_zp is None:
        return None
    cast = index.only_consumer(node.output[0])
    if cast is None or cast.op_type != "Cast":
        return None
    mul = index.only_consumer(cast.output[0])
    if mul is None or mul.op_type != "Mul":
        return None
    scales_name = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
    scales = index.producer.get(scales_name)
    if scales is None or scales.op_type != "Mul" or quantizer.output[1] not in scales.input:
        return None
    weight_scale_name = scales.input[1] if scales.input[0] == quantizer.output[1] else scales.input[0]
    weight_scale = index.constant(weight_scale_name)
    if weight_scale is None:
        return None
    # MatMul weights are [K, N] with per-column scales; Conv weights [M, C, k] with per-output-channel scales.
    axis = 1 if node.op_type == "MatMulInteger" else 0
    return quantizer.input[0], _weight(weight_q, weight_zp, weight_scale, axis), mul, [node, cast, mul]


def _constant_or_transposed(index: GraphIndex, name: str) -> np.ndarray | None:
    """A constant, or a Transpose of one (how the exports store the tied output head: Transpose(Wq) → DequantizeLinear)."""
    value = index.constant(name)
    if value is not None:
        return value
    node = index.producer.get(name)
    if node is None or node.op_type != "Transpose":
        return None
    source = index.constant(node.input[0])
    if source is None:
        return None
    perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
    return np.transpose(source, perm)


def dequantize_graph(graph: GraphProto) -> dict[str, int]:
    """Rewrites `graph` in place (not its subgraphs) as described in the module doc. Returns counts per rewrite."""
    index = GraphIndex(graph)
    counts = {"MatMulInteger": 0, "ConvInteger": 0, "DequantizeLinear": 0}
    replaced: dict[int, list[NodeProto]] = {}
    drop: set[int] = set()
    for position, node in enumerate(graph.node):
        if node.op_type in ("MatMulInteger", "ConvInteger"):
            chain = _integer_chain(index, node)
            if chain is None:
                continue
            x, weight, last, nodes = chain
            base = node.name.removesuffix("_quant") or node.op_type.removesuffix("Integer")
            weight_name = unique_name(graph, f"{base}.weight_fp32")
            set_initializer(graph, weight_name, weight)
            if node.op_type == "MatMulInteger":
                new = helper.make_node("MatMul", [x, weight_name], [last.output[0]], name=base)
            else:
                new = helper.make_node("Conv", [x, weight_name], [last.output[0]], name=base)
                new.attribute.extend(node.attribute)
            replaced[position] = [new]
            drop.update(id(n) for n in nodes)
            counts[node.op_type] += 1
        elif node.op_type == "DequantizeLinear":
            q = _constant_or_transposed(index, node.input[0])
            scale = index.constant(node.input[1])
            zp = index.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
            if q is None or scale is None or zp is None:
                continue
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            set_initializer(graph, node.output[0], _weight(q, zp, scale, axis if axis >= 0 else q.ndim + axis))
            drop.add(id(node))
            counts["DequantizeLinear"] += 1
    nodes: list[NodeProto] = []
    for position, node in enumerate(graph.node):
        nodes.extend(replaced.get(position, []))
        if id(node) not in drop and position not in replaced:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    remove_dead_nodes(graph)
    return counts


def remaining_integer_ops(graph: GraphProto) -> list[str]:
    """Quantization ops still in `graph` after dequantizing (the recipe refuses to go on if any are left).

    A DequantizeLinear right after a Gather from a constant table is fine and
    stays: it dequantizes only the looked-up rows of the token embedding."""
    index = GraphIndex(graph)
    ops = {"MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "DequantizeLinear", "QuantizeLinear"}
    left = set()
    for node in graph.node:
        if node.op_type not in ops:
            continue
        source = index.producer.get(node.input[0])
        if node.op_type == "DequantizeLinear" and source is not None and source.op_type == "Gather" and index.constant(source.input[0]) is not None:
            continue
        left.add(node.op_type)
    return sorted(left)
