"""The optimised lowering computes what the plain one does: outputs and gradients agree in float64,
for each optimisation alone and all together; state_dict keys never change; the inference-only
module (`mgdsl compile --inference`) matches eval mode; torch.compile traces it without graph breaks.
No timings here: tools/bench.py measures speed."""
from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from conftest import NEW_LAYERS  # noqa: E402

import mgdsl  # noqa: E402
from mgdsl.backends.torch_source import OPTIMIZATIONS  # noqa: E402

# Small, but every optimisation applies somewhere: grids of 32 and 16 px (transposed-conv coarse
# branch), grids of 4, 2 and 1 px (GEMM conv), ReLUs after BN and adds.
TINY = """network "TINY"
input 3 @ 32x32
grids 3
conv 6, 4, 4
mgconv
resmg 6, 6, 4
pool
mgconv 8, 6, 4
pool
pool
mgconv 8, 6, 4  kernel=3, 3, 1
pool merge
mgconv 8, 6  kernel=3, 1
pool merge
fc 5
"""

# Per-pixel maps out: they go back to the default layout, and their gradient comes in channels-last.
SEG = """network "SEG"
input 1 @ 32x32
grids 2
conv 8, 4
mgconv
drop
maps 3
"""

# what each optimisation leaves in the generated source (so that a test fails if one stops applying)
MARKERS = {"coarse_convT": "_up_kernel(m[", "small_grid_gemm": "_ConvGEMM.apply(", "inplace_relu": "torch.relu_(",
           "channels_last": " = x.to(memory_format=torch.channels_last)"}


@pytest.fixture(scope="module")
def tiny():
    return mgdsl.loads(TINY)


@pytest.fixture(scope="module")
def seg():
    return mgdsl.loads(SEG)


def _pair(net, **options):
    torch.manual_seed(0)
    plain = net.build(optimize=False).double()
    other = net.build(**options).double()
    other.load_state_dict(plain.state_dict())
    return plain, other


def _run(model, x, g):
    x = x.clone().requires_grad_(True)
    y = model(x)
    y.backward(g)
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    return y.detach(), x.grad, grads


def _assert_same_function(plain, other, x):
    with torch.no_grad():
        shape = plain.eval()(x).shape          # eval mode: the running statistics stay put
    torch.manual_seed(1)
    plain.train(), other.train()
    g = torch.randn(shape, dtype=x.dtype)
    ya, gxa, ga = _run(plain, x, g)
    yb, gxb, gb = _run(other, x, g)
    torch.testing.assert_close(yb, ya, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(gxb, gxa, rtol=1e-8, atol=1e-10)
    assert ga.keys() == gb.keys()
    # conv biases before a training-mode BN get a gradient that is zero up to rounding: compare
    # each gradient at the scale of its own largest entry, or of the largest one overall
    overall = max(v.abs().max().item() for v in ga.values())
    for k in ga:
        scale = max(ga[k].abs().max().item(), 1e-4 * overall)
        torch.testing.assert_close(gb[k], ga[k], rtol=0, atol=1e-8 * scale, msg=k)
    # running statistics move alike too
    for (k, a), b in zip(plain.state_dict().items(), other.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12, msg=k)


def test_optimisations_are_exact_on_the_new_layers():
    """Grouped, dilated and unpadded convs, other activations, SE, resizing, cropping, adaptive pooling
    (dropout off: its random mask would differ between the two runs)."""
    net = mgdsl.loads(NEW_LAYERS.replace("dropout 0.25", "dropout 0"))
    for target in ("cpu", "cuda"):
        plain, other = _pair(net, target=target)
        torch.manual_seed(2)
        _assert_same_function(plain, other, torch.randn(3, *net.input_shape, dtype=torch.float64))
        inference = net.build(inference=True).double()
        inference.load_state_dict(plain.state_dict())
        x = torch.randn(2, *net.input_shape, dtype=torch.float64)
        with torch.no_grad():
            torch.testing.assert_close(inference(x), plain.eval()(x), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(OPTIMIZATIONS) + ["all", "all on SEG"])
def test_optimisation_is_exact(tiny, seg, name):
    net = seg if name == "all on SEG" else tiny
    options = {} if name.startswith("all") else {"optimize": False, name: True}
    source = net.python_source(target="cpu", **options)
    assert set(MARKERS) == set(OPTIMIZATIONS)
    for marker_of, marker in MARKERS.items():
        if name in (marker_of, "all"):
            assert marker in source, f"{marker_of} no longer applies to the test network"
    if name == "all on SEG":
        assert MARKERS["channels_last"] in source and "_DefaultLayout.apply(" in source
    assert name.startswith("all") or all(MARKERS[o] not in source for o in MARKERS if o != name)
    plain, other = _pair(net, **options)
    torch.manual_seed(2)
    x = torch.randn(3, *net.input_shape, dtype=torch.float64)
    _assert_same_function(plain, other, x)


def test_gemm_conv_in_float32_runs_onednn_matmul_and_matches_the_plain_lowering(tiny):
    """float64 (above) takes torch's own GEMM; float32 on the CPU takes oneDNN's matmul, which must be
    called and agree with the plain lowering to float32 rounding."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Ops(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.seen = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.add(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    torch.manual_seed(0)
    plain = tiny.build(optimize=False)
    other = tiny.build(coarse_convT=False, channels_last=False, inplace_relu=False)
    other.load_state_dict(plain.state_dict())
    x = torch.randn(4, *tiny.input_shape)
    g = torch.randn(4, 5)
    ya, gxa, ga = _run(plain, x, g)
    with Ops() as ops:
        yb, gxb, gb = _run(other, x, g)
    if torch.backends.mkldnn.is_available():
        assert "mkldnn._linear_pointwise" in ops.seen
    torch.testing.assert_close(yb, ya, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gxb, gxa, rtol=1e-4, atol=1e-6)
    overall = max(v.abs().max().item() for v in ga.values())     # see _assert_same_function
    for k in ga:
        torch.testing.assert_close(gb[k], ga[k], rtol=1e-4, atol=1e-5 * overall, msg=k)


def test_gemm_conv_weights_are_channels_last_and_a_relu_may_follow_without_bn():
    net = mgdsl.loads('network "Q"\ninput 3 @ 4x4\nconv 8 bn=off\nconv 6 bn=off\nfc 3\n')
    plain, other = _pair(net)
    w = dict(other.named_parameters())["s1.conv1.g4.conv.weight"]
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    _assert_same_function(plain, other, torch.randn(2, 3, 4, 4, dtype=torch.float64))


@pytest.mark.filterwarnings("ignore:.*was generated for:UserWarning")   # cross-target on purpose
def test_cuda_target_is_exact_and_keeps_only_its_own_rewrites(tiny):
    source = tiny.python_source(target="cuda")
    # channels-last and in-place ReLU; none of the rewrites that only pay on CPU
    assert MARKERS["channels_last"] in source and MARKERS["inplace_relu"] in source
    assert all(MARKERS[k] not in source for k in ("small_grid_gemm", "coarse_convT"))
    assert MARKERS["small_grid_gemm"] in tiny.python_source(target="cpu")
    plain, other = _pair(tiny, target="cuda", coarse_convT=True)
    torch.manual_seed(2)
    _assert_same_function(plain, other, torch.randn(3, *tiny.input_shape, dtype=torch.float64))


def test_a_module_warns_once_on_a_device_it_was_not_tuned_for(tiny):
    import warnings
    x = torch.randn(2, *tiny.input_shape)
    model = tiny.build(target="cuda")
    with pytest.warns(UserWarning, match="generated for cuda and runs on cpu.*--target cpu"):
        model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(x)                                      # once per module
        tiny.build()(x)                               # the right target: silent
        tiny.build(device="meta")(x.to("meta"))       # shape-only runs: silent


def test_the_target_changes_code_but_not_weights(tiny):
    torch.manual_seed(0)
    a = tiny.build(target="cpu").state_dict()
    torch.manual_seed(0)
    b = tiny.build(target="cuda").state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(TypeError, match="unknown target"):
        tiny.python_source(target="tpu")


@pytest.mark.filterwarnings("ignore:.*was generated for:UserWarning")   # cross-target on purpose
@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_bf16_autocast_trains_like_the_plain_lowering(tiny, target):
    """Under autocast the rewritten ops see bf16 activations and float32 weights. Their gradients
    must come back in float32 and be no further from the float32 gradients than the plain
    lowering's are under the same autocast (bf16 rounding alone moves early layers by ~20 %)."""
    torch.manual_seed(0)
    ref = tiny.build(optimize=False)
    plain = tiny.build(optimize=False)
    other = tiny.build(target=target)
    plain.load_state_dict(ref.state_dict())
    other.load_state_dict(ref.state_dict())
    x = torch.randn(4, *tiny.input_shape)
    grads = []
    for model, bf16 in ((ref, False), (plain, True), (other, True)):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = model(x)
        y.float().square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
        assert all(p.grad.dtype == torch.float32 for p in model.parameters())
    exact, plain_err, other_err = grads[0], (grads[1] - grads[0]).norm(), (grads[2] - grads[0]).norm()
    assert torch.isfinite(grads[2]).all()
    assert other_err <= 1.5 * plain_err + 1e-3 * exact.norm(), (other_err, plain_err)


def test_max_pool_ties_send_the_gradient_where_the_plain_lowering_does():
    """The optimised module pools channels-last: with many exact ties in every window, the gradient
    must still go to the same element as in the plain (NCHW) lowering."""
    net = mgdsl.loads('network "P"\ninput 2 @ 16x16\nconv 3 bn=off relu=off\npool\npool\nfc 3\n')
    plain, other = _pair(net)
    assert MARKERS["channels_last"] in net.python_source(target="cpu")
    with torch.no_grad():                  # integer weights and inputs: many exact ties in every window
        for p in plain.parameters():
            p.copy_(torch.randint(-1, 2, p.shape))
    other.load_state_dict(plain.state_dict())
    x = torch.randint(0, 2, (2, 2, 16, 16)).double()
    _assert_same_function(plain, other, x)


def test_state_dict_keys_and_shapes_do_not_depend_on_options(tiny):
    ref = {k: v.shape for k, v in tiny.build(optimize=False).state_dict().items()}
    for options in ({}, {"inference": True}, {"optimize": False, "inference": True}):
        got = {k: v.shape for k, v in tiny.build(**options).state_dict().items()}
        assert list(got) == list(ref) and got == ref
    assert sum(p.numel() for p in tiny.build().parameters()) == tiny.num_params


def test_unknown_option_is_refused(tiny):
    with pytest.raises(TypeError, match="fast_maxpol"):
        tiny.build(fast_maxpol=False)


def test_builds_are_reproducible_and_keep_the_paper_init():
    net = mgdsl.loads('network "I"\ninput 3 @ 8x8\nconv 256 kernel=3\nconv 512\nfc 4\n')
    torch.manual_seed(3)
    a = net.build().state_dict()
    torch.manual_seed(3)
    b = net.build().state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    w = a["s1.conv2.g8.conv.weight"]
    assert abs(w.std().item() / (2 / (9 * 512)) ** 0.5 - 1) < 0.02 and abs(w.mean().item()) < 1e-3
    assert not torch.equal(a["s1.conv1.g8.conv.weight"][:4].flatten()[:100], w[:4].flatten()[:100])
    assert a["s1.conv2.g8.conv.bias"].abs().max() == 0 and a["s1.conv2.g8.bn.bias"].abs().max() == 0
    assert torch.equal(a["s1.conv2.g8.bn.weight"], torch.ones(512))


def test_compile_inference_writes_a_module_matching_eval_mode(tmp_path):
    spec = tmp_path / "tiny.mg"
    spec.write_text(TINY)
    out = tmp_path / "tiny_infer.py"
    r = subprocess.run([sys.executable, "-m", "mgdsl", "compile", str(spec), "--inference", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    source = out.read_text()
    assert "import mgdsl" not in source and "_fold(" in source
    mod_spec = importlib.util.spec_from_file_location("tiny_infer", out)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    folded = mod.build().double()

    net = mgdsl.load(spec)
    torch.manual_seed(4)
    model = net.build().double()
    with torch.no_grad():                   # give BN non-trivial statistics and affine parameters
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 32, 32, dtype=torch.float64) * 2 + 1)
        for k, v in model.state_dict().items():
            if k.endswith(".bn.weight") or k.endswith(".bn.bias"):
                v.uniform_(0.5, 1.5)
    folded.load_state_dict(model.state_dict())
    folded.train()                           # stays in eval mode: it cannot train
    assert not folded.training
    model.eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-9, atol=1e-9)
        # loading new weights refreshes the folded ones
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.mul_(1.1)
        folded.load_state_dict(model.state_dict())
        torch.testing.assert_close(folded(x), model(x), rtol=1e-9, atol=1e-9)


def test_no_graph_breaks_under_torch_compile(tiny):
    dynamo = pytest.importorskip("torch._dynamo")
    if not hasattr(dynamo, "explain"):
        pytest.skip("torch._dynamo.explain is not available")
    model = tiny.build()
    x = torch.randn(2, 3, 32, 32)
    try:
        explanation = dynamo.explain(model)(x)
    except Exception as e:   # noqa: BLE001 - no working torch.compile on this platform
        pytest.skip(f"torch.compile unavailable: {e}")
    finally:
        dynamo.reset()
    assert explanation.graph_break_count == 0, explanation.break_reasons


def test_torch_compile_graphs_take_torch_gemms(tiny):
    """Inductor lowers oneDNN's matmul op only for frozen inference weights (it asserts on trainable
    ones), so under torch.compile the GEMM convs must trace to torch's own mm."""
    pytest.importorskip("torch._dynamo")
    try:
        from functorch.compile import make_boxed_func
        from torch._dynamo.backends.common import aot_autograd
    except ImportError as e:
        pytest.skip(f"no AOT autograd: {e}")
    seen = []

    def record(gm, example_inputs):
        seen.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return make_boxed_func(gm.forward)

    model = torch.compile(tiny.build(), backend=aot_autograd(fw_compiler=record, bw_compiler=record))
    try:
        model(torch.randn(2, 3, 32, 32)).sum().backward()
    finally:
        torch._dynamo.reset()
    assert "aten.mm.default" in seen
    assert not [t for t in seen if "mkldnn" in t]
