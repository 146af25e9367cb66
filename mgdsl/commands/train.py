"""Train a compiled network on one of the paper's tasks, with the paper's defaults (SGD, momentum
0.9, weight decay 5e-4, lr 0.1 decayed exponentially to 1e-4 for plain nets or x0.2 at 60/120/160 of
200 epochs for residual ones, per-map binary cross-entropy for MNIST).

Run length vs schedule: the schedule always spans the paper's 200 epochs (30,000 steps for
mnist-seg); --steps / --epochs only say when to stop, so a short run trains at the rates the
paper's run starts with. --schedule-length N squeezes the whole schedule into N steps instead (with
--steps N too, the run ends at the rate the paper's ends at after 200 epochs).

The run folder receives config.json, metrics.jsonl, curves.png and an
atomically written checkpoint.pt; SIGINT/SIGTERM save before exiting, and the same command with
--resume finishes the run with exactly the weights of an uninterrupted one. Under `torchrun
--nproc_per_node=K -m mgdsl train ...` it trains with DistributedDataParallel (gloo on CPU, nccl on
CUDA), each process taking its shard of the global batch.

Tasks: mnist-seg, mnist-spt (and the ablations mnist-rot, mnist-aff, mnist-sca, mnist-tra), generated
on the fly from real MNIST (--mnist DIR with the IDX files) or, by default, from scikit-learn's
embedded 8x8 digits upscaled to 28x28; cifar10 / cifar100 from the python archives in --data DIR."""
from __future__ import annotations

import os

from ..errors import UsageError
from ..train.registry import Names
from .options import add_set_option, parse_sets

HELP = "train a network on synthetic MNIST or CIFAR (checkpoints, resume, DDP)"


def configure(p):
    p.add_argument("spec", metavar="SPEC", help="the .mg file")
    p.add_argument("--task", required=True, choices=Names(), metavar="TASK",   # listed when asked for
                   help="one of: %(choices)s")
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="folder for the checkpoint, log and plot")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N",
                        help="stop after N optimizer steps (the lr schedule is not shortened: see "
                             "--schedule-length)")
    length.add_argument("--epochs", type=int, metavar="N",
                        help="stop after N paper epochs (150 steps for mnist-seg, 800 for the transformation "
                             "tasks, 300 for CIFAR)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch size (default 64)")
    p.add_argument("--lr", type=float, default=0.1, help="initial learning rate (default 0.1)")
    p.add_argument("--schedule", choices=("exp", "step", "const"),
                   help="lr schedule (default: step if the graph has residual adds, else exp)")
    p.add_argument("--schedule-length", type=int, metavar="N",
                   help="squeeze the whole lr schedule into N steps (default: the paper's 200 epochs, "
                        "whatever --steps says)")
    p.add_argument("--pos-weight", type=float, default=1.0, metavar="W",
                   help="weight of positive pixels in the per-map BCE of the MNIST tasks (default 1: the "
                        "paper's loss; ~10 helps short runs on mnist-seg, where ~2%% of a map is positive)")
    p.add_argument("--overfit", type=int, metavar="N",
                   help="debugging aid: train on the first N training images only and evaluate on those "
                        "same images (a healthy setup drives their error towards zero)")
    p.add_argument("--seed", type=int, default=1, help="initialisation and batch-order seed (default 1)")
    p.add_argument("--data-seed", type=int, default=1, help="seed of the generated data sets (default 1, as the paper)")
    p.add_argument("--train-size", type=int, metavar="N", help="generated training images (default: the paper's)")
    p.add_argument("--test-size", type=int, metavar="N", help="evaluation images (default: the paper's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--amp", choices=("bf16",), help="autocast to bfloat16")
    p.add_argument("--compile", action="store_true", help="torch.compile the network")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--resume", action="store_true", help="continue the run saved in RUN_DIR")
    p.add_argument("--data", metavar="DIR", help="folder with the CIFAR python archives (unpacked)")
    p.add_argument("--mnist", metavar="DIR", help="folder with the MNIST IDX files (default: embedded digits)")
    p.add_argument("--workers", type=int, default=0, help="data-generating worker processes (default 0)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="CPU threads for torch (default: torch's choice; 1 is much faster on a busy machine)")
    p.add_argument("--log-every", type=int, default=10, metavar="N", help="log the loss every N steps")
    p.add_argument("--eval-every", type=int, metavar="N", help="evaluate every N steps (default: 10 times a run)")
    p.add_argument("--eval-size", type=int, default=200, metavar="N",
                   help="test images scored at the intermediate evaluations (default 200; the last one uses all)")
    p.add_argument("--ckpt-every", type=int, default=100, metavar="N", help="checkpoint every N steps")
    p.add_argument("--stop-at", type=int, metavar="STEP",
                   help="stop after this step and save (for time-limited jobs; finish later with --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_set_option(p)


def _positive(name, v):
    if v is not None and v < 1:
        raise UsageError(f"--{name} must be at least 1, not {v}")


def run(args) -> int:
    from ..train.loop import RunConfig, Runtime, train  # here: it imports numpy, and torch when training
    for name in ("steps", "epochs", "batch_size", "log_every", "eval_every", "ckpt_every", "train_size", "test_size",
                 "stop_at", "eval_size", "threads", "schedule_length", "overfit"):
        _positive(name.replace("_", "-"), getattr(args, name))
    if args.lr <= 0:
        raise UsageError(f"--lr must be positive, not {args.lr}")
    if not args.pos_weight > 0:
        raise UsageError(f"--pos-weight must be positive, not {args.pos_weight}")
    if args.overfit and args.train_size:
        raise UsageError("--overfit N already sets the training set to N images; drop --train-size")
    if args.workers < 0:
        raise UsageError("--workers cannot be negative")
    if not os.path.isfile(args.spec):
        raise UsageError(f"no spec file {args.spec}")
    cfg = RunConfig(spec=args.spec, task=args.task, params=parse_sets(args.set), steps=args.steps,
                    epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
                    schedule_length=args.schedule_length, pos_weight=args.pos_weight, overfit=args.overfit,
                    seed=args.seed, data_seed=args.data_seed, mnist=args.mnist and os.path.abspath(args.mnist),
                    data=args.data and os.path.abspath(args.data), train_size=args.train_size,
                    test_size=args.test_size, log_every=args.log_every, eval_every=args.eval_every,
                    ckpt_every=args.ckpt_every, eval_size=args.eval_size)
    if args.threads:
        import torch  # here: `mgdsl train --help` needs no torch
        torch.set_num_threads(args.threads)
    rt = Runtime(device=args.device, amp=args.amp, compile=args.compile, channels_last=args.channels_last,
                 workers=args.workers, progress=not args.no_progress, stop_at=args.stop_at)
    return train(cfg, args.out, rt, resume=args.resume)
