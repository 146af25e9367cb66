"""What a network is at a glance, section by section: the one-screen text summary `mgdsl compile`
prints, and the HTML table a notebook shows (`Network._repr_html_`)."""
from __future__ import annotations

import html as _html

from .graph.cost import Totals, cost_of
from .graph.values import size_label
from .tables import Table, html, text


def pyramid_text(grids) -> str:
    """[(size, channels)] -> "16x16:64  8x8:32" (a flat vector: its length)."""
    return "  ".join(f"{size_label(s)}:{c}" if s else f"{c}" for s, c in grids)


def _finest_first(grids) -> list:
    return sorted(grids, key=lambda g: -(g[0] or (0,))[0])


def pyramid_before(rec) -> list:
    """The whole pyramid a top-level layer (a graph `Layer` record) starts from, as [(size, channels)],
    finest first."""
    return _finest_first(rec.held + rec.grids_in)


def pyramid_after(rec) -> list:
    """The whole pyramid after a top-level layer (a head leaves only its output)."""
    return list(rec.grids_out) if rec.head else _finest_first(rec.held + rec.grids_out)


def sections(net) -> dict[str, dict]:
    """section -> {layers, params, macs, out: the pyramid after it as [(size, channels)]}."""
    G = net.graph
    totals = cost_of(G).by("section")
    out: dict[str, dict] = {}
    for rec in G.info.layers:
        name = rec.section
        t = totals.get(name, Totals())      # a section may make no op (`outputs` only names grids)
        s = out.setdefault(name, {"layers": 0, "params": t.params, "macs": t.macs, "out": None})
        s["layers"] += 1
        s["out"] = pyramid_after(rec)
    return out


def _sections_table(net, macs: bool = False) -> Table:
    """Section by section: layers, params (and MACs, for a notebook), the pyramid after it."""
    rows = [[name, str(s["layers"]), f"{s['params']:,}"] + ([f"{s['macs'] / 1e6:,.2f}"] if macs else [])
            + [pyramid_text(s["out"])] for name, s in sections(net).items()]
    if macs:
        return Table(["section", "layers", "params", "MACs (M)", "pyramid after (grid:channels)"], rows, align="lrrrl")
    return Table(["section", "layers", "params", "pyramid after the section (grid:channels)"], rows, align="lrrl")


def summary(net) -> str:
    c, h, w = net.input_shape
    grids = net.graph.info.grids
    lines = [f"{net.name}  ({net.path})",
             f"  input   {c} x {h} x {w}    grids {', '.join(size_label(g) for g in grids)}",
             f"  output  {' x '.join(map(str, net.output_shape))}",
             f"  params  {net.num_params:,} ({net.num_params / 1e6:.2f}M)    MACs {net.macs / 1e6:,.2f}M "
             f"(FLOPs = 2 x MACs = {2 * net.macs / 1e6:,.2f}M)",
             "",
             text(_sections_table(net), indent="  ", sep=(" ", " ", "   "), widths=(8, 6, 12), rule=False)]
    if net.params:
        lines.append("")
        lines.append("  parameters: " + ", ".join(f"{k} = {v}" for k, v in net.params.items()))
    return "\n".join(lines)


def summary_html(net, svg: str | None = None) -> str:
    """The summary as an HTML table, followed by the diagram's inline SVG when one is given."""
    e = _html.escape
    c, h, w = net.input_shape
    head = (f"<b>{e(net.name)}</b> <small>({e(str(net.path))})</small><br>"
            f"input {c} &times; {h} &times; {w}, grids {e(', '.join(size_label(g) for g in net.graph.info.grids))}"
            f" &rarr; output {e(' x '.join(map(str, net.output_shape)))}<br>"
            f"<b>{net.num_params:,}</b> params ({net.num_params / 1e6:.2f}M), <b>{net.macs / 1e6:,.2f}M</b> MACs")
    if net.params:
        head += "<br>parameters: " + e(", ".join(f"{k} = {v}" for k, v in net.params.items()))
    figure = f"<div class='mgdsl-diagram'>{svg}</div>" if svg else ""
    return f"<div class='mgdsl-network'><p>{head}</p>{html(_sections_table(net, macs=True))}{figure}</div>"
