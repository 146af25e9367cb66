"""The paper's metrics (Ke, Maire & Yu, CVPR 2017, Sec. 4.2, as computed by the authors' released
evaluation notebook), pooled over a whole evaluation set.

Segmentation: prediction = sigmoid >= 0.5 (logit >= 0), label = target >= 0.5; per class c the
counts TP, FP, FN are summed over every pixel of every image, then
    mean IoU   = mean_c TP / (TP + FP + FN)
    mean error = 100 * (1 - mean_c TP / (TP + FP))   (one minus the mean per-class precision)
A class with an empty denominator scores 0, which is how SG-11's "0 IoU / 100% error" arises.
Classification: top-1 error in percent."""
from __future__ import annotations

import numpy as np


class PixelCounts:
    """Accumulates per-class TP / FP / FN over batches of logits and targets (N x K x H x W)."""

    def __init__(self, classes: int):
        self.tp = np.zeros(classes, np.int64)
        self.fp = np.zeros(classes, np.int64)
        self.fn = np.zeros(classes, np.int64)

    def add_logits(self, logits, target) -> None:
        self.add(logits >= 0, target >= 0.5)

    def add(self, pred, label) -> None:
        """`pred`, `label`: boolean arrays or tensors shaped N x K x ..."""
        pred, label = _bool(pred), _bool(label)
        axes = (0,) + tuple(range(2, pred.ndim))
        self.tp += (pred & label).sum(axis=axes)
        self.fp += (pred & ~label).sum(axis=axes)
        self.fn += (~pred & label).sum(axis=axes)

    def merge(self, other: "PixelCounts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def mean_iou(self) -> float:
        return float(np.mean(_ratio(self.tp, self.tp + self.fp + self.fn)))

    def mean_error(self) -> float:
        return float(100.0 * (1.0 - np.mean(_ratio(self.tp, self.tp + self.fp))))

    def summary(self) -> dict:
        return {"mean_iou": 100.0 * self.mean_iou(), "mean_error": self.mean_error()}


class Top1:
    def __init__(self):
        self.wrong = 0
        self.total = 0

    def add_logits(self, logits, labels) -> None:
        pred = _np(logits).argmax(axis=1)
        labels = _np(labels)
        self.wrong += int((pred != labels).sum())
        self.total += len(labels)

    def summary(self) -> dict:
        return {"top1_error": 100.0 * self.wrong / max(self.total, 1)}


def _ratio(num, den):
    num, den = num.astype(np.float64), den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _np(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def _bool(x):
    return _np(x).astype(bool)
