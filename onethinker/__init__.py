"""onethinker: data, SFT, EMA-GRPO reinforcement learning, rewards and evaluation for OneThinker."""

__version__ = "0.1.0"
