"""Built-in layer types: the words of the language that are not defined in the language itself.

Each ``@layer`` entry is one layer type: its parameters (each with its kind and range, see
``layer_api.py``), its lowering to primitive ops (which carry the shape and cost rules, ``ops.py``) and
its help text. Back ends keep their own tables keyed by layer type or op kind (the diagram's legend,
the torch emitters). Composite units (residual unit, residual mg-unit) are written in .mg in
``lang/prelude.mg``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecTypeError, SpecValueError
from .layer_api import (
    MAX_FACTOR,
    MAX_KERNEL,
    MAX_WIDTH,
    REQUIRED,
    Choice,
    LayerCtx,
    Param,
    PerGrid,
    Real,
    SameAs,
    Saved,
    Switch,
    Whole,
    WholeOr,
    WholeOrWindow,
    layer,
)
from .ops import ACTIVATIONS, pair
from .values import Grid, Pyramid, Sym, describe

ACTS = ("relu", *ACTIVATIONS, "none")

# parameters several layer types share
_W = Param("widths", None, "output channels per grid (default: unchanged)", PerGrid(1, MAX_WIDTH))
_STRIDE = Param("stride", 1, "stride", Whole(1, MAX_KERNEL))
_STRIDE_K = Param("stride", SameAs("kernel"), "default: the kernel size", Whole(1, MAX_KERNEL))
_BN, _RELU, _BIAS = Param("bn", True, "batch norm after the conv", Switch()), \
    Param("relu", True, "ReLU at the end", Switch()), Param("bias", True, "conv bias", Switch())
_ACT = Param("act", None, "the activation at the end (default: relu, or none with relu=off)", Choice(ACTS))
_GROUPS = Param("groups", 1, "grouped conv: N groups, or depthwise (one per input channel)",
                WholeOr(1, MAX_WIDTH, ("depthwise",)))
_EPS = Param("eps", None, "batch norm's epsilon (default 0.00001, torch's)", Real(1e-12, 1))
_MOMENTUM = Param("momentum", None, "batch norm's momentum for its running statistics (default 0.1, torch's)",
                  Real(0, 1))


# -- pieces several layer types use ----------------------------------------------------------------
def one_grid(ctx: LayerCtx, pyr: Pyramid, what: str) -> Grid:
    if len(pyr) != 1:
        ctx.fail(f"{what} acts on one grid, but {len(pyr)} are active ({describe(pyr)})",
                 hint="fold the grids together with `pool merge`, remove some with `drop`, or pick one with `on`")
    return pyr[0]


def conv_bn_relu(ctx: LayerCtx, g: Grid | str, x: Grid, cout: int, k: int | tuple[int, int], stride=1, bn=True,
                 relu=True, bias=True, groups=1, dilation=1, pad=None, norm: dict | None = None) -> Grid:
    """conv (+ BN, with `norm`'s eps and momentum) (+ activation: `relu` is True/False or an activation's name)."""
    if pad is None:                     # what keeps the grid size
        pad = tuple(dilation * (side // 2) for side in k) if isinstance(k, tuple) else dilation * (k // 2)
    attrs = dict(cin=x.channels, cout=cout, kernel=k, stride=stride, pad=pad, bias=bias)
    if groups != 1 or dilation != 1:
        attrs.update(groups=groups, dilation=dilation)
    x = ctx.node(g, "conv", "conv", [x], **attrs)
    if bn:
        x = ctx.node(g, "bn", "bn", [x], channels=cout, **(norm or {}))
    return ctx.act_node(g, x, "relu" if relu is True else (relu or None))


def norm_options(ctx: LayerCtx, bn: bool) -> dict:
    """The batch norm's eps and momentum, those given (torch's defaults otherwise); refused without BN."""
    if not bn:
        for name in ("eps", "momentum"):
            ctx.refuse(name, "is batch norm's, and bn=off", hint="leave it out, or turn bn on")
        return {}
    return {name: ctx.value(name) for name in ("eps", "momentum") if ctx.given(name)}


def activation(ctx: LayerCtx) -> str | None:
    """The activation a conv ends with: `act=NAME` (or none), else `relu=on|off`."""
    if not ctx.given("act"):
        return "relu" if ctx.value("relu") else None
    if ctx.given("relu"):
        ctx.fail("give either act=... or relu=..., not both", "relu", cls=SpecTypeError,
                 hint="act=none is relu=off; act=relu is relu=on")
    fn = ctx.value("act")
    return None if fn == "none" else fn


def groups(ctx: LayerCtx, cin: int) -> int:
    """`groups=N`, or `groups=depthwise`: one group per input channel."""
    v = ctx.value("groups")
    return cin if v == "depthwise" else v


def expanded(ctx: LayerCtx, pyr: Pyramid) -> list[int]:
    """The default widths: each grid's channels, times `expand` if given (inverted residuals)."""
    if not ctx.given("expand"):
        return [g.channels for g in pyr]
    if ctx.given("widths"):
        ctx.fail("give either widths or expand, not both", "expand", cls=SpecTypeError)
    f = ctx.value("expand")
    out = []
    for g in pyr:
        w = g.channels * f
        if abs(w - round(w)) > 1e-9 or round(w) < 1:
            ctx.fail(f"expand {f:g} turns {g.channels} channels into {w:g}, not a whole number", "expand",
                     cls=SpecValueError)
        if w > MAX_WIDTH:
            ctx.fail(f"expand {f:g} turns {g.channels} channels into {w:,.0f}; widths are limited to {MAX_WIDTH:,}",
                     "expand", cls=SpecValueError)
        out.append(int(round(w)))
    return out


def grids_only(ctx: LayerCtx, pyr: Pyramid, at: str | None = None) -> Pyramid:
    """`pyr` itself, when all of it is grids (the active pyramid, or with `at`, the saved pyramid that
    argument names); a flat vector is refused at the layer, or at that argument."""
    for g in pyr:
        if g.size is None:
            whose = "the saved pyramid" if at else "the input here"
            ctx.fail(f"{ctx.ltype.name} works on grids, but {whose} is a flat vector of {g.channels} features", at=at,
                     hint="only fc, relu, act, dropout and add take the flat vector that fc (or a flattening layer) "
                          "leaves")
    return pyr


def partners(ctx: LayerCtx, pyr: Pyramid, saved: Pyramid, at: str) -> Pyramid:
    """A saved pyramid (named by the argument `at`), grid by grid beside `pyr` (finest with finest)."""
    grids_only(ctx, pyr)
    grids_only(ctx, saved, at=at)
    if len(saved) != len(pyr):
        ctx.fail(f"the saved pyramid has {len(saved)} grids ({describe(saved)}) but {len(pyr)} are active here "
                 f"({describe(pyr)})", at=at, hint="pick as many grids with `on` as the saved pyramid has")
    return saved


def centre_crop(ctx: LayerCtx, g: Grid, size) -> Grid:
    have = g.size
    if have is None or size is None:
        ctx.fail("cropping needs grids, not flat vectors")
    if have == size:
        return g
    top, left = (have[0] - size[0]) // 2, (have[1] - size[1]) // 2
    return ctx.node(g, "crop", "crop", [g], at=(top, left), size=tuple(size))


def projection_stride(have, want) -> int | None:
    """The smallest stride s with which an unpadded 1x1 conv turns a grid of size `have` into `want`
    (torch's rule per side: (n - 1) // s + 1), or None when no stride does."""
    lo, hi = 1, max(have)
    for n, m in zip(have, want):
        if m < 1 or m > n:
            return None
        lo = max(lo, (n - 1) // m + 1)            # (n - 1) // s < m
        if m > 1:
            hi = min(hi, (n - 1) // (m - 1))      # (n - 1) // s >= m - 1
    return lo if lo <= hi else None


# -- convolutions ------------------------------------------------------------------------------------
@layer("conv", _W, Param("kernel", 3, "kernel size per grid, or height x width (1x7); odd unless pad is given",
                         PerGrid(1, MAX_KERNEL, odd=True, windows=True)),
       _STRIDE, _BN, _RELU, _BIAS, _ACT, _GROUPS, _EPS, _MOMENTUM,
       Param("expand", None, "output channels as a multiple of the input channels (instead of widths)",
             Real(1e-6, MAX_WIDTH)),
       Param("dilation", 1, "spacing of the kernel's taps (atrous conv)", Whole(1, MAX_KERNEL)),
       Param("pad", None, "zero padding on each side, or top and bottom x left and right (0x3) (default: what "
             "keeps the grid size, dilation * (kernel // 2))", WholeOrWindow(0, MAX_KERNEL)))
def conv(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """conv + BN + ReLU on each grid separately (on the image pyramid: the per-grid stems)."""
    pad = ctx.value("pad")
    kernels = ctx.per_grid("kernel", pyr, 3, odd=pad is None)
    stride, bn, fn, bias = ctx.value("stride"), ctx.value("bn"), activation(ctx), ctx.value("bias")
    dilation = ctx.value("dilation")
    widths = ctx.per_grid("widths", pyr, expanded(ctx, pyr))
    norm = norm_options(ctx, bn)
    return tuple(conv_bn_relu(ctx, g, g, w, k, stride, bn, fn, bias, groups(ctx, g.channels), dilation, pad, norm)
                 for g, w, k in zip(pyr, widths, kernels))


@layer("grow", Param("widths", None, "output channels of the new grid (default: the coarsest grid's)",
                     PerGrid(1, MAX_WIDTH)),
       Param("kernel", 3, "kernel size (odd)", PerGrid(1, MAX_KERNEL, odd=True)), _BN, _RELU, _BIAS, _ACT)
def grow(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Add a grid one step coarser than the coarsest: a stride-2 conv + BN + ReLU of the coarsest
    grid (a new branch, as in HRNet's transitions). The other grids are unchanged."""
    g = pyr[-1]
    if g.size is None:
        ctx.fail("grow adds a grid to a pyramid, but the network has a flat vector here")
    if g.size == (1, 1):
        ctx.fail("the coarsest grid is 1x1: there is no coarser grid to grow", hint="grow before the grids get this small")
    w = ctx.per_grid("widths", (g,), g.channels)[0]
    k = ctx.per_grid("kernel", (g,), 3)[0]
    new_key = Grid("", (w, (g.size[0] + 1) // 2, (g.size[1] + 1) // 2)).key     # named after the grid it makes
    return (*pyr, conv_bn_relu(ctx, new_key, g, w, k, 2, ctx.value("bn"), activation(ctx), ctx.value("bias")))


@dataclass(frozen=True)
class _SumOptions:
    down: str
    up: str
    bias: bool
    bn: bool | str          # True: after the sum; "each": on every path; False: none
    act: str | None
    reach: int
    self: str
    upkernel: int | None


@layer("mgconv", _W, Param("kernel", 3, "kernel size per grid (odd)", PerGrid(1, MAX_KERNEL, odd=True)),
       Param("bn", True, "batch norm after the conv (merge=sum: after the sum) | each (merge=sum: on every path "
             "before the sum, as HRNet)", Switch(("each",))), _RELU, _BIAS, _ACT, _GROUPS,
       Param("down", Sym("max"), "the finer grids' path: max | avg (2x2 pool) | conv (a stride-2 conv; merge=sum)",
             Choice(("max", "avg", "conv"))),
       Param("up", Sym("nearest"), "the coarser grids' path: nearest | bilinear (x2) | convT (2x2 transposed "
             "conv; merge=sum)", Choice(("nearest", "bilinear", "convT"))),
       Param("merge", Sym("concat"), "concat (one conv over the gathered grids, paper Fig. 2) | sum (a conv per "
             "neighbour, summed: octave conv, HRNet exchange)", Choice(("concat", "sum"))),
       Param("reach", 1, "how many grid steps apart linked grids may be: 1 (neighbours, the paper) | all (every "
             "grid; merge=sum)", WholeOr(1, MAX_FACTOR, ("all",))),
       Param("self", Sym("conv"), "the grid's own path: conv | identity (the grid itself, unchanged; merge=sum) | "
             "none (merge=sum)", Choice(("conv", "identity", "none"))),
       Param("upkernel", None, "kernel of the coarser grids' convs before they are brought up (merge=sum; "
             "default: kernel)", PerGrid(1, MAX_KERNEL, odd=True)))
def mgconv(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Multigrid conv: each grid sees [2x2 max-pool of its finer neighbour, itself, x2 nearest
    upsample of its coarser neighbour], concatenated, then conv + BN + ReLU (paper Fig. 2). Options
    choose the down and up paths, and merge=sum gives each neighbour its own conv and sums them;
    with reach=all every grid reaches every other (a chain of stride-2 convs down, one conv and a
    2^d upsample up), and self=identity, bn=each, upkernel=1 make HRNet's exchange unit."""
    widths = ctx.per_grid("widths", pyr, [g.channels for g in pyr])
    kernels = ctx.per_grid("kernel", pyr, 3)
    bn = ctx.value("bn")
    each = bn == "each"
    relu, bias = activation(ctx), ctx.value("bias")
    down, up, merge = ctx.value("down"), ctx.value("up"), ctx.value("merge")
    reach = ctx.value("reach")
    reach = len(pyr) if reach == "all" else reach
    for fine, coarse in zip(pyr, pyr[1:]):
        if fine.size != (2 * coarse.size[0], 2 * coarse.size[1]):
            ctx.fail(f"mg-conv links neighbouring grids, which differ by a factor of 2, but {fine.label} and "
                     f"{coarse.label} are next to each other here", hint="pick adjacent grids with `on`, e.g. `on coarsest 2`")
    if merge == "sum":
        ctx.refuse("groups", "needs merge=concat: a summing mg-conv gives every path its own dense conv",
                   hint="leave out groups, or use merge=concat")
        if up == "convT":
            ctx.refuse("upkernel", "needs up=nearest or up=bilinear: with up=convT the coarser grids come up through "
                       "a transposed conv, not a conv and an upsample")
        upkernel = ctx.per_grid("upkernel", (pyr[0],), 1)[0] if ctx.given("upkernel") else None
        sum_opts = _SumOptions(down, up, bias, bn, relu, reach, ctx.value("self"), upkernel)
        return tuple(_mg_sum(ctx, pyr, j, w, k, sum_opts) for j, (w, k) in enumerate(zip(widths, kernels)))
    for word, bad in (("down", down == "conv"), ("up", up == "convT"), ("reach", reach != 1),
                      ("self", ctx.value("self") != "conv"), ("bn", each), ("upkernel", ctx.given("upkernel"))):
        if bad:
            ctx.fail(f"{word}={ctx.args[word].text()} needs a path per grid: use it with merge=sum", at=word,
                     cls=SpecValueError, hint="merge=concat gathers the neighbours into one conv")
    out = []
    for j, (g, w, k) in enumerate(zip(pyr, widths, kernels)):
        parts = [g]
        if j > 0:
            pool = "maxpool" if down == "max" else "avgpool"
            parts.insert(0, ctx.node(g, "down", pool, [pyr[j - 1]], kernel=2, stride=2, pad=0))
        if j + 1 < len(pyr):
            parts.append(ctx.node(g, "up", "upsample", [pyr[j + 1]], factor=2,
                                  **({"mode": "bilinear"} if up == "bilinear" else {})))
        x = ctx.node(g, "cat", "concat", parts) if len(parts) > 1 else g
        out.append(conv_bn_relu(ctx, g, x, w, k, 1, bn, relu, bias, groups(ctx, x.channels)))
    return tuple(out)


def _mg_sum(ctx: LayerCtx, pyr: Pyramid, j: int, w: int, k: int, o: _SumOptions) -> Grid:
    """One grid of a summing mg-conv: its own path (a conv, itself, or nothing), each finer grid
    within reach brought down, each coarser one convolved and brought up; the sum, then BN and the
    activation. A path d steps away is named with d (`down2conv1`); neighbours keep the short names."""
    g = pyr[j]
    each = o.bn == "each"

    def conv(name, x, cout, kernel=k, stride=1):
        return ctx.node(g, name, "conv", [x], cin=x.channels, cout=cout, kernel=kernel, stride=stride,
                        pad=kernel // 2, bias=o.bias)

    def norm(name, x):
        return ctx.node(g, name, "bn", [x], channels=x.channels) if each else x

    parts = []
    if o.self == "conv":
        parts.append(norm("selfbn", conv("conv", g, w)))
    elif o.self == "identity":
        if g.channels != w:
            ctx.fail(f"self=identity adds the {g.label} grid to the sum unchanged, so it keeps its {g.channels} "
                     f"channels, not {w}", at="widths", cls=SpecValueError, hint="leave out the widths")
        parts.append(g)
    for i in range(max(0, j - o.reach), j):           # finer grids, the nearest last
        d, fine = j - i, pyr[i]
        pre = "down" if d == 1 else f"down{d}"
        if o.down == "conv":
            x = fine
            for t in range(1, d + 1):
                last = t == d
                name = f"{pre}conv" if d == 1 else f"{pre}conv{t}"
                x = conv(name, x, w if last else fine.channels, stride=2)
                if last:
                    x = norm(f"{pre}bn" if d == 1 else f"{pre}bn{t}", x)
                    continue
                if o.bn:            # a step on the way: conv + BN + the activation, at the finer grid's width
                    x = ctx.node(g, f"{pre}bn{t}", "bn", [x], channels=x.channels)
                if o.act == "relu":
                    x = ctx.node(g, f"{pre}relu{t}", "relu", [x])
                elif o.act is not None:
                    x = ctx.node(g, f"{pre}act{t}", "act", [x], fn=o.act)
        else:
            pooled = ctx.node(g, pre, "maxpool" if o.down == "max" else "avgpool", [fine], kernel=2 ** d,
                              stride=2 ** d, pad=0)
            x = norm(f"{pre}bn", conv(f"{pre}conv", pooled, w))
        parts.append(x)
    for i in range(j + 1, min(len(pyr), j + 1 + o.reach)):   # coarser grids, the nearest first
        d, coarse = i - j, pyr[i]
        pre = "up" if d == 1 else f"up{d}"
        if o.up == "convT":
            x = ctx.node(g, f"{pre}conv", "convT", [coarse], cin=coarse.channels, cout=w, kernel=2 ** d, stride=2 ** d,
                         bias=o.bias)
            x = norm(f"{pre}bn", x)
        else:
            x = norm(f"{pre}bn", conv(f"{pre}conv", coarse, w, kernel=o.upkernel or k))
            x = ctx.node(g, pre, "upsample", [x], factor=2 ** d, **({"mode": "bilinear"} if o.up == "bilinear" else {}))
        parts.append(x)
    if not parts:
        ctx.fail(f"self=none leaves the {g.label} grid nothing to sum: no other grid is within reach", at="self",
                 cls=SpecValueError)
    x = ctx.node(g, "sum", "add", parts) if len(parts) > 1 else parts[0]
    if o.bn is True:
        x = ctx.node(g, "bn", "bn", [x], channels=w)
    return ctx.act_node(g, x, o.act)


@layer("upconv", _W, Param("kernel", 2, "kernel size", Whole(1, MAX_KERNEL)), _STRIDE_K, _BN, _RELU, _BIAS, _ACT,
       _EPS, _MOMENTUM)
def upconv(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Transposed conv (2x2, stride 2 by default) + BN + ReLU on each grid."""
    widths = ctx.per_grid("widths", pyr, [g.channels for g in pyr])
    k, s = ctx.value("kernel"), ctx.value("stride")
    bn, fn, bias = ctx.value("bn"), activation(ctx), ctx.value("bias")
    norm = norm_options(ctx, bn)
    out = []
    for g, w in zip(pyr, widths):
        x = ctx.node(g, "convT", "convT", [g], cin=g.channels, cout=w, kernel=k, stride=s, bias=bias)
        x = ctx.node(g, "bn", "bn", [x], channels=w, **norm) if bn else x
        out.append(ctx.act_node(g, x, fn))
    return tuple(out)


# -- pooling, resizing and the pyramid itself ----------------------------------------------------------
@layer("pool", Param("mode", Sym("each"), "each | merge (fold the coarsest grid into the next) | drop (drop it)",
                     Choice(("each", "merge", "drop"))),
       Param("kernel", 2, "window size, or height x width (1x2)", WholeOrWindow(1, MAX_KERNEL)),
       Param("stride", SameAs("kernel"), "default: the kernel size (HxW: per side)", WholeOrWindow(1, MAX_KERNEL)),
       Param("pad", 0, "padding on each side (HxW: top and bottom x left and right)", WholeOrWindow(0, MAX_KERNEL)),
       Param("type", Sym("max"), "max | avg", Choice(("max", "avg"))),
       Param("ceil", None, "ceil mode (default: on for unpadded max pools, as the paper's code; off otherwise)",
             Switch()),
       ends_section=True)
def pool(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Pool every grid (2x2 max pool, stride 2, ceil mode). `merge` instead concatenates the
    coarsest grid, unpooled, onto the pooled next-coarsest; `drop` removes the coarsest grid."""
    mode = ctx.value("mode")
    k = ctx.value("kernel")
    s = ctx.value("stride")
    p = ctx.value("pad")
    kind = {"max": "maxpool", "avg": "avgpool"}[ctx.value("type")]
    ceil = ctx.value("ceil", default=kind == "maxpool" and p == 0)
    if mode != "each" and len(pyr) < 2:
        ctx.fail(f"`pool {mode}` needs at least two grids, but only {describe(pyr)} is active", at="mode")
    keep = list(pyr) if mode == "each" else list(pyr[:-1])
    if mode == "drop":
        ctx.discard(pyr[-1])
    for g in keep:
        if g.size == (1, 1) and max(pair(s)) > 1:
            ctx.fail("a 1x1 grid cannot be pooled any further",
                     hint="fold it into the next grid with `pool merge`, or remove it with `pool drop`")
    out = [ctx.node(g, "pool", kind, [g], kernel=k, stride=s, pad=p, ceil=ceil) for g in keep]
    if mode == "merge":
        out[-1] = ctx.node(keep[-1], "merge", "concat", [out[-1], pyr[-1]])
    return tuple(out)


@layer("drop", Param("count", 1, "how many of the coarsest grids to drop", Whole(1, MAX_FACTOR)))
def drop(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Remove grids from the pyramid: the `count` coarsest ones, or those picked with `on`."""
    if ctx.selected and ctx.given("count"):
        ctx.fail("give either a count or `on ...`, not both: `on` already says which grids to drop", at="count",
                 cls=SpecTypeError)
    n = len(pyr) if ctx.selected else ctx.value("count")
    if n >= len(pyr) and not ctx.selected:
        ctx.fail(f"cannot drop {n} of {len(pyr)} grids: nothing would be left", at="count", cls=SpecValueError)
    for g in pyr[len(pyr) - n:]:
        ctx.discard(g)
    return tuple(pyr[: len(pyr) - n])


@layer("upsample", Param("factor", 2, "", Whole(1, MAX_FACTOR)),
       Param("mode", Sym("nearest"), "nearest | bilinear", Choice(("nearest", "bilinear"))),
       Param("to", None, "a saved pyramid: resize each grid to the size of its grid instead of by a factor", Saved()))
def upsample(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Upsampling of every grid, nearest-neighbour (default) or bilinear, by a factor or to the
    sizes of a saved pyramid's grids."""
    mode = ctx.value("mode")
    if ctx.given("to"):
        ctx.refuse("factor", "does nothing beside to=: each grid is resized to its partner's size",
                   hint="give either factor or to")
        return tuple(ctx.node(g, "up", "resize", [g], size=t.size, mode=mode)
                     for g, t in zip(pyr, partners(ctx, pyr, ctx.value("to"), "to")))
    f = ctx.value("factor")
    return tuple(ctx.node(g, "up", "upsample", [g], factor=f, **({"mode": mode} if mode != "nearest" else {}))
                 for g in pyr)


@layer("crop", Param("tensor", REQUIRED, "the saved pyramid whose grid sizes to crop to", Saved()))
def crop(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Centre-crop every grid to the size of the saved pyramid's grid (finest with finest)."""
    return tuple(centre_crop(ctx, g, t.size) for g, t in zip(pyr, partners(ctx, pyr, ctx.value("tensor"), "tensor")))


@layer("use", Param("tensor", REQUIRED, "the saved pyramid to continue from", Saved()), picks_saved=True)
def use(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Continue from a saved pyramid (a branch: the pyramid here is left for other lines to read,
    by name), or with `on`, from some of its grids (`use h on finest`). Makes no op."""
    saved = ctx.value("tensor")
    return ctx.pick(saved) if ctx.pick is not None else saved


@layer("gap", Param("to", 1, "output size n (an n x n grid); 1: global average pooling", Whole(1, 1 << 16)))
def gap(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Average pooling of every grid down to C x 1 x 1 (global), or to C x n x n (adaptive)."""
    n = ctx.value("to")
    if n == 1:
        return tuple(ctx.node(g, "gap", "gap", [g]) for g in pyr)
    return tuple(ctx.node(g, "gap", "adaptive_avgpool", [g], size=(n, n)) for g in pyr)


# -- element-wise layers -------------------------------------------------------------------------------
@layer("bn", _EPS, _MOMENTUM)
def bn(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Batch norm on every grid."""
    norm = norm_options(ctx, True)
    return tuple(ctx.node(g, "bn", "bn", [g], channels=g.channels, **norm) for g in pyr)


@layer("ln", Param("eps", None, "the epsilon (default 0.00001, torch's; ConvNeXt's is 0.000001)", Real(1e-12, 1)))
def ln(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Layer norm over the channels at every position of every grid (ConvNeXt's LayerNorm2d: the
    channels-last layer norm), with a scale and shift per channel."""
    extra = {"eps": ctx.value("eps")} if ctx.given("eps") else {}
    return tuple(ctx.node(g, "ln", "ln", [g], channels=g.channels, **extra) for g in grids_only(ctx, pyr))


@layer("gn", Param("groups", REQUIRED, "the number of groups of channels (dividing the channels)",
                   Whole(1, MAX_WIDTH)),
       Param("eps", None, "the epsilon (default 0.00001, torch's)", Real(1e-12, 1)))
def gn(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Group norm on every grid: statistics over groups of channels, a scale and shift per channel."""
    n = ctx.value("groups")
    extra = {"eps": ctx.value("eps")} if ctx.given("eps") else {}
    return tuple(ctx.node(g, "gn", "gn", [g], channels=g.channels, groups=n, **extra) for g in grids_only(ctx, pyr))


@layer("layerscale", Param("init", 1e-6, "the scale's first value (ConvNeXt's: 0.000001)", Real(0, 1e6)))
def layerscale(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """A learnable scale per channel on every grid (ConvNeXt's layer scale); no MACs."""
    init = ctx.value("init")
    return tuple(ctx.node(g, "scale", "layerscale", [g], channels=g.channels, init=init) for g in grids_only(ctx, pyr))


@layer("droppath", Param("p", REQUIRED, "the probability of dropping a sample's whole tensor, in [0, 1)", Real(0, 1)))
def droppath(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Stochastic depth: in training each sample's tensor is dropped with probability p and the rest
    scaled by 1 / (1 - p) (torchvision's StochasticDepth, mode "row"); the identity in eval mode; no cost.
    Put it on a residual branch before `add`."""
    p = ctx.value("p")
    return tuple(ctx.node(g, "droppath", "droppath", [g], p=p) for g in pyr)


@layer("shuffle", Param("groups", REQUIRED, "the number of groups (dividing the channels)", Whole(1, MAX_WIDTH)))
def shuffle(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Channel shuffle (ShuffleNet): the channels, taken as `groups` groups, are interleaved so that the
    next grouped conv mixes them; only moves data."""
    n = ctx.value("groups")
    return tuple(ctx.node(g, "shuffle", "shuffle", [g], groups=n) for g in grids_only(ctx, pyr))


def _holder(g: Grid) -> str:
    return "the flat vector" if g.size is None else f"the {g.label} grid"


@layer("chunk", Param("parts", REQUIRED, "how many equal parts the channels are split into", Whole(1, MAX_WIDTH)),
       Param("take", 1, "which part to keep, counting from 1 (the first channels)", Whole(1, MAX_WIDTH)))
def chunk(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """One of `parts` equal parts of every grid's channels (torch.chunk): a channel split. Save the
    pyramid before it and take each part on its own branch (ShuffleNetV2: `x = ...`, then
    `b = chunk 2 take=2; ...` and `use x; chunk 2; concat b`); only moves data."""
    n, i = ctx.value("parts"), ctx.value("take")
    if i > n:
        ctx.fail(f"take={i} asks for part {i} of {n}", at="take", cls=SpecValueError,
                 hint=f"the parts are counted from 1 to {n}")
    out = []
    for g in pyr:
        c, what = g.channels, _holder(g)
        if n > c:
            ctx.fail(f"{what} has {c} channels, fewer than the {n} parts asked for", at="parts", cls=SpecValueError,
                     hint=f"split into at most {c} parts")
        if c % n:
            ctx.fail(f"{what} has {c} channels, which {n} equal parts do not divide", at="parts", cls=SpecValueError,
                     hint="the parts must divide the channels; `slice` keeps any number of them")
        size = c // n
        out.append(ctx.node(g, "chunk", "slice", [g], start=(i - 1) * size, stop=i * size))
    return tuple(out)


@layer("slice", Param("widths", REQUIRED, "how many channels to keep, per grid", PerGrid(1, MAX_WIDTH)),
       Param("start", 0, "the first channel kept, counting from 0", Whole(0, MAX_WIDTH)))
def slice_(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Keep some of every grid's channels: `widths` of them from channel `start` (GhostNet keeps the
    first `out` of its concatenated channels: `slice out`); only moves data."""
    widths = ctx.per_grid("widths", pyr, [g.channels for g in pyr])
    start = ctx.value("start")
    out = []
    for g, w in zip(pyr, widths):
        if start + w > g.channels:
            ctx.fail(f"channels {start} to {start + w - 1} are asked for, but {_holder(g)} has {g.channels} channels "
                     f"(0 to {g.channels - 1})", at="widths", cls=SpecValueError,
                     hint=f"keep at most {g.channels - start} channels from channel {start}" if start < g.channels
                     else f"start below {g.channels}")
        out.append(ctx.node(g, "slice", "slice", [g], start=start, stop=start + w))
    return tuple(out)


@layer("flatten")
def flatten(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Flatten the single remaining grid into a vector of C x H x W features (fc flattens by itself;
    this is for a network that ends without one, or an MLP head)."""
    g = one_grid(ctx, pyr, "flatten")
    if g.size is None:
        ctx.fail("flatten makes a flat vector of a grid, but the input here is one already")
    return (ctx.node(None, "flatten", "flatten", [g]),)


@layer("act", Param("fn", REQUIRED, "the activation: " + " | ".join(ACTS[:-1]), Choice(ACTS[:-1])))
def act(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """An activation function on every grid (relu is the same as the `relu` layer)."""
    fn = ctx.value("fn")
    return tuple(ctx.act_node(g, g, fn) for g in pyr)


@layer("dropout", Param("p", REQUIRED, "the probability of zeroing an element, in [0, 1)", Real(0, 1)))
def dropout(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Dropout on every grid (or on a flat vector): in training only; no weights, no cost."""
    p = ctx.value("p")
    return tuple(ctx.node(g, "dropout", "dropout", [g], p=p) for g in pyr)


@layer("relu")
def relu(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """ReLU on every grid."""
    return tuple(ctx.node(g, "relu", "relu", [g]) for g in pyr)


# -- joining pyramids ----------------------------------------------------------------------------------
@layer("scale", Param("tensor", REQUIRED, "a saved pyramid; one side must be C x 1 x 1 gates", Saved()))
def scale(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Channel-wise product with a saved pyramid, grid by grid: C x 1 x 1 gates multiply every
    position of a C-channel grid (squeeze-and-excitation). Either side may be the gates."""
    return tuple(ctx.node(g, "scale", "mul", [t, g] if g.size == (1, 1) else [g, t])
                 for g, t in zip(pyr, partners(ctx, pyr, ctx.value("tensor"), "tensor")))


@layer("concat", Param("tensor", REQUIRED, "the names of saved pyramids (one or more, a, b, ...)", Saved(many=True)),
       Param("crop", False, "centre-crop the saved grids to the sizes here, finest with finest (unpadded U-Net)",
             Switch()))
def concat(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Concatenate each grid with the grids of the same size in saved pyramids (U-Net skips), in
    the order written; grids without a partner pass through, but each saved pyramid must have a grid
    of a size here. With crop=on the saved pyramid's grids are centre-cropped to the active grids'
    sizes first."""
    if ctx.value("crop"):
        if len(ctx.args["tensor"]) != 1:
            ctx.fail("concat crop=on takes one saved pyramid", at="tensor", cls=SpecTypeError)
        (saved,) = ctx.value("tensor")
        saved = tuple(centre_crop(ctx, t, g.size) for g, t in zip(pyr, partners(ctx, pyr, saved, "tensor")))
        others = [{g.size: g for g in saved}]
    else:
        grids_only(ctx, pyr)
        here = {g.size for g in pyr}
        others = []
        for t in ctx.value("tensor"):
            if not here & {g.size for g in grids_only(ctx, t, at="tensor")}:
                ctx.fail(f"no grid of the saved pyramid ({describe(t)}) has the size of a grid here ({describe(pyr)}), "
                         "so there is nothing to concatenate", at="tensor",
                         hint="bring the sizes together first: `upsample to=NAME`, a strided layer, or concat crop=on "
                              "to centre-crop the saved grids")
            others.append({g.size: g for g in t})
    out = []
    for g in pyr:
        parts = [g, *(o.pop(g.size) for o in others if g.size in o)]
        out.append(ctx.node(g, "cat", "concat", parts) if len(parts) > 1 else g)
    return tuple(sorted(out + [g for o in others for g in o.values()], key=lambda g: -g.size[0]))


@layer("add", Param("tensor", REQUIRED, "the name of a saved pyramid", Saved()),
       Param("shortcut", Sym("pad"), "pad (zero-pad channels) | proj (1x1 conv + BN) | none",
             Choice(("pad", "proj", "none"))),
       Param("bias", False, "bias of a projection conv", Switch()))
def add(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Residual addition of a saved pyramid, grid by grid (finest with finest; when the two have
    different numbers of grids, each grid here with the saved grid of its size). Where the shapes
    differ the shortcut zero-pads the channels (type A) or projects with a strided 1x1 conv + BN (type B)."""
    other = ctx.value("tensor")
    mode = ctx.value("shortcut")
    if mode != "proj":
        ctx.refuse("bias", f"is the bias of a projection conv, which shortcut={mode} never makes",
                   hint="use it with shortcut=proj, or leave it out")
    bias = ctx.value("bias")
    if len(other) != len(pyr):
        by_size = {g.size: g for g in other}
        if not all(g.size in by_size for g in pyr):
            ctx.fail(f"cannot add a pyramid of {len(other)} grids ({describe(other)}) to one of {len(pyr)} "
                     f"({describe(pyr)})", at="tensor",
                     hint="with different numbers of grids each grid here is added to the saved grid of its size")
        other = tuple(by_size[g.size] for g in pyr)
    out = []
    for g, x in zip(pyr, other):
        if x.shape != g.shape and mode == "pad":
            if x.size != g.size or x.channels > g.channels:
                ctx.fail(f"a zero-padded shortcut cannot turn {x.label}:{x.channels} into {g.label}:{g.channels}",
                         at="tensor", hint="use shortcut=proj for a strided or narrowing shortcut")
            x = ctx.node(g, "pad", "pad", [x], cin=x.channels, cout=g.channels)
        elif x.shape != g.shape and mode == "proj" and len(x.shape) == 3 and len(g.shape) == 3:
            stride = projection_stride(x.size, g.size)
            if stride is None:
                ctx.fail(f"no strided 1x1 conv turns a {x.label} grid into {g.label}", at="tensor",
                         hint="a projection can only shrink a grid, by the same stride on both sides")
            x = ctx.node(g, "proj", "conv", [x], cin=x.channels, cout=g.channels, kernel=1, stride=stride, pad=0,
                         bias=bias)
            x = ctx.node(g, "projbn", "bn", [x], channels=g.channels)
        out.append(ctx.node(g, "add", "add", [g, x]))
    return tuple(out)


# -- heads -----------------------------------------------------------------------------------------------
@layer("fc", Param("classes", REQUIRED, "output features", Whole(1, 1 << 24)),
       Param("pool", Sym("none"), "none | avg (global average pool first)", Choice(("none", "avg"))),
       Param("relu", False, "ReLU after the layer", Switch()), _BIAS, head=True)
def fc(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Fully connected layer on the single remaining grid, flattened (or globally average-pooled)."""
    g = one_grid(ctx, pyr, "fc")
    n = ctx.value("classes")
    x = g
    gap = ctx.value("pool") == "avg"
    if gap and len(g.shape) != 3:
        ctx.fail("pool=avg averages a grid, but fc gets a flat vector here", at="pool", cls=SpecValueError,
                 hint="leave out pool=avg")
    if len(g.shape) == 3:
        if gap:
            x = ctx.node(None, "gap", "gap", [x])
        x = ctx.node(None, "flatten", "flatten", [x])
    x = ctx.node(None, "fc", "linear", [x], fin=x.channels, fout=n, bias=ctx.value("bias"))
    return (ctx.node(None, "relu", "relu", [x]),) if ctx.value("relu") else (x,)


@layer("maps", Param("count", REQUIRED, "number of output maps", Whole(1, MAX_WIDTH)),
       Param("kernel", 1, "kernel size (odd)", PerGrid(1, MAX_KERNEL, odd=True)), _BN, _BIAS, head=True)
def maps(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Per-pixel output maps on the single remaining grid: conv + BN, no ReLU (logits)."""
    g = one_grid(ctx, pyr, "maps")
    k = ctx.per_grid("kernel", (g,), 1)[0]
    return (conv_bn_relu(ctx, g, g, ctx.value("count"), k, 1, ctx.value("bn"), False, ctx.value("bias")),)


@layer("outputs", Param("tensor", REQUIRED, "the saved pyramids to return (one or more, a, b, ...)", Saved(many=True)),
       head=True, takes_on=False)
def outputs(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """The network's outputs when there are several (FPN levels, auxiliary heads): every grid of the
    named saved pyramids, in the order written (each pyramid finest first). `build()` then returns a
    tuple in that order. It ends the network."""
    grids = [g for t in ctx.value("tensor") for g in t]
    seen = set()
    for g in grids:
        if g.node in seen:
            ctx.fail(f"the {g.label} grid is named twice as an output", at="tensor")
        seen.add(g.node)
    ctx.set_outputs(grids)
    return (grids[-1],)
