"""tools/bench.py compares like with like: each hand-written baseline has its spec's parameters and
outputs, and a run saved with --json prints the same tables again with --report. No timings are
checked here."""
from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]

import bench  # noqa: E402
from handwritten import BASELINES  # noqa: E402

import mgdsl  # noqa: E402


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    """bench.main sets torch's thread count for the whole process; the tests after these keep theirs."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("spec", bench.DEFAULT_SPECS)
def test_each_baseline_is_its_spec_written_by_hand(spec):
    net = mgdsl.load(ROOT / spec)
    torch.manual_seed(0)
    compiled, hand = net.build(), BASELINES[Path(spec).name]()
    bench.check_same(net, compiled, hand, torch)      # asserts equal parameter counts and outputs


def test_a_saved_run_replays_to_the_same_tables(tmp_path, capsys):
    saved = tmp_path / "run.jsonl"
    args = [str(ROOT / "specs/mnist/pmg-11-seg.mg"), "--repeats", "1", "--warmup", "0", "--no-memory",
            "--no-latency", "--ablate", "--threads", "1", "--json", str(saved)]      # one thread: no timing is checked
    assert bench.main(args) == 0
    live = capsys.readouterr().out
    assert bench.main(["--report", str(saved)]) == 0
    replayed = capsys.readouterr().out
    # the first line differs only by the load average, which a replay does not know
    assert live.splitlines()[1:] == replayed.splitlines()[1:]
    assert "| PMG-11-SEG | 2 |" in live and "no coarse_convT" in live


def test_executed_macs_count_the_gemm_convs():
    """VGG-16 has no mg-conv, so its optimised module runs exactly the paper's MACs; its small-grid
    convs are oneDNN matmuls, which FlopCounterMode does not know by itself."""
    net = mgdsl.load(ROOT / "specs/vgg-16.mg")
    model = net.build()
    assert "_ConvGEMM.apply(" in net.python_source(target="cpu")
    assert bench.executed_macs(model, net, "cpu", torch) == net.macs


@pytest.mark.filterwarnings("ignore:.*torch.jit.script:DeprecationWarning")    # fvcore's, on the built module
def test_latency_only_times_specs_without_a_baseline(capsys):
    """--latency-only needs no hand-written model, so any spec can be timed; its report is the latency
    table alone."""
    spec = str(ROOT / "specs/mnist/sg-11-seg.mg")          # a spec without a hand-written baseline
    assert Path(spec).name not in BASELINES
    assert bench.main([spec, "--latency-only", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "latency only" in out and "Training step" not in out
    assert f"| {spec} | " in out and "| load + build |" in out
    with pytest.raises(SystemExit, match="exclude each other"):
        bench.main([spec, "--latency-only", "--no-latency"])


@pytest.mark.filterwarnings("ignore:.*torch.jit.script:DeprecationWarning")    # fvcore's, on the built module
def test_latency_times_the_build_beside_its_two_baselines():
    """The weights alone and, where a hand-written module is given, its construction are timed in the
    same process, and the table gives the build's difference from the first and its ratio to the
    second ("-" where there is none)."""
    spec = str(ROOT / "specs/mnist/sg-11-seg.mg")
    made = []
    lat = bench.bench_latency(spec, torch, hand=lambda: made.append(torch.nn.Conv2d(4, 4, 3)), repeats=3)
    assert len(made) == 3 and all(lat[k] > 0 for k in ("build", "weights", "hand", "cost"))
    table = bench._latency_table([lat, {**lat, "hand": None}])
    with_hand, without = (row.split(" | ") for row in table[-2:])
    assert with_hand[3] == f"{(lat['build'] - lat['weights']) * 1e3:.1f}"
    assert with_hand[5] == f"{lat['build'] / lat['hand']:.2f}" and without[5] == "-"
