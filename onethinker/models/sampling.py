"""The one sampling engine: token ids in, sampled token ids out, for RL rollouts and for every text
generation of the package (the transformers back-end of evaluation, ``onethinker infer``, the probe,
SFT's format check, pretraining checks).

It owns what both used to write separately: the stop and pad tokens, the transformers ``generate``
arguments for greedy decoding and for sampling (temperature, top-p, top-k), seeding without touching
the caller's random streams, eval mode, and cutting a sample at its first stop token.

Two stop-token policies exist and both are kept as they were:

- ``from_generation_config=True`` (text generation): the checkpoint's ``generation_config`` stop and
  pad tokens, else the tokenizer's, plus ``<|im_end|>``;
- ``from_generation_config=False`` (RL rollouts): the tokenizer's end-of-sequence token and
  ``<|im_end|>``, pad = the tokenizer's pad (else end-of-sequence) token; RL also never samples the
  vision placeholders (``suppress_vision``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]


def input_device(model: Any):
    """Where inputs go: the device of the input embeddings (right for device_map="auto" too)."""
    try:
        return model.get_input_embeddings().weight.device
    except (AttributeError, NotImplementedError):
        return next(model.parameters()).device


@dataclass
class Samples:
    """What one call of :meth:`SamplingEngine.sample` gives: ``sequences`` (rows x new tokens; a
    prompt's ``n`` samples are consecutive rows) and, when asked for, generate's processed ``scores``."""

    sequences: Any
    scores: Any = None
    prompt_len: int = 0


@dataclass
class SamplingEngine:
    model: Any
    tokenizer: Any
    stop_ids: list[int]
    pad_id: int
    #: token ids never sampled (None: the checkpoint's own setting, nothing passed to generate)
    suppress_ids: list[int] | None = None
    _kw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def for_model(cls, model: Any, processor: Any, *, from_generation_config: bool = True,
                  suppress_vision: bool = False) -> "SamplingEngine":
        tok = getattr(processor, "tokenizer", processor)
        if from_generation_config:
            gen_cfg = getattr(model, "generation_config", None)
            eos = _ids(getattr(gen_cfg, "eos_token_id", None)) or _ids(tok.eos_token_id)
            im_end = tok.convert_tokens_to_ids("<|im_end|>")
            if isinstance(im_end, int) and im_end not in eos and im_end != getattr(tok, "unk_token_id", None):
                eos.append(im_end)
            pad = getattr(gen_cfg, "pad_token_id", None)
            if pad is None:
                pad = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
            stop_ids, pad_id = eos, int(pad)
        else:
            pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            stops = {tok.convert_tokens_to_ids("<|im_end|>")}
            if tok.eos_token_id is not None:
                stops.add(tok.eos_token_id)
            stop_ids = sorted(s for s in stops if isinstance(s, int) and s >= 0)
        suppress = None
        if suppress_vision:
            # Vision placeholders must never be sampled: in a response they would be read as media slots.
            unk = getattr(tok, "unk_token_id", None)
            suppress = sorted({i for i in (tok.convert_tokens_to_ids(t) for t in VISION_TOKENS)
                               if isinstance(i, int) and i >= 0 and i != unk})
        return cls(model, tok, stop_ids, pad_id, suppress)

    # -- sampling ---------------------------------------------------------------------------------
    def generate_kwargs(self, *, n: int, max_new_tokens: int, temperature: float, top_p: float = 1.0,
                        top_k: int = 0) -> dict[str, Any]:
        """transformers ``generate`` arguments: greedy when ``temperature`` is 0 (sampling settings off)."""
        sample = temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "do_sample": sample,
                                  "num_return_sequences": int(n), "eos_token_id": self.stop_ids,
                                  "pad_token_id": self.pad_id, "use_cache": True}
        if self.suppress_ids is not None:
            kwargs["suppress_tokens"] = self.suppress_ids or None
        if sample:
            kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=int(top_k))
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def sample(self, inputs: Any, *, n: int = 1, max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
               top_k: int = 0, seed: int | None = None, keep_scores: bool = False) -> Samples:
        """Sample ``n`` continuations of every (left-padded) prompt row of ``inputs``.

        ``seed`` seeds sampling without changing the caller's random streams (they are forked and put
        back). The model runs in eval mode and is put back as it was."""
        import torch

        kwargs = self.generate_kwargs(n=n, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                      top_k=top_k)
        if keep_scores:
            kwargs.update(output_scores=True, return_dict_in_generate=True)
        prompt_len = int(inputs["input_ids"].shape[1])
        was_training = bool(getattr(self.model, "training", False))
        self.model.eval()
        rng: Any = contextlib.nullcontext()
        if seed is not None:
            dev = input_device(self.model)
            rng = torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else [])
        try:
            with rng, torch.no_grad():
                if seed is not None:
                    torch.manual_seed(seed)
                out = self.model.generate(**inputs, **kwargs)
        finally:
            if was_training:
                self.model.train()
        seqs = out.sequences if keep_scores else out
        return Samples(seqs[:, prompt_len:], out.scores if keep_scores else None, prompt_len)

    # -- reading samples --------------------------------------------------------------------------
    def cut(self, ids: list[int]) -> list[int]:
        """A sample's token ids up to and including its first stop token."""
        for t, tid in enumerate(ids):
            if tid in self.stop_ids:
                return ids[: t + 1]
        return ids

    def decode(self, ids: Any) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def decode_batch(self, rows: Any) -> list[str]:
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True, clean_up_tokenization_spaces=False)
