"""Prompt-shared log-probabilities for the RL update (issue 23): a group's prompt runs once, its n rollouts
reuse it.

The per-rollout path (``RLTrainer._logprobs`` with ``optim.shared_prompt: false``) feeds every rollout as
prompt + response, so a prompt of a group of n rollouts, images or video included, goes forward and
backward n times (and the vision tower encodes each picture n times). Here, per micro-batch:

1. the distinct prompts of the micro-batch (one per group present; left-padded to one length, their
   pictures and videos concatenated) run forward once with the cache on, under autograd when the caller
   wants gradients; the logits of each prompt's last position predict its responses' first token;
2. the cache is expanded to the micro-batch's rollouts by indexing its batch dimension with the group of
   each rollout (an indexing op: the graph is kept, and the gradients of the n rows add up in the prompt's
   keys and values, hence in the prompt's layers, its embeddings and the vision tower);
3. the responses (right-padded) run on that cache with explicit position ids: with multimodal rope a
   response token's position is not its index in the padded row but the prompt's next rope position
   (``get_rope_index``: the largest position of the prompt's tokens + 1, pictures counted by their grid)
   plus its offset in the response, the same as the full-sequence forward computes for it.

Temperature scaling and the suppressed (vision placeholder) ids are applied exactly as in the per-rollout
path, so both give the same log-probabilities (to float rounding) and the same loss and gradients
(``tests/test_shared_prompt.py``).

Micro-batches (:func:`micro_batches`): whole groups (a prompt runs once per micro-batch it is in), ordered by
their longest response and cut where the padded work is least (a group's answers are of similar lengths,
different groups' are not).
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch

from ..models.sampling import last_layer_at_last_position, select_cache_rows

_ROPE_KEYS = ("input_ids", "mm_token_type_ids", "image_grid_thw", "video_grid_thw", "second_per_grid_ts",
              "attention_mask")


#: a micro-batch's fixed cost in padded tokens (the forward and backward calls' own work, whatever their size),
#: what :func:`micro_batches` weighs an extra micro-batch against the padding it saves
MICRO_BATCH_OVERHEAD = 256


def _prompt_length(ro: Any) -> int:
    features = getattr(getattr(ro, "prompt", None), "features", None) or {}
    ids = features.get("input_ids") if isinstance(features, dict) else None
    return int(ids.shape[-1]) if ids is not None else 0


def micro_batches(rollouts: Sequence[Any], size: int, *, shared: bool = True,
                  overhead: int = MICRO_BATCH_OVERHEAD) -> list[list[Any]]:
    """Split ``rollouts`` (a mini-batch) into micro-batches of at most ``size`` rollouts.

    ``shared=False``: consecutive chunks in the given order (the per-rollout path's batching).
    ``shared=True``: whole groups (a group with more than ``size`` rollouts: chunks of ``size``, longest
    first), ordered by their longest response (then their prompt's length), cut into consecutive runs that
    minimise the padded work: every micro-batch pads its responses to its longest and its prompts to its
    longest, and costs ``overhead`` tokens of its own. A group's answers are of similar lengths, groups'
    are not (20-token counts beside 250-token tracks): cutting a fixed number of rollouts put short groups
    beside long ones and padded about 40% of the update's response tokens (docs/experiments.md P11). The
    loss is the same whatever the cut (it is a sum over tokens divided by the mini-batch's token count)."""
    size = max(1, int(size))
    items = list(rollouts)
    if not shared:
        return [items[i : i + size] for i in range(0, len(items), size)]
    groups: dict[Any, list[Any]] = {}
    for ro in items:
        groups.setdefault(ro.group, []).append(ro)
    units = []  # whole groups (or chunks of size), longest response first
    for g in groups.values():
        ordered = sorted(g, key=lambda ro: -len(ro.response))  # stable: ties keep order
        units += [ordered[i : i + size] for i in range(0, len(ordered), size)]
    units.sort(key=lambda u: (-len(u[0].response), -_prompt_length(u[0])))  # stable
    answer = [max(1, len(u[0].response)) for u in units]  # each unit's longest answer
    prompt_len = [_prompt_length(u[0]) for u in units]
    n = len(units)
    best, cut = [0.0] + [float("inf")] * n, [0] * (n + 1)
    for j in range(1, n + 1):  # best[j]: the cheapest cut of units[:j]; runs i..j-1 pad to units[i]'s longest
        rows, prompt = 0, 0
        for i in range(j - 1, -1, -1):
            rows += len(units[i])
            if rows > size:
                break
            prompt = max(prompt, prompt_len[i])
            cost = best[i] + rows * answer[i] + (j - i) * prompt + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    parts, j = [], n
    while j > 0:
        parts.append([ro for u in units[cut[j] : j] for ro in u])
        j = cut[j]
    return parts[::-1]


def _rope_positions(model: Any, prompts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(position ids of the prompt tokens, (3, G, P) for multimodal rope or (G, P) otherwise; the position
    of each prompt's next token, (G,)) as the full-sequence forward computes them (left padding ignored)."""
    mask = prompts["attention_mask"]
    # Qwen2.5-VL / Qwen3-VL keep it on the inner model (found through any wrapper, e.g. peft's)
    rope = next((m.get_rope_index for m in model.modules() if callable(getattr(m, "get_rope_index", None))), None)
    media = any(k in prompts for k in ("image_grid_thw", "video_grid_thw"))
    if media and (rope is None or "mm_token_type_ids" not in prompts):
        raise ValueError(f"{type(model).__name__}: prompts with pictures need the model's get_rope_index and the "
                         "processor's mm_token_type_ids for the prompt-shared update (set optim.shared_prompt: false)")
    if rope is not None and "mm_token_type_ids" in prompts:
        accepted = inspect.signature(rope).parameters
        kwargs = {k: prompts[k] for k in _ROPE_KEYS if k in prompts and k in accepted}
        pos, _ = rope(**kwargs)
        nxt = pos.masked_fill(~mask.bool()[None], -1).amax(dim=(0, 2)) + 1
        return pos, nxt
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    return pos, mask.long().sum(-1)


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def pad_responses(rollouts: Sequence[Any], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rollouts' responses right-padded with ``pad_id`` (B, R) and their mask (float32), on the CPU."""
    rlen = max(1, max(len(ro.response) for ro in rollouts))
    resp = torch.full((len(rollouts), rlen), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rollouts), rlen), dtype=torch.float32)
    for i, ro in enumerate(rollouts):
        resp[i, : len(ro.response)] = torch.tensor(ro.response, dtype=torch.long)
        mask[i, : len(ro.response)] = 1.0
    return resp, mask


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor, *, temperature: float,
                   suppress_ids: Sequence[int] | None) -> torch.Tensor:
    """Log-probabilities of ``tokens`` (B, R) under ``logits`` (B, R, V) as the sampler drew them: scaled by
    the rollout temperature, the suppressed ids at -inf (both paths of the update use it)."""
    logits = logits.float()
    if temperature > 0:
        logits = logits / temperature
    if suppress_ids:
        logits[..., list(suppress_ids)] = float("-inf")
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens[..., None]).squeeze(-1)


def shared_logprobs(model: Any, rollouts: Sequence[Any], *, pad_id: int, device: torch.device,
                    temperature: float, suppress_ids: Sequence[int] | None,
                    collate: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities (B, R) of the rollouts' responses and their mask, each distinct prompt run
    once (see the module's description). ``collate``: the trainer's left-padding collate of single-prompt
    features (``onethinker.rl.trainer.collate_prompts``). Differentiable when autograd is on."""
    keys = list(dict.fromkeys(ro.group for ro in rollouts))
    first = {}
    for ro in rollouts:
        first.setdefault(ro.group, ro)
    row_of = {g: i for i, g in enumerate(keys)}
    idx = torch.tensor([row_of[ro.group] for ro in rollouts], dtype=torch.long, device=device)

    prompts = {k: v.to(device) if isinstance(v, torch.Tensor) else v
               for k, v in collate([first[g].prompt.features for g in keys], pad_id).items()}
    pos, nxt = _rope_positions(model, prompts)
    with last_layer_at_last_position(model):  # only the last position's logits and the cache are used
        out = model(**prompts, position_ids=pos, use_cache=True, logits_to_keep=1)
    cache = _cache_of(out)
    if cache is None:
        raise RuntimeError(f"{type(model).__name__} returned no cache: the prompt-shared update needs one "
                           "(set optim.shared_prompt: false)")
    head = out.logits[:, -1:, :]  # (G, 1, V): predicts each group's first response token
    select_cache_rows(cache, idx)  # (G, ...) -> (B, ...), differentiable

    resp, mask = (t.to(device) for t in pad_responses(rollouts, pad_id))
    rlen = resp.shape[1]
    attention = torch.cat([prompts["attention_mask"].index_select(0, idx), mask.to(prompts["attention_mask"].dtype)], 1)
    rpos = nxt.index_select(0, idx)[:, None] + torch.arange(rlen, device=device)[None, :]
    rpos = rpos[None].expand(pos.shape[0], -1, -1) if pos.dim() == 3 else rpos
    body = model(input_ids=resp, attention_mask=attention, position_ids=rpos, cache=cache, use_cache=True)
    # the logits at response position t predict token t + 1; the last one predicts nothing we need
    logits = torch.cat([head.index_select(0, idx), body.logits[:, :-1, :]], dim=1)
    return token_logprobs(logits, resp, temperature=temperature, suppress_ids=suppress_ids), mask
