"""The merged Whisper decoder (Optimum / transformers.js layout: one `If` on
`use_cache_branch` whose branches are the decoder without and with a KV
cache) taken apart into two plain models, and put back together.

Splitting lets every pass work on flat graphs; merging again keeps the file
and tensor names the engine already uses, shares the weights of both
branches once, and gives the with-cache branch empty constants for the
cross-attention presents (`present.*.encoder.*`) instead of a copy of the
cache it was handed, which some exports make on every step."""

from __future__ import annotations

import copy
import re

import numpy as np
import onnx
from onnx import ModelProto, TensorProto, helper, numpy_helper

from onnx_graph import hoist_shared_initializers, remove_dead_nodes, rename_values

PAST = re.compile(r"^past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$")
PRESENT = re.compile(r"^present\.(\d+)\.(decoder|encoder)\.(key|value)$")
CACHE_FLAG = "use_cache_branch"


def split_merged_decoder(model: ModelProto) -> tuple[ModelProto, ModelProto]:
    """(decoder without cache, decoder with cache) as standalone models.

    The first takes input_ids and encoder_hidden_states and returns logits and
    every present; the second takes the past cache too and returns logits and
    the self-attention presents only (its cross-attention presents would be
    the past it was given)."""
    graph = model.graph
    branches = [n for n in graph.node if n.op_type == "If"]
    if len(branches) != 1 or branches[0].input[0] != CACHE_FLAG:
        raise ValueError("not a merged decoder: expected one If node on use_cache_branch")
    switch = branches[0]
    shared_nodes = [n for n in graph.node if n is not switch]
    parts = {a.name: a.g for a in switch.attribute}
    result = []
    for branch_name, with_past in (("else_branch", False), ("then_branch", True)):
        branch = parts[branch_name]
        g = helper.make_graph([], f"decoder{'_with_past' if with_past else ''}", [], [])
        g.node.extend(copy.deepcopy(shared_nodes))
        g.node.extend(copy.deepcopy(list(branch.node)))
        g.initializer.extend(copy.deepcopy(list(graph.initializer)))
        g.initializer.extend(copy.deepcopy(list(branch.initializer)))
        # Branch outputs are positional: rename them to the If node's output names.
        rename_values(g, {b.name: outer for b, outer in zip(branch.output, switch.output) if b.name != outer})
        outputs = {o.name: o for o in graph.output}
        for name in switch.output:
            match = PRESENT.match(name)
            if with_past and match and match.group(2) == "encoder":
                continue
            g.output.append(copy.deepcopy(outputs[name]))
        g.input.extend(copy.deepcopy([i for i in graph.input if i.name != CACHE_FLAG]))
        remove_dead_nodes(g)
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        unused_inputs = [i for i in g.input if i.name not in used]
        for value in unused_inputs:
            g.input.remove(value)
        result.append(_model_like(model, g))
    return result[0], result[1]


def _model_like(template: ModelProto, graph: onnx.GraphProto) -> ModelProto:
    model = helper.make_model(graph, opset_imports=list(template.opset_import), producer_name="meno model-prep")
    model.ir_version = template.ir_version
    return model


def merge_decoders(no_past: ModelProto, with_past: ModelProto, reference: ModelProto) -> ModelProto:
    """The merged decoder again, with `reference`'s inputs and outputs (names,
    order, types). Weights the two branches share are stored once."""
    ref = reference.graph
    outputs = [o.name for o in ref.output]
    then_graph = _as_branch(with_past.graph, outputs, ref, cache_branch=True)
    else_graph = _as_branch(no_past.graph, outputs, ref, cache_branch=False)
    graph = helper.make_graph([], "decoder_merged", copy.deepcopy(list(ref.input)), copy.deepcopy(list(ref.output)))
    hoist_shared_initializers(graph, [then_graph, else_graph])
    graph.node.append(
        helper.make_node("If", [CACHE_FLAG], outputs, name="optimum::if", then_branch=then_graph, else_branch=else_graph)
    )
    opsets = {o.domain: o.version for o in list(no_past.opset_import) + list(with_past.opset_import)}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())], producer_name="meno model-prep")
    model.ir_version = max(no_past.ir_version, with_past.ir_version)
    return model


def _as_branch(graph: onnx.GraphProto, outputs: list[str], ref: onnx.GraphProto, cache_branch: bool) -> onnx.GraphProto:
    """A copy of `graph` as an If branch: no inputs (it reads the outer ones),
    outputs in `outputs` order, missing cross-attention presents as empty constants."""
    branch = copy.deepcopy(graph)
    branch.name = "with_past" if cache_branch else "no_past"
    del branch.input[:]
    have = {o.name: o for o in branch.output}
    ref_outputs = {o.name: o for o in ref.output}
    del branch.output[:]
    for name in outputs:
        if name in have:
            branch.output.append(have[name])
            continue
        if not cache_branch or not (PRESENT.match(name) and PRESENT.match(name).group(2) == "encoder"):
            raise ValueError(f"decoder branch lacks output {name}")
        # The caller keeps the cross-attention cache from the first step; never copy it back out.
        elem = ref_outputs[name].type.tensor_type.elem_type
        dtype = np.float16 if elem == TensorProto.FLOAT16 else np.float32
        local = f"{name}.empty"
        branch.node.append(
            helper.make_node("Constant", [], [local], name=f"{name}/empty", value=numpy_helper.from_array(np.zeros((0, 0, 0, 0), dtype), local))
        )
        branch.output.append(helper.make_tensor_value_info(local, elem, [0, 0, 0, 0]))
    return branch


def cut_cross_projection(no_past: onnx.GraphProto) -> tuple[onnx.GraphProto, onnx.GraphProto]:
    """(projector, prompt decoder) from the cache-less decoder.

    The projector maps encoder_hidden_states to every layer's cross-attention
    keys and values (`present.{i}.encoder.{key,value}`), the costly part of a
    first pass. The prompt decoder takes those as inputs of the same names
    instead of computing them, so one projection serves several passes."""
    cross = [o.name for o in no_past.output if (m := PRESENT.match(o.name)) and m.group(2) == "encoder"]
    if not cross:
        raise ValueError("the cache-less decoder has no cross-attention presents")
    projector = copy.deepcopy(no_past)
    projector.name = "cross-attention projector"
    keep = [o for o in projector.output if o.name in cross]
    del projector.output[:]
    projector.output.extend(keep)
    remove_dead_nodes(projector)
    _drop_unused_inputs(projector)

    decoder = copy.deepcopy(no_past)
    decoder.name = "prompt decoder"
    cross_outputs = {o.name: o for o in decoder.output if o.name in cross}
    for name in cross:
        decoder.output.remove(cross_outputs[name])
    for node in list(decoder.node):
        if any(o in cross for o in node.output):
            if any(o not in cross for o in node.output if o):
                raise ValueError(f"node {node.name} makes a cross-attention present and other values")
            decoder.node.remove(node)
    decoder.input.extend(cross_outputs[name] for name in cross)
    remove_dead_nodes(decoder)
    _drop_unused_inputs(decoder)
    leftover = [n.name for n in decoder.node if "encoder_attn/k_proj" in n.name or "encoder_attn/v_proj" in n.name]
    if leftover:
        raise ValueError(f"cross-attention projections still in the prompt decoder: {leftover[:3]}")
    return projector, decoder


def _drop_unused_inputs(graph: onnx.GraphProto) -> None:
    used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for value in [i for i in graph.input if i.name not in used]:
        graph.input.remove(value)
