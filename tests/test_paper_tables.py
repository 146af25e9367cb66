"""The paper's tables against the specs. The printed values and the errata are the package's data
(mgdsl/paper/*.csv, errata.json); every test here iterates over them and compares counts computed
from the graphs, with the one rule of mgdsl.paper.agrees. No paper number is written in this file."""
from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from importlib import resources
from pathlib import Path

import pytest

import mgdsl
from mgdsl import paper
from mgdsl.paper import agrees, errata, paper_rows, report, reproduce, table_infos
from mgdsl.paper import data as paper_data

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
ROWS = paper_rows()
QUANTITIES = {"params": "params_millions", "macs": "flops"}


def row_id(row) -> str:
    return f"{row['table'].split('_')[0]}:{row['method']}"


@pytest.fixture(scope="module")
def tables():
    return reproduce(SPECS)


@pytest.fixture(scope="module")
def loader():
    from mgdsl.lang.loader import Loader
    return Loader()


def test_the_facts_are_package_data():
    """The printed rows, the tables and the errata travel with the package (read through
    importlib.resources; tests/test_packaging.py checks that the wheel carries them)."""
    files = resources.files("mgdsl.paper")
    for name in ("paper_tables.csv", "tables.csv", "errata.json"):
        assert files.joinpath(name).is_file(), name
    assert sorted({r["table"].split("_")[0] for r in ROWS}) == ["Table1", "Table2", "Table3", "Table4"]
    assert set(table_infos()) == {r["table"] for r in ROWS}
    assert all(r["method"] and r["params_millions"] and r["spec"] for r in ROWS)


def test_committed_tables_are_fresh():
    committed = (ROOT / "docs" / "paper-tables.md").read_text(encoding="utf-8")
    assert committed == report("md", SPECS), \
        "docs/paper-tables.md is stale: regenerate it with `mgdsl cost --paper --format md > docs/paper-tables.md`"


def test_the_rule():
    """A count agrees with a printed number when it rounds to it at the printed precision, in exact
    arithmetic: 1.005 is half-way between 1.00 and 1.01 (as a float, round() gives 1.0)."""
    assert agrees(3_965_028, 10 ** 6, "3.97") and not agrees(3_965_028, 10 ** 6, "3.96")
    assert agrees(3_965_028, 10 ** 6, "3.96", rounding="truncate")
    assert not agrees(3_965_028, 10 ** 6, "3.97", rounding="truncate")
    assert agrees(1005, 1000, "1.01") and agrees(1005, 1000, "1.00") and not agrees(1005, 1000, "1.02")
    assert agrees(138_357_544, 10 ** 6, "138.0", decimals=0) and not agrees(138_357_544, 10 ** 6, "138.0")
    assert agrees(12, 1, "12") and not agrees(13, 1, "12")


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_counts_agree_with_the_printed_values(row, loader):
    """Straight from the graph: each printed count agrees with ours, unless an erratum explains
    that quantity, and then it really does not (no erratum is stale)."""
    spec = SPECS / row["spec"]
    assert spec.is_file(), f"{row_id(row)}: no spec {spec}"
    net = mgdsl.load(spec, loader=loader)
    explained = {e.explains for e in errata().get((row["table"], row["method"]), [])}
    scale = {"params": 10 ** 6, "macs": table_infos()[row["table"]].scale}
    counted = 0
    for q, column in QUANTITIES.items():
        if not row[column]:
            continue
        ours = net.num_params if q == "params" else net.macs
        assert agrees(ours, scale[q], row[column]) != (q in explained), \
            f"{row_id(row)} {q}: ours {ours / scale[q]:.4f}, printed {row[column]}, erratum: {q in explained}"
        counted += 1
    assert counted


def test_every_row_is_matched_or_explained(tables):
    assert [t.key for t in tables] == list(dict.fromkeys(r["table"] for r in ROWS))
    assert [(r.table, r.method) for t in tables for r in t.rows] == [(r["table"], r["method"]) for r in ROWS]
    for t in tables:
        for r in t.rows:
            assert r.status in ("match", "documented"), (r.method, r.status, r.notes)
            assert not r.stale, (r.method, r.stale)
            off = {q for q in QUANTITIES if r.agrees(q) is False}
            assert off == r.explained, (r.method, off, r.explained)
            assert all(n.strip() and "{" not in n and "no longer holds" not in n for n in r.notes), r.notes
        assert "WITHOUT explanation" not in t.summary()


def test_every_erratum_names_a_row():
    rows = {(r["table"], r["method"]) for r in ROWS}
    assert set(errata()) <= rows, set(errata()) - rows


def _errata_with(erratum, printed_as):
    """The errata, one of them claiming another origin of its printed value."""
    return {k: [replace(x, printed_as=printed_as) if x is erratum else x for x in v]
            for k, v in paper_data.errata().items()}


def test_checked_errata_are_checked(tables):
    """An erratum that says how the printed value arises is verified: claim the wrong rounding, the
    wrong parameters or no edit, and the row is no longer explained."""
    checked = [e for es in errata().values() for e in es if e.printed_as is not None]
    assert {e.printed_as.rounding for e in checked} == {"round", "truncate"}
    assert any(e.printed_as.set for e in checked) and any(e.printed_as.edit for e in checked)
    for e in checked:
        how = e.printed_as
        if how.edit or how.set:
            wrong = replace(how, edit=None, set={})
        else:
            wrong = replace(how, rounding="truncate" if how.rounding == "round" else "round", decimals=None)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(paper.compare, "errata", partial(_errata_with, e, wrong))
            # the erratum's row alone: each row is counted on its own, so the others need not be
            mp.setattr(paper.compare, "paper_rows", lambda e=e: [r for r in ROWS if (r["table"], r["method"]) ==
                                                                 (e.table, e.method)])
            (row,) = (r for t in reproduce(SPECS) for r in t.rows)
        assert row.status == "UNEXPLAINED", (e.method, wrong, row.notes)
        assert any("no longer holds" in n for n in row.notes)


def test_errata_file_is_checked(monkeypatch):
    text = paper_data._text

    def bad(name):
        return text(name).replace('"explains": "macs"', '"explains": "flops"', 1) if name == "errata.json" else text(name)
    monkeypatch.setattr(paper_data, "_text", bad)
    paper_data.errata.cache_clear()
    try:
        with pytest.raises(ValueError, match="bad entry"):
            paper_data.errata()
    finally:
        paper_data.errata.cache_clear()


def test_r_mg_34_reproduces_table_4(tables):
    row = next(r for t in tables for r in t.rows if r.method == "R-MG-34")
    assert row.status == "match" and row.agrees("params") and row.agrees("macs")


def test_table_3_notes_quote_the_one_map_nets(tables):
    t3 = next(t for t in tables if t.key.startswith("Table3"))
    for r in t3.rows:
        assert r.twin is not None and r.twin.name.endswith("-spt.mg")
        twin = mgdsl.load(r.twin)
        assert f"{twin.num_params / 1e6:.3f}M params and {twin.macs / 1e9:.3f}G MACs" in " ".join(r.notes)


def test_width_slip_is_the_coarse_width(tables):
    """Table 1's MG / R-MG FLOPs errata edit section 5 of the family from (8w, 6w) to (8w, 4w): the
    printed params must then be those of the spec as drawn, not of the edited one."""
    from mgdsl.graph.cost import cost_of
    edits = [e for es in errata().values() for e in es if e.printed_as and e.printed_as.edit]
    assert edits
    for e in edits:
        edit = e.printed_as.edit
        family = SPECS / edit["file"]
        assert re.search(r"8w, 6w", edit["find"]) and re.search(r"8w, 4w", edit["replace"])
        row = next(r for t in tables for r in t.rows if (r.table, r.method) == (e.table, e.method))
        net = mgdsl.load(row.spec_path)
        edited = cost_of(mgdsl.loads(family.read_text().replace(edit["find"], edit["replace"]), path=str(family),
                                     **net.params).graph)
        assert row.agrees("params") and not agrees(edited.params, 10 ** 6, row.paper_params)
