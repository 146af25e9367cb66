"""The one-screen summary `mgdsl compile` prints: what the network is, section by section."""
from __future__ import annotations

from .graph.cost import cost_of
from .graph.values import size_label


def _pyr(grids) -> str:
    return "  ".join(f"{size_label(s)}:{c}" if s else f"{c}" for s, c in grids)


def summary(net) -> str:
    G = net.graph
    c, h, w = net.input_shape
    grids = G.info.grids
    params = cost_of(G).by("section")
    sections: dict[str, dict] = {}
    for rec in G.info.layers:
        s = sections.setdefault(rec.section, {"layers": 0, "params": params[rec.section].params, "out": None})
        s["layers"] += 1
        s["out"] = sorted(rec.held + rec.grids_out, key=lambda g: -(g[0] or (0,))[0]) if not rec.head \
            else rec.grids_out
    lines = [f"{net.name}  ({net.path})",
             f"  input   {c} x {h} x {w}    grids {', '.join(size_label(g) for g in grids)}",
             f"  output  {' x '.join(map(str, net.output_shape))}",
             f"  params  {net.num_params:,} ({net.num_params / 1e6:.2f}M)    MACs {net.macs / 1e6:,.2f}M "
             f"(FLOPs = 2 x MACs = {2 * net.macs / 1e6:,.2f}M)",
             "",
             f"  {'section':<8} {'layers':>6} {'params':>12}   pyramid after the section (grid:channels)"]
    for name, s in sections.items():
        lines.append(f"  {name:<8} {s['layers']:>6} {s['params']:>12,}   {_pyr(s['out'])}")
    if net.params:
        lines.append("")
        lines.append("  parameters: " + ", ".join(f"{k} = {v}" for k, v in net.params.items()))
    return "\n".join(lines)
