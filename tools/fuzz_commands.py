"""What every mgdsl command must do with a spec, checked inside a fuzzing worker (tools/fuzz_specs.py).

`check` alone is judged by the fuzzer itself (on which line the error is). This module runs the other
commands on the same file, each through `mgdsl.cli.main` exactly as the command line does, and says
what is wrong with each outcome:

  check --format json   valid UTF-8 JSON, one record per diagnostic with its fields and types, the same
                        exit status as the text report and the same place for the first error
  check --format sarif  a SARIF 2.1.0 log (checked against the schema when one is given, otherwise
                        its structure), one result per JSON record
  cost                  every format (table, md, csv, json, latex) and grouping (--by layer, grid,
                        section): exit 0 for a valid spec, the check's error for a bad one; JSON and
                        CSV that parse, and groups that add up to the totals
  draw                  .svg (XML), .png (a PNG), .dot (a digraph); the check's error for a bad spec
  compile -o FILE.py    Python that compiles; when the network is small enough (sampled), its
                        build() loaded with the weights of mgdsl's build() gives the same outputs,
                        and so does build(optimize=False), whose parameters and MACs (torch's
                        counters) are exactly what `cost` says
  export                .pt2 and .onnx (sampled): loaded with torch.export and onnxruntime, the same
                        outputs as mgdsl's build() with the same weights, in eval mode
  fmt                   idempotent (fmt of the result changes nothing, and `fmt --check` agrees),
                        the same network afterwards (same check outcome, same cost JSON, same generated
                        code), the same text through `-` (stdin); a file it cannot format, or need not
                        change, is left byte for byte as it was, mode and mtime included

Any traceback (exit 70), any exit status other than 0, 1 (a located user error) or, for usage
mistakes, 2 is wrong everywhere. What each command costs in CPU time is bounded by the worker's
caller, which gets a `start` message before every command.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import importlib.util
import io
import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

COMMANDS = ("check", "json", "sarif", "cost", "draw", "compile", "export", "fmt")
COST_FORMATS = ("table", "md", "csv", "json", "latex")
COST_BY = (None, "layer", "grid", "section")
DRAW_FORMATS = ("svg", "png", "dot")
RECORD_KEYS = {"path": (str, type(None)), "line": (int, type(None)), "column": (int, type(None)),
               "end_line": (int, type(None)), "end_column": (int, type(None)), "severity": (str,),
               "code": (str,), "message": (str,), "hint": (str, type(None)), "notes": (list,)}
SARIF_LEVELS = {"none", "note", "warning", "error"}

# the head of an error, warning or note in a text report: PATH:LINE:COL: KIND: MESSAGE
HEAD = re.compile(r"^(?P<path>[^\n]*?):(?P<line>\d+):(?P<col>\d+): (?P<kind>error|warning|note): (?P<msg>.*)$", re.M)


@dataclass
class Sampling:
    """How often the expensive commands run, and on what (the driver's flags)."""
    cost_formats: int = 2          # cost format/--by combinations per spec besides json (of 20)
    draw_formats: int = 1          # draw formats per spec (of svg, png, dot)
    compile_run: float = 1.0       # share of small valid specs whose compiled code is run and compared
    export: float = 0.05           # share of small valid specs exported (.pt2 and .onnx, one each, at random)
    max_macs: float = 20e6         # "small": at most this many MACs (after shrinking with --set) ...
    max_params: float = 2e6        # ... and parameters
    tolerance: float = 1e-3        # outputs may differ by this times the largest output magnitude (+1e-5)
    sarif_schema: str | None = None


@dataclass
class Outcome:
    """One command's result: what ran, how long, and what is wrong with it (None: nothing)."""
    cmd: str
    argv: list[str]
    rc: int
    bad: str | None = None
    err: str = ""
    cpu: float = 0.0
    secs: float = 0.0


@dataclass
class Result:
    rc: int
    out: bytes
    err: str


def cli(argv: list[str], stdin: bytes | None = None) -> Result:
    """`mgdsl ARGV` in this process: exit status, standard output as bytes (written through a strict
    UTF-8 stream, as a terminal or pipe in a UTF-8 locale takes it) and standard error."""
    from mgdsl.cli import main
    out_bytes = io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", newline="\n", write_through=True)
    err = io.StringIO()
    old = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except MemoryError:
                rc = -2
                err.write("MemoryError escaped main()\n")
            except RecursionError:
                rc = -3
                err.write("RecursionError escaped main()\n")
            out.flush()
    finally:
        sys.stdin = old
    return Result(rc, out_bytes.getvalue(), err.getvalue())


def shown_path(path: str) -> str:
    """A path as mgdsl prints it: a byte of the name that is not UTF-8 (a lone surrogate in Python) as \\xNN."""
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else c for c in path)


def first_error(report: str) -> tuple[str, int, int, str] | None:
    """(path, line, column, message) of the first error in a text report (captured in this process, where
    a name that is not UTF-8 is still held as surrogates: shown as mgdsl's own output shows it)."""
    for h in HEAD.finditer(report):
        if h["kind"] == "error":
            return os.path.normpath(shown_path(h["path"])), int(h["line"]), int(h["col"]), h["msg"]
    return None


def _rc_problem(rc: int, err: str, allowed=(0, 1)) -> str | None:
    if rc == 70:
        return "traceback (exit 70)"
    if rc < 0:
        return {-2: "memory exhausted", -3: "recursion error escaped"}.get(rc, f"exit {rc}")
    if rc not in allowed:
        return f"exit {rc}"
    return None


def _same_error(check_err: str, err: str, cmd: str) -> str | None:
    """A command that fails on a spec must fail as `check` does: the same first error, same place."""
    want, got = first_error(check_err), first_error(err)
    if want is None:
        return None if got is not None or err.startswith("mgdsl: error") else f"{cmd} failed without an error"
    if got is None:
        return f"{cmd} failed without a located error (check reports {want[0]}:{want[1]}:{want[2]})"
    if got[:3] != want[:3] and got[3] != want[3]:
        return f"{cmd} reports {got[0]}:{got[1]}:{got[2]} ({got[3][:60]}), check {want[0]}:{want[1]}:{want[2]}"
    return None


# -- check --format json / sarif ---------------------------------------------------------------------------------
def judge_json(out: bytes, rc: int, text_rc: int, text_err: str, lines: dict[str, list[str]]) -> str | None:
    """What is wrong with `check --format json`'s output, given the text report of the same spec;
    `lines` maps a normalised path to its lines, to check the ranges that point into it."""
    try:
        records = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return f"not UTF-8 JSON: {e}"
    if rc != text_rc:
        return f"exit {rc}, the text report exits {text_rc}"
    if not isinstance(records, list):
        return "not a JSON array"
    for r in records:
        if not isinstance(r, dict):
            return "a record that is not an object"
        for k, types in RECORD_KEYS.items():
            if k not in r:
                return f"a record without {k!r}"
            if not isinstance(r[k], types) or isinstance(r[k], bool):
                return f"{k!r} of type {type(r[k]).__name__}"
        if r["severity"] not in ("error", "warning"):
            return f"severity {r['severity']!r}"
        bad = _range_problem(r, lines)
        if bad:
            return bad
        for n in r["notes"]:
            if not isinstance(n, dict) or "message" not in n or "line" not in n:
                return "a note without message or line"
            bad = _range_problem(n, lines)
            if bad:
                return "note: " + bad
    errors = [r for r in records if r["severity"] == "error"]
    if rc == 1 and not errors:
        return "exit 1 but no error record"
    if rc == 0 and errors:
        return "exit 0 with an error record"
    want = first_error(text_err)
    if want and errors:
        e = errors[0]
        got = (os.path.normpath(e["path"] or ""), e["line"], e["column"])
        if got != want[:3]:
            return f"first error at {got}, the text report at {want[:3]}"
        if e["message"] != want[3]:
            return f"first error says {e['message'][:60]!r}, the text report {want[3][:60]!r}"
    return None


def _range_problem(r: dict, lines: dict[str, list[str]]) -> str | None:
    if r["line"] is None:
        return None if r["column"] is None and r["end_line"] is None else "a column without a line"
    if not all(isinstance(r[k], int) and not isinstance(r[k], bool)
               for k in ("line", "column", "end_line", "end_column")):
        return "a range with a null part"
    if r["line"] < 1 or r["column"] < 1:
        return f"range starts at {r['line']}:{r['column']}"
    if (r["end_line"], r["end_column"]) < (r["line"], r["column"]):
        return f"range ends at {r['end_line']}:{r['end_column']} before it starts at {r['line']}:{r['column']}"
    text = lines.get(os.path.normpath(r["path"] or ""))
    if text is not None:
        if r["line"] > len(text) + 1:
            return f"line {r['line']} is past the end ({len(text)} lines)"
        if r["line"] <= len(text) and r["column"] > len(text[r["line"] - 1]) + 1:
            return f"column {r['column']} is past the end of line {r['line']} ({len(text[r['line'] - 1])} characters)"
    return None


_SARIF_VALIDATOR = {}


def judge_sarif(out: bytes, json_out: bytes, schema: str | None) -> str | None:
    try:
        log = json.loads(out.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return f"not UTF-8 JSON: {e}"
    if schema:
        if schema not in _SARIF_VALIDATOR:
            import jsonschema
            with open(schema, encoding="utf-8") as f:
                s = json.load(f)
            _SARIF_VALIDATOR[schema] = jsonschema.validators.validator_for(s)(s)
        errs = sorted(_SARIF_VALIDATOR[schema].iter_errors(log), key=lambda e: list(e.path))
        if errs:
            return f"not SARIF 2.1.0: {errs[0].message[:120]} at {'/'.join(map(str, errs[0].path))}"
    try:
        if log.get("version") != "2.1.0" or len(log["runs"]) != 1:
            return "not a SARIF 2.1.0 log with one run"
        run = log["runs"][0]
        rules = run["tool"]["driver"]["rules"]
        ids = [r["id"] for r in rules]
        results = run["results"]
        records = json.loads(json_out.decode("utf-8")) if json_out else None
        if records is not None and len(records) != len(results):
            return f"{len(results)} results, {len(records)} JSON records"
        for res in results:
            if res["ruleId"] not in ids:
                return f"ruleId {res['ruleId']!r} is not a rule"
            if "ruleIndex" in res and ids[res["ruleIndex"]] != res["ruleId"]:
                return "ruleIndex names another rule"
            if res.get("level", "warning") not in SARIF_LEVELS:
                return f"level {res['level']!r}"
            if not isinstance(res["message"]["text"], str) or not res["message"]["text"]:
                return "a result without message text"
            for loc in res.get("locations", []) + res.get("relatedLocations", []):
                region = loc["physicalLocation"].get("region")
                if region is None:
                    continue
                if any(not isinstance(region.get(k), int) or region[k] < 1
                       for k in ("startLine", "startColumn", "endLine", "endColumn") if k in region):
                    return f"a region with a part below 1 or not an integer: {region}"
                if (region.get("endLine", region["startLine"]), region.get("endColumn", 10**9)) < \
                        (region["startLine"], region.get("startColumn", 1)):
                    return f"a region that ends before it starts: {region}"
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        return f"not a SARIF log: {type(e).__name__} {e}"
    return None


# -- cost -------------------------------------------------------------------------------------------------------
def judge_cost(fmt: str, by: str | None, out: bytes) -> str | None:
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"output that is not UTF-8: {e}"
    if not text.strip():
        return "printed nothing"
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as e:
            return f"not JSON: {e}"
        for spec in data:
            for key in ("layer", "grid", "section"):
                groups = spec[f"by_{key}"]
                for what in ("params", "macs"):
                    total = sum(g[what] for g in groups.values())
                    if total != spec[what]:
                        return f"by_{key} {what} add up to {total}, the total is {spec[what]}"
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        if len(rows) < 2 or any(len(r) != len(rows[0]) for r in rows):
            return "CSV rows of different lengths"
    elif fmt == "md":
        for table in re.findall(r"(?:^\|.*\n)+", text, re.M):     # each table: a run of | lines
            if len({len(re.findall(r"(?<!\\)\|", ln)) for ln in table.splitlines()}) > 1:
                return "Markdown rows of different lengths"
    elif fmt == "latex":
        if text.count(r"\begin{tabular}") != text.count(r"\end{tabular}"):
            return "unbalanced tabular"
    return None


# -- draw -------------------------------------------------------------------------------------------------------
def judge_drawing(fmt: str, data: bytes) -> str | None:
    if fmt == "png":
        return None if data.startswith(b"\x89PNG\r\n\x1a\n") else "not a PNG"
    if fmt == "svg":
        try:
            root = ET.fromstring(data)
        except ET.ParseError as e:
            return f"SVG that is not XML: {e}"
        return None if root.tag.endswith("svg") else f"root element {root.tag}"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "DOT that is not UTF-8"
    return None if re.match(r"\s*(strict\s+)?digraph\b", text) else "DOT without a digraph"


# -- running networks -------------------------------------------------------------------------------------------
def _torch():
    import torch
    torch.set_num_threads(1)
    return torch


def _flat(y) -> list:
    return [t for item in y for t in _flat(item)] if isinstance(y, (tuple, list)) else [y]


def compare(got, want, tol: float) -> str | None:
    """None if the outputs agree within tol times the largest magnitude of `want` (plus 1e-5)."""
    got, want = _flat(got), _flat(want)
    if len(got) != len(want):
        return f"{len(got)} outputs, build() gives {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        g = g.detach().float()
        if tuple(g.shape) != tuple(w.shape):
            return f"output {i} has shape {tuple(g.shape)}, build() gives {tuple(w.shape)}"
        if not bool(w.isfinite().all()):
            continue                        # the reference itself overflowed: nothing to compare
        scale = float(w.abs().max()) if w.numel() else 0.0
        worst = float((g - w).abs().max()) if w.numel() else 0.0
        if not math.isfinite(worst) or worst > tol * scale + 1e-5:
            return f"output {i} differs by {worst:.3g} (largest |output| {scale:.3g})"
    return None


def reference(path: str, sets: dict, seed: int):
    """mgdsl's own module for the spec, eval mode, with batch norm statistics that are not the identity
    (so that folding and export are tested on something), an input batch and its outputs."""
    import mgdsl
    torch = _torch()
    net = mgdsl.load(path, **sets)
    torch.manual_seed(seed)
    model = net.build()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=gen) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
    model.eval()
    x = torch.randn(2, *net.input_shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    return net, model, x, y


def in_float64(model, x):
    """The outputs of a copy of `model` in float64 (the input too)."""
    torch = _torch()
    with torch.no_grad():
        return copy.deepcopy(model).double()(x.double())


def conditioned(why: str | None, a, b, x, tol: float) -> str | None:
    """`why` (two float32 modules disagree on x), unless they agree in float64: then the difference is
    float32 rounding that the network itself magnifies (a norm over a nearly constant signal), not a
    wrong computation."""
    if why is None or compare(in_float64(a, x), in_float64(b, x), tol) is not None:
        return why
    return None


def run_compiled(source_path: str, state: dict, x, model_only: bool = False):
    torch = _torch()
    name = f"_fuzz_compiled_{os.getpid()}"
    spec = importlib.util.spec_from_file_location(name, source_path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
        model = mod.build()
        model.load_state_dict(state)
        model.eval()
        if model_only:
            return model
        with torch.no_grad():
            return model(x)
    finally:
        sys.modules.pop(name, None)


def run_exported(path: str, x):
    torch = _torch()
    if path.endswith(".onnx"):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return [torch.from_numpy(o) for o in sess.run(None, {name: x.numpy()})]
    module = torch.export.load(path).module()
    with torch.no_grad():
        return module(x)


def plain_build(net, model, x, y, tol: float) -> str | None:
    """build(optimize=False), one op per node, with the same weights: the same outputs as build(), and
    exactly the parameters and MACs that `cost` counts (torch's parameter count and FLOP counter)."""
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode
    plain = net.build(optimize=False)
    plain.load_state_dict(model.state_dict())
    plain.eval()
    with torch.no_grad():
        why = conditioned(compare(plain(x), y, tol), plain, model, x, tol)
        if why:
            return f"build(optimize=False) and build() disagree: {why}"
        params = sum(p.numel() for p in plain.parameters())
        if params != net.num_params:
            return f"cost counts {net.num_params} parameters, the module has {params}"
        with FlopCounterMode(display=False) as counter:
            plain(x[:1])
    macs = counter.get_total_flops() // 2
    if macs != net.macs:
        return f"cost counts {net.macs} MACs, torch's FLOP counter {macs} (batch 1, build(optimize=False))"
    return None


def helper_task(req: dict) -> dict:
    """One torch step, in the helper process: {why, err, argv, rc}."""
    import traceback
    try:
        if req["do"] == "compile_run":
            net, model, x, y = reference(req["path"], req["sets"], req["seed"])
            why = plain_build(net, model, x, y, req["tol"])
            if why:
                return {"why": why}
            try:
                got = run_compiled(req["source"], model.state_dict(), x)
            except Exception as e:      # the code mgdsl wrote does not build, load the weights or run
                return {"why": f"the compiled code fails: {type(e).__name__}: {str(e)[:200]}",
                        "err": traceback.format_exc()}
            why = compare(got, y, req["tol"])
            if why:
                compiled = run_compiled(req["source"], model.state_dict(), x, model_only=True)
                why = conditioned(why, compiled, model, x, req["tol"])
            return {"why": why}
        torch = _torch()
        _, model, x, y = reference(req["path"], req["sets"], req["seed"])
        state_file = os.path.join(req["out_dir"], "weights.pt")
        torch.save(model.state_dict(), state_file)
        target = os.path.join(req["out_dir"], "net" + req["fmt"])
        if os.path.exists(target):
            os.unlink(target)
        set_args = [a for k, v in req["sets"].items() for a in ("--set", f"{k}={v}")]
        argv = ["export", req["path"], "-o", target, "--weights", state_file] + set_args
        res = cli(argv)
        why = _rc_problem(res.rc, res.err, (0,))
        if why:
            return {"why": why, "err": res.err, "argv": argv, "rc": res.rc}
        try:
            got = run_exported(target, x)
        except Exception as e:          # the exported file does not load or run
            return {"why": f"the {req['fmt']} file fails: {type(e).__name__}: {str(e)[:200]}",
                    "err": traceback.format_exc(), "argv": argv}
        return {"why": compare(got, y, req["tol"]), "argv": argv}
    except MemoryError:
        return {"why": "memory exhausted", "err": traceback.format_exc()}
    except Exception as e:              # mgdsl's own build() failed on a spec that checks
        return {"why": f"build() fails: {type(e).__name__}: {str(e)[:200]}", "err": traceback.format_exc()}


def helper_main(memory_mb: int) -> None:
    """The torch helper: imports torch (and onnx, onnxruntime), then limits its address space to what
    those map plus `memory_mb`, and answers one JSON request per line."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))      # the worker's soft limit is not for torch
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    _torch()
    with contextlib.suppress(ImportError):
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    import mgdsl.backends.export  # noqa: F401
    import mgdsl.backends.torch_source  # noqa: F401
    if memory_mb:
        with open("/proc/self/status") as f:
            vm = next((int(ln.split()[1]) for ln in f if ln.startswith("VmSize:")), 0) << 10
        limit = vm + (memory_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    set_prelude = prelude_seam()
    proto.write("{}\n")
    for line in sys.stdin:
        req = json.loads(line)
        set_prelude(req.get("prelude"))
        c0 = __import__("time").process_time()
        reply = helper_task(req)
        reply["cpu"] = __import__("time").process_time() - c0
        proto.write(json.dumps(reply) + "\n")


HELPER_CALLS = 100          # a helper is replaced after this many steps (torch's caches and arenas only grow)
EXHAUSTED = re.compile(r"memory|allocat|could not create a primitive|died|MemoryError", re.I)


class TorchHelper:
    """A process beside the worker for the steps that need torch (running compiled code, export), so
    that the worker never imports torch: torch alone maps about 650 MB of address space, which would
    leave a 1 GB worker too little for the checks. The helper gets --memory-mb on top of what torch,
    onnx and onnxruntime map, and the same CPU limit per step, which this side enforces."""

    def __init__(self, base: Path, limit: float, memory_mb: int):
        import subprocess
        self.limit, self.memory_mb, self.base = limit, memory_mb, base
        self.p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--helper", str(memory_mb)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, cwd=base)
        self.ready = self.dead = False
        self.calls = 0

    def _read(self, timeout: float, cpu_limit: float | None) -> str | None:
        """A line from the helper, or None when it dies, hangs or goes over the CPU limit (it is then killed)."""
        import select
        import time
        start_cpu, deadline = _cpu_seconds(self.p.pid), time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([self.p.stdout], [], [], 0.5)
            if ready:
                line = self.p.stdout.readline()
                return line or None
            if self.p.poll() is not None or time.monotonic() > deadline or (
                    cpu_limit is not None and _cpu_seconds(self.p.pid) - start_cpu > cpu_limit + 1):
                return None

    def call(self, req: dict) -> dict:
        import time
        if not self.ready:
            if self._read(100, None) is None:
                self.close()
                return {"why": "the torch helper did not start"}
            self.ready = True
        self.calls += 1
        self.p.stdin.write(json.dumps(req) + "\n")
        self.p.stdin.flush()
        c0, t0 = _cpu_seconds(self.p.pid), time.monotonic()
        line = self._read(max(3 * self.limit, 100), self.limit)
        if line is None:
            cpu = _cpu_seconds(self.p.pid) - c0
            dead = self.p.poll() is not None
            why = (f"died (exit {self.p.returncode}; memory limit {self.memory_mb} MB over torch's own?)" if dead else
                   f"over {self.limit:.0f}s of CPU time" if cpu > self.limit else
                   f"over {time.monotonic() - t0:.0f}s of wall-clock time (hung)")
            self.close()
            return {"why": why, "cpu": cpu}
        return json.loads(line)

    def close(self):
        self.dead = True
        with contextlib.suppress(ProcessLookupError):
            self.p.kill()
        self.p.wait()


def cpu_time() -> float:
    """CPU seconds of this process and of the children it has waited for (a diagram's renderer)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _cpu_seconds(pid: int) -> float:
    """CPU time a process has used (Linux /proc; elsewhere 0)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


# -- the prelude ------------------------------------------------------------------------------------------------
def prelude_seam() -> Callable[[str | None], None]:
    """A function that sets the prelude every new Loader of this process reads (None: the packaged one),
    through the loader's public seam, `Loader.default_prelude`."""
    from mgdsl.lang.loader import Loader

    def use(text: str | None):
        Loader.default_prelude = text
    use(None)
    return use


# -- the plan for one spec ----------------------------------------------------------------------------------------
# draw refuses a diagram of too many boxes or ops (mgdsl/backends/draw.py), at the layer that passes the bound
DRAW_BOUND = re.compile(r"diagram would have more than [\d,]+ (boxes|ops)")
SHRINK_MAX_OPS = 10_000     # networks larger than this are not shrunk and run (each try lowers them again)


def shrink(path: str, params: dict, cfg: Sampling) -> dict | None:
    """`--set` values that make the network small enough to run (MACs and parameters under the
    limits), or None. Tries: as it is; sizes (size, canvas) down to 32 or 64; widths down to 8;
    repeat counts down to 1; all of those together."""
    import mgdsl
    from mgdsl.errors import MgError
    num = {k: v for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    sizes = {k: v for k, v in num.items() if k in ("size", "canvas", "s", "res") and v > 64}
    widths = {k: v for k, v in num.items() if k in ("w", "d", "width", "c", "k", "growth") and v > 8}
    counts = {k: v for k, v in num.items() if k in ("n", "depth", "blocks") and v > 1}
    tries = [{}]
    for side in (64, 32):
        tries.append({k: str(side) for k in sizes})
    tries.append({k: "8" for k in widths})
    tries.append({k: "1" for k in counts})
    for side in (64, 32):
        tries.append({**{k: str(side) for k in sizes}, **{k: "8" for k in widths}, **{k: "1" for k in counts}})
    seen = []
    for sets in tries:
        if sets in seen:
            continue
        seen.append(sets)
        try:
            net = mgdsl.load(path, **sets)
        except MgError:
            continue
        if net.macs <= cfg.max_macs and net.num_params <= cfg.max_params:
            return sets
    return None


@dataclass
class Runner:
    """Runs the commands on one spec in a worker's tree; `start(label)` is called before each (the
    caller times and limits it)."""
    base: Path
    cfg: Sampling
    start: Callable[[str], None]
    rng: object                                  # random.Random
    prelude: Callable[[], str | None] = lambda: None     # the prelude text the specs read now (None: the real one)
    helper: "TorchHelper | None" = None
    limit: float = 10.0                          # CPU seconds of one step (the torch helper enforces it itself)
    memory_mb: int = 1024
    outcomes: list[Outcome] = field(default_factory=list)

    def run(self, cmd: str, argv: list[str], stdin: bytes | None = None) -> Result:
        import time
        self.start(f"{cmd}: mgdsl {' '.join(argv)}")
        t0, c0 = time.perf_counter(), cpu_time()
        res = cli(argv, stdin)
        self.outcomes.append(Outcome(cmd, argv, res.rc, None, res.err[-6000:], cpu_time() - c0,
                                     time.perf_counter() - t0))
        return res

    def bad(self, why: str | None, extra: str = ""):
        """Mark the last command's outcome bad (when `why` is not None)."""
        if why and self.outcomes[-1].bad is None:
            self.outcomes[-1].bad = why
            if extra:
                self.outcomes[-1].err = (extra + "\n" + self.outcomes[-1].err)[-6000:]

    # -- each command ------------------------------------------------------------------------------------------
    def check_formats(self, path: str, text: dict, lines: dict[str, list[str]], commands):
        """json and sarif beside the text report `text` ({rc, err}) of the same path."""
        js = None
        if "json" in commands or "sarif" in commands:
            js = self.run("json", ["check", "--format", "json", path])
            if "json" in commands:
                self.bad(_rc_problem(js.rc, js.err) or judge_json(js.out, js.rc, text["rc"], text["err"], lines))
                if not self.outcomes[-1].bad and js.err.strip():
                    self.bad("--format json also printed to stderr", js.err[:300])
            else:
                self.outcomes.pop()
        if "sarif" in commands:
            sa = self.run("sarif", ["check", "--format", "sarif", path])
            self.bad(_rc_problem(sa.rc, sa.err) or (f"exit {sa.rc}, the text report exits {text['rc']}"
                                                    if sa.rc != text["rc"] else None)
                     or judge_sarif(sa.out, js.out if js and js.rc == sa.rc else b"", self.cfg.sarif_schema))

    def cost(self, path: str, text: dict):
        combos = [(f, b) for f in COST_FORMATS for b in COST_BY if not (f == "json" and b)]
        picks = [("json", None)] + self.rng.sample([c for c in combos if c != ("json", None)],
                                                   min(self.cfg.cost_formats, len(combos) - 1))
        for fmt, by in picks:
            extra = self.rng.choice([[], [], [], ["--batch", "3"], ["--dtype", "float16"], ["--dtype", "int8"]])
            res = self.run("cost", ["cost", path, "--format", fmt] + (["--by", by] if by else []) + extra)
            why = _rc_problem(res.rc, res.err)
            if not why:
                if text["rc"] == 0 and res.rc == 1 and DRAW_BOUND.search(res.err) and first_error(res.err):
                    why = None                      # a diagram past draw's documented bound: a located refusal
                elif text["rc"] == 0 and res.rc != 0:
                    why = f"exit {res.rc} on a spec that checks"
                elif text["rc"] == 1 and res.rc == 0:
                    why = "exit 0 on a spec that fails check"
                elif res.rc == 1:
                    why = _same_error(text["err"], res.err, "cost")
                else:
                    why = judge_cost(fmt, by, res.out)
            self.bad(why)
            if text["rc"] != 0:
                break                           # one format is enough to see the error

    def draw(self, path: str, text: dict, out_dir: Path):
        for fmt in self.rng.sample(DRAW_FORMATS, min(self.cfg.draw_formats, len(DRAW_FORMATS))):
            target = out_dir / f"d.{fmt}"
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
            extra = self.rng.choice([[], [], ["--expand"], ["--detail", "ops"]])
            res = self.run("draw", ["draw", path, "-o", str(target)] + extra)
            why = _rc_problem(res.rc, res.err)
            if not why:
                if text["rc"] == 0 and res.rc == 1 and DRAW_BOUND.search(res.err) and first_error(res.err):
                    why = None                      # a diagram past draw's documented bound: a located refusal
                elif text["rc"] == 0 and res.rc != 0:
                    why = f"exit {res.rc} on a spec that checks"
                elif text["rc"] == 1:
                    why = "exit 0 on a spec that fails check" if res.rc == 0 else _same_error(text["err"], res.err, "draw")
                elif not target.is_file():
                    why = "wrote no file"
                else:
                    why = judge_drawing(fmt, target.read_bytes())
            self.bad(why)
            if text["rc"] != 0:
                break

    def compile(self, path: str, text: dict, out_dir: Path) -> dict | None:
        """compile -o FILE.py with options drawn at random; returns them when the code is fine (to run it)."""
        target = out_dir / "net_fuzz.py"
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        opts = self.rng.choice([[], [], ["--inference"], ["--no-optimize"], ["--target", "cpu"]])
        res = self.run("compile", ["compile", path, "-o", str(target)] + opts)
        why = _rc_problem(res.rc, res.err)
        if why or text["rc"] != 0:
            self.bad(why or ("exit 0 on a spec that fails check" if res.rc == 0 else
                             _same_error(text["err"], res.err, "compile")))
            return None
        if res.rc != 0:
            self.bad(f"exit {res.rc} on a spec that checks")
            return None
        source = target.read_text(encoding="utf-8")
        try:
            compile(source, str(target), "exec")
        except SyntaxError as e:
            self.bad(f"generated code does not compile: {e}")
            return None
        return {"opts": opts}

    def compile_and_run(self, path: str, opts: list[str], out_dir: Path, seed: int, sets: dict):
        set_args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
        target = out_dir / "net_small.py"
        res = self.run("compile", ["compile", path, "-o", str(target)] + opts + set_args)
        self.bad(_rc_problem(res.rc, res.err, (0,)))
        if res.rc != 0:
            return
        self.in_helper("compile-run", f"run `compile {' '.join([*opts, *set_args])}` against build()",
                       {"do": "compile_run", "path": path, "source": str(target), "sets": sets, "seed": seed})

    def export(self, path: str, out_dir: Path, seed: int, sets: dict):
        fmt = self.rng.choice([".pt2", ".onnx"])
        self.in_helper("export", f"export {fmt} {' '.join(f'--set {k}={v}' for k, v in sets.items())}, "
                                 "run against build()",
                       {"do": "export", "path": path, "fmt": fmt, "out_dir": str(out_dir), "sets": sets, "seed": seed})

    def in_helper(self, cmd: str, label: str, request: dict):
        """A step that needs torch, run in the worker's torch helper (see TorchHelper)."""
        import time
        self.start(f"{cmd}: {label}")
        t0 = time.perf_counter()
        request = {**request, "tol": self.cfg.tolerance, "prelude": self.prelude()}
        for fresh in (False, True):
            if fresh:
                self.start(f"{cmd}: {label} (again, in a fresh helper)")      # restarts the caller's clock
            if self.helper is None or self.helper.dead or self.helper.calls >= HELPER_CALLS or fresh:
                if self.helper is not None:
                    self.helper.close()
                self.helper = TorchHelper(self.base, self.limit, self.memory_mb)
            reply = self.helper.call(request)
            # memory a long-lived helper has gathered is not the case's: judge that only in a fresh helper
            if not reply["why"] or self.helper.calls == 1 or not EXHAUSTED.search(reply["why"] + reply.get("err", "")):
                break
        self.outcomes.append(Outcome(cmd, reply.get("argv") or [label], reply.get("rc", 0), reply["why"],
                                     reply.get("err", "")[-6000:], reply.get("cpu", 0.0), time.perf_counter() - t0))

    def fmt(self, path: str, meaning_paths: list[str], apply: Callable[[str], None] | None = None):
        """fmt in place, then again; fmt --check; fmt -; the meaning of `meaning_paths` before and after
        (`apply(text)`, when given, makes the formatted text the one those specs read: the prelude)."""
        p = Path(path)
        before = p.read_bytes()
        mode = self.rng.choice([0o644, 0o600, 0o664, 0o755])
        os.chmod(p, mode)
        st = os.stat(p)
        res = self.run("fmt", ["fmt", path])
        why = _rc_problem(res.rc, res.err)
        after = p.read_bytes()
        st2 = os.stat(p)
        if why:
            self.bad(why)
            return
        if res.rc != 0 or after == before:
            # failed, or nothing to change: the file must be exactly as it was
            what = "failed" if res.rc else "changed nothing"
            if after != before:
                self.bad(f"fmt {what} but changed the file")
            elif (st2.st_mode, st2.st_mtime_ns, st2.st_ino) != (st.st_mode, st.st_mtime_ns, st.st_ino):
                self.bad(f"fmt {what} but touched the file (mode {oct(st.st_mode)} -> {oct(st2.st_mode)}, "
                         f"mtime {'same' if st.st_mtime_ns == st2.st_mtime_ns else 'changed'}, "
                         f"inode {'same' if st.st_ino == st2.st_ino else 'changed'})")
            elif res.rc == 1 and not first_error(res.err):
                self.bad("fmt failed without a located error")
            if res.rc:
                return
        if after != before and (st2.st_mode & 0o7777) != mode:
            self.bad(f"fmt changed the file's mode from {oct(mode)} to {oct(st2.st_mode & 0o7777)}")
        try:
            after.decode("utf-8")
        except UnicodeDecodeError:
            self.bad("fmt wrote a file that is not UTF-8")
            return
        # idempotent
        again = self.run("fmt", ["fmt", "--check", path])
        problem = _rc_problem(again.rc, again.err, (0,))
        self.bad(problem and f"fmt --check after fmt: {problem}", again.err[:500])
        res2 = self.run("fmt", ["fmt", path])
        self.bad(_rc_problem(res2.rc, res2.err, (0,)) or ("fmt is not idempotent: formatting the result changes it"
                                                          if p.read_bytes() != after else None))
        # through stdin, the same text
        sin = self.run("fmt", ["fmt", "-"], stdin=before)
        self.bad(_rc_problem(sin.rc, sin.err, (0,)) or ("fmt - prints another text than fmt FILE writes"
                                                        if sin.out != after else None))
        # the same network (a file fmt left as it was means what it meant)
        if after == before:
            return
        self.start("fmt: the meaning before formatting, of the original text put back for a moment")
        p.write_bytes(before)
        try:
            meaning = [self._meaning(mp) for mp in meaning_paths]
        finally:
            p.write_bytes(after)
        if apply is not None:
            apply(after.decode("utf-8"))
        for mp, old in zip(meaning_paths, meaning):
            self.start(f"fmt: the meaning of {mp} after formatting")
            new = self._meaning(mp)
            if new != old:
                diff = next(k for k in old if old[k] != new[k])
                self.outcomes.append(Outcome("fmt", ["meaning", mp], 0, f"fmt changed what {mp} means: {diff} "
                                             f"{str(old[diff])[:150]!r} -> {str(new[diff])[:150]!r}"))

    def _meaning(self, path: str) -> dict:
        """What a spec means, as far as the commands tell: check's outcome (without places) and, when it
        checks, its cost JSON and generated code."""
        js = cli(["check", "--format", "json", path])
        try:
            recs = json.loads(js.out.decode("utf-8"))
            diags = [(r["severity"], r["code"], r["message"]) for r in recs]
        except (ValueError, UnicodeDecodeError, TypeError, KeyError):
            diags = js.out.decode("utf-8", "replace")
        out = {"rc": js.rc, "diagnostics": diags}
        if js.rc == 0:
            cost = cli(["cost", path, "--format", "json"])
            out["cost"] = cost.out.decode("utf-8", "replace")
            code = cli(["compile", path, "-o", "-"])
            out["code"] = code.out.decode("utf-8", "replace")
        return out


def judge_all(runner: Runner, task: dict, paths: list[str], checks: list[dict], lines: dict[str, list[str]],
              commands: set[str], out_dir: Path, fmt_path: str | None, meaning_paths: list[str],
              apply: Callable[[str], None] | None = None):
    """Every command of `commands` on the task's spec: `checks` are the text reports of the checked
    paths, `paths` those to run the commands on (the file itself, or for a unit library or the
    prelude the specs that use it); `fmt_path` is the file to format, `meaning_paths` the specs whose
    meaning formatting must keep, `apply` (the prelude) makes a formatted text the one they read."""
    index, seed = task["index"], task["seed"]
    by_path = {c["path"]: c for c in checks}
    for c in checks:
        runner.check_formats(c["path"], c, lines, commands)
    targets = [p for p in paths if by_path[p]["rc"] in (0, 1)]
    main = targets[0] if targets else None
    if main is not None:
        text = by_path[main]
        if "cost" in commands:
            runner.cost(main, text)
        if "draw" in commands:
            runner.draw(main, text, out_dir)
        if "compile" in commands or "export" in commands:
            plan = runner.compile(main, text, out_dir)
            if plan is not None:
                sets = None
                want_run = "compile" in commands and runner.rng.random() < runner.cfg.compile_run
                want_export = "export" in commands and runner.rng.random() < runner.cfg.export
                if want_run or want_export:
                    import mgdsl
                    runner.start("plan: --set values that make the network small enough to run")
                    net = mgdsl.load(main)
                    if net.graph.number_of_nodes() <= SHRINK_MAX_OPS:
                        sets = shrink(main, net.params, runner.cfg)
                if sets is not None and want_run:
                    runner.compile_and_run(main, plan["opts"], out_dir, seed + index, sets)

                if sets is not None and want_export:
                    runner.export(main, out_dir, seed + index, sets)
    if "fmt" in commands and fmt_path is not None:
        runner.fmt(fmt_path, meaning_paths, apply)


if __name__ == "__main__" and sys.argv[1:2] == ["--helper"]:
    helper_main(int(sys.argv[2]))
