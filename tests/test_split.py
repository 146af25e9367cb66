"""Channel splits and slices (issue 24): `chunk PARTS take=I` keeps one of equal parts of the channels
(ShuffleNetV2's split, a branch per part), `slice WIDTHS start=S` keeps some channels (GhostNet keeps
its first `out`). They move data only, compute what torch's indexing does, keep every target equal,
export, draw, keep the positions they read, and impossible splits are refused where they are written."""
from __future__ import annotations

import pytest
from conftest import assert_targets_agree

import mgdsl
from mgdsl.errors import MgError, SpecValueError
from mgdsl.graph.cost import cost_of
from mgdsl.graph.receptive import input_box

torch = pytest.importorskip("torch")

SPEC = '''network "SP"
input 16 @ 8x8
x = relu
b = chunk 2 take=2; conv 8 kernel=1 bias=off; conv 8 groups=depthwise bias=off relu=off
use x; chunk 2; concat b
shuffle 2
p = conv 12 kernel=1 bias=off
c = conv 12 groups=depthwise bias=off
use p; concat c; slice 20
q = chunk 4 take=3
use p; slice 5 start=3; concat q
fc 10 pool=avg
'''


def net():
    return mgdsl.loads(SPEC)


def test_they_move_data_only_and_count_like_torch():
    n = net()
    slices = [r for r in n.graph.records() if r.kind == "slice"]
    assert [(r.attrs["start"], r.attrs["stop"]) for r in slices] == [(8, 16), (0, 8), (0, 20), (10, 15), (3, 8)]
    c = cost_of(n.graph)
    model = n.build(device="meta", optimize=False)
    assert sum(p.numel() for p in model.parameters()) == c.params
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.eval()(torch.zeros(1, *n.input_shape, device="meta"))
    assert fc.get_total_flops() == 2 * c.macs
    from mgdsl.graph.ops import OPS
    assert OPS["slice"].other({"start": 0, "stop": 4}, [(8, 4, 4)], (4, 4, 4)) == 0


def test_they_are_torchs_indexing():
    n = mgdsl.loads('network "I"\ninput 12 @ 3x3\nx = relu\na = chunk 3 take=2\nuse x; slice 5 start=6; concat a\n')
    x = torch.randn(2, 12, 3, 3)
    y = torch.relu(x)
    assert torch.equal(n.build()(x), torch.cat([y[:, 6:11], y.chunk(3, dim=1)[1]], 1))


def test_a_flat_vector_is_sliced_too():
    n = mgdsl.loads('network "V"\ninput 3 @ 4x4\nfc 10\nslice 4 start=2\n')
    assert n.output_shape == (4,)


def test_every_target_and_pass_computes_the_same():
    n = net()
    assert_targets_agree(n)


def test_an_inplace_relu_after_a_slice_leaves_its_source_alone():
    # a slice is a view: ReLU on it in place would change the channels another branch still reads
    n = mgdsl.loads('network "R"\ninput 8 @ 4x4\nx = conv 8 bn=off relu=off\nslice 4; relu\nconcat x\n')
    x = torch.randn(2, 8, 4, 4)
    model = n.build().eval()
    plain = n.build(optimize=False).eval()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(x), plain(x))


@pytest.mark.parametrize("suffix", [".pt2", ".onnx"])
def test_they_export(tmp_path, suffix):
    if suffix == ".onnx":
        pytest.importorskip("onnxruntime")
    from mgdsl.testing import export_and_verify
    n = net()
    ok, worst, ratio = export_and_verify(n, tmp_path / f"s{suffix}")
    assert ok, (worst, ratio)


def test_they_draw():
    from mgdsl.backends.draw import analyse, diagram
    n = net()
    kinds = {c.records[0].type: c.kind for c in analyse(n.graph).columns if c.records}
    assert kinds["chunk"] == kinds["slice"] == "concat"
    assert diagram(n.graph).startswith("digraph") and "slice" in diagram(n.graph, detail="ops")


def test_a_slice_reads_the_positions_it_writes():
    n = mgdsl.loads('network "F"\ninput 4 @ 9x9\nconv 8 kernel=3\nchunk 2 take=2\n')
    last = [r.id for r in n.graph.records()][-1]
    assert input_box(n.graph, last, (4, 4)) == ((3, 5), (3, 5))


BAD = 'network "B"\ninput 16 @ 8x8\n{}\n'


@pytest.mark.parametrize("body, col, words, hint", [
    ("chunk 0", 7, "too small", None),
    ("chunk 3", 7, "do not divide", "slice"),
    ("chunk 32", 7, "fewer than the 32 parts", "at most 16"),
    ("chunk 2 take=3", 14, "part 3 of 2", "from 1 to 2"),
    ("slice 17", 7, "has 16 channels", "at most 16"),
    ("slice 8 start=9", 7, "channels 9 to 16", "at most 7 channels from channel 9"),
    ("slice 8 start=16", 7, "channels 16 to 23", "below 16"),
    ("slice 0", 7, "too small", None),
    ("chunk 2\nfc 4\nchunk 5", 7, "the flat vector has 4 channels", "at most 4"),
])
def test_impossible_splits_are_refused_where_written(spec_file, body, col, words, hint):
    with pytest.raises(MgError) as info:
        mgdsl.load(spec_file(BAD.format(body)))
    e = info.value
    assert isinstance(e, SpecValueError), e.report()
    assert e.span.line == 2 + body.count("\n") + 1 and e.span.col == col, e.report()
    assert words in e.message and (hint is None or hint in e.hint), e.report()
