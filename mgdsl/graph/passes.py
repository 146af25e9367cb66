"""Graph passes: functions from a graph to a new graph that computes the same function.

A pass swaps matched nodes for nodes of other kinds (``ops.py`` lists the kinds that only passes
make) and never edits its input. This module holds the machinery and the passes that every back
end may use; a back end keeps its own device-specific passes (``mgdsl.backends.torch_passes``).
"""
from __future__ import annotations

from dataclasses import replace

from .ir import Graph, Node, rebuild


class Rewrite:
    """Collects the changes of one pass over `G`, then builds the new graph.

    ``replace(n, node)`` puts `node` where `n` was; ``drop(n, alias)`` removes `n`, and its readers
    read `alias` instead; ``insert_after(n, node)`` adds a new node right after `n`."""

    def __init__(self, G: Graph):
        self.G = G
        self.new: dict[str, Node] = {}
        self.alias: dict[str, str | None] = {}
        self.after: dict[str, list[Node]] = {}
        self.redirect: dict[str, str] = {}         # readers of a node read another (an inserted one)
        self.retarget: dict[str, str] = {}         # an output node -> its new node (an inserted one)

    def replace(self, n: str, node: Node) -> None:
        self.new[n] = node

    def drop(self, n: str, alias: str | None = None) -> None:
        self.alias[n] = alias

    def insert_after(self, n: str, node: Node, take_readers: bool = False) -> None:
        """Add `node` after `n`; with `take_readers`, every other reader of `n` reads `node` instead."""
        self.after.setdefault(n, []).append(node)
        if take_readers:
            self.redirect[n] = node.id

    def _resolve(self, n: str) -> str:
        while n in self.alias:
            a = self.alias[n]
            if a is None:
                raise AssertionError(f"internal error: {n} was dropped but is still read")
            n = a
        return n

    def result(self) -> Graph:
        def remap(n: str, reader: str) -> str:
            n = self._resolve(n)
            r = self.redirect.get(n)
            return r if r is not None and r != reader else n

        nodes: list[Node] = []
        for r in self.G.records():
            if r.id in self.alias:
                continue
            node = self.new.get(r.id, r)
            inputs = tuple(remap(i, node.id) for i in node.inputs)
            nodes.append(node if inputs == node.inputs else replace(node, inputs=inputs))
            for extra in self.after.get(r.id, []):
                nodes.append(replace(extra, inputs=tuple(self._resolve(i) for i in extra.inputs)))
        def out(n: str) -> str:
            return self.retarget.get(n) or remap(n, "")

        info = replace(self.G.info, output=out(self.G.info.output), outputs=tuple(out(n) for n in self.G.info.outputs),
                       discarded={remap(n, "") for n in self.G.info.discarded if self._kept(n)})
        return rebuild(self.G, nodes, info)

    def _kept(self, n: str) -> bool:
        """Whether `n`, or the node its aliases lead to, is in the new graph (not dropped outright)."""
        while n in self.alias:
            a = self.alias[n]
            if a is None:
                return False
            n = a
        return True


def fold_bn(G: Graph) -> Graph:
    """Inference: a batch norm whose input is a conv that nothing else reads is folded into that conv
    (kind ``conv_bn``; attribute ``bn`` names the norm's node, which keeps its parameters' names)."""
    rw, readers = Rewrite(G), G.readers()
    for r in G.records():
        if r.kind != "bn":
            continue
        conv = G.node(r.inputs[0])
        if conv.kind == "conv" and readers[conv.id] == [r.id]:
            norm = {f"bn_{k}": r.attrs[k] for k in ("eps", "momentum") if k in r.attrs}
            rw.replace(conv.id, replace(conv, kind="conv_bn", attrs={**conv.attrs, "bn": r.id, **norm}))
            rw.drop(r.id, alias=conv.id)
    return rw.result()
