"""mgdsl.tables, the one renderer of every table mgdsl prints: each format on a small table worked
out by hand, escaping included."""
from __future__ import annotations

import csv
import io
import json

from mgdsl.tables import Table, csv_text, html, json_text, latex, markdown, records_csv, render, text

T = Table(["name", "count", "notes"], [["a|b", "1,234", "x & y_1 50%"], ["long name", "5", ""]], align="lrp",
          title="T_1", footer="two rows")


def test_text_aligns_and_strips():
    assert text(T) == ("T_1\n"
                       "name       count  notes\n"
                       "---------  -----  -----------\n"
                       "a|b        1,234  x & y_1 50%\n"
                       "long name      5\n"
                       "two rows")


def test_text_layout_options():
    t = Table(["s", "n", "rest"], [["s1", "2", "tail"]], align="lrl")
    assert text(t, indent="  ", sep=(" ", "   "), widths=(4, 3), rule=False) == "  s      n   rest\n  s1     2   tail"


def test_markdown_escapes_bars_and_aligns():
    assert markdown(T).splitlines() == ["### T_1", "", "| name | count | notes |", "|:---|---:|:---|",
                                        "| a\\|b | 1,234 | x & y_1 50% |", "| long name | 5 |  |", "", "two rows"]
    assert markdown(Table(["a", "b"], [["1", "2"]])).splitlines()[1] == "|---|---|"   # no alignment given


def test_latex_escapes_and_wraps_paragraph_columns():
    out = latex(T)
    assert r"\begin{tabular}{lrp{6cm}}" in out and r"\caption{T\_1}" in out
    assert r"a|b & 1,234 & x \& y\_1 50\% \\" in out and out.endswith(r"\end{table}")


def test_html_escapes_and_right_aligns():
    out = html(T)
    assert out.startswith("<table><caption>T_1</caption><thead><tr><th>name</th><th>count</th>")
    assert "<tr><td>a|b</td><td style='text-align:right'>1,234</td><td>x &amp; y_1 50%</td></tr>" in out
    assert out.endswith("</table><p>two rows</p>")


def test_render_joins_tables():
    u = Table(["x"], [["1"]])
    assert render([u, u], "table") == "x\n-\n1\n\nx\n-\n1\n"


def test_csv_and_json():
    out = csv_text(["a", "b"], [[1, "x, y"], [None, 'say "hi"']])
    assert out == 'a,b\n1,"x, y"\n,"say ""hi"""\n'
    assert list(csv.reader(io.StringIO(out)))[2] == ["", 'say "hi"']
    recs = [{"a": 1, "b": None}]
    assert records_csv(recs) == "a,b\n1,\n"
    assert json_text(recs) == '[\n {\n  "a": 1,\n  "b": null\n }\n]\n' and json.loads(json_text(recs)) == recs


def test_compile_summary_keeps_long_section_names_aligned():
    """The summary's section table goes through the renderer, so a section name longer than the
    usual s1, s2, ... widens its column instead of pushing one row out of line."""
    import mgdsl
    from mgdsl.summary import summary
    spec = 'network "N"\ninput 3 @ 8x8\nsection stem_and_more\nconv 4\npool\nsection body\nconv 8\nfc 2\n'
    lines = summary(mgdsl.loads(spec)).splitlines()
    head, *rows = lines[lines.index("") + 1:]
    assert [r.split()[0] for r in rows] == ["stem_and_more", "body"]
    assert head.startswith("  section       layers")
    assert {r.rindex("   ") + 3 for r in rows} == {head.index("pyramid after")}
