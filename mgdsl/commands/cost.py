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

import sys

from ..errors import MgError, UsageError
from ..graph import receptive
from ..graph.cost import DTYPE_BYTES, GROUPINGS, cost_of
from ..graph.receptive import conv_depth, first_covering, layer_fields, too_large, walk_steps
from ..lang.loader import Loader
from ..network import load
from ..paper import report as paper_report
from ..tables import Table, csv_text, json_text, render
from .options import add_set_option, parse_sets, print_warnings

HELP = "params, MACs, other ops and activation memory per spec (no torch import); --paper: the paper's tables"

FORMATS = ("table", "md", "csv", "json", "latex")


def configure(p):
    p.add_argument("specs", nargs="*", metavar="SPEC", help=".mg files to count")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--by", choices=GROUPINGS, help="break each spec down by top-level layer, grid or section "
                                                  "(default for a single spec: section)")
    p.add_argument("--batch", type=int, default=1, metavar="N", help="batch size for activation memory (default 1)")
    p.add_argument("--dtype", choices=list(DTYPE_BYTES), default="float32",
                   help="element type for memory (default float32)")
    add_set_option(p)
    p.add_argument("--rf", action="store_true",
                   help="per spec, the first layer at which a central position of some grid sees the whole input "
                        "(receptive fields: docs/receptive-fields.md)")
    p.add_argument("--paper", action="store_true",
                   help="print the paper's Tables 1-4 beside our counts, with notes on every known discrepancy")
    p.add_argument("--specs", dest="specs_dir", metavar="DIR",
                   help="with --paper: the specs folder (default: the one that ships with mgdsl)")


# -- numbers -----------------------------------------------------------------------------------------------------------
def _m(x: int) -> str:
    return f"{x / 1e6:,.2f}"


def _mib(b: int) -> str:
    return f"{b / (1 << 20):,.2f}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else "-"


# -- per-spec costs ----------------------------------------------------------------------------------------------------
def _load_all(paths: list[str], sets: dict) -> list:
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
        out.append((path, cost_of(net.graph), net.graph))
    if failed:
        raise UsageError(f"{failed} of {len(paths)} specs have errors (reported above); nothing was counted")
    return out


def field_json(f) -> dict:
    """One receptive field (mgdsl.graph.receptive.Field) as the JSON output writes it."""
    return {"size": list(f.size), "jump": list(f.jump), "offset": list(f.offset), "covers_input": f.covers}


def _group_dict(c, key, batch, b, G) -> dict:
    out = {g: {"params": t.params, "macs": t.macs, "flops": t.flops, "other_ops": t.other,
               "activation_bytes": t.activations * batch * b} for g, t in c.by(key).items()}
    if key == "layer":
        for path, grids in layer_fields(G).items():
            if path not in out:                 # a layer that makes no op (drop, use) has no row
                continue
            out[path]["receptive_field"] = {grid: field_json(f) for grid, f in grids.items()}
    return out


def _rf_text(grids: dict) -> str:
    """A layer's receptive fields, one per grid it leaves, finest first: 7, 12x10, 24."""
    return ", ".join(f"{f.size[0]}" if f.size[0] == f.size[1] else f"{f.size[0]}x{f.size[1]}"
                     for f in grids.values())


def as_json(costs, batch: int = 1, dtype: str = "float32") -> str:
    """`--format json`: `costs` is a list of (spec path, Cost, Graph), as `mgdsl serve` also writes it."""
    b = DTYPE_BYTES[dtype]
    out = []
    for path, c, G in costs:
        mem = c.memory(batch, dtype)
        obj = {"spec": path, "name": c.name, "input_shape": list(c.input_shape), "output_shape": list(c.output_shape),
               "params": c.params, "macs": c.macs, "flops": c.flops, "other_ops": c.other,
               "macs_reaching_output": c.live_macs, "batch": batch, "dtype": dtype,
               "weight_bytes": mem["weights"], "activation_bytes": mem["activations"], "peak_bytes": mem["peak"]}
        for key in GROUPINGS:
            obj[f"by_{key}"] = _group_dict(c, key, batch, b, G)
        out.append(obj)
    return json_text(out)


def as_csv(costs, by: str | None, batch: int = 1, dtype: str = "float32") -> str:
    """`--format csv` (`--by` one of GROUPINGS or None): `costs` as for `as_json`."""
    b = DTYPE_BYTES[dtype]
    if by is None:
        rows = []
        for path, c, _ in costs:
            mem = c.memory(batch, dtype)
            rows.append([path, c.name, c.params, c.macs, c.flops, c.other, mem["weights"], mem["activations"],
                         mem["peak"]])
        return csv_text(["spec", "name", "params", "macs", "flops", "other_ops", "weight_bytes", "activation_bytes",
                     "peak_bytes"], rows)
    if by == "layer":
        fields = {path: layer_fields(G) for path, _, G in costs}
        rows = [[path, c.name, g, t.params, t.macs, t.flops, t.other, t.activations * batch * b,
                 _rf_text(fields[path].get(g, {}))] for path, c, G in costs for g, t in c.by(by).items()]
        return csv_text(["spec", "name", by, "params", "macs", "flops", "other_ops", "activation_bytes",
                         "receptive_field"], rows)
    rows = [[path, c.name, g, t.params, t.macs, t.flops, t.other, t.activations * batch * b]
            for path, c, _ in costs for g, t in c.by(by).items()]
    return csv_text(["spec", "name", by, "params", "macs", "flops", "other_ops", "activation_bytes"], rows)


def _comparison(costs, batch, dtype) -> Table:
    rows = []
    for path, c, _ in costs:
        mem = c.memory(batch, dtype)
        rows.append([c.name, path, _m(c.params), _m(c.macs), _m(c.flops), _m(c.other), _mib(mem["weights"]),
                     _mib(mem["activations"]), _mib(mem["peak"])])
    return Table(["network", "spec", "params (M)", "MACs (M)", "FLOPs = 2 x MACs (M)", "other ops (M)",
                  "weights (MiB)", "activations (MiB)", "inference peak (MiB)"], rows, align="llrrrrrrr",
                 footer=f"MACs: conv, transposed conv and linear multiply-accumulates (the paper's \"FLOPs\"). Memory for "
                 f"batch {batch} in {dtype}: activations = all node outputs (kept by a training step); inference "
                 f"peak = tensors freed after their last use.")


def _breakdown(path, c, G, by, batch, dtype) -> Table:
    b = DTYPE_BYTES[dtype]
    rows = [[g, f"{t.params:,}", _pct(t.params, c.params), _m(t.macs), _pct(t.macs, c.macs), _m(t.other),
             _mib(t.activations * batch * b)] for g, t in c.by(by).items()]
    rows.append(["total", f"{c.params:,}", "100.0", _m(c.macs), "100.0", _m(c.other),
                 _mib(c.activations * batch * b)])
    columns, align = [by, "params", "%", "MACs (M)", "%", "other ops (M)", "activations (MiB)"], "lrrrrrr"
    footer = ""
    if by == "layer":                          # each layer's receptive field on every grid it leaves
        fields = layer_fields(G)
        for row in rows:
            row.append(_rf_text(fields.get(row[0], {})))
        columns, align = columns + ["receptive field (px)"], align + "l"
        footer = ("receptive field: the input pixels a central position sees on each grid the layer leaves, "
                  "finest first (docs/receptive-fields.md)") if fields or not G.info.layers else \
            (f"receptive fields are not computed for a network this large (about {walk_steps(G):,} steps; the limit "
             f"is {receptive.MAX_STEPS:,})")
    return Table(columns, rows, align=align, title=f"{c.name} ({path}) by {by}", footer=footer)


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


def _coverage(costs, fmt: str) -> str:
    """`--rf`: where each network first sees its whole input."""
    found = []
    for path, c, G in costs:
        if too_large(G):
            raise UsageError(f"{path} is too large for receptive fields (about {walk_steps(G):,} steps; the limit is "
                             f"{receptive.MAX_STEPS:,})", hint="try it with fewer layers, e.g. a smaller n with --set")
        first = first_covering(G)
        index = first[0] if first else 0
        rec = G.info.layers[index - 1] if first else None
        largest = max((max(f.size) for f in layer_fields(G)[rec.path].values()), default=0) if rec else 0
        depth = max((conv_depth(G)[o] for o in rec.outputs), default=0) if rec else 0
        found.append((path, c, len(G.info.layers), index, rec, largest, depth))
    if fmt == "json":
        return json_text([{"spec": path, "name": c.name, "input_shape": list(c.input_shape), "layers": n,
                           "first_covering": None if rec is None else
                           {"index": index, "layer": rec.path, "type": rec.type, "largest_field": largest,
                            "convs_deep": depth}}
                          for path, c, n, index, rec, largest, depth in found])
    header = ["network", "spec", "input", "layers", "first layer seeing the whole input", "type", "convs deep",
              "its field (px)"]
    rows = [[c.name, path, "x".join(map(str, c.input_shape[1:])), str(n),
             f"{index} ({rec.path})" if rec else "none", rec.type if rec else "-", str(depth) if rec else "-",
             str(largest) if rec else "-"]
            for path, c, n, index, rec, largest, depth in found]
    if fmt == "csv":
        return csv_text(header, rows)
    return render([Table(header, rows, align="llrrllrr", footer="a layer sees the whole input when a central position "
                         "of one of the grids it leaves reads every input pixel; convs deep: the most convolutions on a "
                         "path from the input to it (docs/receptive-fields.md)")], fmt)


def _report(costs, args) -> str:
    fmt, batch, dtype = args.format, args.batch, args.dtype
    if args.rf:
        return _coverage(costs, fmt)
    if fmt == "json":
        return as_json(costs, batch, dtype)
    if fmt == "csv":
        return as_csv(costs, args.by, batch, dtype)
    by = args.by or ("section" if len(costs) == 1 else None)
    tables = [] if len(costs) == 1 and fmt == "table" else [_comparison(costs, batch, dtype)]
    if by:
        tables += [_breakdown(path, c, G, by, batch, dtype) for path, c, G in costs]
    text = render(tables, fmt)
    if len(costs) == 1 and fmt == "table":
        path, c, _ = costs[0]
        text = _headline(path, c, batch, dtype) + "\n\n" + text
    return text


def run(args) -> int:
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
    if args.rf and args.by:
        raise UsageError("--rf and --by each make their own table; give one of them",
                         hint="--by layer has a receptive-field column")
    sys.stdout.write(_report(_load_all(args.specs, parse_sets(args.set)), args))
    return 0
