"""Built-in layer types: the words of the language that are not defined in the language itself.

One registry entry per layer type holds its name, its parameter schema, its lowering to primitive
ops (which carry the shape and cost rules, see ``ops.py``) and its help text. Back ends keep their
own tables keyed by layer type or op kind (the diagram's legend, the torch emitters). Composite
units (residual unit, residual mg-unit) are written in .mg in ``prelude.mg``.
"""
from __future__ import annotations

import builtins
import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, NoReturn

from ..errors import Span, SpecNameError, SpecShapeError, SpecTypeError, SpecValueError
from .ops import ACTIVATIONS
from .values import Arg, Grid, Passed, Pyramid, Sym, describe

if TYPE_CHECKING:
    from .lower import Lowerer

MAX_WIDTH = 1 << 20
MAX_KERNEL = 255
SWITCH = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False}
POOL_MODES, POOL_TYPES, FC_POOLS, SHORTCUTS = ("each", "merge", "drop"), ("max", "avg"), ("none", "avg"), \
    ("pad", "proj", "none")

# layer types of other frameworks, and what to write here instead (a spelling suggestion would
# mislead: `dropout` is not a typo of `drop`, which removes grids)
FOREIGN = {
    "batchnorm": "batch norm is the layer `bn`, and part of conv, mgconv and upconv (bn=on, the default)",
    "maxpool": "write `pool` (max pooling is the default) or `pool type=max`",
    "avgpool": "write `pool type=avg`, or `gap` for global average pooling",
    "relu6": "activations are `act relu6` as a layer, or act=relu6 on conv",
    "linear": "a fully connected layer is `fc N`", "dense": "a fully connected layer is `fc N`",
    "softmax": "the network ends in logits (`fc N` or `maps N`); the loss applies the softmax",
    "conv2d": "write `conv` (per grid) or `mgconv` (multigrid)",
    "convtranspose": "a transposed conv is `upconv`", "deconv": "a transposed conv is `upconv`",
}


REQUIRED = Sym("<required>")


@dataclass(frozen=True)
class Param:
    name: str
    default: object = None          # None: optional and absent; REQUIRED: must be given
    doc: str = ""
    choices: tuple[str, ...] = ()   # the words it takes, for a parameter that picks one of them


@dataclass(frozen=True)
class LayerType:
    name: str
    lower: Callable[["LayerCtx", Pyramid], Pyramid]
    params: tuple[Param, ...]
    doc: str
    head: bool = False              # produces the network's output
    ends_section: bool = False      # in a spec without `section` lines, the next layer starts a new section
    picks_saved: bool = False       # `on GRIDS` picks grids of the saved pyramid it names, not of the active one
    takes_on: bool = True           # False: it reads no active grid, so `on GRIDS` would pick nothing


LAYERS: dict[str, LayerType] = {}


def layer(name: str, *params: Param, head: bool = False, ends_section: bool = False, picks_saved: bool = False,
          takes_on: bool = True):
    def register(fn):
        LAYERS[name] = LayerType(name, fn, params, (fn.__doc__ or "").strip(), head, ends_section, picks_saved,
                                 takes_on)
        return fn
    return register


def suggest(word: str, choices) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else None


@dataclass
class LayerCtx:
    """What a layer's lowering sees: its arguments, and a way to add nodes to the graph."""
    builder: "Lowerer"
    ltype: LayerType
    path: str
    span: Span
    args: dict[str, Arg]
    selected: bool = False          # the call restricted itself with `on`
    pick: Callable[[Pyramid], Pyramid] | None = None    # for a picks_saved layer: its `on`, applied to a pyramid
    read: set[str] = field(default_factory=set)         # the arguments the lowering looked at

    # -- arguments --------------------------------------------------------------------------------
    def _arg(self, name) -> Arg | None:
        self.read.add(name)
        return self.args.get(name)

    def check_all_read(self) -> None:
        """Refuse an argument the layer's lowering never looked at: it would change nothing."""
        for name, a in self.args.items():
            if name not in self.read:
                raise SpecTypeError(f"{name}={a.text()} has no effect on this {self.ltype.name}", a.span or self.span,
                                    hint=f"the other options given here leave {name} unused; leave it out")

    def refuse(self, name: str, reason: str, hint: str | None = None) -> None:
        """Refuse an argument that the other options make meaningless, when it is given."""
        if self._arg(name) is not None:
            self.fail(f"{name}={self.args[name].text()} {reason}", name, hint=hint, cls=SpecTypeError)

    def _default(self, name):
        return next(p.default for p in self.ltype.params if p.name == name)

    def fail(self, message, at: str | None = None, hint=None, cls=SpecShapeError) -> NoReturn:
        a = self._arg(at) if at else None
        raise cls(message, a.span if a is not None and a.span else self.span, hint)

    def _number(self, name, v, lo, hi, what):
        if isinstance(v, Passed) or isinstance(v, Sym) and self.builder.scope is not None \
                and v in self.builder.scope.tensors:
            raise SpecTypeError(f"'{v}' is a saved pyramid here, not {what}", self.args[name].span)
        if isinstance(v, Sym):
            raise SpecNameError(f"unknown name '{v}'", self.args[name].span,
                                hint=f"{self.ltype.name}'s {name} wants {what}")
        if isinstance(v, float):
            if not v.is_integer():
                self.fail(f"{name} must be a whole number, not {v:g}", name, cls=SpecValueError)
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            self.fail(f"{name} must be {what}, not {v!r}", name, cls=SpecTypeError)
        if v < lo:
            self.fail(f"{name} {v} is too small: it must be at least {lo}", name, cls=SpecValueError)
        if v > hi:
            self.fail(f"{name} {v} is absurdly large (the limit is {hi})", name, cls=SpecValueError,
                      hint="check the units: widths are channel counts")
        return v

    def one(self, name) -> object:
        a = self._arg(name)
        if a is None:
            return self._default(name)
        if len(a) != 1:
            self.fail(f"{name} takes one value, got {len(a)}: {a.text()}", name, cls=SpecTypeError)
        return a.items[0]

    def int(self, name, lo=1, hi=1 << 24) -> builtins.int:
        v = self.one(name)
        return v if self._arg(name) is None else self._number(name, v, lo, hi, "a whole number")  # type: ignore[return-value]

    def switch(self, name) -> bool:
        v = self.one(name)
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.lower() in SWITCH:
            return SWITCH[v.lower()]
        self.fail(f"{name} must be on or off, not {v}", name, cls=SpecTypeError)

    def choice(self, name) -> str:
        """One of the words the parameter's registry entry lists as its choices."""
        choices = next(p.choices for p in self.ltype.params if p.name == name)
        v = self.one(name)
        if v not in choices:
            self.fail(f"{name} must be one of {', '.join(choices)}, not {v}", name, cls=SpecValueError,
                      hint=suggest(str(v), choices))
        return str(v)

    def tensor(self, name) -> Pyramid:
        v = self.one(name)
        return self.builder.lookup_tensor(v, self.args[name].span if self._arg(name) else self.span)

    def tensors(self, name) -> list[Pyramid]:
        """Every saved pyramid named in a list argument (`concat a, b, c`)."""
        a = self._arg(name)
        return [self.builder.lookup_tensor(v, a.span) for v in a.items] if a is not None else []

    def number(self, name, lo: float, hi: float) -> float:
        """A real number in [lo, hi)."""
        v = self.one(name)
        if isinstance(v, Sym) or not isinstance(v, (int, float)) or isinstance(v, bool):
            self.fail(f"{name} must be a number, not {v}", name, cls=SpecTypeError)
        if not lo <= v < hi:
            self.fail(f"{name} {v:g} is out of range: it must be at least {lo:g} and below {hi:g}", name,
                      cls=SpecValueError)
        return v

    def activation(self) -> str | None:
        """The activation a conv ends with: `act=NAME` (or none), else `relu=on|off`."""
        if self._arg("act") is None:
            return "relu" if self.switch("relu") else None
        if self._arg("relu") is not None:
            self.fail("give either act=... or relu=..., not both", "relu", cls=SpecTypeError,
                      hint="act=none is relu=off; act=relu is relu=on")
        fn = self.choice("act")
        return None if fn == "none" else fn

    def groups(self, cin: builtins.int) -> builtins.int:
        """`groups=N`, or `groups=depthwise`: one group per input channel."""
        v = self.one("groups")
        if isinstance(v, Sym) and v == "depthwise":
            return cin
        return self.int("groups", 1, MAX_WIDTH)

    def act_node(self, g, x: Grid, fn: str | None) -> Grid:
        if fn is None:
            return x
        if fn == "relu":
            return self.node(g, "relu", "relu", [x])
        return self.node(g, "act", "act", [x], fn=fn)

    def per_grid(self, name, grids: Pyramid, default, lo=1, hi=MAX_WIDTH, odd=False) -> list[builtins.int]:
        """One value per grid; a single value applies to every grid; `same` keeps the default."""
        a = self._arg(name)
        n = len(grids)
        items = (default if isinstance(default, list) else [default] * n) if a is None else list(a.items)
        if len(items) == 1 and n != 1:
            items = items * n
        if len(items) != n:
            self.fail(f"{len(items)} {name} given for {n} active grid{'s' if n != 1 else ''}", name,
                      hint=f"the pyramid here is {describe(grids)}; give one value per grid, or one for all, "
                           "or restrict the layer with `on ...`", cls=SpecShapeError)
        out = []
        for i, v in enumerate(items):
            if isinstance(v, Sym) and v == "same":
                v = default[i] if isinstance(default, list) else default
            v = self._number(name, v, lo, hi, "a positive whole number") if a is not None else v
            if odd and v % 2 == 0:
                self.fail(f"kernel {v} is even; convolutions here pad to keep the grid size, which needs an odd kernel",
                          name, cls=SpecValueError)
            out.append(v)
        return out

    # -- graph ------------------------------------------------------------------------------------
    def node(self, grid: Grid | str | None, name: str, kind: str, inputs: list[Grid], **attrs) -> Grid:
        key = grid.key if isinstance(grid, Grid) else grid
        nid = f"{self.path}.{key}.{name}" if key else f"{self.path}.{name}"
        return self.builder.add_node(nid, kind, inputs, attrs, self)

    def discard(self, grid: Grid):
        self.builder.discard(grid)


def one_grid(ctx: LayerCtx, pyr: Pyramid, what: str) -> Grid:
    if len(pyr) != 1:
        ctx.fail(f"{what} acts on one grid, but {len(pyr)} are active ({describe(pyr)})",
                 hint="fold the grids together with `pool merge`, remove some with `drop`, or pick one with `on`")
    return pyr[0]


def conv_bn_relu(ctx: LayerCtx, g: Grid | str, x: Grid, cout: int, k: int, stride=1, bn=True, relu=True, bias=True,
                 groups=1, dilation=1, pad=None) -> Grid:
    """conv (+ BN) (+ activation: `relu` is True/False or an activation's name)."""
    attrs = dict(cin=x.channels, cout=cout, kernel=k, stride=stride, pad=dilation * (k // 2) if pad is None else pad,
                 bias=bias)
    if groups != 1 or dilation != 1:
        attrs.update(groups=groups, dilation=dilation)
    x = ctx.node(g, "conv", "conv", [x], **attrs)
    if bn:
        x = ctx.node(g, "bn", "bn", [x], channels=cout)
    return ctx.act_node(g, x, "relu" if relu is True else (relu or None))


ACTS = ("relu", *ACTIVATIONS, "none")
_W = Param("widths", None, "output channels per grid (default: unchanged)")
_K = Param("kernel", 3, "kernel size per grid (odd unless pad is given)")
_BN, _RELU, _BIAS = Param("bn", True, "batch norm after the conv"), Param("relu", True, "ReLU at the end"), \
    Param("bias", True, "conv bias")
_ACT = Param("act", None, "the activation at the end: " + " | ".join(ACTS) + " (default: relu, or none with relu=off)",
             choices=ACTS)
_GROUPS = Param("groups", 1, "grouped conv: N groups, or depthwise (one per input channel)", choices=("depthwise",))


def expanded(ctx: LayerCtx, pyr: Pyramid) -> list[int]:
    """The default widths: each grid's channels, times `expand` if given (inverted residuals)."""
    if ctx.one("expand") is None:
        return [g.channels for g in pyr]
    if ctx.one("widths") is not None:
        ctx.fail("give either widths or expand, not both", "expand", cls=SpecTypeError)
    f = ctx.number("expand", 1e-6, MAX_WIDTH)
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


@layer("conv", _W, _K, Param("stride", 1, "stride"), _BN, _RELU, _BIAS, _ACT, _GROUPS,
       Param("expand", None, "output channels as a multiple of the input channels (instead of widths)"),
       Param("dilation", 1, "spacing of the kernel's taps (atrous conv)"),
       Param("pad", None, "zero padding on each side (default: what keeps the grid size, dilation * (kernel // 2))"))
def conv(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """conv + BN + ReLU on each grid separately (on the image pyramid: the per-grid stems)."""
    pad = None if ctx.one("pad") is None else ctx.int("pad", 0, MAX_KERNEL)
    kernels = ctx.per_grid("kernel", pyr, 3, hi=MAX_KERNEL, odd=pad is None)
    stride, bn, fn, bias = ctx.int("stride", 1, 64), ctx.switch("bn"), ctx.activation(), ctx.switch("bias")
    dilation = ctx.int("dilation", 1, MAX_KERNEL)
    widths = ctx.per_grid("widths", pyr, expanded(ctx, pyr))
    return tuple(conv_bn_relu(ctx, g, g, w, k, stride, bn, fn, bias, ctx.groups(g.channels), dilation, pad)
                 for g, w, k in zip(pyr, widths, kernels))


@layer("grow", Param("widths", None, "output channels of the new grid (default: the coarsest grid's)"),
       Param("kernel", 3, "kernel size (odd)"), _BN, _RELU, _BIAS, _ACT)
def grow(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Add a grid one step coarser than the coarsest: a stride-2 conv + BN + ReLU of the coarsest
    grid (a new branch, as in HRNet's transitions). The other grids are unchanged."""
    g = pyr[-1]
    if g.size is None:
        ctx.fail("grow adds a grid to a pyramid, but the network has a flat vector here")
    if g.size == (1, 1):
        ctx.fail("the coarsest grid is 1x1: there is no coarser grid to grow", hint="grow before the grids get this small")
    w = ctx.per_grid("widths", (g,), g.channels)[0]
    k = ctx.per_grid("kernel", (g,), 3, hi=MAX_KERNEL, odd=True)[0]
    new_key = Grid("", (w, (g.size[0] + 1) // 2, (g.size[1] + 1) // 2)).key     # named after the grid it makes
    return (*pyr, conv_bn_relu(ctx, new_key, g, w, k, 2, ctx.switch("bn"), ctx.activation(), ctx.switch("bias")))


_REACH_DOC = "how many grid steps apart linked grids may be: 1 (neighbours, the paper) | all (every grid; merge=sum)"


@layer("mgconv", _W, Param("kernel", 3, "kernel size per grid (odd)"),
       Param("bn", True, "batch norm after the conv (merge=sum: after the sum) | each (merge=sum: on every path "
             "before the sum, as HRNet)", choices=("each",)), _RELU, _BIAS, _ACT, _GROUPS,
       Param("down", Sym("max"), "the finer grids' path: max | avg (2x2 pool) | conv (a stride-2 conv; merge=sum)",
             choices=("max", "avg", "conv")),
       Param("up", Sym("nearest"), "the coarser grids' path: nearest | bilinear (x2) | convT (2x2 transposed "
             "conv; merge=sum)", choices=("nearest", "bilinear", "convT")),
       Param("merge", Sym("concat"), "concat (one conv over the gathered grids, paper Fig. 2) | sum (a conv per "
             "neighbour, summed: octave conv, HRNet exchange)", choices=("concat", "sum")),
       Param("reach", 1, _REACH_DOC, choices=("all",)),
       Param("self", Sym("conv"), "the grid's own path: conv | identity (the grid itself, unchanged; merge=sum) | "
             "none (merge=sum)", choices=("conv", "identity", "none")),
       Param("upkernel", None, "kernel of the coarser grids' convs before they are brought up (merge=sum; "
             "default: kernel)"))
def mgconv(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Multigrid conv: each grid sees [2x2 max-pool of its finer neighbour, itself, x2 nearest
    upsample of its coarser neighbour], concatenated, then conv + BN + ReLU (paper Fig. 2). Options
    choose the down and up paths, and merge=sum gives each neighbour its own conv and sums them;
    with reach=all every grid reaches every other (a chain of stride-2 convs down, one conv and a
    2^d upsample up), and self=identity, bn=each, upkernel=1 make HRNet's exchange unit."""
    widths = ctx.per_grid("widths", pyr, [g.channels for g in pyr])
    kernels = ctx.per_grid("kernel", pyr, 3, hi=MAX_KERNEL, odd=True)
    each = isinstance(ctx.one("bn"), Sym) and ctx.one("bn") == "each"
    if isinstance(ctx.one("bn"), Sym) and not each and str(ctx.one("bn")).lower() not in SWITCH:
        ctx.fail(f"bn must be on, off or each, not {ctx.one('bn')}", "bn", cls=SpecTypeError)
    bn, relu, bias = each or ctx.switch("bn"), ctx.activation(), ctx.switch("bias")
    down, up, merge = ctx.choice("down"), ctx.choice("up"), ctx.choice("merge")
    reach_word = ctx.one("reach")
    reach = len(pyr) if isinstance(reach_word, Sym) and reach_word == "all" else ctx.int("reach", 1, 64)
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
        sum_opts = _SumOptions(down, up, bias, "each" if each else bn, relu, reach, ctx.choice("self"),
                               None if ctx.one("upkernel") is None else
                               ctx.per_grid("upkernel", (pyr[0],), 1, hi=MAX_KERNEL, odd=True)[0])
        return tuple(_mg_sum(ctx, pyr, j, w, k, sum_opts) for j, (w, k) in enumerate(zip(widths, kernels)))
    for word, bad in (("down", down == "conv"), ("up", up == "convT"), ("reach", reach != 1),
                      ("self", ctx.choice("self") != "conv"), ("bn", each), ("upkernel", ctx.one("upkernel") is not None)):
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
        out.append(conv_bn_relu(ctx, g, x, w, k, 1, bn, relu, bias, ctx.groups(x.channels)))
    return tuple(out)


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


@layer("pool", Param("mode", Sym("each"), "each | merge (fold the coarsest grid into the next) | drop (drop it)",
                          choices=POOL_MODES),
       Param("kernel", 2), Param("stride", None, "default: the kernel size"), Param("pad", 0),
       Param("type", Sym("max"), "max | avg", choices=POOL_TYPES),
       Param("ceil", None, "ceil mode (default: on for unpadded max pools, as the paper's code; off otherwise)"),
       ends_section=True)
def pool(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Pool every grid (2x2 max pool, stride 2, ceil mode). `merge` instead concatenates the
    coarsest grid, unpooled, onto the pooled next-coarsest; `drop` removes the coarsest grid."""
    mode = ctx.choice("mode")
    k = ctx.int("kernel", 1, MAX_KERNEL)
    s = ctx.int("stride", 1, MAX_KERNEL) if ctx.one("stride") is not None else k
    p = ctx.int("pad", 0, MAX_KERNEL)
    kind = {"max": "maxpool", "avg": "avgpool"}[ctx.choice("type")]
    ceil = ctx.switch("ceil") if ctx.one("ceil") is not None else (kind == "maxpool" and p == 0)
    if mode != "each" and len(pyr) < 2:
        ctx.fail(f"`pool {mode}` needs at least two grids, but only {describe(pyr)} is active", at="mode")
    keep = list(pyr) if mode == "each" else list(pyr[:-1])
    if mode == "drop":
        ctx.discard(pyr[-1])
    for g in keep:
        if g.size == (1, 1) and s > 1:
            ctx.fail("a 1x1 grid cannot be pooled any further",
                     hint="fold it into the next grid with `pool merge`, or remove it with `pool drop`")
    out = [ctx.node(g, "pool", kind, [g], kernel=k, stride=s, pad=p, ceil=ceil) for g in keep]
    if mode == "merge":
        out[-1] = ctx.node(keep[-1], "merge", "concat", [out[-1], pyr[-1]])
    return tuple(out)


@layer("drop", Param("count", 1, "how many of the coarsest grids to drop"))
def drop(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Remove grids from the pyramid: the `count` coarsest ones, or those picked with `on`."""
    if ctx.selected and ctx._arg("count") is not None:
        ctx.fail("give either a count or `on ...`, not both: `on` already says which grids to drop", at="count",
                 cls=SpecTypeError)
    n = len(pyr) if ctx.selected else ctx.int("count", 1, 64)
    if n >= len(pyr) and not ctx.selected:
        ctx.fail(f"cannot drop {n} of {len(pyr)} grids: nothing would be left", at="count", cls=SpecValueError)
    for g in pyr[len(pyr) - n:]:
        ctx.discard(g)
    return tuple(pyr[: len(pyr) - n])


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


def partners(ctx: LayerCtx, pyr: Pyramid, name: str) -> Pyramid:
    """The saved pyramid `name`, grid by grid beside `pyr` (finest with finest)."""
    grids_only(ctx, pyr)
    other = grids_only(ctx, ctx.tensor(name), at=name)
    if len(other) != len(pyr):
        ctx.fail(f"the saved pyramid has {len(other)} grids ({describe(other)}) but {len(pyr)} are active here "
                 f"({describe(pyr)})", at=name, hint="pick as many grids with `on` as the saved pyramid has")
    return other


@layer("upsample", Param("factor", 2), Param("mode", Sym("nearest"), "nearest | bilinear", choices=("nearest", "bilinear")),
       Param("to", None, "a saved pyramid: resize each grid to the size of its grid instead of by a factor"))
def upsample(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Upsampling of every grid, nearest-neighbour (default) or bilinear, by a factor or to the
    sizes of a saved pyramid's grids."""
    mode = ctx.choice("mode")
    if ctx.one("to") is not None:
        ctx.refuse("factor", "does nothing beside to=: each grid is resized to its partner's size",
                   hint="give either factor or to")
        return tuple(ctx.node(g, "up", "resize", [g], size=t.size, mode=mode)
                     for g, t in zip(pyr, partners(ctx, pyr, "to")))
    f = ctx.int("factor", 1, 64)
    return tuple(ctx.node(g, "up", "upsample", [g], factor=f, **({"mode": mode} if mode != "nearest" else {}))
                 for g in pyr)


@layer("crop", Param("tensor", REQUIRED, "the saved pyramid whose grid sizes to crop to"))
def crop(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Centre-crop every grid to the size of the saved pyramid's grid (finest with finest)."""
    return tuple(centre_crop(ctx, g, t.size) for g, t in zip(pyr, partners(ctx, pyr, "tensor")))


def centre_crop(ctx: LayerCtx, g: Grid, size) -> Grid:
    have = g.size
    if have is None or size is None:
        ctx.fail("cropping needs grids, not flat vectors")
    if have == size:
        return g
    top, left = (have[0] - size[0]) // 2, (have[1] - size[1]) // 2
    return ctx.node(g, "crop", "crop", [g], at=(top, left), size=tuple(size))


@layer("use", Param("tensor", REQUIRED, "the saved pyramid to continue from"), picks_saved=True)
def use(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Continue from a saved pyramid (a branch: the pyramid here is left for other lines to read,
    by name), or with `on`, from some of its grids (`use h on finest`). Makes no op."""
    saved = ctx.tensor("tensor")
    return ctx.pick(saved) if ctx.pick is not None else saved


@layer("bn")
def bn(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Batch norm on every grid."""
    return tuple(ctx.node(g, "bn", "bn", [g], channels=g.channels) for g in pyr)


@layer("act", Param("fn", REQUIRED, "the activation: " + " | ".join(ACTS[:-1]), choices=ACTS[:-1]))
def act(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """An activation function on every grid (relu is the same as the `relu` layer)."""
    fn = ctx.choice("fn")
    return tuple(ctx.act_node(g, g, fn) for g in pyr)


@layer("dropout", Param("p", REQUIRED, "the probability of zeroing an element, in [0, 1)"))
def dropout(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Dropout on every grid (or on a flat vector): in training only; no weights, no cost."""
    p = ctx.number("p", 0, 1)
    return tuple(ctx.node(g, "dropout", "dropout", [g], p=p) for g in pyr)


@layer("scale", Param("tensor", REQUIRED, "a saved pyramid; one side must be C x 1 x 1 gates"))
def scale(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Channel-wise product with a saved pyramid, grid by grid: C x 1 x 1 gates multiply every
    position of a C-channel grid (squeeze-and-excitation). Either side may be the gates."""
    return tuple(ctx.node(g, "scale", "mul", [t, g] if g.size == (1, 1) else [g, t])
                 for g, t in zip(pyr, partners(ctx, pyr, "tensor")))


@layer("gap", Param("to", 1, "output size n (an n x n grid); 1: global average pooling"))
def gap(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Average pooling of every grid down to C x 1 x 1 (global), or to C x n x n (adaptive)."""
    n = ctx.int("to", 1, 1 << 16)
    if n == 1:
        return tuple(ctx.node(g, "gap", "gap", [g]) for g in pyr)
    return tuple(ctx.node(g, "gap", "adaptive_avgpool", [g], size=(n, n)) for g in pyr)


@layer("upconv", _W, Param("kernel", 2), Param("stride", None, "default: the kernel size"), _BN, _RELU, _BIAS, _ACT)
def upconv(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Transposed conv (2x2, stride 2 by default) + BN + ReLU on each grid."""
    widths = ctx.per_grid("widths", pyr, [g.channels for g in pyr])
    k = ctx.int("kernel", 1, MAX_KERNEL)
    s = ctx.int("stride", 1, MAX_KERNEL) if ctx.one("stride") is not None else k
    bn, fn, bias = ctx.switch("bn"), ctx.activation(), ctx.switch("bias")
    out = []
    for g, w in zip(pyr, widths):
        x = ctx.node(g, "convT", "convT", [g], cin=g.channels, cout=w, kernel=k, stride=s, bias=bias)
        x = ctx.node(g, "bn", "bn", [x], channels=w) if bn else x
        out.append(ctx.act_node(g, x, fn))
    return tuple(out)


@layer("concat", Param("tensor", REQUIRED, "the names of saved pyramids (one or more, a, b, ...)"),
       Param("crop", False, "centre-crop the saved grids to the sizes here, finest with finest (unpadded U-Net)"))
def concat(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Concatenate each grid with the grids of the same size in saved pyramids (U-Net skips), in
    the order written; grids without a partner pass through, but each saved pyramid must have a grid
    of a size here. With crop=on the saved pyramid's grids are centre-cropped to the active grids'
    sizes first."""
    if ctx.switch("crop"):
        (saved,) = [partners(ctx, pyr, "tensor")] if len(ctx.args["tensor"]) == 1 else \
            ctx.fail("concat crop=on takes one saved pyramid", at="tensor", cls=SpecTypeError)
        saved = tuple(centre_crop(ctx, t, g.size) for g, t in zip(pyr, saved))
        others = [{g.size: g for g in saved}]
    else:
        grids_only(ctx, pyr)
        here = {g.size for g in pyr}
        others = []
        for t in ctx.tensors("tensor"):
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


@layer("add", Param("tensor", REQUIRED, "the name of a saved pyramid"),
       Param("shortcut", Sym("pad"), "pad (zero-pad channels) | proj (1x1 conv + BN) | none", choices=SHORTCUTS),
       Param("bias", False, "bias of a projection conv"))
def add(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Residual addition of a saved pyramid, grid by grid (finest with finest; when the two have
    different numbers of grids, each grid here with the saved grid of its size). Where the shapes
    differ the shortcut zero-pads the channels (type A) or projects with a strided 1x1 conv + BN (type B)."""
    other = ctx.tensor("tensor")
    mode = ctx.choice("shortcut")
    if mode != "proj":
        ctx.refuse("bias", f"is the bias of a projection conv, which shortcut={mode} never makes",
                   hint="use it with shortcut=proj, or leave it out")
    bias = ctx.switch("bias")
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


@layer("relu")
def relu(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """ReLU on every grid."""
    return tuple(ctx.node(g, "relu", "relu", [g]) for g in pyr)


@layer("fc", Param("classes", REQUIRED, "output features"), Param("pool", Sym("none"), "none | avg (global average pool first)",
                                                        choices=FC_POOLS),
       Param("relu", False, "ReLU after the layer"), _BIAS, head=True)
def fc(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Fully connected layer on the single remaining grid, flattened (or globally average-pooled)."""
    g = one_grid(ctx, pyr, "fc")
    n = ctx.int("classes", 1, 1 << 24)
    x = g
    gap = ctx.choice("pool") == "avg"
    if gap and len(g.shape) != 3:
        ctx.fail("pool=avg averages a grid, but fc gets a flat vector here", at="pool", cls=SpecValueError,
                 hint="leave out pool=avg")
    if len(g.shape) == 3:
        if gap:
            x = ctx.node(None, "gap", "gap", [x])
        x = ctx.node(None, "flatten", "flatten", [x])
    x = ctx.node(None, "fc", "linear", [x], fin=x.channels, fout=n, bias=ctx.switch("bias"))
    return (ctx.node(None, "relu", "relu", [x]),) if ctx.switch("relu") else (x,)


@layer("maps", Param("count", REQUIRED, "number of output maps"), Param("kernel", 1), _BN, _BIAS, head=True)
def maps(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """Per-pixel output maps on the single remaining grid: conv + BN, no ReLU (logits)."""
    g = one_grid(ctx, pyr, "maps")
    k = ctx.per_grid("kernel", (g,), 1, hi=MAX_KERNEL, odd=True)[0]
    return (conv_bn_relu(ctx, g, g, ctx.int("count", 1, MAX_WIDTH), k, 1, ctx.switch("bn"), False, ctx.switch("bias")),)


def _shown(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def markdown_table() -> str:
    """The built-in layer types as a Markdown table, from this registry (docs/language.md holds a
    copy between markers that a test keeps fresh; `python tools/layer_table.py` rewrites it)."""
    rows = ["| type | parameters (default) | what it does |", "|---|---|---|"]
    for lt in LAYERS.values():
        params = []
        for i, p in enumerate(lt.params):
            if p.default is REQUIRED:
                text = f"`{p.name.upper()}`" if i == 0 else f"`{p.name}=...` (required)"
            elif p.default is None:
                text = f"`{p.name}=`"
            else:
                text = f"`{p.name}={_shown(p.default)}`"
            params.append(f"{text}: {p.doc}" if p.doc else text)
        doc = " ".join(lt.doc.split())
        cell = "<br>".join(params) or "none"
        rows.append(f"| `{lt.name}` | {cell.replace('|', chr(92) + '|')} | {doc.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


@layer("outputs", Param("tensor", REQUIRED, "the saved pyramids to return (one or more, a, b, ...)"), head=True,
       takes_on=False)
def outputs(ctx: LayerCtx, pyr: Pyramid) -> Pyramid:
    """The network's outputs when there are several (FPN levels, auxiliary heads): every grid of the
    named saved pyramids, in the order written (each pyramid finest first). `build()` then returns a
    tuple in that order. It ends the network."""
    grids = [g for t in ctx.tensors("tensor") for g in t]
    seen = set()
    for g in grids:
        if g.node in seen:
            ctx.fail(f"the {g.label} grid is named twice as an output", at="tensor")
        seen.add(g.node)
    ctx.builder.G.info.outputs = tuple(g.node for g in grids)
    return (grids[-1],)


_ORDINALS = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def bind_args(ltype_name: str, params: tuple, call, evaluate, span) -> dict[str, Arg]:
    """Match a call's positional list and keyword arguments to a parameter list."""
    names = [p.name for p in params]
    out: dict[str, Arg] = {}
    if call.args is not None:
        if not params:
            raise SpecTypeError(f"{ltype_name} takes no arguments", call.args_span)
        out[names[0]] = evaluate(call.args, call.args_span)
    for i, value in enumerate(call.more, 1):
        text = value.span.text()
        if i >= len(params):
            raise SpecTypeError(f"{ltype_name} takes {'one value' if params else 'no values'} without a name, "
                                f"but {text} follows", value.span,
                                hint=f"its parameters are: {', '.join(names)}" if names else None)
        raise SpecTypeError(f"the {_ORDINALS.get(i + 1, f'{i + 1}th')} argument of {ltype_name} must be named: "
                            f"write {names[i]}={text}", value.span,
                            hint="only the first argument goes without a name; " +
                                 (f"{ltype_name} takes: {', '.join(names)}" if names else ""))
    for kw in call.kwargs:
        if kw.name not in names:
            hint = suggest(kw.name, names) or (f"{ltype_name} takes: {', '.join(names)}" if names else None)
            raise SpecTypeError(f"{ltype_name} has no parameter '{kw.name}'", kw.name_span, hint=hint)
        if kw.name in out:
            raise SpecTypeError(f"{kw.name} is given twice", kw.name_span)
        out[kw.name] = evaluate(kw.values, kw.span)
    for p in params:
        if p.default is REQUIRED and p.name not in out:
            raise SpecTypeError(f"{ltype_name} needs {p.name}" + (f" ({p.doc})" if p.doc else ""), span,
                                hint=f"write it first, as in: {ltype_name} {p.name.upper()}" if p is params[0]
                                else f"write {p.name}=...")
    return out



# words that are values in layer arguments (every choice of every layer type, the switches, `same`),
# in lower case: no network or unit parameter and no saved pyramid may take one as its name in any
# spelling (`convT`, `Off`), or it would change what those words mean
VALUE_WORDS = frozenset(w.lower() for w in (*SWITCH, "same", *(c for t in LAYERS.values() for p in t.params
                                                               for c in p.choices)))


def is_value_word(name: str) -> bool:
    return name.lower() in VALUE_WORDS
