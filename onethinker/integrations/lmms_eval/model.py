"""The ``onethinker`` model of lmms-eval (imported by lmms-eval when ``--model onethinker`` is asked for).

``lmms-eval --model onethinker --model_args pretrained=PATH[,backend=transformers|vllm|openai][,...]``:

- any Qwen2.5-VL / Qwen3-VL checkpoint (OneThinker-8B, the tiny demo model), through this project's
  generation back-ends (one batched call per ``batch_size`` requests with the same generation settings);
- each question gets OneThinker's prompt for its question type (``answers.question_type``; force one with
  ``problem_type=...``), the benchmark's own bare-answer instruction removed;
- the benchmark's scoring receives the answer taken from the reply (``answers.harness_answer``); the whole
  reply, reasoning included, goes to ``log_dir/<task>.jsonl`` (one line per request: task, split, doc_id,
  question type, media kind, prompt, reply, answer, tokens).

Model arguments (``--model_args k=v,...``): ``pretrained`` (required), ``backend`` (default transformers),
``device`` (cpu, cuda, cuda:N, auto; lmms-eval's ``--device`` also sets it), ``dtype`` (auto), ``lora``,
``base_url`` / ``api_key_env`` (openai), ``tensor_parallel_size`` (vllm), ``problem_type`` (auto),
``min_new_tokens`` (default 1024: lmms-eval's tasks ask for 8-128 tokens, too few for reasoning; the larger of
the two is used), ``max_new_tokens`` (a cap over both, optional), ``video_fps`` (2), ``max_frames`` (128),
``image_max_pixels``, ``video_max_pixels``, ``log_dir`` (default ``$ONETHINKER_LMMS_LOG_DIR`` or
``logs/onethinker-lmms``), ``seed`` (0).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts
from lmms_eval.api.model import lmms

from .answers import harness_answer, prompt_text, question_type, split_visuals

DEFAULT_LOG_DIR = "logs/onethinker-lmms"


def _opt_int(value: Any) -> int | None:
    return None if value in (None, "", "None", "none") else int(value)


class OneThinkerLMMS(lmms):
    """lmms-eval's simple-model interface over onethinker's generators (module docstring)."""

    is_simple = True

    def __init__(self, pretrained: str | None = None, backend: str = "transformers", device: str | None = None,
                 dtype: str = "auto", batch_size: int | str = 1, problem_type: str = "auto",
                 min_new_tokens: int | str = 1024, max_new_tokens: int | str | None = None, video_fps: float | str = 2.0,
                 max_frames: int | str = 128, image_max_pixels: int | str | None = None,
                 video_max_pixels: int | str | None = None, lora: str | None = None, base_url: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", tensor_parallel_size: int | str | None = None,
                 log_dir: str | None = None, seed: int | str = 0, generator: Any = None, **kwargs: Any) -> None:
        super().__init__()
        from ...generate.base import build_generator

        kwargs.pop("max_batch_size", None)
        unknown = sorted(k for k, v in kwargs.items() if v is not None)
        if unknown:
            raise ValueError(f"onethinker: unknown model argument(s) {', '.join(unknown)} (see "
                             f"onethinker.integrations.lmms_eval.model)")
        if generator is None and not pretrained and backend not in ("scripted",):
            raise ValueError("onethinker: --model_args needs pretrained=PATH (a checkpoint folder or hub id)")
        self.backend = backend
        self.batch_size_per_gpu = max(1, int(batch_size))
        self.problem_type = str(problem_type)
        if self.problem_type != "auto":
            question_type("", "", choice=self.problem_type)  # an unknown type fails here, not mid-run
        self.min_new_tokens = int(min_new_tokens)
        self.max_new_tokens = _opt_int(max_new_tokens)
        self.video_fps, self.max_frames, self.seed = float(video_fps), int(max_frames), int(seed)
        self.log_dir = Path(log_dir or os.environ.get("ONETHINKER_LMMS_LOG_DIR") or DEFAULT_LOG_DIR)
        self._tmp = tempfile.TemporaryDirectory(prefix="onethinker-lmms-")
        if generator is not None:  # tests and callers that already hold a generator
            self.generator = generator
        else:
            options: dict[str, Any] = {"image_max_pixels": _opt_int(image_max_pixels),
                                       "video_max_pixels": _opt_int(video_max_pixels)}
            if backend == "transformers":
                options.update(device=device or "cpu", dtype=dtype, lora=lora)
            elif backend == "openai":
                options.update(base_url=base_url, api_key_env=api_key_env)
            elif backend == "vllm" and tensor_parallel_size is not None:
                options.update(tensor_parallel_size=int(tensor_parallel_size))
            self.generator = build_generator(backend, pretrained, **options)
        self.tokenizer = getattr(getattr(self.generator, "processor", None), "tokenizer", None)

    # -- lmms-eval's interface ------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.batch_size_per_gpu

    def loglikelihood(self, requests: list[Instance]) -> list[tuple[float, bool]]:
        raise NotImplementedError("onethinker answers generation tasks (output_type: generate_until); "
                                  "log-likelihood tasks are not supported")

    def generate_until_multi_round(self, requests: list[Instance]) -> list[str]:
        raise NotImplementedError("onethinker does not run multi-round tasks")

    def generate_until(self, requests: list[Instance]) -> list[GenerationResult]:
        from tqdm import tqdm

        prepared = [self._prepare(i, req) for i, req in enumerate(requests)]
        results: list[GenerationResult | None] = [None] * len(requests)
        groups: dict[str, list[dict]] = {}
        for p in prepared:
            groups.setdefault(json.dumps(p["sampling"], sort_keys=True), []).append(p)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        bar = tqdm(total=len(requests), desc="onethinker", disable=(self._rank != 0))
        for items in groups.values():
            for start in range(0, len(items), self.batch_size_per_gpu):
                chunk = items[start:start + self.batch_size_per_gpu]
                for p, reply in zip(chunk, self._generate(chunk)):
                    results[p["index"]] = self._finish(p, reply)
                bar.update(len(chunk))
        bar.close()
        return results  # type: ignore[return-value]

    # -- steps ------------------------------------------------------------------------------------
    def _prepare(self, index: int, req: Instance) -> dict:
        context, gen_kwargs, doc_to_visual, doc_id, task, split = req.args
        doc = self.task_dict[task][split][doc_id]
        visuals = split_visuals(doc_to_visual(doc) if doc_to_visual is not None else [])
        data_type = "video" if any(k == "video" for k, _ in visuals) else "image"
        ptype = question_type(task, context, doc, choice=self.problem_type)
        text = prompt_text(context, ptype, data_type)
        content: list[dict] = []
        for n, (kind, value) in enumerate(visuals):
            if kind == "image" and not isinstance(value, str) and self.backend != "transformers":
                path = Path(self._tmp.name) / f"{task}-{split}-{doc_id}-{n}.png"
                value.save(path)  # the other back-ends read files
                value = str(path)
            item: dict[str, Any] = {"type": kind, kind: value}
            if kind == "video":
                item.update(fps=self.video_fps, max_frames=self.max_frames)
            content.append(item)
        content.append({"type": "text", "text": text})
        gen = dict(gen_kwargs or {})
        want = int(gen.get("max_new_tokens", 0) or 0)
        tokens = max(want, self.min_new_tokens)
        if self.max_new_tokens is not None:
            tokens = min(tokens, self.max_new_tokens)
        temperature = float(gen.get("temperature", 0) or 0) if gen.get("do_sample", False) or gen.get("temperature") else 0.0
        sampling = {"max_new_tokens": tokens, "temperature": temperature, "top_p": float(gen.get("top_p", 1.0) or 1.0)}
        return {"index": index, "task": task, "split": split, "doc_id": doc_id, "problem_type": ptype,
                "data_type": data_type, "prompt": text, "messages": [{"role": "user", "content": content}],
                "sampling": sampling}

    def _generate(self, chunk: list[dict]) -> list[str]:
        from ...generate.base import GenerationRequest, SamplingConfig

        s = chunk[0]["sampling"]
        sampling = SamplingConfig(max_new_tokens=s["max_new_tokens"], temperature=s["temperature"], top_p=s["top_p"],
                                  seed=self.seed)
        started = time.perf_counter()
        outs = self.generator.generate([GenerationRequest(p["messages"]) for p in chunk], sampling)
        seconds = (time.perf_counter() - started) / max(1, len(chunk))
        for p in chunk:
            p["seconds"] = round(seconds, 3)
        return [o[0] if o else "" for o in outs]

    def _finish(self, p: dict, reply: str) -> GenerationResult:
        answer = harness_answer(reply, p["problem_type"], p["data_type"])
        out_tokens = len(self.tokenizer.encode(reply, add_special_tokens=False)) if self.tokenizer is not None else None
        row = {"task": p["task"], "split": p["split"], "doc_id": p["doc_id"], "problem_type": p["problem_type"],
               "data_type": p["data_type"], "prompt": p["prompt"], "reply": reply, "answer": answer, "output_tokens": out_tokens,
               "max_new_tokens": p["sampling"]["max_new_tokens"], "seconds_per_item": p.get("seconds")}
        with open(self.log_dir / f"{p['task']}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        return GenerationResult(text=answer, token_counts=TokenCounts(output_tokens=out_tokens))

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        try:
            self.generator.close()
            self._tmp.cleanup()
        except Exception:
            pass
