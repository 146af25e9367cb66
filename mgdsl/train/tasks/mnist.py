"""The paper's synthetic MNIST tasks (Sec. 4.2-4.3): per-pixel maps, trained with per-map binary
cross-entropy and scored by mean IoU and mean error. The images are drawn by mgdsl/train/data_mnist.py
from real MNIST digits (--mnist DIR) or scikit-learn's embedded ones."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ...errors import UsageError
from ..data_mnist import MnistSet, Recipe
from ..digits import load_digits
from ..metrics import PixelCounts
from ..registry import task
from . import Task, TaskSpec

if TYPE_CHECKING:
    import torch

MNIST_MEAN, MNIST_STD = 0.1141, 0.2746       # the network's input is (image - mean) / std


class MnistTask(Task):
    """A square 1-channel canvas in, `recipe.maps` maps of the same size out."""
    dense = True
    metric_names = ("mean_iou", "mean_error")
    recipe: ClassVar[Recipe]

    def __init__(self, spec: TaskSpec, input_shape: Iterable[int], output_shape: Iterable[int]):
        super().__init__(spec, input_shape, output_shape)
        c, h, w = self.input_shape
        if c != 1 or h != w:
            raise UsageError(f"{spec.name} wants a network with a square 1-channel input, "
                             f"not {c} @ {h}x{w}", hint="use a spec from specs/mnist/ (input 1 @ 64x64)")
        if self.output_shape != (self.recipe.maps, h, w):
            raise UsageError(f"{spec.name} wants {self.recipe.maps} output map(s) of {h}x{w}, but the network "
                             f"outputs {self.output_shape}",
                             hint="use the -seg spec (10 maps) for mnist-seg and the -spt one (1 map) "
                                  "for the spatial-transformation tasks")
        self.canvas = h
        self._sets: dict[str, MnistSet] = {}

    def dataset(self, split: str) -> MnistSet:
        if self.spec.overfit:                        # every split is the N training images
            split = "train"
        if split not in self._sets:
            size = {"train": self.spec.overfit or self.spec.train_size or self.recipe.train_images}.get(
                split, self.spec.test_size or self.recipe.test_images)
            self._sets[split] = MnistSet(self.recipe, load_digits(split, self.spec.mnist), self.canvas, size,
                                         self.spec.seed, split)
        return self._sets[split]

    def size(self, split: str) -> int:
        return len(self.dataset(split))

    def examples(self, split: str, indices: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        ds = self.dataset(split)
        xs, ys = zip(*(ds.sample(int(i)) for i in indices))
        return np.stack(xs), np.stack(ys)

    def input_transform(self, images: np.ndarray) -> np.ndarray:
        return (images - MNIST_MEAN) / MNIST_STD

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        import torch  # not at the top: the task modules are imported to list the tasks, without torch
        import torch.nn.functional as F
        w = self.spec.pos_weight
        pos_weight = None if w == 1.0 else torch.tensor(w, dtype=torch.float32, device=logits.device)
        return F.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=pos_weight)

    def new_metric(self) -> PixelCounts:
        return PixelCounts(self.output_shape[0])


@task("mnist-seg")
class Segmentation(MnistTask):
    """5-6 cluttered digits; a label map per class (Sec. 4.2)."""
    steps_per_epoch = 150
    recipe = Recipe(maps=10, train_images=10000, test_images=1000, segmentation=True)


class Transformation(MnistTask):
    """One digit rotated, sheared, scaled and/or translated; the target is the plain digit, centred
    (Sec. 4.3 and the ablations of Fig. 5)."""
    steps_per_epoch = 800


@task("mnist-spt")
class SpatialTransformation(Transformation):
    recipe = Recipe(maps=1, train_images=60000, test_images=10000, transforms=("rotate", "shear", "scale", "translate"))


@task("mnist-rot")
class Rotation(Transformation):
    recipe = Recipe(maps=1, train_images=60000, test_images=10000, transforms=("rotate",))


@task("mnist-aff")
class Shear(Transformation):
    recipe = Recipe(maps=1, train_images=60000, test_images=10000, transforms=("shear",))


@task("mnist-sca")
class Scaling(Transformation):
    recipe = Recipe(maps=1, train_images=60000, test_images=10000, transforms=("scale",))


@task("mnist-tra")
class Translation(Transformation):
    recipe = Recipe(maps=1, train_images=60000, test_images=10000, transforms=("translate",))
