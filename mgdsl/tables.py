"""The one table renderer: every table mgdsl prints (`mgdsl cost`, the paper's tables, the summary
of `mgdsl compile` and a notebook's, the benchmark reports) is a `Table` of formatted cells, written
out as aligned text, Markdown, LaTeX or HTML; records go out as CSV or JSON.

A column's alignment is one letter: 'l' (left), 'r' (right) or 'p' (a paragraph: left in text and
Markdown, a wrapped p{6cm} column in LaTeX). A table without alignments gives Markdown's plain
`---` rule and left-aligned text.
"""
from __future__ import annotations

import csv
import html as _html
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FORMATS = ("table", "md", "latex", "html")


@dataclass
class Table:
    """Rows of already formatted cells."""
    columns: list[str]
    rows: list[list[str]]
    align: str = ""                      # one of 'l', 'r', 'p' per column; '' for none
    title: str = ""
    footer: str = ""

    def alignment(self, i: int) -> str:
        return self.align[i] if self.align else ""


def text(t: Table, *, indent: str = "", sep: str | Sequence[str] = "  ", widths: Sequence[int] = (),
         rule: bool = True) -> str:
    """Aligned plain text: title, header, a rule of dashes (unless rule=False), rows, footer. `sep` is
    the gap between columns, or one per gap; `widths` the least width of each column; trailing
    blanks are stripped."""
    seps = [sep] * (len(t.columns) - 1) if isinstance(sep, str) else list(sep)
    least = list(widths) + [0] * (len(t.columns) - len(widths))
    w = [max(least[i], len(c), *(len(r[i]) for r in t.rows)) for i, c in enumerate(t.columns)]

    def line(cells) -> str:
        parts = [c.rjust(w[i]) if t.alignment(i) == "r" else c.ljust(w[i]) for i, c in enumerate(cells)]
        return (indent + parts[0] + "".join(s + p for s, p in zip(seps, parts[1:]))).rstrip()
    out = [t.title] if t.title else []
    out.append(line(t.columns))
    if rule:
        out.append(line(["-" * n for n in w]))
    out += [line(r) for r in t.rows]
    if t.footer:
        out.append(t.footer)
    return "\n".join(out)


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def markdown(t: Table) -> str:
    """A GitHub-flavoured Markdown table, under a ### heading when it has a title."""
    out = [f"### {t.title}", ""] if t.title else []
    out.append("| " + " | ".join(map(_md_cell, t.columns)) + " |")
    if t.align:
        out.append("|" + "|".join("---:" if a == "r" else ":---" for a in t.align) + "|")
    else:
        out.append("|" + "---|" * len(t.columns))
    out += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in t.rows]
    if t.footer:
        out += ["", t.footer]
    return "\n".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def latex(t: Table) -> str:
    """A booktabs table environment (needs \\usepackage{booktabs})."""
    spec = "".join("p{6cm}" if a == "p" else a for a in (t.align or "l" * len(t.columns)))
    out = [r"\begin{table}[ht]", r"\centering", r"\scriptsize"]
    if t.title:
        out.append(rf"\caption{{{_tex(t.title)}}}")
    out += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(map(_tex, t.columns)) + r" \\", r"\midrule"]
    out += [" & ".join(map(_tex, r)) + r" \\" for r in t.rows]
    out += [r"\bottomrule", r"\end{tabular}"]
    if t.footer:
        out.append(rf"\par\smallskip {_tex(t.footer)}")
    out.append(r"\end{table}")
    return "\n".join(out)


def html(t: Table) -> str:
    """An HTML table, right-aligned cells styled so; the title as its caption, the footer after it."""
    e = _html.escape

    def td(i: int, c: str) -> str:
        return f"<td style='text-align:right'>{e(c)}</td>" if t.alignment(i) == "r" else f"<td>{e(c)}</td>"
    caption = f"<caption>{e(t.title)}</caption>" if t.title else ""
    head = "".join(f"<th>{e(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(td(i, c) for i, c in enumerate(r)) + "</tr>" for r in t.rows)
    footer = f"<p>{e(t.footer)}</p>" if t.footer else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{footer}"


_RENDERERS = {"table": text, "md": markdown, "latex": latex, "html": html}


def render(tables: Iterable[Table], fmt: str) -> str:
    """Tables in one of FORMATS, a blank line apart, ending in a newline."""
    r = _RENDERERS[fmt]
    return "\n\n".join(r(t) for t in tables) + "\n"


def csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """Comma-separated values with a header line (RFC 4180 quoting, \\n line ends)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def records_csv(records: Sequence[dict]) -> str:
    """Records with the same keys as CSV, the first record's keys as the header."""
    return csv_text(list(records[0]), [list(r.values()) for r in records])


def json_text(data) -> str:
    """JSON as mgdsl writes it: one-space indents, a final newline."""
    return json.dumps(data, indent=1) + "\n"
