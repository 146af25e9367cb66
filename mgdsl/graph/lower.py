"""Lowering: run a network's AST over a pyramid of grids and record every primitive op in one
graph (``ir.Graph``, a ``networkx.DiGraph``), the single source of truth for costs, diagrams and
generated code. The graph's contract is in ``ir.py``.

Node ids are the spec's layer paths (``s2.resmg1.mgconv2.g16.conv``); they become the module paths
of the generated PyTorch code, so state_dict keys read like the spec and are stable across runs.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from ..errors import MgError, Span, SpecNameError, SpecShapeError, SpecTypeError, SpecValueError
from ..lang import ast as A
from .ir import Graph, Layer, NetInfo, Node, new_graph
from .layer_api import LAYERS, MAX_WIDTH, REQUIRED, SWITCH, LayerCtx, LayerType, Param, bind_args, is_value_word, suggest
from .ops import OPS, ShapeProblem
from .values import Arg, Grid, Outer, Passed, Pyramid, Sym, Window, describe, size_label

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
# statements of the network's top level, met where a layer is expected (in a unit or an if block)
STATEMENTS = ("section", "network", "input", "grids", "import", "unit")

MAX_REPEAT = 10_000
MAX_NODES = 50_000
MAX_UNIT_DEPTH = 32
MAX_CALLS = 50_000          # layer and unit calls, counted through every repeat: work, even when no op is made
MAX_SIDE = 1 << 16          # the largest grid side any layer may make
MAX_EDGES = 200_000         # inputs of all ops together: a concat of many pyramids makes many per op


@dataclass
class Scope:
    prefix: str
    env: dict[str, tuple[Arg, bool]]          # name -> (value, keep the value's own span)
    tensors: dict[str, tuple[Pyramid, Span | None]]
    units: dict
    counters: Counter = field(default_factory=Counter)
    depth: int = 0
    here: tuple = ()                          # the grids the call being bound acts on: what `ch` reads
    grid: int | None = None                   # evaluating per grid: which of them `ch` reads


CHANNELS = "ch"             # the channel count of the grids a layer acts on, in expressions


@dataclass
class _Top:
    path: str
    type: str
    section: str
    span: Span


# -- expressions (no graph needed: also used for network parameters) -----------------------------
def evaluate(e: A.Expr, scope: Scope) -> tuple:
    if isinstance(e, A.Num):
        return (e.value,)
    if isinstance(e, A.Str):
        return (Sym(e.value),)
    if isinstance(e, A.Window):
        return (Window(f"{e.sides[0]}x{e.sides[1]}", e.sides),)
    if isinstance(e, A.Name):
        if e.id in scope.env:
            return scope.env[e.id][0].items
        if e.id == CHANNELS and e.id not in scope.tensors:
            return (channels(e, scope),)
        return (Sym(e.id),)
    if isinstance(e, A.ListExpr):
        return tuple(v for it in e.items for v in evaluate(it, scope))
    if isinstance(e, A.Neg):
        return (-number(e.operand, scope),)
    if isinstance(e, A.BinOp):
        a, b = number(e.left, scope), number(e.right, scope)
        if e.op in ("/", "//") and b == 0:
            raise SpecValueError("division by zero", e.span)
        if e.op == "+":
            return (a + b,)
        if e.op == "-":
            return (a - b,)
        if e.op == "*":
            return (a * b,)
        if e.op == "//":
            return (a // b,)
        q = a / b
        return (int(q) if isinstance(a, int) and isinstance(b, int) and a % b == 0 else q,)
    raise TypeError(f"unknown expression {e!r}")


def channels(e: A.Expr, scope: Scope) -> int:
    """The value of `ch`: the channels of the grids here, when they agree (or of the grid being
    evaluated, when an argument is evaluated per grid)."""
    if not scope.here:
        raise SpecNameError(f"'{CHANNELS}' is the channel count of the grids a layer acts on, and there are none here",
                            e.span, hint="use it in a layer's or unit's arguments, or in an if inside a unit")
    if scope.grid is not None:
        return scope.here[scope.grid].channels
    widths = sorted({g.channels for g in scope.here}, reverse=True)
    if len(widths) > 1:
        raise SpecValueError(f"'{CHANNELS}' differs between the grids here ({describe(scope.here)}), so it is not one "
                             "number", e.span, hint="a layer's widths and options may use it (one value per grid); "
                                                    "pick one grid with `on` for a repeat count or a condition")
    return widths[0]


def _names(e: A.Expr):
    if isinstance(e, A.Name):
        yield e
    for child in vars(e).values():
        if isinstance(child, A.Expr):
            yield from _names(child)
        elif isinstance(child, list):
            for c in child:
                yield from _names(c)


def with_origins(err, e: A.Expr, scope: Scope):
    """Point at where the parameters in a bad expression got their values (a --set, a header)."""
    for name in _names(e):
        if name.id in scope.env and (arg := scope.env[name.id][0]).span is not None:
            err.with_note(f"{name.id} = {arg.text()} comes from here", arg.span)
    return err


def number(e: A.Expr, scope: Scope):
    v = evaluate(e, scope)
    if len(v) != 1:
        raise SpecTypeError(f"arithmetic needs a single number, but this is a list of {len(v)}", e.span)
    (v,) = v
    if isinstance(v, Window):
        raise SpecTypeError(f"{v} is a window (height x width), not a number", e.span,
                            hint="only a kernel takes a window; arithmetic needs single numbers")
    if isinstance(v, Sym):
        names = list(scope.env)
        if isinstance(v, Passed) or v in scope.tensors:
            raise SpecTypeError(f"'{e.id if isinstance(e, A.Name) else v}' is a saved pyramid here, not a number",
                                e.span)
        if (sci := scientific(e.span)) is not None:
            written, hint = sci
            raise SpecValueError(f"{written} looks like scientific notation, which .mg does not read", e.span,
                                 hint=hint)
        written = e.span.text()
        if v == "x" and _HALF_WINDOW.fullmatch(written):
            raise with_origins(SpecNameError(f"unknown name 'x': {written} is {written[:-1]} times x, or half a window",
                                             e.span, hint=f"define x, or give a window both sides, as in {written}3 "
                                                          "(height x width)"), e, scope)
        if _BROKEN_WINDOW.fullmatch(written):
            raise SpecNameError(f"unknown name '{v}': {written} is not a window either, which is two whole numbers, "
                                "height x width", e.span, hint="write a window as in 1x7")
        raise with_origins(SpecNameError(f"unknown name '{v}'", e.span, hint=suggest(v, names) or (
            f"names defined here: {', '.join(names)}" if names else None)), e, scope)
    if abs(v) > 1e15:
        raise SpecValueError(f"{v:g} is absurdly large", e.span)
    return v


_HALF_WINDOW = re.compile(r"\d+x")
_BROKEN_WINDOW = re.compile(r"\d+(\.\d+)?x[\dx.]*")       # 1x7x3, 1.5x7 (a name x7 times a number)
_SCIENTIFIC = re.compile(r"(\d+(?:\.\d+)?[eE])([+-]?\d+)")


def scientific(span: Span) -> tuple[str, str] | None:
    """(the text, a hint with its value written out) when a number in scientific notation starts at `span`: the
    grammar reads `1e6` as 1 times a name `e6` (like `2w`), and `1e-3` as that minus 3."""
    m = _SCIENTIFIC.match(span.source.line(span.line), span.col - 1)
    if m is None or not span.text().startswith(m.group(1)):
        return None
    try:
        value = float(m.group(0))
    except (OverflowError, ValueError):
        return None
    if not abs(value) < 1e16:
        return m.group(0), "it is far larger than any width, size or count of a network"
    return m.group(0), f"write the number out: {int(value) if value.is_integer() else f'{value:.15g}'}"


def evaluate_list(exprs: list[A.Expr], span: Span | None, scope: Scope) -> Arg:
    if len(exprs) == 1 and isinstance(exprs[0], A.Name) and exprs[0].id in scope.env:
        arg, keep = scope.env[exprs[0].id]
        if keep:
            return arg
    if len({g.channels for g in scope.here}) > 1 and any(n.id == CHANNELS and n.id not in scope.env
                                                         for e in exprs for n in _names(e)):
        return Arg(per_grid(exprs, scope), span)
    return Arg(tuple(v for e in exprs for v in evaluate(e, scope)), span)


def per_grid(exprs: list[A.Expr], scope: Scope) -> tuple:
    """Values that read `ch` where the grids differ in channels: one value per grid, each computed
    with that grid's channel count (`conv 2 * ch` doubles every grid's width)."""
    values = []
    try:
        for i in range(len(scope.here)):
            scope.grid = i
            v = tuple(v for e in exprs for v in evaluate(e, scope))
            if len(v) != 1:
                raise SpecTypeError(f"'{CHANNELS}' differs between the grids here ({describe(scope.here)}), so this "
                                    f"gives one value per grid, and a list of {len(v)} for each does not fit",
                                    exprs[0].span, hint="write one value here, or pick one grid with `on`")
            values.append(v[0])
    finally:
        scope.grid = None
    return tuple(values)


def count(e: A.Expr, scope: Scope) -> int:
    n = number(e, scope)
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if not isinstance(n, int) or n < 0:
        raise with_origins(SpecValueError(f"a repeat count must be a whole number of at least 0, not {n:g}", e.span),
                           e, scope)
    if n > MAX_REPEAT:
        raise SpecValueError(f"repeat count {n} is absurdly large (the limit is {MAX_REPEAT})", e.span)
    return n


def _switch(v):
    """A condition's value as a truth value where it is a switch word (on, off, true, ...)."""
    return SWITCH[v.lower()] if isinstance(v, Sym) and v.lower() in SWITCH else v


class Lowerer:
    def __init__(self, net: A.NetworkDef, units: dict, params: dict[str, Arg], name: str, path: str):
        self.net, self.units, self.params = net, units, params
        self.G = new_graph(NetInfo(name, path, {k: (v.items[0] if len(v) == 1 else v.items) for k, v in params.items()},
                                   (0, 0, 0)))
        self.top: _Top | None = None
        self.scope: Scope | None = None           # the scope whose layer is being lowered
        self.explicit_sections = any(isinstance(b, A.SectionMark) for b in net.body)
        self.section, self.section_no, self.bump = ("main" if self.explicit_sections else "s1"), 1, False
        self.calls = 0
        self.edges = 0
        self.paths: dict[str, Span] = {}          # layer path -> the call that made it
        self.branches: dict[int, list] = {}       # id of an if's or else's lines -> [their span, lowered by any use]
        self.prefixes: set[str] = set()           # every proper prefix of a node id (ModuleDicts in torch)

    # -- the network ------------------------------------------------------------------------------
    def run(self) -> Graph:
        net, G = self.net, self.G
        scope = Scope("", {k: (v, False) for k, v in self.params.items()}, {}, self.units)
        if net.input is None:
            raise SpecTypeError(f"network \"{net.name}\" has no input", net.span,
                                hint="declare it after the network line, e.g.: input 3 @ 32x32")
        pyr = self.image_pyramid(net, scope)
        for item in net.body:
            if isinstance(item, A.SectionMark):
                self.section, self.bump = item.name, False
                continue
            pyr = self.body([item], pyr, scope, top=True)
        G.info.skipped = [span for span, lowered in self.branches.values() if not lowered]
        if G.info.outputs:
            G.info.output = G.info.outputs[-1]
            G.info.output_shape = G.node(G.info.output).shape
            return G
        if len(pyr) != 1:
            last = net.body[-1].span if net.body else net.span
            raise SpecShapeError(f"the network ends with {len(pyr)} grids ({describe(pyr)}); it must end in one tensor",
                                 last, hint="end with a head: `fc classes`, or a single grid with `maps count`")
        G.info.output = pyr[0].node
        G.info.output_shape = pyr[0].shape
        return G

    def image_pyramid(self, net: A.NetworkDef, scope: Scope) -> Pyramid:
        decl = net.input
        assert decl is not None, "run() checks that the network has an input"
        c = self.positive(decl.channels, scope, "input channels", 4096)
        if isinstance(decl.size, tuple):
            h, w = decl.size
        else:
            h = w = self.positive(decl.size, scope, "input size", 1 << 16)
        for v in (h, w):
            if not 1 <= v <= 1 << 16:
                raise SpecValueError(f"input size {h}x{w} is out of range (1 to 65536)", decl.span)
        self.G.add(Node("input", "input", (), (c, h, w), {"shape": (c, h, w)}, "input", "input", "input", "input",
                        "input", decl.span))
        self.G.info.input_shape = (c, h, w)
        image = Grid("input", (c, h, w))
        sizes = self.grid_sizes(net, scope, h, w)
        self.G.info.grids = sizes
        pyr = [image]
        for j, (gh, gw) in enumerate(sizes[1:], 1):
            f = 2 ** j
            nid = f"input.{Grid('', (c, gh, gw)).key}"
            self.G.add(Node(nid, "avgpool", ("input",), (c, gh, gw), {"kernel": f, "stride": f, "pad": 0}, "input",
                            "input", "input", "input", "input", (net.grids or decl).span))
            pyr.append(Grid(nid, (c, gh, gw)))
        return tuple(pyr)

    def grid_sizes(self, net, scope, h, w) -> list[tuple[int, int]]:
        decl = net.grids
        if decl is None:
            return [(h, w)]
        if len(decl.sizes) == 1 and not isinstance(decl.sizes[0], tuple):
            n = self.positive(decl.sizes[0], scope, "the number of grids", 16)
            want = None
        else:
            n, want = len(decl.sizes), decl.sizes
        sizes = []
        for j in range(n):
            f = 2 ** j
            if h % f or w % f:
                raise SpecShapeError(f"the {h}x{w} input cannot be halved {j} times for grid {j + 1} of {n}", decl.span,
                                     hint="use fewer grids, or an input size divisible by " + str(2 ** (n - 1)))
            sizes.append((h // f, w // f))
        for j, (got, wanted) in enumerate(zip(sizes, want or [])):
            if not isinstance(wanted, tuple):
                message = "list grid sizes like 32x32, or give the number of grids"
            elif got != wanted:
                message = f"grid {j + 1} would be {size_label(got)} (the input halved {j} times), not {size_label(wanted)}"
            else:
                continue
            raise SpecShapeError(message, decl.span, hint=f"for this input the grids are "
                                 f"{', '.join(map(size_label, sizes))}; or just write `grids {n}`")
        return sizes

    def positive(self, e, scope, what, hi) -> int:
        v = number(e, scope)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or not 1 <= v <= hi:
            raise SpecValueError(f"{what} must be a whole number from 1 to {hi}, not {v:g}", e.span)
        return v

    # -- statements -------------------------------------------------------------------------------
    def body(self, items: list, pyr: Pyramid, scope: Scope, top=False) -> Pyramid:
        """Lines in order; of an `if`, the lines of the branch its condition picks."""
        for item in items:
            if isinstance(item, A.If):
                holds = self.condition(item.cond, pyr, scope)
                self.mark(item.body, item.span, holds)
                if item.orelse:
                    self.mark(item.orelse, item.else_span, not holds)
                pyr = self.body(item.body if holds else item.orelse, pyr, scope, top)
            else:
                pyr = self.line(item, pyr, scope, top)
        return pyr

    def mark(self, branch: list, head: Span | None, lowered: bool) -> None:
        """Note whether a block's lines were lowered (a unit's block by any of its uses)."""
        entry = self.branches.get(id(branch))
        if entry is None:
            first, last = (head or branch[0].span), A.lines(branch)[-1].span
            entry = self.branches[id(branch)] = [Span(first.source, first.line, first.col, last.end_line, last.end_col),
                                                 False]
        entry[1] = entry[1] or lowered

    def condition(self, cond: A.Expr, pyr: Pyramid, scope: Scope) -> bool:
        """Whether an `if` holds: a switch (on/off, true/false, yes/no, 1/0) or a comparison, or conditions
        joined with not, and, or."""
        scope.here = pyr
        if isinstance(cond, A.Not):
            return not self.condition(cond.operand, pyr, scope)
        if isinstance(cond, A.Logic):       # both sides are read, so a misspelt name on either is an error
            left, right = self.condition(cond.left, pyr, scope), self.condition(cond.right, pyr, scope)
            return left or right if cond.op == "or" else left and right
        if isinstance(cond, A.Compare):
            if cond.op in ("==", "!="):
                a, b = (tuple(_switch(v) for v in self.operand(side, scope)) for side in (cond.left, cond.right))
                return (a == b) == (cond.op == "==")
            x, y = number(cond.left, scope), number(cond.right, scope)
            return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[cond.op]
        (v,) = self.operand(cond, scope, single=True)
        v = _switch(v)
        if isinstance(v, bool) or v in (0, 1):
            return bool(v)
        shown = v if isinstance(v, Sym) else f"{v:g}"
        if isinstance(cond, A.Name) and cond.id not in scope.env:
            hint = f"'{cond.id}' is a value word here, not a parameter; a condition reads parameters, as in: if se:"
        else:
            hint = f"compare it, as in: if {cond.span.compact()} == {shown}" if isinstance(v, Sym) else \
                f"compare it, as in: if {cond.span.compact()} > 1"
        raise with_origins(SpecTypeError(f"an if needs on or off here (or a comparison), but this is {shown}",
                                         cond.span, hint=hint), cond, scope)

    def operand(self, e: A.Expr, scope: Scope, single=False) -> tuple:
        """A side of a condition. A bare word must be a parameter, a value word of the layers, a saved
        pyramid or a word passed in: a misspelt parameter is an error, not a word that never matches."""
        for n in _names(e):
            if not (n.id in scope.env or n.id in scope.tensors or n.id == CHANNELS or n.id.lower() in SWITCH
                    or is_value_word(n.id)):
                names = [k for k in scope.env]
                raise SpecNameError(f"unknown name '{n.id}' in this condition", n.span,
                                    hint=suggest(n.id, names) or (f"names defined here: {', '.join(names)}"
                                                                  if names else "a condition reads parameters"))
        v = evaluate(e, scope)
        if single and len(v) != 1:
            raise SpecTypeError(f"an if needs one value, on or off, but this is a list of {len(v)}", e.span,
                                hint="compare it with another value, as in: if x == [1, 2]")
        return v

    def line(self, line: A.Line, pyr: Pyramid, scope: Scope, top=False) -> Pyramid:
        for step in line.steps:
            scope.here = pyr
            n = 1 if step.count is None else count(step.count, scope)
            for _ in range(n):
                outer, self.scope = self.scope, scope
                try:
                    pyr = self.call(step.call, pyr, scope, top)
                finally:
                    self.scope = outer
        if line.bind:
            if line.bind == "in":
                raise SpecNameError("`in` is the unit's input and cannot be rebound", line.bind_span)
            if is_value_word(line.bind):
                raise SpecNameError(f"a saved pyramid cannot be called '{line.bind}': that word is already a value in "
                                    "layer arguments (like bias=off or pool merge)", line.bind_span,
                                    hint="pick another name for the pyramid")
            if line.bind in scope.env:
                raise SpecNameError(f"'{line.bind}' is a parameter here, so it cannot also name a saved pyramid",
                                    line.bind_span, hint="pick another name for the pyramid")
            if line.bind in scope.tensors:
                first = scope.tensors[line.bind][1]
                raise SpecNameError(f"'{line.bind}' is already the name of a saved pyramid", line.bind_span,
                                    hint=f"it was first saved at {first}; pick another name" if first else None)
            scope.tensors[line.bind] = (pyr, line.bind_span)
        return pyr

    def call(self, call: A.Call, pyr: Pyramid, scope: Scope, top: bool) -> Pyramid:
        """One layer or unit call on the pyramid: the grids it acts on go through it, the others are
        held unchanged; returns the pyramid after it (finest first)."""
        ltype, unit = self.callee(call, scope)
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise SpecValueError(f"the network makes more than {MAX_CALLS:,} layer and unit calls", call.span,
                                 hint="check the repeat counts (they multiply through units)")
        section, path = self.name(call, ltype, scope, top)
        sel, sub = self.active(call, ltype, pyr, scope)
        scope.here = sub
        if ltype is not None:
            out = self.lower_layer(ltype, call, path, sub, scope)
        else:
            assert unit is not None
            out = self.unit(unit, call, path, sub, scope)
        held = tuple(g for i, g in enumerate(pyr) if i not in sel)
        result = self.rejoin(call, held, out)
        if top:
            self.record(call, ltype, path, section, sub, out, held)
        if self.G.number_of_nodes() > MAX_NODES:
            raise SpecValueError(f"the network has more than {MAX_NODES} ops", call.span,
                                 hint="check the repeat counts")
        return result

    def callee(self, call: A.Call, scope: Scope) -> tuple[LayerType | None, A.UnitDef | None]:
        """The built-in layer type or the unit a call names."""
        if self.G.info.outputs:
            raise SpecShapeError("nothing may follow `outputs`: it ends the network", call.span)
        ltype = LAYERS.get(call.op)
        unit = scope.units.get(call.op) if ltype is None else None
        if ltype is None and unit is None:
            known = sorted(set(LAYERS) | set(scope.units))
            raise SpecNameError(f"unknown layer type '{call.op}'", call.op_span,
                                hint=(f"a `{call.op}` line stands at the top level of the file, outside units and "
                                      "`if` blocks" if call.op in STATEMENTS else None) or
                                FOREIGN.get(call.op.lower()) or suggest(call.op, known) or
                                f"known layer types: {', '.join(known)}")
        return ltype, unit

    def name(self, call: A.Call, ltype: LayerType | None, scope: Scope, top: bool) -> tuple[str, str]:
        """(section, path) of a call: calls are numbered per type within each section or unit
        (s2.resmg1), and a path is never given twice."""
        section = self.section
        if top:
            head = ltype is not None and ltype.head
            if self.bump and not head:
                self.section_no += 1
                self.section, self.bump = f"s{self.section_no}", False
            section = "head" if head and not self.explicit_sections else self.section
        prefix = section if top else scope.prefix
        scope.counters[prefix, call.op] += 1
        name = f"{call.op}{scope.counters[prefix, call.op]}"
        path = f"{prefix}.{name}" if prefix else name
        if path in self.paths:
            raise SpecNameError(f"this {call.op} would be called {path}, like an earlier layer", call.op_span,
                                hint="rename the unit (a unit whose name ends in digits can meet a numbered "
                                     "layer) or the section").with_note(f"the first {path}", self.paths[path])
        self.paths[path] = call.span
        if top:
            self.top = _Top(path, call.op, section, call.span)
        return section, path

    def active(self, call: A.Call, ltype: LayerType | None, pyr: Pyramid, scope: Scope) -> tuple[list[int], Pyramid]:
        """The indices and grids of the pyramid the call acts on (all, or those its `on` picks)."""
        if ltype is not None and not ltype.takes_on and call.on is not None:
            raise SpecTypeError(f"{call.op} reads no grid of the pyramid here, so `on` has nothing to pick", call.on[0].span,
                                hint="pick grids of a saved pyramid first, e.g. `x = use y on finest`, then name x")
        sel = list(range(len(pyr))) if ltype is not None and ltype.picks_saved else self.select(call, pyr, scope)
        sub = tuple(pyr[i] for i in sel)
        if not sub:
            raise SpecShapeError(f"{call.op} has no grid to act on", call.span)
        return sel, sub

    def lower_layer(self, ltype: LayerType, call: A.Call, path: str, sub: Pyramid, scope: Scope) -> Pyramid:
        """A built-in layer's ops: its arguments bound to its parameters, its lowering run, and any
        argument the lowering never read refused."""
        args = bind_args(call.op, ltype.params, call, lambda ex, sp: evaluate_list(ex, sp, scope), call.span)
        pick = (lambda saved: tuple(saved[i] for i in self.select(call, saved, scope))) \
            if ltype.picks_saved and call.on is not None else None
        ctx = LayerCtx(self, ltype, path, call.span, args, selected=call.on is not None, pick=pick)
        out = ltype.lower(ctx, sub)
        ctx.check_all_read()
        return out

    @staticmethod
    def rejoin(call: A.Call, held: Pyramid, out: Pyramid) -> Pyramid:
        """The held grids and the call's output as one pyramid, finest first, one grid per size (a
        head's flat output leaves whatever was held behind)."""
        if any(g.size is None for g in out):
            return tuple(out)
        result = tuple(sorted((*held, *out), key=lambda g: (-g.size[0], -g.size[1])))
        sizes = [g.size for g in result]
        if len(set(sizes)) != len(sizes):
            dup = next(s for s in sizes if sizes.count(s) > 1)
            raise SpecShapeError(f"after {call.op} two grids have size {size_label(dup)}", call.span,
                                 hint="a layer restricted with `on` must not change a grid's size to that of a held grid"
                                 if call.on is not None else "a pyramid holds one grid of each size")
        return result

    def record(self, call: A.Call, ltype: LayerType | None, path: str, section: str, sub: Pyramid, out: Pyramid,
               held: Pyramid) -> None:
        """The layer record of a top-level call (what diagrams, tables and hover show)."""
        ends = bool(ltype and ltype.ends_section)
        self.G.info.layers.append(Layer(path, call.op, section, call.span,
                                        grids_in=tuple((g.size, g.channels) for g in sub),
                                        grids_out=tuple((g.size, g.channels) for g in out),
                                        held=tuple((g.size, g.channels) for g in held),
                                        outputs=tuple(g.node for g in out),
                                        head=bool(ltype and ltype.head), ends_section=ends))
        if ends and not self.explicit_sections:
            self.bump = True

    def select(self, call: A.Call, pyr: Pyramid, scope: Scope) -> list[int]:
        if call.on is None:
            return list(range(len(pyr)))
        chosen: list[int] = []
        for s in call.on:
            if s.kind == "size":
                idx = [i for i, g in enumerate(pyr) if g.size == s.size]
                if not idx:
                    raise SpecShapeError(f"there is no {size_label(s.size)} grid here", s.span,
                                         hint=f"the pyramid here is {describe(pyr)}")
            else:
                k = 1 if s.count is None else count(s.count, scope)
                if not 1 <= k <= len(pyr):
                    raise SpecShapeError(f"cannot pick the {s.kind} {k} of {len(pyr)} grids", s.span,
                                         hint=f"the pyramid here is {describe(pyr)}")
                idx = list(range(len(pyr) - k, len(pyr))) if s.kind == "coarsest" else list(range(k))
            for i in idx:
                if i in chosen:
                    raise SpecShapeError(f"grid {pyr[i].label} is picked twice", s.span)
                chosen.append(i)
        return sorted(chosen)

    def unit(self, unit: A.UnitDef, call: A.Call, path: str, pyr: Pyramid, parent: Scope) -> Pyramid:
        if parent.depth >= MAX_UNIT_DEPTH:
            raise SpecValueError(f"units nest more than {MAX_UNIT_DEPTH} deep; does '{unit.name}' use itself?", call.span,
                                 hint="a unit that uses itself needs a base case: put the call in an `if` whose "
                                      "condition turns false, as in `if depth > 1:` with `depth - 1` passed on")
        params = tuple(Param(p.name, REQUIRED if p.default is None else p.default) for p in unit.params)
        given = bind_args(unit.name, params, call, lambda ex, sp: evaluate_list(ex, sp, parent), call.span,
                          positional=True)
        scope = Scope(path, {}, {"in": (pyr, None)}, unit.units or parent.units, depth=parent.depth + 1, here=pyr)
        for p in unit.params:
            if p.name in given:
                scope.env[p.name] = (self.resolved(given[p.name], parent), True)
            else:
                assert p.default is not None, "bind_args checks that required parameters are given"
                scope.env[p.name] = (evaluate_list([p.default], p.default.span, scope), False)
        try:
            pyr = self.body(unit.body, pyr, scope)
        except MgError as e:
            e.with_note(f"in this use of unit '{unit.name}'", call.span)
            raise
        return pyr

    @staticmethod
    def resolved(arg: Arg, caller: Scope) -> Arg:
        """A unit argument with its bare words looked up where the unit is used (lexical scope): a
        word that names a saved pyramid there carries that pyramid into the unit (`fold h`), any other
        word stays a word that no pyramid of the unit's own can answer to."""
        def look(v):
            if not isinstance(v, Sym) or isinstance(v, (Passed, Outer, Window)):     # a window is a value, not a word
                return v
            if v in caller.tensors:
                return Passed(v, caller.tensors[v][0])
            return Outer(v)
        items = tuple(look(v) for v in arg.items)
        return arg if items == arg.items and all(type(a) is type(b) for a, b in zip(items, arg.items)) \
            else Arg(items, arg.span)

    # -- the Builder protocol (layer_api.Builder): all that a layer's lowering reaches ---------------
    def is_saved(self, name: object) -> bool:
        assert self.scope is not None, "pyramids are looked up while a layer is lowered"
        return isinstance(name, Passed) or isinstance(name, str) and name in self.scope.tensors

    def set_outputs(self, nodes: tuple[str, ...]) -> None:
        self.G.info.outputs = nodes

    def saved(self, name: object, span: Span | None) -> Pyramid:
        assert self.scope is not None, "tensors are looked up while a layer is lowered"
        if isinstance(name, Passed):
            return name.pyramid
        if isinstance(name, Outer):
            raise SpecNameError(f"no saved pyramid is called '{name}' where this unit is used", span,
                                hint="a unit sees the saved pyramids of the line that uses it, and its own `in`; "
                                     "pass the pyramid by a name saved there")
        if isinstance(name, str) and name in self.scope.tensors:
            return self.scope.tensors[name][0]
        if not isinstance(name, Sym):
            raise SpecTypeError(f"{name} is not the name of a saved pyramid", span,
                                hint="save a pyramid with a line like: e1 = conv 64, then name it here")
        names = sorted(self.scope.tensors)
        raise SpecNameError(f"no saved pyramid is called '{name}'", span,
                            hint=suggest(name, names) or (f"saved here: {', '.join(names)}" if names else
                                                          "save one with a line like: e1 = conv 64"))

    # -- graph ------------------------------------------------------------------------------------
    def add_node(self, nid: str, kind: str, inputs: list[Grid], attrs: dict, ctx: LayerCtx) -> Grid:
        parts = nid.split(".")
        clash = next((nid[:i] for i in range(len(nid)) if nid[i] == "." and nid[:i] in self.G), None)
        if nid in self.G or nid in self.prefixes or clash:
            other = clash or nid if clash or nid in self.G else next(n for n in self.G if n.startswith(nid + "."))
            raise SpecNameError(f"two layers would share the module path {clash or nid}", ctx.span,
                                hint="rename a unit or section so that each layer has its own path",
                                notes=[(f"the other layer, {self.G.node(other).layer}", self.G.node(other).span or
                                        ctx.span)])
        self.prefixes.update(".".join(parts[:i]) for i in range(1, len(parts)))
        self.edges += len(inputs)
        if self.edges > MAX_EDGES:
            raise SpecValueError(f"the network's ops read more than {MAX_EDGES:,} inputs in all", ctx.span,
                                 hint="check the repeat counts, and how many pyramids each concat joins")
        try:
            shape = tuple(OPS[kind].shape(attrs, [g.shape for g in inputs]))
        except ShapeProblem as p:
            raise SpecShapeError(str(p), ctx.span, p.hint) from None
        if len(shape) == 3 and max(shape[1:]) > MAX_SIDE:
            raise SpecValueError(f"this layer would make a {shape[1]}x{shape[2]} grid; grid sides are limited to "
                                 f"{MAX_SIDE}", ctx.span)
        if len(shape) == 3 and shape[0] > MAX_WIDTH:
            raise SpecValueError(f"this layer would make a grid of {shape[0]:,} channels; channels are limited to "
                                 f"{MAX_WIDTH:,}", ctx.span, hint="check the widths, and what concatenations add up to")
        top = self.top
        assert top is not None, "nodes are made while a top-level layer is lowered"
        self.G.add(Node(nid, kind, tuple(g.node for g in inputs), shape, attrs, top.path, top.type, top.section,
                        ctx.path, ctx.ltype.name, top.span))
        return Grid(nid, shape)

    def discard(self, grid: Grid):
        self.G.info.discarded.add(grid.node)


def lower(net: A.NetworkDef, units: dict, params: dict[str, Arg], name: str, path: str) -> Graph:
    return Lowerer(net, units, params, name, path).run()


