"""Receptive fields, read off the graph: which pixels of the input image a position of a node sees.

A position's field is found by walking the graph backwards from it: each op maps an interval of its
output positions (per axis) to the interval of input positions it reads, and where several inputs meet
(concatenation, addition, a gate) the field is the union, so the largest over all paths. The rules,
per op, with output positions [a, b] on an axis of n input positions:

- conv and pooling (kernel k, stride s, padding p, dilation d): [a*s - p, b*s - p + d*(k - 1)] (the
  span of the dilated kernel, holes included; a window of two sides, 1x7, has its own k, s and p per axis);
- transposed conv (kernel k, stride s): the inputs i with i*s <= o <= i*s + k - 1;
- nearest upsampling by f, or resizing to m positions: floor(o / f), floor(o * n / m);
- bilinear upsampling and resizing (align_corners off, as torch): the two neighbours of the source
  coordinate (o + 1/2) * n/m - 1/2, clamped at 0, or one where it falls exactly on a position;
- adaptive average pooling to m: floor(o * n / m) to ceil((o + 1) * n / m) - 1;
- cropping: shifted by the crop's corner; global pooling, flattening and linear layers: everything;
- group norm: everything, as its mean and variance are taken over the whole grid (measured: a position's
  input gradient reaches every pixel); batch norm (running statistics in eval mode) and ConvNeXt's
  layer norm (over the channels of one position) are pointwise;
- every other op (activations, batch norm, additions, concatenation, padding of channels, products
  with a C x 1 x 1 gate): the same positions (a 1 x 1 input: its only one).

Two fields come out of the walk. The theoretical one ignores where the grids end (a grid is as wide as
a position's field needs), which is what a layer can see; its size is the field's extent, in input
pixels. The actual one stops at every grid's border, as padding does: that is exactly what a position
of a real network reads (tests/test_receptive.py compares it with the support of the input gradient).
The jump (the effective stride) is the input distance between neighbouring positions, by the usual
recurrence: strides multiply it, up-sampling divides it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .ir import Graph, Node
from .ops import dilated, pair

Interval = tuple[int, int]           # first and last position, inclusive
Box = tuple[Interval, Interval]      # rows, columns


@dataclass(frozen=True)
class Field:
    """A node's receptive field on the input image, per axis (rows, columns)."""
    size: tuple[int, int]            # theoretical extent of a central position's field, in input pixels
    jump: tuple[float, float]        # input pixels from one position to the next
    offset: tuple[float, float]      # input coordinates of the centre of position (0, 0)'s field
    covers: bool                     # a central position's actual field is the whole input


# -- one axis of one op ------------------------------------------------------------------------------
def _source(o: int, n_in: int, n_out: int, scale: float | None) -> float:
    """torch's source coordinate for output position o (align_corners off): the given scale factor's
    reciprocal when there is one, else in/out."""
    r = 1.0 / scale if scale is not None else n_in / n_out
    return r * (o + 0.5) - 0.5


def _bilinear(a: int, b: int, n_in: int, n_out: int, scale: float | None) -> Interval:
    lo = max(_source(a, n_in, n_out, scale), 0.0)
    hi = max(_source(b, n_in, n_out, scale), 0.0)
    i_hi = int(hi)
    return int(lo), (i_hi + 1 if hi > i_hi else i_hi)


def _axis(r: Node, axis: int, a: int, b: int, n_in: int, n_out: int) -> Interval:
    """The positions on an axis (0: rows, 1: columns) of n_in that output positions [a, b] (of n_out) read."""
    kind, at = r.kind, r.attrs
    if kind in ("conv", "maxpool", "avgpool"):
        span, pad, stride = dilated(at)[axis] - 1, pair(at["pad"])[axis], pair(at["stride"])[axis]
        return a * stride - pad, b * stride - pad + span
    if kind == "convT":
        s, kk = at["stride"], at["kernel"]
        return -((kk - 1 - a) // s), b // s              # ceil((a - k + 1) / s), floor(b / s)
    if kind == "upsample":
        f = at["factor"]
        if at.get("mode") == "bilinear":
            return _bilinear(a, b, n_in, n_out, f)
        return a // f, b // f
    if kind == "resize":
        if at["mode"] == "bilinear":
            return _bilinear(a, b, n_in, n_out, None)
        return math.floor(a * n_in / n_out), math.floor(b * n_in / n_out)
    if kind == "adaptive_avgpool":
        return a * n_in // n_out, -(-(b + 1) * n_in // n_out) - 1
    if kind in ("gap", "flatten", "linear", "gn"):
        return 0, n_in - 1                                 # group norm: its statistics span the grid
    if kind == "crop":
        return a, b                                        # shifted by the caller, which knows the axis
    if n_in == 1:
        return 0, 0                                        # a 1 x 1 gate broadcast over the grid
    return a, b


def _step(G: Graph, r: Node, box: Box) -> list[tuple[str, Box]]:
    """The positions each input of `r` contributes to the positions `box` of `r`."""
    out = []
    for i in r.inputs:
        shape = G.node(i).shape
        if len(shape) != 3:                        # a flat vector: its one "position"
            out.append((i, ((0, 0), (0, 0))))
            continue
        if len(r.shape) != 3:                       # flatten, linear: a flat output reads all of a grid
            out.append((i, ((0, shape[1] - 1), (0, shape[2] - 1))))
            continue
        ys = _axis(r, 0, *box[0], shape[1], r.shape[1])
        xs = _axis(r, 1, *box[1], shape[2], r.shape[2])
        if r.kind == "crop":
            top, left = r.attrs["at"]
            ys, xs = (ys[0] + top, ys[1] + top), (xs[0] + left, xs[1] + left)
        out.append((i, (ys, xs)))
    return out


# -- walks -------------------------------------------------------------------------------------------
def input_box(G: Graph, node: str, pos: tuple[int, int], clip: bool = True) -> Box | None:
    """The input pixels that position `pos` of `node` sees: rows and columns, first and last. With
    `clip`, every grid ends at its border (what the network actually reads); without, the theoretical
    field. None when nothing of the input is reached (a node that does not depend on the image)."""
    order, index = _order(G)
    boxes: dict[str, Box] = {node: ((pos[0], pos[0]), (pos[1], pos[1]))}
    for n in reversed(order[: index[node] + 1]):
        box = boxes.get(n)
        if box is None:
            continue
        r = G.node(n)
        if clip and len(r.shape) == 3:
            box = ((max(box[0][0], 0), min(box[0][1], r.shape[1] - 1)),
                   (max(box[1][0], 0), min(box[1][1], r.shape[2] - 1)))
            if box[0][0] > box[0][1] or box[1][0] > box[1][1]:
                continue
        if r.kind == "input":
            return box
        for i, b in _step(G, r, box):
            old = boxes.get(i)
            boxes[i] = b if old is None else ((min(old[0][0], b[0][0]), max(old[0][1], b[0][1])),
                                              (min(old[1][0], b[1][0]), max(old[1][1], b[1][1])))
    return None


@lru_cache(maxsize=64)
def _order(G: Graph) -> tuple[list[str], dict[str, int]]:
    """The graph's nodes in topological (insertion) order, and each one's place in it."""
    order = [r.id for r in G.records()]
    return order, {n: i for i, n in enumerate(order)}


def _jumps(G: Graph) -> dict[str, tuple[float, float]]:
    """Input pixels between neighbouring positions of every node, by the forward recurrence."""
    out: dict[str, tuple[float, float]] = {}
    for r in G.records():
        if r.kind == "input" or not r.inputs:
            out[r.id] = (1.0, 1.0)
            continue
        ins = [(out[i], G.node(i).shape) for i in r.inputs]
        (jy, jx), shape = max(ins, key=lambda t: t[0])
        if len(r.shape) != 3 or len(shape) != 3:
            out[r.id] = (float(G.info.input_shape[1]), float(G.info.input_shape[2]))
            continue
        at = r.attrs
        f: tuple[float, float]
        if r.kind in ("conv", "maxpool", "avgpool"):
            f = pair(at["stride"])
        elif r.kind == "convT":
            f = (1 / at["stride"], 1 / at["stride"])
        elif r.kind in ("upsample", "resize", "adaptive_avgpool", "gap"):
            f = (shape[1] / r.shape[1], shape[2] / r.shape[2])
        else:
            f = (1, 1)
        out[r.id] = (jy * f[0], jx * f[1])
    return out


def field(G: Graph, node: str, jumps: dict[str, tuple[float, float]] | None = None) -> Field:
    """The receptive field of `node`: the theoretical size of a central position's field (the larger
    of it and its next neighbour's, so that an up-sampled grid's every other position counts), the
    jump, the centre of position (0, 0)'s field, and whether a central position's actual field is the
    whole input."""
    r = G.node(node)
    _, H, W = G.info.input_shape
    jump = (jumps or _jumps(G))[node]
    if len(r.shape) != 3:
        return Field((H, W), jump, ((H - 1) / 2, (W - 1) / 2), True)
    h, w = r.shape[1:]
    cy, cx = (h - 1) // 2, (w - 1) // 2
    sizes = []
    for pos in ((cy, cx), (min(cy + 1, h - 1), min(cx + 1, w - 1))):
        box = input_box(G, node, pos, clip=False)
        if box is not None:
            sizes.append((box[0][1] - box[0][0] + 1, box[1][1] - box[1][0] + 1))
    zero = input_box(G, node, (0, 0), clip=False)
    actual = input_box(G, node, (cy, cx), clip=True)
    if not sizes or zero is None:
        return Field((0, 0), jump, (0.0, 0.0), False)
    size = (max(s[0] for s in sizes), max(s[1] for s in sizes))
    offset = ((zero[0][0] + zero[0][1]) / 2, (zero[1][0] + zero[1][1]) / 2)
    return Field(size, jump, offset, actual == ((0, H - 1), (0, W - 1)))


@lru_cache(maxsize=64)
def _cached_jumps(G: Graph) -> dict[str, tuple[float, float]]:
    return _jumps(G)


# Each field walks back over the nodes before it: a network of L layers and N ops costs about 4 L N steps
# (about two microseconds each). Past this many, the fields of every layer are not computed (a network at the op
# limit would take minutes); one layer's still are (the editor's hover).
MAX_STEPS = 1_000_000


def walk_steps(G: Graph) -> int:
    """About how many steps the fields of every layer take to compute."""
    _, index = _order(G)
    return sum(4 * (index[o] + 1) for rec in G.info.layers for o in rec.outputs)


def too_large(G: Graph) -> bool:
    """Whether the fields of every layer would take more than MAX_STEPS steps."""
    return walk_steps(G) > MAX_STEPS


def layer_fields(G: Graph) -> dict[str, dict[str, Field]]:
    """Every top-level layer's field on each grid it leaves: {layer path: {grid label: Field}}; empty
    for a network whose fields would take more than MAX_STEPS steps. Computed once per network: a graph
    lowered again from the same spec (a reload, a reformatted file) finds the fields already there."""
    if too_large(G):
        return {}
    key = _fields_key(G)
    fields = _FIELDS.pop(key, None)
    if fields is None:
        fields = _layer_fields(G)
        if len(_FIELDS) >= 16:
            del _FIELDS[next(iter(_FIELDS))]          # the least recently used
    _FIELDS[key] = fields
    return dict(fields)


_FIELDS: dict[tuple, dict[str, dict[str, Field]]] = {}


def _fields_key(G: Graph) -> tuple:
    """Everything the fields depend on: the image, each op's kind, inputs, shape and arguments, and the
    layers' outputs (not where anything is written)."""
    return (G.info.input_shape,
            tuple((r.id, r.kind, r.inputs, r.shape, repr(sorted(r.attrs.items()))) for r in G.records()),
            tuple((rec.path, rec.outputs) for rec in G.info.layers))


def _layer_fields(G: Graph) -> dict[str, dict[str, Field]]:
    jumps = _cached_jumps(G)
    out: dict[str, dict[str, Field]] = {}
    for rec in G.info.layers:
        grids = {}
        for nid in rec.outputs:
            n = G.node(nid)
            grids[n.grid] = field(G, nid, jumps)
        out[rec.path] = grids
    return out


def fields_of(G: Graph, path: str) -> dict[str, Field]:
    """One top-level layer's field on each grid it leaves."""
    rec = next(r for r in G.info.layers if r.path == path)
    jumps = _cached_jumps(G)
    return {G.node(o).grid: field(G, o, jumps) for o in rec.outputs}


def first_covering(G: Graph) -> tuple[int, str] | None:
    """(1-based index, path) of the first top-level layer one of whose grids has a central position
    that sees the whole input; None when no layer's does, or the network is too large to tell
    (`walk_steps` over MAX_STEPS)."""
    fields = layer_fields(G)
    for i, (path, grids) in enumerate(fields.items(), 1):
        if any(f.covers for f in grids.values()):
            return i, path
    return None


def conv_depth(G: Graph) -> dict[str, int]:
    """For every node, the most convolutions (conv, transposed conv) on any path from the input to it."""
    depth: dict[str, int] = {}
    for r in G.records():
        depth[r.id] = max((depth[i] for i in r.inputs), default=0) + (r.kind in ("conv", "convT"))
    return depth
