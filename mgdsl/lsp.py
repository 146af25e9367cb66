"""The language server behind `mgdsl lsp` (pygls, JSON-RPC over stdio). It translates between the
protocol and `mgdsl.ide`: diagnostics on open and change (what `mgdsl check` reports, with ranges),
`if` and `else` blocks that the parameters leave out, as greyed hints; hover (a layer line's pyramid
before and after, params, MACs; a unit's expansion), go to definition
(units, the prelude's included; imports; saved pyramids), completion (layer types, units, parameter
names, saved pyramids, grid selectors) and whole-document formatting (`mgdsl fmt`).

Positions. mgdsl counts 1-based lines and columns in characters; the protocol counts 0-based lines
and columns in code units of the position encoding agreed at `initialize`: the first of the
client's `general.positionEncodings` that is utf-8, utf-16 or utf-32 (pygls chooses it and
announces it as the server's `positionEncoding`), else utf-16. Every position that goes out or
comes in is converted through `Text`, with that encoding's unit counter. Lines end only at \\n,
\\r\\n and \\r, as the protocol says (and as the grammar counts, which reads \\r\\n and \\r as \\n);
a form feed, U+0085 or U+2028 is a character inside a line.

Documents. The server asks for the whole text on every change (sync kind Full: specs are a few
KiB, and the whole spec is re-checked on each change anyway) and keeps its own copy of each open
document. It does not use pygls' document model for incremental edits: that splits lines with
str.splitlines(), so after a U+2028 every edit lands on the wrong line, and it clamps positions by
changing the request's own objects in place. A client that sends ranges all the same has them
applied here with the protocol's lines and the agreed encoding.
"""
from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from .errors import MgError, Source
from .ide import Analysis, Place, analyse, completions, definition, hover, place
from .lang.format import format_source
from .version import __version__

_KIND = {"layer": T.CompletionItemKind.Function, "unit": T.CompletionItemKind.Module,
         "parameter": T.CompletionItemKind.Property, "pyramid": T.CompletionItemKind.Variable,
         "keyword": T.CompletionItemKind.Keyword, "grid": T.CompletionItemKind.Constant}

LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Text:
    """A document's text with the protocol's lines, converting positions both ways in the agreed
    encoding. mgdsl's columns are the grammar's: a byte-order mark at the start is not counted."""

    def __init__(self, text: str, units):
        self.text = text
        self.units = units                     # str -> its length in code units of the agreed encoding
        self.lines = LINE_BREAK.split(text)
        self.bom = 1 if text.startswith("\ufeff") else 0

    def _line(self, i: int) -> str:
        return self.lines[i] if 0 <= i < len(self.lines) else ""

    def position(self, line: int, col: int) -> T.Position:
        """1-based line and character column -> the protocol's position."""
        i = line - 1
        text = self._line(i)
        skip = self.bom if i == 0 else 0
        return T.Position(line=max(i, 0), character=self.units(text[: max(col - 1 + skip, 0)]))

    def range(self, where: Place) -> T.Range:
        return T.Range(start=self.position(where.line, where.col), end=self.position(where.end_line, where.end_col))

    def index(self, pos: T.Position) -> int:
        """The protocol's position -> a character index into its line (past the end: the end)."""
        text = self._line(pos.line)
        n = 0
        for i, ch in enumerate(text):
            if n >= pos.character:
                return i
            n += self.units(ch)
        return len(text)

    def column(self, pos: T.Position) -> tuple[int, int]:
        """The protocol's position -> 1-based line and character column."""
        skip = self.bom if pos.line == 0 else 0
        return pos.line + 1, max(self.index(pos) - skip, 0) + 1

    def offset(self, pos: T.Position) -> int:
        """The protocol's position -> an index into the whole text."""
        if pos.line >= len(self.lines):
            return len(self.text)
        starts = [0] + [m.end() for m in LINE_BREAK.finditer(self.text)]
        return starts[pos.line] + self.index(pos)

    def end(self) -> T.Position:
        return T.Position(line=len(self.lines) - 1, character=self.units(self.lines[-1]))

    def edited(self, change) -> str:
        """The text after one content change (a range and its new text, or a whole new text)."""
        if not isinstance(change, T.TextDocumentContentChangePartial):
            return change.text
        start, end = self.offset(change.range.start), self.offset(change.range.end)
        return self.text[:start] + change.text + self.text[max(end, start):]


@dataclass
class Document:
    uri: str
    text: str
    version: int | None


class MgServer(LanguageServer):
    def __init__(self):
        super().__init__("mgdsl", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}
        self.documents: dict[str, Document] = {}

    def units(self, s: str) -> int:
        return self.workspace.position_codec.client_num_units(s)

    def text(self, text: str) -> Text:
        return Text(text, self.units)

    def path_of(self, uri: str) -> Path:
        p = to_fs_path(uri)
        return Path(p).resolve() if p else Path.cwd() / "untitled.mg"

    def text_of(self, path: Path) -> Text:
        """An open document's text, else the file's (empty if it cannot be read)."""
        doc = self.documents.get(from_fs_path(str(path)) or "")
        if doc is None:
            doc = next((d for u, d in self.documents.items() if self.path_of(u) == path), None)
        if doc is not None:
            return self.text(doc.text)
        try:
            return self.text(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return self.text("")

    def location(self, where: Place) -> T.Location:
        return T.Location(uri=from_fs_path(str(where.path)) or where.path.as_uri(),
                          range=self.text_of(where.path).range(where))

    # -- documents ---------------------------------------------------------------------------------------------------
    def opened(self, item: T.TextDocumentItem):
        self.documents[item.uri] = Document(item.uri, item.text, item.version)
        self.refresh(item.uri)

    def changed(self, params: T.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        doc = self.documents.get(uri)
        if doc is None:                   # a change to a document never opened: nothing to apply it to
            return
        for change in params.content_changes:
            doc.text = self.text(doc.text).edited(change)
        doc.version = params.text_document.version
        self.refresh(uri)

    def closed(self, uri: str):
        self.documents.pop(uri, None)
        self.analyses.pop(uri, None)
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def refresh(self, uri: str):
        """Re-check a document and every open document that reads it."""
        path = self.path_of(uri)
        self._check(uri)
        for other, a in list(self.analyses.items()):
            if other != uri and a.depends_on(path):
                self._check(other)

    def _check(self, uri: str):
        doc = self.documents.get(uri)
        if doc is None:
            return
        unsaved = {str(self.path_of(u)): d.text for u, d in self.documents.items() if u != uri}
        try:
            a = analyse(self.path_of(uri), doc.text, unsaved, previous=self.analyses.get(uri))
            self.analyses[uri] = a
            text = self.text(doc.text)
            diags = [self._diagnostic(d, text) for d in a.diagnostics()]
            diags += [T.Diagnostic(range=text.range(p), message="not lowered: the if's condition does not hold "
                                   "here, with these parameters", severity=T.DiagnosticSeverity.Hint,
                                   tags=[T.DiagnosticTag.Unnecessary], source="mgdsl") for p in a.skipped()]
        except Exception as e:          # a bug in mgdsl: say so in the editor rather than fall silent
            traceback.print_exc(file=sys.stderr)
            diags = [T.Diagnostic(range=T.Range(start=T.Position(line=0, character=0), end=T.Position(line=0, character=1)),
                                  message=f"internal error in mgdsl (a bug, not your spec): {e!r}",
                                  severity=T.DiagnosticSeverity.Error, source="mgdsl")]
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=doc.version))

    def _diagnostic(self, d, text: Text) -> T.Diagnostic:
        related = []
        own = place(d.diag.span) if d.elsewhere and d.diag.span is not None else None
        if own is not None:              # shown on a line of ours: the first related place is the mistake itself
            related.append(T.DiagnosticRelatedInformation(location=self.location(own), message=d.diag.message))
        for note, span in d.diag.notes:
            where = place(span)
            if where is not None:
                related.append(T.DiagnosticRelatedInformation(location=self.location(where), message=note))
        severity = T.DiagnosticSeverity.Warning if d.diag.kind == "warning" else T.DiagnosticSeverity.Error
        return T.Diagnostic(range=text.range(d.where), message=d.message, severity=severity,
                            code=d.diag.code, source="mgdsl", related_information=related or None)

    def position(self, uri: str, pos: T.Position) -> tuple[Analysis | None, int, int]:
        """The analysis of a document and a protocol position in it as mgdsl's line and column."""
        a = self.analyses.get(uri)
        if a is None:
            return None, 0, 0
        line, col = self.text(a.text).column(pos)
        return a, line, col


server = MgServer()


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def _did_open(ls: MgServer, params: T.DidOpenTextDocumentParams):
    ls.opened(params.text_document)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: MgServer, params: T.DidChangeTextDocumentParams):
    ls.changed(params)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def _did_save(ls: MgServer, params: T.DidSaveTextDocumentParams):
    ls.refresh(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def _did_close(ls: MgServer, params: T.DidCloseTextDocumentParams):
    ls.closed(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_HOVER)
def _hover(ls: MgServer, params: T.HoverParams):
    a, line, col = ls.position(params.text_document.uri, params.position)
    text = hover(a, line, col) if a is not None else None
    if text is None:
        return None
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def _definition(ls: MgServer, params: T.DefinitionParams):
    a, line, col = ls.position(params.text_document.uri, params.position)
    where = definition(a, line, col) if a is not None else None
    return ls.location(where) if where is not None else None


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[" ", ",", ";"]))
def _completion(ls: MgServer, params: T.CompletionParams):
    uri = params.text_document.uri
    a, doc = ls.analyses.get(uri), ls.documents.get(uri)
    if a is None or doc is None:
        return None
    a.text = doc.text                   # complete on the text as typed, with the last analysis's names
    _, line, col = ls.position(uri, params.position)
    items = [T.CompletionItem(label=c.label, kind=_KIND[c.kind], detail=c.detail or None, insert_text=c.insert)
             for c in completions(a, line, col)]
    return T.CompletionList(is_incomplete=False, items=items)


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def _formatting(ls: MgServer, params: T.DocumentFormattingParams):
    uri = params.text_document.uri
    doc = ls.documents.get(uri)
    if doc is None:
        return None
    try:
        new = format_source(Source(str(ls.path_of(uri)), doc.text))
    except MgError:
        return None                      # the diagnostics already show why
    if new == doc.text:
        return []
    whole = T.Range(start=T.Position(line=0, character=0), end=ls.text(doc.text).end())
    return [T.TextEdit(range=whole, new_text=new)]


def serve() -> None:
    server.start_io()
