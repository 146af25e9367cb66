"""The paper's MNIST metrics (Sec. 4.2, Tables 2-3) against small cases worked out by hand."""
import numpy as np
import pytest

from mgdsl.train.metrics import PixelCounts, Top1


def test_pooled_counts_match_hand_computation():
    # 2 images x 2 classes x 1 x 3 pixels
    pred = np.array([[[[1, 1, 0]], [[0, 0, 0]]],
                     [[[0, 1, 0]], [[1, 0, 0]]]], bool)
    label = np.array([[[[1, 0, 0]], [[0, 0, 1]]],
                      [[[0, 1, 1]], [[1, 0, 0]]]], bool)
    m = PixelCounts(2)
    m.add(pred[:1], label[:1])          # pooled over batches: same as one call with both images
    m.add(pred[1:], label[1:])
    # class 0: TP = 2 (img0 px0, img1 px1), FP = 1 (img0 px1), FN = 1 (img1 px2)
    # class 1: TP = 1 (img1 px0), FP = 0, FN = 1 (img0 px2)
    assert m.tp.tolist() == [2, 1] and m.fp.tolist() == [1, 0] and m.fn.tolist() == [1, 1]
    assert m.mean_iou() == pytest.approx((2 / 4 + 1 / 2) / 2)
    assert m.mean_error() == pytest.approx(100 * (1 - (2 / 3 + 1 / 1) / 2))


def test_pooling_is_not_per_image_averaging():
    # one image nails a tiny digit, the other misses half of a big one: pooled IoU weights pixels
    m = PixelCounts(1)
    m.add(np.array([[[1]]])[None].astype(bool), np.array([[[1]]])[None].astype(bool))
    m.add(np.array([[[1, 1, 0, 0]]])[None].astype(bool), np.array([[[1, 1, 1, 1]]])[None].astype(bool))
    assert m.mean_iou() == pytest.approx(3 / 5)          # per-image mean would be (1 + 0.5) / 2


def test_thresholds_on_logits_and_targets():
    m = PixelCounts(1)
    logits = np.array([[[[0.0, -0.01, 3.0, -2.0]]]])     # sigmoid >= 0.5 <=> logit >= 0
    target = np.array([[[[0.5, 0.49, 1.0, 0.0]]]])
    m.add_logits(logits, target)
    assert (m.tp[0], m.fp[0], m.fn[0]) == (2, 0, 0)


def test_never_positive_scores_zero_iou_and_full_error():
    # SG-11's row in Table 3: it never predicts a positive pixel
    m = PixelCounts(1)
    m.add(np.zeros((2, 1, 4, 4), bool), np.ones((2, 1, 4, 4), bool))
    assert m.mean_iou() == 0.0 and m.mean_error() == 100.0


def test_top1():
    t = Top1()
    t.add_logits(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), np.array([1, 1, 1]))
    assert t.summary()["top1_error"] == pytest.approx(100 / 3)
