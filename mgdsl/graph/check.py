"""Whole-graph checks after lowering: computation that never reaches the output, and networks too
big to allocate. Both run on metadata alone, before any tensor exists."""
from __future__ import annotations

import os

import networkx as nx

from ..errors import SpecValueError, SpecWarning
from .cost import macs_of, reaches_output
from .ops import numel


def memory_limit() -> int:
    """Bytes of physical memory: the most a spec's weights or activations may ask for."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 64 << 30


def _gib(b: int) -> str:
    return f"{b / (1 << 30):,.1f} GiB"


def check_activations(G: nx.DiGraph):
    """Weights are checked while lowering (lower.py); activations need the whole graph."""
    limit = memory_limit()
    acts = 4 * sum(numel(G.nodes[n]["shape"]) for n in G)
    if acts > limit:
        raise SpecValueError(f"one input image needs {_gib(acts)} of activations, more than this machine's "
                             f"{_gib(limit)} of memory", G.nodes["input"]["span"], hint="use a smaller input")



def dead_code(G: nx.DiGraph) -> list[SpecWarning]:
    """Ops whose results never reach the output nor a grid the spec dropped on purpose."""
    live = reaches_output(G, [G.graph["output"], *G.graph["discarded"]])
    dead = [n for n in G if n not in live and G.nodes[n]["kind"] != "input"]
    if not dead:
        return []
    by_layer: dict[str, set] = {}
    for n in dead:
        by_layer.setdefault(G.nodes[n]["layer"], set()).add(G.nodes[n]["grid"])
    macs = sum(macs_of(G, n) for n in dead)
    first = min(dead, key=lambda n: list(G.nodes).index(n))
    names = [f"{k} ({', '.join(sorted(v, key=lambda s: -int(s.split('x')[0]) if s[0].isdigit() else 0))})"
             for k, v in by_layer.items()]
    shown = "; ".join(names[:4]) + (f"; and {len(names) - 4} more" if len(names) > 4 else "")
    return [SpecWarning(f"{len(by_layer)} layer{'s' if len(by_layer) > 1 else ''} compute grids that never reach the "
                        f"output ({macs / 1e6:,.2f}M MACs): {shown}", G.nodes[first]["span"],
                        hint="drop those grids (`drop`, `on ...`) if that is not intended; they still count in params and MACs")]


def check_graph(G: nx.DiGraph) -> list[SpecWarning]:
    if not nx.is_directed_acyclic_graph(G):       # cannot happen by construction: a bug if it does
        raise RuntimeError("internal error: the lowered graph has a cycle")
    check_activations(G)
    return dead_code(G)
