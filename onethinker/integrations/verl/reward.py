"""verl's custom reward function: OneThinker's training reward (:mod:`onethinker.rewards`).

Wiring (the launcher sets it)::

    reward.custom_reward_function.path=pkg://onethinker.integrations.verl.reward
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.format_weight=0.1   (and workers, item_timeout_s)

verl 0.9.1's v1 trainer scores each rollout as soon as it is generated, one at a time, in its reward-loop
workers (``verl/experimental/reward_loop/reward_manager/naive.py`` ``NaiveRewardManager.run_single`` calls
``compute_score(data_source=, solution_str=, ground_truth=, extra_info=, **reward_kwargs)`` in a thread of
each of ``reward.num_workers`` Ray actors); its batch reward manager (``verl/workers/reward_manager/batch.py``)
serves only the deprecated legacy trainer. So :func:`compute_score` is the wired form; :func:`compute_score_batch`
is the same scoring for that batch manager (``reward.reward_manager.name=batch``, legacy trainer only).

Both call :class:`onethinker.rewards.RewardScorer` (one per process, kept between calls: its worker
processes score under a per-item time limit and remember repeated answers) and return, per rollout,
``{"score": overall, "accuracy", "format", "structure"}``. verl takes ``score`` as the reward and keeps
every key as reward extra info: the onethinker trainer logs them per task, and dynamic sampling reads
``accuracy`` (``algorithm.filter_groups.metric=accuracy``).

The item's ``problem_type`` and ``data_type`` come from ``extra_info`` (written by
``onethinker data convert --to verl``); a row without them is bad data and raises, naming the fields.
The POLAR judge is not offered (the launcher refuses it): it normalises the rollouts of one prompt
together, and verl scores them one by one.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Mapping, Sequence

from ...reward import RewardConfig, RewardResult, RewardScorer

#: reward worker processes per verl reward-loop actor (verl runs ``reward.num_workers`` actors)
DEFAULT_WORKERS = 1
_KWARGS = ("format_weight", "workers", "item_timeout_s", "start_method")
_VERL_KWARGS = ("reward_router_address", "reward_model_tokenizer")

_lock = threading.Lock()
_scorers: dict[tuple, tuple[RewardScorer, threading.Lock]] = {}


class RewardInputError(ValueError):
    pass


def reward_config(**kwargs: Any) -> RewardConfig:
    """The RewardConfig for ``reward_kwargs`` (format_weight, workers, item_timeout_s, start_method)."""
    unknown = sorted(set(kwargs) - set(_KWARGS))
    if unknown:
        raise RewardInputError(f"unknown reward_kwargs {unknown}; expected some of {list(_KWARGS)}")
    cfg = RewardConfig(workers=DEFAULT_WORKERS)
    values = {k: kwargs[k] for k in _KWARGS if kwargs.get(k) is not None}
    if "format_weight" in values:
        values["format_weight"] = float(values["format_weight"])
    if "workers" in values:
        values["workers"] = int(values["workers"])
    if "item_timeout_s" in values:
        values["item_timeout_s"] = float(values["item_timeout_s"])
    return replace(cfg, **values)


def scorer_for(cfg: RewardConfig) -> tuple[RewardScorer, threading.Lock]:
    """This process's scorer for ``cfg`` and the lock that serialises its use (verl calls from threads)."""
    key = (cfg.format_weight, cfg.workers, cfg.item_timeout_s, cfg.start_method)
    with _lock:
        entry = _scorers.get(key)
        if entry is None:
            entry = _scorers[key] = (RewardScorer(cfg), threading.Lock())
        return entry


def _field(extra_info: Any, name: str, index: int | None) -> Any:
    value = extra_info.get(name) if isinstance(extra_info, Mapping) else None
    if value is None or (isinstance(value, str) and not value.strip()):
        where = f"row {index}: " if index is not None else ""
        raise RewardInputError(
            f"{where}extra_info.{name} is missing (got extra_info={_short(extra_info)}); verl rows need "
            "extra_info.problem_type and extra_info.data_type - convert records with `onethinker data convert "
            "FILE --to verl --out OUT.parquet`"
        )
    return value


def _short(obj: Any) -> str:
    text = repr(obj)
    return text if len(text) <= 200 else text[:200] + "..."


def to_item(solution_str: str, ground_truth: Any, extra_info: Any, index: int | None = None) -> dict[str, Any]:
    """The :mod:`onethinker.rewards` item for one verl rollout."""
    return {
        "response": "" if solution_str is None else str(solution_str),
        "ground_truth": ground_truth,
        "problem_type": str(_field(extra_info, "problem_type", index)),
        "data_type": str(_field(extra_info, "data_type", index)),
        "problem_id": extra_info.get("problem_id"),
        "problem": extra_info.get("problem") or "",
    }


def to_verl(result: RewardResult) -> dict[str, float]:
    return {"score": float(result.overall), "accuracy": float(result.accuracy), "format": float(result.format),
            "structure": float(result.structure)}


def score_items(items: Sequence[Mapping[str, Any]], **reward_kwargs: Any) -> list[dict[str, float]]:
    for name in _VERL_KWARGS:  # what verl's reward managers add when a reward model router is configured
        reward_kwargs.pop(name, None)
    scorer, lock = scorer_for(reward_config(**reward_kwargs))
    with lock:
        results = scorer.score_batch(items)
    return [to_verl(r) for r in results]


def compute_score(data_source: Any = None, solution_str: str = "", ground_truth: Any = None,
                  extra_info: Mapping[str, Any] | None = None, **reward_kwargs: Any) -> dict[str, float]:
    """One rollout (verl's per-item reward managers: ``naive``, ``dapo``, the v1 reward loop)."""
    return score_items([to_item(solution_str, ground_truth, extra_info)], **reward_kwargs)[0]


def compute_score_batch(data_sources: Sequence[Any], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any]], **reward_kwargs: Any) -> list[dict[str, float]]:
    """Many rollouts in one call (verl's ``batch`` reward manager; legacy trainer only)."""
    n = len(solution_strs)
    if not (len(ground_truths) == len(extra_infos) == n):
        raise RewardInputError(f"{n} responses, {len(ground_truths)} ground truths, {len(extra_infos)} extra_infos")
    items = [to_item(s, g, e, i) for i, (s, g, e) in enumerate(zip(solution_strs, ground_truths, extra_infos))]
    return score_items(items, **reward_kwargs)
