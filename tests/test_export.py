"""`mgdsl export` and `Network.export`: ONNX and torch.export files with a dynamic batch dimension
that compute what the eager module computes, with fresh weights, a state_dict or a training
checkpoint, and clear errors for everything a user can get wrong.

A few specs at reduced size stand for the zoo here; `tools/check_export.py` runs every spec
(docs/export.md)."""
from __future__ import annotations

import pytest
import torch

import mgdsl
import mgdsl.testing as T
from mgdsl.backends import export as E
from mgdsl.cli import main
from mgdsl.errors import UsageError
from mgdsl.train import checkpoint as ckpt

# a residual multigrid classification net and a multigrid segmentation net, both at reduced size
CASES = {
    "r-pmg-16": ("specs/r-pmg-16.mg", {"w": 8}),
    "pmg-11-seg": ("specs/mnist/pmg-11-seg.mg", {"canvas": 32, "w": 8}),
}
RTOL, ATOL = 1e-3, 1e-4
TINY = 'network "TINY" (w = 4)\ninput 1 @ 8x8\ngrids 8x8, 4x4\nconv w, w\nresmg\npool merge\nfc 3\n'


def _eager(name):
    spec, params = CASES[name]
    net = mgdsl.load(spec, **params)
    torch.manual_seed(1)
    return net, T.warm_up(T.module_for_export(net, None), net.input_shape)


# the segmentation net's case is a slow test: the residual multigrid classifier's runs always, and so do
# tests/test_outputs.py's exports of networks with map outputs
SEG_SLOW = pytest.mark.slow(reason="the multigrid segmentation net; the classifier here and test_outputs' networks "
                                   "with map outputs export always")


@pytest.fixture(scope="module", params=[pytest.param(c, marks=SEG_SLOW) if c == "pmg-11-seg" else c for c in CASES])
def exported(request, tmp_path_factory):
    """(network, eager module, {suffix: file}) for each case: one trace written as .pt2 and, where the
    ONNX packages are installed, as .onnx, the way `Network.export` writes them."""
    net, model = _eager(request.param)
    folder = tmp_path_factory.mktemp(request.param)
    files = {".pt2": folder / "net.pt2"}
    if E._find_spec("onnx") and E._find_spec("onnxscript"):
        files[".onnx"] = folder / "net.onnx"
    program = E.exported_program(model, net.input_shape)
    for path in files.values():
        E.write_program(program, str(path), E.metadata(net, "fresh"))
    return net, model, files


@pytest.mark.parametrize("suffix", [".pt2", ".onnx"])
def test_export_matches_the_eager_module_at_batch_1_and_2(exported, suffix):
    """The running batch norm statistics differ from any one batch's own, so this also fails if the
    graph were traced in training mode."""
    net, model, files = exported
    if suffix == ".onnx":
        pytest.importorskip("onnxruntime")
        if suffix not in files:
            pytest.skip("onnx / onnxscript not installed")
    ok, err, ratio = T.verify(files[suffix], model, net.input_shape, (1, 2), RTOL, ATOL)
    assert ok, f"max abs error {err:.2e}, {ratio:.2f} x the tolerance"


# -- the state the checks use: float32 rounding must not be amplified ------------------------------------

DEEPLAB = ("specs/beyond/deeplabv3-resnet50.mg", {"size": 32})   # 53 convs, dilated, at 3x32x32


def _ratio(got, want):
    """Largest ratio of an element's difference to its tolerance atol + rtol * |want|."""
    return ((got - want).abs() / (ATOL + RTOL * want.abs())).max().item()


def _float32_vs_float64(net, model):
    """The float32 module against the same weights evaluated in float64, as a tolerance ratio."""
    double = T.module_for_export(net, None)
    double.load_state_dict(model.state_dict())
    double = double.double().eval()
    x = torch.randn(2, *net.input_shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        return _ratio(model(x).double(), double(x.double()))


@pytest.fixture(scope="module")
def deeplab():
    """DeepLabV3-ResNet50 at 32x32: (network, fresh module with calibrated batch norm, warmed-up module)."""
    spec, params = DEEPLAB
    net = mgdsl.load(spec, **params)
    torch.manual_seed(0)
    fresh = T.calibrate_batch_norm(T.module_for_export(net, None), net.input_shape)
    torch.manual_seed(0)
    warmed = T.warm_up(T.module_for_export(net, None), net.input_shape)
    return net, fresh, warmed


DEEPLAB_SLOW = pytest.mark.slow(reason="DeepLabV3-ResNet50 trained 10 steps and exported; warm_up's mechanics and "
                                       "the exports of smaller networks run always")


@DEEPLAB_SLOW
def test_warm_up_stops_a_deep_network_amplifying_float32_rounding(deeplab):
    """With random weights and calibrated batch norm, DeepLabV3's float32 output is itself several times
    the export tolerance away from its float64 value, so no float32 runtime could match the eager module
    within it; after `warm_up` it is well inside."""
    net, fresh, warmed = deeplab
    assert _float32_vs_float64(net, fresh) > 1
    assert _float32_vs_float64(net, warmed) < 0.5


@DEEPLAB_SLOW
def test_a_deep_dilated_network_exports_to_onnx_within_tolerance(deeplab, tmp_path):
    """The check tools/check_export.py makes, on a network that failed it with random weights."""
    pytest.importorskip("onnxruntime")
    if not (E._find_spec("onnx") and E._find_spec("onnxscript")):
        pytest.skip("onnx / onnxscript not installed")
    net, _, warmed = deeplab
    path = tmp_path / "deeplab.onnx"
    E.write_program(E.exported_program(warmed, net.input_shape), str(path), E.metadata(net, "fresh"))
    ok, err, ratio = T.verify(path, warmed, net.input_shape, (1, 2), RTOL, ATOL)
    assert ok, f"max abs error {err:.2e}, {ratio:.2f} x the tolerance"


def test_warm_up_leaves_a_network_without_batch_norm_as_it_is(spec_file):
    net = mgdsl.load(spec_file('network "PLAIN"\ninput 1 @ 8x8\nconv 4 bn=off\nconv 4 bn=off\ngap\nfc 3\n', "plain.mg"))
    torch.manual_seed(0)
    model = T.module_for_export(net, None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    T.warm_up(model, net.input_shape)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_warm_up_moves_the_weights_and_gives_up_on_a_diverging_loss(tiny):
    net = mgdsl.load(tiny)
    torch.manual_seed(0)
    model = T.module_for_export(net, None)
    convs = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("conv.weight")}
    T.warm_up(model, net.input_shape)
    assert any(not torch.equal(convs[k], model.state_dict()[k]) for k in convs)
    torch.manual_seed(0)
    model = T.module_for_export(net, None)
    with pytest.warns(RuntimeWarning, match="stopped being finite"):
        T.warm_up(model, net.input_shape, lr=1e30)
    assert all(torch.equal(convs[k], model.state_dict()[k]) for k in convs)


@pytest.fixture
def tiny(spec_file):
    return spec_file(TINY, "tiny.mg")


def test_onnx_file_has_a_symbolic_batch_and_a_recent_opset(tmp_path, tiny):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    net = mgdsl.load(tiny)
    path = tmp_path / "n.onnx"
    info = net.export(path)
    assert info["format"] == "ONNX" and info["weights"] == "fresh" and info["bytes"] == path.stat().st_size
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,), (out,) = proto.graph.input, proto.graph.output
    assert inp.name == E.INPUT and out.name == E.OUTPUT
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and not dims[0].dim_value             # the batch is symbolic
    assert out.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert [d.dim_value for d in dims[1:]] == list(net.input_shape)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["network"] == "TINY" and meta["weights"] == "fresh"


# -- weights from files ---------------------------------------------------------------------------------

def _trained_like(net):
    """A module with weights and batch norm statistics unlike a fresh one's, as after training."""
    torch.manual_seed(7)
    model = net.build(optimize=False)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.add_(torch.rand_like(t) * 0.5)
    return model.eval()


def _same_outputs(run, model, shape) -> bool:
    x = torch.randn(2, *shape)
    with torch.no_grad():
        return torch.allclose(run(x), model(x), rtol=RTOL, atol=ATOL)


def test_weights_from_a_state_dict_file(tmp_path, tiny):
    net = mgdsl.load(tiny, w=3)
    model = _trained_like(net)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = tmp_path / "n.pt2"
    assert main(["export", tiny, "-o", str(out), "--weights", str(tmp_path / "w.pt"), "--set", "w=3"]) == 0
    run = T.load_exported(out)
    assert _same_outputs(run, model, net.input_shape)
    assert not _same_outputs(run, net.build(optimize=False).eval(), net.input_shape)   # not fresh weights


def _checkpoint(path, model, spec, params):
    """A checkpoint in the format `mgdsl train` writes (mgdsl.train.loop), RNG state included."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ckpt.save(str(path), {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": {},
                          "step": 3, "data_position": 3, "rng": ckpt.rng_state(),
                          "config": {"spec": spec, "task": "mnist-seg", "params": params}, "network": "TINY"})


def test_weights_from_a_training_checkpoint_and_its_run_folder(tmp_path, tiny, capsys):
    net = mgdsl.load(tiny, w=3)
    model = _trained_like(net)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _checkpoint(run_dir / ckpt.CHECKPOINT, model, tiny, {"w": "3"})
    out = tmp_path / "n.pt2"
    assert net.export(out, weights=run_dir / ckpt.CHECKPOINT)["weights"] == ckpt.CHECKPOINT
    assert _same_outputs(T.load_exported(out), model, net.input_shape)
    state, params = E.read_weights(run_dir)                    # the run folder reads the same checkpoint
    assert params == {"w": "3"} and all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    # the same checkpoint with other parameters: the error names the run's --set values
    assert main(["export", tiny, "-o", str(tmp_path / "m.pt2"), "--weights", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "do not fit this network" in err and "--set w=3" in err and "Traceback" not in err


def test_state_dict_of_a_wrapped_module_loads(tiny):
    net = mgdsl.load(tiny)
    model = _trained_like(net)
    for prefix in ("_orig_mod.", "module."):                   # torch.compile, DistributedDataParallel
        fresh = net.build(optimize=False)
        E.load_weights(fresh, {prefix + k: v for k, v in model.state_dict().items()})
        assert all(torch.equal(fresh.state_dict()[k], v) for k, v in model.state_dict().items())


# -- mistakes ------------------------------------------------------------------------------------------

def test_user_mistakes_exit_1_with_clear_messages(tmp_path, tiny, capsys):
    spec = tiny

    def err_of(*args):
        assert main(["export", *args]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err

    assert "must end in .onnx or .pt2" in err_of(spec, "-o", str(tmp_path / "n.py"))
    (tmp_path / "d.pt2").mkdir()
    assert "it is a folder" in err_of(spec, "-o", str(tmp_path / "d.pt2"))
    assert "does not exist" in err_of(spec, "-o", str(tmp_path / "no" / "n.pt2"))
    assert "no such file" in err_of(spec, "-o", str(tmp_path / "n.pt2"), "--weights", str(tmp_path / "w.pt"))
    (tmp_path / "text.pt").write_text("not weights")
    assert "not a file written by torch.save" in err_of(spec, "-o", str(tmp_path / "n.pt2"), "--weights",
                                                   str(tmp_path / "text.pt"))
    torch.save({"lr": 0.1}, tmp_path / "cfg.pt")
    assert "neither a state_dict nor" in err_of(spec, "-o", str(tmp_path / "n.pt2"), "--weights", str(tmp_path / "cfg.pt"))
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")        # a whole pickled module: not loaded
    assert "objects other than tensors" in err_of(spec, "-o", str(tmp_path / "n.pt2"), "--weights",
                                                  str(tmp_path / "module.pt"))
    other = mgdsl.load(spec, w=8).build(optimize=False)
    torch.save(other.state_dict(), tmp_path / "w8.pt")
    err = err_of(spec, "-o", str(tmp_path / "n.pt2"), "--weights", str(tmp_path / "w8.pt"))
    assert "of another shape" in err and "same parameters" in err
    assert "a folder without a checkpoint.pt" in err_of(spec, "-o", str(tmp_path / "n.pt2"), "--weights", str(tmp_path))
    assert "opset 13 is too old" in err_of(spec, "-o", str(tmp_path / "n.onnx"), "--opset", "13")
    assert not (tmp_path / "n.pt2").exists() and not list(tmp_path.glob(".mgdsl-*"))   # nothing half-written


def test_onnx_without_its_packages_says_how_to_install_them(tmp_path, tiny, capsys, monkeypatch):
    real = E._find_spec
    monkeypatch.setattr(E, "_find_spec", lambda name: None if name == "onnxscript" else real(name))
    assert main(["export", tiny, "-o", str(tmp_path / "n.onnx")]) == 1
    err = capsys.readouterr().err
    assert "onnxscript" in err and 'pip install "mgdsl[onnx]"' in err
    assert not (tmp_path / "n.onnx").exists()
    # a .pt2 file needs only torch
    assert main(["export", tiny, "-o", str(tmp_path / "n.pt2")]) == 0
    assert "any batch size N" in capsys.readouterr().out


def test_format_of():
    assert E.format_of("a/b.ONNX") == ".onnx" and E.format_of("x.pt2") == ".pt2"
    with pytest.raises(UsageError, match="must end in"):
        E.format_of("x.pt")
