"""The zoo: every spec under specs/ loads cleanly, and every network builds into a module of the
counted size. The paper's rows against these specs are tests/test_paper_tables.py's.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_covers, code_shapes, short_sweep

import mgdsl
from mgdsl.backends.torch_source import generate
from mgdsl.lang.loader import Loader
from mgdsl.paper import paper_rows

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"

ALL_FILES = sorted(SPECS.rglob("*.mg"))
# the zoo beyond the paper (specs/beyond) has its own tests: tests/test_beyond.py
NETWORKS = [p for p in ALL_FILES if "families" not in p.parts and "beyond" not in p.parts]
SMALL = [p for p in NETWORKS if "imagenet" not in p.parts]       # CIFAR and MNIST: built for real
IMAGENET = [p for p in NETWORKS if "imagenet" in p.parts]        # built on the meta device


def _id(p: Path) -> str:
    return str(p.relative_to(SPECS))


_loaded: dict = {}


def net_of(path: Path, **params):
    key = (path, tuple(sorted(params.items())))
    if key not in _loaded:
        _loaded[key] = mgdsl.load(path, **params)
    return _loaded[key]


# -- every spec file -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ALL_FILES, ids=_id)
def test_spec_loads_without_warnings(path):
    mod = Loader().load(path)
    if mod.network is None:                    # a library of units, imported by families
        assert mod.own_units, f"{_id(path)} defines neither a network nor units"
        return
    net = mgdsl.load(path)
    assert net.warnings == [], [w.message for w in net.warnings]
    assert net.num_params > 0 and net.macs > 0


def test_every_spec_is_found():
    assert len(NETWORKS) >= 36 + 11 + 5


# -- relations between the paper's networks ---------------------------------------------------------
def test_progressive_mg_equals_residual_with_half_the_depth():
    """PMG(2n) and R-PMG(n) hold the same convolutions (Table 1 prints equal counts for PMG-16 and R-PMG-16)."""
    for n in (1, 2):
        for w in (64, 40):
            a = net_of(SPECS / "families" / "pmg.mg", n=2 * n, w=w)
            b = net_of(SPECS / "families" / "r-pmg.mg", n=n, w=w)
            assert (a.num_params, a.macs) == (b.num_params, b.macs)


@pytest.mark.parametrize("row", [r for r in paper_rows() if r["twin"]], ids=lambda r: r["method"])
def test_spatial_transformation_specs_have_one_map(row):
    """Table 3's rows name the 10-map spec the paper counted and the 1-map net it trained."""
    seg = net_of(SPECS / row["spec"])
    spt = net_of(SPECS / row["twin"])
    assert spt.output_shape == (1, *seg.output_shape[1:])
    assert spt.num_params < seg.num_params


# -- building the modules --------------------------------------------------------------------------
def expected_output(path: Path, net) -> tuple:
    if "mnist" in path.parts:
        maps = 1 if path.stem.endswith("-spt") else 10
        return (maps, *net.input_shape[1:])
    return (1000,) if "imagenet" in path.parts else (100,)


# networks whose CPU code has every statement shape of the others' and that have each kind of output
# (asserted below); the others are slow tests
MODULE_SUBSET = {SPECS / p for p in ("res-12.mg", "imagenet/resnet-34.mg", "mnist/u-mg-11-seg.mg", "mnist/sg-11-spt.mg")}


def _output_kind(path: Path) -> str:
    return ("mnist-spt" if path.stem.endswith("-spt") else "mnist") if "mnist" in path.parts else \
        "imagenet" if "imagenet" in path.parts else "cifar"


def _module_features(path: Path) -> set:
    return code_shapes(generate(net_of(path).graph, target="cpu")) | {("output", _output_kind(path))}


def test_the_module_sweeps_subset_has_every_statement_and_output_kind():
    assert_covers(MODULE_SUBSET, NETWORKS, _module_features, "statement shapes of CPU code or output kinds")


@pytest.mark.parametrize("path", short_sweep(NETWORKS, MODULE_SUBSET, ids=_id))
def test_module_matches_graph(path):
    """Built on the meta device: no weight memory, no init; only sizes and shapes are checked."""
    torch = pytest.importorskip("torch")
    net = net_of(path)
    module = net.build(device="meta")
    assert sum(p.numel() for p in module.parameters()) == net.num_params
    assert net.output_shape == expected_output(path, net)
    y = module(torch.empty(2, *net.input_shape, device="meta"))
    assert tuple(y.shape) == (2, *net.output_shape)


def _smallest_per_family(paths):
    """One real forward per family is enough to run every kind of generated code on real numbers."""
    best: dict = {}
    for p in paths:
        family = Loader().load(p).network.base or p.name
        if family not in best or net_of(p).macs < net_of(best[family]).macs:
            best[family] = p
    return sorted(best.values())


@pytest.mark.parametrize("path", _smallest_per_family(p for p in SMALL if "mnist" not in p.parts), ids=_id)
def test_cifar_forward(path):
    run_forward(net_of(path))


@pytest.mark.parametrize("path", sorted((SPECS / "mnist").glob("*-seg.mg")), ids=_id)
def test_mnist_forward(path):
    run_forward(mgdsl.load(path, canvas=32, w=16))      # the full-size shapes are checked on meta


def run_forward(net):
    torch = pytest.importorskip("torch")
    module = net.build()
    assert sum(p.numel() for p in module.parameters()) == net.num_params
    module.eval()
    with torch.no_grad():
        y = module(torch.randn(2, *net.input_shape))
    assert tuple(y.shape) == (2, *net.output_shape)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("path", sorted((SPECS / "mnist").glob("*.mg")), ids=_id)
def test_mnist_quick_variant(path):
    """The training helper's --quick run shrinks the canvas and the widths through parameters."""
    net = mgdsl.load(path, canvas=32, w=16)
    assert net.output_shape == expected_output(path, net) and net.input_shape == (1, 32, 32)
    assert net.num_params < net_of(path).num_params
