"""The torch back end: modules with the paper's parameter counts, the right outputs, trainable,
and a standalone source file that agrees with them weight for weight."""
import importlib.util
from pathlib import Path

import bench  # tools/
import pytest
import torch

import mgdsl
from mgdsl.paper import paper_rows

FIVE = {"VGG-16": "vgg-16", "MG-16": "mg-16", "PMG-16": "pmg-16", "R-MG-22": "r-mg-22", "R-PMG-30": "r-pmg-30"}


def paper_params() -> dict[str, float]:
    return {r["method"]: float(r["params_millions"]) for r in paper_rows() if r["table"] == "Table1_CIFAR100"}


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    out = {}
    for name, stem in FIVE.items():
        net = mgdsl.load(f"specs/{stem}.mg")
        out[name] = (net, net.build().eval())
    return out


@pytest.mark.parametrize("name", FIVE)
def test_params_match_the_paper_and_the_module(built, name):
    net, model = built[name]
    assert sum(p.numel() for p in model.parameters()) == net.num_params
    assert round(net.num_params / 1e6, 2) == paper_params()[name]


# tests/test_bench_tool.py runs the full-size forward of the networks tools/bench.py benchmarks and compares it
# with a hand-written module's; here the others run always and those as slow tests
BENCHED = {Path(s).stem for s in bench.DEFAULT_SPECS}
SLOW_FORWARD = pytest.mark.slow(reason="test_bench_tool's baseline test runs this forward against a hand-written net")


@pytest.mark.parametrize("name", [pytest.param(n, marks=SLOW_FORWARD) if FIVE[n] in BENCHED else n for n in FIVE])
def test_forward_gives_logits(built, name):
    net, model = built[name]
    with torch.no_grad():
        y = model(torch.randn(2, 3, 32, 32))
    assert y.shape == (2, 100) and torch.isfinite(y).all()


def test_standalone_source_matches_the_built_module(built, tmp_path):
    net, model = built["R-PMG-30"]
    src = tmp_path / "rpmg30.py"
    src.write_text(net.python_source(target="cpu"))      # what build() runs on this CPU
    assert "import mgdsl" not in src.read_text()
    spec = importlib.util.spec_from_file_location("rpmg30", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    standalone = mod.build()
    assert list(standalone.state_dict()) == list(model.state_dict())
    standalone.load_state_dict(model.state_dict())
    standalone.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(standalone(x), model(x))
    # and back: weights trained in the standalone file load into a module from the spec
    fresh = net.build().eval()
    fresh.load_state_dict(standalone.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


def test_a_training_step_changes_every_weight():
    torch.manual_seed(0)
    net = mgdsl.loads('network "T"\ninput 3 @ 16x16\ngrids 2\nconv 8, 4\nn = 1\nresmg\npool merge\nfc 5\n'
                      .replace("n = 1\n", ""))
    model = net.build().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    for name, p in model.named_parameters():
        assert p.grad is not None and not torch.equal(before[name], p.detach()), name


def test_init_follows_the_paper():
    torch.manual_seed(0)
    model = mgdsl.loads('network "T"\ninput 3 @ 8x8\nconv 256 kernel=3\nfc 4\n').build()
    w = model.state_dict()["s1.conv1.g8.conv.weight"]
    assert abs(w.std().item() - (2 / (9 * 256)) ** 0.5) < 0.1 * (2 / (9 * 256)) ** 0.5
    assert model.state_dict()["s1.conv1.g8.conv.bias"].abs().sum() == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(built):
    net, _ = built["PMG-16"]
    model = net.build().cuda()
    y = model(torch.randn(2, 3, 32, 32, device="cuda"))
    assert y.shape == (2, 100) and y.is_cuda
