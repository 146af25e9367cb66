"""The analytic cost model against counts taken from built modules: parameter tensors, PyTorch's
FlopCounterMode (dispatch-level, sees every op the forward runs) and fvcore's FlopCountAnalysis
(JIT trace).

fvcore counts from a traced graph, and the trace drops computation whose result never reaches the
output, so it is compared with the MACs of the nodes that reach the output (`Cost.live_macs`).
FlopCounterMode sees everything the generated forward computes, dead branches included, so it must
equal the full analytic MACs. Both count a transposed convolution as input elements x C_out x k*k,
the rule in mgdsl.graph.ops; the synthetic specs below pin that down for kernels and strides the
paper's specs do not use.

The modules are the plain lowering (`build(optimize=False)`), one PyTorch op per graph node: the
optimised code may compute a node another way (and hides some ops from a JIT trace inside custom
autograd functions), which is the back end's business, not the cost model's.

Modules are built on the meta device (`build(device="meta")`: no weight memory, no init); fvcore needs
real tensors, so for it the module is moved to uninitialised CPU memory and zeroed.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import NEW_LAYERS, assert_covers, code_shapes, short_sweep  # noqa: E402

import mgdsl  # noqa: E402
from mgdsl.backends.torch_source import generate  # noqa: E402
from mgdsl.graph.cost import cost_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(p for p in (ROOT / "specs").rglob("*.mg") if "families" not in p.parts)
# fvcore traces a real CPU forward, seconds per spec on 2 cores: of the specs the sweep below checks, it
# checks the shallowest member of each CIFAR family (the deeper ones repeat the same units), the MNIST nets
# and the two multigrid ImageNet nets; MGDSL_FULL_CROSSCHECK=1 runs it on every spec the sweep checks.
FVCORE_SPECS = {"vgg-6.mg", "mg-6.mg", "mg-sm-6.mg", "pmg-9.mg", "pmg-sm-9.mg", "res-12.mg", "r-mg-12.mg",
                "r-mg-sm-12.mg", "r-pmg-16.mg", "r-pmg-sm-16.mg", "r-mg-34.mg", "r-pmg-30-seg.mg"}


def _fvcore_wanted(spec: Path) -> bool:
    return os.environ.get("MGDSL_FULL_CROSSCHECK") == "1" or spec.name in FVCORE_SPECS or spec.parent.name == "mnist"

SYNTHETIC = {
    "upconv k3 s2, strided conv": """network "T1"
input 3 @ 12x12
conv 8 kernel=5 stride=2
upconv 6 kernel=3 stride=2
upconv 4
fc 7 pool=avg
""",
    "projection shortcut, dead branch": """network "T2"
input 2 @ 16x16
grids 2
conv 8, 4
x = mgconv 8, 6
resmg 12, 6 shortcut=proj
pool
mgconv 16, 8
drop
fc 5
""",
}


SYNTHETIC["the layer library beyond the paper"] = NEW_LAYERS


def _meta_build(net):
    """One PyTorch op per graph node (the optimised lowering executes fewer MACs by design)."""
    return net.build(device="meta", optimize=False).eval()


def _flop_counter_macs(model, shape, device) -> dict[str, int]:
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, *shape, device=device))
    counts = {str(k): v for k, v in fc.get_flop_counts()["Global"].items()}
    assert all(v % 2 == 0 for v in counts.values())
    return {k: v // 2 for k, v in counts.items()}


def _fvcore_macs(model, shape) -> dict[str, int]:
    from fvcore.nn import FlopCountAnalysis
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            t.zero_()
        fa = FlopCountAnalysis(model, torch.zeros(1, *shape))
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        return dict(fa.by_operator())


# the operators each counter reports multiply-accumulates under (a conv may run as a matrix product)
FLOP_COUNTER_OPS = ("aten.convolution", "aten._convolution", "aten.addmm", "aten.mm", "aten.bmm")
FVCORE_OPS = ("conv", "linear", "addmm", "mm", "matmul", "bmm", "einsum")


def _check(net, fvcore: bool):
    c = cost_of(net.graph)
    model = _meta_build(net)
    assert sum(p.numel() for p in model.parameters()) == c.params
    counted = _flop_counter_macs(model, net.input_shape, "meta")
    assert set(counted) <= set(FLOP_COUNTER_OPS), counted
    assert sum(counted.values()) == c.macs, counted
    if fvcore:
        ops = _fvcore_macs(model, net.input_shape)
        assert sum(ops.get(k, 0) for k in FVCORE_OPS) == c.live_macs, ops


# the specs whose plain code has every statement shape of the zoo's plain code, and whose members checked
# with fvcore have every statement shape of all the specs fvcore checks (asserted below); the others run
# with --run-slow
SUBSET = {ROOT / "specs" / p for p in ("vgg-6.mg", "beyond/inception-v3.mg", "beyond/shufflenet-v2-x0.5.mg",
                                       "beyond/convnext-small.mg", "beyond/mobilenet-v3-small.mg",
                                       "beyond/efficientnet-v2-s.mg", "mg-sm-6.mg", "res-12.mg",
                                       "imagenet/r-mg-34.mg", "mnist/u-net-11-spt.mg",
                                       "beyond/deeplabv3-resnet50.mg", "beyond/efficientnet-b0.mg",
                                       "beyond/fpn-resnet-18.mg", "beyond/hrnet-w18-small.mg",
                                       "beyond/mobilenet-v2.mg", "beyond/unet-2015.mg")}


def _plain_statements(spec: Path) -> set[str]:
    return code_shapes(generate(mgdsl.load(spec).graph, optimize=False, target="cpu"))


def test_the_sweeps_subset_has_every_statement_the_counters_see():
    assert_covers(SUBSET, SPECS, _plain_statements, "statement shapes of plain code")
    fvcore = [p for p in SPECS if _fvcore_wanted(p)]
    assert_covers(SUBSET & set(fvcore), fvcore, _plain_statements, "statement shapes of plain code checked by fvcore")


@pytest.mark.parametrize("spec", short_sweep(SPECS, SUBSET, ids=lambda p: str(p.relative_to(ROOT / "specs"))))
def test_spec_against_built_module(spec):
    _check(mgdsl.load(spec), fvcore=_fvcore_wanted(spec))


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_against_built_module(name):
    _check(mgdsl.loads(SYNTHETIC[name]), fvcore=True)


def test_dead_branch_is_what_fvcore_misses():
    """The trace-based count loses the grid the spec drops; the graph still knows its cost."""
    net = mgdsl.loads(SYNTHETIC["projection shortcut, dead branch"])
    c = cost_of(net.graph)
    assert 0 < c.live_macs < c.macs
    ops = _fvcore_macs(_meta_build(net), net.input_shape)
    assert sum(ops.get(k, 0) for k in FVCORE_OPS) == c.live_macs != c.macs


def test_transposed_conv_rule_is_what_both_counters_use():
    """fvcore files a transposed conv under 'conv' and FlopCounterMode under aten.convolution; both
    charge input elements x C_out x k*k, not output elements x C_in x k*k."""
    net = mgdsl.loads(SYNTHETIC["upconv k3 s2, strided conv"])
    c = cost_of(net.graph)
    t = [n for n in c.nodes if n.kind == "convT"]
    assert t and all(n.macs for n in t)
    model = _meta_build(net)
    counted = _flop_counter_macs(model, net.input_shape, "meta")
    ops = _fvcore_macs(model, net.input_shape)
    conv = sum(n.macs for n in c.nodes if n.kind in ("conv", "convT"))
    assert counted.get("aten.convolution", 0) == ops.get("conv", 0) == conv


def test_specs_were_found():
    assert len([p for p in SPECS if p.parent.name == "specs"]) >= 36
