"""Weights ported from plain torch, for every layer the field's networks need beyond the paper (issue 24):
each network here is written twice, as a spec and as a plain torch module the way torchvision writes it;
the module's random weights (and batch norm statistics) go to the spec through `Network.port_weights`,
and both compute the same function in eval mode (to 1e-4 of the output's scale).

Covered: kernels of two sides (Inception-v3's 1x7/7x1 convs, with its batch norm's eps), channel split
and shuffle (ShuffleNetV2's unit), channel slicing (GhostNet's ghost module), layer norm, layer scale and
stochastic depth (ConvNeXt's block), group norm, flatten, batch norm's eps and momentum, and the
hard-swish / hard-sigmoid gate (MobileNetV3's squeeze-and-excitation)."""
from __future__ import annotations

import pytest

import mgdsl

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional


def conv_bn(cin, cout, k, stride=1, padding=None, groups=1, relu=True, eps=1e-5, momentum=0.1):
    """torchvision's Conv2dNormActivation in short: conv (no bias), batch norm, ReLU."""
    k2 = k if isinstance(k, tuple) else (k, k)
    padding = (k2[0] // 2, k2[1] // 2) if padding is None else padding
    layers = [nn.Conv2d(cin, cout, k, stride, padding, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=eps, momentum=momentum)]
    return nn.Sequential(*layers, *([nn.ReLU()] if relu else []))


# -- Inception-v3's factorised 7x7 (InceptionC's branch 7x7dbl): windows of two sides, eps 0.001 -------------------
INCEPTION = '''network "InceptionC branch" (c = 12)
input 16 @ 17x17
conv c kernel=1 bias=off eps=0.001
conv c kernel=7x1 bias=off eps=0.001
conv c kernel=1x7 bias=off eps=0.001 momentum=0.01
conv 2c kernel=3x5 pad=1x2 bias=off eps=0.001
'''


class Inception(nn.Module):
    def __init__(self, c=12):
        super().__init__()
        self.b = nn.Sequential(conv_bn(16, c, 1, eps=1e-3), conv_bn(c, c, (7, 1), padding=(3, 0), eps=1e-3),
                               conv_bn(c, c, (1, 7), padding=(0, 3), eps=1e-3, momentum=0.01),
                               conv_bn(c, 2 * c, (3, 5), padding=(1, 2), eps=1e-3))

    def forward(self, x):
        return self.b(x)


# -- ShuffleNetV2's unit, stride 1: chunk, a branch on the second half, concat, shuffle -----------------------------
SHUFFLE = '''network "ShuffleNetV2 unit" (c = 24)
input 24 @ 14x14
unit shuffle_unit(c):
    b = chunk 2 take=2; conv c / 2 kernel=1 bias=off; conv c / 2 groups=depthwise bias=off relu=off; \\
        conv c / 2 kernel=1 bias=off
    use in; chunk 2; concat b; shuffle 2
2 × shuffle_unit c
'''


class ShuffleUnit(nn.Module):
    """torchvision's InvertedResidual with stride 1."""

    def __init__(self, c):
        super().__init__()
        h = c // 2
        self.branch2 = nn.Sequential(conv_bn(h, h, 1), conv_bn(h, h, 3, groups=h, relu=False), conv_bn(h, h, 1))

    def forward(self, x):
        x1, x2 = x.chunk(2, dim=1)
        out = torch.cat((x1, self.branch2(x2)), dim=1)
        n, c, hh, ww = out.shape                      # torchvision's channel_shuffle
        return out.view(n, 2, c // 2, hh, ww).transpose(1, 2).contiguous().view(n, c, hh, ww)


class Shuffle(nn.Module):
    def __init__(self):
        super().__init__()
        self.units = nn.Sequential(ShuffleUnit(24), ShuffleUnit(24))

    def forward(self, x):
        return self.units(x)


# -- GhostNet's ghost module: a conv, a cheap depthwise conv of it, concat, the first `out` channels -------------
GHOST = '''network "Ghost module" (out = 20)
input 8 @ 10x10
p = conv 10 kernel=1 bias=off
g = conv 10 groups=depthwise bias=off
use p; concat g; slice out
gap; flatten; fc 5
'''


class Ghost(nn.Module):
    """timm's GhostModule (ratio 2, dw_size 3, ReLU) with out=20, then a pooled linear head."""

    def __init__(self, out=20):
        super().__init__()
        self.out = out
        self.primary_conv = conv_bn(8, 10, 1)
        self.cheap_operation = conv_bn(10, 10, 3, groups=10)
        self.fc = nn.Linear(out, 5)

    def forward(self, x):
        x1 = self.primary_conv(x)
        y = torch.cat([x1, self.cheap_operation(x1)], dim=1)[:, :self.out]
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))


# -- ConvNeXt's block: layer norm, layer scale, stochastic depth; a flattened head ----------------------------
CONVNEXT = '''network "ConvNeXt block" (c = 16)
input 3 @ 16x16
x = conv c kernel=4 stride=4 pad=0 bn=off relu=off; ln eps=0.000001
conv c kernel=7 groups=depthwise bn=off relu=off; ln eps=0.000001
conv 4c kernel=1 bn=off act=gelu; conv c kernel=1 bn=off relu=off; layerscale; droppath 0.3
add x shortcut=none
flatten; fc 7
'''


class LayerNorm2d(nn.LayerNorm):
    """torchvision's: a layer norm over the channels of an NCHW tensor."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """torchvision's CNBlock (its linear layers, its StochasticDepth in eval mode) after a patchify stem."""

    def __init__(self, c=16):
        super().__init__()
        self.layer_scale = nn.Parameter(torch.rand(c, 1, 1))
        self.stem = nn.Sequential(nn.Conv2d(3, c, 4, 4), LayerNorm2d(c, eps=1e-6))
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pw1, self.pw2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.fc = nn.Linear(c * 4 * 4, 7)

    def forward(self, x):
        x = self.stem(x)
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = self.pw2(F.gelu(self.pw1(y))).permute(0, 3, 1, 2)
        x = x + self.layer_scale * y                 # stochastic depth: the identity in eval mode
        return self.fc(torch.flatten(x, 1))


# -- group norm (as in a ResNet with GN) -------------------------------------------------------------------------
GROUPNORM = '''network "GN" (c = 16)
input 3 @ 12x12
conv c bias=off bn=off relu=off; gn 4 eps=0.0001; relu
conv c bias=off bn=off relu=off; gn 8; relu
'''


class GroupNormNet(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.GroupNorm(4, c, eps=1e-4), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1, bias=False), nn.GroupNorm(8, c), nn.ReLU())

    def forward(self, x):
        return self.body(x)


# -- MobileNetV3's squeeze-and-excitation with a hard-sigmoid gate, hard-swish after --------------------------
HARDSE = '''network "Hard SE" (c = 16)
input 3 @ 12x12
x = conv c bias=off act=hardswish eps=0.001 momentum=0.01
g = gap; conv 8 kernel=1 bn=off; conv c kernel=1 bn=off act=hardsigmoid
use x; scale g; act hardswish
fc 4 pool=avg
'''


class HardSE(nn.Module):
    def __init__(self, c=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c, 1e-3, 0.01),
                                  nn.Hardswish())
        self.fc1, self.fc2 = nn.Conv2d(c, 8, 1), nn.Conv2d(8, c, 1)
        self.head = nn.Linear(c, 4)

    def forward(self, x):
        x = self.stem(x)
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))
        return self.head(F.hardswish(x * s).mean((2, 3)))


CASES = {
    "windows": (INCEPTION, Inception, None), "chunk and shuffle": (SHUFFLE, Shuffle, None),
    "slice": (GHOST, Ghost, None), "gn": (GROUPNORM, GroupNormNet, None),
    # torchvision's block registers its layer scale before its layers (a module's own parameters come
    # first in its state_dict), so the scale is pinned by a key map, as `mgdsl port --map` does
    "ln, layerscale, droppath, flatten": (CONVNEXT, ConvNeXt, {"s1.layerscale1.g4.scale.weight": "layer_scale"}),
    "bn eps and momentum, hard gate": (HARDSE, HardSE, None),
}


def _randomised(ref):
    """The reference with random weights and batch norm statistics that are not the identity."""
    torch.manual_seed(5)
    with torch.no_grad():
        for p in ref.parameters():
            p.uniform_(-0.5, 0.5)
        for m in ref.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return ref.eval()


@pytest.mark.parametrize("spec, reference, key_map", CASES.values(), ids=CASES.keys())
def test_ported_weights_compute_the_reference(spec, reference, key_map):
    net = mgdsl.loads(spec)
    ref = _randomised(reference())
    model = net.build().eval()
    model.load_state_dict(net.port_weights(ref.state_dict(), key_map))
    x = torch.randn(3, *net.input_shape)
    with torch.no_grad():
        want, got = ref(x), model(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in ref.parameters())


def test_the_ported_norms_keep_their_eps_and_momentum():
    net = mgdsl.loads(INCEPTION)
    model, ref = net.build(optimize=False), Inception()
    ours = [(m.eps, m.momentum) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    theirs = [(m.eps, m.momentum) for m in ref.modules() if isinstance(m, nn.BatchNorm2d)]
    assert ours == theirs
