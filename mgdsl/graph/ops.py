"""Primitive ops: the node kinds of the graph.

Each op carries, in one entry, everything the back ends and the cost model need to know about it:
its shape rule, its learnable parameters, its multiply-accumulates (the paper's "FLOPs"), the other
arithmetic it does (counted separately), and the PyTorch source that builds and calls it. Nothing here
imports torch: the torch back end turns these snippets into a module.

Cost conventions (the ones that reproduce the paper's Tables 1 and 4):
- params: conv/transposed-conv weights and biases, BN gamma and beta, linear weights and biases;
  BN running statistics are buffers, not parameters.
- macs: multiply-accumulates of conv, transposed conv and linear layers only; biases are not counted.
- other: everything else, one count per elementary operation:
  BN 2 per output element (scale and shift), ReLU 1 per element, addition 1 per output element,
  max pool k*k - 1 comparisons per output element, average pool k*k additions per output element,
  global average pool H*W additions per channel; upsampling, concatenation, padding and flattening
  only move data and count 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

Shape = tuple  # (C, H, W) for a grid, (F,) for a flat vector


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


def _window(n: int, k: int, s: int, p: int, ceil: bool, what: str) -> int:
    span = n + 2 * p - k
    if span < 0:
        raise ShapeProblem(f"a {k}x{k} {what} does not fit in a grid of size {n}")
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:   # PyTorch's rule: the last window must start inside the input
        out -= 1
    return out


@dataclass(frozen=True)
class Op:
    kind: str
    shape: Callable[[dict, list], Shape]
    params: Callable[[dict], int] = lambda a: 0
    macs: Callable[[dict, list, Shape], int] = _zero
    other: Callable[[dict, list, Shape], int] = _zero
    init: Callable[[dict], str] | None = None          # source of the nn.Module that holds the weights
    call: Callable[[dict, list, str], str] = None      # source of the expression computing the output


OPS: dict[str, Op] = {}


def op(kind: str, **kw) -> Op:
    OPS[kind] = entry = Op(kind, **kw)
    return entry


def _conv_shape(a, ins):
    c, h, w = _grid(ins[0], "a convolution")
    if c != a["cin"]:
        raise ShapeProblem(f"convolution expects {a['cin']} channels but gets {c}")
    k, s, p = a["kernel"], a["stride"], a["pad"]
    return (a["cout"], _window(h, k, s, p, False, "kernel"), _window(w, k, s, p, False, "kernel"))


def _pool_shape(name, ceil):
    def rule(a, ins):
        c, h, w = _grid(ins[0], name)
        k, s, p, up = a["kernel"], a["stride"], a["pad"], a.get("ceil", ceil)
        if 2 * p > k:
            raise ShapeProblem(f"{name} padding {p} is more than half its {k}x{k} window")
        return (c, _window(h, k, s, p, up, name), _window(w, k, s, p, up, name))
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


op("input", shape=lambda a, ins: tuple(a["shape"]))

op("conv", shape=_conv_shape,
   params=lambda a: a["cin"] * a["cout"] * a["kernel"] ** 2 + (a["cout"] if a["bias"] else 0),
   macs=lambda a, ins, out: numel(out) * a["cin"] * a["kernel"] ** 2,
   init=lambda a: f"nn.Conv2d({a['cin']}, {a['cout']}, {a['kernel']}, stride={a['stride']}, padding={a['pad']}, bias={a['bias']})",
   call=lambda a, x, m: f"{m}({x[0]})")


def _convT_shape(a, ins):
    c, h, w = _grid(ins[0], "a transposed convolution")
    k, s = a["kernel"], a["stride"]
    return (a["cout"], (h - 1) * s + k, (w - 1) * s + k)


op("convT", shape=_convT_shape,
   params=lambda a: a["cin"] * a["cout"] * a["kernel"] ** 2 + (a["cout"] if a["bias"] else 0),
   macs=lambda a, ins, out: numel(ins[0]) * a["cout"] * a["kernel"] ** 2,
   init=lambda a: f"nn.ConvTranspose2d({a['cin']}, {a['cout']}, {a['kernel']}, stride={a['stride']}, bias={a['bias']})",
   call=lambda a, x, m: f"{m}({x[0]})")

op("bn", shape=lambda a, ins: _grid(ins[0], "batch norm"),
   params=lambda a: 2 * a["channels"],
   other=lambda a, ins, out: 2 * numel(out),
   init=lambda a: f"nn.BatchNorm2d({a['channels']})",
   call=lambda a, x, m: f"{m}({x[0]})")

op("relu", shape=lambda a, ins: ins[0],
   other=lambda a, ins, out: numel(out),
   call=lambda a, x, m: f"F.relu({x[0]})")

op("maxpool", shape=_pool_shape("max pool", True),
   other=lambda a, ins, out: numel(out) * (a["kernel"] ** 2 - 1),
   call=lambda a, x, m: f"F.max_pool2d({x[0]}, {a['kernel']}, {a['stride']}, {a['pad']}, ceil_mode={a.get('ceil', True)})")

op("avgpool", shape=_pool_shape("average pool", False),
   other=lambda a, ins, out: numel(out) * a["kernel"] ** 2,
   call=lambda a, x, m: f"F.avg_pool2d({x[0]}, {a['kernel']}, {a['stride']}, {a['pad']}, ceil_mode={a.get('ceil', False)})")

op("gap", shape=lambda a, ins: (_grid(ins[0], "global average pooling")[0], 1, 1),
   other=lambda a, ins, out: numel(ins[0]),
   call=lambda a, x, m: f"F.adaptive_avg_pool2d({x[0]}, 1)")

op("upsample", shape=lambda a, ins: (lambda c, h, w: (c, h * a["factor"], w * a["factor"]))(*_grid(ins[0], "upsampling")),
   call=lambda a, x, m: f"F.interpolate({x[0]}, scale_factor={a['factor']}, mode='nearest')")

op("concat", shape=_cat_shape,
   call=lambda a, x, m: f"torch.cat([{', '.join(x)}], 1)")

op("add", shape=lambda a, ins: _same(ins),
   other=lambda a, ins, out: numel(out),
   call=lambda a, x, m: " + ".join(x))

op("pad", shape=lambda a, ins: (a["cout"], *_grid(ins[0], "channel padding")[1:]),
   call=lambda a, x, m: f"F.pad({x[0]}, (0, 0, 0, 0, 0, {a['cout'] - a['cin']}))")

op("flatten", shape=lambda a, ins: (numel(ins[0]),),
   call=lambda a, x, m: f"torch.flatten({x[0]}, 1)")


def _linear_shape(a, ins):
    if len(ins[0]) != 1 or ins[0][0] != a["fin"]:
        raise ShapeProblem(f"linear layer expects {a['fin']} features but gets shape {ins[0]}")
    return (a["fout"],)


op("linear", shape=_linear_shape,
   params=lambda a: a["fin"] * a["fout"] + (a["fout"] if a["bias"] else 0),
   macs=lambda a, ins, out: a["fin"] * a["fout"],
   init=lambda a: f"nn.Linear({a['fin']}, {a['fout']}, bias={a['bias']})",
   call=lambda a, x, m: f"{m}({x[0]})")
