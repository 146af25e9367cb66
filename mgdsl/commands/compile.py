"""Validate a spec, print a one-screen summary and, with -o, write standalone PyTorch source that
defines `build()` (it imports only torch; its state_dict keys match `mgdsl.load(...).build()`).
The code is portable by default; `--target cpu|cuda` tunes it for one device."""
from __future__ import annotations

import os
import sys

from ..atomic import write_atomic

HELP = "validate a spec, summarise it and write PyTorch source (-o)"


def configure(p):
    from ..cli import add_set_option
    p.add_argument("spec", metavar="SPEC", help="the .mg file")
    p.add_argument("-o", "--output", metavar="FILE.py", help="write the PyTorch source here ('-' for stdout)")
    p.add_argument("--inference", action="store_true",
                   help="write an inference-only module: batch norm folded into the convs, always in eval mode")
    p.add_argument("--no-optimize", action="store_true",
                   help="the plain lowering: no fused or rewritten ops (same weights and state_dict keys)")
    from ..backends.torch_passes import TARGETS
    p.add_argument("--target", choices=sorted(TARGETS), default="portable",
                   help="portable (default): public torch API only, runs on any device; cpu or cuda: "
                        "code tuned for that device (it warns when run elsewhere)")
    add_set_option(p)


def run(args) -> int:
    from .. import load
    from ..cli import parse_sets, print_warnings
    from ..summary import summary
    net = load(args.spec, parse_sets(args.set))
    print_warnings(net)
    if args.output == "-":
        sys.stdout.write(_source(net, args))
        return 0
    print(summary(net))
    if args.output:
        write_atomic(args.output, _source(net, args))
        print(f"\nwrote {args.output}: `from {os.path.splitext(os.path.basename(args.output))[0]} import build`")
    else:
        print("\n(add -o FILE.py to write the PyTorch source)")
    return 0


def _source(net, args) -> str:
    return net.python_source(inference=args.inference, optimize=not args.no_optimize, target=args.target)
