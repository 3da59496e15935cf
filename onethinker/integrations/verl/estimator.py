"""The ``ema_grpo`` advantage estimator in verl's form, registered by :mod:`.plugin`.

verl 0.9.1 calls a registered estimator from ``verl/trainer/ppo/ray_trainer.py`` ``compute_advantage``
(the v1 trainer reaches it through ``verl/trainer/ppo/v1/utils.py``
``compute_advantage_for_multi_trajectories``) as::

    adv_estimator_fn(token_level_rewards=..., response_mask=..., config=<algorithm config>, index=<uids>)

and expects ``(advantages, returns)``, both (batch, response length). This function sums each rollout's
token-level reward into its outcome score, reads its task key from the group uid (:mod:`.uid`) and calls
:func:`onethinker.rl.advantages.ema_grpo` - the native trainer's function - with the run's EMA state
(:mod:`.state`); the advantage is broadcast over the response tokens, and returns equal advantages (as for
verl's own GRPO).

Rows verl adds to fill its batch to a multiple of the data-parallel size
(``verl/trainer/ppo/padding_utils.py``: uid ``pad<hex>``, empty response mask) carry no task key; they get
advantage 0 and stay out of the statistics. Any other row without a task key is an error: it means the run
does not use the onethinker trainer (``trainer.v1.trainer_mode=onethinker``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ...rl.advantages import AdvantageError, ema_grpo
from . import state, uid


def split_rows(index: Sequence[Any], response_mask: torch.Tensor) -> tuple[list[int], list[str]]:
    """(rows that take part, their task keys); raises for a real row whose uid carries no task key."""
    rows: list[int] = []
    tasks: list[str] = []
    lengths = response_mask.sum(dim=-1)
    for i, u in enumerate(index):
        try:
            tasks.append(uid.task_of(u))
        except uid.UidError:
            if float(lengths[i]) == 0:  # verl's synthetic padding row
                continue
            raise AdvantageError(
                f"ema_grpo: the group uid {str(u)!r} of row {i} carries no task key. EMA-GRPO keeps statistics per "
                "task, and the task key travels in the uid, which the onethinker trainer sets: run verl with "
                "trainer.use_v1=True trainer.v1.trainer_mode=onethinker (the onethinker launcher does)."
            ) from None
        rows.append(i)
    return rows, tasks


def compute_ema_grpo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Sequence[Any] | np.ndarray | None = None,
    config: Any = None,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """EMA-GRPO advantages for a verl batch; updates the bound EMA state (see module docstring)."""
    if index is None:
        raise AdvantageError("ema_grpo: verl passed no group uids (non_tensor_batch['uid']) to the estimator")
    if len(index) != token_level_rewards.shape[0]:
        raise AdvantageError(f"ema_grpo: {len(index)} group uids for {token_level_rewards.shape[0]} rollouts")
    stats = state.current(config)
    scores = token_level_rewards.sum(dim=-1)
    rows, tasks = split_rows(index, response_mask)
    advantages = torch.zeros_like(scores)
    if rows:
        take = torch.as_tensor(rows, dtype=torch.long, device=scores.device)
        groups = [str(index[i]) for i in rows]
        advantages[take] = ema_grpo(scores[take], groups, tasks, stats).to(advantages.dtype)
    advantages = advantages.unsqueeze(-1) * response_mask
    return advantages, advantages
