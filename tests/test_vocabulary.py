"""The layers the field's networks need beyond the paper (issue 24): batch norm's eps and momentum (on
`bn`, conv and upconv), layer and group norm, ConvNeXt's layer scale, stochastic depth, channel shuffle,
flatten, the hard-sigmoid and mish activations. Each counts like torch, computes what a plain torch
module written by hand computes with the same weights, is the same under every target and pass, exports
to ONNX and .pt2, draws, and is refused where it makes no sense."""
from __future__ import annotations

import pytest
from conftest import assert_targets_agree

import mgdsl
from mgdsl.errors import SpecShapeError, SpecTypeError
from mgdsl.graph.cost import cost_of

torch = pytest.importorskip("torch")
F = torch.nn.functional

VOCAB = '''network "VOCAB" (w = 8)
input 3 @ 32x32
conv w eps=0.001 momentum=0.01 act=hardswish
x = conv 2w kernel=7 groups=w pad=3 bn=off; ln eps=0.000001; conv 4w kernel=1 bn=off act=gelu
conv 2w kernel=1 bn=off; layerscale init=0.5; droppath 0.1
use x; gn 4; shuffle 2; act hardsigmoid; bn eps=0.01 momentum=0.2
act mish
add x shortcut=none
upconv w eps=0.002
flatten
fc 10
'''


def net():
    return mgdsl.loads(VOCAB)


def test_counts_are_torchs():
    n = net()
    model = n.build(device="meta", optimize=False)
    assert sum(p.numel() for p in model.parameters()) == cost_of(n.graph).params
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model.eval()(torch.zeros(1, *n.input_shape, device="meta"))
    assert fc.get_total_flops() == 2 * cost_of(n.graph).macs


def test_norm_options_reach_the_modules():
    model = net().build(optimize=False)
    bns = {k: m for k, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    assert (bns["s1.conv1.g32.bn"].eps, bns["s1.conv1.g32.bn"].momentum) == (0.001, 0.01)
    assert (bns["s1.bn1.g32.bn"].eps, bns["s1.bn1.g32.bn"].momentum) == (0.01, 0.2)
    assert bns["s1.upconv1.g32.bn"].eps == 0.002 and bns["s1.upconv1.g32.bn"].momentum == 0.1
    (ln,) = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert ln.eps == 1e-6 and torch.equal(ln.weight, torch.ones(16))
    (scale,) = [p for k, p in model.named_parameters() if k.endswith("scale.weight")]
    assert scale.shape == (16, 1, 1) and torch.equal(scale, torch.full((16, 1, 1), 0.5))
    # folded for inference with the norm's own eps
    inference = net().build(inference=True)
    inference.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(inference(x), model.eval()(x), rtol=1e-4, atol=1e-5)


class _ConvNeXtBlock(torch.nn.Module):
    """ConvNeXt's block written by hand (torchvision's, with 1x1 convs for its linear layers)."""

    def __init__(self, c):
        super().__init__()
        self.dw = torch.nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = torch.nn.LayerNorm(c, eps=1e-6)
        self.pw1, self.pw2 = torch.nn.Conv2d(c, 4 * c, 1), torch.nn.Conv2d(4 * c, c, 1)
        self.gamma = torch.nn.Parameter(torch.rand(c, 1, 1))

    def forward(self, x):
        y = self.norm(self.dw(x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.gamma * self.pw2(F.gelu(self.pw1(y)))


def test_a_convnext_block_computes_the_hand_written_one():
    spec = ('network "B"\ninput 16 @ 14x14\nx = relu\n'
            'conv 16 kernel=7 groups=depthwise bn=off relu=off; ln eps=0.000001; conv 64 kernel=1 bn=off act=gelu; '
            'conv 16 kernel=1 bn=off relu=off; layerscale; droppath 0.2\nadd x shortcut=none\n')
    n = mgdsl.loads(spec)
    model, ref = n.build(optimize=False).eval(), _ConvNeXtBlock(16).eval()
    # the same weights, in the order the block uses them (what weight porting does)
    theirs = [ref.dw.weight, ref.dw.bias, ref.norm.weight, ref.norm.bias, ref.pw1.weight, ref.pw1.bias,
              ref.pw2.weight, ref.pw2.bias, ref.gamma]
    mine = list(model.state_dict().values())
    assert [t.shape for t in mine] == [t.shape for t in theirs]
    with torch.no_grad():
        for m, t in zip(mine, theirs):
            m.copy_(t)
    x = torch.randn(2, 16, 14, 14)
    torch.testing.assert_close(model(x), ref(F.relu(x)), rtol=1e-5, atol=1e-6)


def test_shuffle_is_shufflenets():
    n = mgdsl.loads('network "S"\ninput 12 @ 4x4\nshuffle 3\n')
    x = torch.randn(2, 12, 4, 4)
    want = x.view(2, 3, 4, 4, 4).transpose(1, 2).contiguous().view(2, 12, 4, 4)   # torchvision's channel_shuffle
    assert torch.equal(n.build()(x), want)


def test_group_norm_and_the_new_activations_are_torchs():
    n = mgdsl.loads('network "G"\ninput 8 @ 6x6\ngn 2 eps=0.001\nact hardsigmoid\nact mish\n')
    model = n.build(optimize=False)
    x = torch.randn(3, 8, 6, 6)
    gn = torch.nn.GroupNorm(2, 8, eps=0.001)
    torch.testing.assert_close(model(x), F.mish(F.hardsigmoid(gn(x))))


def test_stochastic_depth_drops_whole_samples_in_training_only():
    n = mgdsl.loads('network "D"\ninput 4 @ 8x8\ndroppath 0.5\n')
    model = n.build()
    x = torch.ones(4000, 4, 8, 8)
    assert torch.equal(model.eval()(x), x)
    torch.manual_seed(0)
    y = model.train()(x)
    per_sample = y.flatten(1)
    assert ((per_sample == 0).all(1) | (per_sample == 2).all(1)).all()    # kept samples scaled by 1 / (1 - p)
    assert abs(per_sample.mean().item() - 1.0) < 0.05


def test_flatten_gives_the_grids_features():
    n = mgdsl.loads('network "F"\ninput 2 @ 3x5\nflatten\n')
    assert n.output_shape == (30,)
    x = torch.randn(2, 2, 3, 5)
    assert torch.equal(n.build()(x), x.flatten(1))


def test_every_target_and_pass_computes_the_same():
    n = net()
    assert_targets_agree(n, ({"target": "cpu"}, {"target": "cuda"}, {"target": "portable"}))


@pytest.mark.parametrize("suffix", [".pt2", ".onnx"])
def test_the_new_layers_export(tmp_path, suffix):
    if suffix == ".onnx":
        pytest.importorskip("onnxruntime")
    from mgdsl.testing import export_and_verify
    n = net()
    ok, worst, ratio = export_and_verify(n, tmp_path / f"v{suffix}")
    assert ok, (worst, ratio)


def test_the_new_layers_draw():
    from mgdsl.backends.draw import analyse, diagram
    n = net()
    kinds = {c.records[0].type: c.kind for c in analyse(n.graph).columns if c.records}
    assert kinds["ln"] == kinds["layerscale"] == kinds["shuffle"] == "conv" and kinds["flatten"] == "pool"
    assert diagram(n.graph).startswith("digraph")


@pytest.mark.parametrize("body, cls, col", [
    ("conv 8 bn=off eps=0.01", SpecTypeError, 19),          # eps belongs to the batch norm
    ("shuffle 5", SpecShapeError, 1),                        # 5 groups do not divide 8 channels
    ("gn 3", SpecShapeError, 1),
    ("fc 4\nflatten", SpecShapeError, 1),                    # a flat vector already
    ("ln eps=0", None, 8),                                   # eps must be above 0
])
def test_misuse_is_refused_where_it_is_written(spec_file, body, cls, col):
    with pytest.raises(mgdsl.MgError) as info:
        mgdsl.load(spec_file('network "M"\ninput 8 @ 8x8\n' + body + "\n"))
    e = info.value
    assert cls is None or isinstance(e, cls), e.report()
    assert e.span.col == col, e.report()
