"""Errors and warnings that point into the user's spec.

Every mistake a user can make in a spec, on the command line or in a file path surfaces as an
:class:`MgError` carrying a :class:`Span`; its ``str`` is the full report (location, message, the
source line with a caret, a hint). Anything else escaping mgdsl is a bug in mgdsl.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

QUOTE_WIDTH = 150      # longer source lines are quoted around the caret


@dataclass(frozen=True, eq=False)
class Source:
    """The text of one spec file, kept so that errors can quote it."""
    path: str
    text: str

    def lines(self) -> list[str]:
        """The lines as the grammar counts them: split at "\n" only (a form feed or U+2028 is not a
        line break to the parser, so it must not be one here either)."""
        lines = self.text.split("\n")
        return lines[:-1] if lines and lines[-1] == "" else lines

    def line(self, n: int) -> str:
        lines = self.lines()
        return lines[n - 1] if 0 < n <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A 1-based region of a source: where something was written."""
    source: Source
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def end(self) -> tuple[int, int]:
        """(line, column) just after the span; one character past the start when the end is unset."""
        end = (self.end_line or self.line, self.end_col)
        return end if end > (self.line, self.col) else (self.line, self.col + 1)

    def text(self) -> str:
        """What the span covers, as written (its first line, for a span over several)."""
        line = self.source.line(self.line)
        end = self.end_col if self.end_line in (0, self.line) and self.end_col > self.col else len(line) + 1
        return line[self.col - 1:end - 1]

    def compact(self) -> str:
        """`text()` with its spacing made one way (none around operators and brackets, one space
        elsewhere), for messages that quote what was written: they then read the same before and after
        `mgdsl fmt` lays the line out."""
        return re.sub(r"\s*([-+*/×()\[\]=<>!,])\s*", r"\1", " ".join(self.text().split()))

    def __str__(self) -> str:
        if self.source.path.startswith("<--set"):    # not a file: a value given on the command line
            return self.source.path
        return f"{self.source.path}:{self.line}:{self.col}"

    def quote(self) -> str:
        """The source line with a caret under the span."""
        text = self.source.line(self.line).expandtabs(1)
        if not text and self.line > len(self.source.lines()):
            return ""
        col = self.col
        end = self.end_col if self.end_line == self.line and self.end_col > col else col + 1
        end = min(end, max(len(text) + 1, col + 1))
        if len(text) > QUOTE_WIDTH:                  # a very long line: the part around the caret
            start = max(0, min(col - 1 - QUOTE_WIDTH // 3, len(text) - QUOTE_WIDTH))
            more = start + QUOTE_WIDTH < len(text)
            text = ("..." if start else "") + text[start:start + QUOTE_WIDTH] + ("..." if more else "")
            shift = start - (3 if start else 0)
            col, end = col - shift, min(end - shift, len(text) + 1)
        gutter = f"{self.line:>5} | "
        return f"{gutter}{text}\n{' ' * (len(gutter) - 2)}| {' ' * (col - 1)}{'^' * max(end - col, 1)}"


class MgError(Exception):
    """A user's mistake: a message, where it was made and, when one helps, a hint."""

    kind = "error"
    code = "MG000"       # stable: tools and editors key on it; each subclass has its own (docs/editors.md)

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None,
                 notes: list[tuple[str, Span]] | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.notes = list(notes or [])

    def with_note(self, text: str, span: Span) -> "MgError":
        self.notes.append((text, span))
        return self

    def report(self) -> str:
        where = f"{self.span}: " if self.span else "mgdsl: "
        parts = [f"{where}{self.kind}: {self.message}"]
        if self.span and (q := self.span.quote()):
            parts.append(q)
        prev, repeats = None, 0
        for note in self.notes + [None]:          # collapse a unit calling itself over and over
            if note == prev:
                repeats += 1
                continue
            if prev is not None:
                parts.append(f"{prev[1]}: note: {prev[0]}" + (f" (and {repeats} more times)" if repeats else ""))
            prev, repeats = note, 0
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.report()


class SpecSyntaxError(MgError):
    """The text does not follow the grammar (or is not readable text at all)."""

    code = "MG101"


class SpecNameError(MgError):
    """A name, grid, layer type or file that does not exist, or is defined twice."""

    code = "MG102"


class SpecTypeError(MgError):
    """A missing, unexpected or wrong-typed argument."""

    code = "MG104"


class SpecValueError(MgError):
    """A value out of range: zero or negative widths, absurd sizes, too many layers."""

    code = "MG105"


class SpecShapeError(MgError):
    """Shapes or channel counts that do not fit together."""

    code = "MG106"


class ImportCycleError(SpecNameError):
    """Spec files that import each other in a circle."""

    code = "MG103"


class UsageError(MgError):
    """A bad command-line argument or a missing input file."""

    code = "MG001"


class TrainingError(MgError):
    """Training cannot go on (a non-finite loss); the last good checkpoint is kept."""

    code = "MG201"


class ResourceError(MgError):
    """A network too big for this machine's memory, found when building or training it (never by
    `check`, whose verdict does not depend on the machine)."""

    code = "MG202"


@dataclass
class SpecWarning:
    """Something legal but probably unintended, such as computation that never reaches the output."""
    message: str
    span: Span | None = None
    hint: str | None = None
    notes: list = field(default_factory=list)
    kind = "warning"
    code = "MG301"

    report = MgError.report
    __str__ = MgError.report


def diagnostic_classes() -> list[Any]:
    """Every kind of diagnostic mgdsl reports, each with its own stable ``code``: the MgError
    family (found by walking the subclasses, so a new class cannot be forgotten) and SpecWarning."""
    out, todo = [], [MgError]
    while todo:
        cls = todo.pop(0)
        if cls.__module__ == __name__:
            out.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(out, key=lambda c: c.code) + [SpecWarning]


def codes_table() -> str:
    """The Markdown table of diagnostic codes that docs/editors.md carries (a test keeps it fresh)."""
    rows = ["| code | severity | class | what it means |", "|---|---|---|---|"]
    for cls in diagnostic_classes():
        doc = " ".join((cls.__doc__ or "").split())
        rows.append(f"| `{cls.code}` | {cls.kind} | `{cls.__name__}` | {doc} |")
    return "\n".join(rows)
