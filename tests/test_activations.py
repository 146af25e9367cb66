"""Every activation works wherever an activation is accepted (issue 24: hardswish, gelu and silu
above all, gates included): conv, grow, both mg-convs (the summing one's intermediate steps too),
upconv, the `act` layer on grids and on flat vectors, and a squeeze-and-excitation gate read by
`scale`. Each placement keeps every target and pass equal, and the network exports."""
from __future__ import annotations

import pytest
from conftest import assert_targets_agree

import mgdsl
from mgdsl.graph.layers import ACTS

torch = pytest.importorskip("torch")
F = torch.nn.functional


def spec(fn: str) -> str:
    return f'''network "A"
input 3 @ 16x16
grids 2
conv 8 act={fn}
grow act={fn}
mgconv act={fn}
mgconv merge=sum down=conv reach=all act={fn}
x = upconv 8 act={fn}; pool
g = use x on finest; gap; conv 8 kernel=1 bn=off act={fn}
use x on finest; scale g
act {fn}
fc 16; act {fn}; fc 10
'''


@pytest.mark.parametrize("fn", ["hardswish", "gelu", "silu", "hardsigmoid", "mish"])
def test_each_activation_everywhere_on_every_target(fn):
    assert fn in ACTS
    n = mgdsl.loads(spec(fn))
    assert sum(1 for r in n.graph.records() if r.kind == "act" and r.attrs["fn"] == fn) == 16
    assert_targets_agree(n)


def test_a_hard_gate_is_torchs():
    # MobileNetV3's squeeze-and-excitation: ReLU inside, a hard sigmoid gate; hardswish after
    n = mgdsl.loads('network "G"\ninput 8 @ 5x5\nx = relu\ng = gap; conv 2 kernel=1 bn=off; '
                    'conv 8 kernel=1 bn=off act=hardsigmoid\nuse x; scale g; act hardswish\n')
    model = n.build().eval()
    (w1, b1, w2, b2) = model.state_dict().values()
    x = torch.randn(2, 8, 5, 5)
    y = F.relu(x)
    gate = F.hardsigmoid(F.conv2d(F.relu(F.conv2d(y.mean((2, 3), keepdim=True), w1, b1)), w2, b2))
    torch.testing.assert_close(model(x), F.hardswish(y * gate))


def test_they_export_to_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    from mgdsl.testing import export_and_verify
    text = spec("{}")                       # hardswish, gelu and silu in turn, each in several places
    names = ["hardswish", "gelu", "silu"] * 6
    n = mgdsl.loads(text.format(*names[:text.count("{}")]))
    ok, worst, ratio = export_and_verify(n, tmp_path / "a.onnx")
    assert ok, (worst, ratio)
