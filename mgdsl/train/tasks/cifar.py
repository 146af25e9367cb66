"""CIFAR-10 and CIFAR-100 (paper Sec. 4.1) from the python archives in --data DIR: class-balanced
training batches with the paper's crop-and-flip augmentation, scored by top-1 error."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import ClassVar

import numpy as np

from ...errors import UsageError
from ..data_cifar import CIFAR10, CIFAR100, Archive, CifarSet
from ..registry import task
from . import Batch, Classification, TaskSpec, shard


class CifarTask(Classification):
    """Input 3 @ 32x32, one logit per class out."""
    steps_per_epoch = 300
    archive: ClassVar[Archive]

    def __init__(self, spec: TaskSpec, input_shape: Iterable[int], output_shape: Iterable[int]):
        super().__init__(spec, input_shape, output_shape)
        classes = self.archive.classes
        if self.input_shape != (3, 32, 32) or self.output_shape != (classes,):
            raise UsageError(f"{spec.name} wants input 3 @ 32x32 and {classes} outputs; the network has "
                             f"{self.input_shape} -> {self.output_shape}",
                             hint=f"set the class count, e.g. --set classes={classes}")
        self._sets: dict[str, CifarSet] = {}

    def dataset(self, split: str) -> CifarSet:
        split = "train" if split == "train" or self.spec.overfit else "test"
        if split not in self._sets:
            self._sets[split] = CifarSet(self.spec.name, self.archive, self.spec.data, split)
        return self._sets[split]

    def size(self, split: str) -> int:
        n = len(self.dataset(split))
        return min(n, self.spec.overfit) if self.spec.overfit else n

    def input_transform(self, images: np.ndarray) -> np.ndarray:
        import torch  # not at the top: the task modules are imported to list the tasks, without torch
        return self.dataset("train").normalise(torch.from_numpy(images)).numpy()

    def train_batch(self, seed: int, step: int, batch: int, rank: int = 0, world: int = 1) -> Batch:
        ds = self.dataset("train")
        rng = np.random.default_rng([seed, 4242, step])
        idx = rng.integers(0, self.size("train"), batch) if self.spec.overfit else ds.balanced_indices(rng, batch)
        x, y = ds.batch(idx, rng)
        s = shard(batch, rank, world)
        return x[s], y[s]

    def eval_batches(self, split: str, batch: int, limit: int | None = None) -> Iterator[Batch]:
        ds = self.dataset(split)
        n = min(self.size(split), self.spec.test_size or len(ds), limit or len(ds))
        for a in range(0, n, batch):
            yield ds.batch(np.arange(a, min(a + batch, n)), None)


@task("cifar10")
class Cifar10(CifarTask):
    archive = CIFAR10


@task("cifar100")
class Cifar100(CifarTask):
    archive = CIFAR100
