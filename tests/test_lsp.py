"""`mgdsl lsp` driven as an editor drives it: a subprocess speaking JSON-RPC over stdio with
Content-Length framing. Diagnostics appear at the mistake and clear when it is fixed; hover on a
layer line shows the pyramid before and after and that line's params and MACs (as the cost model
counts them); go to definition reaches the prelude; completion lists a layer's parameters."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from conftest import ROOT  # noqa: E402
from lsp_client import Client  # noqa: E402

import mgdsl  # noqa: E402
from mgdsl.graph.cost import cost_of  # noqa: E402
from mgdsl.graph.layer_api import LAYERS  # noqa: E402
from mgdsl.lang.loader import prelude_file  # noqa: E402
from mgdsl.summary import pyramid_after, pyramid_before, pyramid_text  # noqa: E402

RPMG = ROOT / "specs" / "families" / "r-pmg.mg"


@pytest.fixture(scope="module")
def client():
    c = Client(cwd=ROOT)
    caps = c.initialize(ROOT.as_uri())["capabilities"]
    assert caps["hoverProvider"] and caps["definitionProvider"] and "completionProvider" in caps
    yield c
    c.close()


def _open(client, uri, text, version=1):
    return client.open(uri, text, version)


def _change(client, uri, text, version):
    return client.change(uri, text, version)


def test_diagnostic_at_the_mistake_then_cleared(client, tmp_path):
    good = RPMG.read_text(encoding="utf-8")
    bad = good.replace("n × resmg 8w, 4w, 2w  kernel", "n × resmg 8w, 4w  kernel")
    path = tmp_path / "bad.mg"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(mgdsl.errors.SpecShapeError) as info:       # what `mgdsl check` says
        mgdsl.load(path)
    span = info.value.span
    uri = path.as_uri()
    (d,) = _open(client, uri, bad)
    assert d["severity"] == 1 and d["code"] == "MG106" and d["source"] == "mgdsl"
    assert d["message"].startswith(info.value.message) and f"hint: {info.value.hint}" in d["message"]
    line = bad.splitlines()[span.line - 1]
    assert d["range"] == {"start": {"line": span.line - 1, "character": span.col - 1},
                          "end": {"line": span.end_line - 1, "character": span.end_col - 1}}
    assert line[d["range"]["start"]["character"]:d["range"]["end"]["character"]] == "8w, 4w"
    assert d["relatedInformation"][0]["message"] == "in this use of unit 'resmg'"
    assert _change(client, uri, good, 2) == []
    # a syntax error while typing, then fixed again
    (d,) = _change(client, uri, good.replace("pool merge", "pool merge )", 1), 3)
    assert d["code"] == "MG101"
    assert _change(client, uri, good, 4) == []


def test_warnings_are_diagnostics_too(client, tmp_path):
    text = 'network "T"\ninput 3 @ 32x32\ngrids 2\nconv 8\nconv 8\nfc 10 on coarsest\n'
    path = tmp_path / "w.mg"
    (d,) = _open(client, path.as_uri(), text)
    assert d["severity"] == 2 and d["range"]["start"]["line"] == 3 and "never reach" in d["message"]


def _position_of(text, needle, offset=0):
    for i, line in enumerate(text.splitlines()):
        if needle in line:
            return {"line": i, "character": line.index(needle) + offset}
    raise AssertionError(needle)


def test_hover_shows_the_pyramids_and_the_cost_of_the_line(client):
    text = RPMG.read_text(encoding="utf-8")
    uri = RPMG.as_uri()
    assert _open(client, uri, text, 10) == []
    pos = _position_of(text, "n × resmg 2w, w, w/2", offset=6)          # on `resmg`
    hover = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos})
    value = hover["contents"]["value"]
    # the numbers the cost model (`mgdsl cost --by layer`) gives for the layers written on that line
    net = mgdsl.load(RPMG)
    recs = [r for r in net.graph.info.layers if r.span.line == pos["line"] + 1]
    assert len(recs) == net.params["n"] == 2 and {r.type for r in recs} == {"resmg"}
    by_layer = cost_of(net.graph).by("layer")
    params = sum(by_layer[r.path].params for r in recs)
    macs = sum(by_layer[r.path].macs for r in recs)
    assert params > 0 and macs > 0
    assert f"before  {pyramid_text(pyramid_before(recs[0]))}" in value
    assert f"after   {pyramid_text(pyramid_after(recs[-1]))}" in value
    assert f"params  {params:,}" in value and f"MACs    {macs:,}" in value
    assert pyramid_text(pyramid_before(recs[0])) != pyramid_text(pyramid_after(recs[-1]))
    assert "expands to" in value and "mgconv1" in value and "add1" in value        # the unit's expansion
    # on the network line: the whole network
    whole = client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                  "position": _position_of(text, 'network "R-PMG"')})
    assert f"{net.num_params:,}" in whole["contents"]["value"]


def test_definition_of_a_prelude_unit(client):
    text = RPMG.read_text(encoding="utf-8")
    uri = RPMG.as_uri()
    _open(client, uri, text, 20)
    pos = _position_of(text, "n × resmg 2w", offset=7)
    loc = client.request("textDocument/definition", {"textDocument": {"uri": uri}, "position": pos})
    loc = loc[0] if isinstance(loc, list) else loc
    prelude = prelude_file()
    assert Path(loc["uri"].removeprefix("file://")).resolve() == prelude.resolve()
    target = prelude.read_text(encoding="utf-8").splitlines()[loc["range"]["start"]["line"]]
    assert target.startswith("unit resmg(")


def test_definition_of_an_import(client, tmp_path):
    lib = tmp_path / "lib.mg"
    lib.write_text("unit twice(w):\n    conv w\n    conv w\n", encoding="utf-8")
    text = 'import "lib.mg"\nnetwork "T"\ninput 3 @ 8x8\ntwice 4\nfc 2\n'
    path = tmp_path / "main.mg"
    assert _open(client, path.as_uri(), text, 1) == []
    for pos, line in (({"line": 0, "character": 9}, 0), ({"line": 3, "character": 2}, 0)):
        loc = client.request("textDocument/definition", {"textDocument": {"uri": path.as_uri()}, "position": pos})
        loc = loc[0] if isinstance(loc, list) else loc
        assert loc["uri"] == lib.as_uri() and loc["range"]["start"]["line"] == line


def test_completion_after_a_layer_type_lists_its_parameters(client, tmp_path):
    text = RPMG.read_text(encoding="utf-8").replace("n × resmg 2w, w, w/2", "mgconv ")
    path = tmp_path / "c.mg"
    uri = path.as_uri()
    _open(client, uri, text, 1)
    pos = _position_of(text, "mgconv ", offset=len("mgconv "))
    result = client.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos})
    labels = [i["label"] for i in (result["items"] if isinstance(result, dict) else result)]
    assert [p.name for p in LAYERS["mgconv"].params] == [x for x in labels if x in {p.name for p in LAYERS["mgconv"].params}]
    assert {p.name for p in LAYERS["mgconv"].params} <= set(labels)
    # each parameter says what it takes, from its kind and range in the registry
    details = {i["label"]: i.get("detail") for i in (result["items"] if isinstance(result, dict) else result)}
    assert details["reach"].startswith("whole number 1..64 | all; default 1")
    assert details["kernel"].startswith("whole number (odd) 1..255 per grid | same; default 3")
    # at the start of a line: the layer types and the units
    pos = _position_of(text, "mgconv ", offset=0)
    result = client.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos})
    labels = {i["label"] for i in (result["items"] if isinstance(result, dict) else result)}
    assert set(LAYERS) | {"res", "resmg"} <= labels


def test_without_pygls_a_one_line_hint(tmp_path):
    blocker = tmp_path / "pygls.py"
    blocker.write_text("raise ImportError('no pygls here')\n")
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)   # the blocker first
    out = subprocess.run([sys.executable, "-c", "import sys; from mgdsl.cli import main; sys.exit(main(['lsp']))"],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": path})
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0 and "pip install 'mgdsl[lsp]'" in out.stderr


def test_an_error_in_the_base_file_shows_on_the_line_that_names_it(client, tmp_path):
    (tmp_path / "fam.mg").write_text('network "F" (n = 2)\ninput 3 @ 8x8\nn × conv 4 kernel=2\nfc 2\n', encoding="utf-8")
    text = '# a member of the family\nnetwork "F-1" from "fam.mg" (n = 1)\n'
    (d,) = _open(client, (tmp_path / "one.mg").as_uri(), text)
    assert d["range"]["start"] == {"line": 1, "character": 0} and d["code"] == "MG105"
    assert "fam.mg:3:" in d["message"] and "even" in d["message"]


def test_saved_pyramids_and_grids_in_process():
    """The same answers without the protocol (mgdsl.ide): saved pyramids complete after `concat` and
    lead to the line that saved them; after `on`, the grids."""
    from mgdsl.ide import analyse, completions, definition
    path = ROOT / "specs" / "mnist" / "families" / "u-mg.mg"
    text = path.read_text(encoding="utf-8")
    a = analyse(path, text)
    lines = text.splitlines()
    row = next(i for i, ln in enumerate(lines, 1) if ln.startswith("concat e3"))
    got = {(c.label, c.kind) for c in completions(a, row, len("concat ") + 1)}
    assert {("e1", "pyramid"), ("e2", "pyramid"), ("e3", "pyramid"), ("tensor", "parameter")} <= got
    assert ("e3", "pyramid") not in {(c.label, c.kind) for c in completions(a, 12, 1)}    # not saved yet up there
    where = definition(a, row, len("concat e") + 1)
    assert lines[where.line - 1].startswith("e3 = ")
    grids = {c.label for c in completions(a, row, 1) if c.kind == "grid"}
    assert grids == set()
    text_on = text.replace("concat e3", "mgconv on ")
    broken = analyse(path, text_on, previous=a)                 # `on` and nothing yet: does not parse
    assert broken.net is None and broken.problems
    on = {c.label for c in completions(broken, row, len("mgconv on ") + 1)}
    assert {"coarsest", "finest", "64x64", "32x32", "16x16"} <= on


# -- positions in every position encoding (LSP 3.17: utf-8, utf-16, utf-32) --------------------------------------------
ENCODINGS = ("utf-8", "utf-16", "utf-32")
_CODEC = {"utf-8": ("utf-8", 1), "utf-16": ("utf-16-le", 2), "utf-32": ("utf-32-le", 4)}


def units(text: str, encoding: str) -> int:
    """How many code units of `encoding` the text takes: the protocol's column of what follows it."""
    codec, width = _CODEC[encoding]
    return len(text.encode(codec)) // width


def lsp_lines(text: str) -> list[str]:
    """The lines as the protocol counts them: only \\n, \\r\\n and \\r end a line."""
    import re
    return re.split(r"\r\n|\r|\n", text)


def at(text: str, needle: str, offset: int, encoding: str) -> dict:
    """The protocol position of the character `offset` characters into the first `needle`."""
    for i, line in enumerate(lsp_lines(text)):
        if needle in line:
            return {"line": i, "character": units(line[: line.index(needle) + offset], encoding)}
    raise AssertionError(needle)


# a family spec with `×`, emoji (outside the basic plane) in comments and in the network's name; the last line has
# no newline, so that formatting must reach the end of a line with an emoji in it
BASE = ('# 🚀 a family\nnetwork "Base 🚀" (n = 2, w = 16)\ninput 3 @ 32x32\ngrids 3\nconv w, w/2, w/4\n'
        '# 🚀 a comment above a layer written after ×\npool; n × resmg  # 🌍 after the layer\npool merge; pool merge\n'
        'fc 10  # 🚀')
MEMBER = 'network "Member 🚀" from "base.mg" (n = 1)\n'
# an error after an emoji in a string, and one whose note is in another file, after a `×` there
AFTER_EMOJI = 'network "T 🚀"\ninput 3 @ 16x16\ngrids 2\nconv 8 act="🚀" kernal=3\nfc 2\n'
LIB = "unit wide(a):\n    1 × resmg a\n"
USES_LIB = 'import "lib.mg"\nnetwork "T"\ninput 3 @ 32x32\ngrids 2\nconv 8, 4\nwide 8, 4, 2\nfc 2\n'


@pytest.mark.parametrize("offered, chosen", [(["utf-8", "utf-16"], "utf-8"), (["utf-32", "utf-8"], "utf-32"),
                                             (["utf-16"], "utf-16"), (None, "utf-16"), (["latin-1"], "utf-16")])
def test_the_position_encoding_is_negotiated(offered, chosen):
    c = Client(cwd=ROOT)
    try:
        caps = c.initialize(ROOT.as_uri(), encodings=offered)["capabilities"]
        assert caps["positionEncoding"] == chosen      # announced: the client counts in what the server chose
    finally:
        c.close()


@pytest.fixture(scope="module", params=ENCODINGS)
def enc_client(request):
    c = Client(cwd=ROOT)
    caps = c.initialize(ROOT.as_uri(), encodings=[request.param])["capabilities"]
    assert caps["positionEncoding"] == request.param
    assert caps["textDocumentSync"]["change"] == 1          # Full: each change sends the whole text
    c.encoding = request.param
    yield c
    c.close()


def _write(tmp_path, **files):
    for name, text in files.items():
        (tmp_path / f"{name.replace('_', '-')}.mg").write_bytes(text.encode("utf-8"))


def test_diagnostic_ranges_in_each_encoding(enc_client, tmp_path):
    enc = enc_client.encoding
    _write(tmp_path, after_emoji=AFTER_EMOJI, lib=LIB, uses_lib=USES_LIB)
    (d,) = enc_client.open((tmp_path / "after-emoji.mg").as_uri(), AFTER_EMOJI)
    start = at(AFTER_EMOJI, "kernal", 0, enc)
    assert d["range"] == {"start": start, "end": {**start, "character": start["character"] + len("kernal")}}
    (d,) = enc_client.open((tmp_path / "uses-lib.mg").as_uri(), USES_LIB)
    assert d["range"]["start"] == at(USES_LIB, "8, 4, 2", 0, enc)
    lib_note = next(r for r in d["relatedInformation"] if r["location"]["uri"] == (tmp_path / "lib.mg").as_uri())
    assert lib_note["location"]["range"]["start"] == at(LIB, "resmg", 0, enc)      # after the `×`, in a closed file


def test_hover_definition_completion_formatting_in_each_encoding(enc_client, tmp_path):
    enc = enc_client.encoding
    _write(tmp_path, base=BASE, member=MEMBER)
    base, member = (tmp_path / "base.mg").as_uri(), (tmp_path / "member.mg").as_uri()
    assert enc_client.open(base, BASE) == []
    assert enc_client.open(member, MEMBER) == []
    last_g = at(BASE, "resmg  #", len("resmg") - 1, enc)         # the last letter of `resmg`, after `pool; n × `
    hover = enc_client.request("textDocument/hover", {"textDocument": {"uri": base}, "position": last_g})
    assert hover["contents"]["value"].startswith("**resmg**: 2 uses")          # that step, not the whole line
    loc = enc_client.request("textDocument/definition", {"textDocument": {"uri": base}, "position": last_g})
    loc = loc[0] if isinstance(loc, list) else loc
    target = Path(loc["uri"].removeprefix("file://")).read_text(encoding="utf-8")
    assert lsp_lines(target)[loc["range"]["start"]["line"]].startswith("unit resmg(")
    # right after `resmg` a layer type is still being typed: layer types and units, not resmg's parameters
    after = at(BASE, "resmg  #", len("resmg"), enc)
    items = enc_client.request("textDocument/completion", {"textDocument": {"uri": base}, "position": after})["items"]
    assert {"resmg", "mgconv", "pool"} <= {i["label"] for i in items}
    # `from "base.mg"` after the emoji of the network's name leads to that file
    on_base = at(MEMBER, 'base.mg"', len("base.m"), enc)
    loc = enc_client.request("textDocument/definition", {"textDocument": {"uri": member}, "position": on_base})
    loc = loc[0] if isinstance(loc, list) else loc
    assert loc["uri"] == base
    # formatting replaces the whole document: up to its real end, after the last line's emoji
    (edit,) = enc_client.request("textDocument/formatting", {"textDocument": {"uri": base},
                                                             "options": {"tabSize": 4, "insertSpaces": True}})
    lines = lsp_lines(BASE)
    assert edit["range"] == {"start": {"line": 0, "character": 0},
                             "end": {"line": len(lines) - 1, "character": units(lines[-1], enc)}}
    from mgdsl.errors import Source
    from mgdsl.lang.format import format_source
    assert edit["newText"] == format_source(Source("base.mg", BASE))


# characters that Python's str.splitlines() takes as line ends and the protocol does not
NOT_LINE_ENDS = "\u2028\u2029\x85\x0c\x0b\x1c\x1d\x1e"


def test_lines_are_split_as_the_protocol_splits_them(enc_client, tmp_path):
    enc = enc_client.encoding
    text = (f"# odd characters in a comment: {NOT_LINE_ENDS} and on\r\nnetwork \"T 🚀\"  # {NOT_LINE_ENDS}\r"
            "input 3 @ 8x8\nconv 4 kernal=3\nfc 2\n")
    uri = (tmp_path / "odd.mg").as_uri()
    (d,) = enc_client.open(uri, text)
    assert d["range"]["start"] == at(text, "kernal", 0, enc) == {"line": 3, "character": 7}
    # the server asks for whole texts (sync kind Full); a client that sends ranges all the same (in the agreed
    # encoding) has them applied with the protocol's lines, and the server's copy stays the editor's
    edits = [("kernal", 0, 6, "kernel"), (" and on", 7, 0, " \u2028 more"), ("kernel=3", 8, 0, " $"), ("$", -1, 2, "")]
    for version, (needle, offset, length, new) in enumerate(edits, 2):
        start = at(text, needle, offset, enc)
        end = at(text, needle, offset + length, enc)
        i = text.index(needle) + offset
        text = text[:i] + new + text[i + length:]
        got = enc_client.edit(uri, version, [{"range": {"start": start, "end": end}, "text": new}])
        if "$" in text:
            (d,) = got
            assert d["code"] == "MG101" and d["range"]["start"] == at(text, "$", 0, enc)
        else:
            assert got == []
    assert "\u2028 more" in text and "kernel=3\n" in text
    # and the server's copy is the editor's: a last error, on the last line, is where the editor has it
    (d,) = enc_client.edit(uri, 9, [{"range": {"start": at(text, "fc 2", 4, enc), "end": at(text, "fc 2", 4, enc)},
                                     "text": " bias=maybe"}])
    text = text.replace("fc 2", "fc 2 bias=maybe")
    assert d["range"]["start"] == at(text, "maybe", 0, enc)


# -- hover, and the editor saying what `mgdsl check` says ---------------------------------------------------------------
def test_hover_on_a_prelude_unit_names_its_real_file(tmp_path):
    from mgdsl.ide import analyse, hover
    text = "unit wide(a):\n    1 × resmg a\n"
    path = tmp_path / "lib.mg"
    a = analyse(path, text)
    shown = hover(a, 2, len("    1 × res") + 1)
    assert shown.startswith("**unit resmg**(widths, kernel, shortcut)")
    import re
    where, line = re.search(r"`([^`]+\.mg)` line (\d+)", shown).groups()
    assert where == "mgdsl/lang/prelude.mg" and (ROOT / where).is_file()
    assert (ROOT / where).read_text(encoding="utf-8").splitlines()[int(line) - 1].startswith("unit resmg(")
    assert prelude_file().as_uri() in shown                          # a link the editor can follow
    # a unit of the document itself: its own line
    mine = analyse(path, text + "unit twice(w):\n    wide w\n    wide w\n")
    assert "`lib.mg` line 1" in hover(mine, 4, len("    wi") + 1)


def _expansion_rows(value: str) -> dict[str, str]:
    block = value.split("expands to (grid:channels after each layer):\n```\n")[1].split("\n```")[0]
    import re
    return {row.split()[0]: re.split(r"\s{2}(?=[\d,]+ params)", row)[0].split(None, 1)[1].strip()
            for row in block.splitlines()}


def test_expansion_rows_show_the_grids_each_sublayer_leaves():
    """HRNet's exchange (mgconv reach=all) makes stride-2 chains down to the coarser grids; their
    intermediate nodes are not what the layer leaves on those grids."""
    from mgdsl.ide import analyse, hover
    path = ROOT / "specs" / "beyond" / "hrnet-w18-small.mg"
    text = path.read_text(encoding="utf-8")
    a = analyse(path, text)
    lines = text.splitlines()
    want = {"stage2": "56x56:16  28x28:32", "stage3": "56x56:16  28x28:32  14x14:64",
            "stage4": "56x56:16  28x28:32  14x14:64  7x7:128"}
    for section, pyramid in want.items():
        row = next(i for i in range(lines.index(f"section {section}"), len(lines)) if lines[i].endswith("stage") or
                   "; stage " in lines[i]) + 1
        col = lines[row - 1].rindex("stage") + 2
        rows = _expansion_rows(hover(a, row, col))
        assert rows["mgconv1"] == pyramid, (section, rows)
        assert rows["res1.conv1"] == pyramid


def test_expansion_rows_of_every_spec_end_on_the_layers_outputs():
    """Over every spec: the row of the sub-layer that makes all of a unit layer's outputs shows
    exactly those outputs, finest first."""
    import glob

    from mgdsl.ide import _expansion, analyse
    from mgdsl.summary import pyramid_text
    checked = 0
    for spec in sorted(glob.glob(str(ROOT / "specs" / "**" / "*.mg"), recursive=True)):
        text = Path(spec).read_text(encoding="utf-8")
        a = analyse(spec, text)
        if a.net is None:
            continue
        G = a.net.graph
        for rec in G.info.layers:
            if rec.type in LAYERS or not rec.outputs:
                continue
            origins = {G.node(n).origin for n in rec.outputs}
            if len(origins) != 1 or not all(G.node(n).layer == rec.path for n in rec.outputs):
                continue
            sub = origins.pop()[len(rec.path) + 1:]
            rows = {r.split()[0]: r for r in _expansion(a, rec.path)}
            outs = sorted(((G.node(n).size, G.node(n).shape[0]) for n in rec.outputs), key=lambda g: -(g[0] or (0,))[0])
            assert rows[sub].split(None, 1)[1].startswith(pyramid_text(outs) + "  "), (spec, rec.path, rows[sub])
            checked += 1
    assert checked > 50


def test_a_file_without_network_or_units_gets_what_check_says(client, tmp_path):
    from mgdsl.network import check_spec
    text = "# a spec not written yet\n"
    path = tmp_path / "empty.mg"
    path.write_text(text, encoding="utf-8")
    (want,) = check_spec(str(path)).diagnostics
    (d,) = _open(client, path.as_uri(), text)
    assert d["code"] == want.code == "MG102" and "defines no network" in d["message"]
    assert d["range"]["start"] == {"line": 0, "character": 0}
    # a file of units is fine, as for `mgdsl check`; units named like a built-in layer are not
    unit_path = tmp_path / "units.mg"
    assert _open(client, unit_path.as_uri(), "unit twice(w):\n    conv w\n    conv w\n") == []
    (d,) = _change(client, unit_path.as_uri(), "unit conv(w):\n    pool\n", 2)
    assert d["code"] == "MG102" and "built-in layer type" in d["message"]


def test_an_error_inside_the_prelude_is_shown_on_the_use_and_leads_to_the_prelude(client, tmp_path):
    text = 'network "T"\ninput 3 @ 32x32\ngrids 2\nconv 8, 4\nres 8 stride=3\nfc 2 on coarsest\n'
    path = tmp_path / "p.mg"
    (d,) = _open(client, path.as_uri(), text)
    assert d["range"]["start"] == {"line": 4, "character": 0}
    assert d["message"].startswith("mgdsl/lang/prelude.mg:")
    (first, *_) = d["relatedInformation"]
    assert first["location"]["uri"] == prelude_file().as_uri()
    line = prelude_file().read_text(encoding="utf-8").splitlines()[first["location"]["range"]["start"]["line"]]
    assert line.strip().startswith("add in shortcut=")


def test_a_byte_order_mark_is_a_character_of_the_first_line(enc_client, tmp_path):
    """The grammar drops a leading BOM; an editor that keeps it in the text counts it."""
    enc = enc_client.encoding
    text = '\ufeffnetwork "T 🚀" $\ninput 3 @ 8x8\nfc 2\n'
    uri = (tmp_path / "bom.mg").as_uri()
    (d,) = enc_client.open(uri, text)
    assert d["code"] == "MG101" and d["range"]["start"] == at(text, "$", 0, enc)
    hover = enc_client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": at(text, "fc", 1, enc)})
    assert hover["contents"]["value"].startswith("**fc**")      # not lowered: the layer type's documentation
    assert enc_client.change(uri, text.replace(" $", ""), 2) == []
    hover = enc_client.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                      "position": at(text, "network", 3, enc)})
    assert hover["contents"]["value"].startswith("**T 🚀**")


def test_blocks_the_parameters_leave_out_are_greyed_hints(client, tmp_path):
    text = ('network "T" (se = off)\ninput 3 @ 16x16\nconv 8\nif se:\n    conv 16\n    relu\nelse:\n    relu\n'
            'unit f(c, strided = off):\n    if strided:\n        conv c stride=2\nf 8\nfc 10\n')
    path = tmp_path / "if.mg"
    path.write_text(text, encoding="utf-8")
    diags = _open(client, path.as_uri(), text)
    assert {(d["range"]["start"]["line"], d["range"]["end"]["line"]) for d in diags} == {(3, 5), (9, 10)}
    assert all(d["severity"] == 4 and d["tags"] == [1] and "not lowered" in d["message"] for d in diags)
    on = text.replace("(se = off)", "(se = on)").replace("f 8", "f 8 yes")
    (d,) = _change(client, path.as_uri(), on, 2)
    assert (d["range"]["start"]["line"], d["range"]["end"]["line"]) == (6, 7)       # now the else
