"""The specs that existed before the layer library grew keep their text and their meaning.

`tests/data/existing_specs.csv` holds each spec's SHA-256 and, for networks, the cost model's params,
MACs and other arithmetic, recorded before any new layer type or option landed. The hashes are of the
text as `mgdsl fmt` laid it out (a layout-only change with identical counts); new layer types and
options must leave all of it alone.
"""
from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

import mgdsl
from mgdsl.graph.cost import cost_of

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "existing_specs.csv"
ROWS = list(csv.DictReader(TABLE.open(encoding="utf-8")))


def test_table_covers_every_spec_outside_the_beyond_zoo():
    listed = {r["spec"] for r in ROWS}
    present = {p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").rglob("*.mg")
               if "beyond" not in p.relative_to(ROOT / "specs").parts}
    assert listed == present
    assert len(ROWS) == 66


@pytest.mark.parametrize("row", ROWS, ids=[r["spec"] for r in ROWS])
def test_text_and_counts_unchanged(row):
    path = ROOT / row["spec"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"], "the spec's text changed"
    if not row["params"]:
        return                      # a family file: units only, checked through the specs that use it
    c = cost_of(mgdsl.load(path).graph)
    assert (c.params, c.macs, c.other) == (int(row["params"]), int(row["macs"]), int(row["other"]))
