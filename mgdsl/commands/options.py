"""What several commands share: the `--set NAME=VALUE` option and printing a network's warnings."""
from __future__ import annotations

import argparse
import sys

from ..errors import UsageError


def parse_sets(items: list[str] | None) -> dict[str, str]:
    """`--set k=v` options -> {k: v}."""
    out = {}
    for it in items or []:
        k, eq, v = it.partition("=")
        if not eq or not k.strip().isidentifier() or not v.strip():
            raise UsageError(f"--set wants NAME=VALUE, not '{it}'", hint="for example: --set n=3")
        out[k.strip()] = v.strip()
    return out


def add_set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                   help="override a network parameter (repeatable), e.g. --set n=3 --set w=40")


def print_warnings(net) -> None:
    for w in net.warnings:
        print(w.report(), file=sys.stderr)
