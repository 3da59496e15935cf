"""Spans, boxes, points and masks: the overlap measures shared by rewards and metrics.

Two flavours of the same definitions:
- scalar functions on plain Python values, used by the rewards (one item at a time, where numpy's
  per-call overhead would dominate);
- vectorised numpy functions on arrays, used by the benchmark metrics.
Tests check that both flavours agree.

Conventions (spec/rewards.md, spec/metrics.md): boxes are ``[x1, y1, x2, y2]``; a box with
``x2 < x1`` or ``y2 < y1`` has area 0; spans are ``[start, end]`` and are *not* swapped unless the
caller asks for it; an IoU whose union is not above ``min_union`` is 0.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

import numpy as np

#: Rewards treat a union at or below this as empty (spec/rewards.md).
REWARD_MIN_UNION = 1e-12


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------
def as_number(value: Any) -> float | None:
    """``float(value)`` when Python's ``float()`` accepts it and the result is finite, else None.

    JSON numbers and strings holding a number (``"12.5"``) are numbers. Booleans, NaN and
    infinities are rejected (the deviation spec/rewards.md allows: the recipe lets them through
    and can return a NaN reward).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, str):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    return None


def is_json_number(value: Any) -> bool:
    """A JSON number proper (int or float, not a string, not a boolean), finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return as_number(value) is not None


def number_list(value: Any, n: int) -> list[float] | None:
    """The floats of ``value`` when it is a list of exactly ``n`` numbers, else None."""
    if not isinstance(value, list) or len(value) != n:
        return None
    # Fast path for the common case, plain JSON numbers (``type(...) is int`` excludes booleans).
    if all(type(v) is int or type(v) is float for v in value):
        try:
            out = [float(v) for v in value]
        except OverflowError:
            return None
        return out if all(map(math.isfinite, out)) else None
    out = []
    for v in value:
        number = as_number(v)
        if number is None:
            return None
        out.append(number)
    return out


def point_list(value: Any, n: int) -> list[list[float]] | None:
    """``n`` points of 2 numbers each, else None."""
    if not isinstance(value, list) or len(value) != n:
        return None
    out = []
    for p in value:
        point = number_list(p, 2)
        if point is None:
            return None
        out.append(point)
    return out


# --------------------------------------------------------------------------------------------
# Scalar measures (rewards)
# --------------------------------------------------------------------------------------------
def span_iou(a: Sequence[float], b: Sequence[float], min_union: float = REWARD_MIN_UNION) -> float:
    """Temporal IoU of two ``[start, end]`` spans, not swapped (an inverted span has no length)."""
    s1, e1 = a
    s2, e2 = b
    inter = max(0.0, min(e1, e2) - max(s1, s2))
    union = max(e1, e2) - min(s1, s2)
    return inter / union if union > min_union else 0.0


def box_area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def box_iou(a: Sequence[float], b: Sequence[float], min_union: float = REWARD_MIN_UNION) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes in continuous coordinates (no +1, no clipping)."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > min_union else 0.0


_PERMUTATIONS_3 = tuple(itertools.permutations(range(3)))


def point_set_similarity(pred: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], sigma: float = 50.0) -> float:
    """Similarity of two sets of 3 points: best one-to-one matching, then a Gaussian kernel.

    d = (smallest sum of Euclidean distances over the 6 matchings) / 3;
    sim = exp(-d^2 / (2 sigma^2)).
    """
    dist = [[math.hypot(p[0] - t[0], p[1] - t[1]) for t in truth] for p in pred]
    best = min(dist[perm[0]][0] + dist[perm[1]][1] + dist[perm[2]][2] for perm in _PERMUTATIONS_3)
    d = best / 3.0
    return max(0.0, min(1.0, math.exp(-(d**2) / (2 * sigma**2))))


def time_similarity(t_pred: float, t_true: float, tau: float = 2.0) -> float:
    """exp(-|t_pred - t_true| / tau): the key-time term of the video segmentation reward."""
    return math.exp(-abs(t_pred - t_true) / tau)


# --------------------------------------------------------------------------------------------
# Vectorised measures (metrics)
# --------------------------------------------------------------------------------------------
def span_iou_np(pred: np.ndarray, gt: np.ndarray, *, sort: bool = False, min_union: float = 0.0) -> np.ndarray:
    """Row-wise temporal IoU of (N, 2) arrays. ``sort`` orders each span to [min, max] first.

    NaN rows (unparseable predictions) give IoU 0.
    """
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 2)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 2)
    if sort:
        pred = np.sort(pred, axis=1)
        gt = np.sort(gt, axis=1)
    inter = np.maximum(0.0, np.minimum(pred[:, 1], gt[:, 1]) - np.maximum(pred[:, 0], gt[:, 0]))
    union = np.maximum(pred[:, 1], gt[:, 1]) - np.minimum(pred[:, 0], gt[:, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > min_union, inter / np.where(union > min_union, union, 1.0), 0.0)
    return np.nan_to_num(iou, nan=0.0)


def box_iou_np(pred: np.ndarray, gt: np.ndarray, *, min_union: float = 0.0) -> np.ndarray:
    """Row-wise IoU of (..., 4) x1y1x2y2 arrays (continuous coordinates). NaN rows give 0."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    iw = np.maximum(0.0, np.minimum(pred[..., 2], gt[..., 2]) - np.maximum(pred[..., 0], gt[..., 0]))
    ih = np.maximum(0.0, np.minimum(pred[..., 3], gt[..., 3]) - np.maximum(pred[..., 1], gt[..., 1]))
    inter = iw * ih
    area_p = np.maximum(0.0, pred[..., 2] - pred[..., 0]) * np.maximum(0.0, pred[..., 3] - pred[..., 1])
    area_g = np.maximum(0.0, gt[..., 2] - gt[..., 0]) * np.maximum(0.0, gt[..., 3] - gt[..., 1])
    union = area_p + area_g - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > min_union, inter / np.where(union > min_union, union, 1.0), 0.0)
    return np.nan_to_num(iou, nan=0.0)


def normalized_to_pixels(values: Sequence[float], width: float, height: float) -> list[float]:
    """0..1000 normalised coordinates (x, y, x, y, ...) to pixels: x * W / 1000, y * H / 1000."""
    return [v * (width if i % 2 == 0 else height) / 1000.0 for i, v in enumerate(values)]


def pixels_to_normalized(values: Sequence[float], width: float, height: float) -> list[float]:
    """Pixels (x, y, x, y, ...) to the 0..1000 frame."""
    return [v * 1000.0 / (width if i % 2 == 0 else height) for i, v in enumerate(values)]
