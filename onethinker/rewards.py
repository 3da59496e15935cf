"""``onethinker.rewards``: the reward (score, score_batch, RewardScorer, RewardConfig); a public entry point, kept at this path. The code lives in ``onethinker.reward.core``."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("onethinker.reward.core")
