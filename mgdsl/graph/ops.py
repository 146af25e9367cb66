"""Primitive ops: the node kinds of the graph.

Each op has one entry here with what the graph layer knows about it: its shape rule, its learnable
parameters, its multiply-accumulates (the paper's "FLOPs"), and the other arithmetic it does (counted
separately). How a back end computes an op is that back end's business: each keeps its own emitter
table keyed by these kinds (the torch back end: ``mgdsl.backends.torch_source.EMITTERS``), and a test
checks that every kind here has an emitter there.

Some kinds never come out of lowering: graph passes (``mgdsl.graph.passes`` and the back ends' own)
make them by fusing or rewriting lowered nodes. Their rules count what the nodes they replace counted,
so a network costs the same before and after any pass.

Cost conventions (the ones that reproduce the paper's Tables 1 and 4):
- params: conv/transposed-conv weights and biases, BN gamma and beta, linear weights and biases;
  BN running statistics are buffers, not parameters.
- macs: multiply-accumulates of conv, transposed conv and linear layers only; biases are not counted.
- other: everything else, one count per elementary operation:
  BN, layer and group norm 2 per output element (scale and shift), ReLU 1 per element, a layer
  scale 1 per element, addition 1 per output element,
  max pool k*k - 1 comparisons per output element, average pool k*k additions per output element,
  global (or adaptive) average pool one addition per input element, other activations 1 per element,
  channel-wise product 1 per output element, bilinear resizing 4 per output element; nearest
  upsampling, cropping, concatenation, padding, flattening, channel shuffles, channel slices (chunks),
  dropout and stochastic depth only move data and count 0.
- grouped convs: each output sees cin/groups input channels, so params and MACs divide by groups;
  dilation changes only the output size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

Shape = tuple  # (C, H, W) for a grid, (F,) for a flat vector
Attrs = Mapping[str, Any]   # a node's op arguments


class ShapeProblem(Exception):
    """Raised by a shape rule; the lowering turns it into a located SpecShapeError."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def numel(shape: Shape) -> int:
    """Elements of a tensor of this shape (per image)."""
    return math.prod(shape)


def _zero(a, ins, out) -> int:
    return 0


def _grid(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeProblem(f"{what} needs a grid, but its input is a flat vector of {shape[0]} features",
                           "only `fc` can follow a flattening layer")
    return shape


def pair(v) -> tuple[int, int]:
    """A kernel's, stride's or padding's (height, width): a number is the same on both sides, a window
    is (height, width) as written (`kernel=1x7`)."""
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _window(n: int, k: int, s: int, p: int, ceil: bool, what: str, written: str | None = None) -> int:
    span = n + 2 * p - k
    if span < 0:
        raise ShapeProblem(f"a {written or f'{k}x{k}'} {what} does not fit in a grid of size {n}")
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:   # PyTorch's rule: the last window must start inside the input
        out -= 1
    return out


@dataclass(frozen=True)
class Op:
    kind: str
    shape: Callable[[Attrs, list], Shape]
    params: Callable[[Attrs], int] = lambda a: 0
    macs: Callable[[Attrs, list, Shape], int] = _zero
    other: Callable[[Attrs, list, Shape], int] = _zero
    lowered: bool = True       # made by lowering; False: only made by a graph pass


OPS: dict[str, Op] = {}


def op(kind: str, **kw) -> Op:
    OPS[kind] = entry = Op(kind, **kw)
    return entry


def _conv_shape(a, ins):
    c, h, w = _grid(ins[0], "a convolution")
    if c != a["cin"]:
        raise ShapeProblem(f"convolution expects {a['cin']} channels but gets {c}")
    g = a.get("groups", 1)
    if a["cin"] % g or a["cout"] % g:
        raise ShapeProblem(f"{g} groups do not divide {a['cin']} input and {a['cout']} output channels",
                           "groups must divide both channel counts; groups=depthwise uses one per input channel")
    (kh, kw), s, (ph, pw) = dilated(a), a["stride"], pair(a["pad"])
    written = None if kh == kw else f"{kh}x{kw}"
    return (a["cout"], _window(h, kh, s, ph, False, "kernel", written), _window(w, kw, s, pw, False, "kernel", written))


def dilated(a) -> tuple[int, int]:
    """The (height, width) span of a (possibly dilated) kernel: dilation only spreads the taps, so it
    changes the output size and nothing else."""
    d = a.get("dilation", 1)
    return tuple(d * (k - 1) + 1 for k in pair(a["kernel"]))  # type: ignore[return-value]


def _pool_shape(name, ceil):
    def rule(a, ins):
        c, h, w = _grid(ins[0], name)
        (kh, kw), (sh, sw), (ph, pw), up = pair(a["kernel"]), pair(a["stride"]), pair(a["pad"]), a.get("ceil", ceil)
        written = f"{kh}x{kw}"
        if 2 * ph > kh or 2 * pw > kw:
            pad = a["pad"] if isinstance(a["pad"], int) else f"{ph}x{pw}"
            raise ShapeProblem(f"{name} padding {pad} is more than half its {written} window")
        return (c, _window(h, kh, sh, ph, up, name, written), _window(w, kw, sw, pw, up, name, written))
    return rule


def _same(ins):
    shapes = {tuple(s) for s in ins}
    if len(shapes) != 1:
        raise ShapeProblem("tensors of shapes " + " and ".join("x".join(map(str, s)) for s in ins) + " cannot be added",
                           "the shortcut and the unit's output must match; use shortcut=pad or shortcut=proj")
    return ins[0]


def _cat_shape(a, ins):
    sizes = {tuple(s[1:]) for s in ins}
    if any(len(s) != 3 for s in ins) or len(sizes) != 1:
        raise ShapeProblem("cannot concatenate grids of sizes " + ", ".join("x".join(map(str, s[1:])) for s in ins),
                           "neighbouring grids must differ by exactly a factor of 2 in size")
    return (sum(s[0] for s in ins), *ins[0][1:])


def _taps(a) -> int:
    """Taps of a kernel: k * k, or height * width."""
    return math.prod(pair(a["kernel"]))


def _conv_params(a) -> int:
    return a["cin"] // a.get("groups", 1) * a["cout"] * _taps(a) + (a["cout"] if a["bias"] else 0)


def _folded_params(a) -> int:
    """A conv's parameters, plus those of the batch norm folded into it (attribute `bn`), if any."""
    return _conv_params(a) + (2 * a["cout"] if a.get("bn") else 0)


def _folded_other(a, ins, out) -> int:
    return 2 * numel(out) if a.get("bn") else 0


def _conv_macs(a, ins, out) -> int:
    return numel(out) * a["cin"] // a.get("groups", 1) * _taps(a)


def _same_shape(a, ins):
    return ins[0]


op("input", shape=lambda a, ins: tuple(a["shape"]))

op("conv", shape=_conv_shape, params=_conv_params, macs=_conv_macs)


def _convT_shape(a, ins):
    c, h, w = _grid(ins[0], "a transposed convolution")
    k, s = a["kernel"], a["stride"]
    return (a["cout"], (h - 1) * s + k, (w - 1) * s + k)


op("convT", shape=_convT_shape, params=_conv_params,
   macs=lambda a, ins, out: numel(ins[0]) * a["cout"] * a["kernel"] ** 2)

op("bn", shape=lambda a, ins: _grid(ins[0], "batch norm"),
   params=lambda a: 2 * a["channels"],
   other=lambda a, ins, out: 2 * numel(out))

op("relu", shape=lambda a, ins: ins[0],
   other=lambda a, ins, out: numel(out))

# the activation functions besides ReLU (which keeps its own op, for the in-place pass); each is one
# elementary operation per element in the `other` count. The torch back end maps each name to a call.
ACTIVATIONS = ("relu6", "silu", "gelu", "sigmoid", "hardswish", "leaky", "tanh", "hardsigmoid", "mish")
op("act", shape=lambda a, ins: ins[0], other=lambda a, ins, out: numel(out))

# dropout: active in training only; it moves no weights and is not counted
op("dropout", shape=lambda a, ins: ins[0])

# stochastic depth: in training, the whole of a sample's tensor is dropped with probability p (the
# rest scaled by 1 / (1 - p)); the identity at inference; not counted, like dropout
op("droppath", shape=lambda a, ins: ins[0])


def _channel_groups(what):
    def rule(a, ins):
        c = _grid(ins[0], what)[0]
        if c % a["groups"]:
            raise ShapeProblem(f"{what} in {a['groups']} groups needs a channel count they divide, not {c}",
                               "choose groups that divide the channels")
        return ins[0]
    return rule


# channel shuffle (ShuffleNet): the channels, as `groups` groups, interleaved; only moves data
op("shuffle", shape=_channel_groups("a channel shuffle"))

def _slice_shape(a, ins):
    c = ins[0][0]
    if not 0 <= a["start"] < a["stop"] <= c:
        raise ShapeProblem(f"channels {a['start']} to {a['stop'] - 1} are not all among the {c} channels here",
                           f"keep at most {c} channels, starting from channel 0 to {c - 1}")
    return (a["stop"] - a["start"], *ins[0][1:])


# the channels start..stop-1 of a grid or a flat vector (a chunk of a split, GhostNet's first channels);
# only moves data
op("slice", shape=_slice_shape)

# layer norm over the channels at each position (ConvNeXt's) and group norm: like batch norm, a
# scale and shift per channel, and 2 operations per output element
op("ln", shape=lambda a, ins: _grid(ins[0], "layer norm"), params=lambda a: 2 * a["channels"],
   other=lambda a, ins, out: 2 * numel(out))
op("gn", shape=_channel_groups("group norm"), params=lambda a: 2 * a["channels"],
   other=lambda a, ins, out: 2 * numel(out))

# a learnable scale per channel (ConvNeXt's layer scale): C parameters, one product per element
op("layerscale", shape=lambda a, ins: _grid(ins[0], "a layer scale"), params=lambda a: a["channels"],
   other=lambda a, ins, out: numel(out))


def _broadcast(a, ins):
    """x * gate, or gate * x: one side is a grid, the other a C x 1 x 1 gate of the same channels."""
    x, y = (_grid(s, "a channel-wise product") for s in ins)
    if y[1:] == (1, 1) and x[0] == y[0]:
        return x
    if x[1:] == (1, 1) and x[0] == y[0]:
        return y
    raise ShapeProblem("a channel-wise product needs a C x 1 x 1 gate with the grid's channels, not shapes "
                       + " and ".join("x".join(map(str, s)) for s in ins),
                       "make the gate with `gap` and 1x1 convs to the grid's channel count")


op("mul", shape=_broadcast, other=lambda a, ins, out: numel(out))

op("maxpool", shape=_pool_shape("max pool", True),
   other=lambda a, ins, out: numel(out) * (_taps(a) - 1))

op("avgpool", shape=_pool_shape("average pool", False),
   other=lambda a, ins, out: numel(out) * _taps(a))

op("gap", shape=lambda a, ins: (_grid(ins[0], "global average pooling")[0], 1, 1),
   other=lambda a, ins, out: numel(ins[0]))

def _upsample_shape(a, ins):
    c, h, w = _grid(ins[0], "upsampling")
    return (c, h * a["factor"], w * a["factor"])


op("upsample", shape=_upsample_shape,
   other=lambda a, ins, out: 4 * numel(out) if a.get("mode", "nearest") == "bilinear" else 0)

# resizing to a given grid size (bilinear: a weighted sum of 4 neighbours per output element)
op("resize", shape=lambda a, ins: (_grid(ins[0], "resizing")[0], *a["size"]),
   other=lambda a, ins, out: 4 * numel(out) if a["mode"] == "bilinear" else 0)


def _adaptive_shape(a, ins):
    c, h, w = _grid(ins[0], "adaptive average pooling")
    if a["size"][0] > h or a["size"][1] > w:
        raise ShapeProblem(f"cannot average-pool a {h}x{w} grid to the larger {a['size'][0]}x{a['size'][1]}")
    return (c, *a["size"])


op("adaptive_avgpool", shape=_adaptive_shape, other=lambda a, ins, out: numel(ins[0]))


def _crop_shape(a, ins):
    c, h, w = _grid(ins[0], "cropping")
    (top, left), (ch, cw) = a["at"], a["size"]
    if top < 0 or left < 0 or top + ch > h or left + cw > w:
        raise ShapeProblem(f"cannot crop {ch}x{cw} out of a {h}x{w} grid", "crop only to a smaller grid")
    return (c, ch, cw)


# a window of the grid (centre-crop: the original U-Net's skips); only moves data
op("crop", shape=_crop_shape)

op("concat", shape=_cat_shape)

op("add", shape=lambda a, ins: _same(ins),
   other=lambda a, ins, out: numel(out))

op("pad", shape=lambda a, ins: (a["cout"], *_grid(ins[0], "channel padding")[1:]))

op("flatten", shape=lambda a, ins: (numel(ins[0]),))


def _linear_shape(a, ins):
    if len(ins[0]) != 1 or ins[0][0] != a["fin"]:
        raise ShapeProblem(f"linear layer expects {a['fin']} features but gets shape {ins[0]}")
    return (a["fout"],)


op("linear", shape=_linear_shape,
   params=lambda a: a["fin"] * a["fout"] + (a["fout"] if a["bias"] else 0),
   macs=lambda a, ins, out: a["fin"] * a["fout"])


# -- kinds made by graph passes (never by lowering) ---------------------------------------------------
# conv + batch norm, the norm folded into the conv with its running statistics (inference); `bn` is
# the folded norm's node id, which keeps its parameters' names
op("conv_bn", shape=_conv_shape, params=_folded_params, macs=_conv_macs, other=_folded_other, lowered=False)


def _conv_up_shape(a, ins):
    """A 3x3 conv over [the inputs before the upsampled part, x2 nearest upsampling of the coarse
    input], computed without the upsampled copy; `split` is the channel count before it."""
    fine, coarse = _grid(ins[0], "a convolution"), _grid(ins[1], "a convolution")
    if fine[0] + coarse[0] != a["cin"] or fine[1:] != (2 * coarse[1], 2 * coarse[2]):
        raise ShapeProblem("internal error: a coarse-branch conv got inputs of the wrong shape")
    return _conv_shape(a, [(a["cin"], *fine[1:])])


op("conv_upT", shape=_conv_up_shape, params=_folded_params, macs=_conv_macs, other=_folded_other, lowered=False)

# a stride-1 conv computed as im2col GEMMs (torch's CPU target)
op("conv_gemm", shape=_conv_shape, params=_folded_params, macs=_conv_macs, other=_folded_other, lowered=False)

# a ReLU that overwrites its input (nothing reads the input afterwards)
op("relu_", shape=_same_shape, other=lambda a, ins, out: numel(out), lowered=False)

# memory layout changes of the whole activation: to channels-last after the input, back at the output
op("to_channels_last", shape=_same_shape, lowered=False)
op("to_default_layout", shape=_same_shape, lowered=False)
