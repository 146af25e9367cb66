"""docs/graph.md's worked example of a new training task still works: its file, dropped into the tasks
folder, registers a task that `mgdsl train` lists, trains (to better than chance), resumes exactly,
scores and exports, with the spec and the command lines the docs give."""
from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest
import torch
from test_train import one_thread  # noqa: F401  (autouse: one torch thread, as in test_train)

import mgdsl.train.tasks as tasks_package
from mgdsl.cli import main
from mgdsl.train import checkpoint as ckpt
from mgdsl.train import registry

ROOT = Path(__file__).resolve().parents[1]
TITLE = "Worked example: a new training task"


def _fenced_blocks(title: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced block in a section of docs/graph.md."""
    text = (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")
    section = text.split(f"## {title}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w*)\n(.*?)```", section, re.S)


@pytest.fixture
def bars_task(tmp_path, monkeypatch):
    """The docs' task file in a folder of the tasks package, found the way the registry finds any
    task module; forgotten afterwards."""
    (code,) = [text for lang, text in _fenced_blocks(TITLE) if lang == "python"]
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "bars.py").write_text(code, encoding="utf-8")
    monkeypatch.setattr(tasks_package, "__path__", [*tasks_package.__path__, str(folder)])
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        yield
    finally:
        registry._TASKS.pop("bars", None)
        sys.modules.pop("mgdsl.train.tasks.bars", None)


def _argv(line: str, here: dict[str, str], **flags: str) -> list[str]:
    """A documented `mgdsl ...` line as main()'s arguments: its paths made `here`, some flags changed."""
    argv = [here.get(a, a) for a in shlex.split(line)[1:]]
    for flag, value in flags.items():
        argv[argv.index(f"--{flag}") + 1] = value
    return argv


def test_the_worked_example_task_trains_resumes_scores_and_exports(bars_task, tmp_path, capsys):
    spec_text, commands = [text for lang, text in _fenced_blocks(TITLE) if lang == ""]
    assert "bars" in registry.names()
    assert main(["train", "--help"]) == 0
    assert "bars" in capsys.readouterr().out
    spec = tmp_path / "bars.mg"
    spec.write_text(spec_text, encoding="utf-8")
    run = tmp_path / "runs" / "bars"
    here = {"bars.mg": str(spec), "runs/bars": str(run)}
    train_line, eval_line = commands.strip().splitlines()
    assert main([*_argv(train_line, here, steps="50"), "--no-progress"]) == 0
    assert main(_argv(eval_line, here)) == 0
    assert json.loads((run / "eval-test.json").read_text())["top1_error"] <= 20        # chance: 50; measured 0
    assert main(["export", str(spec), "-o", str(tmp_path / "bars.pt2"), "--weights", str(run)]) == 0

    # stopped and resumed, it ends where a run that never stopped ends
    def final_weights(out, *extra):
        argv = _argv(train_line, {**here, "runs/bars": str(tmp_path / out)}, steps="6")
        assert main([*argv, "--no-progress", *extra]) == 0
        return ckpt.load(ckpt.path_in(str(tmp_path / out)))
    whole = final_weights("whole")
    assert final_weights("part", "--stop-at", "3")["step"] == 3
    resumed = final_weights("part", "--resume")
    assert resumed["step"] == whole["step"] == 6
    assert all(torch.equal(resumed["model"][k], v) for k, v in whole["model"].items())


def test_overfit_is_handled_for_a_task_by_its_base_class(bars_task, tmp_path):
    """--overfit N: the worked example says nothing of it, and still trains and scores on N images."""
    from mgdsl.train.tasks import TaskSpec, make_task
    task = make_task(TaskSpec("bars", overfit=8), (1, 16, 16), (2,))
    assert task.images("train") == task.images("test") == 8
    assert (task.indices(seed=1, step=0, batch=64)[0] < 8).all()
    x, y = task.tensors("test", range(8))
    x0, y0 = task.tensors("train", range(8))
    assert torch.equal(x, x0) and torch.equal(y, y0)            # the "test" images are the training ones
    assert [len(b[1]) for b in task.eval_batches("test", batch=5)] == [5, 3]
