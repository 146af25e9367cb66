"""The front door of the language: text -> :class:`~mgdsl.lang.ast.Module`.

One LALR parser (lark) built once from ``grammars/mg.lark``; every lark error becomes a located
:class:`SpecSyntaxError` with a readable list of what was expected.
"""
from __future__ import annotations

import functools
import re
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.indenter import DedentError, Indenter

from ..errors import MgError, Source, Span, SpecNameError, SpecSyntaxError, SpecValueError
from . import ast as A

MAX_SPEC_BYTES = 1 << 20
MAX_NESTING = 64            # brackets inside brackets
MAX_DEPTH = 100             # levels of the syntax tree: long chains like 1+1+1+... or - - - 8
MAX_LITERAL = 30            # characters of one number or grid size

# A section's name becomes the first attribute of the generated module's path (``self.NAME``), so
# it may not be an attribute torch.nn.Module or ModuleDict already has (tests/test_hostile.py
# checks this list against the installed torch).
MODULE_ATTRIBUTES = frozenset("""
    T_destination add_module apply bfloat16 buffers call_super_init children clear compile cpu cuda double
    dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu
    items keys load_state_dict modules mtia named_buffers named_children named_modules named_parameters
    parameters pop register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter register_state_dict_post_hook
    register_state_dict_pre_hook requires_grad_ set_extra_state set_submodule share_memory state_dict to
    to_empty train training type update values xpu zero_grad input""".split())


# Words that start statements, so that no parameter, unit or saved pyramid can take their names.
KEYWORDS = {"if": "it starts a conditional block, if COND:", "else": "it starts the other branch of an if",
            "and": "it joins conditions", "or": "it joins conditions", "not": "it turns a condition round"}


def grammar_text() -> str:
    """The grammar ships in the wheel as package data `mgdsl.grammars`; a source checkout has it
    in the top-level `grammars/` folder."""
    try:
        return resources.files("mgdsl.grammars").joinpath("mg.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).resolve().parents[2] / "grammars" / "mg.lark").read_text(encoding="utf-8")


class MgIndenter(Indenter):
    """Unit bodies are indented: lark's indenter turns changes of indentation into _INDENT/_DEDENT."""
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 4

    def handle_NL(self, token):
        if "\n" not in token:          # a comment on the first line: no indentation to track
            yield token
            return
        try:
            yield from super().handle_NL(token)
        except DedentError as e:
            e.mg_line = token.end_line   # the line whose indentation is wrong
            raise


@functools.lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The language's LALR parser, built once from the grammar (with positions on every node); tools
    that need lark's own view of a spec (a highlighter's keywords, a formatter) start here."""
    return Lark(grammar_text(), parser="lalr", postlex=MgIndenter(), propagate_positions=True,
                maybe_placeholders=True)


_READABLE = {
    "NAME": "a name", "NUMBER": "a number", "SCALED": "a scaled number like 2w", "SIZE": "a grid size like 32x32",
    "STRING": "a quoted string", "_NL": "end of line", "_INDENT": "an indented block", "_DEDENT": "end of block",
    "$END": "end of file", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','",
    "EQUAL": "'='", "COLON": "':'", "_IF": "'if'", "_ELSE": "'else'",
    "_AND": "'and'", "_OR": "'or'", "_NOT": "'not'", "CMP": "a comparison like ==",
    "_COARSEST": "'coarsest'", "_FINEST": "'finest'", "SEMICOLON": "';'", "_TIMES": "'×'", "STAR": "'*'", "SLASH": "'/'",
    "PLUS": "'+'", "MINUS": "'-'", "AT": "'@'", "_ON": "'on'", "_FROM": "'from'", "DOUBLESLASH": "'//'",
}


def _readable(names) -> str:
    out = sorted({_READABLE.get(n, f"'{n.lower()}'" if n.isupper() and not n.startswith("_") else n) for n in names})
    return ", ".join(out[:8]) + (", ..." if len(out) > 8 else "")


def _span(source: Source, meta) -> Span:
    return Span(source, meta.line, meta.column, getattr(meta, "end_line", meta.line),
                getattr(meta, "end_column", meta.column + 1))


def _tok_span(source: Source, tok: Token) -> Span:
    line, col = tok.line or 1, tok.column or 1          # lark sets both on every token it lexes
    return Span(source, line, col, tok.end_line or line, tok.end_column or col + len(tok))


def _literal(src: Source, tok: Token) -> str:
    """Refuse numbers too long to mean anything before converting them (Python refuses to convert
    integers of more than 4300 digits, and floats of 400 digits are infinite)."""
    if len(tok) > MAX_LITERAL:
        raise SpecValueError(f"this number is {len(tok)} characters long; numbers are limited to {MAX_LITERAL}",
                             _tok_span(src, tok), hint="the sizes, widths and counts of a network are small numbers")
    return str(tok)


_WINDOW = re.compile(r"\d+x\d+")


def _size(src: Source, tok: Token) -> tuple[int, int]:
    h, w = _literal(src, tok).split("x")
    return int(h), int(w)


class _Positional:
    """A value after a call's first argument, without a name: kept apart from the keyword arguments."""

    def __init__(self, expr: A.Expr):
        self.expr = expr


def _binop(op: str):
    @v_args(meta=True)
    def rule(self, meta, c):
        return A.BinOp(self._sp(meta), op, c[0], c[1])
    return rule


class _ToAst(Transformer):
    def __init__(self, source: Source):
        super().__init__()
        self.src = source

    def _sp(self, meta):
        return _span(self.src, meta)

    # expressions
    @v_args(meta=True)
    def number(self, meta, c):
        (tok,) = c
        return A.Num(self._sp(meta), _num(_literal(self.src, tok)))

    @v_args(meta=True)
    def scaled(self, meta, c):
        (tok,) = c
        _literal(self.src, tok)
        if _WINDOW.fullmatch(tok):          # 1x7: a window's height and width, not 1 times a name x7
            return A.Window(self._sp(meta), _size(self.src, tok))
        i = 0
        while i < len(tok) and (tok[i].isdigit() or tok[i] == "."):
            i += 1
        span = self._sp(meta)
        num = A.Num(span, _num(tok[:i]))
        return A.BinOp(span, "*", num, A.Name(span, str(tok[i:])))

    @v_args(meta=True)
    def name(self, meta, c):
        return A.Name(self._sp(meta), str(c[0]))

    @v_args(meta=True)
    def string(self, meta, c):
        return A.Str(self._sp(meta), str(c[0])[1:-1])

    add, sub, mul, div, floordiv = (_binop(o) for o in ("+", "-", "*", "/", "//"))

    @v_args(meta=True)
    def neg(self, meta, c):
        return A.Neg(self._sp(meta), c[0])

    @v_args(meta=True)
    def listexpr(self, meta, c):
        return A.ListExpr(self._sp(meta), list(c))

    @v_args(meta=True)
    def either(self, meta, c):
        return A.Logic(self._sp(meta), "or", c[0], c[1])

    @v_args(meta=True)
    def both(self, meta, c):
        return A.Logic(self._sp(meta), "and", c[0], c[1])

    @v_args(meta=True)
    def negation(self, meta, c):
        return A.Not(self._sp(meta), c[0])

    @v_args(meta=True)
    def compare(self, meta, c):
        left, op, right = c
        return A.Compare(self._sp(meta), str(op), left, right)

    def _shape(self, x):
        return _size(self.src, x) if isinstance(x, Token) and x.type == "SIZE" else x

    # layers
    @v_args(meta=True)
    def size_sel(self, meta, c):
        return A.Selector("size", _size(self.src, c[0]), None, self._sp(meta))

    @v_args(meta=True)
    def coarsest_sel(self, meta, c):
        return A.Selector("coarsest", None, c[0], self._sp(meta))

    @v_args(meta=True)
    def finest_sel(self, meta, c):
        return A.Selector("finest", None, c[0], self._sp(meta))

    def on(self, c):
        return list(c)

    @v_args(meta=True)
    def args(self, meta, c):
        return (list(c), self._sp(meta))

    @v_args(meta=True)
    def kwarg(self, meta, c):
        name, *values = c
        first, last = values[0].span, values[-1].span
        return A.Kwarg(str(name), values, Span(self.src, first.line, first.col, last.end_line, last.end_col),
                       _tok_span(self.src, name))

    def posarg(self, c):
        return _Positional(c[0])

    @v_args(meta=True)
    def call(self, meta, c):
        op, args, *rest, on = c
        args, args_span = args if args else (None, None)
        more = [p.expr for p in rest if isinstance(p, _Positional)]
        kwargs = [k for k in rest if not isinstance(k, _Positional)]
        return A.Call(str(op), _tok_span(self.src, op), on, args, args_span, kwargs, self._sp(meta), more)

    @v_args(meta=True)
    def step(self, meta, c):
        count, call = c
        if isinstance(count, Token):
            count = A.Num(_tok_span(self.src, count), _num(_literal(self.src, count))) if count.type == "NUMBER" \
                else A.Name(_tok_span(self.src, count), str(count))
        return A.Step(count, call, self._sp(meta))

    @v_args(meta=True)
    def line(self, meta, c):
        bind, *steps = c
        return A.Line(str(bind) if bind else None, _tok_span(self.src, bind) if bind else None, steps, self._sp(meta))

    @v_args(meta=True)
    def if_block(self, meta, c):
        cond, *body, orelse = c
        span = Span(self.src, meta.line, meta.column, cond.span.end_line, cond.span.end_col)
        if orelse is None:
            return A.If(cond, body, [], span)
        else_span, else_body = orelse
        return A.If(cond, body, else_body, span, else_span)

    @v_args(meta=True)
    def else_block(self, meta, c):
        return Span(self.src, meta.line, meta.column, meta.line, meta.column + 4), list(c)

    # definitions
    @v_args(meta=True)
    def param(self, meta, c):
        return A.Param(str(c[0]), c[1], self._sp(meta))

    def params(self, c):
        return [p for p in c if p is not None]

    @v_args(meta=True)
    def unit_def(self, meta, c):
        name, params, *body = c
        return A.UnitDef(str(name), params, body, self._sp(meta))

    @v_args(meta=True)
    def import_stmt(self, meta, c):
        return A.Import(str(c[0])[1:-1], self._sp(meta))

    @v_args(meta=True)
    def network_stmt(self, meta, c):
        name, base, params = c
        return A.NetworkDef(str(name)[1:-1], self._sp(meta), base=str(base)[1:-1] if base else None,
                            base_span=_tok_span(self.src, base) if base else None, params=params or [])

    @v_args(meta=True)
    def input_stmt(self, meta, c):
        return A.InputDecl(c[0], self._shape(c[1]), self._sp(meta))

    @v_args(meta=True)
    def grids_stmt(self, meta, c):
        return A.GridsDecl([self._shape(x) for x in c], self._sp(meta))

    @v_args(meta=True)
    def section_stmt(self, meta, c):
        tok = c[0]
        name = str(tok)[1:-1] if tok.type == "STRING" else str(tok)
        span = _tok_span(self.src, tok)
        if not (name.isascii() and (name.isidentifier() or name.isdigit())) or name.startswith("_"):
            raise SpecNameError(f"section name {str(tok)!s} cannot name a module: use letters, digits and _",
                                span, hint="a section's name is the first part of its layers' module paths "
                                           "(like s2.resmg1.conv1), so it is one word, without dots or spaces, "
                                           "and does not start with _")
        if name in MODULE_ATTRIBUTES:
            raise SpecNameError(f"a section cannot be called '{name}': torch modules already have an "
                                f"attribute of that name", span, hint=f"call it something like '{name}_s' instead")
        return A.SectionMark(name, self._sp(meta))

    def start(self, items):
        return items


def _assemble(source: Source, items) -> A.Module:
    imports, units, net = [], [], None
    for it in items:
        if isinstance(it, A.Import):
            imports.append(it)
        elif isinstance(it, A.UnitDef):
            units.append(it)
        elif isinstance(it, A.NetworkDef):
            if net is not None:
                raise SpecSyntaxError("a file defines at most one network", it.span,
                                      hint=f"the first one, \"{net.name}\", starts at {net.span}; "
                                           "put each network in its own file")
            net = it
        else:
            if net is None:
                raise SpecSyntaxError("this belongs to a network, but no `network \"NAME\"` line comes before it", it.span,
                                      hint='start the file with a line like: network "MY-NET" (n = 2)')
            if net.base is not None:
                raise SpecSyntaxError(f"network \"{net.name}\" is taken from \"{net.base}\", so it has no body of its own",
                                      it.span, hint="change its parameters in the `( ... )` of the network line instead")
            if isinstance(it, A.InputDecl):
                if net.input is not None:
                    raise SpecSyntaxError("the input is declared twice", it.span)
                net.input = it
            elif isinstance(it, A.GridsDecl):
                if net.grids is not None:
                    raise SpecSyntaxError("the grids are declared twice", it.span)
                net.grids = it
            else:
                net.body.append(it)
    return A.Module(source, imports, units, net)


def _num(text: str) -> int | float:
    return float(text) if "." in text else int(text)


def _check_nesting(source: Source, text: str):
    """Refuse brackets nested more than MAX_NESTING deep, at the bracket that goes too deep. Brackets
    in comments and strings do not count."""
    depth, line, start, i, n = 0, 1, 0, 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line, start = line + 1, i + 1
        elif ch == "#":
            i = text.find("\n", i)
            if i < 0:
                return
            continue
        elif ch == '"':
            j = text.find('"', i + 1)
            nl = text.find("\n", i + 1)
            i = j if j >= 0 and (nl < 0 or j < nl) else i
        elif ch in "([":
            depth += 1
            if depth > MAX_NESTING:
                col = i - start + 1
                raise SpecSyntaxError(f"brackets are nested more than {MAX_NESTING} deep",
                                      Span(source, line, col, line, col + 1), hint="write it with fewer brackets")
        elif ch in ")]":
            depth = max(depth - 1, 0)
        i += 1


def _check_depth(source: Source, tree):
    """Refuse syntax trees deeper than MAX_DEPTH (before anything walks them recursively), at the
    expression that goes too deep."""
    height: dict[int, int] = {}
    for t in tree.iter_subtrees():              # children before parents, without recursion
        h = 1 + max((height[id(c)] for c in t.children if isinstance(c, Tree)), default=0)
        height[id(t)] = h
        if h > MAX_DEPTH:
            meta = t.meta
            line, col = getattr(meta, "line", 1), getattr(meta, "column", 1)
            if t.data in ("if_block", "else_block"):
                raise SpecSyntaxError(f"`if` blocks are nested too deeply here (more than {MAX_DEPTH} levels with "
                                      "what they hold)", Span(source, line, col, line, col + 2),
                                      hint="join the conditions with `and` instead of nesting them")
            raise SpecSyntaxError(f"this expression is nested more than {MAX_DEPTH} levels deep",
                                  Span(source, line, col, line, col + 1),
                                  hint="split it up with network or unit parameters")


def normalize(source: Source) -> Source:
    """The text the grammar reads: no byte-order mark, and every line ending (CR LF, or CR alone as
    old Mac editors write) a plain LF, so that line numbers match what an editor shows."""
    text = source.text
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return source if text is source.text else Source(source.path, text)


def decode(data: bytes, path: str) -> Source:
    """Bytes -> Source, refusing files that are not UTF-8 text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start].decode("utf-8", errors="replace")
        line = before.count("\n") + 1
        col = len(before) - (before.rfind("\n") + 1) + 1
        src = Source(path, before + "\n")
        raise SpecSyntaxError(f"byte 0x{data[e.start]:02x} is not UTF-8 text", Span(src, line, col, line, col + 1),
                              hint="save the spec as UTF-8") from None
    if "\x00" in text:
        i = text.index("\x00")
        line = text.count("\n", 0, i) + 1
        raise SpecSyntaxError("the file contains a NUL byte; is it really a .mg spec?",
                              Span(Source(path, text), line, i - text.rfind("\n", 0, i)))
    return Source(path, text)


def parse(source: Source) -> A.Module:
    source = normalize(source)
    text = source.text
    if len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise SpecSyntaxError(f"the spec is {len(text.encode()) // 1024} KiB; specs are limited to {MAX_SPEC_BYTES // 1024} KiB",
                              Span(source, 1, 1))
    _check_nesting(source, text)
    if not text.endswith("\n"):
        text += "\n"
    try:
        tree = lark_parser().parse(text)
        _check_depth(source, tree)
        return _assemble(source, _ToAst(source).transform(tree))
    except VisitError as e:
        if isinstance(e.orig_exc, MgError):
            raise e.orig_exc from None
        raise
    except UnexpectedInput as e:
        raise _syntax_error(source, e) from None
    except DedentError as e:
        line = getattr(e, "mg_line", 1)
        width = len(source.line(line)) - len(source.line(line).lstrip(" \t"))
        raise SpecSyntaxError("this line's indentation matches no block above it", Span(source, line, 1, line, width + 1),
                              hint="indent it like the lines of the block it belongs to") from None
    except RecursionError:
        raise SpecSyntaxError("the spec is nested too deeply to read", Span(source, 1, 1)) from None
    except LarkError as e:  # anything else lark can say about the text
        raise SpecSyntaxError(f"cannot read the spec: {e}", Span(source, 1, 1)) from None


def _opens_block(source: Source, line: int) -> bool:
    """Whether the code line before `line` ends in ':' (a unit or an if whose block should follow)."""
    for n in range(line - 1, 0, -1):
        code = source.line(n).split("#", 1)[0].strip()
        if code:
            return code.endswith(":") and not source.line(line)[:1].isspace()
    return False


def _syntax_error(source: Source, e: UnexpectedInput) -> SpecSyntaxError:
    line, col = max(getattr(e, "line", 1) or 1, 1), max(getattr(e, "column", 1) or 1, 1)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        n = len(source.lines()) or 1
        return SpecSyntaxError("the spec ends in the middle of a statement",
                               Span(source, n, len(source.line(n)) + 1), hint=f"expected {_readable(e.expected)}")
    if isinstance(e, UnexpectedCharacters):
        ch = source.line(line)[col - 1: col] or "?"
        hint = None
        if ch in "\t ":
            hint = "check the indentation"
        elif ch == "x":
            hint = "write repetition as `n × layer` or `n * layer`"
        return SpecSyntaxError(f"unexpected character '{ch}'", Span(source, line, col, line, col + 1), hint=hint)
    assert isinstance(e, UnexpectedToken)       # lark's third kind of UnexpectedInput
    tok = e.token
    history = [t for t in getattr(e, "token_history", None) or () if isinstance(t, Token)]
    if {"_COARSEST", "_FINEST"} <= set(e.expected or ()):
        where = _tok_span(source, history[-1]) if history else Span(source, line, col, line, col + 1)
        return SpecSyntaxError("`on` here starts a choice of grids, but no grid follows", where,
                               hint="pick grids as in `on coarsest`, `on finest 2` or `on 16x16`; to pass the word on "
                                    "as a value, name the parameter it is for, as in se=on")
    if tok.type == "_INDENT":
        line = tok.end_line or line + 1  # the token spans the newline (and comments) before the line
        width = len(source.line(line)) - len(source.line(line).lstrip())
        return SpecSyntaxError("unexpected indentation", Span(source, line, 1, line, width + 1),
                               hint="only the body of a `unit` or of an `if` or `else` block is indented")
    if tok.type in ("_NL", "_DEDENT") and "_INDENT" in (e.expected or ()) and \
            source.line(line).split("#", 1)[0].rstrip().endswith(":"):
        nxt = next((n for n in range(line + 1, len(source.lines()) + 1)
                    if source.line(n).split("#", 1)[0].strip()), None)
        if nxt is not None:                    # a block's header, and the next line is not inside it
            text = source.line(nxt)
            start = len(text) - len(text.lstrip()) + 1
            return SpecSyntaxError("the block that the line above opens is empty",
                                   Span(source, nxt, start, nxt, len(text.split("#", 1)[0].rstrip()) + 1),
                                   hint="indent the lines of the block by 4 spaces more than its header")
    if tok.type in ("_NL", "_DEDENT"):
        text = source.line(line)
        end = len(text.rstrip()) + 1
        return SpecSyntaxError("the line ends too early", Span(source, line, end, line, end + 1),
                               hint=f"expected {_readable(e.expected)}")
    if tok.type == "_ELSE":
        return SpecSyntaxError("`else:` must follow the lines of an `if` block", _tok_span(source, tok),
                               hint="write it at the indentation of its `if`, right after the if's indented lines")
    if tok.type == "COLON" and history and history[-1].type == "NAME" and history[-1] == "else":
        return SpecSyntaxError("`else:` must follow the lines of an `if` block", _tok_span(source, history[-1]),
                               hint="write it at the indentation of its `if`, right after the if's indented lines")
    if tok.line and _opens_block(source, tok.line):
        return SpecSyntaxError("the block that the line above opens is empty", _tok_span(source, tok),
                               hint="indent the lines of the block by 4 spaces")
    if tok.type == "_IF" or (history and history[-1].type == "_IF" and tok.type in ("EQUAL", "LPAR")):
        word = history[-1] if tok.type != "_IF" else tok
        return SpecSyntaxError("`if` starts a conditional block (if COND:), so it cannot be used as a name here",
                               _tok_span(source, word), hint="name the pyramid or unit something else; "
                                                            "`if` and `else` are words of the language")
    what = repr(str(tok)) if tok.type != "$END" else "end of file"
    hint = f"expected {_readable(e.expected)}"
    if "_INDENT" in e.expected and history and history[-1].type == "COLON":
        hint = "indent the lines of the block by 4 spaces"
    if tok.type == "NAME" and "EQUAL" in e.expected:
        hint += "; keyword arguments are written name=value"
    return SpecSyntaxError(f"unexpected {what}", _tok_span(source, tok), hint=hint)
