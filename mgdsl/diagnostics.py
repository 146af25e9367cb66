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
import os
import sys
from pathlib import Path, PurePath
from urllib.parse import quote

from .errors import MgError, Span, SpecWarning, diagnostic_classes
from .lang.loader import PRELUDE_PATH, prelude_file
from .version import __version__

# the official schema's own id (OASIS SARIF 2.1.0, errata 01); the tests validate against that file
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"          # SARIF's conventional base for relative paths: here, the folder check ran in


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


def utf8_text(s: str) -> str:
    """A string that encodes as UTF-8: a file name that is not UTF-8 (which Python holds with
    surrogate escapes) shows its bytes as \\xNN, as Python's own messages do."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        try:
            return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:
            return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _clean(x):
    if isinstance(x, str):
        return utf8_text(x)
    if isinstance(x, list):
        return [_clean(v) for v in x]
    if isinstance(x, dict):
        return {utf8_text(k): _clean(v) for k, v in x.items()}
    return x


def _dumps(x) -> str:
    return json.dumps(_clean(x), indent=1, ensure_ascii=False) + "\n"


def write_utf8(text: str) -> None:
    """Write to standard output as UTF-8 whatever the locale (a Windows console or pipe would
    otherwise use its code page)."""
    sys.stdout.flush()
    buf = getattr(sys.stdout, "buffer", None)
    if buf is None:
        sys.stdout.write(text)
    else:
        buf.write(text.encode("utf-8"))
        buf.flush()


def to_json(records: list[dict]) -> str:
    return _dumps(records)


def artifact_location(path: str) -> dict:
    """A SARIF artifactLocation: a relative path as a percent-encoded relative URI reference
    against %SRCROOT% (the folder check ran in), an absolute one as a file:// URI. The bytes of the
    name are encoded, so a name that is not UTF-8 survives; the prelude is named by its real file."""
    real = prelude_file() if path == PRELUDE_PATH else None
    p = Path(real) if real is not None else PurePath(path)
    if p.is_absolute():
        return {"uri": Path(p).as_uri()}
    return {"uri": quote(os.fsencode(p.as_posix()), safe="/"), "uriBaseId": SRCROOT}


def _sarif_location(rec: dict, message: str | None = None) -> dict | None:
    loc: dict = {}
    if rec.get("option"):           # a value given with --set: no place in a file
        message = f"{message} ({rec['option']})" if message else rec["option"]
    elif rec["path"] is not None:
        loc["physicalLocation"] = {"artifactLocation": artifact_location(rec["path"])}
        if rec["line"] is not None:
            loc["physicalLocation"]["region"] = {"startLine": rec["line"], "startColumn": rec["column"],
                                                 "endLine": rec["end_line"], "endColumn": rec["end_column"]}
    if message:
        loc["message"] = {"text": message}
    return loc or None


def to_sarif(records: list[dict]) -> str:
    """A SARIF 2.1.0 log (what GitHub code scanning and most CI dashboards read)."""
    classes = diagnostic_classes()
    rules = [{"id": c.code, "name": c.__name__,
              "shortDescription": {"text": " ".join((c.__doc__ or "").split())},
              "defaultConfiguration": {"level": c.kind}} for c in classes]
    index = {c.code: i for i, c in enumerate(classes)}
    results = []
    for rec in records:
        text = rec["message"] + (f"\nhint: {rec['hint']}" if rec["hint"] else "")
        res: dict = {"ruleId": rec["code"], "ruleIndex": index[rec["code"]], "level": rec["severity"],
                     "message": {"text": text}}
        if (loc := _sarif_location(rec)) is not None:
            res["locations"] = [loc]
        related = [_sarif_location(n, n["message"]) for n in rec["notes"]]
        if related:
            res["relatedLocations"] = [{"id": i, **loc} for i, loc in enumerate(related) if loc is not None]
        results.append(res)
    run: dict = {"tool": {"driver": {"name": "mgdsl", "version": __version__, "rules": rules}},
                 "columnKind": "unicodeCodePoints", "results": results}
    if any(loc.get("physicalLocation", {}).get("artifactLocation", {}).get("uriBaseId") == SRCROOT
           for res in results for loc in res.get("locations", []) + res.get("relatedLocations", [])):
        base = Path.cwd().as_uri()
        run["originalUriBaseIds"] = {SRCROOT: {"uri": base if base.endswith("/") else base + "/"}}
    return _dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]})
