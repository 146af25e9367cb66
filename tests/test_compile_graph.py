"""`tools/check_compile.py`, the check that a network compiles as one graph (no graph break under
`fullgraph=True`, one graph for batches 2, 8 and 64, outputs equal to eager's), and what torch.compile needs
from the generated code. Not yet here: every spec passing it (docs/benchmark.md says what stops them)."""
from pathlib import Path

import pytest
from conftest import NEW_LAYERS

torch = pytest.importorskip("torch")
check_compile = __import__("check_compile")
dynamo = pytest.importorskip("torch._dynamo")
pytestmark = pytest.mark.skipif(not hasattr(dynamo.decorators, "mark_unbacked"),
                                reason=f"torch {torch.__version__} cannot mark the batch dimension unbacked")

import mgdsl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
def test_a_built_module_inside_the_users_own_compiles():
    # dynamo, tracing into the built module's forward from an outer module, looks its code's module up
    # by name: the generated code used to be exec'd in a namespace no one could import (ModuleNotFoundError)
    net = mgdsl.loads(NEW_LAYERS)
    outer = torch.nn.Sequential(net.build(), torch.nn.Identity()).eval()
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        got = torch.compile(outer, backend="eager", fullgraph=True)(x)
        torch.testing.assert_close(got, outer(x))


class _Net:
    """A stand-in network whose module does what the check must catch."""
    input_shape = (3, 4, 4)

    def __init__(self, forward):
        self.forward = forward

    def build(self):
        fwd = self.forward

        class M(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.ones(1))

            def forward(self, x):
                return fwd(self, x)
        return M()


def test_the_check_catches_a_graph_break_a_recompilation_and_a_wrong_result():
    ok = check_compile.check_network(_Net(lambda m, x: x * m.w), "train", backend="aot_eager")
    assert check_compile.passed(ok, 1e-3), ok

    def breaks(m, x):
        if x.sum().item() > 0:                                   # data-dependent control flow
            return x * m.w
        return -x * m.w
    r = check_compile.check_network(_Net(breaks), "infer", backend="aot_eager")
    assert r["break"] and not check_compile.passed(r, 1e-3)

    def per_batch(m, x):
        return x * m.w if x.shape[0] < 5 else x * 2 * m.w      # a branch on the batch size
    r = check_compile.check_network(_Net(per_batch), "infer", backend="aot_eager", unbacked=False)
    assert r["break"] is None and r["graphs"] >= 2 and not check_compile.passed(r, 1e-3)     # two graphs
    r = check_compile.check_network(_Net(per_batch), "infer", backend="aot_eager")
    assert r["break"] and not check_compile.passed(r, 1e-3)     # unbacked, the branch cannot be traced


def test_a_plain_conv_needs_the_unbacked_batch_for_one_graph_on_the_cpu():
    """Why the tool marks the batch unbacked: torch's own CPU convolution asks whether the batch holds 16
    images or more, so with dynamic=True alone even one nn.Conv2d makes two graphs over batches 2, 8, 64."""
    class Conv:
        input_shape = (3, 8, 8)

        def build(self):
            return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
    plain = check_compile.check_network(Conv(), "infer", backend="eager", unbacked=False)
    marked = check_compile.check_network(Conv(), "infer", backend="eager", batches=(1, 2, 8, 64))
    assert (plain["graphs"], marked["graphs"]) == (2, 1), (plain, marked)

    def wrong(gm, inputs):                                       # a backend that miscomputes
        def run(*args):
            out = gm(*args)
            return [o + 1 for o in out] if isinstance(out, (list, tuple)) else out + 1
        return run
    r = check_compile.check_network(_Net(lambda m, x: x * m.w), "infer", backend=wrong)
    assert r["break"] is None and r["error"] > 1e-3 and not check_compile.passed(r, 1e-3)


def test_the_tool_lists_every_network_spec_and_shrinks_the_large_ones():
    specs = check_compile.network_specs()
    assert "specs/r-pmg-30.mg" in specs and "specs/beyond/resnet-18.mg" in specs
    assert not any(Path(ROOT / s).read_text(encoding="utf-8").find("\nnetwork ") < 0 and
                   not Path(ROOT / s).read_text(encoding="utf-8").startswith("network ") for s in specs)
    assert check_compile.small_params("specs/beyond/resnet-18.mg") == {"size": 64}
    assert check_compile.small_params("specs/beyond/inception-v3.mg") == {"size": 75}
    assert check_compile.small_params("specs/r-pmg-30.mg") == {}
