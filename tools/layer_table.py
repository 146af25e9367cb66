"""Rewrite docs/language.md's table of built-in layer types from the registry (mgdsl/graph/layers.py).

    python tools/layer_table.py           # rewrite the table in place
    python tools/layer_table.py --check   # exit 1 if it is stale (tests/test_docs.py does the same)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from mgdsl.graph.layers import markdown_table

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
BEGIN = "<!-- layer table: generated from the registry by tools/layer_table.py; do not edit by hand -->\n"
END = "<!-- end of layer table -->\n"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)


def fresh(text: str) -> str:
    if not BLOCK.search(text):
        raise SystemExit(f"{DOC}: no generated layer table (markers missing)")
    return BLOCK.sub(lambda m: BEGIN + markdown_table() + END, text)


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    new = fresh(text)
    if "--check" in argv:
        if new != text:
            print(f"{DOC} has a stale layer table; run: python tools/layer_table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
