"""Validate specs without building anything: parse, lower to the graph, check shapes and sizes.
Files that only define units are parsed and name-checked. Prints one line per spec, errors and
warnings in file:line:col form; exits 1 if any spec is wrong.

--format json prints instead one JSON array with a record per error or warning: path, line, column,
end_line, end_column (1-based, end exclusive), severity, code (stable, one per kind of mistake; see
docs/editors.md), message, hint and notes (each with its own path and range). --format sarif prints
the same as a SARIF 2.1.0 log for CI dashboards and code scanning. Either is always one valid UTF-8
document on standard output, whatever went wrong (a bad --set included)."""
from __future__ import annotations

import sys

from ..diagnostics import record, to_json, to_sarif, write_utf8
from ..errors import MgError
from ..network import check_spec
from .options import add_set_option, parse_sets

HELP = "validate specs (no torch import)"

FORMATS = ("text", "json", "sarif")


def configure(p):
    p.add_argument("specs", nargs="+", metavar="SPEC", help=".mg files to check")
    add_set_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and warnings")
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default): reports for people; json: one record per diagnostic; sarif: SARIF 2.1.0")


def run(args) -> int:
    try:
        params = parse_sets(args.set)
    except MgError as e:
        if args.format == "text":
            raise
        records, failed = [record(e)], len(args.specs)
    else:
        records, failed = [], 0
        for path in args.specs:
            checked = check_spec(path, params)
            records += [record(d, path) for d in checked.diagnostics]
            if args.format == "text":
                for d in checked.diagnostics:
                    print(d.report(), file=sys.stderr)
            if not checked.ok:
                failed += 1
                continue
            if args.format != "text" or args.quiet:
                continue
            net = checked.net
            if checked.units is not None or net is None:
                print(f"ok   {path}: units {', '.join(checked.units or [])} (no network)")
            else:
                print(f"ok   {path}: {net.name}, {net.num_params / 1e6:.2f}M params, {net.macs / 1e6:,.2f}M MACs, "
                      f"output{'s' if len(net.output_shapes) > 1 else ''} {net.outputs_text}")
    if args.format == "json":
        write_utf8(to_json(records))
    elif args.format == "sarif":
        write_utf8(to_sarif(records))
    elif failed and len(args.specs) > 1:
        print(f"{failed} of {len(args.specs)} specs have errors", file=sys.stderr)
    return 1 if failed else 0
