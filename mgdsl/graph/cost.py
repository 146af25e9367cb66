"""The cost model: parameters, multiply-accumulates, other arithmetic and activation memory of a
network, read from its graph alone (no tensors, no tracing, no torch).

The per-op rules live with each op in :mod:`mgdsl.graph.ops`; this module only walks the graph and
adds them up, per node and grouped by the node fields ``layer``, ``grid`` and ``section``.

Activation memory has two definitions, both for one image (scale by the batch and dtype size):

- ``activations``: the sum of every node's output, the input image included. A training step
  without in-place ops or recomputation keeps all of them for the backward pass, so this is what
  training holds on top of weights, gradients and optimiser state.
- ``peak``: the most that inference holds at once when the nodes run in graph order (the order of
  the generated ``forward``) and each tensor is freed right after its last reader. A node's inputs
  are still alive while its output is written; the input image stays alive throughout (the caller
  holds it) and so does the output. Temporary workspaces inside an op are not counted, and a
  ``flatten`` counts as a copy although PyTorch makes it a view (one small vector).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .ir import Graph
from .ops import OPS, numel

GROUPINGS = ("layer", "grid", "section")

# bytes per element of the dtypes activation memory can be priced in
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}


def params_of(G: Graph, n: str) -> int:
    r = G.node(n)
    return OPS[r.kind].params(r.attrs)


def macs_of(G: Graph, n: str) -> int:
    r = G.node(n)
    return OPS[r.kind].macs(r.attrs, [G.node(i).shape for i in r.inputs], r.shape)


@dataclass(frozen=True)
class NodeCost:
    node: str
    kind: str
    layer: str
    grid: str
    section: str
    params: int
    macs: int          # conv, transposed conv and linear multiply-accumulates (the paper's "FLOPs")
    other: int         # everything else: BN, ReLU, pooling, additions (see mgdsl.graph.ops)
    outputs: int       # elements of the node's output for one image
    live: bool         # its result reaches the network output


@dataclass
class Totals:
    params: int = 0
    macs: int = 0
    other: int = 0
    activations: int = 0   # output elements per image

    @property
    def flops(self) -> int:
        """Floating-point operations of the MAC-counted layers: one multiply and one add per MAC."""
        return 2 * self.macs

    def add(self, c: NodeCost) -> None:
        self.params += c.params
        self.macs += c.macs
        self.other += c.other
        self.activations += c.outputs


@dataclass
class Cost(Totals):
    """The whole network's totals (inherited) with every node's cost."""
    name: str = ""
    path: str = ""
    input_shape: tuple = ()
    output_shape: tuple = ()
    output_shapes: tuple = ()                    # every output's shape, in declared order
    nodes: list[NodeCost] = field(default_factory=list)
    peak: int = 0                                # elements per image, see the module docstring

    @property
    def live_macs(self) -> int:
        """MACs of the nodes whose results reach the output: what a tracing counter that prunes
        dead branches sees. Grids dropped on purpose (`drop`, `pool drop`) are dead here too."""
        return sum(c.macs for c in self.nodes if c.live)

    def by(self, key: str) -> dict[str, Totals]:
        """Totals grouped by a node attribute (`layer`, `grid` or `section`), in graph order."""
        if key not in GROUPINGS:
            raise ValueError(f"cannot group by {key!r}; use one of {', '.join(GROUPINGS)}")
        out: dict[str, Totals] = {}
        for c in self.nodes:
            g = getattr(c, key)
            t = out.get(g)
            if t is None:
                t = out[g] = Totals()
            t.add(c)
        return out

    def memory(self, batch: int = 1, dtype: str = "float32") -> dict[str, int]:
        """Bytes: weights, training activations and inference peak for a batch in a dtype."""
        b = DTYPE_BYTES[dtype]
        return {"weights": self.params * b, "activations": self.activations * batch * b,
                "peak": self.peak * batch * b}


def reaches_output(G: Graph, sinks=None) -> set:
    """Nodes whose result is read, directly or not, by the output node (or by any of `sinks`)."""
    seen = set(sinks) if sinks is not None else set(G.info.sinks)
    stack = list(seen)
    while stack:
        for i in G.node(stack.pop()).inputs:
            if i not in seen:
                seen.add(i)
                stack.append(i)
    return seen


def inference_peak(G: Graph) -> int:
    """Peak live elements per image when every tensor is freed after its last reader."""
    recs = list(G.records())
    pos = {r.id: i for i, r in enumerate(recs)}
    size = {r.id: numel(r.shape) for r in recs}
    held = {r.id for r in recs if r.kind == "input"}   # the caller holds the image
    last = dict(pos)
    for r in recs:
        for i in r.inputs:
            last[i] = pos[r.id]             # creation order is topological: readers come later
    for n in held | set(G.info.sinks):
        last[n] = len(recs)
    live = peak = sum(size[n] for n in held)
    for r in recs:
        n = r.id
        if n in held:
            continue
        live += size[n]
        if live > peak:
            peak = live
        for i in set(r.inputs):
            if last[i] == pos[n]:
                live -= size[i]
        if last[n] == pos[n]:           # nothing reads it
            live -= size[n]
    return peak


def cost_of(G: Graph) -> Cost:
    """Every node's cost and the totals; the graph is only read."""
    live = reaches_output(G)
    info = G.info
    cost = Cost(name=info.name, path=info.path, input_shape=tuple(info.input_shape),
                output_shape=tuple(info.output_shape), peak=inference_peak(G),
                output_shapes=tuple(tuple(G.node(o).shape) for o in info.sinks))
    for r in G.records():
        op = OPS[r.kind]
        ins = [G.node(i).shape for i in r.inputs]
        out = r.shape
        c = NodeCost(r.id, r.kind, r.layer, r.grid, r.section, op.params(r.attrs), op.macs(r.attrs, ins, out),
                     op.other(r.attrs, ins, out), numel(out), r.id in live)
        cost.add(c)
        cost.nodes.append(c)
    return cost
