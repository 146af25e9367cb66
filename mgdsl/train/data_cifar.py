"""CIFAR-10 / CIFAR-100 from the standard python-pickle archives (nothing is downloaded).

Augmentation as in Ke, Maire & Yu, CVPR 2017, Sec. 4.1 and the authors' released code: images are
upscaled to 36x36 (bilinear), training takes a random 32x32 crop and a horizontal flip with p = 0.5,
testing the centre crop; training batches are drawn class-balanced with replacement (a random class,
then a random image of it). The paper's ZCA whitening is not reproduced; inputs are normalised per
channel with the training set's mean/std."""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UsageError

if TYPE_CHECKING:
    import torch

UPSCALE, CROP = 36, 32


@dataclass(frozen=True)
class Archive:
    """The python version of one CIFAR data set, as unpacked from its .tar.gz."""
    folder: str                 # its folder inside --data
    train: tuple[str, ...]      # its files
    test: tuple[str, ...]
    label_key: str
    classes: int


CIFAR10 = Archive("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "labels", 10)
CIFAR100 = Archive("cifar-100-python", ("train",), ("test",), "fine_labels", 100)


def _find(data_dir: str | None, task: str, archive: Archive) -> str:
    sub, train = archive.folder, archive.train
    if not data_dir:
        raise UsageError(f"{task} needs --data DIR with the python version of the data set",
                         hint=f"unpack {sub}.tar.gz (from the CIFAR home page) and pass --data to "
                              f"the folder holding {sub}/ ; mgdsl downloads nothing")
    for cand in (os.path.join(data_dir, sub), data_dir):
        if os.path.isfile(os.path.join(cand, train[0])):
            return cand
    raise UsageError(f"--data {data_dir}: no {sub}/{train[0]} there",
                     hint=f"pass the folder that holds {sub}/ (the unpacked python archive)")


def _read(folder: str, names: tuple[str, ...], key: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for n in names:
        path = os.path.join(folder, n)
        try:
            with open(path, "rb") as f:
                d = pickle.load(f, encoding="latin1")
            xs.append(np.asarray(d["data"], np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(d[key], np.int64))
        except FileNotFoundError:
            raise UsageError(f"missing CIFAR file {path}") from None
        except (pickle.UnpicklingError, KeyError, ValueError, EOFError) as e:
            raise UsageError(f"{path} is not a CIFAR python-pickle batch ({e})") from None
    return np.concatenate(xs), np.concatenate(ys)


class CifarSet:
    """One split held in memory as uint8; `batch(indices, rng)` does the augmentation."""

    def __init__(self, task: str, archive: Archive, data_dir: str | None, split: str):
        folder = _find(data_dir, task, archive)
        train, test, key, self.classes = archive.train, archive.test, archive.label_key, archive.classes
        tx, _ = _read(folder, train, key)
        self.mean = tx.reshape(-1, 3, 1024).mean(axis=(0, 2)).astype(np.float32) / 255
        self.std = tx.reshape(-1, 3, 1024).std(axis=(0, 2)).astype(np.float32) / 255
        self.images, self.labels = _read(folder, train if split == "train" else test, key)
        self.by_class = [np.flatnonzero(self.labels == c) for c in range(self.classes)]

    def __len__(self) -> int:
        return len(self.labels)

    def balanced_indices(self, rng: np.random.Generator, n: int) -> np.ndarray:
        classes = rng.integers(0, self.classes, n)
        return np.array([self.by_class[c][rng.integers(0, len(self.by_class[c]))] for c in classes])

    def batch(self, indices: np.ndarray, rng: np.random.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, 32, 32) float32 normalised images and labels; random crop + flip when `rng` is given."""
        import torch  # not at the top: the task modules, which import this one, are listed without torch
        import torch.nn.functional as F
        x = torch.from_numpy(self.images[indices].astype(np.float32) / 255)
        x = F.interpolate(x, size=(UPSCALE, UPSCALE), mode="bilinear", align_corners=False)
        n, span = len(indices), UPSCALE - CROP
        if rng is None:
            o = span // 2
            x = x[:, :, o:o + CROP, o:o + CROP]
        else:
            oy, ox, flip = rng.integers(0, span + 1, n), rng.integers(0, span + 1, n), rng.random(n) < 0.5
            x = torch.stack([(x[i, :, oy[i]:oy[i] + CROP, ox[i]:ox[i] + CROP]).flip(-1) if flip[i]
                             else x[i, :, oy[i]:oy[i] + CROP, ox[i]:ox[i] + CROP] for i in range(n)])
        return self.normalise(x).contiguous(), torch.from_numpy(self.labels[indices])

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, 3, H, W) in [0, 1] with each channel scaled to the training set's mean 0 and std 1."""
        import torch  # not at the top: see batch
        return (x - torch.from_numpy(self.mean)[:, None, None]) / torch.from_numpy(self.std)[:, None, None]
