"""`mgdsl port` and `Network.port_weights`: a plain torch module of the same network, written by hand,
gives its weights to a spec, and the spec then computes the same function. A missing tensor, an extra
one, a shape that does not fit, a file that would run code, and a key map each get a clear message,
and nothing is written on failure."""
from __future__ import annotations

import os

import pytest

import mgdsl
from mgdsl.cli import main
from mgdsl.errors import UsageError

torch = pytest.importorskip("torch")
nn = torch.nn

SPEC = '''network "Tiny" (classes = 10)
input 3 @ 16x16
conv 8 bias=off
unit basic(width, stride = 1):
    conv width stride=stride bias=off
    conv width relu=off bias=off
    add in shortcut=proj
    relu
basic 8; basic 16 stride=2
fc classes pool=avg
'''


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
            if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (self.down(x) if self.down is not None else x))


class Tiny(nn.Module):
    """The spec's network in plain torch, as torchvision writes a ResNet."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8)
        self.layer1, self.layer2 = Basic(8, 8, 1), Basic(8, 16, 2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.layer2(self.layer1(torch.relu(self.bn(self.stem(x)))))
        return self.fc(x.mean((2, 3)))


def _reference():
    torch.manual_seed(3)
    ref = Tiny()
    with torch.no_grad():                       # running statistics that are not the identity
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return ref.eval()


def test_ported_weights_compute_the_reference_function():
    net = mgdsl.loads(SPEC)
    ref = _reference()
    model = net.build().eval()
    model.load_state_dict(net.port_weights(ref.state_dict()))
    x = torch.randn(4, 3, 16, 16)
    torch.testing.assert_close(model(x), ref(x), rtol=1e-5, atol=1e-6)


def test_the_command_writes_a_state_dict_that_export_and_build_take(tmp_path, spec_file, capsys):
    spec = spec_file(SPEC)
    ref = _reference()
    torch.save(ref.state_dict(), tmp_path / "ref.pth")
    out = tmp_path / "w.pt"
    assert main(["port", spec, "--from", str(tmp_path / "ref.pth"), "-o", str(out)]) == 0
    model = mgdsl.load(spec).build().eval()
    model.load_state_dict(torch.load(out, weights_only=True))
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model(x), ref(x), rtol=1e-5, atol=1e-6)
    assert main(["port", spec, "--list"]) == 0
    assert "s1.conv1.g16.conv.weight  8x3x3x3" in capsys.readouterr().out


def _fails(spec, tmp_path, state, *extra) -> str:
    src, out = tmp_path / "src.pth", tmp_path / "out.pt"
    torch.save(state, src)
    from mgdsl.backends.port import port_weights, read_foreign, read_key_map
    with pytest.raises(UsageError) as info:            # the message, from the pieces the command uses
        port_weights(mgdsl.load(spec), read_foreign(src), read_key_map(extra[0]) if extra else None)
    assert main(["port", spec, "--from", str(src), "-o", str(out), *(["--map", str(extra[0])] if extra else [])]) == 1
    assert not out.exists()                      # nothing written on failure
    return info.value.report()


def test_a_missing_tensor_is_named(tmp_path, spec_file):
    state = _reference().state_dict()
    state.pop("fc.bias")
    msg = _fails(spec_file(SPEC), tmp_path, state)
    assert "too few tensors" in msg and "head.fc1.fc.bias" in msg


def test_an_extra_tensor_is_named(tmp_path, spec_file):
    state = {**_reference().state_dict(), "aux.weight": torch.zeros(3)}
    msg = _fails(spec_file(SPEC), tmp_path, state)
    assert "more than" in msg and "aux.weight" in msg


def test_a_shape_mismatch_names_both_sides(tmp_path, spec_file):
    state = _reference().state_dict()
    state["stem.weight"] = torch.zeros(8, 3, 5, 5)
    msg = _fails(spec_file(SPEC), tmp_path, state)
    assert "s1.conv1.g16.conv.weight (8x3x3x3)" in msg and "stem.weight (8x3x5x5)" in msg and "key map" in msg


def test_a_key_map_pins_entries_out_of_order(tmp_path, spec_file):
    spec = spec_file(SPEC)
    ref = _reference()
    items = list(ref.state_dict().items())
    state = dict([items[-1], *items[:-1]])      # fc.bias first: the order alone no longer fits
    msg = _fails(spec, tmp_path, dict(state))
    assert "does not fit" in msg
    (tmp_path / "map.txt").write_text("# pin the classifier's bias\nhead.fc1.fc.bias fc.bias\n", encoding="utf-8")
    torch.save(state, tmp_path / "src.pth")
    out = tmp_path / "w.pt"
    assert main(["port", spec, "--from", str(tmp_path / "src.pth"), "-o", str(out), "--map",
                 str(tmp_path / "map.txt")]) == 0
    model = mgdsl.load(spec).build().eval()
    model.load_state_dict(torch.load(out, weights_only=True))
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model(x), ref(x), rtol=1e-5, atol=1e-6)


def test_a_file_that_would_run_code_is_refused_and_nothing_runs(tmp_path, spec_file):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    src, out = tmp_path / "evil.pth", tmp_path / "out.pt"
    torch.save({"stem.weight": torch.zeros(8, 3, 3, 3), "x": Evil()}, src)
    assert main(["port", spec_file(SPEC), "--from", str(src), "-o", str(out)]) == 1
    assert not marker.exists() and not out.exists()


def test_a_linear_weight_fills_a_one_by_one_conv():
    # ConvNeXt's pointwise layers are nn.Linear in torchvision and 1x1 convs in a spec
    net = mgdsl.loads('network "P"\ninput 4 @ 5x5\nconv 6 kernel=1 bn=off relu=off\n')
    lin = nn.Linear(4, 6)
    state = net.port_weights({"w": lin.weight.detach(), "b": lin.bias.detach()})
    model = net.build().eval()
    model.load_state_dict(state)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(model(x), lin(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), rtol=1e-5, atol=1e-6)


def test_unreadable_inputs_are_usage_errors(tmp_path, spec_file, capsys):
    """A broken weights file, a key map that is missing or not UTF-8: a one-line error, no traceback,
    nothing written."""
    spec, out = spec_file(SPEC), tmp_path / "o.pt"
    bad, good, latin = tmp_path / "broken.pth", tmp_path / "w.pth", tmp_path / "map.txt"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    torch.save(_reference().state_dict(), good)
    latin.write_bytes(b"a.weight caf\xe9\n")
    for extra, words in ((["--from", str(bad)], "not a readable weights file"),
                         (["--from", str(good), "--map", str(tmp_path / "nope.txt")], "cannot read it"),
                         (["--from", str(good), "--map", str(latin)], "not UTF-8")):
        capsys.readouterr()
        assert main(["port", spec, *extra, "-o", str(out)]) == 1
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
        assert not out.exists()
