"""SFT cold start: record files -> labelled batches -> transformers' Trainer -> a Qwen-VL that answers in the
``<think>...</think><answer>...</answer>`` format.

>>> from onethinker.config import load_config
>>> from onethinker.sft import SFTConfig, train_sft
>>> summary = train_sft(load_config(SFTConfig, "configs/demo-sft.yaml", ["root=runs/demo"]))

Importing this package does not import torch or transformers; the functions do, when called.
"""

from .config import FormatCheckConfig, SFTConfig, SFTDataConfig, SFTModelConfig, SFTTrainConfig
from .data import (
    STATS_KEY,
    LengthGroupedSampler,
    SFTCollator,
    SFTDataError,
    SFTDataset,
    estimate_lengths,
    labels_from_mask,
    load_sft_dataset,
)
from .trainer import SFTError, count_parts, format_check, freeze_vision, param_part, resolve_resume, train_sft

__all__ = [
    "STATS_KEY",
    "FormatCheckConfig",
    "LengthGroupedSampler",
    "SFTCollator",
    "SFTConfig",
    "SFTDataConfig",
    "SFTDataError",
    "SFTDataset",
    "SFTError",
    "SFTModelConfig",
    "SFTTrainConfig",
    "count_parts",
    "estimate_lengths",
    "format_check",
    "freeze_vision",
    "labels_from_mask",
    "load_sft_dataset",
    "param_part",
    "resolve_resume",
    "train_sft",
]
