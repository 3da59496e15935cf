"""The transformers back-end: any Qwen2.5-VL / Qwen3-VL checkpoint, batched, on CPU or GPU."""

from __future__ import annotations

from typing import Any

from .base import GenerationRequest, Generator, SamplingConfig, register_backend


@register_backend("transformers", model_hint="the transformers back-end needs --model (a local path or hub id)",
                  cli_options=("dtype", "device", "lora", "image_max_pixels", "video_max_pixels", "sampler"))
class TransformersGenerator(Generator):
    def __init__(self, model: str, *, dtype: str = "auto", device: str = "cpu", lora: str | None = None,
                 image_max_pixels: int | None = None, video_max_pixels: int | None = None,
                 model_obj: Any = None, processor: Any = None, sampler: str | None = "fast", **_: Any) -> None:
        """``model``: local path or hub id. ``model_obj``/``processor`` reuse an already loaded model
        (the RL trainer's policy) instead of loading one. ``sampler``: the sampling engine's "fast" (each
        prompt prefilled once, finished rows leave the batch) or "generate" (transformers generate)."""
        if model_obj is None:
            from ..models import load

            model_obj, processor = load(model, dtype=dtype, device=device, lora=lora)
        self.model, self.processor = model_obj, processor
        self.name = f"transformers:{model}"
        self.image_max_pixels, self.video_max_pixels = image_max_pixels, video_max_pixels
        self.sampler = sampler or "fast"
        if self.sampler not in ("fast", "generate"):
            raise ValueError(f"sampler must be 'fast' or 'generate', got {sampler!r}")
        # forked workers (onethinker.parallel) share the weights copy-on-write; a CUDA context does not survive a fork
        self.forkable = all(p.device.type == "cpu" for p in self.model.parameters())

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[str]]:
        from ..models.inputs import generate

        if not requests:
            return []
        usage: list[dict] = []
        out = generate(
            self.model, self.processor, [r.messages for r in requests],
            max_new_tokens=sampling.max_new_tokens, temperature=sampling.temperature, top_p=sampling.top_p,
            num_return_sequences=sampling.n, seed=sampling.seed, usage=usage,
            image_max_pixels=self.image_max_pixels, video_max_pixels=self.video_max_pixels, sampler=self.sampler,
        )
        for r, u in zip(requests, usage):
            r.usage.update(u)
        return out
