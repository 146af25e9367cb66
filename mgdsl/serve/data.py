"""What `mgdsl serve` shows, computed by mgdsl's own pieces and cached by content; no web framework.

Every spec is checked as `mgdsl check` checks it (`check_spec`), through a loader that reads nothing
outside the root (`security.ConfinedLoader`); costs come from `cost_of`, receptive fields from
`layer_fields`, the diagram and its boxes from the draw back end, the downloads from the functions
`mgdsl cost`, `mgdsl compile` and `mgdsl export` use. A result is cached under the spec's path and
parameters, and stays valid while every file it read has the same bytes (sha256), so an edit to an
imported file is seen as soon as it is saved. The costs, fields and drawings of a result are made
only when asked for, once.

Paths in what this module returns are relative to the root and `/`-separated, diagnostics included.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import Any
from urllib.parse import quote

from pygments.token import STANDARD_TYPES

from ..backends.draw import Layout, analyse, diagram, render
from ..commands.cost import as_csv, as_json, field_json
from ..commands.options import parse_sets
from ..diagnostics import record
from ..errors import MgError, Span, SpecWarning
from ..graph.cost import Cost, Totals, cost_of
from ..graph.receptive import Field, layer_fields
from ..graph.values import size_label
from ..lang import ast as A
from ..lang.loader import PRELUDE_PATH
from ..network import Checked, Network, check_spec
from ..pygments_lexer import MgLexer
from .security import ConfinedLoader, Refused, confine, current_hash, inside, rel_path, text_hash

MAX_RESULTS = 64                  # results kept (a spec with its parameters, or one unsaved text)
REFRESH_RECENT = 600.0            # seconds: results used this recently are redone as soon as a file they read changes
REFRESH_MAX = 4                   # ... at most this many, the most recently used first
THUMB_WIDTH = 240                 # pixels: the gallery's diagrams
DOWNLOADS = {"svg": "image/svg+xml", "png": "image/png", "csv": "text/csv; charset=utf-8",
             "json": "application/json", "py": "text/x-python; charset=utf-8", "onnx": "application/octet-stream"}
ONNX_HINT = "the ONNX download needs the optional extra: pip install 'mgdsl[onnx]'"


class NeedsExtra(Exception):
    """A download that needs an optional dependency that is not installed (the server answers 501)."""


class NotLowered(Exception):
    """A download of a spec that has no valid network (the server answers 422 with the diagnostics)."""

    def __init__(self, diagnostics: list[dict]):
        super().__init__("the spec has errors")
        self.diagnostics = diagnostics


# -- small pieces ---------------------------------------------------------------------------------------
def _sets_key(sets: dict[str, str]) -> tuple:
    return tuple(sorted(sets.items()))


def _value_text(v: Any) -> str:
    """A parameter's value as a spec would write it."""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, (list, tuple)):
        return ", ".join(_value_text(x) for x in v)
    return str(v)


def _span_text(span: Span) -> str:
    """The text a span covers, as written (over several lines too)."""
    if not span.end_line or span.end_line == span.line:
        return span.text()
    lines = span.source.lines()
    first = lines[span.line - 1][span.col - 1:]
    middle = lines[span.line:span.end_line - 1]
    last = lines[span.end_line - 1][:span.end_col - 1] if span.end_line <= len(lines) else ""
    return "\n".join([first, *middle, last])


def _css_class(ttype) -> str:
    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


def source_html(text: str) -> str:
    """The source highlighted by mgdsl's Pygments lexer: one `<span class="line" id="L<n>">` per line
    (lines split at "\\n" only, as the parser counts them), tokens as `<span class="CLASS">` with
    Pygments' short class names (k, nb, c1, ...), so any Pygments style sheet colours them."""
    lexer = MgLexer(stripnl=False, ensurenl=False)
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    out = []
    for n, line in enumerate(lines, 1):
        line = line.removesuffix("\r").replace("\r", " ")     # Pygments would take a lone CR for a line break
        parts = []
        for ttype, value in lexer.get_tokens(line):
            value = value.rstrip("\n") if value.endswith("\n") else value
            if not value:
                continue
            cls = _css_class(ttype)
            parts.append(f'<span class="{cls}">{html.escape(value)}</span>' if cls else html.escape(value))
        out.append(f'<span class="line" id="L{n}">{"".join(parts)}</span>')
    return "\n".join(out) + "\n"


def _shape(size, channels: int) -> list[int]:
    return [channels] if size is None else [channels, size[0], size[1]]


def _grid_shape(size, channels: int) -> list[int]:
    """[h, w, c] of a grid; [c] for a flat vector."""
    return [channels] if size is None else [size[0], size[1], channels]


def _totals(t: Totals) -> dict:
    return {"params": t.params, "macs": t.macs, "other": t.other}


def safe_name(rel: str, sets: dict[str, str], ext: str) -> str:
    """A download's file name: the spec's name, the parameters set, the extension; only [A-Za-z0-9._-]."""
    stem = rel.rsplit("/", 1)[-1].removesuffix(".mg")
    stem += "".join(f"_{k}-{v}" for k, v in sorted(sets.items()))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "network"
    return f"{stem[:120]}.{ext}"


# -- one checked spec ------------------------------------------------------------------------------------
@dataclass
class Result:
    """One spec (or unsaved text) checked with some parameters, and what was computed from it."""
    rel: str
    sets: dict[str, str]
    text: str
    checked: Checked
    deps: dict[str, str | None]                   # real path of every file read -> sha256 of its bytes (None:
                                                  # it could not be read)
    version: str                                  # hash of the files read and the parameters
    unsaved: bool = False                         # checked from text an editor holds (POST /api/preview)
    used: float = 0.0                             # time.monotonic() of its last request
    base: ConfinedLoader | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    parts: dict[str, Any] = field(default_factory=dict)

    @property
    def net(self) -> Network | None:
        return self.checked.net

    def once(self, name: str, make):
        """A part made once (costs, fields, drawings), under the result's lock."""
        with self.lock:
            if name not in self.parts:
                self.parts[name] = make()
            return self.parts[name]


class Workspace:
    """The specs under one root and everything the server shows of them."""

    def __init__(self, root: str, paths: list[str] | None = None):
        self.root = os.path.realpath(root)
        self.paths = [os.path.realpath(p) for p in (paths or [self.root])]
        self._results: OrderedDict[tuple, Result] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    # -- which specs ------------------------------------------------------------------------------------
    def spec_paths(self) -> list[str]:
        """Every .mg file of the served paths (folders walked, hidden folders skipped), root-relative, sorted."""
        found: set[str] = set()
        for p in self.paths:
            if os.path.isfile(p):
                if p.endswith(".mg") and inside(p, self.root):
                    found.add(rel_path(p, self.root))
                continue
            for folder, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
                for f in files:
                    if f.endswith(".mg") and not f.startswith("."):
                        full = os.path.join(folder, f)
                        real = os.path.realpath(full)
                        if inside(real, self.root) and os.path.isfile(real):
                            found.add(rel_path(full, self.root))
        return sorted(found)

    def locate(self, rel: str) -> str:
        """The real path of a spec named in a URL (`Refused` when it is not one under the root)."""
        return confine(self.root, rel)

    # -- checking, cached -------------------------------------------------------------------------------
    def _shown(self, p: str | None) -> str | None:
        """A diagnostic's path, relative to the root when the file is under it."""
        if p is None or p == PRELUDE_PATH or p.startswith("<"):
            return p
        real = os.path.realpath(p)
        return rel_path(real, self.root) if inside(real, self.root) else p

    def record(self, diag: MgError | SpecWarning, rel: str) -> dict:
        """`mgdsl check --format json`'s record of a diagnostic of the spec at `rel`, its paths (and its
        notes') relative to the root; one without a place in a file is the spec's."""
        rec = record(diag, rel)
        for where, span in [(rec, diag.span)] + list(zip(rec["notes"], (sp for _, sp in diag.notes))):
            if span is not None and where["path"] != rel:
                where["path"] = self._shown(where["path"])
        return rec

    def records(self, res: Result) -> list[dict]:
        return [self.record(d, res.rel) for d in res.checked.diagnostics]

    def result(self, rel: str, sets: dict[str, str] | None = None, text: str | None = None) -> Result:
        """The spec at `rel` checked with `sets`; `text`: unsaved text checked as if it were that file."""
        real = self.locate(rel)
        sets = dict(sets or {})
        key = (rel, _sets_key(sets), None if text is None else text_hash(text.encode("utf-8")))
        with self._lock:
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            with self._lock:
                cached = self._results.get(key)
            if cached is not None and all(current_hash(p, self.root) == h for p, h in cached.deps.items()
                                          if text is None or p != real):
                with self._lock:
                    self._results.move_to_end(key)
                cached.used = time.monotonic()
                return cached
            res = self._check(rel, real, sets, text)
            res.used = time.monotonic()
            with self._lock:
                self._results[key] = res
                while len(self._results) > MAX_RESULTS:
                    old, _ = self._results.popitem(last=False)
                    self._key_locks.pop(old, None)
            return res

    def _check(self, rel: str, real: str, sets: dict[str, str], text: str | None) -> Result:
        loader = ConfinedLoader(self.root, {real: text} if text is not None else None)
        try:
            params = parse_sets([f"{k}={v}" for k, v in sets.items()])
        except MgError as e:
            checked = Checked([e])
        else:
            checked = check_spec(_as_named(real), params, loader=loader)
        main = loader.unsaved.get(real, text if text is not None else "")
        deps = dict(loader.read)
        version = hashlib.sha256(json.dumps([sorted(deps.items()), _sets_key(sets)]).encode()).hexdigest()[:16]
        return Result(rel, sets, main, checked, deps, version, unsaved=text is not None, base=loader)

    def _readers(self, rel: str) -> list[Result]:
        """The cached results that read (or tried to read) the file at `rel`, the most recently used first."""
        real = os.path.realpath(os.path.join(self.root, rel))
        with self._lock:
            found = [r for r in self._results.values() if real in r.deps]
        return sorted(found, key=lambda r: -r.used)

    def dependents(self, rel: str) -> list[str]:
        """The specs whose cached results read the file at `rel` (itself included when it is a spec)."""
        return sorted({r.rel for r in self._readers(rel)} | {rel})

    def refresh(self, rel: str) -> list[str]:
        """After the file at `rel` changed: redo the few results read from it that were used lately (the
        spec a page shows), so that the page's next request finds them done; then `dependents`."""
        now = time.monotonic()
        for r in [r for r in self._readers(rel) if not r.unsaved and now - r.used < REFRESH_RECENT][:REFRESH_MAX]:
            try:
                self.spec_json(r.rel, r.sets)
            except Refused:                       # removed
                pass
        return self.dependents(rel)

    # -- the parts of a result --------------------------------------------------------------------------
    def cost(self, res: Result) -> Cost:
        assert res.net is not None
        return res.once("cost", lambda: cost_of(res.net.graph))

    def fields(self, res: Result) -> dict[str, dict[str, Field]]:
        assert res.net is not None
        return res.once("fields", lambda: layer_fields(res.net.graph))

    def drawing(self, res: Result) -> dict:
        """{"layout", "svg"} of the layers diagram, or {"error": record} when it cannot be drawn."""
        def make():
            G = res.net.graph
            try:
                dot = diagram(G)
                svg = render(dot, "svg").decode("utf-8")
            except MgError as e:
                return {"error": self.record(e, res.rel)}
            return {"layout": analyse(G), "dot": dot, "svg": svg}
        assert res.net is not None
        return res.once("drawing", make)

    def _parameters(self, res: Result) -> list[dict]:
        mod = res.checked.module
        if mod is None or mod.network is None:
            return []
        written: dict[str, str] = {}               # the nearest `from` line's value wins, as in lowering
        net: A.NetworkDef = mod.network
        loader = res.base
        while net.base is not None:
            for p in net.params:
                if p.default is not None:
                    written.setdefault(p.name, _span_text(p.default.span))
            try:
                mod = loader.base_of(mod) if loader is not None else None
            except KeyError:                      # the base did not load: its error is a diagnostic
                mod = None
            if mod is None or mod.network is None:
                break
            net = mod.network
        values = res.net.graph.info.params if res.net is not None else {}
        out = []
        for p in net.params if net.base is None else []:
            default = written.get(p.name, _span_text(p.default.span) if p.default is not None else "")
            value = _value_text(values[p.name]) if p.name in values else res.sets.get(p.name, default)
            out.append({"name": p.name, "default": default, "value": value})
        return out

    def _layers(self, res: Result) -> list[dict]:
        assert res.net is not None
        G = res.net.graph
        by_layer, fields = self.cost(res).by("layer"), self.fields(res)
        out = []
        for rec in G.info.layers:
            t = by_layer.get(rec.path, Totals())
            out.append({"path": rec.path, "type": rec.type, "section": rec.section,
                        "file": self._shown(rec.span.path) if rec.span else None,
                        "line": rec.span.line if rec.span else None,
                        "grids_in": [_grid_shape(s, c) for s, c in rec.grids_in],
                        "grids_out": [_grid_shape(s, c) for s, c in rec.grids_out],
                        **_totals(t),
                        "receptive_field": {g: field_json(f) for g, f in fields.get(rec.path, {}).items()}})
        return out

    def _boxes(self, res: Result, layout: Layout) -> dict[str, dict]:
        """Each box of the diagram: the layers of its column, its grid and shape, the params and MACs
        of those layers on that grid, the receptive field of the tensor it stands for, its line."""
        per: dict[tuple[str, str], Totals] = {}
        for c in self.cost(res).nodes:
            per.setdefault((c.layer, c.grid), Totals()).add(c)
        fields = self.fields(res)
        out = {}
        for col in layout.columns:
            paths = [r.path for r in col.records] or ["input"]
            first = col.records[0] if col.records else None
            for b in col.boxes:
                grid = size_label(b.size)
                t = Totals()
                for p in paths:
                    if (p, grid) in per:
                        _add(t, per[(p, grid)])
                f = fields.get(paths[-1], {}).get(grid)
                out[b.id] = {"layer": paths[0] if len(paths) == 1 else f"{paths[0]} .. {paths[-1]}",
                             "layers": paths, "type": first.type if first else "input", "kind": col.kind,
                             "section": col.section, "grid": grid, "shape": _shape(b.size, b.channels),
                             "count": max(len(col.records), 1), **_totals(t),
                             "receptive_field": field_json(f) if f is not None else None,
                             "file": self._shown(first.span.path) if first and first.span else None,
                             "line": first.span.line if first and first.span else None}
        return out

    # -- the JSON of the API ----------------------------------------------------------------------------
    def spec_json(self, rel: str, sets: dict[str, str] | None = None, text: str | None = None, *,
                  source: bool = True, svg: bool = True) -> dict:
        res = self.result(rel, sets, text)
        out: dict[str, Any] = {"path": rel, "name": None, "version": res.version}
        mod = res.checked.module
        if mod is not None and mod.network is not None:
            out["name"] = mod.network.name
        if source:
            out["text"] = res.text
            out["html"] = source_html(res.text)
        out["diagnostics"] = self.records(res)
        out["parameters"] = self._parameters(res)
        out["imports"] = sorted(self._shown(p) or p for p in res.deps if p != os.path.realpath(self.locate(rel)))
        out["ok"] = res.checked.ok
        out["units"] = res.checked.units
        net = res.net
        if net is None:
            return out
        G, c = net.graph, self.cost(res)
        out["name"] = net.name
        out["summary"] = {"params": c.params, "macs": c.macs, "flops": c.flops, "other": c.other,
                          "input": list(net.input_shape), "outputs": [list(s) for s in net.output_shapes],
                          "outputs_text": net.outputs_text, "grids": [size_label(s) for s in G.info.grids]}
        out["layers"] = self._layers(res)
        out["receptive_fields"] = bool(self.fields(res)) or not G.info.layers
        out["by_section"] = {k: _totals(t) for k, t in c.by("section").items()}
        out["by_grid"] = {k: _totals(t) for k, t in c.by("grid").items()}
        drawn = self.drawing(res)
        if "error" in drawn:
            out["diagram"] = {"svg": None, "boxes": {}, "error": drawn["error"]}
        else:
            out["diagram"] = {"boxes": self._boxes(res, drawn["layout"])}
            if svg:
                out["diagram"]["svg"] = drawn["svg"][drawn["svg"].index("<svg"):]
        return out

    def gallery(self) -> list[dict]:
        out = []
        for rel in self.spec_paths():
            try:
                res = self.result(rel)
            except Refused:                       # removed since the walk
                continue
            recs = self.records(res)
            net = res.net
            status = ("error" if not res.checked.ok else "units" if res.checked.units is not None
                      else "warning" if recs else "ok")
            mod = res.checked.module
            name = net.name if net is not None else mod.network.name if mod is not None and mod.network else None
            out.append({"path": rel, "name": name, "status": status,
                        "params": net.num_params if net is not None else None,
                        "macs": net.macs if net is not None else None,
                        "outputs": net.outputs_text if net is not None else "",
                        "grids": [size_label(s) for s in net.graph.info.grids] if net is not None else [],
                        "diagnostics": recs,
                        "thumb": f"/api/thumb/{quote(rel, safe='/')}?v={res.version}" if net is not None else None})
        return out

    def thumb(self, rel: str, sets: dict[str, str] | None = None) -> tuple[bytes, str]:
        """(a small SVG of the layers diagram, the version it was made from)."""
        res = self.result(rel, sets)
        if res.net is None:
            raise NotLowered(self.records(res))
        drawn = self.drawing(res)
        if "error" in drawn:
            raise NotLowered([drawn["error"]])

        def make() -> bytes:
            svg = drawn["svg"]
            m = re.search(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg)
            if m is None:
                return svg.encode("utf-8")
            w, h = float(m.group(1)), float(m.group(2))
            tw = min(THUMB_WIDTH, w)
            th = h * tw / w if w else h
            return (svg[:m.start()] + f'<svg width="{tw:.0f}px" height="{th:.0f}px"' + svg[m.end():]).encode("utf-8")
        return res.once("thumb", make), res.version

    def compare(self, a: str, sets_a: dict[str, str], b: str, sets_b: dict[str, str]) -> dict:
        ja = self.spec_json(a, sets_a, source=False, svg=False)
        jb = self.spec_json(b, sets_b, source=False, svg=False)
        diff: dict[str, Any] = {}
        if ja["ok"] and jb["ok"] and "summary" in ja and "summary" in jb:
            sa, sb = ja["summary"], jb["summary"]
            diff["total"] = {k: sb[k] - sa[k] for k in ("params", "macs")}
            for group in ("by_section", "by_grid"):
                keys = list(ja[group]) + [k for k in jb[group] if k not in ja[group]]
                zero = {"params": 0, "macs": 0}
                diff[group] = {k: {m: jb[group].get(k, zero)[m] - ja[group].get(k, zero)[m] for m in ("params", "macs")}
                               for k in keys}
        return {"a": ja, "b": jb, "diff": diff}

    def download(self, rel: str, ext: str, sets: dict[str, str] | None = None) -> tuple[bytes, str, str]:
        """(bytes, media type, file name) of a download; NotLowered, NeedsExtra, or KeyError for an
        unknown extension."""
        media = DOWNLOADS[ext]
        sets = dict(sets or {})
        res = self.result(rel, sets)
        net = res.net
        if net is None:
            raise NotLowered(self.records(res))
        name = safe_name(rel, sets, ext)
        if ext in ("svg", "png"):
            drawn = self.drawing(res)
            if "error" in drawn:
                raise NotLowered([drawn["error"]])
            data = drawn["svg"].encode("utf-8") if ext == "svg" else res.once("png", lambda: render(drawn["dot"], "png"))
        elif ext == "csv":
            data = as_csv([(rel, self.cost(res), net.graph)], "layer").encode("utf-8")
        elif ext == "json":
            data = as_json([(rel, self.cost(res), net.graph)]).encode("utf-8")
        elif ext == "py":
            data = res.once("py", net.python_source).encode("utf-8")
        else:
            data = res.once("onnx", lambda: _onnx(net))
        return data, media, name


def _as_named(real: str) -> str:
    """A spec's path as `mgdsl check` run here would name it: relative to the working folder when the
    file is under it (`mgdsl serve` works in the root), so messages quote the same paths."""
    rel = os.path.relpath(real)
    return real if rel.startswith("..") else rel


def _add(t: Totals, other: Totals) -> None:
    t.params += other.params
    t.macs += other.macs
    t.other += other.other
    t.activations += other.activations


def _onnx(net: Network) -> bytes:
    """The network as ONNX, written in a temporary folder that is removed at once."""
    if any(find_spec(m) is None for m in ("torch", "onnx", "onnxscript")):
        raise NeedsExtra(ONNX_HINT)
    with tempfile.TemporaryDirectory(prefix="mgdsl-serve-") as d:
        path = os.path.join(d, "network.onnx")
        net.export(path)
        with open(path, "rb") as f:
            return f.read()
