"""Model builders shared by the tests (importable by name from tests/)."""

from __future__ import annotations

from pathlib import Path


def save_tiny_qwen2_5_vl(tok, out: Path, *, video_longest_edge: int = 28 * 28 * 16) -> Path:
    """A random two-layer Qwen2.5-VL (patch 14, window attention, seconds-per-grid temporal rope) with the
    tiny model's tokenizer and chat template, saved to ``out``: the same load / build_inputs / generate path
    must serve it beside Qwen3-VL."""
    import torch
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor,
                              Qwen2VLImageProcessor, Qwen2VLVideoProcessor)

    from onethinker.models.tiny import CHAT_TEMPLATE

    ids = tok.convert_tokens_to_ids
    cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, bos_token_id=ids("<|endoftext|>"),
                         eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>"),
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 6, 6]}),
        vision_config=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                           fullatt_block_indexes=[1], window_size=56),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(cfg).save_pretrained(out)
    Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(size={"shortest_edge": 28 * 28 * 4, "longest_edge": 28 * 28 * 16}),
        video_processor=Qwen2VLVideoProcessor(size={"shortest_edge": 28 * 28 * 4, "longest_edge": video_longest_edge}),
        tokenizer=tok, chat_template=CHAT_TEMPLATE).save_pretrained(out)
    return out


def recomputed_logprobs(model, processor, engine, msgs, rows, n, temperature):
    """Each sample's log-probabilities from one forward pass of its own prompt + response (no padding, no
    cache), with the sampler's suppression and temperature."""
    import torch

    from onethinker.models.inputs import build_inputs

    out = []
    for i, resp in enumerate(rows):
        feats = dict(build_inputs(processor, [msgs[i // n]], add_generation_prompt=True, padding_side="left"))
        plen = feats["input_ids"].shape[1]
        r = torch.tensor([resp])
        feats["input_ids"] = torch.cat([feats["input_ids"], r], dim=1)
        feats["attention_mask"] = torch.cat([feats["attention_mask"], torch.ones_like(r)], dim=1)
        if "mm_token_type_ids" in feats:
            feats["mm_token_type_ids"] = torch.cat(
                [feats["mm_token_type_ids"], torch.zeros_like(r, dtype=feats["mm_token_type_ids"].dtype)], dim=1)
        with torch.no_grad():
            logits = model(**feats, use_cache=False).logits[0, plen - 1: plen - 1 + len(resp)].float() / temperature
        logits[:, engine.suppress_ids] = float("-inf")
        out.append(torch.log_softmax(logits, dim=-1).gather(-1, r[0, :, None]).squeeze(-1))
    return out
