"""Learning-rate multipliers shared by the trainers that set their own schedule (the perception stage, RL)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, warmup: int, total: int, floor: float = 0.0) -> float:
    """The multiplier at ``step`` (0-based): linear warm-up over ``warmup`` steps, then a cosine from 1 to
    ``floor`` at ``total``, held there after."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
