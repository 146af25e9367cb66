"""The torch back end's own graph passes, and which of them each code generation target runs.

Each pass rewrites matched nodes into a node kind with its own emitter (``torch_source.EMITTERS``);
each computes the same function and gradients as the plain lowering up to floating-point rounding,
and none changes a parameter or a state_dict key. Targets and their defaults were chosen with
``tools/bench.py --ablate`` (docs/benchmark.md).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..graph.ir import Graph, Node
from ..graph.passes import Rewrite, fold_bn

# name -> why it is exact and why it is faster; each can be switched off on its own
OPTIMIZATIONS = {
    "coarse_convT": "an mg-conv's upsampled coarser neighbour enters its 3x3 conv as a stride-2 4x4 transposed "
                    "conv on the coarse grid (nearest upsampling folded into the kernel: 2.25x fewer MACs for "
                    "that part, no upsampled copy, smaller concatenation); used where the fine grid is >= 16 px",
    "small_grid_gemm": "stride-1 convs on grids of <= 16 pixels run as one im2col GEMM per pass (forward, "
                       "input gradient, weight gradient) through oneDNN's matmul, with the weights stored "
                       "channels-last so that each weight already is the GEMM's matrix; oneDNN's conv spends "
                       "most of its time on such grids reordering the weights into and out of its blocked layout",
    "inplace_relu": "ReLU overwrites its input when nothing else reads it and its producer did not save it",
    "channels_last": "activations in channels-last memory format, oneDNN's and cuDNN's fast layout (no reorders "
                     "of the activations around each conv)",
}

# Each target's passes. "portable" (the default of `mgdsl compile`) uses public torch API only and
# is tuned for no device. The small-grid GEMM works around oneDNN's weight reorders, which cuDNN does
# not have (on an H200 an earlier GEMM weight gradient nearly doubled the training step; oneDNN's
# matmul is a private, CPU-only op); cuDNN's stride-2 transposed conv is slower than its conv over the
# upsampled concatenation, despite the fewer MACs.
TARGETS: dict[str, set[str]] = {
    "portable": {"inplace_relu"},
    "cpu": set(OPTIMIZATIONS),
    "cuda": {"inplace_relu", "channels_last"},
}
DEVICE_TARGETS = ("cpu", "cuda")        # targets tuned for one device type: their code says which

_CONVT_MIN_SIZE = 16           # fine grid side from which the transposed-conv form is faster on CPU
_GEMM_MAX_PIXELS = 16          # output grids up to this many pixels take the GEMM conv

# producers whose output autograd does not keep, so a ReLU may overwrite it (a GEMM conv returns a view)
_FRESH = {"conv", "conv_bn", "conv_upT", "convT", "bn", "add", "linear", "concat", "maxpool", "avgpool", "upsample"}


def resolve_options(optimize: bool = True, target: str = "portable", **flags) -> dict[str, bool]:
    """The optimisation switches: the target's defaults (none without `optimize`), then any named
    one overridden."""
    unknown = set(flags) - set(OPTIMIZATIONS)
    if unknown:
        raise TypeError(f"unknown code generation option(s) {sorted(unknown)}; known: {sorted(OPTIMIZATIONS)}")
    if target not in TARGETS:
        raise TypeError(f"unknown target {target!r}; known: {sorted(TARGETS)}")
    return {k: bool(flags.get(k, optimize and k in TARGETS[target])) for k in OPTIMIZATIONS}


def target_of(device) -> str:
    """The code generation target for a torch device (or its name): "cuda" for CUDA, else "cpu"."""
    return "cuda" if str(device).split(":")[0] == "cuda" else "cpu"


def coarse_convT(G: Graph) -> Graph:
    """conv3x3(cat[..., up2(coarse)]) -> conv_upT: the upsampled part becomes a stride-2 4x4 transposed
    conv on the coarse grid, and the upsampled copy disappears."""
    rw, readers = Rewrite(G), G.readers()
    for r in G.records():
        if r.kind not in ("conv", "conv_bn") or (r.attrs["kernel"], r.attrs["stride"], r.attrs["pad"]) != (3, 1, 1) \
                or _spread(r):
            continue
        cat = G.node(r.inputs[0])
        if cat.kind != "concat" or readers[cat.id] != [r.id]:
            continue
        up = G.node(cat.inputs[-1])
        if up.kind != "upsample" or up.attrs["factor"] != 2 or up.attrs.get("mode", "nearest") != "nearest" \
                or readers[up.id] != [cat.id] \
                or min(up.shape[1:]) < _CONVT_MIN_SIZE:
            continue
        rest = cat.inputs[:-1]
        split = sum(G.node(i).shape[0] for i in rest)
        rw.drop(up.id)
        if len(rest) == 1:
            rw.drop(cat.id, alias=rest[0])
        else:
            rw.replace(cat.id, replace(cat, inputs=rest, shape=(split, *cat.shape[1:])))
        rw.replace(r.id, replace(r, kind="conv_upT", inputs=(cat.id if len(rest) > 1 else rest[0], up.inputs[0]),
                                 attrs={**r.attrs, "split": split}))
    return rw.result()


def _spread(r: Node) -> bool:
    """A grouped, dilated or non-square conv: the rewrites below assume a dense, undilated, square kernel."""
    return r.attrs.get("groups", 1) != 1 or r.attrs.get("dilation", 1) != 1 or isinstance(r.attrs["kernel"], tuple) \
        or isinstance(r.attrs["pad"], tuple)


def small_grid_gemm(G: Graph) -> Graph:
    """Stride-1 convs on grids of at most 16 pixels -> conv_gemm."""
    rw = Rewrite(G)
    for r in G.records():
        if r.kind in ("conv", "conv_bn") and r.attrs["stride"] == 1 and r.shape[1] * r.shape[2] <= _GEMM_MAX_PIXELS \
                and not _spread(r):
            rw.replace(r.id, replace(r, kind="conv_gemm"))
    return rw.result()


def inplace_relu(G: Graph) -> Graph:
    """relu -> relu_ where the ReLU is the last reader of a tensor that autograd does not keep."""
    rw, readers = Rewrite(G), G.readers()
    for r in G.records():
        if r.kind != "relu":
            continue
        src = G.node(r.inputs[0])
        if src.kind in _FRESH and readers[src.id][-1] == r.id and src.id not in G.info.sinks:
            rw.replace(r.id, replace(r, kind="relu_"))
    return rw.result()


def channels_last(G: Graph) -> Graph:
    """Activations channels-last: the input is restrided once (even a 1-channel input, whose layout
    would otherwise stay ambiguous), and output maps go back to the default layout."""
    rw = Rewrite(G)
    image = G.node("input")
    rw.insert_after("input", _layout_node(image, "to_channels_last", "input.channels_last"), take_readers=True)
    for o in dict.fromkeys(G.info.sinks):
        out = G.node(o)
        if len(out.shape) == 3:
            node = _layout_node(out, "to_default_layout", f"{out.id}.default_layout")
            rw.insert_after(out.id, node)
            rw.retarget[out.id] = node.id
    return rw.result()


def _layout_node(src: Node, kind: str, nid: str) -> Node:
    return replace(src, id=nid, kind=kind, inputs=(src.id,), attrs={})


# in the order they run; fold_bn (mgdsl.graph.passes) runs before all of them for inference
PASSES: dict[str, Callable[[Graph], Graph]] = {
    "coarse_convT": coarse_convT,
    "small_grid_gemm": small_grid_gemm,
    "inplace_relu": inplace_relu,
    "channels_last": channels_last,
}
assert set(PASSES) == set(OPTIMIZATIONS)


def run_passes(G: Graph, opts: dict[str, bool], inference: bool = False) -> Graph:
    if inference:
        G = fold_bn(G)
    for name, fn in PASSES.items():
        if opts[name]:
            G = fn(G)
    return G
