"""Kernels of two sides (issue 24): `conv kernel=1x7` and `pad=0x3`, as Inception-v3's 1x7 and 7x1 convs.
They count like torch, compute what torch's Conv2d with the same kernel and padding computes, keep every
target and pass equal, export, draw with their window, and have receptive fields of their own per axis;
a window where one number belongs, or a broken one, is refused where it is written."""
from __future__ import annotations

import pytest
from conftest import assert_targets_agree

import mgdsl
from mgdsl.errors import MgError, SpecNameError, SpecTypeError, SpecValueError
from mgdsl.graph.cost import cost_of
from mgdsl.graph.receptive import field

torch = pytest.importorskip("torch")
F = torch.nn.functional

SPEC = '''network "W" (w = 8)
input 3 @ 17x17
conv w kernel=1x7
conv w kernel=7x1 bn=off act=gelu
conv 2w kernel=3x5 pad=0 groups=2
conv w kernel=1x3 pad=0x1 dilation=2
conv w kernel=5x3 stride=2
fc 10 pool=avg
'''


def net():
    return mgdsl.loads(SPEC)


def test_shapes_and_counts_are_torchs():
    n = net()
    conv = [r for r in n.graph.records() if r.kind == "conv"]
    assert [r.attrs["kernel"] for r in conv] == [(1, 7), (7, 1), (3, 5), (1, 3), (5, 3)]
    assert [r.attrs["pad"] for r in conv] == [(0, 3), (3, 0), 0, (0, 1), (2, 1)]
    assert [r.shape[1:] for r in conv] == [(17, 17), (17, 17), (15, 13), (15, 11), (8, 6)]
    model = n.build(device="meta", optimize=False)
    assert sum(p.numel() for p in model.parameters()) == cost_of(n.graph).params
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.eval()(torch.zeros(1, *n.input_shape, device="meta"))
    assert fc.get_total_flops() == 2 * cost_of(n.graph).macs


def test_a_window_is_torchs_conv2d():
    n = mgdsl.loads('network "C"\ninput 4 @ 9x11\nconv 6 kernel=1x7 bn=off relu=off\nconv 6 kernel=5x1 pad=1x0 '
                    'bn=off relu=off\n')
    model = n.build(optimize=False).eval()
    ref = torch.nn.Sequential(torch.nn.Conv2d(4, 6, (1, 7), padding=(0, 3)),
                              torch.nn.Conv2d(6, 6, (5, 1), padding=(1, 0)))
    model.load_state_dict(dict(zip(model.state_dict(), ref.state_dict().values())))
    x = torch.randn(2, 4, 9, 11)
    assert n.output_shape == (6, 7, 11)
    torch.testing.assert_close(model(x), ref(x))


POOLS = """network "P"
input 3 @ 17x17
conv 8
pool kernel=1x2
pool kernel=3x1 stride=2x1 pad=1x0 type=avg
pool kernel=2 stride=1x2
fc 10 pool=avg
"""


def test_pools_take_windows_as_torch_does():
    n = mgdsl.loads(POOLS)
    pools = [r for r in n.graph.records() if r.kind in ("maxpool", "avgpool")]
    assert [r.shape[1:] for r in pools] == [(17, 9), (9, 9), (8, 5)]
    x = torch.randn(2, 8, 17, 17)
    y = F.max_pool2d(x, (1, 2), (1, 2), 0, ceil_mode=True)
    y = F.avg_pool2d(y, (3, 1), (2, 1), (1, 0))
    y = F.max_pool2d(y, 2, (1, 2), 0, ceil_mode=True)
    assert tuple(y.shape[1:]) == pools[-1].shape
    # comparisons and additions: taps - 1 per output of a max pool, taps per output of an average pool
    from mgdsl.graph.ops import OPS
    assert [OPS[r.kind].other(r.attrs, [], r.shape) for r in pools] == [8 * 17 * 9, 3 * 8 * 9 * 9, 3 * 8 * 8 * 5]
    assert_targets_agree(n, ({"target": "cpu"}, {"target": "cuda"}, {"inference": True}))
    from mgdsl.backends.draw import diagram
    assert "maxpool 1\u00d72/1\u00d72" in diagram(n.graph, detail="ops")


def test_a_square_window_is_the_number():
    # kernel=3x3 is kernel=3: the same graph, so the same generated code
    a = mgdsl.loads('network "S"\ninput 3 @ 8x8\nconv 4 kernel=3x3 pad=1x1\n')
    b = mgdsl.loads('network "S"\ninput 3 @ 8x8\nconv 4 kernel=3 pad=1\n')
    assert [r.attrs for r in a.graph.records()] == [r.attrs for r in b.graph.records()]


def test_every_target_and_pass_computes_the_same():
    n = net()
    assert_targets_agree(n)


@pytest.mark.parametrize("suffix", [".pt2", ".onnx"])
def test_windows_export(tmp_path, suffix):
    if suffix == ".onnx":
        pytest.importorskip("onnxruntime")
    from mgdsl.testing import export_and_verify
    n = net()
    ok, worst, ratio = export_and_verify(n, tmp_path / f"w{suffix}")
    assert ok, (worst, ratio)


def test_windows_draw_with_both_sides():
    from mgdsl.backends.draw import diagram
    n = net()
    assert "(1\u00d77)" in diagram(n.graph) and "(7\u00d71)" in diagram(n.graph)
    assert "conv 5\u00d73 /2" in diagram(n.graph, detail="ops")


def test_the_receptive_field_of_a_window_differs_per_axis():
    n = mgdsl.loads('network "R"\ninput 3 @ 32x32\nconv 4 kernel=1x7\nconv 4 kernel=5x1 dilation=2\n')
    last = [r.id for r in n.graph.records()][-1]
    assert field(n.graph, last).size == (9, 7)


BAD = 'network "B"\ninput 3 @ 17x17\n{}\nfc 10 pool=avg\n'


@pytest.mark.parametrize("body, cls, col, words", [
    ("conv 8 kernel=0x3", SpecValueError, 15, "out of range"),
    ("conv 8 kernel=1x", SpecNameError, 15, "half a window"),
    ("conv 8 kernel=1x7x3", SpecNameError, 15, "not a window"),
    ("conv 8 kernel=1.5x7", SpecNameError, 15, "not a window"),
    ("conv 8 kernel=99999x1", SpecValueError, 15, "out of range"),
    ("conv 8 kernel=2x3", SpecValueError, 15, "even on one side"),
    ("conv 8 kernel=1x7 + 1", SpecTypeError, 15, "not a number"),
    ("upconv 8 kernel=1x7", SpecTypeError, 17, "not a window"),
    ("pool kernel=1x2 pad=1x0", None, 1, "more than half its 1x2 window"),
    ("pool kernel=0x2", SpecValueError, 13, "out of range"),
    ("pool stride=2x0", SpecValueError, 13, "out of range"),
    ("pool kernel=1x40", None, 1, "does not fit"),
    ("conv 1x7", SpecTypeError, 6, "not a window"),
    ("conv 8 kernel=1x7 stride=1x2", SpecTypeError, 26, "not a window"),
    ("conv 8 kernel=1x7 pad=0x300", SpecValueError, 23, "out of range"),
    ("conv 8 kernel=1x19 pad=0", None, 1, "does not fit"),
])
def test_broken_windows_are_refused_where_written(spec_file, body, cls, col, words):
    with pytest.raises(MgError) as info:
        mgdsl.load(spec_file(BAD.format(body)))
    e = info.value
    assert cls is None or isinstance(e, cls), e.report()
    assert e.span.line == 3 and e.span.col == col, e.report()
    assert words in e.message and (e.hint or cls is None), e.report()


def test_a_window_is_not_a_name(spec_file):
    # 1x7 is a window even beside a parameter called x7 (which 1x7 never multiplies); 2x still does
    n = mgdsl.load(spec_file('network "N" (x = 4)\ninput 3 @ 8x8\nconv 2x kernel=1x3\n'))
    assert n.output_shape == (8, 8, 8)
    with pytest.raises(SpecNameError):
        mgdsl.load(spec_file('network "N"\ninput 3 @ 8x8\nconv 2y\n'))


def test_a_window_given_on_the_command_line(spec_file, capsys):
    from mgdsl.cli import main
    path = spec_file('network "K" (k = 3)\ninput 3 @ 17x17\nconv 8 kernel=k\nfc 10 pool=avg\n')
    assert main(["check", str(path), "--set", "k=1x7"]) == 0
    assert main(["check", str(path), "--set", "k=1x"]) != 0
    assert "a window like 1x7" in capsys.readouterr().err


def test_a_window_passes_through_a_unit(spec_file):
    # a unit's argument keeps its window (bare words become the caller's words; a window is a value)
    n = mgdsl.load(spec_file('network "U"\ninput 3 @ 17x17\nunit f(w, k = 1x7):\n    conv w kernel=k\n'
                             'f 8; f 8 k=7x1\n'))
    assert [r.attrs["kernel"] for r in n.graph.records() if r.kind == "conv"] == [(1, 7), (7, 1)]
