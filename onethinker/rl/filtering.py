"""Online filtering ("dynamic sampling", spec/rl-algorithm.md): groups that carry no learning signal
are dropped before advantages are computed, and the trainer samples more prompts to fill the step."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def group_means(group_ids: Sequence[Any], values: Sequence[float]) -> dict[Any, float]:
    sums: dict[Any, list[float]] = {}
    for g, v in zip(group_ids, values):
        sums.setdefault(g, []).append(float(v))
    return {g: float(np.mean(v)) for g, v in sums.items()}


def keep_groups(
    group_ids: Sequence[Any],
    accuracies: Sequence[float],
    scores: Sequence[float] | None = None,
    *,
    low: float = 0.01,
    high: float = 0.99,
    drop_equal_scores: bool = False,
) -> set[Any]:
    """The groups to keep: mean accuracy strictly between ``low`` and ``high`` (paper: 0.01, 0.99);
    with ``drop_equal_scores``, also not every overall score equal (continuous rewards let such groups
    through the accuracy test, yet their advantages are all zero)."""
    if len(group_ids) != len(accuracies):
        raise ValueError(f"{len(group_ids)} group ids for {len(accuracies)} accuracies")
    means = group_means(group_ids, accuracies)
    keep = {g for g, m in means.items() if low < m < high}
    if drop_equal_scores:
        if scores is None:
            raise ValueError("drop_equal_scores needs the scores")
        by_group: dict[Any, list[float]] = {}
        for g, s in zip(group_ids, scores):
            by_group.setdefault(g, []).append(float(s))
        keep = {g for g in keep if max(by_group[g]) - min(by_group[g]) > 1e-12}
    return keep


def mask_for(group_ids: Sequence[Any], keep: set[Any]) -> np.ndarray:
    """Boolean per rollout: whether its group is kept."""
    return np.fromiter((g in keep for g in group_ids), dtype=bool, count=len(group_ids))
