"""Models: load any Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint (optionally with LoRA), build the tiny
offline Qwen3-VL, and turn chat conversations into model inputs / generations.

>>> from onethinker.models import load, build_inputs, generate
>>> model, processor = load("runs/tiny")                      # or "Qwen/Qwen3-VL-8B-Instruct"
>>> replies = generate(model, processor, [messages], max_new_tokens=256)   # [[str]]

Importing this package does not import torch or transformers; the functions do, when called.
"""

from .inputs import MediaItemError, assistant_mask, build_inputs, collect_media, generate, input_device
from .loading import (
    LANGUAGE_LINEAR_MODULES,
    SUPPORTED_MODEL_TYPES,
    LoadConfig,
    LoraSpec,
    ModelLoadError,
    ModelNotFoundError,
    load,
    lora_config,
)
from .tiny import SIZES, TinySize, build_tiny

__all__ = [
    "LANGUAGE_LINEAR_MODULES",
    "SIZES",
    "SUPPORTED_MODEL_TYPES",
    "LoadConfig",
    "LoraSpec",
    "MediaItemError",
    "ModelLoadError",
    "ModelNotFoundError",
    "TinySize",
    "assistant_mask",
    "build_inputs",
    "build_tiny",
    "collect_media",
    "generate",
    "input_device",
    "load",
    "lora_config",
]
