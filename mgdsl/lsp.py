"""The language server behind `mgdsl lsp` (pygls, JSON-RPC over stdio). It translates between the
protocol and `mgdsl.ide`: diagnostics on open and change (what `mgdsl check` reports, with ranges),
hover (a layer line's pyramid before and after, params, MACs; a unit's expansion), go to definition
(units, the prelude's included; imports; saved pyramids), completion (layer types, units, parameter
names, saved pyramids, grid selectors) and whole-document formatting (`mgdsl fmt`)."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__
from .errors import MgError
from .ide import Analysis, Place, analyse, completions, definition, hover

_KIND = {"layer": T.CompletionItemKind.Function, "unit": T.CompletionItemKind.Module,
         "parameter": T.CompletionItemKind.Property, "pyramid": T.CompletionItemKind.Variable,
         "keyword": T.CompletionItemKind.Keyword, "grid": T.CompletionItemKind.Constant}


def _utf16(line: str, col: int) -> int:
    """1-based character column -> 0-based UTF-16 offset."""
    return len(line[: col - 1].encode("utf-16-le")) // 2


def _chars(line: str, units: int) -> int:
    """0-based UTF-16 offset -> 1-based character column."""
    n = 0
    for i, ch in enumerate(line):
        if n >= units:
            return i + 1
        n += 2 if ord(ch) > 0xFFFF else 1
    return len(line) + 1


class MgServer(LanguageServer):
    def __init__(self):
        super().__init__("mgdsl", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.analyses: dict[str, Analysis] = {}

    def path_of(self, uri: str) -> Path:
        p = to_fs_path(uri)
        return Path(p).resolve() if p else Path.cwd() / "untitled.mg"

    def _lines(self, path: Path, text: str | None = None) -> list[str]:
        if text is None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                return []
        return text.splitlines()

    def to_range(self, where: Place, lines: list[str]) -> T.Range:
        def pos(line, col):
            text = lines[line - 1] if 0 < line <= len(lines) else ""
            return T.Position(line=line - 1, character=_utf16(text, col))
        return T.Range(start=pos(where.line, where.col), end=pos(where.end_line, where.end_col))

    def location(self, where: Place) -> T.Location:
        uri = from_fs_path(str(where.path))
        doc = self.workspace.text_documents.get(uri)
        return T.Location(uri=uri, range=self.to_range(where, self._lines(where.path, doc.source if doc else None)))

    def refresh(self, uri: str):
        """Re-check a document and every open document that reads it."""
        path = self.path_of(uri)
        self._check(uri)
        for other, a in list(self.analyses.items()):
            if other != uri and a.depends_on(path):
                self._check(other)

    def _check(self, uri: str):
        doc = self.workspace.get_text_document(uri)
        unsaved = {str(self.path_of(u)): d.source for u, d in self.workspace.text_documents.items() if u != uri}
        try:
            a = analyse(self.path_of(uri), doc.source, unsaved, previous=self.analyses.get(uri))
            self.analyses[uri] = a
            diags = [self._diagnostic(d, doc.lines) for d in a.diagnostics()]
        except Exception as e:          # a bug in mgdsl: say so in the editor rather than fall silent
            traceback.print_exc(file=sys.stderr)
            diags = [T.Diagnostic(range=T.Range(start=T.Position(line=0, character=0), end=T.Position(line=0, character=1)),
                                  message=f"internal error in mgdsl (a bug, not your spec): {e!r}",
                                  severity=T.DiagnosticSeverity.Error, source="mgdsl")]
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diags, version=doc.version))

    def _diagnostic(self, d, lines) -> T.Diagnostic:
        related = []
        for text, span in d.diag.notes:
            from .ide import place
            where = place(span)
            if where is not None:
                related.append(T.DiagnosticRelatedInformation(location=self.location(where), message=text))
        severity = T.DiagnosticSeverity.Warning if d.diag.kind == "warning" else T.DiagnosticSeverity.Error
        return T.Diagnostic(range=self.to_range(d.where, lines), message=d.message, severity=severity,
                            code=d.diag.code, source="mgdsl", related_information=related or None)

    def position(self, uri: str, pos: T.Position) -> tuple[Analysis | None, int, int]:
        a = self.analyses.get(uri)
        if a is None:
            return None, 0, 0
        lines = a.text.splitlines()
        text = lines[pos.line] if pos.line < len(lines) else ""
        return a, pos.line + 1, _chars(text, pos.character)


server = MgServer()


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def _did_open(ls: MgServer, params: T.DidOpenTextDocumentParams):
    ls.refresh(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def _did_change(ls: MgServer, params: T.DidChangeTextDocumentParams):
    ls.refresh(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
def _did_save(ls: MgServer, params: T.DidSaveTextDocumentParams):
    ls.refresh(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
def _did_close(ls: MgServer, params: T.DidCloseTextDocumentParams):
    ls.analyses.pop(params.text_document.uri, None)
    ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))


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
    a = ls.analyses.get(uri)
    if a is None:
        return None
    doc = ls.workspace.get_text_document(uri)
    a.text = doc.source                 # complete on the text as typed, with the last analysis's names
    _, line, col = ls.position(uri, params.position)
    items = [T.CompletionItem(label=c.label, kind=_KIND[c.kind], detail=c.detail or None, insert_text=c.insert)
             for c in completions(a, line, col)]
    return T.CompletionList(is_incomplete=False, items=items)


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def _formatting(ls: MgServer, params: T.DocumentFormattingParams):
    from .errors import Source
    from .lang.format import format_source
    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        new = format_source(Source(doc.path or "untitled.mg", doc.source))
    except MgError:
        return None                      # the diagnostics already show why
    if new == doc.source:
        return []
    end = T.Position(line=len(doc.lines), character=0)
    return [T.TextEdit(range=T.Range(start=T.Position(line=0, character=0), end=end), new_text=new)]


def serve() -> None:
    server.start_io()
