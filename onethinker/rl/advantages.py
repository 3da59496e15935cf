"""Advantage estimators (spec/rl-algorithm.md): one scalar per rollout, broadcast over its tokens.

- ``grpo``: (r - group mean) / (group std with Bessel's correction + eps)
- ``dr_grpo``: r - group mean
- ``ema_grpo`` (OneThinker): (r - group mean) / (running per-task std + eps), with a guard rail that
  falls back to the group's own (population) std for a group whose advantages would exceed ``guard``.

A group is the rollouts of one prompt (same group id, at least 2); a task key is the problem type,
with segmentation split into image and video. The per-task running moments live in ``EMAStats``, an
explicit object saved with every checkpoint (``state_dict`` / ``load_state_dict``). For data-parallel
training, call ``ema_grpo`` with the scores gathered from all ranks so every rank holds the same state.

The public API is used by the native trainer and the verl plugin alike; nothing algorithmic lives
elsewhere. All arithmetic is in float64; the result has the dtype of ``scores``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch


class AdvantageError(ValueError):
    pass


def _groups(group_ids: Sequence[Any], n: int) -> tuple[np.ndarray, int]:
    if len(group_ids) != n:
        raise AdvantageError(f"{len(group_ids)} group ids for {n} scores")
    index: dict[Any, int] = {}
    inverse = np.fromiter((index.setdefault(g, len(index)) for g in group_ids), dtype=np.int64, count=n)
    sizes = np.bincount(inverse, minlength=len(index))
    if n and sizes.min() < 2:
        small = [g for g, i in index.items() if sizes[i] < 2][:5]
        raise AdvantageError(f"every group needs at least 2 rollouts; group(s) {small} have 1")
    return inverse, len(index)


def _group_moments(r: np.ndarray, inverse: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group count, mean and sum of squared deviations."""
    count = np.bincount(inverse, minlength=k).astype(np.float64)
    mean = np.bincount(inverse, weights=r, minlength=k) / count
    dev = r - mean[inverse]
    ss = np.bincount(inverse, weights=dev * dev, minlength=k)
    return count, mean, ss


def _as_array(scores: torch.Tensor) -> np.ndarray:
    if not isinstance(scores, torch.Tensor) or scores.dim() != 1:
        raise AdvantageError("scores must be a 1-D torch tensor")
    r = scores.detach().to(torch.float64).cpu().numpy()
    if not np.all(np.isfinite(r)):
        raise AdvantageError("scores must be finite")
    return r


def _out(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(values).to(device=like.device, dtype=like.dtype if like.is_floating_point() else torch.float32)


def grpo(scores: torch.Tensor, group_ids: Sequence[Any], eps: float = 1e-6) -> torch.Tensor:
    """A = (r - mean_group) / (std_group + eps), std with Bessel's correction (unbiased)."""
    r = _as_array(scores)
    inverse, k = _groups(group_ids, len(r))
    count, mean, ss = _group_moments(r, inverse, k)
    std = np.sqrt(ss / (count - 1))
    return _out((r - mean[inverse]) / (std[inverse] + eps), scores)


def dr_grpo(scores: torch.Tensor, group_ids: Sequence[Any]) -> torch.Tensor:
    """A = r - mean_group (no division)."""
    r = _as_array(scores)
    inverse, k = _groups(group_ids, len(r))
    _, mean, _ = _group_moments(r, inverse, k)
    return _out(r - mean[inverse], scores)


@dataclass
class EMAStats:
    """Per-task running estimates m1 ~ E[r], m2 ~ E[r^2] (the EMA-GRPO state)."""

    decay: float = 0.99
    min_std: float = 1e-3
    guard: float = 5.0
    eps: float = 1e-6
    m1: dict[str, float] = field(default_factory=dict)
    m2: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    #: per task, from the last call: m1, ema_std, batch_mean, guarded (fraction of its groups)
    last: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {self.decay}")
        if self.min_std <= 0 or self.guard <= 0 or self.eps < 0:
            raise ValueError("min_std and guard must be > 0, eps >= 0")

    def update(self, key: str, batch_mean: float, batch_mean_sq: float) -> None:
        """Step 1 for one task key: first sight sets the moments, later batches move them."""
        if key not in self.m1:
            self.m1[key], self.m2[key] = batch_mean, batch_mean_sq
        else:
            d = self.decay
            self.m1[key] = d * self.m1[key] + (1 - d) * batch_mean
            self.m2[key] = d * self.m2[key] + (1 - d) * batch_mean_sq

    def std(self, key: str) -> float:
        """Step 2: s_k = sqrt(max(m2 - m1^2, min_std^2))."""
        return math.sqrt(max(self.m2[key] - self.m1[key] ** 2, self.min_std**2))

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "min_std": self.min_std, "guard": self.guard, "eps": self.eps,
                "m1": dict(self.m1), "m2": dict(self.m2), "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.min_std = float(state["min_std"])
        self.guard = float(state["guard"])
        self.eps = float(state["eps"])
        self.m1 = {str(k): float(v) for k, v in state["m1"].items()}
        self.m2 = {str(k): float(v) for k, v in state["m2"].items()}
        self.steps = int(state.get("steps", 0))
        self.last = {}


def ema_grpo(scores: torch.Tensor, group_ids: Sequence[Any], task_keys: Sequence[str], stats: EMAStats) -> torch.Tensor:
    """EMA-GRPO advantages; updates ``stats`` (this batch's scores are part of the statistics)."""
    r = _as_array(scores)
    n = len(r)
    inverse, k = _groups(group_ids, n)
    if len(task_keys) != n:
        raise AdvantageError(f"{len(task_keys)} task keys for {n} scores")
    keys = np.asarray([str(t) for t in task_keys], dtype=object)
    group_task: list[str | None] = [None] * k
    for i, g in enumerate(inverse):
        t = keys[i]
        if group_task[g] is None:
            group_task[g] = t
        elif group_task[g] != t:
            raise AdvantageError(f"group {list(group_ids)[i]!r} mixes task keys {group_task[g]!r} and {t!r}")
    # 1-2: per-task moments over this batch, then the running std
    present = list(dict.fromkeys(keys.tolist()))
    batch_mean = {}
    for t in present:
        rt = r[keys == t]
        batch_mean[t] = float(rt.mean())
        stats.update(t, batch_mean[t], float(np.mean(rt * rt)))
    s = {t: stats.std(t) for t in present}
    # 3: centre by the group mean, scale by the task's running std
    count, mean, ss = _group_moments(r, inverse, k)
    task_std = np.array([s[t] for t in keys.tolist()])
    adv = (r - mean[inverse]) / (task_std + stats.eps)
    # 4: guard rail, per group: the group's own population std instead
    peak = np.zeros(k)
    np.maximum.at(peak, inverse, np.abs(adv))
    guarded = peak > stats.guard
    if guarded.any():
        pop_std = np.sqrt(ss / count)
        fallback = (r - mean[inverse]) / (pop_std[inverse] + stats.eps)
        adv = np.where(guarded[inverse], fallback, adv)
    stats.steps += 1
    stats.last = {}
    for t in present:
        groups_t = [g for g in range(k) if group_task[g] == t]
        stats.last[t] = {"m1": stats.m1[t], "ema_std": s[t], "batch_mean": batch_mean[t],
                         "guarded": float(np.mean(guarded[groups_t])) if groups_t else 0.0}
    return _out(adv, scores)


ESTIMATORS: dict[str, Callable[..., torch.Tensor]] = {"grpo": grpo, "dr_grpo": dr_grpo, "ema_grpo": ema_grpo}


def compute_advantages(estimator: str, scores: torch.Tensor, group_ids: Sequence[Any], task_keys: Sequence[str],
                       stats: EMAStats | None = None) -> torch.Tensor:
    """Dispatch by name (the config's ``algorithm.estimator``)."""
    if estimator == "grpo":
        return grpo(scores, group_ids, eps=stats.eps if stats else 1e-6)
    if estimator == "dr_grpo":
        return dr_grpo(scores, group_ids)
    if estimator == "ema_grpo":
        if stats is None:
            raise AdvantageError("ema_grpo needs an EMAStats")
        return ema_grpo(scores, group_ids, task_keys, stats)
    raise AdvantageError(f"unknown estimator {estimator!r}; expected one of {', '.join(ESTIMATORS)}")
