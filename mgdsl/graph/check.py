"""Whole-graph checks after lowering: computation that never reaches the output.

Nothing here depends on the machine: a spec gets the same verdict everywhere. Whether a network fits
in this machine's memory is a question for building or training it (``mgdsl.memory``).
"""
from __future__ import annotations

from ..errors import SpecWarning
from .cost import macs_of, reaches_output
from .ir import Graph, validate
from .layer_api import LAYERS


def _grid_order(label: str) -> int:
    return -int(label.split("x")[0]) if label[0].isdigit() else 0


def dead_code(G: Graph) -> list[SpecWarning]:
    """Ops whose results never reach the output nor a grid the spec dropped on purpose."""
    live = reaches_output(G, [*G.info.sinks, *G.info.discarded])
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


def no_head(G: Graph) -> list[SpecWarning]:
    """A network whose output is ReLU features, or the image itself, rather than logits from a head
    (`fc`, `maps`, or a unit that ends in something other than a ReLU)."""
    out = G.node(G.info.output)
    if out.kind not in ("input", "relu") or (out.origin_type in LAYERS and LAYERS[out.origin_type].head):
        return []
    layers = G.info.layers
    what = "the input image itself" if out.kind == "input" else f"the ReLU features of layer {out.layer}"
    return [SpecWarning(f"the network ends without a head: its output ({'x'.join(map(str, out.shape))}) is {what}",
                        layers[-1].span if layers else out.span,
                        hint="end with `fc classes` (classification) or `maps count` (per-pixel outputs); "
                             "if these are meant to be logits, end with relu=off")]


def check_graph(G: Graph) -> list[SpecWarning]:
    validate(G)          # the contract (ir.py); a failure is a bug, never a user mistake
    return no_head(G) + dead_code(G)
