"""Errors and warnings as data: one record per diagnostic, for `mgdsl check --format json|sarif` and
for the language server. A record carries what the text report shows (``path:line:col``, message,
hint, notes) plus the end of the span and the class's stable code.

Lines and columns are 1-based and count characters, as in the text report; ``end_column`` is the
column just after the last character of the span (exclusive), so a one-character span at column 5
has ``end_column`` 6. A diagnostic without a place in a file (a missing file, a bad option) has
``line`` and ``column`` null.
"""
from __future__ import annotations

import json
from pathlib import PurePath

from .errors import MgError, Span, SpecWarning, diagnostic_classes

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def span_range(span: Span | None) -> dict:
    """{line, column, end_line, end_column} of a span (nulls for none)."""
    if span is None or span.source.path.startswith("<--set"):
        return {"line": None, "column": None, "end_line": None, "end_column": None}
    end_line, end_col = span.end
    return {"line": span.line, "column": span.col, "end_line": end_line, "end_column": end_col}


def _where(span: Span | None, path: str | None) -> dict:
    if span is not None and span.source.path.startswith("<--set"):
        return {"path": path, **span_range(None), "option": span.source.path[1:-1]}
    return {"path": span.path if span is not None else path, **span_range(span)}


def record(diag: MgError | SpecWarning, path: str | None = None) -> dict:
    """One diagnostic as a JSON-ready dict; `path` names the spec when the diagnostic has no span."""
    out = {**_where(diag.span, path), "severity": diag.kind, "code": diag.code, "message": diag.message,
           "hint": diag.hint, "notes": [{"message": text, **_where(sp, path)} for text, sp in diag.notes]}
    return out


def check_spec(path: str, params: dict | None = None):
    """Check one spec as `mgdsl check` does: (diagnostics, network or None, the unit names of a file
    that only defines units, else None). An MgError does not escape: it becomes the one diagnostic."""
    from . import load
    from .lang.loader import Loader
    from .network import check_unit_names
    loader = Loader()
    try:
        mod = loader.load(path)
        if mod.network is None and mod.units:       # a library of units: parsed and name-checked
            check_unit_names(loader.modules.values())
            return [], None, [u.name for u in mod.units]
        net = load(path, _loader=loader, **(params or {}))
    except MgError as e:
        return [e], None, None
    return list(net.warnings), net, None


def to_json(records: list[dict]) -> str:
    return json.dumps(records, indent=1, ensure_ascii=False) + "\n"


def _uri(path: str) -> str:
    return PurePath(path).as_posix()


def _sarif_location(rec: dict, message: str | None = None) -> dict:
    loc: dict = {"physicalLocation": {"artifactLocation": {"uri": _uri(rec["path"] or "")}}}
    if rec["line"] is not None:
        loc["physicalLocation"]["region"] = {"startLine": rec["line"], "startColumn": rec["column"],
                                             "endLine": rec["end_line"], "endColumn": rec["end_column"]}
    if message:
        loc["message"] = {"text": message}
    return loc


def to_sarif(records: list[dict]) -> str:
    """A SARIF 2.1.0 log (what GitHub code scanning and most CI dashboards read)."""
    from . import __version__
    classes = diagnostic_classes()
    rules = [{"id": c.code, "name": c.__name__,
              "shortDescription": {"text": " ".join((c.__doc__ or "").split())},
              "defaultConfiguration": {"level": c.kind}} for c in classes]
    index = {c.code: i for i, c in enumerate(classes)}
    results = []
    for rec in records:
        text = rec["message"] + (f"\nhint: {rec['hint']}" if rec["hint"] else "")
        res = {"ruleId": rec["code"], "ruleIndex": index[rec["code"]], "level": rec["severity"],
               "message": {"text": text}, "locations": [_sarif_location(rec)]}
        if rec["notes"]:
            res["relatedLocations"] = [{"id": i, **_sarif_location(n, n["message"])} for i, n in enumerate(rec["notes"])]
        results.append(res)
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "mgdsl", "version": __version__, "rules": rules}},
                     "columnKind": "unicodeCodePoints", "results": results}]}
    return json.dumps(log, indent=1, ensure_ascii=False) + "\n"
