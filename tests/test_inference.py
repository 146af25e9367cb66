"""`Network.session()`: one call for fast inference. Every engine computes the same network on the same
weights; `auto` measures its candidates and keeps the fastest; bad arguments get clear errors. No test
asserts which engine wins (that is the machine's business): docs/benchmark.md has the measurements."""
import pytest

import mgdsl
from mgdsl.cli import main
from mgdsl.errors import UsageError

torch = pytest.importorskip("torch")

TINY = 'network "T"\ninput 3 @ 16x16\ngrids 2\nconv 8, 4\nmgconv\npool merge\nfc 5\n'
TWO = 'network "Two"\ninput 3 @ 8x8\nh = conv 4\na = fc 3\nuse h\nb = fc 2\noutputs a, b\n'


def _ort():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")


@pytest.fixture
def tiny():
    net = mgdsl.loads(TINY)
    torch.manual_seed(0)
    model = net.build().eval()
    for m in model.modules():                    # batch norm statistics that are not an identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return net, model


def _want(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("engine", ["eager", "onnxruntime"])
def test_each_engine_computes_the_network_on_the_weights_given(tiny, engine):
    if engine == "onnxruntime":
        _ort()
    net, model = tiny
    sess = net.session(model.state_dict(), engine=engine)
    assert sess.engine == engine and sess.timings == {}
    x = torch.randn(3, 3, 16, 16)
    torch.testing.assert_close(sess(x), _want(model, x), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sess(x.numpy()), _want(model, x), rtol=1e-4, atol=1e-5)   # arrays too


def test_auto_times_every_candidate_and_keeps_the_fastest(tiny):
    _ort()
    net, model = tiny
    sess = net.session(model.state_dict(), batch=2, repeat=3, warmup=1)
    assert set(sess.timings) == {"eager", "onnxruntime"}
    assert sess.engine == min(sess.timings, key=sess.timings.get)
    assert all(t > 0 for t in sess.timings.values())
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(sess(x), _want(model, x), rtol=1e-4, atol=1e-5)
    assert sess.engine in repr(sess) and "ms" in repr(sess)


def test_auto_without_onnxruntime_runs_eager(tiny, monkeypatch):
    from mgdsl import inference
    monkeypatch.setattr(inference, "ort_available", lambda: False)
    net, model = tiny
    sess = net.session(model.state_dict())
    assert sess.engine == "eager"
    with pytest.raises(UsageError, match="needs the package"):
        monkeypatch.setattr(inference, "find_spec", lambda name: None)
        net.session(engine="onnxruntime")


@pytest.mark.parametrize("engine", ["eager", "onnxruntime"])
def test_several_outputs_come_back_as_a_tuple(engine):
    if engine == "onnxruntime":
        _ort()
    net = mgdsl.loads(TWO)
    model = net.build().eval()
    sess = net.session(model.state_dict(), engine=engine)
    x = torch.randn(2, 3, 8, 8)
    got, want = sess(x), _want(model, x)
    assert isinstance(got, tuple) and len(got) == 2
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_weights_from_a_file_and_weights_that_do_not_fit(tiny, tmp_path):
    net, model = tiny
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(net.session(path, engine="eager")(x), _want(model, x))
    other = mgdsl.loads(TINY.replace("fc 5", "fc 6")).build().state_dict()
    with pytest.raises(UsageError, match="do not fit this network"):
        net.session(other, engine="eager")


def test_bad_arguments_and_inputs_get_clear_errors(tiny):
    net, model = tiny
    with pytest.raises(UsageError, match="unknown inference engine 'tensorrt'"):
        net.session(engine="tensorrt")
    with pytest.raises(UsageError, match="unknown inference engine 'tvm'"):
        net.session(candidates=("eager", "tvm"))
    with pytest.raises(UsageError, match="batch must be a positive"):
        net.session(batch=0)
    sess = net.session(model.state_dict(), engine="eager")
    with pytest.raises(UsageError, match=r"takes a batch of shape \(N, 3, 16, 16\); got \(3, 16, 16\)"):
        sess(torch.randn(3, 16, 16))


def test_bench_times_the_session(spec_file, capsys):
    _ort()
    path = spec_file(TINY)
    assert main(["bench", path, "--engine", "session,onnxruntime", "--batch", "1", "--repeat", "2",
                 "--warmup", "1", "--threads", "1", "--format", "json"]) == 0
    import json
    (res,) = json.loads(capsys.readouterr().out)["results"]
    assert [e["engine"] for e in res["engines"]] == ["session", "onnxruntime"]
    assert all(e["median_ms"] > 0 for e in res["engines"])


def test_bench_refuses_to_train_the_session(spec_file, capsys):
    assert main(["bench", spec_file(TINY), "--engine", "session", "--train"]) == 1
    assert "--engine session runs inference only" in capsys.readouterr().err


@pytest.mark.slow(reason="torch.compile takes tens of seconds even for a tiny network")
def test_the_compile_engine_computes_the_network(tiny):
    net, model = tiny
    sess = net.session(model.state_dict(), engine="compile")
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(sess(x), _want(model, x), rtol=1e-4, atol=1e-5)
