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
    real models ignore it). ``usage``: filled by back-ends that know it, ``{"prompt_tokens",
    "completion_tokens"}`` (the transformers back-end counts them; an OpenAI-compatible server reports them)."""

    messages: list[dict]
    record: dict = field(default_factory=dict)
    usage: dict = field(default_factory=dict)


class Generator:
    """Base class. ``generate`` returns, per request, ``sampling.n`` completions."""

    name: str = "generator"
    #: set by ``register_backend``: the back-end name, the missing-model message (None: takes no model),
    #: the command-line options it reads
    backend: str = ""
    model_hint: str | None = None
    cli_options: tuple[str, ...] = ()
    #: whether batches may be generated at once in forked copies of this process (``onethinker.parallel``):
    #: only a back-end that computes in this process, on a CPU
    forkable: bool = False

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[str]]:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        pass


# -------------------------------------------------------------------------------------------------
# registry: a back-end module registers its class under its name; the factory imports it on first use
# -------------------------------------------------------------------------------------------------
#: the built-in back-ends: name -> the module (in this package) that registers it, imported lazily so that
#: choosing one never imports another's dependencies
BUILTIN_BACKENDS: dict[str, str] = {
    "transformers": "hf",
    "vllm": "vllm_backend",
    "openai": "openai_backend",
    "scripted": "scripted",
}
_REGISTRY: dict[str, type[Generator]] = {}


def register_backend(name: str, *, model_hint: str | None = None, cli_options: tuple[str, ...] = ()):
    """Class decorator: register a ``Generator`` subclass as back-end ``name``.

    ``model_hint``: the error message when ``build_generator`` gets no model (None: the back-end takes no
    model). ``cli_options``: the command-line settings (``onethinker eval``/``infer`` argument names)
    passed to it as keyword options."""
    def deco(cls: type[Generator]) -> type[Generator]:
        cls.backend = name
        cls.model_hint = model_hint
        cls.cli_options = tuple(cli_options)
        _REGISTRY[name] = cls
        return cls
    return deco


def backend_names() -> tuple[str, ...]:
    """The back-ends ``build_generator`` knows: the built-in ones, then any registered from outside."""
    return tuple(dict.fromkeys([*BUILTIN_BACKENDS, *_REGISTRY]))


def backend_class(backend: str) -> type[Generator]:
    """The class registered as ``backend``, importing its module first when it is a built-in one."""
    if backend not in _REGISTRY and backend in BUILTIN_BACKENDS:
        import importlib

        importlib.import_module(f"{__package__}.{BUILTIN_BACKENDS[backend]}")
    cls = _REGISTRY.get(backend)
    if cls is None:
        names = backend_names()
        raise ValueError(f"unknown back-end {backend!r}; expected {', '.join(names[:-1])} or {names[-1]}")
    return cls


def build_generator(backend: str, model: str | None = None, **options: Any) -> Generator:
    """``backend``: "transformers", "vllm", "openai" or "scripted" (or a back-end registered with
    ``register_backend``); ``model`` for those that take one; ``options`` go to its constructor."""
    cls = backend_class(backend)
    if cls.model_hint is None:
        return cls(**options)
    if not model:
        raise ValueError(cls.model_hint)
    return cls(model, **options)
