"""The reward subsystem (spec/rewards.md).

- ``core``: ``score``, ``RewardScorer.score_batch``, ``RewardConfig`` and the typed core ``score_task``;
- ``scorers``: the text comparison back-ends (ROUGE, math-verify, mathruler; fast equivalents);
- ``judge``: the POLAR reward-model client;
- ``pool``: worker processes with a per-item time limit (the symbolic checks run there).

``onethinker.rewards`` stays the public entry point and names the same objects.
"""

from .core import (
    DEFAULT_FORMAT_WEIGHT,
    ITEM_FIELDS,
    BatchStats,
    RewardConfig,
    RewardResult,
    RewardScorer,
    mean_by,
    score,
    score_batch,
)

__all__ = ["DEFAULT_FORMAT_WEIGHT", "ITEM_FIELDS", "BatchStats", "RewardConfig", "RewardResult", "RewardScorer",
           "mean_by", "score", "score_batch"]
