"""Generation back-ends: transformers (default), vLLM, any OpenAI-compatible chat endpoint, and a
scripted model for tests. All take chat messages (onethinker.data.chat) and return text.

Each back-end module registers its class (``register_backend``); ``build_generator`` imports a back-end's
module only when it is asked for, so this package imports none of them."""

from .base import GenerationRequest, Generator, SamplingConfig, backend_names, build_generator, register_backend

__all__ = ["GenerationRequest", "Generator", "SamplingConfig", "backend_names", "build_generator", "register_backend"]
