"""The paper's synthetic MNIST tasks, generated on demand (Ke, Maire & Yu, CVPR 2017, Sec. 4.2-4.3;
details from the authors' released generator).

Every sample is a pure function of (data seed, split, index): nothing is stored, any worker can make
any sample, and a resumed run sees exactly the images an uninterrupted one would. The canvas size
comes from the network's input; digits keep the paper's proportions (28 px on a 64 px canvas), so a
32 px canvas uses 14 px digits.

A `Recipe` says what one task draws; the tasks themselves, with their recipes, are registered in
mgdsl/train/tasks/mnist.py:
  segmentation    5-6 cluttered digits, 10 label maps (one per class): mnist-seg
  transformation  one digit moved by some of TRANSFORMS; target: the plain digit, centred: mnist-spt
                  (all four) and the ablations of Fig. 5, one each (mnist-rot, -aff, -sca, -tra)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .digits import Digits

LABEL_THRESHOLD = 0.3        # label maps are binarised at >= 0.3
MAX_OVERLAP = 0.3            # a digit may share at most 30% of its nonzero pixels with earlier ones
TRIES_PER_SCALE = 10
SCALE_REDRAWS = 20           # give a digit up after this many scales (a crowded canvas); not in the paper
TRANSFORMS = ("rotate", "shear", "scale", "translate")    # drawn in this order

_SPLIT_CODE = {"train": 0, "valid": 1, "test": 2}


def warp(img: np.ndarray, inverse: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear resampling with zero fill. `inverse` maps output offsets from the output centre
    (x, y) to offsets from the input centre."""
    h, w = img.shape
    ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float64)
    dx, dy = xs + 0.5 - out_w / 2, ys + 0.5 - out_h / 2
    sx = inverse[0, 0] * dx + inverse[0, 1] * dy + w / 2 - 0.5
    sy = inverse[1, 0] * dx + inverse[1, 1] * dy + h / 2 - 0.5
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = sx - x0, sy - y0
    padded = np.pad(img, 1)
    def at(yy, xx):
        return padded[np.clip(yy + 1, 0, h + 1), np.clip(xx + 1, 0, w + 1)]
    out = (at(y0, x0) * (1 - fx) * (1 - fy) + at(y0, x0 + 1) * fx * (1 - fy)
           + at(y0 + 1, x0) * (1 - fx) * fy + at(y0 + 1, x0 + 1) * fx * fy)
    return out.astype(np.float32)


def _rotation(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _normalise(p: np.ndarray) -> np.ndarray:
    m = p.max()
    return p / m if m > 0 else p


def _crop_to_content(p: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(p > 0)
    if not len(ys):
        return p[:1, :1]
    return p[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def _fit(p: np.ndarray, canvas: int) -> np.ndarray:
    """Centre-crop a patch that is larger than the canvas (strong shear x scale 1.5 can do that)."""
    h, w = p.shape
    if h > canvas:
        p = p[(h - canvas) // 2:(h - canvas) // 2 + canvas]
    if w > canvas:
        p = p[:, (w - canvas) // 2:(w - canvas) // 2 + canvas]
    return p


@dataclass(frozen=True)
class Recipe:
    """What one synthetic MNIST task draws."""
    maps: int                           # target maps: 10 (one per class) or 1 (the plain digit)
    train_images: int                   # the paper's split sizes
    test_images: int
    segmentation: bool = False          # cluttered digits (Sec. 4.2), else one transformed digit (Sec. 4.3)
    transforms: tuple[str, ...] = ()    # the transformation's parts, from TRANSFORMS

    def __post_init__(self):
        unknown = set(self.transforms) - set(TRANSFORMS)
        if unknown:
            raise ValueError(f"unknown transforms {sorted(unknown)}: use some of {TRANSFORMS}")


@dataclass
class MnistSet:
    """One split of one task: `sample(i)` -> (image (1, H, W), target (K, H, W)), both float32."""
    recipe: Recipe
    digits: Digits
    canvas: int
    size: int
    seed: int = 1
    split: str = "train"
    _perms: dict = field(default_factory=dict, repr=False)
    _offsets: np.ndarray | None = field(default=None, repr=False)

    @property
    def maps(self) -> int:
        return self.recipe.maps

    @property
    def digit_side(self) -> int:
        return max(4, round(28 * self.canvas / 64))

    def _rng(self, *key) -> np.random.Generator:
        return np.random.default_rng([self.seed, _SPLIT_CODE[self.split], *key])

    def _digit(self, k: int) -> int:
        """Digits are dealt from successive random permutations of the pool (no replacement)."""
        n = len(self.digits.labels)
        epoch = k // n
        if epoch not in self._perms:
            self._perms[epoch] = self._rng(7, epoch).permutation(n)
        return int(self._perms[epoch][k % n])

    def counts(self) -> np.ndarray:
        """Digits per segmentation image: ceil(N(5, 0.5)), at least 1."""
        c = np.ceil(self._rng(5).normal(5.0, 0.5, self.size)).astype(np.int64)
        return np.maximum(c, 1)

    def _first_digit(self, i: int) -> int:
        if self._offsets is None:
            self._offsets = np.concatenate([[0], np.cumsum(self.counts())])
        return int(self._offsets[i])

    def __len__(self) -> int:
        return self.size

    def sample(self, i: int, parts: list | None = None):
        if not 0 <= i < self.size:
            raise IndexError(i)
        if self.recipe.segmentation:
            return self._segmentation(i, parts)
        return self._transformation(i, parts)

    # -- 5.2 segmentation ------------------------------------------------------------------------
    def _segmentation(self, i: int, parts: list | None):
        rng = self._rng(11, i)
        C, base = self.canvas, self.digit_side
        image = np.zeros((C, C), np.float32)
        sums = np.zeros((10, C, C), np.float32)
        first = self._first_digit(i)
        count = self._first_digit(i + 1) - first
        for k in range(count):
            d = self._digit(first + k)
            src, cls = self.digits.images[d], int(self.digits.labels[d])
            angle = rng.uniform(-60, 60)
            placed = None
            for _ in range(SCALE_REDRAWS):
                side = min(C, math.ceil(rng.uniform(0.5, 1.25) * base))
                # rotate in the 28x28 frame, then rescale the frame to side x side
                inv = _rotation(-angle) * (src.shape[0] / side)
                patch = _normalise(warp(src, inv, side, side))
                nz = patch > 0
                total = max(int(nz.sum()), 1)
                for _ in range(TRIES_PER_SCALE):
                    y, x = (int(v) for v in rng.integers(0, C - side + 1, 2))
                    if (nz & (image[y:y + side, x:x + side] > 0)).sum() <= MAX_OVERLAP * total:
                        placed = (y, x)
                        break
                if placed:
                    break
            if not placed:
                continue
            y, x = placed
            image[y:y + side, x:x + side] += patch
            sums[cls, y:y + side, x:x + side] += patch
            if parts is not None:
                parts.append((cls, y, x, patch))
        np.clip(image, 0, 1, out=image)
        return image[None], (sums >= LABEL_THRESHOLD).astype(np.float32)

    # -- 5.3 spatial transformation and its ablations ----------------------------------------------
    def _transformation(self, i: int, parts: list | None):
        rng = self._rng(13, i)
        C, base = self.canvas, self.digit_side
        src = self.digits.images[self._digit(i)]
        moves = self.recipe.transforms
        lin = np.eye(2)
        if "rotate" in moves:
            lin = _rotation(rng.uniform(-60, 60)) @ lin
        if "shear" in moves:
            t = math.tan(math.radians(rng.uniform(-60, 60)))
            shear = np.array([[1, t], [0, 1]]) if rng.random() < 0.5 else np.array([[1, 0], [t, 1]])
            lin = shear @ lin
        if "scale" in moves:
            lin = rng.uniform(0.5, 1.5) * lin
        lin = lin * (base / src.shape[0])
        corners = lin @ (np.array([[-1, -1, 1, 1], [-1, 1, -1, 1]]) * src.shape[0] / 2)
        out = int(math.ceil(np.abs(corners).max() * 2)) + 2
        patch = _fit(_crop_to_content(_normalise(warp(src, np.linalg.inv(lin), out, out))), C)
        h, w = patch.shape
        if "translate" in moves:
            y, x = int(rng.integers(0, C - h + 1)), int(rng.integers(0, C - w + 1))
        else:
            y, x = (C - h) // 2, (C - w) // 2
        image = np.zeros((C, C), np.float32)
        image[y:y + h, x:x + w] = patch
        target = np.zeros((C, C), np.float32)
        plain = _normalise(warp(src, np.eye(2) * (src.shape[0] / base), base, base))
        o = math.ceil((C - base) / 2)
        target[o:o + base, o:o + base] = plain >= LABEL_THRESHOLD
        if parts is not None:
            parts.append((int(self.digits.labels[self._digit(i)]), y, x, patch))
        return np.clip(image, 0, 1)[None], target[None]
