"""The run's log (`metrics.jsonl`, one JSON object per line) and its plot (`curves.png`)."""
from __future__ import annotations

import json
import os

from ..atomic import write_atomic

LOG, PLOT = "metrics.jsonl", "curves.png"


def read_log(run_dir: str) -> list[dict]:
    path = os.path.join(run_dir, LOG)
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:       # a line cut short by a kill: drop it
                pass
    return out


def truncate_log(run_dir: str, step: int) -> None:
    """On resume: forget what was logged after the checkpoint, since those steps are redone."""
    rows = [r for r in read_log(run_dir) if r.get("step", 0) <= step]
    write_atomic(os.path.join(run_dir, LOG), "".join(json.dumps(r) + "\n" for r in rows))


def append_log(run_dir: str, row: dict) -> None:
    with open(os.path.join(run_dir, LOG), "a") as f:
        f.write(json.dumps(row) + "\n")


def plot(run_dir: str, metric_names: tuple[str, ...] = (), title: str = "") -> str:
    """Draw the training loss and, beside it, each of the task's metrics that the log holds."""
    import matplotlib  # not at the top: slow to import, and only the plot needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = read_log(run_dir)
    train = [r for r in rows if "loss" in r]
    evals = [r for r in rows if r.get("kind") == "eval"]
    names = [k for k in metric_names if any(k in r for r in evals)]
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(4.5 * (1 + len(names)), 3.4), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1)
    ax.set_xlabel("step"), ax.set_ylabel("training loss"), ax.set_yscale("log")
    for ax, k in zip(axes[0][1:], names):
        pts = [(r["step"], r[k]) for r in evals if k in r]
        ax.plot(*zip(*pts), marker="o", ms=3)
        ax.set_xlabel("step"), ax.set_ylabel(k.replace("_", " ") + " (%)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = os.path.join(run_dir, PLOT)
    write_atomic(path, writer=lambda f: fig.savefig(f, format="png", dpi=100))
    plt.close(fig)
    return path
