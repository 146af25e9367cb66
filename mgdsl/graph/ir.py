"""The graph contract: what lowering produces and what every back end reads.

A lowered network is a :class:`Graph`, a ``networkx.DiGraph`` whose nodes are primitive ops. Each
node holds one :class:`Node` record (``G.node(id)``); the network as a whole holds one
:class:`NetInfo` (``G.info``), whose ``layers`` list has a :class:`Layer` record per top-level layer
of the spec. ``docs/graph.md`` describes the contract for people writing a back end.

Rules every graph keeps (``validate`` checks them):

- ``Node.inputs`` is the one source of connectivity. The DiGraph's edges are derived from it by
  :meth:`Graph.add` and never edited on their own; they exist so networkx algorithms work.
- Node insertion order is a topological order (a node is added after all of its inputs).
- ``Node.kind`` is a key of :data:`mgdsl.graph.ops.OPS`, whose entry holds the shape and cost rules.
- Graphs are only read by back ends. A pass (``mgdsl.graph.passes``) builds a new graph.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import networkx as nx

from ..errors import Span
from .ops import OPS
from .values import size_label

Size = tuple[int, int]
GridShape = tuple[Size | None, int]          # (grid size or None for a flat vector, channels)


@dataclass(frozen=True)
class Node:
    """One primitive op. Fields have one meaning each; op arguments live in ``attrs``."""
    id: str                                  # the dotted layer path; also the module path in torch code
    kind: str                                # the primitive op (a key of ops.OPS)
    inputs: tuple[str, ...]                  # the producers of its arguments, in argument order
    shape: tuple[int, ...]                   # (C, H, W) for a grid, (F,) for a flat vector, per image
    attrs: Mapping[str, Any]                 # the op's own arguments: cin, cout, kernel, stride, ...
    layer: str                               # path of the top-level layer that made it ("input": the image)
    layer_type: str                          # that layer's type: a built-in or a unit name
    section: str                             # that layer's section
    origin: str                              # path of the innermost layer call that made it
    origin_type: str                         # that call's type (always a built-in layer type)
    span: Span | None = None                 # where that top-level layer is written

    @property
    def size(self) -> Size | None:
        return (self.shape[1], self.shape[2]) if len(self.shape) == 3 else None

    @property
    def grid(self) -> str:
        """The grid the node's output lives on, as a label: "16x16", or "flat"."""
        return size_label(self.size)


@dataclass(frozen=True)
class Layer:
    """One top-level layer of the spec and the grids it takes and leaves (finest first)."""
    path: str
    type: str
    section: str
    span: Span | None
    grids_in: tuple[GridShape, ...]          # the grids it acts on
    grids_out: tuple[GridShape, ...]         # the grids it leaves (a head: one flat vector or one grid)
    held: tuple[GridShape, ...]              # grids it does not act on, passed along unchanged
    outputs: tuple[str, ...]                 # the node holding each of grids_out (may be an earlier node
                                             # when the layer passes a grid through unchanged)
    head: bool = False                       # produces the network's output
    ends_section: bool = False               # the next layer starts a new section


@dataclass
class NetInfo:
    """Whole-network facts."""
    name: str
    path: str
    params: dict[str, Any]
    input_shape: tuple[int, int, int]
    grids: list[Size] = field(default_factory=list)
    layers: list[Layer] = field(default_factory=list)
    output: str = ""                         # the node whose result is the network's output (the last one)
    output_shape: tuple[int, ...] = ()
    outputs: tuple[str, ...] = ()            # several outputs, in declared order (`outputs`); () when one
    discarded: set[str] = field(default_factory=set)   # grids dropped on purpose (`drop`, `pool drop`)
    skipped: list = field(default_factory=list)        # spans of `if`/`else` blocks no use lowered (editors grey them)


    @property
    def sinks(self) -> tuple[str, ...]:
        """Every output node, in declared order (one for most networks)."""
        return self.outputs or (self.output,)


class Graph(nx.DiGraph):
    """A networkx DiGraph of :class:`Node` records with typed accessors."""

    def node(self, n: str) -> Node:
        return self.nodes[n]["node"]

    def records(self) -> Iterable[Node]:
        """Every node's record, in insertion (topological) order."""
        return (d["node"] for _, d in self.nodes(data=True))

    @property
    def info(self) -> NetInfo:
        return self.graph["info"]

    def add(self, node: Node) -> Node:
        """Add a node and the edges from its inputs: the one way nodes enter a graph."""
        if node.id in self:
            raise ValueError(f"internal error: node {node.id} created twice")
        missing = [i for i in node.inputs if i not in self]
        if missing:
            raise ValueError(f"internal error: node {node.id} reads {missing}, which do not exist yet")
        self.add_node(node.id, node=node)
        for i in node.inputs:
            self.add_edge(i, node.id)
        return node

    def readers(self) -> dict[str, list[str]]:
        """node -> the nodes that read it, once per argument, in graph order."""
        out: dict[str, list[str]] = {n: [] for n in self}
        for r in self.records():
            for i in r.inputs:
                out[i].append(r.id)
        return out


def new_graph(info: NetInfo) -> Graph:
    G = Graph()
    G.graph["info"] = info
    return G


def rebuild(G: Graph, nodes: Iterable[Node], info: NetInfo | None = None) -> Graph:
    """A new graph of `nodes` (in topological order) with `G`'s network facts (or `info`)."""
    out = new_graph(info if info is not None else replace(G.info))
    nodes = list(nodes)
    out.add_nodes_from((n.id, {"node": n}) for n in nodes)       # in bulk: what Graph.add does, faster
    out.add_edges_from((i, n.id) for n in nodes for i in n.inputs)
    return out


def validate(G: Graph) -> None:
    """Check the contract; a failure is a bug in lowering or in a pass, never a user mistake."""
    seen: set[str] = set()
    for n, d in G.nodes(data=True):
        r = d.get("node")
        if not isinstance(r, Node) or r.id != n:
            raise AssertionError(f"node {n} has no record of its own")
        if r.kind not in OPS:
            raise AssertionError(f"node {n} has unknown kind {r.kind!r}")
        if any(i not in seen for i in r.inputs):
            raise AssertionError(f"node {n} is added before one of its inputs")
        if set(G.predecessors(n)) != set(r.inputs):
            raise AssertionError(f"node {n}: edges and inputs disagree")
        seen.add(n)
    if any(n not in G for n in G.info.sinks):
        raise AssertionError("an output node is not in the graph")
