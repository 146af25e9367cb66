"""The cost model and `mgdsl cost`: totals, groupings, memory definitions, every output format,
user mistakes, and that none of it imports torch."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import mgdsl
from mgdsl.cli import main
from mgdsl.graph.cost import GROUPINGS, cost_of

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "r-pmg-sm-16.mg"

CHAIN = """network "Chain"
input 3 @ 8x8
conv 4
fc 10
"""

PYRAMID = """network "Pyr"
input 2 @ 8x8
grids 2
conv 6, 4
mgconv 8, 4 kernel=3, 1
pool merge
fc 3
"""


def test_chain_by_hand():
    """Every formula on a chain small enough to count with pencil and paper."""
    c = cost_of(mgdsl.loads(CHAIN).graph)
    hw = 8 * 8
    conv_params, bn_params, fc_params = 3 * 4 * 9 + 4, 2 * 4, 4 * hw * 10 + 10
    assert c.params == conv_params + bn_params + fc_params
    assert c.macs == hw * 4 * 3 * 9 + 4 * hw * 10
    assert c.flops == 2 * c.macs
    assert c.other == 2 * 4 * hw + 4 * hw            # BN scale+shift, ReLU
    outs = [3 * hw, 4 * hw, 4 * hw, 4 * hw, 4 * hw, 10]   # input, conv, bn, relu, flatten, fc
    assert c.activations == sum(outs)
    # the image is held throughout; each op's input is alive while its output is written
    assert c.peak == outs[0] + max(a + b for a, b in zip(outs[1:], outs[2:]))
    assert c.live_macs == c.macs


def test_groupings_add_up_to_the_totals():
    c = cost_of(mgdsl.load(SPEC).graph)
    for key in GROUPINGS:
        groups = c.by(key)
        assert len(groups) > 1
        for field in ("params", "macs", "other", "activations"):
            assert sum(getattr(t, field) for t in groups.values()) == getattr(c, field)
    assert list(c.by("section"))[:2] == ["input", "s1"]
    with pytest.raises(ValueError):
        c.by("colour")


def test_totals_agree_with_the_network_api():
    net = mgdsl.load(SPEC)
    c = cost_of(net.graph)
    assert (c.params, c.macs) == (net.num_params, net.macs)
    assert sum(n.params for n in c.nodes) == c.params and len(c.nodes) == net.graph.number_of_nodes()


def test_memory_scales_with_batch_and_dtype():
    c = cost_of(mgdsl.loads(PYRAMID).graph)
    m1, m8 = c.memory(1, "float32"), c.memory(8, "float16")
    assert m1["activations"] == 4 * c.activations and m1["peak"] == 4 * c.peak and m1["weights"] == 4 * c.params
    assert m8["activations"] == 8 * 2 * c.activations and m8["weights"] == 2 * c.params
    assert c.peak < c.activations


def test_peak_counts_a_branch_held_across_layers():
    """A saved pyramid stays alive until the layer that reads it, so the peak includes it."""
    text = """network "Skip"
input 1 @ 4x4
x = conv 8
conv 2
conv 2
concat x
fc 2
"""
    g = mgdsl.loads(text).graph
    c = cost_of(g)
    x, narrow, cat = 8 * 16, 2 * 16, 10 * 16
    # at the concat: the image, the saved x, the last narrow output and the concatenation
    assert c.peak == 16 + x + narrow + cat


def test_dead_grids_are_counted_but_not_live():
    text = """network "Dead"
input 1 @ 8x8
grids 2
conv 4, 4
mgconv 4, 4
drop
fc 2
"""
    c = cost_of(mgdsl.loads(text).graph)
    dead = [n for n in c.nodes if not n.live and n.kind != "input"]
    assert dead and all(n.grid == "4x4" for n in dead)
    assert c.live_macs == c.macs - sum(n.macs for n in dead)


def _run(args, capsys):
    code = main(["cost", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_output(capsys):
    spec = str(SPEC)
    code, out, _ = _run([spec, spec, "--format", "json", "--batch", "4", "--dtype", "float16"], capsys)
    assert code == 0
    data = json.loads(out)
    assert isinstance(data, list) and len(data) == 2
    d = data[0]
    net = mgdsl.load(SPEC)
    assert d["spec"] == spec
    assert (d["params"], d["macs"], d["flops"]) == (net.num_params, net.macs, 2 * net.macs)
    assert all(isinstance(d[k], int) for k in ("params", "macs", "flops", "other_ops", "activation_bytes"))
    c = cost_of(net.graph)
    assert d["activation_bytes"] == 4 * 2 * c.activations and d["peak_bytes"] == 4 * 2 * c.peak
    for key in GROUPINGS:
        assert sum(g["params"] for g in d[f"by_{key}"].values()) == d["params"]
        assert sum(g["macs"] for g in d[f"by_{key}"].values()) == d["macs"]


def test_csv_output(capsys):
    code, out, _ = _run([str(SPEC), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 1 and int(rows[0]["params"]) == mgdsl.load(SPEC).num_params
    code, out, _ = _run([str(SPEC), "--format", "csv", "--by", "layer"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and sum(int(r["macs"]) for r in rows) == mgdsl.load(SPEC).macs
    assert rows[0]["layer"] == "input"


@pytest.mark.parametrize("fmt", ["table", "md", "latex"])
def test_human_formats(fmt, capsys):
    spec = str(SPEC)
    code, out, _ = _run([spec, str(ROOT / "specs" / "vgg-6.mg"), "--format", fmt, "--by", "grid"], capsys)
    assert code == 0
    assert "R-PMG-sm-16" in out and "VGG-6" in out and "32x32" in out
    if fmt == "latex":
        assert out.count(r"\begin{tabular}") == 3 and r" & \% & " in out   # the % columns, escaped
    if fmt == "md":
        assert out.count("|:---|") >= 3


def test_single_spec_summary(capsys):
    code, out, _ = _run([str(SPEC)], capsys)
    net = mgdsl.load(SPEC)
    assert code == 0 and f"{net.num_params:,}" in out and f"{2 * net.macs:,}" in out and "by section" in out


def test_set_overrides_parameters(capsys):
    code, out, _ = _run([str(SPEC), "--set", "n=2", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)[0]["params"] == mgdsl.load(SPEC, n=2).num_params


@pytest.mark.parametrize("args, message", [
    ([], "give at least one SPEC"),
    (["no/such.mg"], "no such file"),
    ([str(SPEC), "--batch", "0"], "--batch must be at least 1"),
    ([str(SPEC), "--paper"], "--paper takes no SPEC"),
    ([str(SPEC), "--set", "nope=1"], "no parameter 'nope'"),
    (["--paper", "--specs", str(ROOT / "docs")], "not the project's specs folder"),
])
def test_user_mistakes(args, message, capsys):
    code, out, err = _run(args, capsys)
    assert code == 1 and message in err and "Traceback" not in err


def test_paper_uses_the_specs_that_ship_with_mgdsl(tmp_path, monkeypatch, capsys):
    """Not the working folder's specs/: from anywhere, --paper counts the packaged specs, and a
    specs/ folder that happens to be there is only used when named with --specs."""
    from mgdsl.paper import packaged_specs
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "vgg-16.mg").write_text("not a spec\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["--paper", "--format", "csv"], capsys)
    assert code == 0 and err == "" and (packaged_specs() / "vgg-16.mg").read_text() != "not a spec\n"
    assert list(csv.DictReader(io.StringIO(out)))[0]["status"] in ("match", "documented")
    code, out, err = _run(["--paper", "--specs", "specs"], capsys)
    assert code == 0 and "spec error" in out


def test_one_broken_spec_among_several(tmp_path, capsys):
    bad = tmp_path / "bad.mg"
    bad.write_text('network "Bad"\ninput 3 @ 8x8\nconv 4 kernel=2\nfc 2\n')
    code, out, err = _run([str(SPEC), str(bad)], capsys)
    assert code == 1 and f"{bad}:3:" in err and "1 of 2 specs have errors" in err and out == ""


def test_cost_does_not_import_torch(tmp_path):
    code = ("import sys\nfrom mgdsl.cli import main\n"
            f"rc = main(['cost', {str(SPEC)!r}, '--format', 'json'])\n"
            "rc |= main(['cost', '--paper', '--format', 'csv'])\n"
            "assert rc == 0, rc\nassert 'torch' not in sys.modules, 'torch was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
