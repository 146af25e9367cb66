"""Tasks: what a network is trained on and how it is scored. A task turns (seed, step) into the
global training batch, so the data stream needs no state: a resumed or a distributed run computes
any step's batch directly, each rank keeping its own contiguous shard.

Each module of this package registers its tasks with `@task("name")` (mgdsl/train/registry.py); the
registry imports them all when a task is first looked up. Like this one, they import torch only inside
their methods: `mgdsl train --help` lists the tasks without it."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...errors import UsageError
from .. import registry
from ..metrics import Top1

if TYPE_CHECKING:
    import torch

Batch = tuple["torch.Tensor", "torch.Tensor"]


def shard(n: int, rank: int, world: int) -> slice:
    per = n // world
    return slice(rank * per, (rank + 1) * per)


@dataclass
class TaskSpec:
    name: str
    seed: int = 1                 # the data set's seed (the paper generates everything with seed 1)
    mnist: str | None = None
    data: str | None = None
    train_size: int | None = None
    test_size: int | None = None
    pos_weight: float = 1.0       # BCE weight of positive pixels (dense tasks; 1 is the paper's loss)
    overfit: int | None = None    # train and evaluate on the first N training images only


class Task:
    """What `mgdsl train` needs of a task. A subclass sets the class attributes below and defines
    `size`, `examples`, `loss` and `new_metric`; the batches of training and evaluation are made from
    `examples` (a subclass with its own sampling overrides `train_batch` and `eval_batches` instead).
    The constructor refuses a network whose input or output shape does not fit the task."""
    steps_per_epoch: ClassVar[int] = 0        # steps of one epoch; the paper's schedule spans 200 of them
    metric_names: ClassVar[tuple[str, ...]] = ()   # the keys of `new_metric().summary()`, in percent
    dense: ClassVar[bool] = False             # per-pixel maps (--pos-weight, attention maps), not one label

    def __init__(self, spec: TaskSpec, input_shape: Iterable[int], output_shape: Iterable[int]):
        self.spec = spec
        self.input_shape, self.output_shape = tuple(input_shape), tuple(output_shape)
        if spec.pos_weight != 1.0 and not self.dense:
            raise UsageError(f"--pos-weight is for tasks scored per pixel (the MNIST ones), not {spec.name}",
                             hint=f"{spec.name} is trained with plain cross-entropy")

    def size(self, split: str) -> int:
        """Images in a split ("train", "valid" or "test")."""
        raise NotImplementedError

    def examples(self, split: str, indices: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """The images at these indices of a split, (N, C, H, W) in [0, 1] before `input_transform`,
        and their targets."""
        raise NotImplementedError

    def input_transform(self, images: np.ndarray) -> np.ndarray:
        """What the network is given for images (N, C, H, W) in [0, 1], e.g. their normalisation."""
        return images

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def new_metric(self) -> Any:
        """An accumulator with `add_logits(logits, target)` and `summary()` -> {name: percent}."""
        raise NotImplementedError

    def check_data(self) -> None:
        """Open the data now, so that missing or broken files fail before a run folder is written."""
        for split in ("train", "test"):
            self.size(split)

    def indices(self, seed: int, step: int, batch: int) -> tuple[np.ndarray, np.random.Generator]:
        """The training images of a step: drawn with replacement, a pure function of (seed, step)."""
        rng = np.random.default_rng([seed, 4242, step])
        return rng.integers(0, self.images("train"), batch), rng

    def images(self, split: str) -> int:
        """Images a run uses of a split: with --overfit N, the first N training images stand for
        every split."""
        if self.spec.overfit:
            return min(self.spec.overfit, self.size("train"))
        return self.size(split)

    def tensors(self, split: str, indices: Iterable[int]) -> Batch:
        """`examples` as the tensors the network and the loss take."""
        import torch  # not at the top: the task modules are imported to list the tasks, without torch
        x, y = self.examples("train" if self.spec.overfit else split, indices)
        return torch.from_numpy(self.input_transform(x).astype(np.float32)), torch.from_numpy(y)

    def train_batch(self, seed: int, step: int, batch: int, rank: int = 0, world: int = 1) -> Batch:
        """Rank's shard of the global training batch of a step."""
        idx, _ = self.indices(seed, step, batch)
        return self.tensors("train", idx[shard(batch, rank, world)])

    def eval_batches(self, split: str, batch: int, limit: int | None = None) -> Iterator[Batch]:
        """A split's first `limit` images (all without one) in batches, in order."""
        n = min(self.images(split), limit or self.images(split))
        for a in range(0, n, batch):
            yield self.tensors(split, range(a, min(a + batch, n)))


class Classification(Task):
    """One label per image: cross-entropy, scored by top-1 error."""
    metric_names = ("top1_error",)

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F  # not at the top: see Task.tensors
        return F.cross_entropy(logits.float(), target)

    def new_metric(self) -> Top1:
        return Top1()


def make_task(spec: TaskSpec, input_shape: Iterable[int], output_shape: Iterable[int]) -> Task:
    """The registered task `spec.name`, for a network with these input and output shapes."""
    return registry.get(spec.name)(spec, input_shape, output_shape)
