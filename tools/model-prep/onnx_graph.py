"""Small, dependency-free helpers for editing ONNX graphs in place: who
produces and who consumes a value, constant lookup, dead-node removal and
initializer sharing between subgraphs. Every pass of the recipe builds on
these, so that the passes themselves read as the transformation they make."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import onnx
from onnx import GraphProto, NodeProto, TensorProto, helper, numpy_helper


class GraphIndex:
    """Producer/consumer maps and initializers of one graph, rebuilt on demand
    after an edit (`refresh()`); cheap enough for graphs of a few thousand nodes."""

    def __init__(self, graph: GraphProto):
        self.graph = graph
        self.refresh()

    def refresh(self) -> None:
        self.producer: dict[str, NodeProto] = {}
        self.consumers: dict[str, list[NodeProto]] = {}
        for node in self.graph.node:
            for name in node.output:
                if name:
                    self.producer[name] = node
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        self.initializers: dict[str, TensorProto] = {t.name: t for t in self.graph.initializer}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of `name` when it is an initializer or a Constant node's output, else None."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None

    def only_consumer(self, name: str) -> NodeProto | None:
        nodes = self.consumers.get(name, [])
        return nodes[0] if len(nodes) == 1 else None


def remove_dead_nodes(graph: GraphProto, keep: Iterable[str] = ()) -> int:
    """Drops nodes whose outputs reach no graph output (nor `keep`), and
    initializers nothing reads. Subgraph references to outer names count as
    uses. Returns how many nodes were removed."""
    needed = {o.name for o in graph.output} | set(keep)
    alive: list[NodeProto] = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output if o):
            alive.append(node)
            needed.update(i for i in node.input if i)
            needed.update(outer_references(node))
    removed = len(graph.node) - len(alive)
    alive.reverse()
    del graph.node[:]
    graph.node.extend(alive)
    unused = [t for t in graph.initializer if t.name not in needed]
    for tensor in unused:
        graph.initializer.remove(tensor)
    return removed


def outer_references(node: NodeProto) -> set[str]:
    """Names a node's subgraphs (If branches, Loop bodies, BeamSearch graphs) read from enclosing scopes."""
    names: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in graphs:
            local = {i.name for i in sub.input} | {t.name for t in sub.initializer}
            local |= {o for n in sub.node for o in n.output}
            for inner in sub.node:
                names.update(i for i in inner.input if i and i not in local)
                names.update(n for n in outer_references(inner) if n not in local)
    return names


def tensor_digest(tensor: TensorProto) -> str:
    """Content hash of a tensor (type, dims and bytes), independent of its name."""
    array = numpy_helper.to_array(tensor)
    h = hashlib.sha256()
    h.update(str((tensor.data_type, tuple(tensor.dims))).encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def hoist_shared_initializers(outer: GraphProto, subgraphs: list[GraphProto], only_common: bool = False) -> int:
    """Moves the initializers of the subgraphs into `outer`, storing each
    distinct tensor (by content) once, so that two subgraphs made from the
    same weights share one copy. With `only_common`, only tensors every
    subgraph holds move; the rest stay local (ONNX Runtime's generation ops
    hand each subgraph all of the node's outer-scope inputs, so both must
    read the same set). Returns the bytes saved by sharing."""
    digests = [{tensor_digest(t): t.name for t in sub.initializer} for sub in subgraphs]
    common = set.intersection(*(set(d) for d in digests)) if only_common else None
    by_digest: dict[str, str] = {}
    taken = {t.name for t in outer.initializer} | {i.name for i in outer.input}
    taken |= {o for sub in subgraphs for n in sub.node for o in n.output}
    taken |= {t.name for sub in subgraphs for t in sub.initializer}
    saved = 0
    for index, sub in enumerate(subgraphs):
        renames: dict[str, str] = {}
        for tensor in list(sub.initializer):
            digest = tensor_digest(tensor)
            if common is not None and digest not in common:
                continue
            sub.initializer.remove(tensor)
            if digest in by_digest:
                saved += len(tensor.raw_data) or numpy_helper.to_array(tensor).nbytes
                renames[tensor.name] = by_digest[digest]
                continue
            name = f"shared::{tensor.name}"
            while name in taken:
                name += "_"
            taken.add(name)
            by_digest[digest] = name
            renames[tensor.name] = name
            tensor.name = name
            outer.initializer.append(tensor)
        rename_values(sub, renames)
    return saved


def rename_values(graph: GraphProto, renames: dict[str, str]) -> None:
    """Renames values everywhere in `graph` (node inputs/outputs, graph inputs/outputs), subgraphs included."""
    if not renames:
        return
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
        for i, name in enumerate(node.output):
            if name in renames:
                node.output[i] = renames[name]
        for attr in node.attribute:
            graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for sub in graphs:
                shadowed = {i.name for i in sub.input} | {t.name for t in sub.initializer}
                rename_values(sub, {k: v for k, v in renames.items() if k not in shadowed})
    for value in list(graph.input) + list(graph.output):
        if value.name in renames:
            value.name = renames[value.name]


def set_initializer(graph: GraphProto, name: str, array: np.ndarray) -> None:
    """Adds (or replaces) initializer `name` with `array`."""
    for tensor in graph.initializer:
        if tensor.name == name:
            graph.initializer.remove(tensor)
            break
    graph.initializer.append(numpy_helper.from_array(array, name))


def unique_name(graph: GraphProto, base: str) -> str:
    taken = {o for n in graph.node for o in n.output} | {t.name for t in graph.initializer} | {i.name for i in graph.input}
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    return name


def value_info(name: str, elem_type: int, dims: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, dims)


def elem_type_of(graph: GraphProto, name: str) -> int | None:
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        if value.name == name:
            return value.type.tensor_type.elem_type
    return None


def absorb_graph(outer: GraphProto, inner: GraphProto, prefix: str, inputs: dict[str, str]) -> dict[str, str]:
    """Copies `inner`'s nodes into `outer` as a block: its inputs read the outer
    values named in `inputs`, its other values get `prefix`, and its
    initializers are stored once (an outer tensor with the same content is
    reused). Returns inner output name → outer value name."""
    missing = [i.name for i in inner.input if i.name not in inputs]
    if missing:
        raise ValueError(f"no outer value given for inputs {missing}")
    by_digest = {tensor_digest(t): t.name for t in outer.initializer}
    taken = {t.name for t in outer.initializer} | {i.name for i in outer.input} | {o for n in outer.node for o in n.output}
    renames = dict(inputs)
    for tensor in inner.initializer:
        digest = tensor_digest(tensor)
        if digest in by_digest:
            renames[tensor.name] = by_digest[digest]
            continue
        name = f"{prefix}{tensor.name}"
        while name in taken:
            name += "_"
        copy_ = TensorProto()
        copy_.CopyFrom(tensor)
        copy_.name = name
        outer.initializer.append(copy_)
        by_digest[digest] = name
        taken.add(name)
        renames[tensor.name] = name
    for node in inner.node:
        for name in node.output:
            if name and name not in renames:
                renames[name] = f"{prefix}{name}"
    block = GraphProto()
    block.node.extend(inner.node)
    block.output.extend(inner.output)
    rename_values(block, renames)
    for node in block.node:
        node.name = f"{prefix}{node.name}"
    outer.node.extend(block.node)
    return {o.name: renames.get(o.name, o.name) for o in inner.output}
