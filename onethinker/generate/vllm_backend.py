"""The vLLM back-end (GPU; needs the `vllm` package). Frames are sampled by onethinker's own sampler and
handed over with their metadata, so vLLM sees exactly the frames and timestamps the other back-ends see."""

from __future__ import annotations

from typing import Any

from .base import GenerationRequest, Generator, SamplingConfig, register_backend


@register_backend("vllm", model_hint="the vllm back-end needs --model", cli_options=("image_max_pixels", "video_max_pixels"))
class VLLMGenerator(Generator):
    def __init__(self, model: str, *, tensor_parallel_size: int | None = None, gpu_memory_utilization: float = 0.85,
                 max_model_len: int = 32768, image_max_pixels: int | None = None, video_max_pixels: int | None = None,
                 **_: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as e:  # pragma: no cover - GPU machines only
            raise RuntimeError("the vllm back-end needs the `vllm` package (pip install vllm) and a GPU") from e
        from transformers import AutoProcessor

        import torch

        self.processor = AutoProcessor.from_pretrained(model)
        self.llm = LLM(model=model, tensor_parallel_size=tensor_parallel_size or max(1, torch.cuda.device_count()),
                       gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len,
                       limit_mm_per_prompt={"image": 4, "video": 2})
        self.image_max_pixels, self.video_max_pixels = image_max_pixels, video_max_pixels
        self.name = f"vllm:{model}"

    def _inputs(self, req: GenerationRequest) -> dict:
        from ..data.media import load_image, sample_video

        images, videos = [], []
        for m in req.messages:
            for item in m["content"] if isinstance(m["content"], list) else []:
                if item.get("type") == "image":
                    images.append(load_image(item["image"], max_pixels=self.image_max_pixels))
                elif item.get("type") == "video":
                    clip = sample_video(item["video"], fps=float(item.get("fps", 2.0)), max_frames=int(item.get("max_frames", 128)),
                                        max_pixels=item.get("max_pixels") or self.video_max_pixels)
                    videos.append((clip.frames, clip.metadata()))
        prompt = self.processor.apply_chat_template(req.messages, tokenize=False, add_generation_prompt=True)
        mm: dict[str, Any] = {}
        if images:
            mm["image"] = images
        if videos:
            mm["video"] = videos
        out: dict[str, Any] = {"prompt": prompt, "multi_modal_data": mm}
        if videos:
            out["mm_processor_kwargs"] = {"do_sample_frames": False}
        return out

    def generate(self, requests: list[GenerationRequest], sampling: SamplingConfig) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(n=sampling.n, temperature=sampling.temperature, top_p=sampling.top_p,
                                top_k=sampling.top_k if sampling.top_k > 0 else -1, max_tokens=sampling.max_new_tokens,
                                seed=sampling.seed)
        outputs = self.llm.generate([self._inputs(r) for r in requests], sampling_params=params)
        return [[c.text for c in o.outputs] for o in outputs]
