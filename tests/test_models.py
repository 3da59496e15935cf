"""onethinker.models: the tiny offline Qwen3-VL, load(), build_inputs(), generate(), LoRA, errors."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from onethinker.data.chat import record_messages  # noqa: E402
from onethinker.data.media import sample_video  # noqa: E402
from onethinker.models import (  # noqa: E402
    LoadConfig,
    LoraSpec,
    ModelLoadError,
    ModelNotFoundError,
    assistant_mask,
    build_inputs,
    build_tiny,
    generate,
    load,
)
from onethinker.models.tiny import CHAT_TEMPLATE, FORMAT_TOKENS, PIXELS, SPECIAL_TOKENS  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Every test runs as with HF_HUB_OFFLINE=1 (the env var and huggingface_hub's constant)."""
    import huggingface_hub.constants as hc

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def tiny_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    note = build_tiny(out, corpus_dir=corpus, seed=0)
    assert note["size"] == "tiny"
    return out


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load(tiny_dir)


def _records(corpus, name):
    return json.loads((corpus / name).read_text())


@pytest.fixture(scope="module")
def mixed(corpus):
    """[image SFT conversation, video SFT conversation, text-only conversation] and the video path."""
    img = _records(corpus, "onethinker_sft_image.json")[0]
    vid = _records(corpus, "onethinker_sft_video.json")[0]
    text_only = [{"role": "user", "content": [{"type": "text", "text": "How many sides has a triangle?"}]}]
    return [record_messages(img, corpus), record_messages(vid, corpus), text_only], corpus / vid["videos"][0]


def _prompts(batch):
    return [[m for m in conv if m["role"] != "assistant"] for conv in batch]


# -------------------------------------------------------------------------------------------------
# build_tiny + load
# -------------------------------------------------------------------------------------------------


def test_build_tiny_writes_a_checkpoint_that_loads_offline(tiny_dir, tiny):
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "processor_config.json", "chat_template.jinja", "tiny_model.json",
                 "README.md"):
        assert (tiny_dir / name).is_file(), name
    model, processor = tiny
    assert model.config.model_type == "qwen3_vl"
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen3VLProcessor"
    assert type(processor.video_processor).__name__ == "Qwen3VLVideoProcessor"
    assert processor.image_processor.patch_size == 16 and processor.image_processor.merge_size == 2
    assert processor.video_processor.temporal_patch_size == 2
    assert not model.training
    note = json.loads((tiny_dir / "tiny_model.json").read_text())
    assert note["parameters"] == sum(p.numel() for p in model.parameters())
    assert note["parameters"] < 10_000_000
    assert note["vision_tokens"]["image_320x240"]["tokens"] == 48
    assert note["vision_tokens"]["video_256x192_frame"]["tokens_per_temporal_patch"] == 6
    # the same build is deterministic
    assert note["token_ids"] == {t: processor.tokenizer.convert_tokens_to_ids(t)
                                 for t in (*SPECIAL_TOKENS, *FORMAT_TOKENS)}


def test_config_token_ids_match_the_tokenizer(tiny):
    model, processor = tiny
    tok, cfg = processor.tokenizer, model.config
    assert cfg.text_config.vocab_size == len(tok)
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>") == processor.image_token_id
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>") == processor.video_token_id
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.vision_end_token_id == tok.convert_tokens_to_ids("<|vision_end|>")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    gen = model.generation_config
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen.eos_token_id
    assert gen.pad_token_id == tok.pad_token_id
    assert cfg.vision_config.deepstack_visual_indexes == [0]
    assert sum(cfg.text_config.rope_parameters["mrope_section"]) == cfg.text_config.head_dim // 2


def test_tokenizer_round_trips_special_and_format_tokens(tiny):
    tok = tiny[1].tokenizer
    for t in (*SPECIAL_TOKENS, *FORMAT_TOKENS):
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, (t, ids)
        assert tok.convert_ids_to_tokens(ids[0]) == t
    text = ("<|im_start|>assistant\n<think>The red circle is at the top left, 3 shapes.</think>"
            "<answer>{\"time\": [1.5, 7.25]}</answer><|im_end|>\n")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    # special tokens go, the answer format stays
    kept = tok.decode(ids, skip_special_tokens=True)
    assert kept.startswith("assistant\n<think>") and kept.endswith("</answer>\n")
    # the tokenizer was trained on the corpus: its words are short
    assert len(tok("Please answer this question based on the visual content.")["input_ids"]) <= 12
    # byte-level: anything round-trips
    odd = "Ünïcödé ✓ 中文 \t tabs"
    assert tok.decode(tok(odd)["input_ids"]) == odd


def test_chat_template_renders_our_messages(tiny, mixed):
    processor = tiny[1]
    conv = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image", "image": "a.png"}, {"type": "video", "video": "b.mp4"},
                                     {"type": "text", "text": "What moves?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<think>x</think><answer>y</answer>"}]},
    ]
    text = processor.apply_chat_template([conv], tokenize=False)[0]
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|><|vision_start|><|video_pad|><|vision_end|>"
        "What moves?<|im_end|>\n<|im_start|>assistant\n<think>x</think><answer>y</answer><|im_end|>\n"
    )
    gen = processor.apply_chat_template([conv[:2]], tokenize=False, add_generation_prompt=True)[0]
    assert gen.endswith("What moves?<|im_end|>\n<|im_start|>assistant\n")
    assert processor.chat_template == CHAT_TEMPLATE
    # a record from the synthetic corpus: the question text and the placeholder are there
    batch, _ = mixed
    text = processor.apply_chat_template([batch[0]], tokenize=False)[0]
    assert text.startswith("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>")
    assert "<|im_start|>assistant\n<think>" in text and text.endswith("</answer><|im_end|>\n")


# -------------------------------------------------------------------------------------------------
# build_inputs
# -------------------------------------------------------------------------------------------------


def test_build_inputs_mixed_batch(tiny, mixed):
    processor = tiny[1]
    batch, _ = mixed
    x = build_inputs(processor, _prompts(batch))
    for key in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw", "pixel_values_videos",
                "video_grid_thw", "mm_token_type_ids"):
        assert key in x, key
    ids, mask = x["input_ids"], x["attention_mask"]
    assert ids.shape[0] == 3 and ids.shape == mask.shape
    tok = processor.tokenizer
    img_id, vid_id = processor.image_token_id, processor.video_token_id
    # one image of 320x240 -> 256x192 -> 12x16 patches -> 48 tokens; its pads are in row 0 only
    assert x["image_grid_thw"].tolist() == [[1, 12, 16]]
    assert (ids[0] == img_id).sum().item() == 48 and (ids[1:] == img_id).sum().item() == 0
    # one video of 256x192 frames -> 96x64 -> 6 tokens per temporal patch
    t, h, w = x["video_grid_thw"][0].tolist()
    assert (h, w) == (4, 6)
    assert (ids[1] == vid_id).sum().item() == t * 6 and (ids[[0, 2]] == vid_id).sum().item() == 0
    assert x["pixel_values"].shape[0] == 12 * 16 and x["pixel_values_videos"].shape[0] == t * h * w
    # left padding: every prompt ends with the generation prompt
    for r in range(3):
        assert tok.decode(ids[r][mask[r] == 1]).endswith("<|im_start|>assistant\n")
        assert mask[r][-1] == 1
    assert (mask.sum(1) < ids.shape[1]).any() and (mask[:, 0] == 0).any()
    # text only: no vision tokens
    assert (x["mm_token_type_ids"][2] != 0).sum().item() == 0
    # the processor's own limits and explicit per-frame limits give the same frames
    y = build_inputs(processor, _prompts(batch), video_min_pixels=PIXELS["video_min_pixels"],
                     video_max_pixels=PIXELS["video_max_pixels"], padding_side="right")
    assert y["video_grid_thw"].tolist() == x["video_grid_thw"].tolist()
    assert y["attention_mask"][:, 0].all()
    # per-item options win over the call's: 1 fps halves the temporal patches
    one_fps = [[{**m, "content": [{**c, "fps": 1.0} if c.get("type") == "video" else c for c in m["content"]]}
                for m in batch[1] if m["role"] == "user"]]
    z = build_inputs(processor, one_fps)
    assert z["video_grid_thw"][0, 0].item() == t // 2
    # a single conversation is a batch of one
    assert build_inputs(processor, _prompts(batch)[2])["input_ids"].shape[0] == 1


def test_video_timestamps_flow_to_the_processor(tiny, mixed):
    processor = tiny[1]
    batch, video = mixed
    x = build_inputs(processor, [_prompts(batch)[1]], video_fps=2.0)
    text = processor.tokenizer.decode(x["input_ids"][0])
    stamps = [float(s) for s in re.findall(r"<(\d+(?:\.\d+)?) seconds>", text)]
    clip = sample_video(video, fps=2.0)
    assert len(clip) % 2 == 0
    # Qwen3-VL: one <t seconds> per temporal patch, the mean time of its two frames, 1 decimal
    pairs = clip.timestamps.reshape(-1, 2).mean(1)
    assert len(stamps) == len(pairs) == x["video_grid_thw"][0, 0].item()
    assert np.allclose(stamps, pairs, atol=0.05 + 1e-9), (stamps, pairs.tolist())
    # the timestamps are the frames' real times: 2 fps from a 4 fps source -> every other frame
    assert clip.metadata()["frames_indices"] == [int(i) for i in clip.frame_indices]
    assert np.allclose(clip.timestamps, clip.frame_indices / clip.info.fps)
    # each temporal patch: <t seconds><|vision_start|> 6 pads <|vision_end|>
    block = re.search(r"<[\d.]+ seconds><\|vision_start\|>((?:<\|video_pad\|>)+)<\|vision_end\|>", text)
    assert block and block.group(1).count("<|video_pad|>") == 6


def test_build_inputs_errors(tiny, tmp_path):
    processor = tiny[1]
    from onethinker.data.media import MediaError
    from onethinker.models import MediaItemError

    with pytest.raises(MediaError, match="no such file"):
        build_inputs(processor, [[{"role": "user", "content": [{"type": "image", "image": str(tmp_path / "x.png")}]}]])
    with pytest.raises(MediaItemError, match="URLs are not fetched"):
        build_inputs(processor, [[{"role": "user", "content": [{"type": "image", "image": "https://x/y.png"}]}]])
    with pytest.raises(ValueError, match="padding_side"):
        build_inputs(processor, [[{"role": "user", "content": "hi"}]], padding_side="middle")


def test_assistant_mask_covers_the_reply_and_its_end(tiny, mixed):
    processor = tiny[1]
    batch, _ = mixed
    x = build_inputs(processor, batch[:1], add_generation_prompt=False, padding_side="right",
                     return_assistant_mask=True)
    m = x["assistant_masks"]
    assert torch.equal(m, assistant_mask(x["input_ids"], processor))
    reply = processor.tokenizer.decode(x["input_ids"][0][m[0] == 1])
    assert reply == batch[0][1]["content"][0]["text"] + "<|im_end|>"


# -------------------------------------------------------------------------------------------------
# forward, generate
# -------------------------------------------------------------------------------------------------


def test_forward_loss_is_finite_and_gradients_reach_the_vision_tower(tiny, mixed):
    model, processor = tiny
    batch, _ = mixed
    x = build_inputs(processor, batch, add_generation_prompt=False, padding_side="right", return_assistant_mask=True)
    labels = x["input_ids"].masked_fill(x.pop("assistant_masks") == 0, -100)
    model.zero_grad()
    try:
        out = model(**x, labels=labels)
        assert math.isfinite(out.loss.item()) and out.loss.item() > 0
        out.loss.backward()
        g = model.model.visual.patch_embed.proj.weight.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0
    finally:
        model.zero_grad(set_to_none=True)


def test_patch_embedding_runs_as_a_matrix_product(tiny_dir, tmp_path):
    """load() runs the vision patch embedding (Conv3d, kernel = stride = the whole patch) as a matrix product:
    the same output and weight gradients as the convolution (to float rounding), for Qwen3-VL and Qwen2.5-VL;
    fast_modules=False keeps transformers' module; saved weights are unchanged."""
    from model_helpers import save_tiny_qwen2_5_vl

    from onethinker.models.loading import linear_patch_embeds

    save_tiny_qwen2_5_vl(load(tiny_dir)[1].tokenizer, tmp_path / "q25")
    for folder in (tiny_dir, tmp_path / "q25"):
        fast, _ = load(folder, dtype="float32")
        plain, _ = load(folder, dtype="float32", fast_modules=False)
        pf, pp = fast.model.visual.patch_embed, plain.model.visual.patch_embed
        assert "forward" in vars(pf) and "forward" not in vars(pp)  # replaced on the instance only
        x = torch.randn(37, pp.proj.weight[0].numel())
        a, b = pf(x), pp(x)
        assert a.shape == b.shape and float((a - b).abs().max()) < 1e-5
        a.square().sum().backward()
        b.square().sum().backward()
        ga, gb = pf.proj.weight.grad, pp.proj.weight.grad
        assert float((ga - gb).abs().max()) < 1e-4 * float(gb.abs().max())
        assert all(torch.equal(u, v) for u, v in zip(fast.state_dict().values(), plain.state_dict().values()))
        assert linear_patch_embeds(plain) == 1 and "forward" in vars(pp)


def test_generate_returns_strings_for_a_mixed_batch(tiny, mixed):
    model, processor = tiny
    batch, _ = mixed
    prompts = _prompts(batch)
    out = generate(model, processor, prompts, max_new_tokens=6)
    assert len(out) == 3 and all(len(o) == 1 and isinstance(o[0], str) for o in out)
    assert generate(model, processor, prompts, max_new_tokens=6) == out  # greedy is deterministic
    assert generate(model, processor, prompts, max_new_tokens=6, num_return_sequences=2) == [o * 2 for o in out]
    model.train()
    s1 = generate(model, processor, prompts, max_new_tokens=6, temperature=1.0, top_p=0.95,
                  num_return_sequences=2, seed=3)
    assert model.training  # put back as it was
    model.eval()
    s2 = generate(model, processor, prompts, max_new_tokens=6, temperature=1.0, top_p=0.95,
                  num_return_sequences=2, seed=3)
    assert s1 == s2 and all(len(o) == 2 for o in s1)


def test_generate_keeps_think_and_answer_tokens(tiny):
    """Decoding skips special tokens only: a reply made of the format tokens comes back as text."""
    tok = tiny[1].tokenizer
    ids = tok("<think>a</think><answer>b</answer><|im_end|>", add_special_tokens=False)["input_ids"]
    assert tok.batch_decode([ids], skip_special_tokens=True) == ["<think>a</think><answer>b</answer>"]


# -------------------------------------------------------------------------------------------------
# LoRA
# -------------------------------------------------------------------------------------------------


def test_lora_wrap_train_save_and_load(tiny_dir, mixed, tmp_path):
    batch, _ = mixed
    model, processor = load(tiny_dir, lora=LoraSpec(r=4, alpha=8, dropout=0.0))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("visual" in n for n in trainable)  # language model only by default
    assert len(trainable) == 2 * 7 * model.config.text_config.num_hidden_layers
    x = build_inputs(processor, batch[:1], add_generation_prompt=False, padding_side="right")
    model.train()
    model(**x, labels=x["input_ids"]).loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)
    with torch.no_grad():  # make the adapter matter (B starts at zero)
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.2)
    model.eval()
    with torch.no_grad():
        want = model(**x).logits
    model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()

    base, _ = load(tiny_dir)
    with torch.no_grad():
        assert not torch.allclose(base(**x).logits, want)
    for loaded, _ in (load(tiny_dir, lora=tmp_path / "adapter"), load(tmp_path / "adapter")):
        assert not any(p.requires_grad for p in loaded.parameters())  # frozen unless lora_trainable
        with torch.no_grad():
            assert torch.allclose(loaded(**x).logits, want, atol=1e-5)
    again, _ = load(tiny_dir, lora=tmp_path / "adapter", lora_trainable=True)
    assert any(p.requires_grad for p in again.parameters())
    # a dict config works too, and a target that matches nothing is an error
    m, _ = load(tiny_dir, lora={"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]})
    assert sum(p.requires_grad for p in m.parameters()) == 2 * model.config.text_config.num_hidden_layers
    with pytest.raises(ModelLoadError, match="matched no layer"):
        load(tiny_dir, lora={"target_modules": ["no_such_proj"]})


def test_load_config_from_yaml_data(tiny_dir):
    from onethinker.config import from_dict

    cfg = from_dict(LoadConfig, {"path": str(tiny_dir), "dtype": "float32", "lora": {"r": 2, "alpha": 4}})
    assert isinstance(cfg.lora, LoraSpec) and cfg.lora.r == 2
    model, _ = cfg.load()
    assert model.dtype == torch.float32 and any(p.requires_grad for p in model.parameters())
    assert from_dict(LoadConfig, {"lora": "runs/adapter"}).lora == "runs/adapter"


def test_load_dtype(tiny_dir):
    model, _ = load(tiny_dir, dtype="bfloat16")
    assert model.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="dtype"):
        load(tiny_dir, dtype="int3")


# -------------------------------------------------------------------------------------------------
# errors
# -------------------------------------------------------------------------------------------------


def test_load_errors(tmp_path, tiny_dir):
    with pytest.raises(ModelNotFoundError, match="no such checkpoint folder"):
        load(tmp_path / "missing")
    with pytest.raises(FileNotFoundError):
        load(str(tmp_path / "missing" / "deeper"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load(empty)
    llama = tmp_path / "llama"
    transformers.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             vocab_size=100).save_pretrained(llama)
    with pytest.raises(ModelLoadError, match="model_type 'llama' is not a Qwen-VL architecture"):
        load(llama)
    with pytest.raises(ModelLoadError, match="HF_HUB_OFFLINE is set.*not in the Hugging Face cache"):
        load("onethinker-tests/no-such-model")
    with pytest.raises(ModelNotFoundError, match="LoRA adapter"):
        load(tiny_dir, lora=tmp_path / "no-adapter")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            load(tiny_dir, device="cuda")


# -------------------------------------------------------------------------------------------------
# Qwen2.5-VL
# -------------------------------------------------------------------------------------------------


def test_qwen2_5_vl_checkpoint_loads_and_takes_the_same_inputs(tiny, mixed, tmp_path):
    """The same load/build_inputs/generate path serves a Qwen2.5-VL (patch 14, fps-based temporal rope)."""
    from model_helpers import save_tiny_qwen2_5_vl

    save_tiny_qwen2_5_vl(tiny[1].tokenizer, tmp_path / "q25", video_longest_edge=28 * 28 * 64)

    model, processor = load(tmp_path / "q25")
    assert model.config.model_type == "qwen2_5_vl"
    batch, video = mixed
    x = build_inputs(processor, _prompts(batch), video_max_pixels=28 * 28 * 4)
    clip = sample_video(video, fps=2.0)
    assert x["image_grid_thw"][0, 1:].tolist() == [6, 8]  # 320x240 -> 112x84: 4x3 merged patches of 28 px
    assert x["video_grid_thw"].tolist() == [[len(clip) // 2, 2, 4]]  # 256x192 -> 56x28 per frame
    # Qwen2.5-VL's temporal rope: seconds per temporal patch, from the clip's sampling rate
    assert x["second_per_grid_ts"].tolist() == pytest.approx([2 / clip.sample_fps])
    with torch.no_grad():
        assert torch.isfinite(model(**x).logits).all()
    assert len(generate(model, processor, _prompts(batch), max_new_tokens=3)) == 3


# -------------------------------------------------------------------------------------------------
# slow
# -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tiny_learns_a_batch(tiny_dir, mixed):
    """Overfit one mixed batch: the loss on the assistant tokens falls."""
    model, processor = load(tiny_dir)
    batch, _ = mixed
    x = build_inputs(processor, batch, add_generation_prompt=False, padding_side="right", return_assistant_mask=True)
    labels = x["input_ids"].masked_fill(x.pop("assistant_masks") == 0, -100)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**x, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.slow
def test_small_size_builds_and_runs(corpus, tmp_path):
    note = build_tiny(tmp_path / "small", corpus_dir=corpus, size="small")
    assert note["parameters"] > 2 * 4_000_000
    model, processor = load(tmp_path / "small")
    assert model.config.vision_config.deepstack_visual_indexes == [1, 2]
    x = build_inputs(processor, [[{"role": "user", "content": "hi"}]])
    with torch.no_grad():
        assert torch.isfinite(model(**x).logits).all()


@pytest.mark.slow
def test_build_tiny_without_a_corpus(tmp_path):
    note = build_tiny(tmp_path / "t")
    assert note["tokenizer_corpus"].startswith("synthesised")
    model, processor = load(tmp_path / "t")
    assert model.config.text_config.vocab_size == len(processor.tokenizer)
