"""Valid networks are accepted at any input size torch accepts, with torch's output-size arithmetic:
the graph's shape of every op that owns a module equals what the built module computes (on the meta
device: shapes only), and the network's outputs too. A projected shortcut on an odd grid used to be
refused ("no strided 1x1 conv turns a 15x15 grid into 8x8") though a stride-2 1x1 conv does exactly that."""
from __future__ import annotations

import pytest

import mgdsl
from mgdsl.graph.layers import projection_stride

torch = pytest.importorskip("torch")

SIZES = {
    "specs/beyond/resnet-18.mg": [225, 200, 97, 33],
    "specs/beyond/resnext-50-32x4d.mg": [225, 63],
    "specs/beyond/mobilenet-v2.mg": [225, 97],
    "specs/beyond/efficientnet-b0.mg": [200, 33],
    "specs/beyond/fpn-resnet-18.mg": [225, 97],
    "specs/beyond/deeplabv3-resnet50.mg": [97],
    "specs/beyond/unet-2015.mg": [225],
    "specs/beyond/hrnet-w18-small.mg": [96],
}
CASES = [(spec, size) for spec, sizes in SIZES.items() for size in sizes]


@pytest.mark.parametrize("spec, size", CASES, ids=[f"{s.split('/')[-1][:-3]}@{n}" for s, n in CASES])
def test_odd_input_sizes_give_torchs_shapes(spec, size):
    net = mgdsl.load(spec, size=size)
    model = net.build(device="meta", optimize=False)
    shapes = {}
    modules = dict(model.named_modules())
    for r in net.graph.records():
        if r.id in modules:
            modules[r.id].register_forward_hook(lambda m, i, o, nid=r.id: shapes.__setitem__(nid, tuple(o.shape[1:])))
    out = model(torch.empty(2, *net.input_shape, device="meta"))
    outs = out if isinstance(out, tuple) else (out,)
    assert [tuple(o.shape[1:]) for o in outs] == list(net.output_shapes)
    assert len(shapes) > 10
    for nid, shape in shapes.items():
        assert shape == net.graph.node(nid).shape, nid


@pytest.mark.parametrize("have, want, stride", [
    ((15, 15), (8, 8), 2), ((32, 32), (16, 16), 2), ((16, 16), (16, 16), 1), ((7, 7), (4, 4), 2), ((7, 7), (1, 1), 7),
    ((9, 9), (3, 3), 3), ((15, 16), (8, 8), 2), ((8, 8), (9, 9), None), ((10, 6), (5, 2), None)])
def test_projection_stride_is_torchs(have, want, stride):
    assert projection_stride(have, want) == stride
    if stride is not None:
        assert all((n - 1) // stride + 1 == m for n, m in zip(have, want))
    else:
        assert not any(all((n - 1) // s + 1 == m for n, m in zip(have, want)) for s in range(1, 20))


def test_a_projected_shortcut_on_an_odd_grid(spec_file):
    text = 'network "T"\ninput 3 @ 15x15\nx = conv 8\nconv 16 stride=2\nadd x shortcut=proj\nfc 2\n'
    net = mgdsl.load(spec_file(text))
    proj = net.graph.node("s1.add1.g8.proj")
    assert proj.attrs["stride"] == 2 and proj.shape == (16, 8, 8)
