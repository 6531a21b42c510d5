"""Fuses each self-attention block of the Whisper encoder into ONNX Runtime's
`com.microsoft.MultiHeadAttention`.

The exported block is q/k/v projections, a dozen Reshape/Transpose nodes
with their Shape/Gather/Concat arithmetic, MatMul, Softmax, MatMul and the
inverse reshapes; ONNX Runtime's own optimizer does not recognise it in
these exports. One fused node runs the same arithmetic with one kernel and
never materialises the [B, heads, 1500, 1500] probabilities as a graph value.

Blocks are found by the projection names every Hugging Face export keeps
(`…/self_attn/{q,k,v,out}_proj/MatMul`), then checked structurally; a block
that does not look exactly as expected is left alone and reported."""

from __future__ import annotations

import re

import numpy as np
from onnx import GraphProto, NodeProto, helper

from onnx_graph import GraphIndex, remove_dead_nodes, set_initializer

PROJECTION = re.compile(r"^(?P<block>.*self_attn)/(?P<proj>q|k|v|out)_proj/MatMul$")


def _bias_add(index: GraphIndex, matmul: NodeProto) -> tuple[NodeProto | None, np.ndarray | None]:
    """The Add that puts a constant bias on a projection's output, if any."""
    add = index.only_consumer(matmul.output[0])
    if add is None or add.op_type != "Add":
        return None, None
    other = add.input[0] if add.input[1] == matmul.output[0] else add.input[1]
    bias = index.constant(other)
    return (add, bias) if bias is not None else (None, None)


def fuse_encoder_attention(graph: GraphProto, num_heads: int) -> dict[str, list[str]]:
    """Rewrites `graph` in place. Returns the blocks fused and the ones skipped (with why)."""
    index = GraphIndex(graph)
    blocks: dict[str, dict[str, NodeProto]] = {}
    for node in graph.node:
        match = PROJECTION.match(node.name)
        if match and node.op_type == "MatMul":
            blocks.setdefault(match["block"], {})[match["proj"]] = node
    report: dict[str, list[str]] = {"fused": [], "skipped": []}
    for block, proj in sorted(blocks.items()):
        reason = _fuse_block(graph, index, block, proj, num_heads)
        if reason:
            report["skipped"].append(f"{block}: {reason}")
        else:
            report["fused"].append(block)
            index.refresh()
    if report["fused"]:
        remove_dead_nodes(graph)
    return report


def _fuse_block(graph: GraphProto, index: GraphIndex, block: str, proj: dict[str, NodeProto], num_heads: int) -> str | None:
    if set(proj) != {"q", "k", "v", "out"}:
        return f"projections found: {sorted(proj)}"
    q, k, v, out = proj["q"], proj["k"], proj["v"], proj["out"]
    if not (q.input[0] == k.input[0] == v.input[0]):
        return "q, k and v do not read the same input"
    hidden = index.constant(q.input[1])
    if hidden is None:
        return "q projection weight is not a constant"
    hidden_size = hidden.shape[1]
    if hidden_size % num_heads:
        return f"hidden size {hidden_size} is not a multiple of {num_heads} heads"

    q_add, q_bias = _bias_add(index, q)
    if q_add is None:
        return "no bias on the q projection"
    scale_mul = index.only_consumer(q_add.output[0])
    scale = None
    if scale_mul is not None and scale_mul.op_type == "Mul":
        other = scale_mul.input[0] if scale_mul.input[1] == q_add.output[0] else scale_mul.input[1]
        value = index.constant(other)
        scale = float(value) if value is not None and value.size == 1 else None
    if scale is None:
        return "q is not scaled by a constant after its bias"
    _, k_bias = _bias_add(index, k)
    _, v_bias = _bias_add(index, v)
    # The fused bias must be in the graph's precision (float16 exports keep float16 constants).
    dtype = q_bias.dtype
    zeros = np.zeros(hidden_size, dtype=dtype)
    bias = np.concatenate([q_bias, k_bias if k_bias is not None else zeros, v_bias if v_bias is not None else zeros]).astype(dtype)
    bias_name = f"{block}/qkv_bias"
    set_initializer(graph, bias_name, bias)
    fused_out = f"{block}/MultiHeadAttention_output_0"
    mha = helper.make_node(
        "MultiHeadAttention",
        [q.output[0], k.output[0], v.output[0], bias_name],
        [fused_out],
        name=f"{block}/MultiHeadAttention",
        domain="com.microsoft",
        num_heads=num_heads,
        scale=scale,
    )
    # Insert right before the output projection, which now reads the fused result.
    position = list(graph.node).index(out)
    graph.node.insert(position, mha)
    out.input[0] = fused_out
    return None
