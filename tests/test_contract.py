"""The graph contract between the stages, the registries tested whole, and the passes.

Every node kind has cost rules and an emitter in every back end; every pass keeps a network's
costs and the contract; the portable target writes code that uses public torch API only and
computes what the plain lowering computes."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch
from conftest import assert_covers, code_shapes, short_sweep, small_params

import mgdsl
from mgdsl.backends.draw import KINDS, LEGEND
from mgdsl.backends.torch_passes import OPTIMIZATIONS, PASSES, TARGETS, resolve_options, run_passes
from mgdsl.backends.torch_source import EMITTERS, generate, runtime_sections
from mgdsl.graph.cost import cost_of
from mgdsl.graph.ir import Graph, Node, validate
from mgdsl.graph.layer_api import LAYERS
from mgdsl.graph.ops import OPS
from mgdsl.lang.loader import Loader

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "specs").rglob("*.mg"))
_LOADER = Loader()
NETWORKS = [p for p in SPECS if _LOADER.load(ROOT / p).network is not None]
_NETS: dict = {}


def net_of(path: str):
    if path not in _NETS:
        _NETS[path] = mgdsl.load(ROOT / path, loader=_LOADER, **small_params(path))
    return _NETS[path]


# -- registries, tested whole ------------------------------------------------------------------------
def test_every_node_kind_has_cost_rules_and_an_emitter_in_every_back_end():
    for kind, op in OPS.items():
        assert all(callable(f) for f in (op.shape, op.params, op.macs, op.other)), kind
        assert kind in EMITTERS, f"the torch back end has no emitter for {kind!r}"
    assert set(EMITTERS) == set(OPS), "an emitter for a kind the graph layer does not know"
    for e in EMITTERS.values():
        assert set(e.runtime) <= set(runtime_sections()), e.runtime


def test_every_layer_type_has_a_legend_in_the_diagram_back_end():
    assert set(LEGEND) == set(LAYERS) and set(LEGEND.values()) <= set(KINDS)


def test_every_kind_only_passes_make_is_made_by_some_target_on_the_zoo():
    made = set()
    for path in ("specs/r-pmg-30.mg", "specs/mnist/pmg-11-seg.mg", "specs/vgg-16.mg"):
        G = net_of(path).graph
        for inference in (False, True):
            made |= {r.kind for r in run_passes(G, resolve_options(target="cpu"), inference).records()}
    assert {k for k, op in OPS.items() if not op.lowered} <= made
    assert all(op.lowered for k, op in OPS.items() if k in {r.kind for r in net_of("specs/r-pmg-30.mg").graph.records()})


def test_runtime_sections_are_the_whole_module_and_named_once():
    text = (ROOT / "mgdsl/backends/torch_runtime.py").read_text()
    names = re.findall(r"^# ---- section (\w+)$", text, re.M)
    assert len(names) == len(set(names)) == len(runtime_sections()) == text.count("\n# ---- end\n")
    assert {"imports", "core"} <= set(names)


# -- the contract and the passes -----------------------------------------------------------------------
def test_contract_violations_are_caught():
    G = net_of("specs/mg-6.mg").graph
    validate(G)
    bad = Graph()
    bad.graph["info"] = G.info
    bad.add_node("input", node=G.node("input"))
    conv = next(r for r in G.records() if r.kind == "conv")
    bad.add_node(conv.id, node=conv)                 # no edge from its input, which is not in the graph
    with pytest.raises(AssertionError):
        validate(bad)
    with pytest.raises(ValueError, match="created twice"):
        G.copy().add(G.node("input"))


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("inference", [False, True])
def test_passes_keep_costs_and_the_contract(target, inference):
    for path in ("specs/r-pmg-30.mg", "specs/mnist/pmg-11-seg.mg", "specs/mg-16.mg", "specs/imagenet/resnet-50.mg",
                 "specs/beyond/efficientnet-b0.mg", "specs/beyond/deeplabv3-resnet50.mg", "specs/beyond/unet-2015.mg",
                 "specs/beyond/fpn-resnet-18.mg"):
        G = net_of(path).graph
        P = run_passes(G, resolve_options(target=target), inference)
        validate(P)
        before, after = cost_of(G), cost_of(P)
        assert (after.params, after.macs, after.other) == (before.params, before.macs, before.other), path
        assert P.info.output_shape == G.info.output_shape
        assert isinstance(P.node(P.info.output), Node)


def test_each_pass_is_one_graph_to_graph_function_that_leaves_its_input_alone():
    G = net_of("specs/r-pmg-30.mg").graph
    snapshot = [(r, tuple(G.predecessors(r.id))) for r in G.records()]
    for name, fn in PASSES.items():
        P = fn(G)
        assert P is not G and isinstance(P, Graph), name
        assert [(r, tuple(G.predecessors(r.id))) for r in G.records()] == snapshot, f"{name} changed its input"


# -- the portable target ---------------------------------------------------------------------------------
def _load_source(src: str, tmp_path: Path, name: str):
    f = tmp_path / f"{name}.py"
    f.write_text(src)
    spec = importlib.util.spec_from_file_location(name, f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_default_target_is_portable():
    assert TARGETS["portable"] <= set(OPTIMIZATIONS)
    assert mgdsl.load(ROOT / "specs/mg-6.mg").python_source() == generate(net_of("specs/mg-6.mg").graph,
                                                                          target="portable")


def _cheap_weights(model):
    """Fill a module built on the meta device: uniform weights scaled by fan-in, fresh BN statistics
    (much cheaper than the paper's init, which draws normal samples for every weight)."""
    model.to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            bound = (3.0 / fan_in) ** 0.5 if p.dim() > 1 else 0.1
            p.uniform_(-bound, bound, generator=gen)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
    return model.eval()


# the specs whose portable and plain code together have every statement shape the zoo's code has
# (test_the_portable_sweeps_subset_writes_every_statement_the_zoo_does); the rest run with --run-slow
PORTABLE_SUBSET = {"specs/r-mg-sm-12.mg", "specs/beyond/inception-v3.mg", "specs/beyond/shufflenet-v2-x0.5.mg",
                   "specs/beyond/convnext-small.mg", "specs/beyond/mobilenet-v3-small.mg",
                   "specs/beyond/efficientnet-v2-s.mg", "specs/beyond/mobilenet-v2.mg",
                   "specs/beyond/efficientnet-b0.mg", "specs/beyond/fpn-resnet-18.mg", "specs/beyond/unet-2015.mg",
                   "specs/beyond/hrnet-w18-small.mg", "specs/beyond/deeplabv3-resnet50.mg"}


def _private_api(src: str) -> list[str]:
    return sorted(set(re.findall(r"torch\.ops\.\w+|torch\._\w+", src)))


def _statements(path: str) -> set:
    net = net_of(path)
    return ({("portable", s) for s in code_shapes(net.python_source())} |
            {("plain", s) for s in code_shapes(generate(net.graph, optimize=False, target="cpu"))})


def test_the_portable_sweeps_subset_writes_every_statement_the_zoo_does():
    """The short version of the sweep below stands for the whole zoo: its specs' code has every statement
    shape (emitter, runtime section, pass output) of every spec's portable and plain code. And no spec's
    portable code uses private torch API."""
    for path in NETWORKS:
        assert not _private_api(net_of(path).python_source()), path
    assert_covers(PORTABLE_SUBSET, NETWORKS, _statements, "statement shapes of generated code")


@pytest.mark.parametrize("path", short_sweep(NETWORKS, PORTABLE_SUBSET))
def test_portable_code_uses_public_api_and_computes_the_plain_lowering(path, tmp_path):
    net = net_of(path)
    src = net.python_source()
    private = _private_api(src)
    assert not private, f"private torch API in portable code: {private}"
    assert "_check_target" not in src and "warnings" not in src
    plain = _cheap_weights(net.build(device="meta", optimize=False))
    model = _load_source(src, tmp_path, "portable_net").build("meta")
    model.to_empty(device="cpu")
    model.load_state_dict(plain.state_dict())
    model.eval()
    c, h, w = net.input_shape
    x = torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=1e-3, atol=1e-4)


def test_the_language_knows_no_graph_back_end_or_machine():
    """Each room holds only its own facts: mgdsl/lang imports neither the graph layer nor a back end,
    and the graph layer imports no back end and never asks the machine for its memory."""
    for path in (ROOT / "mgdsl/lang").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"from \.\.(graph|backends|memory)|import mgdsl\.(graph|backends)", text), path.name
    for path in (ROOT / "mgdsl/graph").glob("*.py"):
        text = path.read_text()
        assert not any("backends" in imp for imp in re.findall(r"^\s*(?:from|import) \S+", text, re.M)), path.name
        assert "sysconf" not in text and "memory" not in re.findall(r"^from \.+(\w+)", text, re.M), path.name


def test_compile_writes_portable_code_by_default(tmp_path):
    from mgdsl.cli import main
    out = tmp_path / "net.py"
    assert main(["compile", "specs/mg-6.mg", "-o", str(out)]) == 0
    text = out.read_text()
    assert "portable (public torch API only)" in text and "torch.ops" not in text and "_check_target" not in text
    assert main(["compile", "specs/mg-6.mg", "-o", str(out), "--target", "cpu"]) == 0
    assert "torch.ops.mkldnn" in out.read_text() and "_check_target" in out.read_text()
