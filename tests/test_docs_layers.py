"""docs/language.md's table of built-in layer types is generated from the registry and kept fresh."""
from __future__ import annotations

from pathlib import Path

from mgdsl.graph.layer_api import LAYERS

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    import layer_table
    return layer_table


def test_the_layer_table_in_the_docs_is_the_registrys():
    tool = _tool()
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    assert tool.fresh(text) == text, "docs/language.md's layer table is stale: run python tools/layer_table.py"
    assert tool.main(["--check"]) == 0


def test_the_table_has_a_row_and_every_parameter_of_every_layer_type():
    table = _tool().markdown_table()
    rows = table.splitlines()[2:]
    assert [r.split("`")[1] for r in rows] == list(LAYERS)
    for row, lt in zip(rows, LAYERS.values()):
        for p in lt.params:
            assert f"`{p.name}" in row or f"`{p.name.upper()}`" in row, (lt.name, p.name)
