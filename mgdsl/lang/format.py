"""The canonical layout of a spec (`mgdsl fmt`), printed from lark's parse tree with every token kept.

The rules, in the order a line is written:

- statements keep their order; a unit's body and the lines of an `if` or `else` block are indented by
  4 spaces more than the line that opens them; at most one blank line in a row, none at the start or
  end of the file, one newline at the end;
- a comparison takes one space on each side (`if stride == 1:`);
- commas and semicolons take one space after them and none before; `=` of a keyword argument takes
  none (`kernel=3`), `=` of a parameter or of a saved pyramid takes one on each side (`n = 2`,
  `e1 = conv w`); `+` and `-` between terms take a space on each side, `*`, `/` and `//` none
  (`w/2`, `(n - 1)`, `2*k*w`); `@` one on each side; `unit name(...)`, `network "N" (...)`;
- repetition is written `n × layer` (a `*` there becomes `×`);
- two spaces separate a list of several values from the keyword or `on` after it
  (`mgconv 8w, 4w, 2w  kernel=3, 3, 1`), one space otherwise;
- comments are kept as written (trailing spaces removed). A whole-line comment takes the indentation
  of the code after it. Trailing comments of a paragraph (lines between blank lines or whole-line
  comments) line up two spaces after the longest commented line of the paragraph;
- the text is read as `mgdsl check` reads it (a byte-order mark and CR LF, CR-only or lone CR line
  endings); a file keeps its byte-order mark, and CR LF endings if its first line ends in CR LF,
  while CR-only and lone CR endings become LF (`format_file`).

The formatted text is parsed again and its tree compared with the original's (tokens, in order,
ignoring layout; `*` and `×` of a repetition are the same token): if they ever differed, that is a
bug in the formatter and it says so instead of writing anything. Comments inside brackets that span
lines have no place in the layout: such a file is refused with a located error.
"""
from __future__ import annotations

import functools
import re

from lark import Lark, Token, Tree
from lark.exceptions import LarkError

from ..errors import Source, Span, SpecSyntaxError
from .parser import MgIndenter, grammar_text, normalize, parse

INDENT = "    "
_LAYOUT = {"_NL", "_INDENT", "_DEDENT"}


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(grammar_text(), parser="lalr", postlex=MgIndenter(), keep_all_tokens=True,
                maybe_placeholders=True)


def _tree(text: str) -> Tree:
    return _lark().parse(text if text.endswith("\n") else text + "\n")


# -- expressions and statements -> text -----------------------------------------------------------
_TIGHT = {"mul", "div", "floordiv"}
_SPACED = {"add", "sub"}


def _kids(t: Tree) -> list:
    return [c for c in t.children if c is not None and not (isinstance(c, Token) and c.type in _LAYOUT)]


def _multi(t) -> bool:
    """A group with several comma-separated values."""
    return isinstance(t, Tree) and sum(1 for c in t.children if isinstance(c, Token) and c == ",") > 0


def _commas(parts: list) -> str:
    out = ""
    for p in parts:
        if isinstance(p, Token) and p == ",":
            out += ", "
        else:
            out += _expr(p)
    return out


def _expr(t) -> str:
    if isinstance(t, Token):
        return str(t)
    kids = _kids(t)
    if t.data in _TIGHT:
        return "".join(_expr(k) for k in kids)
    if t.data in _SPACED:
        return " ".join(_expr(k) for k in kids)
    if t.data in ("compare", "either", "both", "negation"):   # a == b, n > 1 and se, not se
        return " ".join(_expr(k) for k in kids)
    if t.data == "neg":
        return "-" + _expr(kids[1])
    if t.data == "posarg":
        return _expr(kids[0])
    if t.data in ("atom", "count"):                       # "(" expr ")"
        return "".join(_expr(k) for k in kids)
    if t.data == "listexpr":
        return "[" + _commas(kids[1:-1]) + "]"
    if t.data in ("number", "scaled", "name", "string", "size_sel"):
        return str(kids[0])
    if t.data in ("coarsest_sel", "finest_sel"):
        return " ".join(_expr(k) for k in kids)
    if t.data in ("args", "on"):
        head = "on " if t.data == "on" else ""
        return head + _commas(kids[1:] if t.data == "on" else kids)
    if t.data == "kwarg":
        return f"{kids[0]}=" + _commas(kids[2:])
    if t.data == "param":
        return str(kids[0]) + (f" = {_expr(kids[2])}" if len(kids) > 1 else "")
    if t.data == "params":
        return "(" + _commas(kids[1:-1]) + ")"
    raise ValueError(f"internal error: the formatter has no rule for {t.data!r}")


def _call(t: Tree) -> str:
    op, *rest = _kids(t)
    out, prev = str(op), None
    for part in rest:
        out += ("  " if _multi(prev) else " ") + _expr(part)
        prev = part
    return out


def _step(t: Tree) -> str:
    count, _times, call = t.children
    return (f"{_expr(count)} × " if count is not None else "") + _call(call)


def _line(t: Tree) -> str:
    bind, _eq, *rest = t.children
    out = f"{bind} = " if bind is not None else ""
    for part in rest:
        if isinstance(part, Token):           # ";"
            out += "; "
        else:
            out += _step(part)
    return out


def _statement(t: Tree) -> str:
    kids = _kids(t)
    if t.data == "line":
        return _line(t)
    if t.data == "network_stmt":
        out = f"network {kids[1]}"
        for k in kids[2:]:
            out += f" {k}" if isinstance(k, Token) else f" {_expr(k)}"
        return out
    if t.data == "input_stmt":
        return f"input {_expr(kids[1])} @ {_expr(kids[3])}"
    if t.data == "grids_stmt":
        return "grids " + _commas(kids[1:])
    if t.data in ("import_stmt", "section_stmt"):
        return f"{kids[0]} {kids[1]}"
    raise ValueError(f"internal error: the formatter has no rule for {t.data!r}")


# -- lines, comments and blank lines --------------------------------------------------------------
class _Out:
    """The formatted file as entries: ["code", indent, text, comment], ["comment", text], ["blank"]."""

    def __init__(self):
        self.entries: list[list] = []

    def code(self, depth: int, text: str):
        self.entries.append(["code", depth, text, None])

    def layout(self, tok: Token, first_in_file=False):
        """An _NL token: a trailing comment, then whole-line comments and blank lines."""
        segments = str(tok).replace("\r", "").split("\n")
        head, lines = segments[0], segments[1:-1]
        if head.strip():
            if first_in_file:
                lines = [head] + lines
            else:
                self.entries[-1][3] = head.strip()
        for seg in lines:
            self.entries.append(["comment", seg.strip()] if seg.strip() else ["blank"])

    def text(self) -> str:
        entries = self.entries
        while entries and entries[0][0] == "blank":
            entries.pop(0)
        while entries and entries[-1][0] == "blank":
            entries.pop()
        rendered, depth_after = [], 0
        for e in reversed(entries):             # a whole-line comment takes the indent of the code after it
            if e[0] == "code":
                depth_after = e[1]
            elif e[0] == "comment":
                e.append(depth_after)
        paragraph: list[list] = []

        def flush():
            commented = [len(INDENT * e[1] + e[2]) for e in paragraph if e[3]]
            col = max(commented, default=0) + 2
            for e in paragraph:
                code = INDENT * e[1] + e[2]
                rendered.append(code + (" " * (col - len(code)) + e[3] if e[3] else ""))
            paragraph.clear()

        prev = None
        for e in entries:
            if e[0] == "code":
                paragraph.append(e)
            else:
                flush()
                if e[0] == "blank":
                    if prev != "blank":
                        rendered.append("")
                else:
                    rendered.append(INDENT * e[2] + e[1])
            prev = e[0]
        flush()
        return "\n".join(line.rstrip() for line in rendered) + "\n"


def _is(t, rule: str) -> bool:
    return isinstance(t, Tree) and t.data == rule


def _walk(t: Tree, out: _Out, depth: int, first: bool):
    for child in t.children:
        if child is None:
            continue
        if isinstance(child, Token):
            if child.type == "_NL":
                out.layout(child, first_in_file=first and not out.entries)
            continue
        if child.data == "item":
            _walk(child, out, depth, first)
        elif child.data == "unit_def":
            kids = [c for c in child.children if c is not None]
            name, params = kids[1], kids[2]
            out.code(depth, f"unit {name}{_expr(params)}:")
            _walk(Tree("body", kids[4:]), out, depth + 1, first)
        elif child.data == "if_block":
            kids = [c for c in child.children if c is not None]
            out.code(depth, f"if {_expr(kids[1])}:")
            _walk(Tree("body", [k for k in kids[2:] if not _is(k, "else_block")]), out, depth + 1, first)
            for k in kids[2:]:
                if _is(k, "else_block"):
                    out.code(depth, "else:")
                    _walk(Tree("body", k.children[1:]), out, depth + 1, first)
        else:
            out.code(depth, _statement(child))


# -- the meaning check ----------------------------------------------------------------------------
def signature(t) -> tuple:
    """The tree without layout: rule names and token values in order (`*` of a repetition as `×`)."""
    if isinstance(t, Token):
        return (t.type, str(t))
    kids = []
    for i, c in enumerate(t.children):
        if c is None or (isinstance(c, Token) and c.type in _LAYOUT):
            continue
        if t.data == "step" and i == 1:
            kids.append(("TIMES", "×"))
        else:
            kids.append(signature(c))
    return (t.data, tuple(kids))


_COMMENT = re.compile(r'"[^"\n]*"|(#[^\n]*)')


def comments(text: str) -> list[str]:
    """Every comment in the text, in order (a '#' inside a string is not one)."""
    return [m.group(1).rstrip() for m in _COMMENT.finditer(text) if m.group(1)]


def format_source(source: Source) -> str:
    """The canonical layout of a spec's text (LF line endings, no byte-order mark). Raises
    SpecSyntaxError if it does not parse. The text is read as `mgdsl check` reads it: a byte-order
    mark is dropped and CR LF, CR-only and lone CR line endings are line breaks."""
    text = normalize(source).text
    parse(Source(source.path, text))                 # located errors for text that does not parse
    tree = _tree(text)
    out = _Out()
    _walk(tree, out, 0, True)
    result = out.text() if out.entries else ""
    try:
        same = signature(_tree(result)) == signature(tree) if result else not _kids(tree)
    except LarkError:
        same = False
    if not same:
        raise RuntimeError(f"internal error: formatting {source.path} would change its meaning")
    lost = _lost_comment(text, result)
    if lost is not None:
        line, col, comment = lost
        raise SpecSyntaxError("this comment is inside brackets that span lines, where the formatter cannot keep it",
                              Span(Source(source.path, text), line, col, line, col + len(comment)),
                              hint="move it to the end of the statement, or to a line of its own before it")
    return result


def _lost_comment(before: str, after: str):
    kept = comments(after)
    for m in _COMMENT.finditer(before):
        if not m.group(1):
            continue
        c = m.group(1).rstrip()
        if kept and kept[0] == c:
            kept.pop(0)
            continue
        line = before.count("\n", 0, m.start()) + 1
        return line, m.start() - before.rfind("\n", 0, m.start()), c
    return None


_LINE_END = re.compile(r"\r\n|\r|\n")


def format_file(source: Source) -> str:
    """What `mgdsl fmt` writes for a file: the canonical layout with the file's own conventions
    kept, as black keeps them: a byte-order mark stays, and if the first line ends in CR LF every
    line does. CR-only and lone CR line endings (old Mac editors; no editor keeps them on purpose)
    become LF, like every other ending in a file whose first line ends in LF."""
    bom = "\ufeff" if source.text.startswith("\ufeff") else ""
    first = _LINE_END.search(source.text)
    out = format_source(source)
    if first is not None and first.group() == "\r\n":
        out = out.replace("\n", "\r\n")
    return bom + out


def format_text(text: str, path: str = "<string>") -> str:
    return format_source(Source(path, text))
