"""The `mgdsl` command. Each subcommand lives in its own module under ``mgdsl.commands`` and is
imported only when used, so commands that need no tensors never import torch."""
from __future__ import annotations

import argparse
import codecs
import functools
import importlib
import sys
import traceback

from .commands.options import add_set_option, parse_sets, print_warnings  # noqa: F401  (until every command imports them from there)
from .errors import MgError
from .version import __version__

# name -> module in mgdsl.commands; each module has HELP, configure(parser) and run(args) -> int
COMMANDS = {
    "compile": "compile",
    "check": "check",
    "cost": "cost",
    "train": "train",
    "eval": "eval",
    "attention": "attention",
    "draw": "draw",
    "export": "export",
    "fmt": "fmt",
    "port": "port",
    "lsp": "lsp",
    "serve": "serve",
    "bench": "bench",
}


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The command line's parser, built once per process (a caller that runs `main` many times, as the
    fuzzer and the tests do, would otherwise spend a quarter of a small command's time building it)."""
    p = argparse.ArgumentParser(
        prog="mgdsl",
        description="Compile .mg specs of multigrid networks (Ke, Maire & Yu, CVPR 2017) into checked graphs, "
                    "cost tables, diagrams and PyTorch modules.",
        epilog="Run `mgdsl COMMAND --help` for each command's options. Example: mgdsl compile specs/r-pmg-30.mg -o net.py")
    p.add_argument("--version", action="version", version=f"mgdsl {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(f".commands.{modname}", __package__)
        sp = sub.add_parser(name, help=mod.HELP, description=mod.__doc__)
        mod.configure(sp)
        sp.set_defaults(func=mod.run)
    return p


def _escape_undecodable(err: UnicodeError):
    """An encoding error handler: a byte of a file name that is not UTF-8 (which Python holds as a lone
    surrogate) is printed as \\xNN, any other character that cannot be written as \\uNNNN."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    text = err.object[err.start:err.end]
    return "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else f"\\u{ord(c):04x}"
                   for c in text), err.end


codecs.register_error("mgdsl-escape", _escape_undecodable)


def _escaping_output() -> None:
    """Whatever a file name holds, what mgdsl prints is valid text in the output's encoding."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="mgdsl-escape")    # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass                                          # not a text file (a test's capture): leave it


def main(argv: list[str] | None = None) -> int:
    _escaping_output()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:          # argparse already printed its message
        return int(e.code or 0) if e.code in (0, None) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except MgError as e:
        print(e.report(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mgdsl: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # a bug in mgdsl, not the user's mistake: say so, with the traceback
        traceback.print_exc()
        print("mgdsl: internal error: this is a bug in mgdsl, not in your spec; please report it with the "
              "traceback above.", file=sys.stderr)
        return 70
