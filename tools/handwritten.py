"""Hand-written PyTorch versions of the benchmarked networks: the baseline for tools/bench.py.

Written the way a researcher would write them without mgdsl, from the paper (Ke, Maire & Yu, CVPR
2017, Sec. 3 and Fig. 3): one nn.Module per network, conv-BN-ReLU blocks as nn.Sequential, each
mg-conv a torch.cat of [max-pooled finer neighbour, the grid, upsampled coarser neighbour] followed
by a conv. Nothing here reads the specs; bench.py checks that each model has the spec's parameter
count and, with the weights copied over, computes the same outputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn(cin, cout, k=3, relu=True):
    layers = [nn.Conv2d(cin, cout, k, padding=k // 2), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def pad_channels(x, c):
    return x if x.shape[1] == c else F.pad(x, (0, 0, 0, 0, 0, c - x.shape[1]))


class MGConv(nn.Module):
    """Multigrid conv over a list of grids, finest first."""

    def __init__(self, cins, couts, kernels=None, relu=True):
        super().__init__()
        kernels = kernels or [3] * len(cins)
        self.convs = nn.ModuleList()
        for i, (cout, k) in enumerate(zip(couts, kernels)):
            cin = cins[i] + (cins[i - 1] if i > 0 else 0) + (cins[i + 1] if i + 1 < len(cins) else 0)
            self.convs.append(conv_bn(cin, cout, k, relu))

    def forward(self, xs):
        out = []
        for i, conv in enumerate(self.convs):
            parts = [xs[i]]
            if i > 0:
                parts.insert(0, F.max_pool2d(xs[i - 1], 2, ceil_mode=True))
            if i + 1 < len(xs):
                parts.append(F.interpolate(xs[i + 1], scale_factor=2, mode="nearest"))
            out.append(conv(torch.cat(parts, 1)))
        return out


class ResMG(nn.Module):
    """Residual multigrid unit: two mg-convs, zero-padded shortcut per grid, ReLU."""

    def __init__(self, cins, couts, kernels=None):
        super().__init__()
        self.a = MGConv(cins, couts, kernels)
        self.b = MGConv(couts, couts, kernels, relu=False)

    def forward(self, xs):
        ys = self.b(self.a(xs))
        return [F.relu(y + pad_channels(x, y.shape[1])) for x, y in zip(xs, ys)]


class Res(nn.Module):
    """Basic residual unit on one grid."""

    def __init__(self, c):
        super().__init__()
        self.a = conv_bn(c, c)
        self.b = conv_bn(c, c, relu=False)

    def forward(self, x):
        return F.relu(self.b(self.a(x)) + x)


def pyramid_pool(xs, merge=False):
    pooled = [F.max_pool2d(x, 2, ceil_mode=True) for x in (xs[:-1] if merge else xs)]
    if merge:
        pooled[-1] = torch.cat([pooled[-1], xs[-1]], 1)
    return pooled


def merged(widths):
    """Channel counts after a merging pyramid pool: the coarsest grid joins the next one."""
    return widths[:-2] + [widths[-2] + widths[-1]]


def stems(cin, widths):
    """Per-grid conv-BN-ReLU on the image average-pooled by 1, 2, 4, ..."""
    return nn.ModuleList(conv_bn(cin, w) for w in widths)


def run_stems(convs, image):
    return [conv(F.avg_pool2d(image, 2 ** j) if j else image) for j, conv in enumerate(convs)]


def cifar_sections(w):
    """(widths, kernels) of the five CIFAR sections and which pyramid pool follows each."""
    return [([w, w // 2, w // 4], None, False), ([2 * w, w, w // 2], None, False),
            ([4 * w, 2 * w, w], None, False), ([8 * w, 4 * w, 2 * w], [3, 3, 1], True),
            ([8 * w, 6 * w], [3, 1], True)]


class VGG(nn.Module):
    def __init__(self, n=3, w=64, classes=100):
        super().__init__()
        layers, c = [], 3
        for width in (w, 2 * w, 4 * w, 8 * w, 8 * w):
            for _ in range(n):
                layers.append(conv_bn(c, width))
                c = width
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class MG(nn.Module):
    """MG-(5n+1): stems (the first layer of section 1), then mg-convs; a pyramid pool per section."""
    block = MGConv

    def __init__(self, n=3, w=64, classes=100):
        super().__init__()
        sections = cifar_sections(w)
        self.stems = stems(3, sections[0][0])
        self.sections = nn.ModuleList()
        cins = sections[0][0]
        for i, (widths, kernels, merge) in enumerate(sections):
            layers = nn.ModuleList()
            for _ in range(n - 1 if i == 0 and self.block is MGConv else n):
                layers.append(self.block(cins, widths, kernels))
                cins = widths
            self.sections.append(layers)
            cins = merged(cins) if merge else cins
        self.merges = [merge for _, _, merge in sections]
        self.fc = nn.Linear(cins[0], classes)

    def forward(self, x):
        return self.head(self.coarse_to_fine(run_stems(self.stems, x)))

    def coarse_to_fine(self, xs):
        return xs

    def head(self, xs):
        for layers, merge in zip(self.sections, self.merges):
            for layer in layers:
                xs = layer(xs)
            xs = pyramid_pool(xs, merge)
        return self.fc(torch.flatten(xs[0], 1))


class RMG(MG):
    """R-MG-(10n+2): stems, then n residual mg-units per section."""
    block = ResMG

    def __init__(self, n=2, w=64, classes=100):
        super().__init__(n, w, classes)


class RPMG(RMG):
    """R-PMG-(14n+2): section 1 switches the grids on coarse to fine (res units on the coarsest
    grid, then res mg-units on the two coarsest, then on all three)."""

    def __init__(self, n=2, w=64, classes=100):
        super().__init__(n, w, classes)
        widths = cifar_sections(w)[0][0]
        self.coarse = nn.ModuleList(Res(widths[2]) for _ in range(n))
        self.coarse2 = nn.ModuleList(ResMG(widths[1:], widths[1:]) for _ in range(n))
        # registration order follows the network: stems, coarse, coarse2, then the sections
        self.sections = self._modules.pop("sections")
        self.fc = self._modules.pop("fc")

    def coarse_to_fine(self, xs):
        for unit in self.coarse:
            xs = xs[:2] + [unit(xs[2])]
        for unit in self.coarse2:
            xs = xs[:1] + unit(xs[1:])
        return xs


class PMG11Seg(nn.Module):
    """PMG-11 for synthetic-MNIST segmentation: four unpooled grids (64, 32, 16, 8 px), switched on
    coarse to fine, the coarsest dropped before each of the last three layers; 10 logit maps."""

    def __init__(self, w=64, classes=10):
        super().__init__()
        widths = [w, w // 2, w // 4, w // 8]
        self.stems = stems(1, widths)
        self.coarsest = conv_bn(widths[3], widths[3])
        self.grow = nn.ModuleList(MGConv(widths[-k:], widths[-k:]) for k in (2, 3))
        self.body = nn.ModuleList(MGConv(widths, widths) for _ in range(4))
        self.shrink = nn.ModuleList(MGConv(widths[:k], widths[:k]) for k in (3, 2))
        self.maps = conv_bn(widths[0], classes, relu=False)

    def forward(self, x):
        xs = run_stems(self.stems, x)
        xs[3] = self.coarsest(xs[3])
        for layer in self.grow:
            k = len(layer.convs)
            xs = xs[:-k] + layer(xs[-k:])
        for layer in self.body:
            xs = layer(xs)
        for layer in self.shrink:
            xs = layer(xs[:len(layer.convs)])
        return self.maps(xs[0])


# spec file name -> baseline constructor (the spec's default parameters)
BASELINES = {
    "vgg-16.mg": lambda: VGG(n=3),
    "mg-16.mg": lambda: MG(n=3),
    "r-mg-22.mg": lambda: RMG(n=2),
    "r-pmg-30.mg": lambda: RPMG(n=2),
    "pmg-11-seg.mg": lambda: PMG11Seg(),
}
