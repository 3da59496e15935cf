"""Input checks shared by the benchmark metrics (``onethinker.evaluate.metrics``): predictions as rows
with NaN for unparseable items, ground truth that must be finite, non-empty benchmarks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------
def _nonempty(n: int, what: str) -> None:
    if n == 0:
        raise ValueError(f"{what}: no items to score")


def _pred_rows(values: Any, width: int, what: str) -> np.ndarray:
    """Predictions as an (N, width) float64 array; None or malformed rows become NaN rows (score 0)."""
    if values is None:
        raise ValueError(f"{what}: predictions missing (pass one row per item, None for an unparseable one)")
    if isinstance(values, np.ndarray) and values.dtype != object:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 1 and arr.size == 0:
            return arr.reshape(0, width)
        if arr.ndim != 2 or arr.shape[1] != width:
            raise ValueError(f"{what}: predictions must have shape (N, {width}), got {arr.shape}")
        return arr
    rows = []
    for row in values:
        if row is None:
            rows.append([math.nan] * width)
            continue
        try:
            r = np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            r = None
        rows.append(r if r is not None and r.shape == (width,) else [math.nan] * width)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)


def _truth_rows(values: Any, width: int, what: str) -> np.ndarray:
    """Ground truth as an (N, width) finite float64 array, else a ValueError naming the first bad row."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: ground truth must be rows of {width} numbers ({exc})") from None
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, width)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"{what}: ground truth must have shape (N, {width}), got {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: ground truth row {int(bad[0])} is not finite: {arr[bad[0]].tolist()}")
    return arr


def _same_length(pred: np.ndarray, gt: np.ndarray, what: str) -> None:
    if len(pred) != len(gt):
        raise ValueError(f"{what}: {len(pred)} predictions for {len(gt)} ground-truth items")


def _f(x: Any) -> float:
    return float(x)
