"""The paper's learning-rate schedules (Ke, Maire & Yu, CVPR 2017, Sec. 4.1), as pure functions of
the step so that a resumed run needs nothing but the step number.

The paper counts 200 epochs; a run of any length is cut into min(200, steps) equal "epochs" and the
rate is constant within each one:
  exponential (plain nets)    lr = lr0 * (1e-3) ** (e / (E - 1))       0.1 -> 1e-4
  step (residual nets)        lr = lr0 * 0.2 ** k, k = milestones passed among epochs 60, 120, 160 of 200
"""
from __future__ import annotations

import math

PAPER_EPOCHS = 200
STEP_MILESTONES = (60, 120, 160)
EXP_RANGE = 1e-3             # 0.1 -> 1e-4


def epoch_of(step: int, total: int, epochs: int) -> int:
    return min(epochs - 1, step * epochs // max(total, 1))


class Schedule:
    """Multiplier of the base learning rate at a step; picklable (LambdaLR keeps only its state)."""

    def __init__(self, kind: str, total_steps: int, epochs: int | None = None):
        if kind not in ("exp", "step", "const"):
            raise ValueError(kind)
        self.kind, self.total = kind, total_steps
        self.epochs = epochs or max(1, min(PAPER_EPOCHS, total_steps))

    def __call__(self, step: int) -> float:
        e, E = epoch_of(step, self.total, self.epochs), self.epochs
        if self.kind == "exp":
            return EXP_RANGE ** (e / (E - 1)) if E > 1 else 1.0
        if self.kind == "step":
            return 0.2 ** sum(e >= math.ceil(m * E / PAPER_EPOCHS) for m in STEP_MILESTONES)
        return 1.0


def is_residual(G) -> bool:
    """Residual nets (any `add` node in the graph) get the step schedule, as in the paper."""
    return any(r.kind == "add" for r in G.records())
