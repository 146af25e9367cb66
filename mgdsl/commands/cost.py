"""Count parameters, multiply-accumulates, other arithmetic and activation memory from the graph
alone (no torch, no tracing). Several specs give one comparison table; --by breaks each down by
layer, grid or section; --paper prints the paper's Tables 1-4 beside our counts.

Conventions (the ones that reproduce the paper's Tables 1 and 4). params: conv and transposed-conv
weights and biases, BN gamma and beta, linear weights and biases (not BN running statistics). MACs:
multiply-accumulates of conv, transposed conv and linear layers, which the paper calls "FLOPs";
FLOPs here are 2 x MACs. Other ops, counted apart: BN 2 per output element, ReLU 1, addition 1, max
pool k*k-1 comparisons and average pool k*k additions per output element, global average pool 1 per
input element; upsampling, concatenation, padding and flattening 0. Activations: every node's
output, input included, i.e. what a training step keeps for the backward pass; inference peak: the
most held at once when each tensor is freed after its last reader, in the generated forward's order.
Both are per batch in the chosen dtype; weights are priced in the same dtype.
"""
from __future__ import annotations

import csv
import io
import json
import sys

from ..errors import MgError, UsageError

HELP = "params, MACs, other ops and activation memory per spec (no torch import); --paper: the paper's tables"

FORMATS = ("table", "md", "csv", "json", "latex")


def configure(p):
    from ..cli import add_set_option
    from ..graph.cost import DTYPE_BYTES, GROUPINGS
    p.add_argument("specs", nargs="*", metavar="SPEC", help=".mg files to count")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--by", choices=GROUPINGS, help="break each spec down by top-level layer, grid or section "
                                                  "(default for a single spec: section)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size for activation memory (default 1)")
    p.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32",
                   help="element type for memory (default float32)")
    add_set_option(p)
    p.add_argument("--paper", action="store_true",
                   help="print the paper's Tables 1-4 beside our counts, with notes on every known discrepancy")
    p.add_argument("--specs", dest="specs_dir", metavar="DIR",
                   help="with --paper: the specs folder (default: ./specs, else the source checkout's)")


# -- generic tables ----------------------------------------------------------------------------------------------------
class Table:
    """Rows of already formatted cells; `align` has one 'l' or 'r' per column."""

    def __init__(self, title: str, columns: list[str], align: str, rows: list[list[str]], footer: str = ""):
        self.title, self.columns, self.align, self.rows, self.footer = title, columns, align, rows, footer


def _text(t: Table) -> str:
    widths = [max(len(c), *(len(r[i]) for r in t.rows)) if t.rows else len(c) for i, c in enumerate(t.columns)]

    def line(cells):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(cells, widths, t.align)).rstrip()
    out = [t.title] if t.title else []
    out += [line(t.columns), line(["-" * w for w in widths])] + [line(r) for r in t.rows]
    if t.footer:
        out.append(t.footer)
    return "\n".join(out)


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def _md(t: Table) -> str:
    out = [f"### {t.title}", ""] if t.title else []
    out.append("| " + " | ".join(map(_md_cell, t.columns)) + " |")
    out.append("|" + "|".join(":---" if a == "l" else "---:" for a in t.align) + "|")
    out += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in t.rows]
    if t.footer:
        out += ["", t.footer]
    return "\n".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(s: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in s)


def _latex(t: Table) -> str:
    spec = "".join("p{6cm}" if c == "notes" else a for c, a in zip(t.columns, t.align))
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


def _render(tables: list[Table], fmt: str) -> str:
    r = {"table": _text, "md": _md, "latex": _latex}[fmt]
    return "\n\n".join(r(t) for t in tables) + "\n"


def _csv(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


# -- numbers -----------------------------------------------------------------------------------------------------------
def _m(x: int) -> str:
    return f"{x / 1e6:,.2f}"


def _mib(b: int) -> str:
    return f"{b / (1 << 20):,.2f}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else "-"


# -- per-spec costs ----------------------------------------------------------------------------------------------------
def _load_all(paths: list[str], sets: dict) -> list:
    from .. import load
    from ..cli import print_warnings
    from ..graph.cost import cost_of
    from ..lang.loader import Loader
    loader, out, failed = Loader(), [], 0
    for path in paths:
        try:
            net = load(path, sets, loader=loader)
        except MgError as e:
            if len(paths) == 1:
                raise
            failed += 1
            print(e.report(), file=sys.stderr)
            continue
        print_warnings(net)
        out.append((path, cost_of(net.graph)))
    if failed:
        raise UsageError(f"{failed} of {len(paths)} specs have errors (reported above); nothing was counted")
    return out


def _group_dict(c, key, batch, b) -> dict:
    return {g: {"params": t.params, "macs": t.macs, "flops": t.flops, "other_ops": t.other,
                "activation_bytes": t.activations * batch * b} for g, t in c.by(key).items()}


def _as_json(costs, batch, dtype) -> str:
    from ..graph.cost import DTYPE_BYTES, GROUPINGS
    b = DTYPE_BYTES[dtype]
    out = []
    for path, c in costs:
        mem = c.memory(batch, dtype)
        obj = {"spec": path, "name": c.name, "input_shape": list(c.input_shape), "output_shape": list(c.output_shape),
               "params": c.params, "macs": c.macs, "flops": c.flops, "other_ops": c.other,
               "macs_reaching_output": c.live_macs, "batch": batch, "dtype": dtype,
               "weight_bytes": mem["weights"], "activation_bytes": mem["activations"], "peak_bytes": mem["peak"]}
        for key in GROUPINGS:
            obj[f"by_{key}"] = _group_dict(c, key, batch, b)
        out.append(obj)
    return json.dumps(out, indent=1) + "\n"


def _as_csv(costs, by, batch, dtype) -> str:
    from ..graph.cost import DTYPE_BYTES
    b = DTYPE_BYTES[dtype]
    if by is None:
        rows = []
        for path, c in costs:
            mem = c.memory(batch, dtype)
            rows.append([path, c.name, c.params, c.macs, c.flops, c.other, mem["weights"], mem["activations"],
                         mem["peak"]])
        return _csv(["spec", "name", "params", "macs", "flops", "other_ops", "weight_bytes", "activation_bytes",
                     "peak_bytes"], rows)
    rows = [[path, c.name, g, t.params, t.macs, t.flops, t.other, t.activations * batch * b]
            for path, c in costs for g, t in c.by(by).items()]
    return _csv(["spec", "name", by, "params", "macs", "flops", "other_ops", "activation_bytes"], rows)


def _comparison(costs, batch, dtype) -> Table:
    rows = []
    for path, c in costs:
        mem = c.memory(batch, dtype)
        rows.append([c.name, path, _m(c.params), _m(c.macs), _m(c.flops), _m(c.other), _mib(mem["weights"]),
                     _mib(mem["activations"]), _mib(mem["peak"])])
    return Table("", ["network", "spec", "params (M)", "MACs (M)", "FLOPs = 2 x MACs (M)", "other ops (M)",
                      "weights (MiB)", "activations (MiB)", "inference peak (MiB)"], "llrrrrrrr", rows,
                 f"MACs: conv, transposed conv and linear multiply-accumulates (the paper's \"FLOPs\"). Memory for "
                 f"batch {batch} in {dtype}: activations = all node outputs (kept by a training step); inference "
                 f"peak = tensors freed after their last use.")


def _breakdown(path, c, by, batch, dtype) -> Table:
    from ..graph.cost import DTYPE_BYTES
    b = DTYPE_BYTES[dtype]
    rows = [[g, f"{t.params:,}", _pct(t.params, c.params), _m(t.macs), _pct(t.macs, c.macs), _m(t.other),
             _mib(t.activations * batch * b)] for g, t in c.by(by).items()]
    rows.append(["total", f"{c.params:,}", "100.0", _m(c.macs), "100.0", _m(c.other),
                 _mib(c.activations * batch * b)])
    return Table(f"{c.name} ({path}) by {by}", [by, "params", "%", "MACs (M)", "%", "other ops (M)",
                                                 "activations (MiB)"], "lrrrrrr", rows)


def _headline(path, c, batch, dtype) -> str:
    mem = c.memory(batch, dtype)
    shape = " x ".join(map(str, c.input_shape)) + " -> " + ", ".join(" x ".join(map(str, s)) for s in c.output_shapes)
    lines = [f"{c.name}  ({path})  {shape}",
             f"  params       {c.params:>16,}  ({c.params / 1e6:,.2f}M)",
             f"  MACs         {c.macs:>16,}  ({c.macs / 1e6:,.2f}M; conv, transposed conv and linear: the paper's "
             f"\"FLOPs\")",
             f"  FLOPs        {c.flops:>16,}  (2 x MACs)",
             f"  other ops    {c.other:>16,}  (BN, ReLU, pooling, additions; see --help)"]
    if c.live_macs != c.macs:
        lines.append(f"  MACs reaching the output {c.live_macs:,} ({c.live_macs / 1e6:,.2f}M); the rest feeds "
                     f"dropped or unused grids")
    lines += [f"  memory for batch {batch} in {dtype}: weights {_mib(mem['weights'])} MiB, activations "
              f"{_mib(mem['activations'])} MiB (all node outputs, kept by a training step), inference peak "
              f"{_mib(mem['peak'])} MiB"]
    return "\n".join(lines)


def _report(costs, args) -> str:
    fmt, batch, dtype = args.format, args.batch, args.dtype
    if fmt == "json":
        return _as_json(costs, batch, dtype)
    if fmt == "csv":
        return _as_csv(costs, args.by, batch, dtype)
    by = args.by or ("section" if len(costs) == 1 else None)
    tables = [] if len(costs) == 1 and fmt == "table" else [_comparison(costs, batch, dtype)]
    if by:
        tables += [_breakdown(path, c, by, batch, dtype) for path, c in costs]
    text = _render(tables, fmt)
    if len(costs) == 1 and fmt == "table":
        text = _headline(*costs[0], batch, dtype) + "\n\n" + text
    return text


# -- the paper's tables ------------------------------------------------------------------------------------------------
PAPER_PREAMBLE = """\
# The paper's tables, recomputed from the specs

Generated by `mgdsl cost --paper --format md` (do not edit by hand; a test regenerates it). Each row
puts the number printed in Ke, Maire & Yu, *Multigrid Neural Architectures* (CVPR 2017), beside the
count that mgdsl's cost model reads off the spec's graph, and their ratio (ours / paper). Params are
in millions. The paper's "FLOPs" are multiply-accumulates of conv, transposed-conv and linear layers
(batch norm, ReLU, pooling and additions are not counted), so they are compared with our MACs:
millions in Table 1, billions (G) elsewhere. The paper gives no FLOPs for Tables 2 and 3.

Status: *match* = our count rounds to the printed value at its printed precision; *documented* =
it does not, for the reason given in the row's notes (a slip in the printed table, or a network
the paper describes too loosely to pin down); *not reproduced* = no spec builds that row.
"""


def _fmt(x: float | None, decimals: int) -> str:
    return "-" if x is None else f"{x:.{decimals}f}"


def _decimals(printed: str, default: int) -> int:
    return len(printed.split(".")[1]) if "." in printed else default


def _paper_cells(r) -> dict:
    pd = _decimals(r.paper_params, 2)
    md = _decimals(r.paper_macs, 1) if r.paper_macs else 1
    pratio = f"{r.params_m / float(r.paper_params):.4f}" if r.cost and r.paper_params else "-"
    mratio = f"{r.macs_u / float(r.paper_macs):.4f}" if r.cost and r.paper_macs else "-"
    return {"network": r.method, "n": r.n or "-", "spec": r.spec or "-",
            "params, paper": r.paper_params, "params, ours": _fmt(r.params_m, pd + 2), "params ratio": pratio,
            f"MACs ({r.unit}), paper": r.paper_macs or "-", f"MACs ({r.unit}), ours": _fmt(r.macs_u, md + 2),
            "MACs ratio": mratio, "status": r.status, "notes": "; ".join(r.notes)}


def paper_tables(specs_dir=None) -> list[Table]:
    from ..paper import reproduce
    out = []
    for t in reproduce(specs_dir):
        cells = [_paper_cells(r) for r in t.rows]
        cols = [c for c in cells[0] if c != "n" or t.key.startswith("Table1")]
        align = "".join("l" if c in ("network", "spec", "status", "notes") else "r" for c in cols)
        out.append(Table(t.title, cols, align, [[row[c] for c in cols] for row in cells], t.summary()))
    return out


def paper_report(fmt: str, specs_dir=None) -> str:
    from ..paper import reproduce
    if fmt in ("csv", "json"):
        rows = []
        for t in reproduce(specs_dir):
            for r in t.rows:
                rows.append({"table": t.key, "network": r.method, "spec": r.spec, "paper_params_millions": r.paper_params,
                             "params": r.cost.params if r.cost else None, "paper_macs": r.paper_macs or None,
                             "macs_unit": "1e6" if r.unit == "M" else "1e9", "macs": r.cost.macs if r.cost else None,
                             "status": r.status, "notes": "; ".join(r.notes)})
        if fmt == "json":
            return json.dumps(rows, indent=1) + "\n"
        return _csv(list(rows[0]), [list(r.values()) for r in rows])
    text = _render(paper_tables(specs_dir), fmt)
    return PAPER_PREAMBLE + "\n" + text if fmt == "md" else text


def run(args) -> int:
    from ..cli import parse_sets
    if args.batch < 1:
        raise UsageError(f"--batch must be at least 1, not {args.batch}")
    if args.paper:
        if args.specs or args.set or args.by:
            raise UsageError("--paper takes no SPEC, --set or --by: it counts the paper's networks itself",
                             hint="use --specs DIR to say where the specs folder is")
        sys.stdout.write(paper_report(args.format, args.specs_dir))
        return 0
    if not args.specs:
        raise UsageError("give at least one SPEC, or --paper", hint="for example: mgdsl cost specs/r-pmg-30.mg")
    if args.specs_dir:
        raise UsageError("--specs only goes with --paper")
    sys.stdout.write(_report(_load_all(args.specs, parse_sets(args.set)), args))
    return 0
