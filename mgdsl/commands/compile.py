"""Validate a spec, print a one-screen summary and, with -o, write standalone PyTorch source that
defines `build()` (it imports only torch; its state_dict keys match `mgdsl.load(...).build()`).
The code is portable by default; `--target cpu|cuda` tunes it for one device."""
from __future__ import annotations

import keyword
import os
import re
import sys

from ..atomic import write_atomic
from ..backends.torch_passes import TARGETS
from ..network import load
from ..summary import summary
from .options import add_set_option, parse_sets, print_warnings

HELP = "validate a spec, summarise it and write PyTorch source (-o)"


def configure(p):
    p.add_argument("spec", metavar="SPEC", help="the .mg file")
    p.add_argument("-o", "--output", metavar="FILE.py", help="write the PyTorch source here ('-' for stdout)")
    p.add_argument("--inference", action="store_true",
                   help="write an inference-only module: batch norm folded into the convs, always in eval mode")
    p.add_argument("--no-optimize", action="store_true",
                   help="the plain lowering: no fused or rewritten ops (same weights and state_dict keys)")
    p.add_argument("--target", choices=sorted(TARGETS), default="portable",
                   help="portable (default): public torch API only, runs on any device; cpu or cuda: "
                        "code tuned for that device (it warns when run elsewhere)")
    add_set_option(p)


def run(args) -> int:
    net = load(args.spec, parse_sets(args.set))
    print_warnings(net)
    if args.output == "-":
        sys.stdout.write(_source(net, args))
        return 0
    print(summary(net))
    if args.output:
        write_atomic(args.output, _source(net, args))
        how = f": {how_to_import(args.output)}" if os.path.isfile(args.output) else ""    # not /dev/null, a pipe
        print(f"\nwrote {args.output}{how}")
    else:
        print("\n(add -o FILE.py to write the PyTorch source)")
    return 0


def how_to_import(path: str) -> str:
    """How to get `build` from the written file: `from NAME import build` when its name is a module
    name Python can import; otherwise why not, the one line that loads it by path, and a name
    that would import."""
    stem, ext = os.path.splitext(os.path.basename(path))
    if ext != ".py":
        why = "its name does not end in .py"
    elif not stem.isidentifier():
        why = ("its name starts with a digit" if stem[:1].isdigit() else
               "its name holds characters other than letters, digits and _")
    elif keyword.iskeyword(stem):
        why = f"{stem} is a Python keyword"
    elif _shadows(stem):
        return (f"rename it before use: a file named {stem}.py hides Python's own {stem} module from code in "
                f"its folder (the file itself imports torch); e.g. {stem}_net.py, then "
                f"`from {stem}_net import build`")
    else:
        return f"`from {stem} import build`"
    name = re.sub(r"\W", "_", stem) or "net"
    if name[0].isdigit():
        name = "net_" + name
    if keyword.iskeyword(name) or _shadows(name):
        name += "_net"
    return (f"it cannot be imported by name ({why}); load it by path with\n"
            f"    import runpy; build = runpy.run_path({path!r})['build']\n"
            f"or name the file {name}.py to use `from {name} import build`")


def _shadows(name: str) -> bool:
    return name == "torch" or name in sys.stdlib_module_names


def _source(net, args) -> str:
    return net.python_source(inference=args.inference, optimize=not args.no_optimize, target=args.target)
