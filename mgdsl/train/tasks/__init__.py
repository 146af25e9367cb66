"""Tasks: what a network is trained on and how it is scored. A task turns (seed, step) into the
global training batch, so the data stream needs no state: a resumed or a distributed run computes
any step's batch directly, each rank keeping its own contiguous shard."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from . import data_mnist
from .catalog import CIFAR_TASKS, TASK_NAMES  # noqa: F401  (TASK_NAMES is part of this module's API)
from .metrics import PixelCounts, Top1

# iterations per paper "epoch" (paper Sec. 4.1-4.3)
STEPS_PER_EPOCH = {"mnist-seg": 150, "cifar10": 300, "cifar100": 300}
STEPS_PER_EPOCH_DEFAULT = 800      # the spatial-transformation tasks


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
    """Base: subclasses define `train_batch`, `eval_batches`, `loss`, `new_metric`."""
    dense = False        # per-pixel maps (MNIST) vs one label per image (CIFAR)
    metric_names: tuple = ()

    def __init__(self, spec: TaskSpec, input_shape, output_shape):
        self.spec = spec
        self.input_shape, self.output_shape = tuple(input_shape), tuple(output_shape)
        if spec.pos_weight != 1.0 and not self.dense:
            raise UsageError(f"--pos-weight is for the per-pixel MNIST tasks, not {spec.name}",
                             hint="CIFAR is scored with the paper's plain cross-entropy")

    def check_data(self) -> None:
        """Open the data now, so that missing or broken files fail before a run folder is written."""
        for split in ("train", "test"):
            self.size(split)

    @property
    def steps_per_epoch(self) -> int:
        return STEPS_PER_EPOCH.get(self.spec.name, STEPS_PER_EPOCH_DEFAULT)

    def indices(self, seed: int, step: int, batch: int) -> tuple[np.ndarray, np.random.Generator]:
        rng = np.random.default_rng([seed, 4242, step])
        return rng.integers(0, self.size("train"), batch), rng


class MnistTask(Task):
    dense = True
    metric_names = ("mean_iou", "mean_error")

    def __init__(self, spec, input_shape, output_shape):
        super().__init__(spec, input_shape, output_shape)
        maps, _, _ = data_mnist.TASKS[spec.name]
        c, h, w = self.input_shape
        if c != 1 or h != w:
            raise UsageError(f"{spec.name} wants a network with a square 1-channel input, "
                             f"not {c} @ {h}x{w}", hint="use a spec from specs/mnist/ (input 1 @ 64x64)")
        if self.output_shape != (maps, h, w):
            raise UsageError(f"{spec.name} wants {maps} output map(s) of {h}x{w}, but the network "
                             f"outputs {self.output_shape}",
                             hint="use the -seg spec (10 maps) for mnist-seg and the -spt one (1 map) "
                                  "for the spatial-transformation tasks")
        self.canvas = h
        self._sets: dict[str, data_mnist.MnistSet] = {}

    def dataset(self, split: str) -> data_mnist.MnistSet:
        if self.spec.overfit:                        # every split is the N training images
            split = "train"
        if split not in self._sets:
            from .digits import load_digits
            _, n_train, n_test = data_mnist.TASKS[self.spec.name]
            size = {"train": self.spec.overfit or self.spec.train_size or n_train}.get(
                split, self.spec.test_size or n_test)
            self._sets[split] = data_mnist.MnistSet(self.spec.name, load_digits(split, self.spec.mnist),
                                                    self.canvas, size, self.spec.seed, split)
        return self._sets[split]

    def size(self, split: str) -> int:
        return len(self.dataset(split))

    def _tensors(self, ds, idx):
        import torch
        xs, ys = zip(*(ds.sample(int(i)) for i in idx))
        x = (np.stack(xs) - data_mnist.MNIST_MEAN) / data_mnist.MNIST_STD
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(np.stack(ys))

    def train_batch(self, seed: int, step: int, batch: int, rank: int = 0, world: int = 1):
        idx, _ = self.indices(seed, step, batch)
        return self._tensors(self.dataset("train"), idx[shard(batch, rank, world)])

    def eval_batches(self, split: str, batch: int, limit: int | None = None):
        ds = self.dataset(split)
        n = min(len(ds), limit or len(ds))
        for a in range(0, n, batch):
            yield self._tensors(ds, range(a, min(a + batch, n)))

    def loss(self, logits, target):
        import torch
        import torch.nn.functional as F
        w = self.spec.pos_weight
        pos_weight = None if w == 1.0 else torch.tensor(w, dtype=torch.float32, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=pos_weight)

    def new_metric(self):
        return PixelCounts(self.output_shape[0])


class CifarTask(Task):
    metric_names = ("top1_error",)

    def __init__(self, spec, input_shape, output_shape):
        super().__init__(spec, input_shape, output_shape)
        from .data_cifar import CIFAR
        classes = CIFAR[spec.name][4]
        if self.input_shape != (3, 32, 32) or self.output_shape != (classes,):
            raise UsageError(f"{spec.name} wants input 3 @ 32x32 and {classes} outputs; the network has "
                             f"{self.input_shape} -> {self.output_shape}",
                             hint=f"set the class count, e.g. --set classes={classes}")
        self._sets = {}

    def dataset(self, split: str):
        split = "train" if split == "train" or self.spec.overfit else "test"
        if split not in self._sets:
            from .data_cifar import CifarSet
            self._sets[split] = CifarSet(self.spec.name, self.spec.data, split)
        return self._sets[split]

    def size(self, split: str) -> int:
        n = len(self.dataset(split))
        return min(n, self.spec.overfit) if self.spec.overfit else n

    def train_batch(self, seed: int, step: int, batch: int, rank: int = 0, world: int = 1):
        ds = self.dataset("train")
        rng = np.random.default_rng([seed, 4242, step])
        idx = rng.integers(0, self.size("train"), batch) if self.spec.overfit else ds.balanced_indices(rng, batch)
        x, y = ds.batch(idx, rng)
        s = shard(batch, rank, world)
        return x[s], y[s]

    def eval_batches(self, split: str, batch: int, limit: int | None = None):
        ds = self.dataset(split)
        n = min(self.size(split), self.spec.test_size or len(ds), limit or len(ds))
        for a in range(0, n, batch):
            yield ds.batch(np.arange(a, min(a + batch, n)), None)

    def loss(self, logits, target):
        import torch.nn.functional as F
        return F.cross_entropy(logits.float(), target)

    def new_metric(self):
        return Top1()


def make_task(spec: TaskSpec, input_shape, output_shape) -> Task:
    if spec.name in data_mnist.TASKS:
        return MnistTask(spec, input_shape, output_shape)
    if spec.name in CIFAR_TASKS:
        return CifarTask(spec, input_shape, output_shape)
    raise UsageError(f"unknown task '{spec.name}'", hint=f"use one of: {', '.join(TASK_NAMES)}")
