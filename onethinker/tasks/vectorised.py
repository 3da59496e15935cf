"""The reward of one constant answer against many truths, in numpy (spec/rewards.md sections 4-5).

The majority baseline (``onethinker.evaluate.baseline``) ranks hundreds of candidate constant answers
against thousands of training answers; the batch scorer would take minutes, this takes a second. A task
whose answers are numbers, spans, boxes, points or per-second box tables opts in by setting
``Task.vectorised`` and implementing three methods with the pieces here:

- ``vector_parse(texts, table_keys=None) -> Columns``: its answers parsed into arrays (NaN, or a
  False mask, where the reward would score 0);
- ``vector_parts(cand, i, truth) -> (accuracy, structure)``: candidate ``i`` of ``cand`` against every
  row of ``truth``, each an (N,) array, equal to the task's own ``accuracy`` / ``structure``;
- ``median_answer(texts) -> str | None``: the per-coordinate median of the answers, in the answer form.

These are used to rank only: the baseline rescores its finalists exactly with the batch scorer.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .base import clean_number, json_object
from .geometry import REWARD_MIN_UNION, as_number, box_iou_np, is_json_number, number_list, point_list

__all__ = ["Columns", "median", "point_sim", "table_iou", "key_overlap", "median_table", "num"]

_PERMS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
_NAN4 = [math.nan] * 4


class Columns:
    """Answers of one task parsed into arrays; the fields are set by the parsers below.

    ``n`` rows; ``objs``: the JSON objects (None where an answer is not one, all None for plain numbers).
    Fields: ``value`` (N,) numbers; ``span`` (N, 2); ``box`` (N, 4); ``points_ok``, ``pos``, ``neg``
    (N, 3, 2); ``time_ok``, ``time`` (a key time); ``table_ok``, ``table_keys``, ``table`` (N, K, 4),
    ``present`` (N, K), ``all_boxes``; ``time_list``."""

    def __init__(self, texts: Sequence[str], *, json: bool = True) -> None:
        self.n = len(texts)
        self.objs = [json_object(t) for t in texts] if json else [None] * self.n

    # -- parsers ---------------------------------------------------------------------------------
    def numbers(self, texts: Sequence[str]) -> "Columns":
        self.value = np.array([_num(t) for t in texts], dtype=np.float64)
        return self

    def spans(self, field: str = "time") -> "Columns":
        self.span = np.array([_span(o.get(field)) if o else [math.nan] * 2 for o in self.objs],
                             dtype=np.float64).reshape(self.n, 2)
        return self

    def boxes(self, field: str = "boxes") -> "Columns":
        self.box = np.array([_box(o.get(field)) if o else _NAN4 for o in self.objs], dtype=np.float64).reshape(self.n, 4)
        return self

    def points(self) -> "Columns":
        n, objs = self.n, self.objs
        pos = [point_list(o.get("positive_points"), 3) if o else None for o in objs]
        neg = [point_list(o.get("negative_points"), 3) if o else None for o in objs]
        self.points_ok = np.array([p is not None and q is not None for p, q in zip(pos, neg)], dtype=bool)
        blank = [[math.nan, math.nan]] * 3
        self.pos = np.array([p or blank for p in pos], dtype=np.float64).reshape(n, 3, 2)
        self.neg = np.array([q or blank for q in neg], dtype=np.float64).reshape(n, 3, 2)
        return self

    def key_time(self) -> "Columns":
        times = [o.get("time") if o else None for o in self.objs]
        self.time_ok = np.array([is_json_number(t) for t in times], dtype=bool)
        self.time = np.array([float(t) if ok else math.nan for t, ok in zip(times, self.time_ok)], dtype=np.float64)
        return self

    def tables(self, table_keys: Sequence[str] | None = None) -> "Columns":
        """Per-second box tables under 'boxes'; columns ``table_keys`` (default: every key, first seen
        first)."""
        n = self.n
        tables = [o.get("boxes") if o else None for o in self.objs]
        self.table_ok = np.array([isinstance(t, dict) for t in tables], dtype=bool)
        if table_keys is None:
            table_keys = list(dict.fromkeys(k for t in tables if isinstance(t, dict) for k in t))
        self.table_keys = list(table_keys)
        index = {k: i for i, k in enumerate(self.table_keys)}
        k = len(self.table_keys)
        self.table = np.full((n, k, 4), math.nan)
        self.present = np.zeros((n, k), dtype=bool)
        for row, t in enumerate(tables):
            if not isinstance(t, dict):
                continue
            for name, value in t.items():
                j = index.get(name)
                if j is None:
                    continue
                self.present[row, j] = True
                self.table[row, j] = _box(value)
        # structure: every value of the table is a list of 4 numbers (an empty table passes)
        self.all_boxes = np.array(
            [isinstance(t, dict) and all(number_list(v, 4) is not None for v in t.values()) for t in tables], dtype=bool
        )
        return self

    def time_lists(self) -> "Columns":
        self.time_list = np.array([isinstance(o.get("time"), list) and len(o["time"]) == 2 if o else False
                                   for o in self.objs], dtype=bool)
        return self


def _num(text: str) -> float:
    x = as_number(text.replace(",", "")) if isinstance(text, str) else None
    return math.nan if x is None else x


def _box(value: Any) -> list[float]:
    b = number_list(value, 4)
    return _NAN4 if b is None else b


def _span(value: Any) -> list[float]:
    s = number_list(value, 2)
    return [math.nan, math.nan] if s is None else s


# ---------------------------------------------------------------------------------------------
# reward pieces
# ---------------------------------------------------------------------------------------------
def point_sim(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Point-set similarity of one (3, 2) candidate against (N, 3, 2) truths (best matching, Gaussian)."""
    d = np.sqrt(((pred[None, :, None, :] - truth[:, None, :, :]) ** 2).sum(-1))  # (N, pred i, truth j)
    best = np.min([d[:, p[0], 0] + d[:, p[1], 1] + d[:, p[2], 2] for p in _PERMS], axis=0) / 3.0
    sim = np.exp(-(best**2) / (2 * 50.0**2))
    return np.nan_to_num(np.clip(sim, 0.0, 1.0), nan=0.0)


def key_overlap(cand_present: np.ndarray, truth: Columns) -> np.ndarray:
    """0.25 * |candidate keys & truth keys| / |truth keys| (0 when the truth's table is empty or absent)."""
    n_truth = truth.present.sum(1)
    shared = (truth.present & cand_present[None, :]).sum(1)
    frac = np.where(n_truth > 0, shared / np.maximum(n_truth, 1), 0.0)
    return np.where(truth.table_ok, 0.25 * np.clip(frac, 0.0, 1.0), 0.0)


def table_iou(cand: Columns, i: int, truth: Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IoU per truth and table key (N, K), both answers have a table (N,), key overlap (N,)) of
    candidate ``i``'s box table."""
    iou = box_iou_np(cand.table[i][None, :, :], truth.table, min_union=REWARD_MIN_UNION)  # (N, K)
    both_tables = truth.table_ok & cand.table_ok[i]
    overlap = key_overlap(cand.present[i], truth) if cand.table_ok[i] else np.zeros(truth.n)
    return iou, both_tables, overlap


# ---------------------------------------------------------------------------------------------
# medians
# ---------------------------------------------------------------------------------------------
def median(a: np.ndarray) -> Any:
    """The NaN-ignoring median over rows, or None when no value is finite."""
    with np.errstate(all="ignore"):
        return np.nanmedian(a, axis=0) if np.isfinite(a).any() else None


def num(x: float) -> int | float:
    return clean_number(float(x), 3)


def median_table(p: Columns) -> dict[str, list]:
    """Per table key, the median over the answers that have a valid box there (keys first seen first)."""
    table: dict[str, list] = {}
    for j, name in enumerate(p.table_keys):
        boxes = p.table[:, j][p.present[:, j] & np.isfinite(p.table[:, j]).all(1)]
        if len(boxes):
            table[name] = [num(v) for v in np.median(boxes, axis=0)]
    return table
