"""Validate specs without building anything: parse, lower to the graph, check shapes and sizes.
Files that only define units are parsed and name-checked. Prints one line per spec, errors and warnings in file:line:col form; exits 1 if any spec is wrong."""
from __future__ import annotations

import sys

from ..errors import MgError

HELP = "validate specs (no torch import)"


def configure(p):
    from ..cli import add_set_option
    p.add_argument("specs", nargs="+", metavar="SPEC", help=".mg files to check")
    add_set_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and warnings")


def run(args) -> int:
    from .. import load
    from ..network import check_unit_names
    from ..lang.loader import Loader
    from ..cli import parse_sets, print_warnings
    params = parse_sets(args.set)
    failed = 0
    for path in args.specs:
        try:
            loader = Loader()
            mod = loader.load(path)
            if mod.network is None and mod.units:     # a library of units: parsed and name-checked
                check_unit_names(loader.modules.values())
                if not args.quiet:
                    print(f"ok   {path}: units {', '.join(u.name for u in mod.units)} (no network)")
                continue
            net = load(path, _loader=loader, **params)
        except MgError as e:
            failed += 1
            print(e.report(), file=sys.stderr)
            continue
        print_warnings(net)
        if not args.quiet:
            print(f"ok   {path}: {net.name}, {net.num_params / 1e6:.2f}M params, {net.macs / 1e6:,.2f}M MACs, "
                  f"output {' x '.join(map(str, net.output_shape))}")
    if failed and len(args.specs) > 1:
        print(f"{failed} of {len(args.specs)} specs have errors", file=sys.stderr)
    return 1 if failed else 0
