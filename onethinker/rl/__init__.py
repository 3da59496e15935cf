"""Reinforcement learning: advantage estimators (GRPO, Dr.GRPO, EMA-GRPO), online filtering, the
clipped policy loss, and the native single-machine trainer. The verl plugin calls the same functions."""
