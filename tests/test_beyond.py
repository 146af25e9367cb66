"""The zoo beyond the paper (specs/beyond): well-known networks written with the layer library, each
counting exactly like its reference implementation, checking clean, building, running and drawing.

The expected counts are the reference implementations' published numbers (torchvision, timm and
the original U-Net; params, and MACs of conv, transposed conv and linear layers, measured with each
library's own model code). torchvision does not import beside the CPU torch build here, so they are
written down below; mgdsl's side is always computed by its cost model.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import small_params

import mgdsl
from mgdsl.backends import draw
from mgdsl.graph.cost import cost_of

ROOT = Path(__file__).resolve().parents[1]
BEYOND = ROOT / "specs" / "beyond"

# spec: (reference input, reference outputs in order, params, MACs), as published for the reference code
REFERENCE = {
    "resnet-18": ((3, 224, 224), [(1000,)], 11_689_512, 1_814_073_344),
    "mobilenet-v2": ((3, 224, 224), [(1000,)], 3_504_872, 300_774_272),
    "resnext-50-32x4d": ((3, 224, 224), [(1000,)], 25_028_904, 4_230_479_872),
    "efficientnet-b0": ((3, 224, 224), [(1000,)], 5_288_548, 385_814_752),
    "hrnet-w18-small": ((3, 224, 224), [(1000,)], 13_187_464, 1_601_508_352),      # timm, classification head
    "convnext-small": ((3, 224, 224), [(1000,)], 50_223_688, 8_683_712_256),
    "squeezenet-1.0": ((3, 224, 224), [(1000,)], 1_248_424, 818_924_576),
    "mobilenet-v3-small": ((3, 224, 224), [(1000,)], 2_542_856, 56_510_400),
    "shufflenet-v2-x0.5": ((3, 224, 224), [(1000,)], 1_366_792, 40_476_448),
    "ghostnet-100": ((3, 224, 224), [(1000,)], 5_182_508, 141_150_512),                 # timm
    "inception-v3": ((3, 299, 299), [(1000,)], 23_834_568, 5_713_216_096),
    "dla46-c": ((3, 224, 224), [(1000,)], 1_301_400, 574_269_440),                      # timm
    "efficientnet-v2-s": ((3, 384, 384), [(1000,)], 21_458_488, 8_365_617_152),
    "deeplabv3-resnet50": ((3, 512, 512), [(21, 512, 512)], 39_638_869, 163_579_428_864),
    "unet-2015": ((1, 572, 572), [(2, 388, 388)], 31_030_658, 150_428_424_448),
    "fpn-resnet-18": ((3, 224, 224), [(256, 56, 56), (256, 28, 28), (256, 14, 14), (256, 7, 7), (256, 4, 4)],
                      13_783_616, 4_366_516_224),
}
SPECS = [s for s in REFERENCE if (BEYOND / f"{s}.mg").exists()]
_NETS: dict = {}


def net_of(name: str, small: bool = False):
    key = (name, small)
    if key not in _NETS:
        path = BEYOND / f"{name}.mg"
        _NETS[key] = mgdsl.load(path, **(small_params(path) if small else {}))
    return _NETS[key]


def as_tuple(y) -> tuple:
    return y if isinstance(y, tuple) else (y,)


def test_every_spec_in_the_folder_has_a_reference():
    assert {p.stem for p in BEYOND.glob("*.mg")} == set(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_counts_equal_the_reference(name):
    shape_in, shape_out, params, macs = REFERENCE[name]
    net = net_of(name)
    c = cost_of(net.graph)
    assert net.input_shape == shape_in and list(net.output_shapes) == shape_out
    assert (c.params, c.macs) == (params, macs)


@pytest.mark.parametrize("name", SPECS)
def test_checks_without_warnings_or_dead_ops(name):
    net = net_of(name)
    assert net.warnings == []
    assert cost_of(net.graph).live_macs == cost_of(net.graph).macs


@pytest.mark.parametrize("name", SPECS)
def test_full_size_module_on_meta(name):
    torch = pytest.importorskip("torch")
    net = net_of(name)
    m = net.build(device="meta")
    assert sum(p.numel() for p in m.parameters()) == net.num_params
    ys = as_tuple(m(torch.empty(2, *net.input_shape, device="meta")))
    assert [tuple(y.shape) for y in ys] == [(2, *s) for s in net.output_shapes]


@pytest.mark.parametrize("name", SPECS)
def test_forward_on_cpu_at_a_small_input(name):
    torch = pytest.importorskip("torch")
    net = net_of(name, small=True)
    if set(small_params(BEYOND / f"{name}.mg")) == {"size"}:
        assert net.num_params == net_of(name).num_params
    m = net.build()
    x = torch.randn(2, *net.input_shape)
    ys = as_tuple(m.train()(x))
    assert [tuple(y.shape) for y in ys] == [(2, *s) for s in net.output_shapes]
    assert all(torch.isfinite(y).all() for y in ys)
    with torch.no_grad():
        m.eval()
        # eval: no dropout, running statistics, so one image gives what it gives in a batch
        for one, batch in zip(as_tuple(m(x[:1])), as_tuple(m(x))):
            torch.testing.assert_close(one, batch[:1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", SPECS)
def test_draws(name):
    G = net_of(name).graph
    root = ET.fromstring(draw.render(draw.diagram(G), "svg"))
    assert any(G.info.name in t for t in root.itertext())


def non_comment_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip() and not line.strip().startswith("#"))


def test_mobilenet_v2_and_hrnet_are_short():
    assert non_comment_lines(BEYOND / "mobilenet-v2.mg") <= 25
    assert non_comment_lines(BEYOND / "hrnet-w18-small.mg") <= 60      # timm's hrnet.py is ~900 lines


# The zoo of issue 24 (references counted by FlopCounterMode on torchvision's and timm's own code): each
# must read as a spec, not as an unrolled listing
NEW_ZOO = ["mobilenet-v3-small", "shufflenet-v2-x0.5", "convnext-small", "efficientnet-v2-s", "squeezenet-1.0",
           "inception-v3", "dla46-c", "ghostnet-100"]


@pytest.mark.parametrize("name", [n for n in NEW_ZOO if n in SPECS])
def test_the_new_zoo_is_short(name):
    assert non_comment_lines(BEYOND / f"{name}.mg") <= 40


@pytest.mark.slow(reason="exports a full zoo network twice; tools/check_export.py and test_export cover the exporter")
@pytest.mark.parametrize("suffix", [".onnx", ".pt2"])
@pytest.mark.parametrize("name", [n for n in NEW_ZOO if n in SPECS])
def test_the_new_zoo_exports(name, suffix, tmp_path):
    pytest.importorskip("torch")
    if suffix == ".onnx":
        pytest.importorskip("onnxruntime")
    from mgdsl.testing import export_and_verify
    # warmed-up weights: deep networks on fresh ones amplify float32 rounding (mgdsl.testing.warm_up)
    ok, worst, ratio = export_and_verify(net_of(name, small=True), tmp_path / f"{name}{suffix}", warm=True)
    assert ok, (worst, ratio)
