"""Where the synthetic MNIST tasks get their digits: the real MNIST IDX files when the user has them,
otherwise scikit-learn's bundled 8x8 digits (shipped inside the package, so nothing is downloaded),
upscaled to the 28x28 MNIST frame. Both give float32 images in [0, 1] and integer labels, split the
way the paper's mnist-cluttered generator splits MNIST (train = first 50K of the training file,
valid = its last 10K, test = the test file)."""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError

SPLITS = ("train", "valid", "test")

_IDX_NAMES = {  # (images, labels) per MNIST file set; each may also be gzipped
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass
class Digits:
    images: np.ndarray   # (N, 28, 28) float32 in [0, 1]
    labels: np.ndarray   # (N,) int64
    source: str


def _open_idx(folder: str, name: str):
    for cand in (name, name + ".gz", name.replace("-idx", ".idx"), name.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(folder, cand)
        if os.path.isfile(p):
            return p, (gzip.open(p, "rb") if p.endswith(".gz") else open(p, "rb"))
    raise UsageError(f"--mnist {folder}: no file {name}[.gz] there",
                     hint="point --mnist at the folder holding the four MNIST IDX files "
                          "(train-images-idx3-ubyte, ...), or leave --mnist out to use the embedded digits")


def read_idx(folder: str, name: str) -> np.ndarray:
    """One IDX file (the format MNIST ships in) as a numpy array."""
    path, f = _open_idx(folder, name)
    with f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UsageError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise UsageError(f"{path} is truncated: {body.size} bytes of data for shape {tuple(dims)}")
    return body.reshape(dims)


def mnist_digits(folder: str, split: str) -> Digits:
    if not os.path.isdir(folder):
        raise UsageError(f"--mnist {folder}: no such folder")
    imgs, labels = (read_idx(folder, n) for n in _IDX_NAMES["test" if split == "test" else "train"])
    if split == "train":
        imgs, labels = imgs[:50000], labels[:50000]
    elif split == "valid":
        imgs, labels = imgs[50000:], labels[50000:]
    return Digits(imgs.astype(np.float32) / 255.0, labels.astype(np.int64), f"MNIST IDX files in {folder}")


def _upscale(img8: np.ndarray, side: int = 20) -> np.ndarray:
    """Bilinear 8x8 -> side x side, centred in a 28x28 frame like MNIST's 20x20 digit boxes."""
    src = (np.arange(side) + 0.5) * 8 / side - 0.5
    i0 = np.clip(np.floor(src).astype(int), 0, 7)
    i1 = np.clip(i0 + 1, 0, 7)
    f = np.clip(src - i0, 0, 1)
    rows = img8[i0] * (1 - f)[:, None] + img8[i1] * f[:, None]
    out = rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]
    frame = np.zeros((28, 28), np.float32)
    o = (28 - side) // 2
    frame[o:o + side, o:o + side] = out
    return frame


def embedded_digits(split: str) -> Digits:
    """scikit-learn's 1797 digits, split 70/10/20 in a fixed shuffled order."""
    from sklearn.datasets import load_digits  # not at the top: slow to import, and --mnist DIR needs none
    d = load_digits()
    order = np.random.default_rng(0).permutation(len(d.target))
    n = len(order)
    a, b = int(0.7 * n), int(0.8 * n)
    idx = {"train": order[:a], "valid": order[a:b], "test": order[b:]}[split]
    imgs = np.stack([_upscale(d.images[i] / 16.0) for i in idx]).astype(np.float32)
    return Digits(np.clip(imgs, 0, 1), d.target[idx].astype(np.int64),
                  "scikit-learn's embedded 8x8 digits, upscaled to 28x28")


def load_digits(split: str, mnist_dir: str | None = None) -> Digits:
    if split not in SPLITS:
        raise UsageError(f"unknown split '{split}'", hint=f"use one of: {', '.join(SPLITS)}")
    return mnist_digits(mnist_dir, split) if mnist_dir else embedded_digits(split)
