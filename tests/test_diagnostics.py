"""`mgdsl check --format json|sarif`: one record per diagnostic, at the place the text report names,
with a stable code per error class, every code documented."""
import json
import re

import pytest
from conftest import ROOT

from mgdsl.cli import main
from mgdsl.errors import MgError, SpecWarning, codes_table, diagnostic_classes

BAD = {
    "shape": 'network "T" (n = 2, w = 64)\ninput 3 @ 32x32\ngrids 3\nconv w, w/2, w/4\nn × resmg 8w, 4w\n',
    "syntax": 'network "T"\ninput 3 @ 8x8\nconv w $\nfc 2\n',
    "name": 'network "T"\ninput 3 @ 8x8\nconv 8 kernal=3\nfc 2\n',
}


def _check(capsys, *args):
    rc = main(["check", *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("kind", sorted(BAD))
def test_json_has_the_location_of_the_text_report(spec_file, capsys, kind):
    path = spec_file(BAD[kind])
    rc_text, _, text = _check(capsys, path)
    rc_json, out, _ = _check(capsys, "--format", "json", path)
    assert rc_text == rc_json == 1
    (rec,) = json.loads(out)
    where, severity, message = re.match(r"(.+?:\d+:\d+): (\w+): (.*)", text.splitlines()[0]).groups()
    assert f"{rec['path']}:{rec['line']}:{rec['column']}" == where
    assert (rec["severity"], rec["message"]) == (severity, message)
    # the caret line underlines exactly [column, end_column)
    caret = text.splitlines()[2]
    start = caret.index("^") - caret.index("|") - 1
    assert (start, start + caret.count("^")) == (rec["column"], rec["end_column"])
    assert rec["code"] in {c.code for c in diagnostic_classes()}
    if rec["hint"]:
        assert f"hint: {rec['hint']}" in text
    for note in rec["notes"]:
        assert f"{note['path']}:{note['line']}:{note['column']}: note: {note['message']}" in text


def test_json_lists_warnings_and_errors_of_several_specs(spec_file, capsys):
    warn = spec_file('network "T"\ninput 3 @ 32x32\ngrids 2\nconv 8\nconv 8\nfc 10 on coarsest\n', "w.mg")
    bad = spec_file(BAD["shape"], "b.mg")
    rc, out, err = _check(capsys, "--format", "json", warn, "specs/vgg-6.mg", bad)
    assert rc == 1 and err == ""
    recs = json.loads(out)
    assert [(r["path"], r["severity"], r["code"]) for r in recs] == [
        (warn, "warning", SpecWarning.code), (bad, "error", "MG106")]
    assert recs[0]["line"] == 4


def test_a_missing_file_has_no_location(capsys):
    rc, out, _ = _check(capsys, "--format", "json", "nope.mg")
    (rec,) = json.loads(out)
    assert rc == 1 and rec["path"] == "nope.mg" and rec["line"] is None and rec["code"] == "MG001"


def test_sarif_log(spec_file, capsys):
    path = spec_file(BAD["shape"])
    rc, out, _ = _check(capsys, "--format", "sarif", path)
    log = json.loads(out)
    assert rc == 1 and log["version"] == "2.1.0"
    run = log["runs"][0]
    (res,) = run["results"]
    rules = run["tool"]["driver"]["rules"]
    assert rules[res["ruleIndex"]]["id"] == res["ruleId"] == "MG106" and res["level"] == "error"
    region = res["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"], region["endColumn"]) == (5, 11, 17)
    assert res["relatedLocations"][0]["message"]["text"] == "in this use of unit 'resmg'"


def test_clean_specs_give_an_empty_list(capsys):
    rc, out, _ = _check(capsys, "--format", "json", "specs/r-pmg-30.mg", "specs/mnist/families/output-unit.mg")
    assert rc == 0 and json.loads(out) == []


def test_every_error_class_has_its_own_documented_code():
    classes = diagnostic_classes()
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes), codes
    assert all(re.fullmatch(r"MG\d{3}", c) for c in codes)
    # every error class lives in mgdsl/errors.py, where the codes are kept together
    import mgdsl.cli  # noqa: F401  (the modules that raise errors)
    import mgdsl.train.loop  # noqa: F401
    todo, found = [MgError], set()
    while todo:
        found.add(cls := todo.pop())
        todo += cls.__subclasses__()
    assert {c for c in found if c.__module__ != "mgdsl.errors"} == set()
    doc = (ROOT / "docs" / "editors.md").read_text(encoding="utf-8")
    assert codes_table() in doc, "regenerate the codes table in docs/editors.md from mgdsl.errors.codes_table()"
