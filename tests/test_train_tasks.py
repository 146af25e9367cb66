"""The task registry: `@task("name")` classes in mgdsl/train/tasks/, found when first asked for, each
carrying its epoch length, its metrics and its input transform."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mgdsl.errors import UsageError
from mgdsl.train import registry
from mgdsl.train.tasks import Task, TaskSpec, make_task

PAPER = {"mnist-seg": 150, "mnist-spt": 800, "mnist-rot": 800, "mnist-aff": 800, "mnist-sca": 800, "mnist-tra": 800,
         "cifar10": 300, "cifar100": 300}


def test_the_papers_tasks_are_registered_with_their_epochs_and_metrics():
    assert set(PAPER) <= set(registry.names())
    for name, steps in PAPER.items():
        cls = registry.get(name)
        assert issubclass(cls, Task) and cls.steps_per_epoch == steps
        assert cls.metric_names == (("mean_iou", "mean_error") if name.startswith("mnist") else ("top1_error",))


def test_an_unknown_task_names_the_known_ones():
    with pytest.raises(UsageError, match="unknown task 'mnist-segg'") as e:
        make_task(TaskSpec("mnist-segg"), (1, 16, 16), (10, 16, 16))
    assert "mnist-seg" in e.value.hint


@pytest.fixture
def scratch_names():
    """Names registered by a test are forgotten afterwards. The registry is filled first: restored to
    what it held before it was ever loaded, it would stay empty for every later test of the process."""
    registry._load()
    before = dict(registry._TASKS)
    yield
    registry._TASKS.clear()
    registry._TASKS.update(before)


def test_registration_mistakes_are_caught_where_the_task_is_written(scratch_names):
    with pytest.raises(ValueError, match="lower-case words"):
        registry.task("My Task")
    with pytest.raises(TypeError, match="must set steps_per_epoch and metric_names"):
        @registry.task("bare")
        class Bare(Task):
            pass

    class Toy(Task):
        steps_per_epoch, metric_names = 10, ("top1_error",)
    registry.task("toy")(Toy)
    registry.task("toy")(Toy)                         # the same class again (a module reloaded): fine
    assert registry.get("toy") is Toy
    with pytest.raises(ValueError, match="two tasks are called 'mnist-seg'"):
        registry.task("mnist-seg")(Toy)


def test_building_the_command_line_imports_no_task_and_no_numpy():
    """`mgdsl --help`, `mgdsl check` and the others build every command's options, train's included:
    its --task choices are listed only when asked for."""
    code = ("import contextlib, io, sys\nfrom mgdsl.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])\n"
            "print('numpy' in sys.modules, 'mgdsl.train.tasks' in sys.modules)\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n    main(['train', '--help'])\n"
            "print('torch' in sys.modules, 'mnist-seg, ' in out.getvalue().replace('\\n', ' '))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False", "False", "True"], out.stdout + out.stderr[-2000:]


def test_a_task_carries_its_input_transform():
    task = make_task(TaskSpec("mnist-tra"), (1, 16, 16), (1, 16, 16))
    images = np.full((2, 1, 16, 16), 0.5, np.float32)
    from mgdsl.train.tasks.mnist import MNIST_MEAN, MNIST_STD
    np.testing.assert_allclose(task.input_transform(images), (0.5 - MNIST_MEAN) / MNIST_STD, rtol=1e-6)
    x, _ = task.tensors("test", [0, 1])
    raw, _ = task.examples("test", [0, 1])
    np.testing.assert_array_equal(x.numpy(), task.input_transform(raw).astype(np.float32))


def test_the_attention_command_asks_the_runs_task_for_its_input_transform(tmp_path, monkeypatch, capsys):
    """`mgdsl attention` knows no task's normalisation: it feeds the network through the task's own."""
    from mgdsl.cli import main
    from mgdsl.train.tasks import mnist
    spec = tmp_path / "spt.mg"
    spec.write_text('network "T" (w = 4, canvas = 16)\ninput 1 @ canvas\nconv w\nmaps 1 kernel=3\n')
    run = tmp_path / "run"
    assert main(["train", str(spec), "--task", "mnist-tra", "--steps", "2", "--batch-size", "4", "--no-progress",
                 "--train-size", "8", "--test-size", "4", "--out", str(run)]) == 0
    seen = []
    real = mnist.MnistTask.input_transform

    def spy(self, images):
        seen.append(images.shape)
        return real(self, images)
    monkeypatch.setattr(mnist.MnistTask, "input_transform", spy)
    rc = main(["attention", str(run), "--image", "1", "-o", str(tmp_path / "att.png")])
    assert rc == 0 or "no digit" in capsys.readouterr().err
    assert seen and seen[0] == (1, 1, 16, 16)          # the unoccluded image first, then the occluded ones
