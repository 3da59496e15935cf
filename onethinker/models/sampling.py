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

Two samplers give the same distributions (``sampler``):

- ``"fast"`` (default): each prompt batch is prefilled once (its images and videos encoded once), the
  key/value cache is repeated for the ``n`` samples, and a decode loop drops every row from the batch
  (and from the cache) at the step it draws a stop token. Positions are passed explicitly: the model's own
  generation positions of the prompt (multimodal rope for Qwen2.5-VL / Qwen3-VL, left padding
  included), then one more per step and row, so expanding or dropping rows keeps every row's rope delta.
  Suppressed tokens, temperature, top-k and top-p are transformers' own logits processors, applied in
  generate's order. For Qwen3-VL a decode step runs the model's modules directly (``_DecodeStep``: the
  same logits bit for bit, without the forward's per-step wrappers); other models run their forward.
- ``"generate"``: transformers ``generate(num_return_sequences=n)``, which prefills every prompt ``n``
  times and runs finished rows until the longest stops. Token-identical to the former code for a seed;
  the fast sampler draws from the same distributions with the same seed handling, but its random stream is
  consumed by running rows only, so its samples differ from generate's (greedy output is the same).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from dataclasses import dataclass, field
from typing import Any

SAMPLERS = ("fast", "generate")
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


def select_cache_rows(cache: Any, rows: Any, drop_front: int = 0) -> None:
    """Rows ``rows`` (in order, repeats allowed) of every cache layer's keys and values, in place: the sampler
    drops finished rows with it, the prompt-shared update repeats a prompt's row for its rollouts.
    ``drop_front``: also drop that many leading positions (padding of every row kept), reserved layers only
    (``reserve_cache``; others keep them).

    ``index_select``, not the cache's ``batch_select_indices`` (advanced indexing): it is differentiable with a
    backward that adds repeated rows' gradients in a fixed order (advanced indexing's CPU backward adds them
    with parallel atomic adds in a varying order, so two identical updates would differ in the last bits and a
    resumed run would not equal an uninterrupted one). Indices go to each layer's device (device_map="auto")."""
    layers = getattr(cache, "layers", None)
    if layers is None:
        cache.batch_select_indices(rows)
        return
    for layer in layers:
        if hasattr(layer, "keep"):  # a reserved layer (reserve_cache): its own selection
            layer.keep(rows, drop_front)
            continue
        keys = getattr(layer, "keys", None)
        if keys is None or keys.numel() == 0:
            continue
        idx = rows.to(keys.device)
        layer.keys = keys.index_select(0, idx)
        layer.values = layer.values.index_select(0, idx)


def reserve_cache(cache: Any, room: int) -> bool:
    """``cache`` (a prefilled transformers ``DynamicCache``) with every layer's keys and values moved into a buffer
    with ``room`` more positions, so each decode step writes its token in place instead of concatenating (a
    concatenation copies the whole cache of every layer at every step). The cache as it is where its layers
    are not transformers' plain ``DynamicLayer`` (another cache kind, an older transformers). Returns whether
    it was reserved."""
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:  # pragma: no cover - transformers before the layered caches
        return False
    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer or not layer.is_initialized for layer in layers):
        return False
    reserved = _reserved_layer_class()
    cache.layers = [reserved(layer.keys, layer.values, room) for layer in layers]
    return True


@functools.cache
def _reserved_layer_class() -> Any:
    """The reserved cache layer's class (built on first use: transformers is imported only when sampling)."""
    import torch
    from transformers.cache_utils import DynamicLayer

    class _ReservedLayer(DynamicLayer):
        """A ``DynamicLayer`` whose keys and values are views (rows ``[:rows]``, positions ``[start:end]``) of
        buffers with room to grow: ``update`` writes the new positions in place; ``keep`` drops rows and leading
        positions (copying only what is kept); ``compact`` moves a few rows into the places of finished ones and
        ``join`` appends a prefill's rows (the streaming sampler's). The samplers' own: its rows change only
        through these (``select_cache_rows``)."""

        is_croppable = False

        def __init__(self, keys: Any, values: Any, room: int) -> None:
            super().__init__()
            self.device, self.is_initialized = keys.device, True
            self._k, self._v = self._buffer(keys, room), self._buffer(values, room)
            self._rows, self._start, self._end = int(keys.shape[0]), 0, int(keys.shape[-2])
            self._view()

        @staticmethod
        def _buffer(x: Any, room: int) -> Any:
            b, h, length, d = x.shape
            buf = x.new_empty((b, h, length + max(0, int(room)), d))
            buf[:, :, :length] = x
            return buf

        def _view(self) -> None:
            rows, start, end = self._rows, self._start, self._end
            self.keys, self.values = self._k[:rows, :, start:end], self._v[:rows, :, start:end]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            n = int(key_states.shape[-2])
            if self._end + n > self._k.shape[2]:  # out of room: grow (the sampler reserves enough; never in practice)
                self._k, self._v = self._buffer(self.keys, n + 64), self._buffer(self.values, n + 64)
                self._end, self._start = self._end - self._start, 0
            rows = self._rows
            self._k[:rows, :, self._end : self._end + n] = key_states
            self._v[:rows, :, self._end : self._end + n] = value_states
            self._end += n
            self._view()
            return self.keys, self.values

        def keep(self, rows: Any, drop_front: int = 0) -> None:
            idx = rows.to(self._k.device)
            start = self._start + drop_front
            self._k = self._k[: self._rows, :, start:].index_select(0, idx)
            self._v = self._v[: self._rows, :, start:].index_select(0, idx)
            self._rows, self._end, self._start = int(idx.numel()), self._end - start, 0
            self._view()

        def compact(self, src: Any, dst: Any, rows: int, drop_front: int = 0) -> None:
            """Rows ``src`` move to the places ``dst`` (places of finished rows among the first ``rows``), the
            batch keeps its first ``rows`` rows and drops ``drop_front`` leading positions: only the moved rows
            are copied."""
            if src.numel():
                s, e = self._start, self._end
                for buf in (self._k, self._v):
                    part = buf[:, :, s:e]
                    part.index_copy_(0, dst.to(buf.device), part.index_select(0, src.to(buf.device)))
            self._rows, self._start = int(rows), self._start + int(drop_front)
            self._view()

        def join(self, keys: Any, values: Any, room: int) -> None:
            """Append rows (``keys``/``values``: (rows, heads, length, dim), a prefill's) after this layer's, both
            right-aligned at the longer length (the shorter side's leading positions zero: the attention mask
            marks them padding, and zeros keep a masked score finite), with ``room`` positions to grow."""
            own = self._end - self._start
            length = max(own, int(keys.shape[2]))
            rows_a, rows_b = self._rows, int(keys.shape[0])
            k = keys.new_zeros((rows_a + rows_b, keys.shape[1], length + max(0, int(room)), keys.shape[3]))
            v = torch.zeros_like(k)
            k[:rows_a, :, length - own : length] = self.keys
            v[:rows_a, :, length - own : length] = self.values
            k[rows_a:, :, length - keys.shape[2] : length] = keys
            v[rows_a:, :, length - keys.shape[2] : length] = values
            self._k, self._v, self._rows, self._start, self._end = k, v, rows_a + rows_b, 0, length
            self._view()

    return _ReservedLayer


class _DecodeStep:
    """One decode step of a Qwen3-VL model (one new token per row on a filled cache) without the wrappers of
    its ``forward``: the same modules, attention function and operations in the same order (the text model's
    embedding, rotary embedding, decoder layers, final norm, ``lm_head``), so its logits are the model's bit for
    bit (tests/test_sampling.py), without the per-step work a decode step does not need (output records,
    mask building, keyword plumbing, the multimodal wrapper): with a small model that work was about half of
    a decode step on a CPU. Built only for the models it mirrors (:meth:`for_model`); the sampler calls the
    model itself otherwise."""

    #: model classes whose forward is "embed -> text decoder -> lm_head" for a text token (no logit scaling)
    CLASSES = ("Qwen3VLForConditionalGeneration",)

    def __init__(self, model: Any) -> None:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

        self.decoder, self.head = model.get_decoder(), model.get_output_embeddings()
        self.apply_rope = getattr(importlib.import_module(type(self.decoder).__module__), "apply_rotary_pos_emb")
        self.attention = ALL_ATTENTION_FUNCTIONS.get_interface("sdpa", None)

    @classmethod
    def for_model(cls, model: Any) -> "_DecodeStep | None":
        """The step for ``model``, or None where it is not one of :attr:`CLASSES` in its plain form (sdpa
        attention, on one device, no adapters), whose forward the sampler then calls."""
        if type(model).__name__ not in cls.CLASSES:
            return None
        try:
            decoder = model.get_decoder()
            config = decoder.config
            layers = list(decoder.layers)
            plain = (getattr(config, "_attn_implementation", None) == "sdpa" and layers
                     and len({str(d) for d in (getattr(model, "hf_device_map", None) or {}).values()}) <= 1
                     and all(hasattr(layer.self_attn, name) for layer in layers
                             for name in ("q_proj", "k_proj", "v_proj", "o_proj", "q_norm", "k_norm", "scaling"))
                     and all(hasattr(decoder, name) for name in ("embed_tokens", "rotary_emb", "norm")))
            return cls(model) if plain else None
        except (AttributeError, ImportError, TypeError, KeyError):
            return None

    def __call__(self, tok: Any, positions: Any, mask: Any, cache: Any) -> Any:
        """Logits (rows, vocab) after feeding ``tok`` (rows,) at ``positions`` ((4, rows): text row + the
        three multimodal rope rows, or (rows,)), ``mask`` (rows, cache length + 1) the attention mask."""
        dec = self.decoder
        rows = int(tok.shape[0])
        pos = positions[..., None]
        rope = pos[1:] if pos.dim() == 3 and pos.shape[0] == 4 else (pos if pos.dim() == 3 else pos[None].expand(3, -1, -1))
        h = dec.embed_tokens(tok[:, None])
        cos, sin = dec.rotary_emb(h, rope)
        # as transformers' mask for sdpa at a decode step: none without padding, else the padding mask
        allowed = None if bool(mask.all()) else mask.bool()[:, None, None, :]
        for i, layer in enumerate(dec.layers):
            attn = layer.self_attn
            shape = (rows, 1, -1, attn.head_dim)
            x = layer.input_layernorm(h)
            q = attn.q_norm(attn.q_proj(x).view(shape)).transpose(1, 2)
            k = attn.k_norm(attn.k_proj(x).view(shape)).transpose(1, 2)
            v = attn.v_proj(x).view(shape).transpose(1, 2)
            q, k = self.apply_rope(q, k, cos, sin)
            k, v = cache.update(k, v, i)
            out, _ = self.attention(attn, q, k, v, allowed, dropout=0.0, scaling=attn.scaling)
            h = h + attn.o_proj(out.reshape(rows, 1, -1).contiguous())
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        return self.head(dec.norm(h)[:, -1])


@contextlib.contextmanager
def last_layer_at_last_position(model: Any):
    """While in the block, a forward of ``model`` (a :class:`_DecodeStep` model: Qwen3-VL) runs its last decoder
    layer's attention query, attention output and MLP at the last position only; that layer's keys and values
    are still computed for every position and go to the cache. For a forward with ``logits_to_keep=1`` and a
    cache (a prefill, the prompt pass of the prompt-shared update) the logits and the cache are the same as
    without it (tests/test_sampling.py, tests/test_shared_prompt.py) and about a quarter of a 4-layer model's
    work on the prompt is skipped (its last layer except keys and values), forward and backward. The other
    outputs of that forward (hidden states of the other positions) are not computed. A model it does not
    mirror, or whose last layer takes deepstack visual features, runs as it is."""
    step = _DecodeStep.for_model(model)
    layers = list(step.decoder.layers) if step is not None else []
    vision = getattr(getattr(model, "config", None), "vision_config", None)
    deepstack = len(getattr(vision, "deepstack_visual_indexes", None) or ())
    layer = layers[-1] if layers and len(layers) > deepstack else None
    if layer is None or not all(hasattr(layer, name) for name in ("input_layernorm", "post_attention_layernorm", "mlp")):
        yield
        return
    attn, apply_rope, attention = layer.self_attn, step.apply_rope, step.attention

    def forward(hidden_states: Any, position_embeddings: Any, attention_mask: Any = None, position_ids: Any = None,
                cache: Any = None, **kwargs: Any) -> Any:
        # as Qwen3VLTextDecoderLayer.forward and Qwen3VLTextAttention.forward, with the queries cut to the last
        # position (the same operations on the rows they keep)
        rows, length = int(hidden_states.shape[0]), int(hidden_states.shape[1])
        x = layer.input_layernorm(hidden_states)
        kv_shape = (rows, length, -1, attn.head_dim)
        q = attn.q_norm(attn.q_proj(x[:, -1:]).view(rows, 1, -1, attn.head_dim)).transpose(1, 2)
        k = attn.k_norm(attn.k_proj(x).view(kv_shape)).transpose(1, 2)
        v = attn.v_proj(x).view(kv_shape).transpose(1, 2)
        cos, sin = position_embeddings
        q = apply_rope(q, q, cos[:, -1:], sin[:, -1:])[0]
        k = apply_rope(k, k, cos, sin)[0]
        if cache is not None:
            k, v = cache.update(k, v, attn.layer_idx)
        mask = attention_mask[:, :, -1:, :] if attention_mask is not None and attention_mask.dim() == 4 else attention_mask
        dropout = attn.attention_dropout if attn.training else 0.0
        out, _ = attention(attn, q, k, v, mask, dropout=dropout, scaling=attn.scaling)
        h = hidden_states[:, -1:] + attn.o_proj(out.reshape(rows, 1, -1).contiguous())
        return h + layer.mlp(layer.post_attention_layernorm(h))

    layer.forward = forward
    try:
        yield
    finally:
        del layer.forward


def _draw(procs: Any, logits: Any, temperature: float, keep_logprob: bool, generator: Any = None) -> tuple[Any, Any]:
    """One token per row from ``logits`` after the logits processors ``procs``: sampled when ``temperature`` > 0
    (from ``generator``, else torch's global stream), else the argmax; and its log-probability under the
    processed distribution when ``keep_logprob``."""
    import torch

    scores = procs(None, logits)
    if temperature > 0:
        tok = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1, generator=generator).squeeze(1)
    else:
        tok = torch.argmax(scores, dim=-1)
    lp = torch.log_softmax(scores, dim=-1).gather(-1, tok[:, None]).squeeze(-1) if keep_logprob else None
    return tok, lp


@dataclass
class Samples:
    """What one call of :meth:`SamplingEngine.sample` gives: ``sequences`` (rows x new tokens, pad after a
    row's stop token; a prompt's ``n`` samples are consecutive rows), when asked for, generate's processed
    ``scores`` (``sampler="generate"`` only), and ``logprobs`` (rows x new tokens, float32: each token's
    log-probability under the distribution it was drawn from, after suppression, temperature, top-k and
    top-p; 0 after the stop token)."""

    sequences: Any
    scores: Any = None
    prompt_len: int = 0
    logprobs: Any = None


@dataclass
class SamplingEngine:
    model: Any
    tokenizer: Any
    stop_ids: list[int]
    pad_id: int
    #: token ids never sampled (None: the checkpoint's own setting, nothing passed to generate)
    suppress_ids: list[int] | None = None
    #: "fast" (prefill once, finished rows leave the batch) or "generate" (transformers generate)
    sampler: str = "fast"
    #: text generation: a checkpoint whose generation config asks for logits processing the fast sampler does
    #: not do (a repetition penalty, ...) is sampled with generate, as before. RL (False): the distribution is
    #: the update's (suppression, temperature, top-k, top-p), whatever the checkpoint's config says.
    checkpoint_processors: bool = False
    #: the fast sampler's decode steps run the model's modules directly where the model is one
    #: ``_DecodeStep`` mirrors (the same logits, less per-step overhead); False: the model's forward
    own_step: bool = True
    #: the fast sampler's prefill runs the last decoder layer at the last position only, keys and values at every
    #: position (:func:`last_layer_at_last_position`; the same logits to float rounding, not bit for bit)
    short_prefill: bool = True
    _kw: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")

    @classmethod
    def for_model(cls, model: Any, processor: Any, *, from_generation_config: bool = True,
                  suppress_vision: bool = False, sampler: str = "fast") -> "SamplingEngine":
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
        return cls(model, tok, stop_ids, pad_id, suppress, sampler, checkpoint_processors=from_generation_config)

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
               top_k: int = 0, seed: int | None = None, keep_scores: bool = False, keep_logprobs: bool = False,
               sampler: str | None = None) -> Samples:
        """Sample ``n`` continuations of every (left-padded) prompt row of ``inputs``.

        ``seed`` seeds sampling without changing the caller's random streams (they are forked and put
        back). The model runs in eval mode and is put back as it was. ``sampler`` overrides the engine's
        (``keep_scores``, generate's processed scores, needs ``"generate"`` and selects it).
        ``keep_logprobs``: also return each token's log-probability under the distribution it was drawn from."""
        import torch

        sampler = "generate" if keep_scores else (sampler or self.sampler)
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if sampler == "fast" and (not hasattr(self.model, "_prepare_position_ids_for_generation")
                                  or (self.checkpoint_processors and self.unsupported_options(temperature))):
            sampler = "generate"  # not a transformers generation model, or settings only generate applies
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
                if sampler == "fast":
                    seqs, logprobs = self._fast(inputs, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                                                top_p=top_p, top_k=top_k, keep_logprobs=keep_logprobs)
                    return Samples(seqs, None, prompt_len, logprobs)
                kwargs = self.generate_kwargs(n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                                              top_p=top_p, top_k=top_k)
                if keep_scores or keep_logprobs:
                    kwargs.update(output_scores=True, return_dict_in_generate=True)
                out = self.model.generate(**inputs, **kwargs)
        finally:
            if was_training:
                self.model.train()
        if not (keep_scores or keep_logprobs):
            return Samples(out[:, prompt_len:], None, prompt_len)
        seqs = out.sequences[:, prompt_len:]
        logprobs = None
        if keep_logprobs:  # gathered step by step (generate's scores are a tuple of rows x vocabulary)
            logprobs = torch.stack([torch.log_softmax(s.float(), dim=-1).gather(-1, seqs[:, t, None].to(s.device))
                                    .squeeze(-1) for t, s in enumerate(out.scores)], dim=1).cpu()
            logprobs = logprobs.masked_fill(~self._live(seqs).cpu(), 0.0)
        return Samples(seqs, out.scores if keep_scores else None, prompt_len, logprobs)

    def _live(self, seqs: Any) -> Any:
        """rows x steps: True up to and including each row's first stop token."""
        import torch

        stop = torch.isin(seqs, torch.tensor(self.stop_ids, dtype=seqs.dtype, device=seqs.device))
        before = torch.cumsum(stop.long(), dim=1) - stop.long()  # stop tokens strictly before each step
        return before == 0

    def unsupported_options(self, temperature: float) -> list[str]:
        """The options of the model's ``generation_config`` that generate would apply and the fast sampler
        does not (it does stop/pad tokens, suppressed tokens, temperature, top-k and top-p)."""
        cfg = getattr(self.model, "generation_config", None)
        if cfg is None:
            return []

        neutral = {"repetition_penalty": 1.0, "encoder_repetition_penalty": 1.0, "guidance_scale": 1.0,
                   "typical_p": 1.0}  # the value that changes nothing; otherwise 0 (a number) or None

        def on(name: str) -> bool:
            value = getattr(cfg, name, None)
            if value is None or value is False:
                return False
            if name in ("forced_bos_token_id", "forced_eos_token_id"):
                return True
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value) != neutral.get(name, 0.0)
            return bool(value)

        names = ["repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size",
                 "encoder_no_repeat_ngram_size", "min_length", "min_new_tokens", "bad_words_ids", "sequence_bias",
                 "begin_suppress_tokens", "forced_bos_token_id", "forced_eos_token_id",
                 "exponential_decay_length_penalty", "watermarking_config", "renormalize_logits",
                 "remove_invalid_values", "guidance_scale"]
        if temperature > 0:
            names += ["min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "top_h"]
        return [name for name in names if on(name)]

    def processors(self, *, temperature: float, top_p: float = 1.0, top_k: int = 0) -> Any:
        """transformers' logits processors for these settings, in generate's order and with its conditions
        (suppression; then, when sampling, temperature unless 1, top-k unless 0, top-p unless 1)."""
        from transformers.generation.logits_process import (LogitsProcessorList, SuppressTokensLogitsProcessor,
                                                            TemperatureLogitsWarper, TopKLogitsWarper,
                                                            TopPLogitsWarper)

        procs = LogitsProcessorList()
        suppress = self.suppress_ids
        if suppress is None:  # the checkpoint's own setting, as generate would apply it
            suppress = getattr(getattr(self.model, "generation_config", None), "suppress_tokens", None)
        if suppress:
            procs.append(SuppressTokensLogitsProcessor(list(suppress), device=str(input_device(self.model))))
        if temperature > 0:
            if float(temperature) != 1.0:
                procs.append(TemperatureLogitsWarper(float(temperature)))
            if int(top_k) != 0:
                procs.append(TopKLogitsWarper(top_k=int(top_k), min_tokens_to_keep=1))
            if float(top_p) < 1.0:
                procs.append(TopPLogitsWarper(top_p=float(top_p), min_tokens_to_keep=1))
        return procs

    def _prefill(self, inputs: Any, n: int) -> tuple[Any, Any, Any, Any]:
        """Prefill the (left-padded) prompt rows of ``inputs`` once and repeat them for their ``n`` samples:
        (the cache, float32 logits of the next token (rows, vocab), attention mask (rows, length), the next
        position of every row ((4, rows) multimodal, else (rows,))); rows are prompt-major."""
        import torch
        from transformers import DynamicCache

        model = self.model
        dev = input_device(model)
        feats = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in dict(inputs).items()}
        ids = feats.pop("input_ids")
        mask = feats.pop("attention_mask", None)
        if mask is None:
            mask = torch.ones_like(ids)
        # the prompt's positions exactly as generate makes them (text row + multimodal rope rows, from the
        # attention mask, so left padding is right); each decode step is then "last position + 1" per row
        pos = model._prepare_position_ids_for_generation(ids, {"input_ids": ids, "attention_mask": mask, **feats})
        cache = DynamicCache(config=model.config.get_text_config(decoder=True))
        with last_layer_at_last_position(model) if self.short_prefill else contextlib.nullcontext():
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, cache=cache, use_cache=True,
                        logits_to_keep=1, **feats)
        logits = out.logits[:, -1].to(device=dev, dtype=torch.float32, copy=True)
        del out, feats
        nxt = pos[..., -1] + 1  # (4, rows) or (rows,): the next position of every row
        if n > 1:  # the n samples of a prompt share its prefill
            cache.batch_repeat_interleave(n)
            logits = logits.repeat_interleave(n, dim=0)
            mask = mask.repeat_interleave(n, dim=0)
            nxt = nxt.repeat_interleave(n, dim=-1)
        return cache, logits, mask, nxt

    def _next_logits(self, step: Any, tok: Any, nxt: Any, mask: Any, cache: Any) -> Any:
        """float32 logits (rows, vocab) after feeding ``tok`` at positions ``nxt`` on ``cache`` (``mask``: the
        attention mask with the new position): through ``step`` (a :class:`_DecodeStep`) or the model's forward."""
        import torch

        dev = input_device(self.model)
        if step is not None:
            return step(tok, nxt, mask, cache).to(device=dev, dtype=torch.float32, copy=True)
        out = self.model(input_ids=tok[:, None], attention_mask=mask, position_ids=nxt[..., None], cache=cache,
                         use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].to(device=dev, dtype=torch.float32, copy=True)

    def _fast(self, inputs: Any, *, n: int, max_new_tokens: int, temperature: float, top_p: float, top_k: int,
              keep_logprobs: bool) -> tuple[Any, Any]:
        """Prefill once per prompt, repeat the cache for the ``n`` samples, decode with finished rows dropped."""
        import torch

        model = self.model
        dev = input_device(model)
        n_prompts = int(inputs["input_ids"].shape[0])
        cache, logits, mask, nxt = self._prefill(inputs, n)
        reserved = reserve_cache(cache, max_new_tokens)  # decode steps write in place (no per-step copy of the cache)
        rows = n_prompts * n
        procs = self.processors(temperature=temperature, top_p=top_p, top_k=top_k)
        stops = torch.tensor(self.stop_ids, device=dev, dtype=torch.long)
        tokens = torch.full((rows, max_new_tokens), int(self.pad_id), dtype=torch.long, device=dev)
        logprobs = torch.zeros((rows, max_new_tokens), dtype=torch.float32, device=dev) if keep_logprobs else None
        alive = torch.arange(rows, device=dev)  # the original row of every batch row
        step = _DecodeStep.for_model(model) if self.own_step else None  # else the model's forward
        steps = 0
        for t in range(max_new_tokens):
            tok, lp = _draw(procs, logits, temperature, logprobs is not None)
            tokens[alive, t] = tok
            if lp is not None:
                logprobs[alive, t] = lp
            steps = t + 1
            if t + 1 == max_new_tokens:
                break
            running = ~torch.isin(tok, stops)
            if not bool(running.all()):  # finished rows leave the batch, their cache rows too
                keep = running.nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                mask = mask[keep]
                # leading positions that are padding for every row left (a longer prompt's row ended) leave too
                front = int(mask.any(0).int().argmax()) if reserved and bool(mask.any()) else 0
                select_cache_rows(cache, keep, drop_front=front)
                alive, tok, mask, nxt = alive[keep], tok[keep], mask[:, front:], nxt[..., keep]
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            logits = self._next_logits(step, tok, nxt, mask, cache)
            nxt = nxt + 1
        del cache
        return tokens[:, :steps], (logprobs[:, :steps].cpu() if logprobs is not None else None)

    def stream(self, admit: Any, *, n: int, max_new_tokens: int, temperature: float, top_p: float = 1.0,
               top_k: int = 0, seed: int | None = None, keep_logprobs: bool = False) -> Any:
        """Continuous batching: one decode batch that prompts join while others' samples run, yielding each
        prompt's ``n`` samples as soon as the last of them stops.

        ``admit()`` is called before the first step and after every step's finished groups were yielded (so its
        answer may depend on what the caller made of them); it returns ``(keys, inputs)`` (a key per prompt,
        the prompts left-padded as for :meth:`sample`) to prefill and join the batch now, or None. Yields
        ``(key, sequences, logprobs)``: sequences (n, new tokens) padded after each row's stop token,
        logprobs as :meth:`sample`'s (None unless ``keep_logprobs``). Ends when no row runs and ``admit``
        gives nothing. The same distributions as :meth:`sample` (a row's ``max_new_tokens`` count from when
        it joined); the draws come from a generator seeded with ``seed`` (the caller's random streams are not
        touched) and depend on which rows share a step, so they differ from ``sample``'s.

        Each call of :meth:`sample` decodes until its longest answer stops, however few rows are left: with
        long answers (video keys: 250 tokens) beside short ones (20) most of an RL step's decode steps ran a
        handful of rows, and a refill of filtered groups waited for the call before it (docs/experiments.md
        P11). Here a refill joins the batch at once and shares the long answers' steps."""
        import torch

        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        model = self.model
        dev = input_device(model)
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(seed) if seed is not None else int(torch.seed()))
        procs = self.processors(temperature=temperature, top_p=top_p, top_k=top_k)
        stops = torch.tensor(self.stop_ids, device=dev, dtype=torch.long)
        step = _DecodeStep.for_model(model) if self.own_step else None
        was_training = bool(getattr(model, "training", False))
        model.eval()
        cache = logits = mask = nxt = None
        slot = torch.zeros(0, dtype=torch.long)  # per batch row: its row in the tokens below
        count = torch.zeros(0, dtype=torch.long)  # per batch row: tokens drawn so far
        tokens = torch.zeros((0, max_new_tokens), dtype=torch.long)  # per admitted row (slot)
        logprobs = torch.zeros((0, max_new_tokens)) if keep_logprobs else None
        lengths = torch.zeros(0, dtype=torch.long)
        groups: dict[Any, list[int]] = {}  # key -> [its first slot, its rows still running]
        key_of: list[Any] = []  # per slot

        def join(batch: Any) -> None:
            nonlocal cache, logits, mask, nxt, count, slot, tokens, logprobs, lengths
            keys, inputs = batch
            with torch.no_grad():
                new_cache, new_logits, new_mask, new_nxt = self._prefill(inputs, n)
            rows = len(keys) * n
            first = int(tokens.shape[0])
            for k, key in enumerate(keys):
                if key in groups:
                    raise ValueError(f"stream: key {key!r} admitted twice")
                groups[key] = [first + k * n, n]
                key_of.extend([key] * n)
            tokens = torch.cat([tokens, torch.full((rows, max_new_tokens), int(self.pad_id), dtype=torch.long)])
            if logprobs is not None:
                logprobs = torch.cat([logprobs, torch.zeros((rows, max_new_tokens))])
            lengths = torch.cat([lengths, torch.zeros(rows, dtype=torch.long)])
            new_slots = torch.arange(first, first + rows)
            if cache is None:  # the batch is empty: the prefill is the batch
                if not reserve_cache(new_cache, max_new_tokens):
                    raise RuntimeError(f"{type(model).__name__}: its cache cannot be joined; sample with `sample` "
                                       "(rollout.sampler: fast)")
                cache, logits, mask, nxt = new_cache, new_logits, new_mask, new_nxt
                slot, count = new_slots, torch.zeros(rows, dtype=torch.long)
                return
            width = max(int(mask.shape[1]), int(new_mask.shape[1]))
            for layer, new in zip(cache.layers, new_cache.layers):
                layer.join(new.keys, new.values, max_new_tokens)
            pad = torch.nn.functional.pad
            mask = torch.cat([pad(mask, (width - mask.shape[1], 0)), pad(new_mask, (width - new_mask.shape[1], 0))])
            logits = torch.cat([logits, new_logits])
            nxt = torch.cat([nxt, new_nxt], dim=-1)
            slot, count = torch.cat([slot, new_slots]), torch.cat([count, torch.zeros(rows, dtype=torch.long)])

        try:
            batch = admit()
            if batch:
                join(batch)
            while cache is not None:
                with torch.no_grad():
                    tok, lp = _draw(procs, logits, temperature, logprobs is not None, gen)
                tokens[slot, count] = tok
                if lp is not None:
                    logprobs[slot, count] = lp
                count = count + 1
                stopped = torch.isin(tok, stops) | (count >= max_new_tokens)
                done: list[Any] = []
                if bool(stopped.any()):  # finished rows leave the batch, their cache rows too
                    lengths[slot[stopped]] = count[stopped]
                    for s_ in slot[stopped].tolist():
                        g = groups[key_of[s_]]
                        g[1] -= 1
                        if g[1] == 0:
                            done.append(key_of[s_])
                    alive = ~stopped
                    rows = int(alive.sum())
                    if rows:
                        # the running rows past the first `rows` move into the places of the finished ones among
                        # them (a copy of the moved rows only, not of the whole cache)
                        holes = (~alive[:rows]).nonzero().squeeze(1)
                        movers = alive[rows:].nonzero().squeeze(1) + rows
                        order = torch.arange(int(alive.numel()))
                        order[holes] = movers
                        order = order[:rows]
                        slot, count, tok, nxt, mask = slot[order], count[order], tok[order], nxt[..., order], mask[order]
                        front = int(mask.any(0).int().argmax())
                        for layer in cache.layers:
                            layer.compact(movers, holes, rows, front)
                        mask = mask[:, front:]
                    else:
                        cache = logits = mask = nxt = None
                if cache is not None:
                    mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
                    with torch.no_grad():
                        logits = self._next_logits(step, tok, nxt, mask, cache)
                    nxt = nxt + 1
                for key in done:
                    first, _ = groups.pop(key)
                    width = int(lengths[first : first + n].max())
                    yield (key, tokens[first : first + n, :width].clone(),
                           logprobs[first : first + n, :width].clone() if logprobs is not None else None)
                batch = admit()
                if batch:
                    join(batch)
        finally:
            if was_training:
                model.train()

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
