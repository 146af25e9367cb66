"""Score a trained run with the paper's metrics: mean IoU and mean error for the MNIST tasks (TP, FP
and FN pooled over the whole split per class; error = 100 * (1 - mean per-class precision)), top-1
error for CIFAR. Prints the numbers and writes RUN_DIR/eval-SPLIT.json."""
from __future__ import annotations

import json
import os

from ..atomic import write_atomic

HELP = "evaluate a trained run (mean IoU / mean error, or top-1 error)"


def configure(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `mgdsl train`")
    p.add_argument("--split", default="test", choices=("train", "valid", "test"), help="default: test")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--batch-size", type=int, default=100, help="evaluation batch size")


def run(args) -> int:
    from ..train.loop import departures, evaluate, load_run  # here: it imports numpy, and torch to evaluate
    cfg, net, model, task, device = load_run(args.run_dir, args.device)
    res = evaluate(model, task, args.split, device, batch=max(1, args.batch_size))
    recipe = departures(cfg)
    scored = f"its {cfg.overfit} --overfit training images" if cfg.overfit else args.split
    note = f"  [trained with {' '.join(f'--{k} {v:g}' for k, v in recipe.items())}]" if recipe else ""
    print(f"{net.name} on {cfg.task} ({scored}): "
          + ", ".join(f"{k.replace('_', ' ')} {v:.2f}%" for k, v in res.items()) + note)
    write_atomic(os.path.join(args.run_dir, f"eval-{args.split}.json"),
                 json.dumps({"network": net.name, "task": cfg.task, "split": args.split, **res,
                             "trained_with": recipe}, indent=2) + "\n")
    return 0
