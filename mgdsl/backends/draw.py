"""Architecture diagrams in the style of the paper's Fig. 3, drawn from the graph with Graphviz.

The layers diagram has one row per grid size (finest on top) and one column per top-level layer;
each box is the tensor a layer leaves on a grid, as tall as the grid's resolution and as wide as its
channel count (both on compressed scales, so that a 224x224 ImageNet net and a 1x1 head both fit on
a page). Positions are computed here and pinned (`layout=neato`, every `pos` fixed), because the
picture must read like the paper's rows and columns, which an automatic layout will not keep; the
layout program only draws. Long connections (a grid held through the progressive start, U-Net
skips) run through pinned waypoints, so straight edges suffice and rendering stays fast. The ops
diagram (`detail="ops"`) instead hands the primitive-op graph to `dot`, for debugging the lowering.

Everything comes from the graph (``mgdsl.graph.ir``): boxes from the layer records in
``G.info.layers`` and the nodes they name, edges from the nodes' `inputs`, legend kinds from this
back end's `LEGEND` table or, for units, from the ops inside them. A module is never traced.
"""
from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field

from ..errors import ResourceError, UsageError
from ..graph.cost import macs_of, params_of
from ..graph.ir import Graph, Layer, Node
from ..graph.ops import pair

FORMATS = ("svg", "png", "pdf", "dot")
PNG_DPI, PDF_DPI = 110, 200

# Bounds. A layout program's work grows faster than the diagram (graphviz-pure lays out 1000 pinned
# boxes in ~3 s, 2000 in ~10 s, and 40,000 took more than 24 GB), and a PNG takes ~8 bytes a pixel
# while it is drawn. The shipped specs stay far inside: at most 75 boxes, 685 ops and 7.6 megapixels.
MAX_BOXES = 1000                  # boxes of a layers diagram; the DOT stays under ~0.5 MB, the SVG ~2 MB
MAX_OPS = 2000                    # ops of an ops diagram (`dot` layout)
MAX_PNG_PIXELS = 50_000_000       # a larger PNG is drawn at a lower resolution (~400 MB while drawn)
MAX_PNG_SIDE = 32_767             # the widest image many viewers and libraries open
FONT = "Helvetica"


@dataclass(frozen=True)
class Kind:
    """How one legend entry of the paper's Fig. 3 is drawn."""
    label: str
    fill: str
    line: str                      # border and incoming-edge colour
    shape: str = "box"
    residual: bool = False         # a double border marks the shortcut around the unit


# The paper's eight legend entries, in its order; "input" is the image pyramid (not in the legend).
KINDS: dict[str, Kind] = {
    "conv": Kind("conv+BN+ReLU", "#a9cbea", "#2f6fad"),
    "res": Kind("residual unit", "#5b8fd0", "#1f4f8f", residual=True),
    "mgconv": Kind("mg-conv+BN+ReLU", "#f7c590", "#d4700f"),
    "resmg": Kind("residual mg-unit", "#e8843a", "#a34f0c", residual=True),
    "pool": Kind("pool & subsample", "#abd8a0", "#3b8a34"),
    "upsample": Kind("upsample", "#d3b8e6", "#7a4aa0"),
    "concat": Kind("concatenation", "#f6e08c", "#a8870a"),
    "prediction": Kind("prediction", "#f09a9a", "#bf3030", shape="rarrow"),
}
INPUT = Kind("input", "#e3e3e3", "#8a8a8a")

# Each built-in layer type's legend entry (a key of KINDS). A test checks that every layer type of
# the registry has one: a new layer type adds its line here.
LEGEND: dict[str, str] = {
    "conv": "conv", "relu": "conv", "act": "conv", "bn": "conv", "dropout": "conv", "scale": "conv", "grow": "conv",
    "mgconv": "mgconv",
    "pool": "pool", "drop": "pool", "gap": "pool", "crop": "pool",
    "upsample": "upsample", "upconv": "upsample",
    "concat": "concat", "use": "concat",
    "add": "res",
    "fc": "prediction", "maps": "prediction", "outputs": "prediction",
    "ln": "conv", "gn": "conv", "layerscale": "conv", "droppath": "conv", "shuffle": "conv", "flatten": "pool",
    "chunk": "concat", "slice": "concat",
}
# layer types that get no column: `use` makes no op, and the layers after it draw their inputs as
# connections from the saved pyramid's boxes
UNDRAWN = {"use"}
HELD_COLOUR = "#9a9a9a"
BAND_COLOUR = "#f3f3f3"

# for units: the kind an op inside makes the unit, strongest first
UNIT_PRECEDENCE = ("mgconv", "conv", "upsample", "concat", "pool", "prediction", "res")

# geometry, in points (72 per inch)
GAP = 26.0                # between neighbouring columns
LABEL_H = 11.0            # the width label above a box
NOTE_H = 10.0             # the "x n" mark below a box
ROW_GAP = 8.0
PRED_W, PRED_H = 26.0, 16.0
LANE = 6.0                # between the lanes of skip connections under a row


def box_height(size) -> float:
    """A grid's box height: logarithmic in its resolution (1x1 .. 224x224 all stay readable)."""
    h = size[0] if size else 1
    return min(112.0, 12.0 + 13.0 * math.log2(max(h, 1)))


def box_width(channels: int) -> float:
    """A box's width: square-root of its channel count, clamped so 3 and 2048 both fit."""
    return max(5.0, min(46.0, 3.0 + 1.25 * math.sqrt(max(channels, 1))))


def text_width(text: str, size: float) -> float:
    """A generous estimate: label nodes must not touch boxes, or Graphviz stops routing around them."""
    return 0.62 * size * len(text) + 4.0


def size_text(size) -> str:
    return f"{size[0]}\u00d7{size[1]}"


# -- reading the graph ---------------------------------------------------------------------------------
def layer_kind(G: Graph, record: Layer, nodes: list[str]) -> str:
    """The legend kind of one top-level layer: built-ins by `LEGEND`; units by what they contain
    (an `add` makes a residual unit, and a residual mg-unit with mg-conv gathers)."""
    if record.type in LEGEND:
        return LEGEND[record.type]
    ops = {G.node(n).origin_type for n in nodes}
    if any(G.node(n).kind == "add" for n in nodes):
        return "resmg" if "mgconv" in ops else "res"
    found = {LEGEND[o] for o in ops if o in LEGEND}
    return next((k for k in UNIT_PRECEDENCE if k in found), "conv")


def _outputs(record: Layer) -> dict:
    """size -> the node that holds each grid a layer leaves behind (for a grid the layer passes
    through unchanged, the earlier node that holds it)."""
    return {size: n for (size, _), n in zip(record.grids_out, record.outputs)}


def _external_inputs(G, out: str, inside: set) -> dict[str, str]:
    """The nodes outside a layer that feed one of its outputs -> how: 'flow', or 'down'/'up' when
    the path crosses one mg-conv gather from the finer / coarser neighbour. Paths through two
    gathers (two grids away, inside a residual mg-unit) are left out: the picture would drown."""
    best: dict[str, str] = {}
    seen, stack = set(), [(out, "flow")]
    while stack:
        x, how = stack.pop()
        if (x, how) in seen:
            continue
        seen.add((x, how))
        a = G.node(x)
        if a.origin_type == "mgconv" and a.kind in ("maxpool", "avgpool", "upsample"):
            step = "down" if a.kind != "upsample" else "up"
            if how != "flow":
                continue
            how = step
        for i in a.inputs:
            if i in inside:
                stack.append((i, how))
            elif i not in best or how == "flow":
                best[i] = how
    return best


def _kernels(G, nodes: list[str], size) -> set[int | tuple[int, int]]:
    """Kernel sizes of the convolutions a layer runs on one grid (shortcut projections excluded)."""
    recs = [G.node(n) for n in nodes]
    return {r.attrs["kernel"] for r in recs
            if r.kind in ("conv", "convT") and r.origin_type != "add" and r.shape[1:] == tuple(size or ())}


def _sides(kernel: int | tuple[int, int]) -> tuple[int, int]:
    """A kernel as (height, width), so that square and two-sided kernels sort together."""
    return kernel if isinstance(kernel, tuple) else (kernel, kernel)


@dataclass
class Box:
    id: str
    column: int
    size: tuple | None
    channels: int
    kind: str
    kernel: int | tuple[int, int] | None = None
    row: int = 0
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = 0.0


@dataclass
class Column:
    kind: str
    records: list[Layer]
    section: str
    boxes: list[Box] = field(default_factory=list)
    x: float = 0.0
    w: float = 0.0

    @property
    def count(self) -> int:
        return len(self.records)


@dataclass
class Edge:
    tail: Box
    head: Box
    how: str                       # flow | down | up (mg-conv gathers) | skip (a saved pyramid)
    held: bool = False             # the tail's grid sat unchanged through the columns in between


@dataclass
class Layout:
    columns: list[Column]
    edges: list[Edge]
    rows: list                     # grid sizes, finest first


def _signature(G, record, nodes, kind):
    kern = tuple(tuple(sorted(_kernels(G, nodes, s), key=_sides)) for s, _ in record.grids_out)
    return (record.type, kind, tuple(s for s, _ in record.grids_in), record.grids_out, record.held, kern)


def analyse(G: Graph, expand: bool = False) -> Layout:
    """Columns, boxes and connections of the layers diagram."""
    groups: dict[str, list[str]] = defaultdict(list)
    for n in G:
        groups[G.node(n).layer].append(n)

    # the image pyramid is column 0
    columns = [Column("input", [], "input")]
    box_of: dict[str, Box] = {}
    for n in groups.get("input", []):
        shape = G.node(n).shape
        image = Box(f"c0_{shape[1]}x{shape[2]}", 0, tuple(shape[1:]), shape[0], "input")
        columns[0].boxes.append(image)
        box_of[n] = image

    # group consecutive identical layers into runs
    runs: list[tuple[str, list[Layer]]] = []
    prev_sig = None
    for rec in G.info.layers:
        if rec.type in UNDRAWN:
            prev_sig = None            # a branch: the next layer is not a repeat of the one before
            continue
        nodes = groups.get(rec.path, [])
        kind = layer_kind(G, rec, nodes)
        sig = _signature(G, rec, nodes, kind)
        if not expand and runs and sig == prev_sig and not rec.head:
            runs[-1][1].append(rec)
        else:
            runs.append((kind, [rec]))
        prev_sig = sig

    edges: dict[tuple[str, str], Edge] = {}
    held_since: dict = {}            # grid size -> columns during which it was held
    for kind, recs in runs:
        col = len(columns)
        column = Column(kind, recs, recs[0].section)
        columns.append(column)
        first = recs[0]
        for rec in recs:
            nodes = groups.get(rec.path, [])
            inside = set(nodes)
            outs = _outputs(rec)
            shown_here: dict[str, Box] = {}
            for (size, channels) in rec.grids_out:
                node = outs[size]
                if node is None:
                    continue
                bid = f"c{col}_{'flat' if size is None else f'{size[0]}x{size[1]}'}"
                b = next((x for x in column.boxes if x.id == bid), None)
                if b is None:
                    ks = _kernels(G, nodes, size)
                    b = Box(bid, col, size, channels, kind, kernel=ks.pop() if len(ks) == 1 else None)
                    column.boxes.append(b)
                b.channels = channels
                if rec is first:
                    feeders = _external_inputs(G, node, inside) if node in inside else {node: "flow"}
                    for src, how in feeders.items():
                        tail = box_of.get(src)
                        if tail is None or tail.column == col:
                            continue
                        held = tail.column < col - 1 and all(tail.size in held_since.get(c, ())
                                                             for c in range(tail.column + 1, col))
                        if tail.column < col - 1 and not held:
                            how = "skip"
                        key = (tail.id, b.id)
                        if key not in edges or how == "flow":
                            edges[key] = Edge(tail, b, how, held)
                shown_here[node] = b
            # a grid passed through is now shown here too; only after the layer's own grids found their
            # feeders, so that a grid made from a passed-through one (`grow`) is drawn from its old box
            box_of.update(shown_here)
        held_since[col] = {s for s, _ in first.held}
    rows = sorted({b.size for c in columns for b in c.boxes if b.size is not None},
                  key=lambda s: (-s[0] * s[1], -s[0]))
    return Layout(columns, list(edges.values()), rows)


# -- the DOT source ---------------------------------------------------------------------------------
def _pt(v: float) -> str:
    return f"{v / 72:.3f}"


def _pos(x: float, y: float) -> str:
    return f"{x / 72:.3f},{y / 72:.3f}!"


def _fmt_count(v: float, unit: str) -> str:
    if v >= 1e9:
        return f"{v / 1e9:.2f}G {unit}"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M {unit}"
    return f"{v / 1e3:.1f}K {unit}"


def title_of(G: Graph) -> str:
    c, h, w = G.info.input_shape
    params = sum(params_of(G, n) for n in G)
    macs = sum(macs_of(G, n) for n in G)
    return f"{G.info.name}:  input {c}\u00d7{h}\u00d7{w},  {_fmt_count(params, 'params')},  {_fmt_count(macs, 'MACs')}"


class _Dot:
    """A tiny DOT writer: the output must be byte-stable for the committed figures."""

    def __init__(self, name: str):
        self.lines = [f"digraph {_q(name)} {{"]

    def attrs(self, what: str, **a):
        self.lines.append(f"  {what} [{_attrs(a)}];")

    def node(self, nid: str, **a):
        self.lines.append(f"  {_q(nid)} [{_attrs(a)}];")

    def edge(self, a: str, b: str, **at):
        self.lines.append(f"  {_q(a)} -> {_q(b)}" + (f" [{_attrs(at)}];" if at else ";"))

    def raw(self, text: str):
        self.lines.append(text)

    def source(self) -> str:
        return "\n".join(self.lines + ["}"]) + "\n"


class Left(str):
    """A label whose lines are left-justified (DOT's `\\l` line ends)."""


def _q(s) -> str:
    if isinstance(s, Left):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '\\l"'
    s = str(s)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(a: dict) -> str:
    return ", ".join(f"{k}={_q(v)}" for k, v in a.items())


def _check_boxes(lay: Layout, expand: bool) -> None:
    """A located ResourceError at the layer whose column takes the diagram past MAX_BOXES."""
    count = 0
    for col in lay.columns:
        count += len(col.boxes)
        if count > MAX_BOXES:
            span = col.records[0].span if col.records else None
            hint = ("draw it without --expand (a run of identical layers shares a column), or a smaller "
                    "version with --set (fewer repeats)" if expand else
                    "draw a smaller version with --set (fewer repeats), or a .dot file of a part of the spec")
            raise ResourceError(f"the diagram would have more than {MAX_BOXES} boxes, which takes a layout program "
                                "minutes and gigabytes", span, hint=hint)


def layers_dot(G: Graph, expand: bool = False) -> str:
    """DOT source of the layers diagram (positions pinned; render with any Graphviz). More than
    MAX_BOXES boxes are refused (ResourceError)."""
    lay = analyse(G, expand)
    _check_boxes(lay, expand)
    row_of = {s: i for i, s in enumerate(lay.rows)}
    heights = [box_height(s) for s in lay.rows]
    # where a prediction (flat) box sits: the row of the grid it reads
    for e in lay.edges:
        if e.head.size is None and e.tail.size is not None:
            e.head.row = row_of[e.tail.size]
    # skips from saved pyramids run in lanes below their row, one lane each
    lane_of: dict[int, int] = {}
    lanes = [0] * len(lay.rows)
    for i, e in sorted(enumerate(lay.edges), key=lambda ie: (ie[1].tail.column, ie[1].head.column)):
        if e.how == "skip" and e.tail.size is not None:
            r = row_of[e.tail.size]
            lane_of[i], lanes[r] = lanes[r], lanes[r] + 1
    # rows, top down
    row_y, y = [], 0.0
    for h, n in zip(heights, lanes):
        y -= LABEL_H + h / 2
        row_y.append(y)
        y -= h / 2 + NOTE_H + ROW_GAP + (LANE * n + 6 if n else 0)
    bottom = y
    # columns, left to right
    x = 0.0
    for ci, col in enumerate(lay.columns):
        for b in col.boxes:
            if b.size is not None:
                b.row = row_of[b.size]
                b.w, b.h = box_width(b.channels), heights[b.row]
                if b.kind == "prediction":       # wide enough to read as an arrow
                    b.w = max(b.w, 16.0)
            else:
                b.w, b.h = PRED_W, PRED_H
        width = max([b.w for b in col.boxes] + [text_width(_label(b), 7.5) for b in col.boxes] + [6.0])
        x += width / 2 if ci else 0.0
        col.x, col.w = x, width
        for b in col.boxes:
            b.x, b.y = x, row_y[b.row]
        x += width / 2 + GAP
    right = x - GAP

    d = _Dot(G.info.name)
    d.attrs("graph", layout="neato", splines="line", outputorder="nodesfirst", sep="+1", esep="+0.5",
            label=title_of(G), labelloc="t", fontname=FONT, fontsize="15", pad="0.25", bgcolor="white")
    d.attrs("node", shape="box", style="filled", fixedsize="true", label="", fontname=FONT, fontsize="7.5",
            penwidth="0.7")
    d.attrs("edge", arrowsize="0.45", penwidth="0.9")
    # grid sizes on the left
    for i, s in enumerate(lay.rows):
        t = size_text(s)
        d.node(f"row_{i}", shape="plaintext", style="", label=t, fontsize="9", fontcolor="#555555",
               width=_pt(text_width(t, 9)), height=_pt(11), pos=_pos(-22 - text_width(t, 9) / 2, row_y[i]))
    # sections: names along the top, every other one on a light band
    sections: dict[str, list[Column]] = {}
    for col in lay.columns[1:]:
        sections.setdefault(col.section, []).append(col)
    for i, (name, cols) in enumerate(sections.items()):
        left, right_edge = cols[0].x - cols[0].w / 2 - GAP / 2, cols[-1].x + cols[-1].w / 2 + GAP / 2
        if i % 2 == 0:
            d.node(f"band_{name}", style="filled", color=BAND_COLOUR, fillcolor=BAND_COLOUR, width=_pt(right_edge - left),
                   height=_pt(22 - bottom + 4), pos=_pos((left + right_edge) / 2, (22 + bottom + 4) / 2))
        d.node(f"section_{name}", shape="plaintext", style="", label=name, fontsize="8", fontcolor="#777777",
               width=_pt(text_width(name, 8)), height=_pt(10), pos=_pos((left + right_edge) / 2, 14))
    # boxes and their labels
    for col in lay.columns:
        for b in col.boxes:
            k = INPUT if b.kind == "input" else KINDS[b.kind]
            d.node(b.id, shape=k.shape, fillcolor=k.fill, color=k.line, width=_pt(b.w), height=_pt(b.h),
                   pos=_pos(b.x, b.y), tooltip=f"{b.channels} channels" + (f" on {size_text(b.size)}" if b.size else ""),
                   **({"peripheries": "2"} if k.residual else {}))
            t = _label(b)
            d.node(f"{b.id}_w", shape="plaintext", style="", label=t, width=_pt(text_width(t, 7.5)), height=_pt(9),
                   pos=_pos(b.x, b.y + b.h / 2 + (10.0 if k.residual else 6.5)))
        if col.count > 1:
            low = min(col.boxes, key=lambda b: b.y - b.h / 2)
            t = f"\u00d7{col.count}"
            d.node(f"c{low.column}_n", shape="plaintext", style="", label=t, fontsize="8",
                   fontcolor="#333333", width=_pt(text_width(t, 8) + 6), height=_pt(9),
                   pos=_pos(low.x, low.y - low.h / 2 - (11.0 if KINDS[col.kind].residual else 7.0)))
    # connections; a held grid runs along its row to the column before the one that reads it
    waypoints = set()
    for i, e in enumerate(lay.edges):
        tail = e.tail.id
        if i in lane_of:
            r = row_of[e.tail.size]
            y = row_y[r] - heights[r] / 2 - NOTE_H - 6 - LANE * lane_of[i]
            way_a, way_b = f"skip{i}_a", f"skip{i}_b"
            tail_col, head_col = lay.columns[e.tail.column], lay.columns[e.head.column]
            for nid, px in ((way_a, tail_col.x + tail_col.w / 2 + GAP / 3),
                            (way_b, head_col.x - head_col.w / 2 - GAP / 3)):
                d.node(nid, shape="point", width="0.01", height="0.01", style="invis", pos=_pos(px, y))
            colour = KINDS.get(e.head.kind, INPUT).line
            d.edge(e.tail.id, way_a, color=colour, style="dashed", penwidth="1.1", arrowhead="none")
            d.edge(way_a, way_b, color=colour, style="dashed", penwidth="1.1", arrowhead="none")
            tail = way_b
        if e.held:
            tail = f"{e.tail.id}_to{e.head.column}"
            if tail not in waypoints:
                waypoints.add(tail)
                d.node(tail, shape="point", width="0.03", height="0.03", color=HELD_COLOUR, fillcolor=HELD_COLOUR,
                       pos=_pos(lay.columns[e.head.column - 1].x, e.tail.y))
                d.edge(e.tail.id, tail, color=HELD_COLOUR, style="dashed", penwidth="0.8", arrowhead="none")
        style = {"down": dict(color=KINDS["pool"].line, penwidth="0.7"),
                 "up": dict(color=KINDS["upsample"].line, penwidth="0.7"),
                 "skip": dict(color=KINDS.get(e.head.kind, INPUT).line, style="dashed", penwidth="1.1")}
        d.edge(tail, e.head.id, **style.get(e.how, dict(color=KINDS.get(e.head.kind, INPUT).line)))
    # the legend, wrapped to the diagram's width
    entries = [(k, KINDS[k]) for k in KINDS]
    hows = {e.how for e in lay.edges} | ({"held"} if any(e.held for e in lay.edges) else set())
    lx, ly = 0.0, bottom - 16
    width = max(right, 420.0)
    for key, k in entries:
        item = 21 + text_width(k.label, 9) + 12
        if lx + item > width and lx > 0:
            lx, ly = 0.0, ly - 18
        d.node(f"legend_{key}", shape=k.shape, fillcolor=k.fill, color=k.line, width=_pt(12), height=_pt(10),
               pos=_pos(lx + 6, ly), **({"peripheries": "2"} if k.residual else {}))
        d.node(f"legend_{key}_t", shape="plaintext", style="", label=Left(k.label), fontsize="9", margin="0",
               width=_pt(text_width(k.label, 9)), height=_pt(11), pos=_pos(lx + 19 + text_width(k.label, 9) / 2, ly))
        lx += item
    extra = [("held", "grid held unchanged", dict(color=HELD_COLOUR, style="dashed")),
             ("skip", "skip from a saved pyramid", dict(color="#444444", style="dashed", penwidth="1.1"))]
    for how, text, edge_style in extra:
        if how not in hows:
            continue
        item = 30 + text_width(text, 9) + 14
        if lx + item > width and lx > 0:
            lx, ly = 0.0, ly - 18
        d.node(f"legend_{how}_a", shape="point", width="0.01", height="0.01", style="invis", pos=_pos(lx, ly))
        d.node(f"legend_{how}_b", shape="point", width="0.01", height="0.01", style="invis", pos=_pos(lx + 24, ly))
        d.edge(f"legend_{how}_a", f"legend_{how}_b", **edge_style)
        d.node(f"legend_{how}_t", shape="plaintext", style="", label=Left(text), fontsize="9", margin="0",
               width=_pt(text_width(text, 9)), height=_pt(11), pos=_pos(lx + 28 + text_width(text, 9) / 2, ly))
        lx += item
    return d.source()


def _window(k: int | tuple[int, int]) -> str:
    """A kernel as the diagram writes it: 3\u00d73, or 1\u00d77 for a window of two sides."""
    h, w = pair(k)
    return f"{h}\u00d7{w}"


def _side(v: int | tuple[int, int]) -> str:
    """A pool's kernel or stride: the number, or height\u00d7width where they differ."""
    return str(v) if isinstance(v, int) else _window(v)


def _label(b: Box) -> str:
    if b.kernel is not None and b.kernel != 3:
        return f"{b.channels} ({_window(b.kernel)})"
    return str(b.channels)


# -- the primitive-op diagram -------------------------------------------------------------------------
def _op_text(r: Node) -> str:
    k, a = r.kind, r.attrs
    shape = "\u00d7".join(map(str, r.shape))
    if k in ("conv", "convT"):
        head = f"{k} {_window(a['kernel'])}" + (f" /{a['stride']}" if a.get("stride", 1) != 1 else "")
    elif k in ("maxpool", "avgpool"):
        head = f"{k} {_side(a['kernel'])}/{_side(a['stride'])}"
    elif k == "upsample":
        head = f"upsample \u00d7{a['factor']}"
    elif k == "linear":
        head = f"fc {a['fin']}\u2192{a['fout']}"
    else:
        head = k
    return f"{head}\n{shape}"


def ops_dot(G: Graph) -> str:
    """DOT source of every primitive op, boxed by top-level layer (for debugging the lowering). More
    than MAX_OPS ops are refused (ResourceError)."""
    if len(G) > MAX_OPS:
        node = G.node(next(n for i, n in enumerate(G) if i == MAX_OPS))
        raise ResourceError(f"the ops diagram would have more than {MAX_OPS} ops, which takes `dot` minutes and "
                            "gigabytes to lay out", node.span,
                            hint="draw the layers diagram (without --detail ops), or a smaller version with --set")
    groups: dict[str, list[str]] = defaultdict(list)
    for n in G:
        groups[G.node(n).layer].append(n)
    kinds = {}
    for rec in G.info.layers:
        kinds[rec.path] = layer_kind(G, rec, groups.get(rec.path, []))
    d = _Dot(G.info.name)
    d.attrs("graph", layout="dot", rankdir="LR", label=title_of(G) + "  (primitive ops)", labelloc="t",
            fontname=FONT, fontsize="15", nodesep="0.08", ranksep="0.25", bgcolor="white")
    d.attrs("node", shape="box", style="filled,rounded", fontname=FONT, fontsize="8", margin="0.04,0.02",
            height="0.2", width="0.3")
    d.attrs("edge", arrowsize="0.4", penwidth="0.7", color="#555555")
    for i, (layer, nodes) in enumerate(groups.items()):
        k = KINDS.get(kinds.get(layer, ""), INPUT)
        d.raw(f"  subgraph {_q(f'cluster_{i}')} {{")
        d.raw(f"    label={_q(layer)}; fontsize=\"9\"; style=\"rounded\"; color={_q(k.line)};")
        for n in nodes:
            d.raw(f"    {_q(n)} [{_attrs(dict(label=_op_text(G.node(n)), fillcolor=k.fill, color=k.line, tooltip=n))}];")
        d.raw("  }")
    for n in G:
        for src in G.node(n).inputs:
            d.edge(src, n)
    return d.source()


def diagram(G: Graph, detail: str = "layers", expand: bool = False) -> str:
    if detail == "ops":
        return ops_dot(G)
    return layers_dot(G, expand)


# -- rendering ------------------------------------------------------------------------------------------
def find_renderers() -> list[tuple[str, str]]:
    """Available layout programs as (flavour, path): the `graphviz-pure` wheel (a declared dependency,
    the same output everywhere), then a system Graphviz `dot`."""
    found = []
    pure = shutil.which("graphviz-pure") or _beside_python("graphviz-pure")
    if pure:
        found.append(("graphviz-pure", pure))
    dot = shutil.which("dot")
    if dot:
        found.append(("graphviz", dot))
    return found


def _beside_python(name: str) -> str | None:
    """A venv's scripts folder need not be on PATH when its python is run directly."""
    for folder in {os.path.dirname(sys.executable), os.path.join(sys.prefix, "bin")}:
        p = os.path.join(folder, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _run(exe: str, fmt: str, source: str) -> bytes:
    try:
        r = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise UsageError(f"{os.path.basename(exe)} took more than 5 minutes to lay out the diagram",
                         hint="try without --detail ops") from None
    if r.returncode != 0 or not r.stdout:
        msg = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"{os.path.basename(exe)} -T{fmt} failed (exit {r.returncode}): {' / '.join(msg[-3:])}",
                         hint="write a .dot file instead and render it with another Graphviz")
    return r.stdout


@dataclass
class Rendered:
    """A drawn diagram, and for a raster (PNG, or a PDF made from one) the resolution it was drawn
    at, which is lower than the wanted one when the image would pass the pixel limits."""
    data: bytes
    dpi: int | None = None
    wanted_dpi: int | None = None

    @property
    def note(self) -> str:
        if self.dpi is None or self.dpi == self.wanted_dpi:
            return ""
        return (f"drawn at {self.dpi} dpi instead of {self.wanted_dpi} to stay within {MAX_PNG_PIXELS / 1e6:g} "
                f"megapixels and {MAX_PNG_SIDE:,} pixels a side; write .svg for every detail")


def render(source: str, fmt: str) -> bytes:
    """The diagram as svg, png or pdf bytes."""
    return render_file(source, fmt).data


def render_file(source: str, fmt: str) -> Rendered:
    """The diagram in `fmt`, a PNG (and a PDF made from one) at the highest resolution up to the
    format's own that keeps it within MAX_PNG_PIXELS and MAX_PNG_SIDE."""
    if fmt == "dot":
        return Rendered(source.encode("utf-8"))
    exe = _renderer(fmt)
    if fmt == "pdf":
        system = [path for flavour, path in find_renderers() if flavour == "graphviz"]
        if system:
            return Rendered(_run(system[0], "pdf", source))
        dpi = png_dpi(source, PDF_DPI, exe)
        return Rendered(_png_to_pdf(_run(exe, "png", _with_dpi(source, dpi)), dpi), dpi, PDF_DPI)
    if fmt == "png":
        dpi = png_dpi(source, PNG_DPI, exe)
        return Rendered(_run(exe, "png", _with_dpi(source, dpi)), dpi, PNG_DPI)
    return Rendered(_run(exe, fmt, source))


def _renderer(fmt: str) -> str:
    renderers = find_renderers()
    if not renderers:
        raise UsageError(f"drawing {fmt.upper()} needs a Graphviz layout program, and none is installed",
                         hint="pip install graphviz-pure (or install Graphviz: apt-get install graphviz); "
                              "writing a .dot file needs neither")
    return renderers[0][1]


_SVG_SIZE = re.compile(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


def png_dpi(source: str, dpi: int, exe: str | None = None) -> int:
    """The resolution to draw a PNG of `source` at: `dpi`, or less if the image would pass
    MAX_PNG_PIXELS or MAX_PNG_SIDE. The size is measured (in points) from an SVG of the same
    layout, which costs a fraction of drawing the pixels."""
    m = _SVG_SIZE.search(_run(exe or _renderer("png"), "svg", source))
    if m is None:
        return dpi
    w, h = ((float(v) + 2) / 72 for v in m.groups())          # inches, with room for rounding
    scale = min(1.0, math.sqrt(MAX_PNG_PIXELS / (w * h * dpi * dpi)), MAX_PNG_SIDE / (w * dpi),
                MAX_PNG_SIDE / (h * dpi))
    return dpi if scale >= 1.0 else max(1, math.floor(dpi * scale))


def _with_dpi(source: str, dpi: int) -> str:
    head, sep, rest = source.partition("\n")
    return f"{head}{sep}  graph [dpi=\"{dpi}\"];\n{rest}"


def _png_to_pdf(png: bytes, dpi: int) -> bytes:
    """graphviz-pure writes no PDF: wrap its PNG in one, at the dpi it was drawn with."""
    try:
        from PIL import Image  # here: only a PNG that must be measured needs Pillow (matplotlib's)
    except ImportError:
        raise UsageError("writing PDF without a system Graphviz needs Pillow",
                         hint="pip install pillow, or install Graphviz (apt-get install graphviz), "
                              "or write .svg or .png instead") from None
    img = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    img.save(out, "PDF", resolution=float(dpi))
    return out.getvalue()


def renderer_name() -> str:
    found = find_renderers()
    return found[0][0] if found else "none"
