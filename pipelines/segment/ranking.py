"""Which of a click's (or a user's box's) GrabCut answers is the object: features of each answer and fitted linear
rankers.

A single click gives GrabCut no box, so pipelines/segment/grabcut.py produces several answers (pass 1 and 2 from the
click, a wider box, boxes grown around the seeds, squares around the click, boxes of the merge hierarchy's regions)
and has to pick one. No single cue picks well: the separation from a ring around the answer favours a distinct part
of a many-coloured object, agreement between answers favours what several starts share (often that same part), size
alone favours spills. So each answer is described by ANSWER_FEATURES, measured on pass 1's picture (its grid), and
scored by a logistic regression whose weights were fitted on the development seeds of bench/grabcut.py (seeds 3, 4
and 5; never the report seeds 0, 1 and 2) by ``python bench/grabcut_ranker.py``, which prints the constants below.

The features of answer k (all on the grid; ``live`` answers are those larger than twice the clicked discs):
- sep1, sep2: 1 - the Bhattacharyya coefficient of k's feature histogram and that of a ring just outside it (width
  w = a quarter of the square root of k's area) and of the next ring out (w to 2w): an object stands apart from
  both, a part of it from neither ring for long, a spill not from the first.
- share, logshare: the share of the picture k covers, and its logarithm.
- bgrad, bstrong: the mean Lab gradient along k's boundary (over the picture's median gradient, capped at 10, / 10)
  and the fraction of the boundary above the picture's 75th percentile: an object's outline follows edges.
- compact: 4 pi area / perimeter^2 (capped at 1); clickdepth: the distance from the clicks into k over the square
  root of its area (capped at 1): a click is usually well inside the object.
- votes, votes8, vfrac: how many other live answers agree with k at IoU >= 0.9 and >= 0.8, and the first as a
  fraction of the others; choice: k is the chain's own choice; agreech: k agrees (IoU >= 0.9) with that choice.
- inbetter, hasbetter: the best gain in sep1 of a larger answer holding 90% of k (k looks like a part of it), and of
  a smaller answer that k holds 90% of (k looks like it plus a spill), -0.5 when there is none; nbig, nsmall: how
  many such larger and smaller answers there are.

A user's box is solved from one start per ring-vote threshold; its answers are described by BOX_FEATURES
(box_features) and scored with BOX_MODEL, fitted the same way (``python bench/grabcut_ranker.py --kind box``, IoU >=
0.85) on the same development seeds.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

HIST_BINS = 6  # feature histograms: this many bins per channel (the same as the click's superpixel histograms)
AGREE_IOU = 0.9  # two answers agree at this IoU (votes, agreech; grabcut's give-way to the chain uses it too)
ANSWER_FEATURES = (
    "inbetter", "hasbetter", "nbig", "nsmall", "sep1", "sep2", "share", "logshare", "bgrad", "bstrong", "compact",
    "clickdepth", "votes", "votes8", "vfrac", "choice", "agreech",
)
# Fitted by bench/grabcut_ranker.py on seeds 3, 4 and 5, 150 scenes each (logistic regression of IoU >= 0.8 on the
# standardised features, L2 0.01): picked IoU >= 0.8 on each seed left out 125 / 117 / 122 (chain 114 / 105 / 109).
RANK_MEAN = np.array([-0.103756, -0.215854, 2.24812, 2.24812, 0.692542, 0.801246, 0.0730177, -3.41904, 0.619452,
    0.785794, 0.409469, 0.26713, 1.99889, 2.52075, 0.292122, 0.125035, 0.32665])
RANK_SCALE = np.array([0.392149, 0.277125, 2.46671, 2.15029, 0.230895, 0.233638, 0.121182, 1.37327, 0.347972, 0.277377,
    0.231575, 0.106907, 2.1874, 2.29332, 0.325212, 0.330758, 0.468988])
RANK_WEIGHTS = np.array([-0.644127, -0.140821, -0.294547, 0.178531, -0.907357, 1.89675, -0.56558, 1.05099, -0.512644,
    0.293068, -0.8798, 0.924459, -2.32615, 1.74317, 2.17647, 0.499636, 0.793433])
RANK_BIAS = -0.541769


def histogram_index(feats: np.ndarray) -> np.ndarray:
    """Each pixel's histogram bin (HW int32) of ``feats`` (HWC uint8, 3 channels), HIST_BINS per channel."""
    q = (feats.astype(np.int32) * HIST_BINS) // 256
    return (q[..., 0] * HIST_BINS + q[..., 1]) * HIST_BINS + q[..., 2]


def ring_separations(index: np.ndarray, mask: np.ndarray, rings: int = 1) -> list[float]:
    """How well ``mask`` (HW bool) stands apart from rings around it, on histogram bins ``index`` (histogram_index):
    for each of ``rings`` rings (the first w = max(3, round(0.25 sqrt(area))) px wide just outside the mask, the next
    from w to 2w, ...), 1 - the Bhattacharyya coefficient of the mask's and the ring's histograms; 0 for an empty
    mask or an empty ring."""
    area = int(np.count_nonzero(mask))
    if area == 0:
        return [0.0] * rings
    width = max(3, int(round(0.25 * math.sqrt(area))))
    nb = HIST_BINS ** 3
    h_in = np.bincount(index[mask], minlength=nb) / area
    out, inner = [], mask
    for k in range(1, rings + 1):
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k * width + 1, 2 * k * width + 1))
        outer = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        ring = outer & ~inner
        inner = outer
        if not ring.any():
            out.append(0.0)
            continue
        h_ring = np.bincount(index[ring], minlength=nb) / np.count_nonzero(ring)
        out.append(float(1.0 - np.sqrt(h_in * h_ring).sum()))
    return out


def edge_strength(rgb: np.ndarray) -> np.ndarray:
    """The Lab gradient magnitude (Sobel, after a 1 px blur) of ``rgb`` (HWC uint8 RGB), HW float32."""
    lab = cv2.cvtColor(cv2.GaussianBlur(rgb, (0, 0), 1.0), cv2.COLOR_RGB2LAB).astype(np.float32)
    gx = cv2.Sobel(lab, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(lab, cv2.CV_32F, 0, 1)
    return np.sqrt((gx * gx + gy * gy).sum(axis=2))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two HW bool masks (0 when both are empty)."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _outline_features(mask: np.ndarray, area: int, gradient: np.ndarray, levels: tuple[float, float]) -> list[float]:
    """bgrad, bstrong and compact of ``mask`` (HW bool, ``area`` px): the mean of ``gradient`` along its boundary over
    the picture's median (capped at 10, / 10), the boundary's share above the 75th percentile (``levels``: the
    median + 1e-6 and that percentile, _gradient_levels), and 4 pi area / perimeter^2 (capped at 1)."""
    g_median, g_strong = levels
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    boundary = mask & ~inner
    grad = gradient[boundary]
    return [
        min(float(grad.mean()) / g_median, 10.0) / 10.0 if grad.size else 0.0,
        float((grad > g_strong).mean()) if grad.size else 0.0,
        min(4 * math.pi * area / max(1, int(boundary.sum())) ** 2, 1.0),
    ]


def _gradient_levels(gradient: np.ndarray) -> tuple[float, float]:
    """The picture's median gradient (+ 1e-6) and its 75th percentile, for _outline_features."""
    return float(np.median(gradient)) + 1e-6, float(np.percentile(gradient, 75))


def answer_features(
    feats: np.ndarray, gradient: np.ndarray, masks: list[np.ndarray], shares: list[float], choice: int,
    live: list[int], clicks: np.ndarray,
) -> np.ndarray:
    """ANSWER_FEATURES of the ``live`` answers among ``masks`` (HW bool on the grid of ``feats``, HWC uint8, and of
    ``gradient``, edge_strength of the same picture), as a (len(live), len(ANSWER_FEATURES)) float64 array.
    ``shares``: each answer's share of the picture at full size; ``choice``: the index of the chain's own choice;
    ``clicks``: the positive clicks, (x, y) in the grid's pixels."""
    index = histogram_index(feats)
    levels = _gradient_levels(gradient)
    h, w = feats.shape[:2]
    areas = {k: int(np.count_nonzero(masks[k])) for k in live}
    seps = {k: ring_separations(index, masks[k], 2) for k in live}
    pair = {(a, b): _iou(masks[a], masks[b]) for a in live for b in live if a < b}
    agree_choice = {k: k != choice and _iou(masks[k], masks[choice]) >= AGREE_IOU for k in live}

    def together(a: int, b: int) -> float:
        return pair[(min(a, b), max(a, b))]

    rows = []
    for k in live:
        mask, area, share = masks[k], areas[k], shares[k]
        others = [j for j in live if j != k]
        votes = sum(together(k, j) >= AGREE_IOU for j in others)
        votes8 = sum(together(k, j) >= 0.8 for j in others)
        bgrad, bstrong, compact = _outline_features(mask, area, gradient, levels)
        depth = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
        at = [depth[min(h - 1, max(0, int(y))), min(w - 1, max(0, int(x)))] for x, y in clicks]

        def holds(big: int, small: int) -> bool:  # 90% of the smaller answer lies in the bigger one
            u = together(big, small)
            return u * (shares[big] + shares[small]) / (1 + u) >= 0.9 * shares[small]

        bigger = [j for j in others if shares[j] > 1.1 * share and holds(j, k)]
        smaller = [j for j in others if shares[j] < share / 1.1 and holds(k, j)]
        rows.append({
            "inbetter": max((seps[j][0] - seps[k][0] for j in bigger), default=-0.5),
            "hasbetter": max((seps[j][0] - seps[k][0] for j in smaller), default=-0.5),
            "nbig": len(bigger), "nsmall": len(smaller),
            "sep1": seps[k][0], "sep2": seps[k][1], "share": share, "logshare": math.log(max(share, 1e-5)),
            "bgrad": bgrad, "bstrong": bstrong, "compact": compact,
            "clickdepth": min(float(np.mean(at)) / math.sqrt(max(area, 1)), 1.0),
            "votes": votes, "votes8": votes8, "vfrac": votes / max(1, len(others)),
            "choice": float(k == choice), "agreech": float(agree_choice[k]),
        })
    return np.array([[row[name] for name in ANSWER_FEATURES] for row in rows], np.float64)


BOX_FEATURES = (
    "sep1", "sep2", "gapmax", "gapmean", "bandcov", "bgrad", "bstrong", "compact", "ncomp", "bigshare", "votes",
    "threshold",
)
# (mean, scale, weights, bias) for rank_scores, fitted by ``python bench/grabcut_ranker.py --kind box`` on seeds 3, 4
# and 5, 150 scenes each (logistic regression of IoU >= 0.85 on the working crop, L2 0.01).
BOX_MODEL = (
    np.array([0.874029, 0.933649, 0.0403117, 0.0308382, 0.00164533, 0.672945, 0.871984, 0.282044, 1.25697,
              0.989648, 1.89751, 0.405426]),
    np.array([0.128385, 0.108273, 0.0613036, 0.0295527, 0.0109079, 0.328016, 0.215863, 0.197769, 0.882456,
              0.0551676, 0.859392, 0.147667]),
    np.array([2.96755, -1.18081, -0.927985, -0.226505, -0.0679207, -0.461268, -0.0210009, 0.212471, -0.400452,
              0.776963, 1.01662, -0.33007]),
    3.07636,
)


def box_features(
    feats: np.ndarray, gradient: np.ndarray, masks: list[np.ndarray], rect: tuple[int, int, int, int],
    open_sides: tuple[bool, bool, bool, bool], thresholds: list[float],
) -> np.ndarray:
    """BOX_FEATURES of the answers ``masks`` (HW bool, non-empty) to a user's box ``rect`` (XYXY on the grid of
    ``feats``, HWC uint8, and of ``gradient``, edge_strength of the same picture), as (len(masks), len(BOX_FEATURES))
    float64. ``open_sides``: (left, top, right, bottom) is not the picture's border; ``thresholds``: each answer's
    ring-vote threshold. A box is drawn close around the object, so its answer reaches every open side (how much of
    the box the answer fills is left out: it depends on the object's shape; on the dev seeds the pick was the same
    without it, 388 of 450 each seed left out):
    - sep1, sep2, bgrad, bstrong, compact: as ANSWER_FEATURES;
    - gapmax, gapmean: the gap between the answer's bounding box and each open side of the box, over the box's long
      side (largest, mean): a part of the object leaves a gap;
    - bandcov: the share of the box's 2 px inner band the answer covers (background kept along the box's edge);
    - ncomp, bigshare: the answer's connected parts and its largest part's share;
    - votes: how many other answers agree with it at IoU >= AGREE_IOU; threshold: its start's ring-vote threshold.
    """
    index = histogram_index(feats)
    levels = _gradient_levels(gradient)
    x0, y0, x1, y1 = rect
    inside = np.zeros(feats.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    band = inside & ~cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    long_side = max(1, x1 - x0, y1 - y0)
    rows = []
    for k, mask in enumerate(masks):
        area = max(1, int(np.count_nonzero(mask)))
        sep1, sep2 = ring_separations(index, mask, 2)
        ys, xs = np.nonzero(mask)
        gaps = [gap for gap, side in zip((xs.min() - x0, ys.min() - y0, x1 - 1 - xs.max(), y1 - 1 - ys.max()),
                                         open_sides) if side] or [0]
        gaps = np.maximum(np.array(gaps, np.float64), 0.0) / long_side
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        votes = sum(_iou(mask, other) >= AGREE_IOU for j, other in enumerate(masks) if j != k)
        rows.append([
            sep1, sep2, float(gaps.max()), float(gaps.mean()),
            float(mask[band].mean()) if band.any() else 0.0,
            *_outline_features(mask, area, gradient, levels),
            count - 1, float(stats[1:, cv2.CC_STAT_AREA].max()) / area if count > 1 else 0.0, votes, thresholds[k],
        ])
    return np.array(rows, np.float64)


def rank_scores(features: np.ndarray, model: tuple | None = None) -> np.ndarray:
    """The ranker's score (a logit: higher is more likely IoU >= 0.8) of each row of answer_features; ``model``:
    (mean, scale, weights, bias), by default the fitted RANK_MEAN, RANK_SCALE, RANK_WEIGHTS, RANK_BIAS (with
    BOX_MODEL, rows of box_features and IoU >= 0.85)."""
    mean, scale, weights, bias = model if model is not None else (RANK_MEAN, RANK_SCALE, RANK_WEIGHTS, RANK_BIAS)
    return ((features - mean) / scale) @ weights + bias
