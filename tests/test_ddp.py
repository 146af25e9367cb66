"""Distributed training through torchrun (gloo on CPU): 2 processes, each on its half of the
global batch, end with the weights of one process training on the whole batch.

The spec has no BatchNorm: with BN, each rank normalises by its own half-batch statistics, which is
a different computation from normalising by the whole batch, so only a BN-free network can be
compared exactly (the ranks still agree with each other either way; `train` checks that itself)."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from test_train import one_thread  # noqa: F401  (autouse: one torch thread, as in test_train)

from mgdsl.train import checkpoint as ckpt
from mgdsl.train.loop import RunConfig, Runtime, train

NO_BN = """network "TINY-NOBN" (w = 4, maps = 10, canvas = 16)
input 1 @ canvas
grids 2
conv w, w/2  bn=off
mgconv  bn=off
drop
maps maps kernel=3  bn=off
"""


@pytest.mark.slow(reason="two torchrun processes; the sharding of the global batch is tested always")
def test_two_process_ddp_matches_one_process(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    spec = tmp_path / "nobn.mg"
    spec.write_text(NO_BN)
    common = ["--task", "mnist-seg", "--steps", "4", "--batch-size", "8", "--train-size", "32",
              "--test-size", "4", "--no-progress", "--lr", "0.5"]
    ddp = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "mgdsl", "train", str(spec), *common, "--out", str(ddp)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    one = tmp_path / "one"
    cfg = RunConfig(spec=str(spec), task="mnist-seg", steps=4, batch_size=8, train_size=32, test_size=4, lr=0.5)
    assert train(cfg, str(one), Runtime(progress=False)) == 0
    a, b = ckpt.load(ckpt.path_in(str(ddp)))["model"], ckpt.load(ckpt.path_in(str(one)))["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    # the weights did move away from their initialisation (so the comparison means something)
    from mgdsl import load
    torch.manual_seed(1)
    init = load(str(spec)).build().state_dict()
    assert any(not torch.allclose(init[k], a[k]) for k in a)


def test_ranks_shard_the_global_batch():
    from mgdsl import loads
    from mgdsl.train.tasks import TaskSpec, make_task
    net = loads(NO_BN)
    task = make_task(TaskSpec("mnist-seg", train_size=50), net.input_shape, net.output_shape)
    whole = task.train_batch(seed=3, step=5, batch=6)
    parts = [task.train_batch(seed=3, step=5, batch=6, rank=r, world=3) for r in range(3)]
    for i in range(2):
        assert torch.equal(torch.cat([p[i] for p in parts]), whole[i])
    assert not torch.equal(parts[0][0], parts[1][0])
