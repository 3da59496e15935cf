"""Generation back-ends: transformers (default), vLLM, any OpenAI-compatible chat endpoint, and a
scripted model for tests. All take chat messages (onethinker.data.chat) and return text."""

from .base import GenerationRequest, Generator, SamplingConfig, build_generator

__all__ = ["GenerationRequest", "Generator", "SamplingConfig", "build_generator"]
