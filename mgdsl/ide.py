"""What an editor asks about a spec, answered without any editor protocol (the language server in
`mgdsl.lsp` only translates): diagnostics, hover text, definitions and completions.

Positions here are 1-based lines and columns counted in characters, as in mgdsl's error reports
and as the grammar counts them (lines end at \n, \r\n or \r, nowhere else; see `split_lines`); the
server converts to and from the protocol's 0-based positions in the encoding it agreed on.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .errors import MgError, Source, Span, SpecWarning
from .graph.cost import cost_of, macs_of, params_of
from .graph.layer_api import LAYERS
from .graph.receptive import fields_of
from .graph.values import size_label
from .lang import ast as A
from .lang.format import comments
from .lang.loader import PRELUDE_PATH, Loader, prelude_file
from .lang.parser import parse
from .network import Network, check_spec
from .summary import pyramid_after, pyramid_before, pyramid_text


def split_lines(text: str) -> list[str]:
    """The lines of a spec as the grammar numbers them, which is also how the Language Server
    Protocol does: a line ends at \n, \r\n or \r only (str.splitlines() would also end one at a
    form feed, U+0085, U+2028... and so shift every line after it). A byte-order mark is dropped."""
    return re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff"))


@dataclass(frozen=True)
class Place:
    """A range in a file: 1-based, end exclusive."""
    path: Path
    line: int
    col: int
    end_line: int
    end_col: int


def span_file(span: Span) -> Path | None:
    """The file a span is in (the prelude's real file for the prelude)."""
    return _file_of(span.path)


@functools.lru_cache(maxsize=1024)
def _file_of(path: str) -> Path | None:
    if path == PRELUDE_PATH:
        return prelude_file()
    if path.startswith("<"):
        return None
    return Path(path).resolve()


def place(span: Span) -> Place | None:
    f = span_file(span)
    if f is None:
        return None
    return Place(f, span.line, span.col, *span.end)


@dataclass
class Diagnostic:
    """A diagnostic placed in the document: where to show it, and the error or warning itself."""
    where: Place
    diag: MgError | SpecWarning
    elsewhere: bool = False          # its own span is in another file (then `where` is a line of ours)

    @property
    def message(self) -> str:
        d = self.diag
        text = d.message
        if self.elsewhere and d.span is not None:
            text = f"{d.span}: {text}"
        return text + (f"\nhint: {d.hint}" if d.hint else "")


# -- analysis ---------------------------------------------------------------------------------------------------------
@dataclass
class Analysis:
    """One document, parsed and (when it has a network) lowered, as `mgdsl check` would."""
    path: Path
    text: str
    loader: Loader
    module: A.Module | None = None
    net: Network | None = None
    problems: list = field(default_factory=list)      # MgError | SpecWarning
    fallback: "Analysis | None" = None                # the last one that lowered, while this text does not

    @property
    def names(self) -> "Analysis":
        """Where completion takes names (units, saved pyramids, grids) from: this analysis, or while
        the text is broken mid-edit, the last one that worked."""
        return self if self.net is not None or self.fallback is None else self.fallback

    @cached_property
    def layer_costs(self) -> dict:
        return cost_of(self.net.graph).by("layer") if self.net is not None else {}

    @cached_property
    def nodes_by_layer(self) -> dict[str, list]:
        """Top-level layer path -> its graph nodes, in graph order."""
        out: dict[str, list] = {}
        if self.net is not None:
            for r in self.net.graph.records():
                out.setdefault(r.layer, []).append(r.id)
        return out

    @cached_property
    def readers(self) -> dict[str, list]:
        return self.net.graph.readers() if self.net is not None else {}

    @property
    def units(self) -> dict:
        if self.module is not None and self.module.units_table:
            return self.module.units_table
        return self.loader.prelude().units_table

    def depends_on(self, path: Path) -> bool:
        return str(path.resolve()) in self.loader.modules

    def diagnostics(self) -> list[Diagnostic]:
        out = []
        for d in self.problems:
            spans = ([d.span] if d.span else []) + [sp for _, sp in d.notes]
            mine = next((p for p in map(place_or_none, spans) if p is not None and p.path == self.path), None)
            if mine is not None:
                out.append(Diagnostic(mine, d, elsewhere=d.span is None or span_file(d.span) != self.path))
            else:
                out.append(Diagnostic(self._fallback(d), d, elsewhere=True))
        return out

    def skipped(self) -> list[Place]:
        """The `if` and `else` blocks of this file that the network, with its parameters, never lowers."""
        if self.net is None:
            return []
        places = (place_or_none(span) for span in self.net.graph.info.skipped)
        return [p for p in places if p is not None and p.path == self.path]

    def _fallback(self, d) -> Place:
        """A diagnostic from another file: on the import or `from` line that names that file (else
        the first such line, or line 1)."""
        lines = split_lines(self.text)
        heads = []
        if self.module is not None:
            heads = [(h.span, self.path.parent / h.path) for h in self.module.imports]
            net = self.module.network
            if net is not None and net.base is not None:
                heads.append((net.span, self.path.parent / net.base))
        bad = span_file(d.span) if d.span is not None else None
        heads.sort(key=lambda h: h[1].resolve() != bad)
        for span, _ in heads:
            if 0 < span.line <= len(lines):
                return Place(self.path, span.line, span.col, span.line, len(lines[span.line - 1]) + 1)
        return Place(self.path, 1, 1, 1, max(len(lines[0]) if lines else 0, 1) + 1)


def place_or_none(span: Span | None) -> Place | None:
    return place(span) if span is not None else None


def analyse(path: str | Path, text: str, unsaved: dict[str, str] | None = None,
            previous: Analysis | None = None) -> Analysis:
    """Parse and check `text` as the content of `path` exactly as `mgdsl check` does (other open
    files' unsaved text in `unsaved`, keyed by resolved path). Never raises an MgError: it becomes
    the analysis's problem. `previous` is this document's last analysis, kept for completion while
    the text does not lower."""
    path = Path(path).resolve()
    loader = Loader(unsaved={**(unsaved or {}), str(path): text})
    checked = check_spec(path, loader=loader)
    a = Analysis(path, text, loader, module=checked.module, net=checked.net, problems=checked.diagnostics)
    if not checked.ok:
        if a.module is None:
            a.module = _parse_only(path, text)
        if previous is not None:
            a.fallback = previous.names
    return a


def _parse_only(path: Path, text: str) -> A.Module | None:
    """The document's own syntax tree when something it imports is broken."""
    try:
        return parse(Source(str(path), text))
    except MgError:
        return None


def _covers(span: Span, line: int, col: int | None = None) -> bool:
    """Whether the span holds the line (and the column, if one is given)."""
    end = span.end
    if col is None:
        return span.line <= line <= end[0]
    return (span.line, span.col) <= (line, col) < end


def records_at(a: Analysis, line: int, col: int) -> list:
    """The top-level layer records written on this line of the document (narrowed to the call under
    the cursor when the line has several steps)."""
    if a.net is None:
        return []
    here = [r for r in a.net.graph.info.layers if r.span is not None and span_file(r.span) == a.path
            and _covers(r.span, line)]
    exact = [r for r in here if r.span is not None and _covers(r.span, line, col)]
    return exact or here


# -- hover ------------------------------------------------------------------------------------------------------------
def _m(x: int) -> str:
    return f"{x:,} ({x / 1e6:,.2f}M)" if x >= 10_000 else f"{x:,}"


def hover(a: Analysis, line: int, col: int) -> str | None:
    """Markdown for the cursor: a layer line's pyramid before and after, its params and MACs, and a
    unit's expansion; or the documentation of a layer type or unit name."""
    recs = records_at(a, line, col)
    if recs:
        return _layer_hover(a, recs)
    net = a.module.network if a.module is not None else None
    if net is not None and a.net is not None and _covers(net.span, line):
        n = a.net
        return (f"**{n.name}**: input {' x '.join(map(str, n.input_shape))} -> output "
                f"{' x '.join(map(str, n.output_shape))}\n\nparams {_m(n.num_params)}, MACs {_m(n.macs)}")
    word = word_at(a.text, line, col)
    return _word_hover(a, word) if word else None


def _layer_hover(a: Analysis, recs: list) -> str:
    costs = a.layer_costs
    params = sum(costs[r.path].params for r in recs if r.path in costs)
    macs = sum(costs[r.path].macs for r in recs if r.path in costs)
    types = list(dict.fromkeys(r.type for r in recs))
    uses = f"{len(recs)} uses" if len(recs) > 1 else "1 use"
    paths = ", ".join(r.path for r in recs[:4]) + (", ..." if len(recs) > 4 else "")
    out = [f"**{' · '.join(types)}**: {uses} ({paths}), section {recs[0].section}", "```",
           f"before  {pyramid_text(pyramid_before(recs[0]))}",
           f"after   {pyramid_text(pyramid_after(recs[-1]))}",
           f"params  {_m(params)}",
           f"MACs    {_m(macs)}"]
    fields = fields_of(a.net.graph, recs[-1].path) if a.net is not None else {}
    if fields:
        out.append("receptive field (input pixels a central position sees; jump)")
        out += [f"  {grid:<7} {f.size[0]}x{f.size[1]}{'  (the whole input)' if f.covers else ''}"
                f"  jump {_jump(f.jump)}" for grid, f in fields.items()]
    out.append("```")
    first = recs[0]
    if first.type not in LAYERS:
        out += [f"each use of `{first.type}` expands to (grid:channels after each layer):", "```"]
        out += _expansion(a, first.path) + ["```"]
    else:
        doc = LAYERS[first.type].doc.split("\n\n")[0]
        out.append(" ".join(doc.split()))
    return "\n".join(out)


def _jump(j: tuple[float, float]) -> str:
    text = [f"{v:g}" for v in j]
    return text[0] if text[0] == text[1] else "x".join(text)


def _expansion(a: Analysis, layer_path: str) -> list[str]:
    """A row per sub-layer of a unit's use: the grids it leaves (its nodes that something outside
    it reads, or nothing reads; not the steps inside it, such as the stride-2 chain by which
    `mgconv reach=all` brings a fine grid down several sizes), finest first, and its cost."""
    assert a.net is not None, "only layer lines of a network that lowered are expanded"
    G = a.net.graph
    readers = a.readers
    groups: dict[str, list] = {}
    for n in a.nodes_by_layer.get(layer_path, []):
        groups.setdefault(G.node(n).origin, []).append(n)
    rows = []
    for sub, nodes in groups.items():
        left = {}
        for n in nodes:
            if not readers[n] or any(G.node(r).origin != sub for r in readers[n]):
                node = G.node(n)
                left[node.size] = (node.size, node.shape[0])
        pyr = pyramid_text(sorted(left.values(), key=lambda g: -(g[0] or (0,))[0]))
        name = sub[len(layer_path) + 1:] or sub
        p, m = sum(params_of(G, n) for n in nodes), sum(macs_of(G, n) for n in nodes)
        rows.append((name, pyr, f"{p:,} params", f"{m / 1e6:,.2f}M MACs"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)] if rows else []
    return ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def _word_hover(a: Analysis, word: str) -> str | None:
    if word in LAYERS:
        lt = LAYERS[word]
        params = ", ".join(f"{p.name}={p.default_text()}" if p.default_text() and not p.required else p.name
                           for p in lt.params)
        rows = [f"- `{p.name}`: {'required; ' if p.required else ''}{p.describe()}" for p in lt.params]
        return f"**{word}** {params}  (built-in layer)\n\n" + " ".join(lt.doc.split()) + \
            ("\n\n" + "\n".join(rows) if rows else "")
    unit = a.units.get(word)
    if unit is not None:
        sig = ", ".join(p.name for p in unit.params)
        return f"**unit {word}**({sig}), {_defined_at(a, unit.span)}"
    return WORDS.get(word)


# the language's own words (docs/language.md says more)
WORDS = {
    "if": "**if** COND: lowers the indented lines below only when COND holds: a switch (on, off, yes, no, 1, 0) "
          "or a comparison (==, !=, <, <=, >, >=) of parameters, numbers, words or `ch`",
    "else": "**else**: the lines lowered when the `if` above does not hold",
    "and": "**and**: both conditions hold", "or": "**or**: one of the conditions holds, or both",
    "not": "**not**: the condition does not hold",
    "ch": "**ch**: the channel count of the grids the layer acts on (per grid where they differ), unless a "
          "parameter is called ch",
}


def _defined_at(a: Analysis, span: Span) -> str:
    """Where a unit is written, for people (the prelude by its path in the package, a spec's file
    relative to this document's folder) and as a link an editor can follow."""
    f = span_file(span)
    if span.path == PRELUDE_PATH:
        shown, where = PRELUDE_PATH, "in the prelude, "
    else:
        try:
            shown = os.path.relpath(f, a.path.parent) if f is not None else span.path
        except ValueError:              # another drive (Windows)
            shown = str(f)
        where = "at "
    text = f"`{shown}` line {span.line}"
    if f is None:
        return where + text
    return f"{where}[{text}]({f.as_uri()}#L{span.line})"


# -- words, definitions ------------------------------------------------------------------------------------------------
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def word_at(text: str, line: int, col: int) -> str | None:
    lines = split_lines(text)
    if not 1 <= line <= len(lines):
        return None
    for m in _WORD.finditer(lines[line - 1]):
        if m.start() <= col - 1 <= m.end():
            return m.group(0)
    return None


def _all_lines(mod: A.Module):
    """(line, the body it is in) for every layer line of the module."""
    bodies = [A.lines(u.body) for u in mod.units]
    if mod.network is not None:
        bodies.append(A.lines(mod.network.body))
    for body in bodies:
        for item in body:
            yield item, body


def definition(a: Analysis, line: int, col: int) -> Place | None:
    """Where the name under the cursor is defined: a unit (the prelude's included), the file of an
    import or a `network ... from`, or the line that saved a pyramid."""
    mod = a.module
    if mod is None:
        return None
    for imp in mod.imports:
        if _covers(imp.span, line, col):
            return _file_start(a.path.parent / imp.path)
    net = mod.network
    if net is not None and net.base is not None and net.base_span is not None and _covers(net.base_span, line, col):
        return _file_start(a.path.parent / net.base)
    word = word_at(a.text, line, col)
    for ln, body in _all_lines(mod):
        for step in ln.steps:
            if _covers(step.call.op_span, line, col):
                unit = a.units.get(step.call.op)
                p = place(unit.span) if unit is not None else None
                return p and unit and Place(p.path, p.line, p.col, p.line, p.col + len(f"unit {unit.name}"))
        if _covers(ln.span, line) and word:
            for other, _ in _all_lines(mod):
                if other.bind == word and any(other is b for b in body):
                    return place(other.bind_span)
    return None


def _file_start(p: Path) -> Place | None:
    p = p.resolve()
    return Place(p, 1, 1, 1, 1) if p.is_file() else None


# -- completion -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Completion:
    label: str
    kind: str            # "layer" | "unit" | "parameter" | "pyramid" | "keyword" | "grid"
    detail: str = ""
    insert: str | None = None


_BIND = re.compile(r"^\s*[A-Za-z_][A-Za-z_0-9]*\s*=(?!=)\s*")
_COUNT = re.compile(r"^\s*(?:[0-9]+|[A-Za-z_][A-Za-z_0-9]*|\([^()]*\))\s*(?:×|\*)\s*")
HEADER_WORDS = ("network", "input", "grids", "section", "import", "unit")


def completions(a: Analysis, line: int, col: int) -> list[Completion]:
    """Layer types and units where a layer type goes; after one, its parameter names (those not yet
    given), `on` and, for layers that take one, the saved pyramids; after `on`, grid selectors."""
    lines = split_lines(a.text)
    text = lines[line - 1][: col - 1] if 1 <= line <= len(lines) else ""
    if comments(text):
        return []
    if re.match(r"\s*if\s", text):
        return condition_words(a.names, line)
    step = text.split(";")[-1]
    bare = _BIND.sub("", step, count=1) if ";" not in text else step
    bare = _COUNT.sub("", bare, count=1)
    if re.fullmatch(r"\s*[A-Za-z_]*", bare):
        out = [Completion(n, "layer", " ".join(lt.doc.split())[:80]) for n, lt in sorted(LAYERS.items())]
        out += [Completion(n, "unit", f"unit {n}({', '.join(p.name for p in u.params)})")
                for n, u in sorted(a.names.units.items())]
        if bare == step and ";" not in text and not text.startswith((" ", "\t")):
            out += [Completion(k, "keyword") for k in HEADER_WORDS]
        if bare == step and ";" not in text:
            out += [Completion("if", "keyword", "lower the indented lines only when a condition holds: if se:"),
                    Completion("else", "keyword", "the lines for when the if's condition does not hold")]
        return out
    m = _WORD.match(bare.strip())
    op = m.group(0) if m else ""
    if op in HEADER_WORDS:
        return []
    if re.search(r"\bon\b[^=]*$", bare):
        net = a.names.net
        grids = net.graph.info.grids if net is not None else []
        return [Completion(w, "keyword") for w in ("coarsest", "finest")] + \
            [Completion(size_label(g), "grid") for g in grids]
    if op in LAYERS:
        params = [(p.name, _param_detail(p)) for p in LAYERS[op].params]
    elif op in a.names.units:
        params = [(p.name, "unit parameter") for p in a.names.units[op].params]
    else:
        return []
    given = set(re.findall(r"\b([A-Za-z_][A-Za-z_0-9]*)\s*=", bare))
    out = [Completion(n, "parameter", d, f"{n}=") for n, d in params if n not in given]
    out.append(Completion("on", "keyword", "restrict the layer to some grids: on coarsest 2, on 16x16"))
    if any(n == "tensor" for n, _ in params):
        out += [Completion(n, "pyramid", "saved pyramid") for n in saved_pyramids(a.names, line)]
    return out


def _param_detail(p) -> str:
    """A parameter's completion detail: required or not, what it takes, its default and its doc."""
    return ("required; " if p.required else "") + p.describe()


def condition_words(a: Analysis, line: int) -> list[Completion]:
    """What an `if` line reads: the parameters of the unit it is in and of the network, `ch`, and the
    words that join conditions."""
    mod = a.module
    out: list[Completion] = []
    if mod is not None:
        for u in mod.units:
            if u.span.line <= line <= max((ln.span.line for ln in A.lines(u.body)), default=u.span.line):
                out += [Completion(p.name, "parameter", f"parameter of unit {u.name}") for p in u.params]
        if mod.network is not None:
            out += [Completion(p.name, "parameter", "network parameter") for p in mod.network.params]
    out.append(Completion("ch", "keyword", "the channel count here"))
    out += [Completion(w, "keyword") for w in ("and", "or", "not", "on", "off")]
    return out


def saved_pyramids(a: Analysis, line: int) -> list[str]:
    """Names saved by `name = ...` lines above this one, in the body this line belongs to (`in` in a unit)."""
    mod = a.module
    if mod is None:
        return []
    for u in mod.units:
        lines = A.lines(u.body)
        if u.span.line <= line <= max((ln.span.line for ln in lines), default=u.span.line):
            return ["in"] + [ln.bind for ln in lines if ln.bind and ln.span.line < line]
    body = A.lines(mod.network.body) if mod.network is not None else []
    return [ln.bind for ln in body if ln.bind and ln.span.line < line]
