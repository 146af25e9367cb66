"""`mgdsl serve`'s JSON API and downloads (no browser), driven through Starlette's TestClient and
compared with what mgdsl's own commands print: the gallery with `mgdsl.load`, a spec's layers, sections
and grids with `mgdsl cost --by layer --format json`, parameters with `--set`, diagnostics with
`mgdsl check --format json`, the downloads with `mgdsl cost --format csv|json` byte for byte. Live
updates come through /api/events when a file, or a file it imports, is saved."""
import contextlib
import html
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("starlette.testclient")     # it needs httpx2 (or httpx)

from conftest import ROOT  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

import mgdsl  # noqa: E402
from mgdsl.backends.draw import analyse  # noqa: E402
from mgdsl.cli import main  # noqa: E402
from mgdsl.commands.cost import field_json  # noqa: E402
from mgdsl.graph.cost import cost_of  # noqa: E402
from mgdsl.graph.receptive import layer_fields  # noqa: E402
from mgdsl.serve.app import create_app  # noqa: E402

SPECS = ROOT / "specs"
TOKEN = "t" * 32
PORT = 8123
FAMILY = 'network "F" (n = 2, w = 8)\ninput 3 @ 16x16\nn × conv w\nfc 4\n'
MEMBER = '# a member\nnetwork "F-1" from "fam.mg" (n = 1)\n'


def client_for(root, paths=None, **options) -> TestClient:
    """A client that has opened the printed address once (so it holds the cookie)."""
    app = create_app(str(root), [str(p) for p in paths] if paths else None, token=TOKEN, port=PORT,
                     watch=options.pop("watch", False), **options)
    c = TestClient(app, base_url=f"http://127.0.0.1:{PORT}")
    first = c.get(f"/?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    assert "HttpOnly" in first.headers["set-cookie"] and "samesite=strict" in first.headers["set-cookie"].lower()
    return c


@pytest.fixture(scope="module")
def specs():
    return client_for(SPECS)


def mg(*argv, cwd=SPECS) -> str:
    """What `mgdsl ARGV` prints, run in `cwd` (as `mgdsl serve` runs in its root)."""
    out = io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out):
            main(list(argv))
    finally:
        os.chdir(here)
    return out.getvalue()


def spec_json(client, path, **sets):
    query = "&".join(f"set.{k}={v}" for k, v in sets.items())
    r = client.get(f"/api/spec/{path}" + (f"?{query}" if query else ""))
    assert r.status_code == 200, r.text
    return r.json()


# -- the gallery -------------------------------------------------------------------------------------------
def test_the_gallery_lists_every_spec_with_mgdsls_own_numbers(specs):
    rows = specs.get("/api/specs").json()
    paths = sorted(p.relative_to(SPECS).as_posix() for p in SPECS.rglob("*.mg"))
    assert [r["path"] for r in rows] == paths
    for r in rows:
        checked = mgdsl.network.check_spec(SPECS / r["path"])
        if checked.units is not None:
            assert r["status"] == "units" and r["params"] is None and r["thumb"] is None
            continue
        net = checked.net
        assert r["status"] in ("ok", "warning"), r
        assert (r["name"], r["params"], r["macs"], r["outputs"]) == (net.name, net.num_params, net.macs, net.outputs_text)
        assert r["grids"] == [f"{h}x{w}" for h, w in net.graph.info.grids]
        assert r["diagnostics"] == json.loads(mg("check", r["path"], "--format", "json")), r["path"]
        assert r["thumb"].startswith(f"/api/thumb/{r['path']}?v=")
    thumb = specs.get(next(r["thumb"] for r in rows if r["path"] == "r-pmg-30.mg"))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/svg+xml"
    assert "immutable" in thumb.headers["cache-control"]
    root = ET.fromstring(thumb.content)
    assert root.get("width") == "240px"


# -- one spec ----------------------------------------------------------------------------------------------------
def test_layers_sections_and_grids_are_cost_by_layer(specs):
    j = spec_json(specs, "r-pmg-30.mg")
    cost = json.loads(mg("cost", "r-pmg-30.mg", "--by", "layer", "--format", "json"))[0]
    assert j["ok"] and j["name"] == "R-PMG-30" and j["diagnostics"] == [] and j["imports"] == ["families/r-pmg.mg"]
    assert j["summary"]["params"] == cost["params"] and j["summary"]["macs"] == cost["macs"]
    assert j["summary"]["input"] == cost["input_shape"] and j["summary"]["outputs"] == [cost["output_shape"]]
    net = mgdsl.load(SPECS / "r-pmg-30.mg")
    assert [x["path"] for x in j["layers"]] == [r.path for r in net.graph.info.layers]
    assert set(cost["by_layer"]) == {x["path"] for x in j["layers"]} | {"input"}
    for x in j["layers"]:
        want = cost["by_layer"][x["path"]]
        assert (x["params"], x["macs"], x["other"]) == (want["params"], want["macs"], want["other_ops"]), x["path"]
        assert x["receptive_field"] == want["receptive_field"], x["path"]
        assert x["file"] == "families/r-pmg.mg" and x["line"] >= 7
    for group in ("section", "grid"):
        assert j[f"by_{group}"] == {k: {"params": v["params"], "macs": v["macs"], "other": v["other_ops"]}
                                    for k, v in cost[f"by_{group}"].items()}
    first = j["layers"][0]
    assert first["grids_in"] == [[32, 32, 3], [16, 16, 3], [8, 8, 3]]
    assert first["grids_out"] == [[32, 32, 64], [16, 16, 32], [8, 8, 16]]
    assert j["layers"][-1]["grids_out"] == [[100]]
    assert j["parameters"] == [{"name": "n", "default": "2", "value": "2"}, {"name": "w", "default": "64", "value": "64"},
                               {"name": "classes", "default": "100", "value": "100"}]


def test_set_overrides_a_parameter_as_cost_set_does(specs):
    j = spec_json(specs, "r-pmg-30.mg", n=3)
    cost = json.loads(mg("cost", "r-pmg-30.mg", "--set", "n=3", "--format", "json"))[0]
    assert (j["summary"]["params"], j["summary"]["macs"]) == (cost["params"], cost["macs"])
    assert j["parameters"][0] == {"name": "n", "default": "2", "value": "3"}
    assert j["summary"]["params"] != spec_json(specs, "r-pmg-30.mg")["summary"]["params"]
    bad = spec_json(specs, "r-pmg-30.mg", nope=1)
    assert not bad["ok"] and "layers" not in bad and "diagram" not in bad
    assert bad["diagnostics"] == json.loads(mg("check", "r-pmg-30.mg", "--set", "nope=1", "--format", "json"))


def test_the_source_is_highlighted_one_span_per_line(specs):
    j = spec_json(specs, "families/r-pmg.mg")
    lines = j["text"].split("\n")[:-1]
    got = re.findall(r'<span class="line" id="L(\d+)">(.*)</span>$', j["html"], re.M)
    assert [int(n) for n, _ in got] == list(range(1, len(lines) + 1))
    assert [html.unescape(re.sub(r"<[^>]+>", "", body)) for _, body in got] == lines
    assert '<span class="nb">conv</span>' in j["html"] and '<span class="c1">' in j["html"]


def test_the_diagrams_boxes_are_its_nodes_with_their_layers_numbers(specs):
    j = spec_json(specs, "r-pmg-30.mg")
    svg = ET.fromstring(j["diagram"]["svg"])
    ns = "{http://www.w3.org/2000/svg}"
    titles = {g.find(f"{ns}title").text for g in svg.iter(f"{ns}g") if g.get("class") == "node"}
    boxes = j["diagram"]["boxes"]
    G = mgdsl.load(SPECS / "r-pmg-30.mg").graph
    assert set(boxes) == {b.id for col in analyse(G).columns for b in col.boxes} and set(boxes) <= titles
    nodes, fields = cost_of(G).nodes, layer_fields(G)
    for bid, b in boxes.items():
        mine = [c for c in nodes if c.layer in b["layers"] and c.grid == b["grid"]]
        assert (b["params"], b["macs"]) == (sum(c.params for c in mine), sum(c.macs for c in mine)), bid
        if b["layers"] != ["input"]:
            assert b["receptive_field"] == field_json(fields[b["layers"][-1]][b["grid"]]), bid
            assert b["file"] == "families/r-pmg.mg" and isinstance(b["line"], int)
    # the receptive field of the coarsest grid of the third section, as the page's hint promises
    s3 = [b for b in boxes.values() if b["section"] == "s3"]
    coarsest = min(s3, key=lambda b: b["shape"][1])
    assert coarsest["grid"] == "1x1" and coarsest["receptive_field"]["covers_input"]


def test_an_error_is_checks_record_and_no_layers(tmp_path):
    (tmp_path / "fam.mg").write_text(FAMILY.replace("conv w", "conv w, 5"), encoding="utf-8")
    (tmp_path / "one.mg").write_text(MEMBER, encoding="utf-8")
    c = client_for(tmp_path)
    j = spec_json(c, "one.mg")
    assert not j["ok"] and "layers" not in j and "diagram" not in j and j["name"] == "F-1"
    assert j["diagnostics"] == json.loads(mg("check", "one.mg", "--format", "json", cwd=tmp_path))
    assert j["diagnostics"][0]["path"] == "fam.mg" and j["diagnostics"][0]["line"] == 3       # in the imported file
    rows = c.get("/api/specs").json()
    assert [(r["path"], r["status"]) for r in rows] == [("fam.mg", "error"), ("one.mg", "error")]
    assert c.get("/download/one.mg.py").status_code == 422


def test_preview_checks_unsaved_text_and_writes_nothing(specs):
    path = SPECS / "r-pmg-30.mg"
    before = path.read_bytes(), path.stat().st_mtime_ns
    text = path.read_text(encoding="utf-8").replace("(n = 2)", "(n = 3)")
    r = specs.post("/api/preview", json={"path": "r-pmg-30.mg", "text": text, "set": {}})
    assert r.status_code == 200, r.text
    assert r.json()["summary"] == spec_json(specs, "r-pmg-30.mg", n=3)["summary"] and r.json()["text"] == text
    wrong = specs.post("/api/preview", json={"path": "r-pmg-30.mg", "text": text + "conv\n"}).json()
    assert not wrong["ok"] and wrong["diagnostics"][0]["line"] == 3
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert specs.post("/api/preview", json={"path": "r-pmg-30.mg"}).status_code == 400
    assert specs.post("/api/preview", content=b"not json").status_code == 400
    assert specs.post("/api/preview", json={"path": "nope.mg", "text": text}).status_code == 404


def test_compare_gives_both_and_their_differences(specs):
    j = specs.get("/api/compare?a=r-pmg-30.mg&b=r-pmg-16.mg").json()
    a, b = spec_json(specs, "r-pmg-30.mg"), spec_json(specs, "r-pmg-16.mg")
    assert "html" not in j["a"] and "svg" not in j["a"]["diagram"] and j["a"]["layers"] == a["layers"]
    assert j["diff"]["total"] == {k: b["summary"][k] - a["summary"][k] for k in ("params", "macs")}
    assert j["diff"]["by_section"]["s3"]["params"] == b["by_section"]["s3"]["params"] - a["by_section"]["s3"]["params"]
    one = specs.get("/api/compare?a=r-pmg-30.mg&a.set.n=1&b.set.n=3").json()
    assert one["b"]["path"] == "r-pmg-30.mg" and one["diff"]["total"]["params"] == \
        spec_json(specs, "r-pmg-30.mg", n=3)["summary"]["params"] - spec_json(specs, "r-pmg-30.mg", n=1)["summary"]["params"]
    assert specs.get("/api/compare").status_code == 400


# -- downloads ---------------------------------------------------------------------------------------------------
def test_cost_downloads_are_cost_by_layer_byte_for_byte(specs):
    for fmt in ("csv", "json"):
        r = specs.get(f"/download/r-pmg-30.mg.{fmt}?set.n=3")
        assert r.status_code == 200
        assert r.content.decode("utf-8") == mg("cost", "r-pmg-30.mg", "--by", "layer", "--set", "n=3", "--format", fmt)
        assert r.headers["content-disposition"] == f'attachment; filename="r-pmg-30_n-3.{fmt}"'


def test_diagram_downloads(specs):
    svg = specs.get("/download/r-pmg-30.mg.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and ET.fromstring(svg.content).tag.endswith("svg")
    png = specs.get("/download/r-pmg-30.mg.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert specs.get("/download/r-pmg-30.mg.exe").status_code == 404
    assert specs.get("/download/missing.mg.svg").status_code == 404


def test_the_python_download_builds_the_network(specs):
    torch = pytest.importorskip("torch")
    r = specs.get("/download/pmg-9.mg.py?set.w=8")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('filename="pmg-9_w-8.py"')
    namespace: dict = {}
    exec(compile(r.text, "pmg-9.py", "exec"), namespace)
    model = namespace["build"]().eval()
    assert sum(p.numel() for p in model.parameters()) == spec_json(specs, "pmg-9.mg", w=8)["summary"]["params"]
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 100)


def test_the_onnx_download(tmp_path, monkeypatch):
    (tmp_path / "t.mg").write_text('network "T"\ninput 3 @ 8x8\nconv 4\nfc 2\n', encoding="utf-8")
    c = client_for(tmp_path)
    import mgdsl.serve.data as data
    monkeypatch.setattr(data, "find_spec", lambda name: None)
    r = c.get("/download/t.mg.onnx")
    assert r.status_code == 501 and "pip install 'mgdsl[onnx]'" in r.text
    monkeypatch.undo()
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    r = c.get("/download/t.mg.onnx")
    assert r.status_code == 200 and r.headers["content-disposition"].endswith('filename="t.onnx"')
    model = onnx.load_from_string(r.content)
    assert [i.name for i in model.graph.input] == ["input"]
    assert list(tmp_path.iterdir()) == [tmp_path / "t.mg"]         # nothing written beside the spec


# -- caching and live updates ---------------------------------------------------------------------------------
def test_an_edit_to_an_imported_file_is_seen_without_the_watcher(tmp_path):
    (tmp_path / "fam.mg").write_text(FAMILY, encoding="utf-8")
    (tmp_path / "one.mg").write_text(MEMBER, encoding="utf-8")
    c = client_for(tmp_path)
    first = spec_json(c, "one.mg")
    assert first["summary"]["params"] == mgdsl.load(tmp_path / "one.mg").num_params
    assert spec_json(c, "one.mg")["version"] == first["version"]              # cached
    (tmp_path / "fam.mg").write_text(FAMILY.replace("w = 8", "w = 16"), encoding="utf-8")
    second = spec_json(c, "one.mg")
    assert second["version"] != first["version"]
    assert second["summary"]["params"] == mgdsl.load(tmp_path / "one.mg").num_params != first["summary"]["params"]


def test_a_saved_import_sends_a_change_for_the_specs_that_read_it(tmp_path):
    (tmp_path / "fam.mg").write_text(FAMILY, encoding="utf-8")
    (tmp_path / "one.mg").write_text(MEMBER, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a spec", encoding="utf-8")
    app = create_app(str(tmp_path), None, token=TOKEN, port=PORT, watch=True)
    got: list[dict] = []
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as c:
        c.get(f"/?token={TOKEN}")
        spec_json(c, "one.mg")

        def listen():
            with c.stream("GET", "/api/events") as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                event = None
                for line in r.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "change":
                        got.append(json.loads(line[6:]))
                        return
        t = threading.Thread(target=listen, daemon=True)
        t.start()
        time.sleep(0.5)                                      # the watcher is up
        (tmp_path / "notes.txt").write_text("still not a spec", encoding="utf-8")
        (tmp_path / "fam.mg").write_text(FAMILY.replace("w = 8", "w = 16"), encoding="utf-8")
        t.join(10)
    assert got == [{"path": "fam.mg", "affected": ["fam.mg", "one.mg"]}]


# -- the command -----------------------------------------------------------------------------------------------
def test_serve_help_and_hint_without_the_extra_and_without_torch(tmp_path):
    for name in ("starlette", "uvicorn", "watchfiles"):
        (tmp_path / f"{name}.py").write_text(f"raise ImportError('no {name} here')\n")
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)   # the blockers first
    code = ("import contextlib, io, sys\nfrom mgdsl.cli import main\nout = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n    main(['serve', '--help'])\n"
            "print('usage: mgdsl serve' in out.getvalue(), 'token' in out.getvalue(), 'torch' in sys.modules)\n"
            "sys.exit(main(['serve']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": path})
    assert out.stdout.split() == ["True", "True", "False"], out.stdout + out.stderr
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0 and "pip install 'mgdsl[serve]'" in out.stderr


def test_the_command_prints_its_address_and_serves(tmp_path):
    import urllib.error
    import urllib.request
    (tmp_path / "t.mg").write_text('network "T"\ninput 3 @ 8x8\nconv 4\nfc 2\n', encoding="utf-8")
    p = subprocess.Popen([sys.executable, "-m", "mgdsl", "serve", str(tmp_path), "--port", "0"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = p.stdout.readline()
        m = re.fullmatch(r"mgdsl serve: (http://127\.0\.0\.1:\d+)/\?token=([A-Za-z0-9_-]{32})\n", line)
        assert m, line + p.stderr.read() if p.poll() is not None else line
        base, token = m.groups()
        with urllib.request.urlopen(f"{base}/api/spec/t.mg?token={token}", timeout=20) as r:
            assert json.loads(r.read())["summary"]["params"] == mgdsl.load(tmp_path / "t.mg").num_params
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/api/spec/t.mg", timeout=20)
        assert e.value.code == 403
    finally:
        p.terminate()
        p.wait(10)
    assert Path(tmp_path).joinpath("t.mg").exists() and sorted(x.name for x in tmp_path.iterdir()) == ["t.mg"]


def test_serve_refuses_paths_that_are_not_specs(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("x")
    assert main(["serve", str(tmp_path / "a.txt")]) == 1 and "not a .mg spec" in capsys.readouterr().err
    assert main(["serve", str(tmp_path / "missing")]) == 1 and "no such file or folder" in capsys.readouterr().err
