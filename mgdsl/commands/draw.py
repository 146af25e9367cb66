"""Draw a network as a diagram in the style of the paper's Fig. 3: one row per grid (finest on top),
one column per layer, each box a grid's tensor (height: resolution, width: channels), coloured by
the paper's legend. Drawn from the checked graph, never from a module; the format follows the
output's extension (.svg, .png, .pdf, or .dot for the Graphviz source). No torch import.

Bounds: a layers diagram of more than 1000 boxes and an ops diagram of more than 2000 ops are refused
(at the layer that passes the bound; a layout program would take minutes and gigabytes). A PNG is
drawn at 110 dpi (a PDF without a system Graphviz: 200) unless that makes it larger than 50 megapixels
or 32,767 pixels a side; then at the highest resolution within both, and the command says so."""
from __future__ import annotations

import os
import sys

from ..atomic import write_atomic
from ..backends.draw import FORMATS, diagram, render_file, renderer_name
from ..errors import UsageError
from ..network import load
from .options import add_set_option, parse_sets, print_warnings

HELP = "draw an architecture diagram (.svg/.png/.pdf/.dot)"


def configure(p):
    p.add_argument("spec", metavar="SPEC", help="the .mg file")
    p.add_argument("-o", "--output", metavar="FILE", required=True,
                   help="FILE.svg, FILE.png, FILE.pdf or FILE.dot ('-' writes the DOT source to stdout)")
    add_set_option(p)
    p.add_argument("--expand", action="store_true",
                   help="one column per unit (by default a run of identical units shares a column marked xN)")
    p.add_argument("--detail", choices=("layers", "ops"), default="layers",
                   help="layers: the paper-style diagram (default); ops: every primitive op, for debugging")


def run(args) -> int:
    out = args.output
    fmt = "dot" if out == "-" else os.path.splitext(out)[1].lower().lstrip(".")
    if fmt not in FORMATS:
        raise UsageError(f"cannot tell the format of '{out}' from its extension",
                         hint="end the name in " + ", ".join(f".{f}" for f in FORMATS))
    net = load(args.spec, parse_sets(args.set))
    print_warnings(net)
    source = diagram(net.graph, detail=args.detail, expand=args.expand)
    if out == "-":
        sys.stdout.write(source)
        return 0
    drawn = render_file(source, fmt)
    write_atomic(out, drawn.data)
    how = "" if fmt == "dot" else f" with {renderer_name()}"
    print(f"wrote {out} ({net.name}, {args.detail} diagram{how})" + (f"; {drawn.note}" if drawn.note else ""))
    return 0
