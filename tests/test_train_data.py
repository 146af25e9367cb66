"""Invariants of the synthetic MNIST generators (paper Sec. 4.2-4.3) and the schedules."""
import math

import numpy as np
import pytest

from mgdsl.train import data_mnist as D
from mgdsl.train import registry
from mgdsl.train.digits import embedded_digits, load_digits
from mgdsl.train.schedule import Schedule

MNIST_TASKS = ("mnist-seg", "mnist-spt", "mnist-rot", "mnist-aff", "mnist-sca", "mnist-tra")


def recipe(task):
    return registry.get(task).recipe


@pytest.fixture(scope="module")
def digits():
    return embedded_digits("train")


def test_embedded_digits_look_like_mnist(digits):
    assert digits.images.shape[1:] == (28, 28) and digits.images.dtype == np.float32
    assert 0 <= digits.images.min() and digits.images.max() <= 1
    assert set(digits.labels.tolist()) == set(range(10))
    splits = [set(map(bytes, embedded_digits(s).images.reshape(-1, 784)[:50])) for s in ("train", "test")]
    assert not splits[0] & splits[1]


@pytest.mark.parametrize("canvas", [64, 32])
def test_segmentation_invariants(digits, canvas):
    ds = D.MnistSet(recipe("mnist-seg"), digits, canvas, 40, seed=3)
    counts = ds.counts()
    assert counts.min() >= 1 and 4.5 < counts.mean() < 6.5
    for i in range(0, 40, 4):
        parts = []
        x, y = ds.sample(i, parts)
        assert x.shape == (1, canvas, canvas) and y.shape == (10, canvas, canvas)
        assert x.min() >= 0 and x.max() <= 1
        assert set(np.unique(y)) <= {0.0, 1.0}
        sums = np.zeros((10, canvas, canvas), np.float32)
        covered = np.zeros((canvas, canvas), bool)
        for cls, py, px, patch in parts:
            h, w = patch.shape
            assert 0 <= py and py + h <= canvas and 0 <= px and px + w <= canvas   # fully inside
            assert math.ceil(0.5 * ds.digit_side) <= h <= math.ceil(1.25 * ds.digit_side)
            nz = patch > 0
            region = covered[py:py + h, px:px + w]
            assert (nz & region).sum() <= D.MAX_OVERLAP * nz.sum()              # overlap rule
            region |= nz
            sums[cls, py:py + h, px:px + w] += patch
        assert len(parts) <= counts[i]
        np.testing.assert_array_equal(y, (sums >= D.LABEL_THRESHOLD).astype(np.float32))
        np.testing.assert_allclose(x[0], np.clip(sums.sum(0), 0, 1), atol=1e-6)


@pytest.mark.parametrize("task", ["mnist-spt", "mnist-rot", "mnist-aff", "mnist-sca", "mnist-tra"])
def test_transformation_tasks(digits, task):
    ds = D.MnistSet(recipe(task), digits, 64, 12, seed=1)
    targets = []
    for i in range(12):
        parts = []
        x, y = ds.sample(i, parts)
        assert x.shape == y.shape == (1, 64, 64)
        assert set(np.unique(y)) <= {0.0, 1.0} and x.max() == pytest.approx(1.0)
        # the target is the untransformed digit, centred: at offset ceil((64 - 28) / 2) = 18
        ys, xs = np.nonzero(y[0])
        assert ys.min() >= 18 and ys.max() < 18 + 28 and xs.min() >= 18 and xs.max() < 18 + 28
        targets.append(y)
        cls, py, px, patch = parts[0]
        if task not in ("mnist-spt", "mnist-tra"):            # centred tasks
            assert abs(py + patch.shape[0] / 2 - 32) <= 1 and abs(px + patch.shape[1] / 2 - 32) <= 1
    if task == "mnist-tra":        # translation only: the input is the target moved
        x, y = ds.sample(0)
        assert (x[0] >= D.LABEL_THRESHOLD).sum() == y[0].sum()


def test_generators_are_deterministic(digits):
    for task in MNIST_TASKS:
        a, b = D.MnistSet(recipe(task), digits, 32, 10, seed=1), D.MnistSet(recipe(task), digits, 32, 10, seed=1)
        for i in (7, 0, 3):     # any order: each sample depends only on (seed, split, index)
            np.testing.assert_array_equal(a.sample(i)[0], b.sample(i)[0])
            np.testing.assert_array_equal(a.sample(i)[1], b.sample(i)[1])
        c = D.MnistSet(recipe(task), digits, 32, 10, seed=2)
        assert not np.array_equal(a.sample(0)[0], c.sample(0)[0])


def test_digits_are_dealt_without_replacement(digits):
    ds = D.MnistSet(recipe("mnist-spt"), digits, 32, 10)
    n = len(digits.labels)
    assert sorted(ds._digit(k) for k in range(n)) == list(range(n))


def test_mnist_idx_files(tmp_path):
    import gzip
    imgs = np.arange(60 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(60, 28, 28)
    labels = (np.arange(60) % 10).astype(np.uint8)
    def idx(arr):
        return bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
    for stem in ("train", "t10k"):
        (tmp_path / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(imgs)))
        (tmp_path / f"{stem}-labels-idx1-ubyte").write_bytes(idx(labels))
    d = load_digits("test", str(tmp_path))
    assert d.images.shape == (60, 28, 28) and d.labels.tolist() == labels.tolist()
    assert d.images.max() == pytest.approx(255 / 255)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx(labels)[:-5])
    from mgdsl.errors import UsageError
    with pytest.raises(UsageError, match="truncated"):
        load_digits("test", str(tmp_path))


def test_schedules():
    exp = Schedule("exp", 2000)
    assert exp(0) == 1.0 and exp(1999) == pytest.approx(1e-3)
    assert exp(500) < exp(499) or exp(500) == exp(499)
    step = Schedule("step", 200 * 5)          # 200 epochs of 5 steps
    assert [step(e * 5) for e in (59, 60, 119, 120, 159, 160, 199)] == pytest.approx(
        [1, 0.2, 0.2, 0.04, 0.04, 0.008, 0.008])


def test_residual_nets_get_the_step_schedule():
    from pathlib import Path

    from mgdsl import load
    from mgdsl.train.schedule import is_residual
    specs = Path(__file__).resolve().parents[1] / "specs" / "mnist"
    if not specs.is_dir():
        pytest.skip("specs/mnist not present")
    assert is_residual(load(specs / "r-pmg-20-seg.mg", canvas=16, w=8).graph)
    assert not is_residual(load(specs / "pmg-11-seg.mg", canvas=16, w=8).graph)
