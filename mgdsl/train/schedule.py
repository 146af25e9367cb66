"""The paper's learning-rate schedules (Ke, Maire & Yu, CVPR 2017, Sec. 4.1), as pure functions of
the step so that a resumed run needs nothing but the step number.

The paper's schedule spans its full training length: 200 epochs of the task's iterations per epoch
(e.g. 150 for mnist-seg, so 30,000 steps). The rate is constant within an epoch e = 0 .. E-1:
  exponential (plain nets)    lr = lr0 * (1e-3) ** (e / (E - 1))       0.1 -> 1e-4
  step (residual nets)        lr = lr0 * 0.2 ** k, k = milestones passed among epochs 60, 120, 160 of 200

`mgdsl train --steps N` (or `--epochs N`) only says when to stop: a short run follows the first N
steps of that full-length schedule. `--schedule-length L` instead squeezes the whole schedule into
L steps (cut into min(200, L) equal "epochs"), so that a run of L steps ends where the paper's does.
"""
from __future__ import annotations

import math

PAPER_EPOCHS = 200
STEP_MILESTONES = (60, 120, 160)
EXP_RANGE = 1e-3             # 0.1 -> 1e-4


def epoch_of(step: int, length: int, epochs: int) -> int:
    return min(epochs - 1, step * epochs // max(length, 1))


class Schedule:
    """Multiplier of the base learning rate at a step (0-based: the multiplier used by step k+1);
    the schedule spans `length` steps cut into `epochs` constant pieces (default min(200, length)).
    Steps past the end keep the last rate. Picklable (LambdaLR keeps only its state)."""

    def __init__(self, kind: str, length: int, epochs: int | None = None):
        if kind not in ("exp", "step", "const"):
            raise ValueError(kind)
        self.kind, self.total = kind, length
        self.epochs = epochs or max(1, min(PAPER_EPOCHS, length))

    def __call__(self, step: int) -> float:
        e, E = epoch_of(step, self.total, self.epochs), self.epochs
        if self.kind == "exp":
            return EXP_RANGE ** (e / (E - 1)) if E > 1 else 1.0
        if self.kind == "step":
            return 0.2 ** sum(e >= math.ceil(m * E / PAPER_EPOCHS) for m in STEP_MILESTONES)
        return 1.0


def paper_length(steps_per_epoch: int) -> tuple[int, int]:
    """(steps, epochs) of the paper's full-length schedule for a task."""
    return PAPER_EPOCHS * steps_per_epoch, PAPER_EPOCHS


def is_residual(G) -> bool:
    """Residual nets (any `add` node in the graph) get the step schedule, as in the paper."""
    return any(r.kind == "add" for r in G.records())
