"""The layer API: what a built-in layer type is, and all that its lowering sees.

A layer type is one registry entry (``@layer``) with its parameters, each a :class:`Param` that knows
its kind and range (the checks, the docs' layer table and the editor's completion all read that one
fact), and a lowering function ``(LayerCtx, Pyramid) -> Pyramid``. The lowering reads validated
argument values from its :class:`LayerCtx` and makes ops through it; the context reaches the graph
under construction only through the small :class:`Builder` protocol (add a node, discard a grid, look
up a saved pyramid, set the outputs), which the lowerer (``lower.py``) implements.

The layer types themselves are in ``layers.py``; docs/graph.md walks through adding one.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, NoReturn, Protocol

from ..errors import Span, SpecNameError, SpecShapeError, SpecTypeError, SpecValueError
from .values import Arg, Grid, Passed, Pyramid, Sym, Window, describe

MAX_WIDTH = 1 << 20         # channels of any grid
MAX_KERNEL = 255            # kernel sizes, strides, dilations and paddings
MAX_FACTOR = 64             # up-sampling factors, grid counts
SWITCH = {"on": True, "off": False, "true": True, "false": False, "yes": True, "no": False}
REQUIRED = Sym("<required>")


# -- the kinds of values a parameter takes -------------------------------------------------------
class Kind:
    """How a parameter's one value is read and checked."""

    words: tuple[str, ...] = ()            # the words it takes besides numbers (value words of the language)

    def describe(self) -> str:
        raise NotImplementedError

    def read(self, ctx: "LayerCtx", name: str, v: object) -> object:
        raise NotImplementedError


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number in [lo, hi]."""
    lo: int = 1
    hi: int = 1 << 24

    def describe(self) -> str:
        return f"whole number {self.lo}..{self.hi:,}"

    def read(self, ctx, name, v):
        return ctx.whole(name, v, self.lo, self.hi, "a whole number")


@dataclass(frozen=True)
class Real(Kind):
    """A number in [lo, hi)."""
    lo: float = 0.0
    hi: float = 1.0

    def describe(self) -> str:
        return f"number from {self.lo:g} to below {self.hi:g}"

    def read(self, ctx, name, v):
        if isinstance(v, Sym) or not isinstance(v, (int, float)) or isinstance(v, bool):
            ctx.fail(f"{name} must be a number, not {v}", name, cls=SpecTypeError)
        if not self.lo <= v < self.hi:
            ctx.fail(f"{name} {v:g} is out of range: it must be at least {self.lo:g} and below {self.hi:g}", name,
                     cls=SpecValueError)
        return v


@dataclass(frozen=True)
class Switch(Kind):
    """on or off (also true/false, yes/no, 1/0), and any words given besides."""
    words: tuple[str, ...] = ()

    def describe(self) -> str:
        return " | ".join(("on", "off", *self.words))

    def read(self, ctx, name, v):
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.lower() in SWITCH:
            return SWITCH[v.lower()]
        if isinstance(v, Sym) and v in self.words:
            return str(v)
        alternatives = " or ".join(("on, off", *self.words)) if self.words else "on or off"
        ctx.fail(f"{name} must be {alternatives}, not {v}", name, cls=SpecTypeError)


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few words."""
    words: tuple[str, ...] = ()

    def describe(self) -> str:
        return " | ".join(self.words)

    def read(self, ctx, name, v):
        if v not in self.words:
            ctx.fail(f"{name} must be one of {', '.join(self.words)}, not {v}", name, cls=SpecValueError,
                     hint=suggest(str(v), self.words))
        return str(v)


@dataclass(frozen=True)
class WholeOr(Kind):
    """A whole number in [lo, hi], or one of a few words (`groups=depthwise`, `reach=all`)."""
    lo: int = 1
    hi: int = 1 << 24
    words: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"whole number {self.lo}..{self.hi:,} | " + " | ".join(self.words)

    def read(self, ctx, name, v):
        if isinstance(v, Sym) and v in self.words:
            return str(v)
        return ctx.whole(name, v, self.lo, self.hi, "a whole number")


@dataclass(frozen=True)
class WholeOrWindow(Kind):
    """A whole number in [lo, hi], or a window of two sides HxW (`pad=0x3`), each side in [lo, hi]; a
    window of two equal sides is the number."""
    lo: int = 0
    hi: int = 1 << 24

    def describe(self) -> str:
        return f"whole number or HxW {self.lo}..{self.hi:,}"

    def read(self, ctx, name, v):
        if not isinstance(v, Window):
            return ctx.whole(name, v, self.lo, self.hi, "a whole number")
        return ctx.window(name, v, self.lo, self.hi)


@dataclass(frozen=True)
class PerGrid(Kind):
    """One whole number per active grid in [lo, hi] (one value applies to all; `same` keeps the
    layer's default for that grid); `odd` for kernels that keep the grid size; with `windows`, a value
    may also be a window of two sides, HxW (`1x7`), each side in [lo, hi]."""
    lo: int = 1
    hi: int = MAX_WIDTH
    odd: bool = False
    windows: bool = False

    def describe(self) -> str:
        window = " or HxW" if self.windows else ""
        return f"whole number{' (odd)' if self.odd else ''}{window} {self.lo}..{self.hi:,} per grid | same"

    def read(self, ctx, name, v):
        raise TypeError(f"{name} is read per grid: use LayerCtx.per_grid")


@dataclass(frozen=True)
class Saved(Kind):
    """The name of a saved pyramid, or with `many` a list of names."""
    many: bool = False

    def describe(self) -> str:
        return "saved pyramids" if self.many else "a saved pyramid"

    def read(self, ctx, name, v):
        return ctx.builder.saved(v, ctx.args[name].span if name in ctx.args else ctx.span)


# -- parameters and layer types ---------------------------------------------------------------------
@dataclass(frozen=True)
class SameAs:
    """A default that is another parameter's value (a pool's stride defaults to its kernel)."""
    name: str


@dataclass(frozen=True)
class Param:
    """One parameter of a layer type: its name, default (None: absent unless given; REQUIRED: must
    be given), what it is for, and what values it takes."""
    name: str
    default: object = None
    doc: str = ""
    kind: Kind = field(default_factory=Whole)

    @property
    def choices(self) -> tuple[str, ...]:
        """The value words this parameter takes (reserved: no parameter or pyramid may be called so)."""
        return self.kind.words

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def default_text(self) -> str:
        """The default as a spec would write it ("" for none; "required")."""
        d = self.default
        if d is REQUIRED:
            return "required"
        if isinstance(d, SameAs):
            return f"the {d.name}"
        if isinstance(d, bool):
            return "on" if d else "off"
        return "" if d is None else str(d)

    def describe(self) -> str:
        """What the parameter takes and its default, in one line (docs, completion, hover)."""
        default = self.default_text()
        parts = [self.kind.describe()] + ([f"default {default}"] if default and default != "required" else [])
        return "; ".join(parts + ([self.doc] if self.doc else []))


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

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


LAYERS: dict[str, LayerType] = {}


def layer(name: str, *params: Param, head: bool = False, ends_section: bool = False, picks_saved: bool = False,
          takes_on: bool = True):
    """Register a built-in layer type; the decorated function is its lowering, its docstring its help."""
    def register(fn):
        LAYERS[name] = LayerType(name, fn, params, (fn.__doc__ or "").strip(), head, ends_section, picks_saved,
                                 takes_on)
        return fn
    return register


def value_words() -> frozenset[str]:
    """Every word the layers read as a value (each choice of each parameter, the switches, `same`), in
    lower case: no network or unit parameter and no saved pyramid may take one as its name in any
    spelling (`convT`, `Off`), or it would change what those words mean."""
    return frozenset(w.lower() for w in (*SWITCH, "same", *(c for t in LAYERS.values() for p in t.params
                                                             for c in p.choices)))


def is_value_word(name: str) -> bool:
    return name.lower() in value_words()


def suggest(word: str, choices) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else None


# -- what a lowering sees -----------------------------------------------------------------------------
class Builder(Protocol):
    """The graph under construction, as a layer's lowering reaches it."""

    def add_node(self, nid: str, kind: str, inputs: list[Grid], attrs: dict, ctx: "LayerCtx") -> Grid: ...

    def discard(self, grid: Grid) -> None: ...

    def saved(self, name: object, span: Span | None) -> Pyramid: ...

    def is_saved(self, name: object) -> bool: ...

    def set_outputs(self, nodes: tuple[str, ...]) -> None: ...


@dataclass
class LayerCtx:
    """What a layer's lowering sees: its arguments, read through their parameters' kinds, and a way
    to add nodes to the graph."""
    builder: Builder
    ltype: LayerType
    path: str
    span: Span
    args: dict[str, Arg]
    selected: bool = False          # the call restricted itself with `on`
    pick: Callable[[Pyramid], Pyramid] | None = None    # for a picks_saved layer: its `on`, applied to a pyramid
    read: set[str] = field(default_factory=set)         # the arguments the lowering looked at

    # -- arguments --------------------------------------------------------------------------------
    def given(self, name: str) -> bool:
        """Whether the call gives this argument (the lowering has then looked at it)."""
        self.read.add(name)
        return name in self.args

    def raw(self, name: str) -> object:
        """The argument's one value as written (a number or a word), or the parameter's default."""
        if not self.given(name):
            return self.ltype.param(name).default
        a = self.args[name]
        if len(a) != 1:
            self.fail(f"{name} takes one value, got {len(a)}: {a.text()}", name, cls=SpecTypeError)
        return a.items[0]

    def value(self, name: str, default: object = None) -> Any:
        """The argument's value, read and checked by its parameter's kind; without the argument, the
        parameter's default (or `default`, for a default that depends on other arguments)."""
        if not self.given(name):
            d = self.ltype.param(name).default
            if isinstance(d, SameAs):
                return self.value(d.name)
            return default if d is None else d
        kind = self.ltype.param(name).kind
        if isinstance(kind, Saved) and kind.many:
            return [kind.read(self, name, v) for v in self.args[name].items]
        return kind.read(self, name, self.raw(name))

    def per_grid(self, name: str, grids: Pyramid, default, odd: bool | None = None) -> list[Any]:
        """One value per grid of a PerGrid parameter; a single value applies to every grid; `same`
        keeps the default. `odd` overrides the parameter's own rule (a conv with explicit padding).
        A window parameter's value is a whole number, or (height, width) where the two differ."""
        kind = self.ltype.param(name).kind
        assert isinstance(kind, PerGrid), f"{name} is not a per-grid parameter"
        odd = kind.odd if odd is None else odd
        a = self.args.get(name) if self.given(name) else None
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
            if isinstance(v, Window) and kind.windows:
                v = self.window(name, v, kind.lo, kind.hi)
            elif a is not None:
                v = self.whole(name, v, kind.lo, kind.hi, "a positive whole number")
            if odd and any(side % 2 == 0 for side in (v if isinstance(v, tuple) else (v,))):
                written = "x".join(map(str, v)) if isinstance(v, tuple) else v
                self.fail(f"kernel {written} is even{' on one side' if isinstance(v, tuple) else ''}; convolutions "
                          "here pad to keep the grid size, which needs an odd kernel", name, cls=SpecValueError,
                          hint="give pad=... to pad otherwise" if kind.windows else None)
            out.append(v)
        return out

    def whole(self, name: str, v: object, lo: int, hi: int, what: str) -> int:
        """A whole number in [lo, hi] given for `name` (a saved pyramid or an unknown word is refused)."""
        span = self.args[name].span if name in self.args else self.span
        if isinstance(v, Window):
            raise SpecTypeError(f"{name} takes {what}, not a window of two sides ({v})", span,
                                hint=f"only a conv's kernel takes HxW; give {self.ltype.name}'s {name} one number")
        if isinstance(v, Passed) or isinstance(v, Sym) and self.builder.is_saved(v):
            raise SpecTypeError(f"'{v}' is a saved pyramid here, not {what}", span)
        if isinstance(v, Sym):
            raise SpecNameError(f"unknown name '{v}'", span, hint=f"{self.ltype.name}'s {name} wants {what}")
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

    def window(self, name: str, v: Window, lo: int, hi: int) -> int | tuple[int, int]:
        """A window HxW given for `name`, each side in [lo, hi]: the number when both sides are equal,
        else (height, width)."""
        for side in v.sides:
            if not lo <= side <= hi:
                self.fail(f"{name} {v} has a side of {side}, out of range: each side must be from {lo} to {hi}", name,
                          cls=SpecValueError, hint=f"a window is HEIGHTxWIDTH, such as {max(lo, 1)}x7")
        h, w = v.sides
        return h if h == w else (h, w)

    def fail(self, message: str, at: str | None = None, hint: str | None = None, cls=SpecShapeError) -> NoReturn:
        """Refuse the call: at the argument `at` when it was given, else at the whole call."""
        a = self.args.get(at) if at else None
        raise cls(message, a.span if a is not None and a.span else self.span, hint)

    def refuse(self, name: str, reason: str, hint: str | None = None) -> None:
        """Refuse an argument that the other options make meaningless, when it is given."""
        if self.given(name):
            self.fail(f"{name}={self.args[name].text()} {reason}", name, hint=hint, cls=SpecTypeError)

    def check_all_read(self) -> None:
        """Refuse an argument the layer's lowering never looked at: it would change nothing."""
        for name, a in self.args.items():
            if name not in self.read:
                raise SpecTypeError(f"{name}={a.text()} has no effect on this {self.ltype.name}", a.span or self.span,
                                    hint=f"the other options given here leave {name} unused; leave it out")

    # -- graph ------------------------------------------------------------------------------------
    def node(self, grid: Grid | str | None, name: str, kind: str, inputs: list[Grid], **attrs) -> Grid:
        """Add an op: its id is the layer's path, the grid's key and `name` (s1.conv1.g32.bn)."""
        key = grid.key if isinstance(grid, Grid) else grid
        nid = f"{self.path}.{key}.{name}" if key else f"{self.path}.{name}"
        return self.builder.add_node(nid, kind, inputs, attrs, self)

    def act_node(self, g, x: Grid, fn: str | None) -> Grid:
        """The activation `fn` on `x` (none: `x` itself); ReLU keeps its own op kind."""
        if fn is None:
            return x
        if fn == "relu":
            return self.node(g, "relu", "relu", [x])
        return self.node(g, "act", "act", [x], fn=fn)

    def discard(self, grid: Grid) -> None:
        """A grid left behind on purpose (`drop`): no warning that it never reaches the output."""
        self.builder.discard(grid)

    def set_outputs(self, grids: list[Grid]) -> None:
        self.builder.set_outputs(tuple(g.node for g in grids))


def bind_args(ltype_name: str, params: tuple, call, evaluate, span, positional: bool = False) -> dict[str, Arg]:
    """Match a call's positional list and keyword arguments to a parameter list. The first value (a
    list, one item per grid) goes to the first parameter; with `positional` (units), each value after
    it goes to the next parameter in order (`se 64 16`), while a built-in layer wants them named."""
    names = [p.name for p in params]
    out: dict[str, Arg] = {}
    if call.args is not None:
        if not params:
            raise SpecTypeError(f"{ltype_name} takes no arguments", call.args_span)
        out[names[0]] = evaluate(call.args, call.args_span)
    by_position = set()
    for i, value in enumerate(call.more, 1):
        text = value.span.compact()
        if i >= len(params):
            many = {0: "no values", 1: "one value"}.get(len(params), f"{len(params)} values")
            raise SpecTypeError(f"{ltype_name} takes {many if positional else 'one value' if params else 'no values'} "
                                f"without a name, but {text} follows", value.span,
                                hint=f"its parameters are: {', '.join(names)}" if names else None)
        if not positional:
            raise SpecTypeError(f"the {_ORDINALS.get(i + 1, f'{i + 1}th')} argument of {ltype_name} must be named: "
                                f"write {names[i]}={text}", value.span,
                                hint="a built-in layer takes only its first argument without a name (units take "
                                     "theirs in order); " + (f"{ltype_name} takes: {', '.join(names)}" if names else ""))
        out[names[i]] = evaluate([value], value.span)
        by_position.add(names[i])
    for kw in call.kwargs:
        if kw.name not in names:
            hint = suggest(kw.name, names) or (f"{ltype_name} takes: {', '.join(names)}" if names else None)
            raise SpecTypeError(f"{ltype_name} has no parameter '{kw.name}'", kw.name_span, hint=hint)
        if kw.name in out:
            raise SpecTypeError(f"{kw.name} is given twice" + (": by position and by name" if kw.name in by_position
                                                               or kw.name == names[0] and call.args else ""),
                                kw.name_span, hint=f"{ltype_name} takes, in order: {', '.join(names)}")
        out[kw.name] = evaluate(kw.values, kw.span)
    for p in params:
        if p.default is REQUIRED and p.name not in out:
            raise SpecTypeError(f"{ltype_name} needs {p.name}" + (f" ({p.doc})" if p.doc else ""), span,
                                hint=f"write it first, as in: {ltype_name} {p.name.upper()}" if p is params[0]
                                else f"write {p.name}=...")
    return out


_ORDINALS = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}
