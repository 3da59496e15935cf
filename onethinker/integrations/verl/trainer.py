"""The onethinker trainer for verl 0.9.1: verl's synchronous v1 trainer (``PPOTrainerSync``) plus hooks.

Selected with ``trainer.use_v1=True trainer.v1.trainer_mode=onethinker`` (registered by :mod:`.plugin` in
verl's trainer registry, ``verl/trainer/ppo/v1/trainer_base.py`` ``register_trainer``). It changes no
algorithm of verl's; it overrides five methods of ``verl/trainer/ppo/v1/trainer_base.py`` ``PPOTrainer``:

- ``_fetch_one_gen_batch``: verl's own body, except that each prompt's group uid carries its task key
  (:mod:`.uid`), which is how the task key reaches the ``ema_grpo`` estimator;
- ``_save_checkpoint`` / ``_load_checkpoint``: the EMA-GRPO state goes into verl's
  ``global_step_<N>/ema_state.json`` before verl saves the step, and comes back after verl loads it
  (:mod:`.state`);
- ``_build_replay_buffer``: verl's sync replay buffer, with OneThinker's group filter
  (:func:`onethinker.rl.filtering.keep_groups`: mean accuracy <= low or >= high, optionally all-equal
  scores) in place of verl's "metric identical across the group" rule, and a bound on how many groups one
  step may filter (``max_sampling_tries`` x the prompts of a step);
- ``_compute_metrics``: adds per-task reward parts (score, accuracy, format, structure) and the EMA-GRPO
  statistics (m1, EMA std, batch mean score, share of guarded groups) to what verl logs.

verl's sync code paths test ``trainer_mode == "sync"``, so the trainer sets the config's trainer mode
back to ``sync`` once verl has picked this class.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import transfer_queue as tq
from omegaconf import open_dict
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils import tensordict_utils as tu

from ...rl.filtering import group_means, keep_groups
from ...tasks import task_key
from . import ESTIMATOR, state
from . import uid as uids

log = logging.getLogger(__name__)

#: reward extra-info keys returned by :mod:`.reward` (the overall reward is ``score``)
REWARD_PARTS = ("score", "accuracy", "format", "structure")


def _section(config: Any) -> dict[str, Any]:
    section = config.algorithm.get("onethinker", None)
    return dict(section) if section else {}


def batch_tasks(batch_dict: dict[str, Any]) -> list[str]:
    """The task key of every prompt of a collated verl batch (from ``extra_info``)."""
    infos = batch_dict.get("extra_info")
    if infos is None:
        raise ValueError("verl batch has no extra_info column: convert records with `onethinker data convert --to verl`")
    tasks = []
    for i, info in enumerate(infos):
        info = info if isinstance(info, dict) else {}
        problem_type, data_type = info.get("problem_type"), info.get("data_type")
        if not problem_type:
            raise ValueError(f"verl row {info.get('index', i)}: extra_info.problem_type is missing (got {info!r}); "
                             "convert records with `onethinker data convert --to verl`")
        tasks.append(task_key(problem_type, data_type))
    return tasks


def trajectory_extra(value: Any) -> dict[str, Any]:
    """The reward extra info of one trajectory's ``extra_fields`` as TransferQueue returns it."""
    fields = getattr(value, "data", value)
    info = fields.get("reward_extra_info", {}) if isinstance(fields, dict) else {}
    return info if isinstance(info, dict) else {}


class OneThinkerReplayBuffer(ReplayBuffer):
    """verl's sync replay buffer with OneThinker's group filter (see the module docstring).

    verl builds and configures the buffer (``algorithm.filter_groups.enable=True``,
    ``metric=accuracy``: one-prompt refills, bounded in-flight prompts); :meth:`OneThinkerTrainer._build_replay_buffer`
    then gives it this class and calls :meth:`configure`. Only the group rule and the bound differ.
    """

    filter_low = 0.01
    filter_high = 0.99
    drop_equal_scores = False
    max_sampling_tries = 20
    _filtered_this_step = 0
    _step_batch_size = 0

    def configure(self, low: float, high: float, drop_equal_scores: bool, max_sampling_tries: int) -> None:
        self.filter_low, self.filter_high = float(low), float(high)
        self.drop_equal_scores = bool(drop_equal_scores)
        self.max_sampling_tries = max(1, int(max_sampling_tries))

    def sample(self, global_steps: int, partition_id: str, batch_size: int):
        self._filtered_this_step = 0
        self._step_batch_size = batch_size
        return super().sample(global_steps=global_steps, partition_id=partition_id, batch_size=batch_size)

    def classify(self, values: dict[str, list[tuple[float, float]]]) -> dict[str, float | None]:
        """uid -> its mean accuracy when the group is dropped, None when kept. ``values``: uid -> [(accuracy, score)]."""
        groups = [u for u, rows in values.items() for _ in rows]
        acc = [a for rows in values.values() for a, _ in rows]
        score = [s for rows in values.values() for _, s in rows]
        keep = keep_groups(groups, acc, score, low=self.filter_low, high=self.filter_high,
                           drop_equal_scores=self.drop_equal_scores)
        means = group_means(groups, acc)
        return {u: (None if u in keep else round(means[u], 4)) for u in values}

    def _dapo_filtered_keys(self, partition_id: str) -> tuple[set[str], Counter]:
        # Same reading as verl's ReplayBuffer._dapo_filtered_keys; OneThinker's rule decides.
        if partition_id == "val" or self.filter_groups_metric is None:
            return set(), Counter()
        finished = self.finished_keys[partition_id]
        cache = self._dapo_classification_cache[partition_id]
        for u in cache.keys() - finished:
            del cache[u]
        new = finished - cache.keys()
        keys = [k for k in self.partitions[partition_id] if k.split("_")[0] in new]
        missing = new - {k.split("_")[0] for k in keys}
        values: dict[str, list[tuple[float, float]]] = defaultdict(list)
        if keys:
            data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=["extra_fields"])
            for key, value in zip(keys, list(data["extra_fields"]), strict=True):
                info = trajectory_extra(value)
                u = key.split("_")[0]
                if self.filter_groups_metric not in info or "score" not in info:
                    missing.add(u)
                else:
                    values[u].append((float(info[self.filter_groups_metric]), float(info["score"])))
        if missing:
            raise RuntimeError(f"finished groups lack the reward extra info {self.filter_groups_metric!r} / 'score' "
                               f"(is reward.custom_reward_function the onethinker one?): {sorted(missing)[:5]}")
        decided = self.classify({u: values[u] for u in new})
        cache.update(decided)
        newly = sum(v is not None for v in decided.values())
        self._filtered_this_step += newly
        limit = self.max_sampling_tries * max(1, self._step_batch_size)
        if newly and self._filtered_this_step >= limit:
            raise RuntimeError(
                f"dynamic sampling filtered {self._filtered_this_step} groups in one step (the limit is "
                f"max_sampling_tries {self.max_sampling_tries} x {self._step_batch_size} prompts): almost every group's "
                f"mean accuracy is <= {self.filter_low} or >= {self.filter_high}. The data is too hard or too easy for "
                "the policy; raise algorithm.max_sampling_tries or set algorithm.filter_groups=false."
            )
        dropped = {u: v for u, v in cache.items() if v is not None}
        return set(dropped), Counter(dropped.values())


class OneThinkerTrainer(PPOTrainerSync):
    """verl's sync PPO trainer with OneThinker's hooks (see the module docstring)."""

    def __init__(self, config: Any):
        with open_dict(config):
            config.trainer.v1.trainer_mode = "sync"  # verl's sync code paths key on this name
        estimator = config.algorithm.adv_estimator
        try:
            get_adv_estimator_fn(estimator)
        except ValueError as e:
            raise RuntimeError(f"advantage estimator {estimator!r} is not registered in verl ({e}); the onethinker "
                               "plugin registers ema_grpo - is onethinker installed in this environment?") from e
        self.ema_stats = state.bind(state.stats_from_config(config.algorithm)) if estimator == ESTIMATOR else None
        super().__init__(config)

    # -- task keys in the group uids ---------------------------------------------------------------
    def _fetch_one_gen_batch(self):
        try:
            if self.train_dataloader_it is None:
                self.train_dataloader_it = iter(self.train_dataloader)
            batch_dict = next(self.train_dataloader_it)
        except StopIteration:
            self.train_dataloader_it = iter(self.train_dataloader)
            batch_dict = next(self.train_dataloader_it)
        batch_dict["uid"] = np.array([uids.make_uid(t, str(uuid.uuid4())) for t in batch_tasks(batch_dict)], dtype=object)
        return tu.get_tensordict(batch_dict)

    # -- EMA state with verl's checkpoints ---------------------------------------------------------
    def _step_dir(self, step: int) -> str:
        root = self.config.trainer.default_local_dir
        if not os.path.isabs(root):
            root = os.path.join(os.getcwd(), root)
        return os.path.join(root, f"global_step_{step}")

    def _save_checkpoint(self):
        if self.ema_stats is not None:
            path = state.save(self.ema_stats, self._step_dir(self.global_steps), self.global_steps)
            log.info("EMA-GRPO state saved to %s", path)
        super()._save_checkpoint()

    def _load_checkpoint(self):
        super()._load_checkpoint()
        if self.ema_stats is None or self.global_steps == 0:
            return
        if self.config.trainer.resume_mode == "resume_path":
            folder = self.config.trainer.resume_from_path
            folder = folder if os.path.isabs(folder) else os.path.join(os.getcwd(), folder)
        else:
            folder = self._step_dir(self.global_steps)
        state.load(self.ema_stats, folder)
        log.info("EMA-GRPO state restored from %s (tasks: %s)", folder, ", ".join(sorted(self.ema_stats.m1)) or "none")

    # -- OneThinker's group filter in verl's dynamic sampling --------------------------------------
    def _build_replay_buffer(self):
        buffer = super()._build_replay_buffer()
        if type(buffer) is ReplayBuffer and buffer.filter_groups_metric is not None:
            s = _section(self.config)
            buffer.__class__ = OneThinkerReplayBuffer
            buffer.configure(low=s.get("filter_low", 0.01), high=s.get("filter_high", 0.99),
                             drop_equal_scores=s.get("drop_equal_scores", False),
                             max_sampling_tries=s.get("max_sampling_tries", 20))
        return buffer

    # -- metrics -----------------------------------------------------------------------------------
    def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
        super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)
        try:
            metrics.update(self._onethinker_metrics(batch))
        except Exception as e:  # noqa: BLE001 - metrics must not stop training; say so once
            if not getattr(self, "_metrics_warned", False):
                log.warning("onethinker per-task metrics unavailable: %s: %s", type(e).__name__, e)
                self._metrics_warned = True

    def _onethinker_metrics(self, batch) -> dict[str, float]:
        out: dict[str, float] = {}
        keys = [k for k, tag in zip(batch.keys, batch.tags) if not tag.get("is_padding", False)]
        if keys:
            data = tq.kv_batch_get(keys=keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
            sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
            for key, value in zip(keys, list(data["extra_fields"]), strict=True):
                info = trajectory_extra(value)
                u = key.split("_")[0]
                task = uids.task_of(u) if uids.has_task(u) else "unknown"
                for part in REWARD_PARTS:
                    if part in info:
                        sums[task][part].append(float(info[part]))
                        sums["all"][part].append(float(info[part]))
            for task, parts in sums.items():
                for part, vals in parts.items():
                    out[f"onethinker/reward/{task}/{part}"] = float(np.mean(vals))
        if self.ema_stats is not None:
            for task, last in self.ema_stats.last.items():
                for name, value in last.items():
                    out[f"onethinker/ema/{task}/{name}"] = float(value)
        return out
