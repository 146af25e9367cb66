"""`mgdsl bench`: its text and JSON reports, the per-layer profile that adds up to the measured step,
the profiler scopes behind it (opt-in: the default code is unchanged), and clear errors for bad
arguments. No test asserts how fast anything is; the one timing check is that the per-layer times
add up to the measured step."""
import json
import re
import subprocess
import sys

import pytest

from mgdsl.cli import main

torch = pytest.importorskip("torch")

TINY = 'network "T"\ninput 3 @ 8x8\nconv 4\nfc 2\n'
QUICK = ["--batch", "2", "--repeat", "2", "--warmup", "1", "--threads", "1"]


@pytest.fixture(autouse=True)
def _keep_threads():
    """--threads sets torch's thread count for the process: give the next test what it had."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_text_report(spec_file, capsys):
    assert main(["bench", spec_file(TINY), *QUICK]) == 0
    cap = capsys.readouterr()
    out = cap.out
    assert "measured peak: GEMM" in out and "conv" in out
    assert "T (" in out and "inference, batch 2, cpu; 2 runs per engine after 1 warm-up" in out
    for column in ("median ms", "p10 - p90 ms", "images/s", "peak MiB", "GFLOP/s", "of peak"):
        assert column in out
    assert cap.err == ""                       # no progress bar when stderr is not a terminal


def test_json_report(spec_file, capsys):
    d = _json(capsys, ["bench", spec_file(TINY), *QUICK, "--train", "--format", "json"])
    m = d["machine"]
    assert m["device"] == "cpu" and m["threads"] == 1 and m["gemm_gflops"] > 0 and m["conv_gflops"] > 0
    assert m["peak_gflops"] == max(m["gemm_gflops"], m["conv_gflops"])
    (r,) = d["results"]
    assert (r["name"], r["mode"], r["batch"], r["repeat"], r["warmup"]) == ("T", "train", 2, 2, 1)
    # conv 3->4 on 8x8 (3x3) and fc 256->2, per image; a training step counts three forwards
    assert r["macs_per_image"] == 8 * 8 * 4 * 3 * 9 + 256 * 2
    assert r["flops_per_step"] == 2 * r["macs_per_image"] * 2 * 3
    (e,) = r["engines"]
    assert e["engine"] == "eager" and e["runs"] == 2 and len(e["times_ms"]) == 2
    assert e["p10_ms"] <= e["median_ms"] <= e["p90_ms"]
    assert e["images_per_s"] == pytest.approx(2 / (e["median_ms"] / 1e3))
    assert e["gflops"] == pytest.approx(r["flops_per_step"] / (e["median_ms"] / 1e3) / 1e9)
    assert e["fraction_of_peak"] == pytest.approx(e["gflops"] / m["peak_gflops"])
    assert e["peak_bytes"] >= 4 * (4 * 3 * 9 + 4 + 2 * 256 + 2)     # at least the weights
    assert r["by_layer"] is None


@pytest.mark.parametrize("mode", ["--infer", "--train"])
def test_layer_times_add_up_to_the_measured_step(mode, capsys):
    """The done-when check on a small paper network (R-PMG-30 is the slow test below): the times of
    the spec's layers add up to within 10 % of the profiled steps they come from (nothing lost or
    counted twice) and of the median step of the module that was timed, and their MACs to the cost
    model's. Other jobs on a shared machine can move the two medians apart in one short run (the
    profiled and the timed steps alternate, but 15 of each, of 10-60 ms, on a machine with several
    times more jobs than cores differ by 20 % and more), so the second holds in one of three runs."""
    misses = []
    for _ in range(3):
        d = _json(capsys, ["bench", "specs/mg-6.mg", mode, "--by", "layer", "--batch", "4", "--repeat", "15",
                           "--threads", "1", "--format", "json"])
        (r,) = d["results"]
        layers = r["by_layer"]
        assert abs(layers["sum_ms"] - layers["profiled_step_ms"]) <= 0.10 * layers["profiled_step_ms"], layers
        assert (layers["other_ms"] > 0) == (mode == "--train")
        assert sum(row["macs"] for row in layers["layers"]) == r["macs_per_image"]
        names = {row["layer"] for row in layers["layers"]}
        assert {"s1.conv1", "s2.mgconv1", "s5.mgconv1", "head.fc1"} <= names
        assert {row["grid"] for row in layers["layers"] if row["layer"] == "s2.mgconv1"} == {"16x16", "8x8", "4x4"}
        assert sum(row["time_share"] for row in layers["layers"]) == pytest.approx(1)
        assert all(row["ms"] > 0 for row in layers["layers"] if row["macs"])
        if abs(layers["sum_ms"] - layers["measured_ms"]) <= 0.10 * layers["measured_ms"]:
            return
        misses.append((layers["sum_ms"], layers["measured_ms"]))
    pytest.fail(f"the per-layer sum missed the measured median by more than 10 % in three runs: {misses}")


@pytest.mark.slow(reason="the issue's done-when command on R-PMG-30; test_layer_times_add_up_to_the_measured_step "
                        "checks the same on MG-6")
def test_r_pmg_30_by_layer(capsys):
    assert main(["bench", "specs/r-pmg-30.mg", "--by", "layer", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    line = next(s for s in out.splitlines() if s.startswith("the per-layer times add up to"))
    share = float(line.split("ms, ")[1].split("%")[0])
    assert 90 <= share <= 110, out


def test_engines_are_interleaved_and_onnxruntime_runs_the_export(spec_file, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    d = _json(capsys, ["bench", spec_file(TINY), *QUICK, "--engine", "eager,onnxruntime", "--format", "json"])
    engines = d["results"][0]["engines"]
    assert [e["engine"] for e in engines] == ["eager", "onnxruntime"]
    assert engines[1]["peak_bytes"] is None and engines[1]["median_ms"] > 0


@pytest.mark.slow(reason="torch.compile takes seconds even for a tiny network; the eager and onnxruntime engines "
                        "are tested always")
def test_compile_engine_trains(spec_file, capsys):
    d = _json(capsys, ["bench", spec_file(TINY), *QUICK, "--train", "--engine", "eager,compile", "--format", "json"])
    engines = d["results"][0]["engines"]
    assert [e["engine"] for e in engines] == ["eager", "compile"]
    assert engines[1]["runs"] == 2 and engines[1]["setup_s"] > 0 and engines[1]["peak_bytes"] > 0


def test_onnxruntime_missing_says_how_to_install(spec_file, capsys, monkeypatch):
    from mgdsl import inference
    real = inference.find_spec
    monkeypatch.setattr(inference, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert main(["bench", spec_file(TINY), *QUICK, "--engine", "onnxruntime"]) == 1
    err = capsys.readouterr().err
    assert "needs the package(s) onnxruntime" in err and 'pip install "mgdsl[onnx]"' in err


@pytest.mark.parametrize("argv, code, said", [
    (["--batch", "0"], 2, "--batch must be at least 1, not 0"),
    (["--repeat", "x"], 2, "--repeat wants a whole number"),
    (["--engine", "tensorrt"], 2, "unknown engine tensorrt; choose from eager, compile, onnxruntime"),
    (["--engine", "onnxruntime", "--train"], 1, "onnxruntime runs inference only"),
    (["--by", "layer", "--engine", "compile"], 1, "--by layer profiles the eager engine"),
    (["--device", "tpu"], 1, "--device tpu: unknown device"),
    (["--by", "grid"], 2, "invalid choice: 'grid'"),
])
def test_bad_arguments(argv, code, said, spec_file, capsys):
    assert main(["bench", spec_file(TINY), *argv]) == code
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


def test_missing_spec(capsys):
    assert main(["bench", "specs/no-such-net.mg"]) == 1
    err = capsys.readouterr().err
    assert "no spec file specs/no-such-net.mg" in err and "Traceback" not in err


def test_cuda_without_a_gpu(spec_file, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["bench", spec_file(TINY), *QUICK, "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "this machine has no CUDA GPU" in err and "Traceback" not in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_json(spec_file, capsys):
    d = _json(capsys, ["bench", spec_file(TINY), *QUICK, "--device", "cuda", "--by", "layer", "--format", "json"])
    (r,) = d["results"]
    assert r["device"] == "cuda" and r["engines"][0]["peak_bytes"] > 0 and r["by_layer"]["sum_ms"] > 0


def test_help_names_the_options_without_torch():
    code = ("import contextlib, io, sys\nfrom mgdsl.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n    main(['bench', '--help'])\n"
            "print('torch' in sys.modules, all(o in out.getvalue() for o in "
            "('--engine', '--by', '--train', '--repeat', '--threads', 'onnxruntime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True"], out.stdout + out.stderr[-2000:]


# -- the profiler scopes ---------------------------------------------------------------------------------
def test_scopes_are_opt_in_and_change_no_statement():
    import mgdsl
    from mgdsl.backends.torch_source import scope_name
    net = mgdsl.load("specs/mg-6.mg")
    plain, scoped = net.python_source(target="cpu"), net.python_source(target="cpu", scopes=True)
    assert "record_function" not in plain
    named = set(re.findall(r"record_function\('mgdsl:([^@']+)@([^']+)'\)", scoped))
    assert {(r.layer, r.grid) for r in net.graph.records() if r.kind != "input"} <= named
    assert f"with torch.profiler.record_function({scope_name('s2.mgconv1', '8x8')!r}):" in scoped
    statements = [s.strip() for s in scoped.splitlines() if "record_function" not in s]
    assert statements == [s.strip() for s in plain.splitlines()]
    torch.manual_seed(0)
    a = net.build()
    b = net.build(scopes=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, *net.input_shape)
    with torch.no_grad():
        assert torch.equal(a.eval()(x), b.eval()(x))


def test_full_profile_every_step_where_torch_lacks_the_light_one(monkeypatch, capsys):
    """Without torch's profiler entry points for scopes alone, every profiled step is profiled op by
    op; the layers still add up to the profiled steps."""
    from mgdsl import benchmark
    monkeypatch.setattr(benchmark, "light_profile", lambda *a: None)
    d = _json(capsys, ["bench", "specs/mg-6.mg", "--train", "--by", "layer", "--batch", "2", "--repeat", "3",
                       "--threads", "1", "--format", "json"])
    layers = d["results"][0]["by_layer"]
    assert abs(layers["sum_ms"] - layers["profiled_step_ms"]) <= 0.10 * layers["profiled_step_ms"], layers


def test_several_specs_in_order(spec_file, capsys):
    other = spec_file(TINY.replace('"T"', '"U"').replace("conv 4", "conv 6"), "u.mg")
    d = _json(capsys, ["bench", spec_file(TINY), other, *QUICK, "--format", "json"])
    assert [r["name"] for r in d["results"]] == ["T", "U"]


def test_middle_half():
    from mgdsl.benchmark import middle_half
    assert middle_half([5.0]) == [0]
    assert middle_half([9.0, 1.0, 5.0, 4.0]) == [2, 3]
    assert middle_half([1.0, 100.0, 2.0, 3.0, 4.0, 0.5, 2.5, 3.5]) == [2, 3, 6, 7]


def test_a_step_whose_backward_ops_differ_is_left_out(monkeypatch, capsys):
    from mgdsl import benchmark
    real, calls = benchmark.light_times, []

    def first_differs(events, backward):
        calls.append(1)
        return None if len(calls) == 1 else real(events, backward)
    monkeypatch.setattr(benchmark, "light_times", first_differs)
    d = _json(capsys, ["bench", "specs/mg-6.mg", "--train", "--by", "layer", "--batch", "2", "--repeat", "8",
                       "--threads", "1", "--format", "json"])
    layers = d["results"][0]["by_layer"]
    assert len(calls) == 4 and layers["sum_ms"] > 0      # the middle half of 8 steps, one of them left out
    assert abs(layers["sum_ms"] - layers["profiled_step_ms"]) <= 0.10 * layers["profiled_step_ms"], layers
