"""Receptive fields from the graph (mgdsl/graph/receptive.py) against an independent measurement: the
support of the input gradient of one output position. The network runs in float64 with every weight
positive and batch norm an identity plus a positive shift, so that nothing cancels; max pooling runs as
average pooling with the same window (its gradient would reach only the maximum); inputs are positive.
Then a pixel gets a gradient exactly when the position reads it."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_covers, short_sweep

import mgdsl
from mgdsl.graph.receptive import field, first_covering, input_box, layer_fields

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


def _positive(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:                       # weights: small and positive, activations stay near 1
                fan_in = p[0].numel()
                p.copy_(torch.rand_like(p) * 0.5 / fan_in + 0.5 / fan_in)
            elif name.endswith("bias"):
                p.fill_(0.01)
            else:                                 # norms' scales: distinct, or a layer norm's outputs at a
                p.copy_(torch.rand_like(p) + 0.5)  # position would sum to 0 and the gradient vanish
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
    return model.eval()


def _support(grad) -> tuple | None:
    nz = grad.abs().sum(dim=0).nonzero()
    if nz.numel() == 0:
        return None
    return ((nz[:, 0].min().item(), nz[:, 0].max().item()), (nz[:, 1].min().item(), nz[:, 1].max().item()))


def measured_boxes(net, nodes, monkeypatch):
    """{node: the input pixels a central position of it reads, by the gradient's support}."""
    monkeypatch.setattr(torch.nn.functional, "max_pool2d",
                        lambda x, k, s, p, ceil_mode=False: torch.nn.functional.avg_pool2d(x, k, s, p, ceil_mode))
    model = _positive(net.build(optimize=False, taps=True).double())
    x = (torch.rand(1, *net.input_shape, dtype=torch.float64) + 0.5).requires_grad_()
    model(x)
    out = {}
    for n in nodes:
        t = model.taps[n]
        if t.dim() != 4:
            continue
        cy, cx = (t.shape[2] - 1) // 2, (t.shape[3] - 1) // 2
        (g,) = torch.autograd.grad(t[0, :, cy, cx].sum(), x, retain_graph=True)
        out[n] = ((cy, cx), _support(g[0]))
    return out


def _layer_outputs(net):
    return [o for rec in net.graph.info.layers for o in rec.outputs if len(net.graph.node(o).shape) == 3]


def _check(net, monkeypatch):
    nodes = list(dict.fromkeys(_layer_outputs(net)))
    for n, (pos, support) in measured_boxes(net, nodes, monkeypatch).items():
        assert input_box(net.graph, n, pos, clip=True) == support, (net.name, n, pos)
    return len(nodes)


PAPER = sorted(p for p in (ROOT / "specs").rglob("*.mg") if "families" not in p.parts and "beyond" not in p.parts)
BEYOND = sorted((ROOT / "specs" / "beyond").glob("*.mg"))
SMALL = {"imagenet": {}, "unet-2015": {"size": 188, "w": 4}, "inception-v3": {"size": 75}}


def _params(path: Path) -> dict:
    if "beyond" in path.parts:
        return SMALL.get(path.stem, {"size": 64})
    return {}


# the specs that, with the networks of test_each_ops_rule below (which run always), use every rule the zoo's
# fields depend on (asserted below); the others are slow tests
FIELD_SUBSET = {ROOT / "specs" / p for p in ("res-12.mg", "beyond/inception-v3.mg", "beyond/shufflenet-v2-x0.5.mg",
                                             "beyond/squeezenet-1.0.mg", "mg-6.mg", "beyond/mobilenet-v2.mg",
                                             "beyond/fpn-resnet-18.mg", "beyond/deeplabv3-resnet50.mg")}


def _window(r) -> tuple:
    """What a window's field depends on beyond its formula's numbers: its kernel's kind, a stride, a
    dilation, padding (none, "same", other) and rounding; for other ops their mode."""
    at = r.attrs
    if r.kind not in ("conv", "maxpool", "avgpool", "convT"):
        return (("mode", at["mode"]),) if "mode" in at else ()
    k, d, pad = at["kernel"], at.get("dilation", 1), at.get("pad")
    if isinstance(k, tuple) or isinstance(pad, tuple) or isinstance(at["stride"], tuple):
        return ("window of two sides", at["stride"] != 1, d > 1)
    return ("1 x 1" if k == 1 else "even kernel" if k % 2 == 0 else "odd kernel", at["stride"] > 1, d > 1,
            None if pad is None else "none" if pad == 0 else "same" if pad == d * (k - 1) // 2 else "other",
            at.get("ceil"))


def _rules(G) -> set:
    """What a network's fields depend on: each op kind with its window, the ops where paths meet, 1 x 1
    grids spread over larger ones, and strided windows over grids of odd and even size."""
    out: set = set()
    for r in G.records():
        out.add((r.kind, *_window(r)))
        if len(r.inputs) > 1:
            out.add(("paths meet at", r.kind))
        for i in r.inputs:
            shape = G.node(i).shape
            if len(shape) == 3 and len(r.shape) == 3:
                if shape[1:] == (1, 1) and r.shape[1:] != (1, 1):
                    out.add(("1 x 1 spread by", r.kind))
                if r.kind in ("conv", "maxpool", "avgpool") and r.attrs["stride"] not in (1, (1, 1)):
                    out.add((r.kind, "strided over an odd side" if shape[1] % 2 else "strided over an even side",
                             r.attrs.get("ceil")))
    return out


def _ops_text(body: str) -> str:
    return f'network "R"\ninput 2 @ 23x29\nconv 4\n{body}\nfc 2 pool=avg\n'


def test_the_field_sweeps_subset_uses_every_rule_the_zoo_does():
    checked = [p for p in PAPER + BEYOND if "imagenet" not in p.parts]
    rules = {**{p: _rules(mgdsl.load(p, _params(p)).graph) for p in checked},
             **{name: _rules(mgdsl.loads(_ops_text(body)).graph) for name, body in OPS.items()}}
    assert_covers(FIELD_SUBSET | set(OPS), [*checked, *OPS], rules.__getitem__, "receptive-field rules")


@pytest.mark.parametrize("path", short_sweep(PAPER + BEYOND, FIELD_SUBSET, ids=lambda p: str(p.relative_to(ROOT / "specs"))))
def test_every_layers_field_is_what_the_network_reads(path, monkeypatch):
    if "imagenet" in path.parts:
        pytest.skip("ImageNet specs: see the slow test")
    net = mgdsl.load(path, _params(path))
    assert _check(net, monkeypatch) > 3


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted((ROOT / "specs" / "imagenet").glob("*.mg")), ids=lambda p: p.name)
def test_imagenet_fields_at_full_size(path, monkeypatch):
    net = mgdsl.load(path)
    assert _check(net, monkeypatch) > 3


# -- each op's rule on its own, against torch ----------------------------------------------------------------
OPS = {
    "dilated conv": "conv 4 kernel=3 dilation=3; conv 4 kernel=5 stride=2 pad=1",
    "non-square dilated conv": "conv 4 kernel=1x7; conv 4 kernel=5x3 dilation=2 stride=2 pad=1x2; conv 4 kernel=3x1",
    "non-square pools": "pool kernel=1x2; pool kernel=3x1 stride=2x1 pad=1x0 type=avg; pool kernel=3 stride=1x2 pad=1",
    "strided pools": "pool kernel=3 stride=2 pad=1 type=avg; pool",
    "transposed conv": "pool; pool; upconv 4 kernel=3 stride=2; upconv 4",
    "nearest and bilinear": "pool; pool; upsample 2; upsample 2 mode=bilinear",
    "resize": "x = pool\npool; upsample to=x mode=bilinear; pool kernel=3 stride=3; upsample to=x",
    "adaptive pool": "gap to=5; conv 4 kernel=1",
    "crop": "big = conv 4\nsmall = conv 4 kernel=5 pad=0; conv 4 kernel=3 pad=0\nuse big; crop small",
    "gates": "x = conv 4 stride=2\ng = pool; gap; conv 4 kernel=1\nuse x; scale g",
    "norms and scales": "conv 4 kernel=2 stride=2 pad=0 bn=off relu=off; ln; layerscale; droppath 0.1; gn 2",
}


@pytest.mark.parametrize("body", OPS.values(), ids=OPS.keys())
def test_each_ops_rule(body, spec_file, monkeypatch):
    net = mgdsl.load(spec_file(_ops_text(body)))
    nodes = [r.id for r in net.graph.records() if len(r.shape) == 3 and r.kind != "input"]
    kinds = {net.graph.node(n).kind for n in nodes}
    assert kinds & {"crop", "mul", "resize", "convT", "upsample", "adaptive_avgpool", "avgpool", "ln", "layerscale"} \
        or "dilation" in body
    for n, (pos, support) in measured_boxes(net, nodes, monkeypatch).items():
        assert input_box(net.graph, n, pos, clip=True) == support, n


# -- what the fields say -------------------------------------------------------------------------------------
def test_size_jump_and_offset_of_a_plain_stack():
    net = mgdsl.loads('network "S"\ninput 3 @ 64x64\nconv 8\nconv 8 stride=2\nconv 8 kernel=5 dilation=2\nfc 2\n')
    f = field(net.graph, "s1.conv3.g32.conv")
    # 3x3, then 3x3 stride 2 (+2), then a 5x5 kernel dilated by 2 spans 9 positions of jump 2 (+16)
    assert f.size == (1 + 2 + 2 + 16, 1 + 2 + 2 + 16) and f.jump == (2.0, 2.0)
    assert f.offset == (0.0, 0.0) and not f.covers      # position 0 sees -10..10 (theoretical)


def test_multigrid_sees_the_whole_image_before_the_single_grid_network():
    # the paper's argument: a coarse grid's field covers the image within a few layers
    mg, vgg = mgdsl.load("specs/mg-16.mg"), mgdsl.load("specs/vgg-16.mg")
    (i_mg, _), (i_vgg, _) = first_covering(mg.graph), first_covering(vgg.graph)
    assert i_mg < i_vgg
    fields = layer_fields(mg.graph)
    first = next(iter(fields.values()))
    assert set(first) == {"32x32", "16x16", "8x8"}


# -- where users see them ------------------------------------------------------------------------------------
def test_cost_by_layer_has_each_layers_fields_in_every_format(capsys):
    import json

    from mgdsl.cli import main
    assert main(["cost", "specs/r-pmg-30.mg", "--format", "json"]) == 0
    (obj,) = json.loads(capsys.readouterr().out)
    net = mgdsl.load("specs/r-pmg-30.mg")
    fields = layer_fields(net.graph)
    for path, grids in fields.items():
        got = obj["by_layer"][path]["receptive_field"]
        assert {g: tuple(v["size"]) for g, v in got.items()} == {g: f.size for g, f in grids.items()}
    for fmt in ("table", "md", "csv", "latex"):
        assert main(["cost", "specs/r-pmg-30.mg", "--by", "layer", "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "receptive" in out and "3, 6, 12" in out        # the stems on the three grids


def test_cost_rf_names_the_first_layer_that_sees_everything(capsys):
    import json

    from mgdsl.cli import main
    assert main(["cost", "--rf", "specs/vgg-16.mg", "specs/mg-16.mg", "--format", "json"]) == 0
    vgg, mg = json.loads(capsys.readouterr().out)
    assert mg["first_covering"]["index"] < vgg["first_covering"]["index"]
    assert vgg["first_covering"]["layer"] == first_covering(mgdsl.load("specs/vgg-16.mg").graph)[1]
    assert main(["cost", "--rf", "--by", "layer", "specs/vgg-16.mg"]) == 1


def test_the_editor_hover_shows_each_grids_field():
    from mgdsl.ide import analyse, hover
    path = ROOT / "specs" / "families" / "r-pmg.mg"
    text = path.read_text(encoding="utf-8")
    line = next(i for i, ln in enumerate(text.split("\n"), 1) if ln.startswith("n × resmg 8w, 4w, 2w"))
    a = analyse(path, text)
    shown = hover(a, line, 3)
    rec = [r for r in a.net.graph.info.layers if r.span.line == line][-1]     # n × ...: the last use
    for grid, f in layer_fields(a.net.graph)[rec.path].items():
        assert f"{grid:<7} {f.size[0]}x{f.size[1]}" in shown


def test_the_docs_table_is_fresh(capsys):
    import re

    from mgdsl.cli import main
    doc = (ROOT / "docs" / "receptive-fields.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- rf table[^\n]*-->\n(.*?)<!-- end of rf table -->", doc, re.S).group(1)
    specs = [p for p in sorted((ROOT / "specs").glob("*.mg")) if "-sm-" not in p.name]
    specs.sort(key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])
    assert main(["cost", "--rf", "--format", "md", *[str(p.relative_to(ROOT)) for p in specs]]) == 0
    assert capsys.readouterr().out.strip() == block.strip(), "docs/receptive-fields.md's table is stale"


def test_the_fields_of_a_huge_network_are_bounded(spec_file, monkeypatch, capsys):
    # 4,097 inverted residual blocks (37,000 ops) used to take minutes in `cost --by layer`
    from mgdsl.cli import main
    from mgdsl.graph import receptive
    monkeypatch.setattr(receptive, "MAX_STEPS", 5_000)
    path = spec_file('network "H"\ninput 3 @ 32x32\n40 × conv 8\nfc 2\n')
    assert receptive.walk_steps(mgdsl.load(path).graph) > 5_000
    assert main(["cost", path, "--by", "layer"]) == 0
    assert "not computed for a network this large" in capsys.readouterr().out
    assert main(["cost", "--rf", path]) == 1
    net = mgdsl.load(path)
    assert receptive.fields_of(net.graph, net.graph.info.layers[-2].path)     # one layer's: still there


def test_cost_json_of_every_spec_has_the_fields_of_layers_that_make_ops(capsys):
    # a layer that makes no op (drop, use) has fields but no cost row: cost --format json crashed on it
    import json

    from mgdsl.cli import main
    for path in ("specs/mnist/pmg-11-spt.mg", "specs/beyond/fpn-resnet-18.mg"):
        assert main(["cost", path, "--format", "json"]) == 0
        (obj,) = json.loads(capsys.readouterr().out)
        assert any("receptive_field" in v for v in obj["by_layer"].values())


def test_cost_computes_each_networks_fields_once(monkeypatch, capsys):
    # the CSV breakdown used to compute every layer's fields again for each row: 20 s for a 63-layer PMG
    from mgdsl.cli import main
    from mgdsl.graph import receptive
    calls = []
    real = receptive.field
    monkeypatch.setattr(receptive, "field", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(receptive, "_FIELDS", {})
    net = mgdsl.load("specs/pmg-16.mg")
    grids = sum(len(rec.outputs) for rec in net.graph.info.layers)
    assert main(["cost", "specs/pmg-16.mg", "--format", "csv", "--by", "layer"]) == 0
    assert len(calls) == grids
    # the same network lowered again (a second command in one process, a reload) finds them computed
    assert main(["cost", "specs/pmg-16.mg", "--format", "json"]) == 0
    assert len(calls) == grids


def test_fields_are_kept_per_network_not_per_text(monkeypatch):
    # the cache is keyed by what the fields depend on: a comment changes nothing, another depth does
    from mgdsl.graph import receptive
    monkeypatch.setattr(receptive, "_FIELDS", {})
    text = Path("specs/families/mg.mg").read_text(encoding="utf-8")
    first = receptive.layer_fields(mgdsl.loads(text, "specs/families/mg.mg").graph)
    again = mgdsl.loads("# a comment\n\n" + text, "specs/families/mg.mg").graph
    assert receptive.layer_fields(again) == first
    assert len(receptive._FIELDS) == 1
    deeper = mgdsl.loads(text, "specs/families/mg.mg", n=2).graph
    assert receptive.layer_fields(deeper) != first
    assert len(receptive._FIELDS) == 2
