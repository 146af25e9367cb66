"""Rewrite docs/language.md's table of built-in layer types from the registry (mgdsl/graph/layers.py).

    python tools/layer_table.py           # rewrite the table in place
    python tools/layer_table.py --check   # exit 1 if it is stale (tests/test_docs.py does the same)
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

from mgdsl.graph.layer_api import LAYERS, REQUIRED

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
BEGIN = "<!-- layer table: generated from the registry by tools/layer_table.py; do not edit by hand -->\n"
END = "<!-- end of layer table -->\n"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)


def markdown_table() -> str:
    """The built-in layer types as a Markdown table, from the registry: each parameter with its
    default, what values it takes (its kind and range) and what it is for."""
    rows = ["| type | parameters (default; takes) | what it does |", "|---|---|---|"]
    for lt in LAYERS.values():
        params = []
        for i, p in enumerate(lt.params):
            if p.default is REQUIRED:
                text = f"`{p.name.upper()}`" if i == 0 else f"`{p.name}=...` (required)"
            else:
                default = p.default_text()
                text = f"`{p.name}={default}`" if default and not default.startswith("the ") else f"`{p.name}=`"
            takes = p.kind.describe()
            params.append(f"{text} ({takes})" + (f": {p.doc}" if p.doc else ""))
        doc = " ".join(lt.doc.split())
        cell = "<br>".join(params) or "none"
        rows.append(f"| `{lt.name}` | {cell.replace('|', chr(92) + '|')} | {doc.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + "\n"


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
