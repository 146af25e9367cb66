"""Networks with several outputs (`outputs a, b, ...`): `build()` returns a tuple in declared order, every
output is live for the dead-code check and the costs, and every pass and target keeps them."""
from __future__ import annotations

import pytest

import mgdsl
import mgdsl.testing as T
from mgdsl.errors import SpecShapeError
from mgdsl.graph.cost import cost_of

torch = pytest.importorskip("torch")

TWO = """network "Two outputs"
input 3 @ 32x32
c3 = conv 16 stride=2
c4 = conv 32 stride=2
p4 = conv 8 kernel=1 bn=off relu=off
l3 = use c3; conv 8 kernel=1 bn=off relu=off
p3 = use p4; upsample to=l3; add l3 shortcut=none; relu
aux = use c4; fc 5 pool=avg
outputs p3, p4, aux
"""


@pytest.mark.filterwarnings("ignore:.*was generated for cuda")
def test_build_returns_the_outputs_in_declared_order():
    net = mgdsl.loads(TWO)
    assert net.warnings == []
    assert net.output_shapes == ((8, 16, 16), (8, 8, 8), (5,))
    for target in ("portable", "cpu", "cuda"):
        for inference in (False, True):
            m = net.build(target=target, inference=inference).eval()
            ys = m(torch.randn(2, 3, 32, 32))
            assert isinstance(ys, tuple) and [tuple(y.shape[1:]) for y in ys] == list(net.output_shapes)
            assert all(y.is_contiguous() for y in ys)       # channels-last code hands back the default layout


@pytest.mark.filterwarnings("ignore:.*was generated for cuda")
def test_optimised_code_computes_the_plain_lowering_on_every_output():
    net = mgdsl.loads(TWO)
    torch.manual_seed(0)
    plain = net.build(optimize=False).double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    for target in ("cpu", "cuda"):
        other = net.build(target=target).double().eval()
        other.load_state_dict(plain.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(other(x), plain(x), rtol=1e-9, atol=1e-9)


def test_every_output_is_live():
    net = mgdsl.loads(TWO)
    c = cost_of(net.graph)
    assert c.live_macs == c.macs
    without_aux = mgdsl.loads(TWO.replace("outputs p3, p4, aux", "outputs p3, p4"))
    assert without_aux.warnings, "the unused fc head should be reported as dead"


def test_nothing_may_follow_outputs_and_a_grid_is_named_once():
    with pytest.raises(SpecShapeError, match="nothing may follow"):
        mgdsl.loads(TWO + "relu\n")
    with pytest.raises(SpecShapeError, match="named twice"):
        mgdsl.loads(TWO.replace("outputs p3, p4, aux", "outputs p3, p3"))


OCTAVE = """network "Octave"
input 3 @ 16x16
grids 2
y = mgconv 8, 4 merge=sum down=avg bias=off
outputs y
"""


def test_a_summing_mg_conv_is_an_octave_conv():
    """mgconv merge=sum down=avg computes Chen et al.'s octave convolution, written here by hand."""
    import torch.nn.functional as F
    net = mgdsl.loads(OCTAVE)
    m = net.build(optimize=False).double().train()
    w = {k.replace("s1.mgconv1.", ""): v for k, v in m.state_dict().items()}
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    h, low = x, F.avg_pool2d(x, 2)

    def bn(t):
        return F.batch_norm(t, None, None, training=True)     # fresh BN: unit weight, zero bias

    yh = F.conv2d(h, w["g16.conv.weight"], padding=1) + F.interpolate(
        F.conv2d(low, w["g16.upconv.weight"], padding=1), scale_factor=2)
    yl = F.conv2d(low, w["g8.conv.weight"], padding=1) + F.conv2d(F.avg_pool2d(h, 2), w["g8.downconv.weight"], padding=1)
    got = m(x)
    torch.testing.assert_close(got[0], F.relu(bn(yh)))
    torch.testing.assert_close(got[1], F.relu(bn(yl)))
    per_path = 3 * 3 * 3                           # 3 input channels, 3x3 kernels, no bias
    assert net.num_params == per_path * (8 + 8 + 4 + 4) + 2 * (8 + 4)


def _exported(text: str):
    """(network, its module in eval mode with calibrated batch norm, one torch.export trace of it)."""
    from mgdsl.backends import export as E
    net = mgdsl.loads(text)
    torch.manual_seed(1)
    model = T.calibrate_batch_norm(T.module_for_export(net, None), net.input_shape)
    return net, model, E.exported_program(model, net.input_shape)


@pytest.fixture(scope="module")
def new_layers_exported():
    from conftest import NEW_LAYERS
    return _exported(NEW_LAYERS)


@pytest.fixture(scope="module")
def two_exported():
    return _exported(TWO)


@pytest.mark.parametrize("suffix", [".pt2", ".onnx"])
def test_the_new_layers_export_and_compute_what_the_eager_module_does(tmp_path, suffix, new_layers_exported):
    from mgdsl.backends import export as E
    if suffix == ".onnx" and not (E._find_spec("onnx") and E._find_spec("onnxscript") and E._find_spec("onnxruntime")):
        pytest.skip("onnx, onnxscript or onnxruntime not installed")
    net, model, program = new_layers_exported
    path = tmp_path / f"net{suffix}"
    E.write_program(program, str(path), E.metadata(net, "fresh"))
    ok, err, ratio = T.verify(path, model, net.input_shape, (1, 2), 1e-3, 1e-4)
    assert ok, f"max abs error {err:.2e}"


def test_several_outputs_export_as_a_tuple(tmp_path, two_exported):
    from mgdsl.backends import export as E
    net, model, program = two_exported
    path = tmp_path / "net.pt2"
    E.write_program(program, str(path), E.metadata(net, "fresh"))
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        got, want = T.load_exported(path)(x), model(x)
    assert isinstance(got, tuple) and len(got) == len(net.output_shapes)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_several_outputs_export_to_onnx_and_verify_every_output(tmp_path, two_exported):
    pytest.importorskip("onnxruntime")
    from mgdsl.backends import export as E
    net, model, program = two_exported
    for name in ("net.onnx", "net.pt2"):
        path = tmp_path / name
        E.write_program(program, str(path), E.metadata(net, "fresh"))
        x = torch.randn(2, *net.input_shape)
        with torch.no_grad():
            got, want = T.load_exported(path)(x), model(x)
        assert isinstance(got, tuple) and len(got) == len(want), name
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-4)
        assert T.verify(path, model, net.input_shape)[0], name
