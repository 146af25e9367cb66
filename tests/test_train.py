"""`mgdsl train` / `mgdsl eval`: exact resumption, signals, atomic checkpoints, non-finite losses."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mgdsl.cli import main
from mgdsl.errors import UsageError
from mgdsl.train import checkpoint as ckpt
from mgdsl.train.loop import RunConfig, Runtime, TrainingError, train

TINY = """network "TINY-SEG" (w = 4, maps = 10, canvas = 16)
input 1 @ canvas
grids 2
conv w, w/2
mgconv
drop
maps maps kernel=3
"""

TINY_CLS = """network "TINY-CLS" (w = 4, classes = 10)
input 3 @ 32x32
grids 2
conv w, w/2
drop
fc classes pool=avg
"""


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convs on a busy 2-core machine run far faster on one thread; numerics are per thread
    count, so every run compared here (and the subprocesses) uses the same single thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "tiny.mg"
    p.write_text(TINY)
    return str(p)


def cfg_for(spec, steps=6, **kw):
    base = dict(spec=spec, task="mnist-seg", steps=steps, batch_size=4, train_size=64, test_size=8,
                ckpt_every=100, log_every=1, eval_every=100)
    base.update(kw)
    return RunConfig(**base)


QUIET = Runtime(progress=False)


def weights(run_dir):
    return ckpt.load(ckpt.path_in(str(run_dir)))


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_stop_and_resume_gives_identical_weights(spec, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    assert train(cfg_for(spec), str(full), QUIET) == 0
    assert train(cfg_for(spec), str(part), Runtime(progress=False, stop_at=2)) == 0
    assert weights(part)["step"] == 2
    assert train(cfg_for(spec), str(part), QUIET, resume=True) == 0
    a, b = weights(full), weights(part)
    assert a["step"] == b["step"] == 6
    assert_same_state(a["model"], b["model"])
    ma, mb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(ma[i]["momentum_buffer"], mb[i]["momentum_buffer"]) for i in ma)
    # the log was cut back at the checkpoint: each step is logged once
    rows = [json.loads(line) for line in (part / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert steps == list(range(1, 7))
    # and a different seed really gives different weights (the comparison can fail)
    other = tmp_path / "other"
    train(cfg_for(spec, seed=2), str(other), QUIET)
    assert not all(torch.equal(a["model"][k], weights(other)["model"][k]) for k in a["model"])


def test_outputs_and_eval(spec, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", spec, "--task", "mnist-seg", "--steps", "4", "--batch-size", "4", "--out", str(run),
                 "--train-size", "32", "--test-size", "8", "--no-progress", "--log-every", "2"]) == 0
    for name in ("checkpoint.pt", "config.json", "metrics.jsonl", "curves.png"):
        assert (run / name).stat().st_size > 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("step" in r for r in rows) and any("loss" in r for r in rows)
    assert any("mean_iou" in r and "mean_error" in r for r in rows)
    state = weights(run)
    for key in ("model", "optimizer", "scheduler", "step", "rng", "data_position"):
        assert key in state
    assert set(state["rng"]) >= {"torch", "numpy", "python"}
    config = json.loads((run / "config.json").read_text())
    assert config["run"]["task"] == "mnist-seg" and config["plan"]["schedule_kind"] == "exp"
    assert main(["eval", str(run)]) == 0
    assert "mean iou" in capsys.readouterr().out
    assert json.loads((run / "eval-test.json").read_text())["split"] == "test"
    # a second train into the same folder without --resume is refused, not clobbered
    assert main(["train", spec, "--task", "mnist-seg", "--steps", "4", "--out", str(run)]) == 1
    # resuming with another seed is refused
    assert main(["train", spec, "--task", "mnist-seg", "--steps", "4", "--batch-size", "4", "--out", str(run),
                 "--train-size", "32", "--seed", "5", "--resume"]) == 1
    assert "seed" in capsys.readouterr().err


def test_user_mistakes_are_clean_errors(spec, tmp_path, capsys):
    out = str(tmp_path / "x")
    cls = tmp_path / "cls.mg"
    cls.write_text(TINY_CLS)
    assert main(["train", str(cls), "--task", "cifar10", "--steps", "2", "--out", out]) == 1
    assert "--data" in capsys.readouterr().err
    assert main(["train", spec, "--task", "cifar10", "--steps", "2", "--out", out]) == 1
    assert "3 @ 32x32" in capsys.readouterr().err
    assert main(["train", spec, "--task", "mnist-spt", "--steps", "2", "--out", out]) == 1
    assert "map" in capsys.readouterr().err
    assert main(["train", spec, "--task", "mnist-seg", "--out", out]) == 1
    assert "--steps" in capsys.readouterr().err
    assert main(["train", spec, "--task", "mnist-seg", "--steps", "2", "--out", out,
                 "--mnist", str(tmp_path / "nowhere")]) == 1
    assert main(["eval", str(tmp_path)]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_non_finite_loss_stops_and_keeps_last_checkpoint(spec, tmp_path, monkeypatch):
    from mgdsl.train.tasks import mnist as tasks
    real = tasks.MnistTask.loss
    calls = []

    def bad(self, logits, target):
        calls.append(1)
        loss = real(self, logits, target)
        return loss * float("nan") if len(calls) == 4 else loss
    monkeypatch.setattr(tasks.MnistTask, "loss", bad)
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="step 4"):
        train(cfg_for(spec, ckpt_every=2), str(run), QUIET)
    state = weights(run)
    assert state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_failed_write_keeps_old_checkpoint(tmp_path):
    path = str(tmp_path / "checkpoint.pt")
    ckpt.save(path, {"step": 1, "model": {"w": torch.ones(3)}})

    def broken(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")
    real = torch.save
    torch.save = broken
    try:
        with pytest.raises(UsageError, match="disk full; the old file is unchanged"):    # exit 1, not a traceback
            ckpt.save(path, {"step": 2})
    finally:
        torch.save = real
    assert ckpt.load(path)["step"] == 1
    assert os.listdir(tmp_path) == ["checkpoint.pt"]


KILLED_WRITER = """
import sys, time, torch
from mgdsl.atomic import write_atomic
def slow(f):
    f.write(b"partial" * 1000); f.flush(); print("writing", flush=True); time.sleep(60)
write_atomic(sys.argv[1], writer=slow)
"""


def test_killed_write_keeps_old_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    ckpt.save(str(path), {"step": 7})
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"writing"
    proc.kill()
    proc.wait()
    assert ckpt.load(str(path))["step"] == 7


def test_sigterm_mid_run_then_resume(spec, tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "mgdsl", "train", spec, "--task", "mnist-seg", "--steps", "40",
           "--batch-size", "4", "--train-size", "64", "--test-size", "8", "--eval-every", "1000",
           "--ckpt-every", "1000", "--log-every", "1", "--no-progress", "--threads", "1", "--out", str(run)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    log = run / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM" in err and "--resume" in err
    stopped = weights(run)["step"]
    assert 3 <= stopped < 40
    # resume in-process to the end, and compare with an uninterrupted run
    short = cfg_for(spec, steps=40, eval_every=1000, ckpt_every=1000, train_size=64, test_size=8)
    assert train(short, str(run), QUIET, resume=True) == 0
    ref = tmp_path / "ref"
    assert train(short, str(ref), QUIET) == 0
    assert_same_state(weights(run)["model"], weights(ref)["model"])


def test_cifar_from_python_archives(tmp_path, capsys):
    import pickle

    import numpy as np
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (20, 3072), dtype=np.uint8),
                         "labels": [i % 10 for i in range(20)]}, f)
    cls = tmp_path / "cls.mg"
    cls.write_text(TINY_CLS)
    run = tmp_path / "run"
    assert main(["train", str(cls), "--task", "cifar10", "--steps", "3", "--batch-size", "8", "--no-progress",
                 "--data", str(tmp_path), "--out", str(run)]) == 0
    assert main(["eval", str(run)]) == 0
    err = json.loads((run / "eval-test.json").read_text())["top1_error"]
    assert 0 <= err <= 100


# -- schedule semantics, --pos-weight, --overfit, clean failures ------------------------------------

def logged(run_dir, kind="train"):
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
            if json.loads(line)["kind"] == kind]


def test_steps_stop_early_on_the_papers_full_length_schedule(spec, tmp_path):
    """--steps N runs the first N steps of the paper's schedule (lr 0.1 decayed exponentially to
    1e-4 over 200 epochs, constant within an epoch); --schedule-length L squeezes it into L steps."""
    from mgdsl.train import registry
    per_epoch = registry.get("mnist-seg").steps_per_epoch
    steps = per_epoch + 5                                  # crosses the first epoch boundary
    run = tmp_path / "early"
    assert train(cfg_for(spec, steps=steps, batch_size=1, train_size=8), str(run), QUIET) == 0

    def paper(k):                                          # the rate of the k-th step (0-based)
        epoch = k // per_epoch
        return 0.1 * (1e-4 / 0.1) ** (epoch / (200 - 1))
    rows = logged(run)
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for r in rows:
        assert r["lr"] == pytest.approx(paper(r["step"] - 1), rel=1e-12), r
    assert rows[-1]["lr"] < rows[0]["lr"] == 0.1           # the boundary was crossed: the test can fail
    plan = json.loads((run / "config.json").read_text())["plan"]
    assert plan["schedule_steps"] == 200 * per_epoch and plan["total_steps"] == steps

    squeezed = tmp_path / "squeezed"
    assert train(cfg_for(spec, steps=20, batch_size=1, train_size=8, schedule_length=20), str(squeezed),
                 QUIET) == 0
    lrs = [r["lr"] for r in logged(squeezed)]
    assert lrs == pytest.approx([0.1 * (1e-4 / 0.1) ** (k / 19) for k in range(20)], rel=1e-12)


def test_step_schedule_keeps_the_first_rate_for_60_paper_epochs():
    from mgdsl.train.schedule import Schedule, paper_length
    length, epochs = paper_length(150)
    s = Schedule("step", length, epochs)
    first = 60 * 150                                       # the first milestone, epoch 60 of 200
    assert s(0) == s(first - 1) == 1.0 and s(first) == pytest.approx(0.2)
    assert s(length - 1) == pytest.approx(0.2 ** 3) and s(10 * length) == s(length - 1)


def test_resume_of_a_run_from_before_full_length_schedules_is_refused(spec, tmp_path, capsys):
    run = tmp_path / "old"
    assert main(["train", spec, "--task", "mnist-seg", "--steps", "4", "--batch-size", "2", "--train-size", "8",
                 "--test-size", "4", "--no-progress", "--stop-at", "2", "--out", str(run)]) == 0
    cfg = json.loads((run / "config.json").read_text())
    del cfg["plan"]["schedule_steps"]                      # as written by the older mgdsl
    for key in ("schedule_length", "pos_weight", "overfit"):
        del cfg["run"][key]
    (run / "config.json").write_text(json.dumps(cfg))
    base = ["train", spec, "--task", "mnist-seg", "--steps", "4", "--batch-size", "2", "--train-size", "8",
            "--test-size", "4", "--no-progress", "--resume", "--out", str(run)]
    assert main(base) == 1
    assert "--schedule-length 4" in capsys.readouterr().err
    assert main(base + ["--schedule-length", "4"]) == 0


def test_pos_weight_weighs_positive_pixels_and_is_recorded(spec, tmp_path, capsys):
    from mgdsl.train.tasks import TaskSpec, make_task
    logits = torch.randn(2, 10, 16, 16)
    target = (torch.rand(2, 10, 16, 16) < 0.05).float()
    p = torch.sigmoid(logits)
    by_hand = -(3.0 * target * torch.log(p) + (1 - target) * torch.log(1 - p)).mean()
    task = make_task(TaskSpec("mnist-seg", pos_weight=3.0), (1, 16, 16), (10, 16, 16))
    assert task.loss(logits, target).item() == pytest.approx(by_hand.item(), rel=1e-5)
    plain = make_task(TaskSpec("mnist-seg"), (1, 16, 16), (10, 16, 16))
    assert plain.loss(logits, target).item() < task.loss(logits, target).item()

    run = tmp_path / "run"
    assert main(["train", spec, "--task", "mnist-seg", "--steps", "2", "--batch-size", "2", "--train-size", "8",
                 "--test-size", "4", "--no-progress", "--pos-weight", "3", "--out", str(run)]) == 0
    assert "--pos-weight 3" in capsys.readouterr().err
    assert json.loads((run / "config.json").read_text())["run"]["pos_weight"] == 3.0
    assert main(["eval", str(run)]) == 0
    assert "trained with --pos-weight 3" in capsys.readouterr().out
    assert json.loads((run / "eval-test.json").read_text())["trained_with"] == {"pos-weight": 3.0}
    cls = tmp_path / "cls.mg"
    cls.write_text(TINY_CLS)
    assert main(["train", str(cls), "--task", "cifar10", "--steps", "2", "--pos-weight", "3",
                 "--out", str(tmp_path / "c")]) == 1
    assert "--pos-weight" in capsys.readouterr().err
    assert main(["train", spec, "--task", "mnist-seg", "--steps", "2", "--pos-weight", "0",
                 "--out", str(tmp_path / "z")]) == 1
    assert not (tmp_path / "c").exists() and not (tmp_path / "z").exists()


def test_failures_before_the_first_step_leave_no_files(spec, tmp_path, capsys, monkeypatch):
    vgg = str(Path(__file__).resolve().parents[1] / "specs" / "vgg-16.mg")
    out = tmp_path / "D"
    assert main(["train", vgg, "--task", "cifar100", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "cifar100 needs --data" in err and "Traceback" not in err and "%|" not in err
    assert not out.exists()
    # a folder that was there keeps exactly what it held
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["train", vgg, "--task", "cifar100", "--steps", "3", "--out", str(out)]) == 1
    assert os.listdir(out) == ["notes.txt"]
    # a failure inside the first step (after config.json is written) is undone as well
    from mgdsl.train.tasks import mnist as tasks

    def broken(self, logits, target):
        raise RuntimeError("boom")
    monkeypatch.setattr(tasks.MnistTask, "loss", broken)
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        train(cfg_for(spec), str(fresh), QUIET)
    assert not fresh.exists()
    with pytest.raises(RuntimeError):
        train(cfg_for(spec), str(out), Runtime(progress=True))
    assert os.listdir(out) == ["notes.txt"]
    assert "%|" not in capsys.readouterr().err            # no progress bar for a run that never stepped


def _overfit_iou(tmp_path, images: int, steps: int, batch: int) -> float:
    """Train U-NET-11 (canvas 32, w = 16) with the quick recipe's segmentation flags on `images`
    training images; the train mean IoU of the last evaluation, which scores those same images."""
    import repro_mnist
    run = tmp_path / "overfit"
    spec = repro_mnist.spec_path("U-NET-11", "mnist-seg")
    assert main(["train", str(spec), "--task", "mnist-seg", "--set", "canvas=32", "--set", "w=16",
                 *repro_mnist.quick_flags("mnist-seg"), "--overfit", str(images), "--steps", str(steps),
                 "--batch-size", str(batch), "--eval-every", str(steps), "--no-progress", "--out", str(run)]) == 0
    last = logged(run, "eval")[-1]
    assert last["split"] == "train" and last["images"] == images and last["step"] == steps
    return last["mean_iou"]


def test_overfit_a_few_images(tmp_path):
    """CI's short version of the overfit check below: 8 images, 150 steps of 8."""
    assert _overfit_iou(tmp_path, images=8, steps=150, batch=8) >= 35      # measured: 47.5 (2.5 with plain BCE)


@pytest.mark.slow
def test_overfit_64_images_within_1000_steps(tmp_path):
    assert _overfit_iou(tmp_path, images=64, steps=1000, batch=32) >= 50


# -- the Run and the loop ---------------------------------------------------------------------------

OLD_RUN = Path(__file__).resolve().parent / "data" / "old-run"


def test_a_run_folder_of_the_code_before_run_resumes_to_the_same_weights(tmp_path):
    """tests/data/old-run was written by mgdsl at commit 51a59f7, before the training loop became a
    `Run`, the plan a `Plan` and the tasks a registry: `mgdsl train tiny.mg --task mnist-seg --steps 6
    --batch-size 4 --train-size 64 --test-size 8 --ckpt-every 100 --log-every 1 --eval-every 100
    --stop-at 2 --no-progress --threads 1 --out run`. This code resumes it to the weights of a run of
    this code that never stopped."""
    import shutil
    run = tmp_path / "old"
    shutil.copytree(OLD_RUN, run)
    spec = str(run / "tiny.mg")
    config = json.loads((run / "config.json").read_text())
    config["run"]["spec"] = spec                          # where the copy's spec is now
    (run / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    # the same command, stopped at the same step, writes the same config.json (plan and all) ...
    new = tmp_path / "new"
    assert train(cfg_for(spec), str(new), Runtime(progress=False, stop_at=2)) == 0
    assert json.loads((new / "config.json").read_text()) == config
    # ... and a checkpoint of the same shape
    old_state, new_state = weights(run), weights(new)
    assert old_state.keys() == new_state.keys() and old_state["scheduler"] == new_state["scheduler"]
    assert old_state["step"] == new_state["step"] == 2 and old_state["rng"].keys() == new_state["rng"].keys()
    assert old_state["optimizer"]["param_groups"] == new_state["optimizer"]["param_groups"]
    assert train(cfg_for(spec), str(run), QUIET, resume=True) == 0
    ref = tmp_path / "ref"
    assert train(cfg_for(spec), str(ref), QUIET) == 0
    assert weights(run)["step"] == 6 and [r["step"] for r in logged(run)] == list(range(1, 7))
    same_start = all(torch.equal(old_state["model"][k], new_state["model"][k]) for k in old_state["model"])
    if same_start:          # this machine rounds as the one that wrote the folder: the run must be bit-exact
        assert_same_state(weights(run)["model"], weights(ref)["model"])
    else:                   # another CPU or torch rounds otherwise in the last bits, from the first steps on
        for k, v in weights(ref)["model"].items():
            torch.testing.assert_close(weights(run)["model"][k], v)


def test_the_training_loop_reads_in_a_few_lines():
    """The loop over the batches stays a short list of the Run's phases (issue 22: at most 40 lines)."""
    import inspect

    from mgdsl.train import loop
    source = inspect.getsource(loop.loop)
    assert "for x, y in run.batches():" in source
    assert len(source.splitlines()) <= 40, len(source.splitlines())


def test_the_plan_is_saved_under_its_old_names():
    from dataclasses import asdict

    from mgdsl.train.loop import Plan
    plan = Plan(total_steps=6, schedule_steps=30000, schedule_epochs=200, schedule_kind="exp", eval_every=1)
    assert list(asdict(plan)) == ["total_steps", "schedule_steps", "schedule_epochs", "schedule_kind", "eval_every"]
