"""The syntax tree of a .mg file. Every node keeps the span it was written at."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Source, Span


# -- expressions ---------------------------------------------------------------------------------
@dataclass
class Expr:
    span: Span


@dataclass
class Num(Expr):
    value: int | float


@dataclass
class Window(Expr):
    """A window of two sides, `1x7` (height x width)."""
    sides: tuple[int, int]


@dataclass
class Name(Expr):
    id: str


@dataclass
class Str(Expr):
    value: str


@dataclass
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass
class Neg(Expr):
    operand: Expr


@dataclass
class ListExpr(Expr):
    items: list[Expr]


@dataclass
class Compare(Expr):
    """A condition of an `if`: two values compared (`stride == 1`, `n > 2`)."""
    op: str
    left: Expr
    right: Expr


@dataclass
class Logic(Expr):
    """Conditions joined: `a and b`, `a or b`."""
    op: str
    left: Expr
    right: Expr


@dataclass
class Not(Expr):
    """`not COND`."""
    operand: Expr


# -- layers --------------------------------------------------------------------------------------
@dataclass
class Selector:
    """One item of an `on` clause: a grid size, or the k coarsest / finest grids."""
    kind: str                      # "size" | "coarsest" | "finest"
    size: tuple[int, int] | None
    count: Expr | None
    span: Span


@dataclass
class Kwarg:
    name: str
    values: list[Expr]
    span: Span        # the values
    name_span: Span


@dataclass
class Call:
    op: str
    op_span: Span
    on: list[Selector] | None
    args: list[Expr] | None
    args_span: Span | None
    kwargs: list[Kwarg]
    span: Span
    more: list[Expr] = field(default_factory=list)     # values after the first without a name (`se 64 16`)


@dataclass
class Step:
    count: Expr | None
    call: Call
    span: Span


@dataclass
class Line:
    bind: str | None
    bind_span: Span | None
    steps: list[Step]
    span: Span


@dataclass
class If:
    """`if COND:` with its indented lines, and the lines of its `else:` (empty without one)."""
    cond: Expr
    body: list[Line | If]
    orelse: list[Line | If]
    span: Span                     # the `if` line
    else_span: Span | None = None


def lines(body: list) -> list[Line]:
    """Every line of a body, in the order written, those inside `if` and `else` blocks included."""
    out: list[Line] = []
    for item in body:
        if isinstance(item, If):
            out += lines(item.body) + lines(item.orelse)
        elif isinstance(item, Line):
            out.append(item)
    return out


@dataclass
class SectionMark:
    name: str
    span: Span


# -- definitions ---------------------------------------------------------------------------------
@dataclass
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass
class UnitDef:
    name: str
    params: list[Param]
    body: list[Line | If]
    span: Span
    units: dict | None = field(default=None, repr=False)   # the units visible where it was defined


@dataclass
class InputDecl:
    channels: Expr
    size: tuple[int, int] | Expr
    span: Span


@dataclass
class GridsDecl:
    sizes: list[tuple[int, int] | Expr]
    span: Span


@dataclass
class NetworkDef:
    name: str
    span: Span
    base: str | None = None           # `network "X" from "family.mg"`
    base_span: Span | None = None
    params: list[Param] = field(default_factory=list)
    input: InputDecl | None = None
    grids: GridsDecl | None = None
    body: list[Line | SectionMark | If] = field(default_factory=list)


@dataclass
class Import:
    path: str
    span: Span


@dataclass
class Module:
    """One parsed file."""
    source: Source
    imports: list[Import]
    units: list[UnitDef]
    network: NetworkDef | None
    own_units: dict = field(default_factory=dict, repr=False)     # filled in by the loader
    units_table: dict = field(default_factory=dict, repr=False)   # own units plus imported ones
