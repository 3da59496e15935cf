"""The generator interface shared by evaluation, inference and RL rollouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SamplingConfig:
    """Decoding settings. temperature 0 = greedy (evaluation); RL samples at 1.0."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    n: int = 1  # samples per prompt
    seed: int = 0


@dataclass
class GenerationRequest:
    """One prompt: chat messages, plus the record it came from (the scripted model reads its ground truth;
    real models ignore it)."""

    messages: list[dict]
    record: dict = field(default_factory=dict)


class Generator:
    """Base class. ``generate`` returns, per request, ``sampling.n`` completions."""

    name: str = "generator"

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[str]]:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


def build_generator(backend: str, model: str | None = None, **options: Any) -> Generator:
    """``backend``: "transformers", "vllm", "openai" or "scripted"."""
    if backend == "transformers":
        from .hf import TransformersGenerator

        if not model:
            raise ValueError("the transformers back-end needs --model (a local path or hub id)")
        return TransformersGenerator(model, **options)
    if backend == "vllm":
        from .vllm_backend import VLLMGenerator

        if not model:
            raise ValueError("the vllm back-end needs --model")
        return VLLMGenerator(model, **options)
    if backend == "openai":
        from .openai_backend import OpenAIGenerator

        if not model:
            raise ValueError("the openai back-end needs --model (the served model's name)")
        return OpenAIGenerator(model, **options)
    if backend == "scripted":
        from .scripted import ScriptedGenerator

        return ScriptedGenerator(**options)
    raise ValueError(f"unknown back-end {backend!r}; expected transformers, vllm, openai or scripted")
