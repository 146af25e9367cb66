"""Whole-graph checks after lowering: computation that never reaches the output.

Nothing here depends on the machine: a spec gets the same verdict everywhere. Whether a network fits
in this machine's memory is a question for building or training it (``mgdsl.memory``).
"""
from __future__ import annotations

from ..errors import SpecWarning
from .cost import macs_of, reaches_output
from .ir import Graph, validate


def _grid_order(label: str) -> int:
    return -int(label.split("x")[0]) if label[0].isdigit() else 0


def dead_code(G: Graph) -> list[SpecWarning]:
    """Ops whose results never reach the output nor a grid the spec dropped on purpose."""
    live = reaches_output(G, [G.info.output, *G.info.discarded])
    dead = [r for r in G.records() if r.id not in live and r.kind != "input"]     # in graph order
    if not dead:
        return []
    by_layer: dict[str, set] = {}
    for r in dead:
        by_layer.setdefault(r.layer, set()).add(r.grid)
    macs = sum(macs_of(G, r.id) for r in dead)
    names = [f"{k} ({', '.join(sorted(v, key=_grid_order))})" for k, v in by_layer.items()]
    shown = "; ".join(names[:4]) + (f"; and {len(names) - 4} more" if len(names) > 4 else "")
    return [SpecWarning(f"{len(by_layer)} layer{'s' if len(by_layer) > 1 else ''} compute grids that never reach the "
                        f"output ({macs / 1e6:,.2f}M MACs): {shown}", dead[0].span,
                        hint="drop those grids (`drop`, `on ...`) if that is not intended; they still count in params and MACs")]


def check_graph(G: Graph) -> list[SpecWarning]:
    validate(G)          # the contract (ir.py); a failure is a bug, never a user mistake
    return dead_code(G)
