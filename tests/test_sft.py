"""onethinker.sft: data set and collator (labels, mixed media, cut-off), freezing, configs, a short
Trainer run with checkpoints, logs and resume, and (slow) the demo recipe end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from onethinker.config import load_config  # noqa: E402
from onethinker.data.chat import record_messages  # noqa: E402
from onethinker.models import build_tiny, load  # noqa: E402
from onethinker.sft import (  # noqa: E402
    STATS_KEY,
    SFTCollator,
    SFTConfig,
    SFTDataError,
    SFTError,
    count_parts,
    freeze_vision,
    load_sft_dataset,
    param_part,
    resolve_resume,
    train_sft,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SFT_FILES = ("onethinker_sft_image.json", "onethinker_sft_video.json")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    import huggingface_hub.constants as hc

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def tiny_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    build_tiny(out, corpus_dir=corpus, seed=0)
    return out


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load(tiny_dir)


def _records(corpus, name):
    return json.loads((corpus / name).read_text())


def _item(record, corpus, ident="x"):
    return {"messages": record_messages(record, corpus), "id": ident}


def _assistant_text(record):
    return "".join(m["content"] for m in record["messages"] if m["role"] == "assistant")


# -------------------------------------------------------------------------------------------------
# Data set
# -------------------------------------------------------------------------------------------------


def test_dataset_mixes_files_and_limits_records(corpus):
    files = [corpus / f for f in SFT_FILES]
    n_img, n_vid = (len(_records(corpus, f)) for f in SFT_FILES)
    ds = load_sft_dataset(files, seed=0)
    assert len(ds) == n_img + n_vid
    assert ds.report.files == {str(files[0]): n_img, str(files[1]): n_vid}
    first = [ds[i]["id"].rsplit("#", 1)[0] for i in range(20)]
    assert len(set(first)) == 2  # shuffled together, not file after file
    small = load_sft_dataset(files, seed=0, max_records=10)
    assert len(small) == 10 and [small[i]["id"] for i in range(10)] == [ds[i]["id"] for i in range(10)]
    assert [load_sft_dataset(files, seed=1)[i]["id"] for i in range(10)] != [ds[i]["id"] for i in range(10)]


def test_dataset_bad_records_are_errors_or_counted_skips(corpus, tmp_path):
    recs = _records(corpus, SFT_FILES[0])[:3]
    bad = [dict(recs[0], images=["media/images/nope.png"]),  # missing file
           {"messages": [{"role": "user", "content": "<image>hi"}], "images": recs[1]["images"]},  # no answer
           recs[2]]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(SFTDataError, match=r"bad\.json#0: .*nope\.png"):
        load_sft_dataset([path], corpus)
    ds = load_sft_dataset([path], corpus, skip_bad_records=True)
    assert len(ds) == 1 and len(ds.report.skipped) == 2
    assert "bad.json#1" in ds.report.skipped[1] and "assistant" in ds.report.skipped[1]
    with pytest.raises(SFTDataError, match="data.files is empty"):
        load_sft_dataset([])


# -------------------------------------------------------------------------------------------------
# Collator
# -------------------------------------------------------------------------------------------------


def test_collator_labels_cover_exactly_the_assistant_turns(tiny, corpus):
    _, processor = tiny
    tok = processor.tokenizer
    recs = _records(corpus, SFT_FILES[0])[:2] + _records(corpus, SFT_FILES[1])[:2]
    collator = SFTCollator(processor, cutoff_len=100_000)
    batch = collator([_item(r, corpus) for r in recs])
    ids, labels, attn = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape == labels.shape == attn.shape and ids.shape[0] == 4
    media = {tok.convert_tokens_to_ids("<|image_pad|>"), tok.convert_tokens_to_ids("<|video_pad|>")}
    for row, rec in enumerate(recs):
        lab = labels[row]
        assert tok.decode(lab[lab != -100]) == _assistant_text(rec) + "<|im_end|>"
        assert (lab[attn[row] == 0] == -100).all()  # padding (on the right)
        assert all(int(t) not in media for t in ids[row][lab != -100])
        n = int(attn[row].sum())
        assert attn[row][:n].all() and not attn[row][n:].any()
        assert tok.decode(ids[row][:n]).startswith("<|im_start|>user")
    # both media kinds in one batch, in row order
    assert batch["image_grid_thw"].shape[0] == 2 and batch["video_grid_thw"].shape[0] == 2
    assert batch["pixel_values"].shape[0] == int(batch["image_grid_thw"].prod(-1).sum())
    assert batch["pixel_values_videos"].shape[0] == int(batch["video_grid_thw"].prod(-1).sum())
    assert batch[STATS_KEY].tolist() == [4, 0, 0]


def test_collated_mixed_batch_runs_through_the_model(tiny, corpus):
    model, processor = tiny
    recs = [_records(corpus, SFT_FILES[0])[3], _records(corpus, SFT_FILES[1])[3]]
    batch = SFTCollator(processor)([_item(r, corpus) for r in recs])
    batch.pop(STATS_KEY)
    with torch.no_grad():
        out = model(**batch)
    assert torch.isfinite(out.loss) and out.loss > 0


def test_cutoff_drops_whole_items_and_counts_them(tiny, corpus):
    _, processor = tiny
    recs = _records(corpus, SFT_FILES[0])[:3] + _records(corpus, SFT_FILES[1])[:3]
    items = [_item(r, corpus, f"i{k}") for k, r in enumerate(recs)]
    probe = SFTCollator(processor)
    probe(items)
    lengths = probe.last_lengths
    cutoff = sorted(lengths)[2]  # the three shortest fit (ties aside)
    collator = SFTCollator(processor, cutoff_len=cutoff)
    batch = collator(items)
    kept = sum(n <= cutoff for n in lengths)
    assert batch[STATS_KEY].tolist() == [kept, len(items) - kept, 0]
    assert batch["input_ids"].shape[0] == kept >= 3
    assert batch["input_ids"].shape[1] <= cutoff
    assert collator.dropped_too_long == len(items) - kept and collator.kept == kept
    # kept rows are complete: each still ends its answer with <|im_end|>
    tok = processor.tokenizer
    for row in range(kept):
        lab = batch["labels"][row]
        assert tok.decode(lab[lab != -100]).endswith("<|im_end|>")
    # nothing fits: a filler row with no label tokens, and the counts say so
    batch = collator.__class__(processor, cutoff_len=1)(items[:2])
    assert batch[STATS_KEY].tolist() == [0, 2, 0]
    assert (batch["labels"] == -100).all() and batch["input_ids"].shape[0] == 1 and "pixel_values" in batch


def test_collator_in_dataloader_workers(tiny, corpus):
    _, processor = tiny
    ds = load_sft_dataset([corpus / f for f in SFT_FILES], seed=0, max_records=8)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2,
                                         collate_fn=SFTCollator(processor, cutoff_len=100_000))
    batches = list(loader)
    assert sum(int(b[STATS_KEY][0]) for b in batches) == 8


@pytest.mark.parametrize("limits", [{}, {"image_max_pixels": 64 * 64, "video_max_pixels": 48 * 48, "max_frames": 6},
                                    {"image_min_pixels": 160 * 160, "video_fps": 3.0}],
                         ids=["processor-limits", "small-limits", "large-limits"])
def test_estimated_lengths_match_the_encoded_ones(tiny, corpus, limits, monkeypatch):
    """The estimate is the processor's own count (whatever the installed transformers), on image and video
    records, under the processor's pixel limits and under ours; and it decodes no media."""
    from onethinker.data import media as media_pkg
    from onethinker.sft.data import LengthGroupedSampler, estimate_lengths

    _, processor = tiny
    ds = load_sft_dataset([corpus / f for f in SFT_FILES], seed=0, max_records=24)
    kinds = {k for i in range(len(ds)) for m in ds[i]["messages"] if isinstance(m.get("content"), list)
             for c in m["content"] for k in ("image", "video") if isinstance(c, dict) and c.get("type") == k}
    assert kinds == {"image", "video"}
    collator = SFTCollator(processor, **limits)

    def no_decoding(*a, **k):
        raise AssertionError("the length estimate decoded a medium")

    with monkeypatch.context() as m:
        m.setattr(media_pkg, "sample_video", no_decoding)
        m.setattr(media_pkg, "load_image", no_decoding)
        estimated = estimate_lengths(ds, collator)
    exact = []
    for i in range(len(ds)):
        collator([ds[i]])
        exact.extend(collator.last_lengths)
    assert estimated == exact
    if limits:
        return
    sampler = LengthGroupedSampler(estimated, batch_size=4, seed=0)
    order = list(sampler)
    assert sorted(order) == list(range(24)) and list(sampler) == order
    sampler.set_epoch(1)
    assert list(sampler) != order


def test_collator_bad_media_is_an_error_or_a_counted_skip(tiny, corpus, tmp_path):
    _, processor = tiny
    rec = _records(corpus, SFT_FILES[0])[0]
    broken = tmp_path / "media" / "images" / "broken.png"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not a png")
    items = [_item(dict(rec, images=["media/images/broken.png"]), tmp_path, "f#0"), _item(rec, corpus, "f#1")]
    with pytest.raises(SFTDataError, match="f#0"):
        SFTCollator(processor)(items)
    batch = SFTCollator(processor, skip_bad_records=True)(items)
    assert batch[STATS_KEY].tolist() == [1, 0, 1]


# -------------------------------------------------------------------------------------------------
# Freezing
# -------------------------------------------------------------------------------------------------


def test_param_part_names_of_qwen3_and_qwen25_vl():
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}),
        vision_config=dict(depth=1, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
                           fullatt_block_indexes=[0]))
    names = [n for n, _ in Qwen2_5_VLForConditionalGeneration(cfg).named_parameters()]
    parts = {n: param_part(n) for n in names}
    assert {parts[n] for n in names if ".visual.merger." in n} == {"projector"}
    assert {parts[n] for n in names if ".visual.blocks." in n or ".visual.patch_embed." in n} == {"vision_tower"}
    assert {parts[n] for n in names if "visual" not in n} == {"language"}
    assert param_part("base_model.model.model.visual.deepstack_merger_list.0.norm.weight") == "projector"
    assert param_part("model.visual.pos_embed.weight") == "vision_tower"
    assert param_part("lm_head.weight") == "language"


@pytest.mark.parametrize("tower,projector", [(True, True), (True, False), (False, False)])
def test_freeze_vision(tiny_dir, tower, projector):
    model, _ = load(tiny_dir)
    counts = freeze_vision(model, vision_tower=tower, projector=projector)
    for name, p in model.named_parameters():
        part = param_part(name)
        expected = {"language": True, "vision_tower": not tower, "projector": not projector}[part]
        assert p.requires_grad is expected, name
    assert counts["language"]["frozen"] == 0 and counts["language"]["trainable"] > 0
    assert (counts["vision_tower"]["trainable"] == 0) is tower
    assert (counts["projector"]["trainable"] == 0) is projector
    visual = model.model.visual
    assert all(not p.requires_grad for p in visual.merger.parameters()) is projector
    assert all(not p.requires_grad for p in visual.deepstack_merger_list.parameters()) is projector
    assert all(not p.requires_grad for p in visual.blocks.parameters()) is tower


def test_freeze_with_lora_never_unfreezes(tiny_dir):
    from onethinker.models import LoraSpec

    model, _ = load(tiny_dir, lora=LoraSpec(r=4))
    counts = freeze_vision(model, vision_tower=False, projector=False)
    assert counts["vision_tower"]["trainable"] == 0 and counts["projector"]["trainable"] == 0
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)
    assert count_parts(model) == counts


# -------------------------------------------------------------------------------------------------
# Configs
# -------------------------------------------------------------------------------------------------


def test_recipes_load():
    big = load_config(SFTConfig, CONFIGS / "onethinker-8b-sft.yaml")
    assert big.model.path == "Qwen/Qwen3-VL-8B-Instruct" and big.model.dtype == "bfloat16"
    assert big.model.freeze_vision_tower and big.model.freeze_projector and big.model.lora is None
    t, d = big.train, big.data
    assert (t.learning_rate, t.lr_scheduler, t.warmup_ratio, t.epochs) == (1e-5, "cosine", 0.02, 1.0)
    assert t.bf16 and t.gradient_checkpointing and t.deepspeed
    assert (d.cutoff_len, d.image_max_pixels, d.video_max_pixels, d.max_frames, d.video_fps) == \
        (16384, 802816, 100352, 128, 2.0)
    demo = load_config(SFTConfig, CONFIGS / "demo-sft.yaml", ["root=runs/x"])
    assert demo.path(demo.model.path) == Path("runs/x") / demo.model.path
    assert not demo.train.bf16 and demo.format_check.file


def test_paper_sft_recipe_resolves_without_a_gpu(tmp_path):
    """configs/onethinker-8b-sft.yaml as written: its DeepSpeed ZeRO-3 config ships with the package, is
    ZeRO-3 JSON whose every "auto" value is one transformers fills in (read from transformers' DeepSpeed
    glue, without importing deepspeed), and the recipe's settings that fill them build into the Trainer
    arguments. The next test builds them with DeepSpeed itself (the deepspeed extra)."""
    import inspect
    import re

    import transformers.integrations.deepspeed as hf_ds

    from onethinker.sft import trainer as sft_trainer
    from onethinker.sft.config import SHIPPED_DEEPSPEED

    cfg = load_config(SFTConfig, CONFIGS / "onethinker-8b-sft.yaml", [f"root={tmp_path / 'data'}"])
    ds = cfg.deepspeed_path()
    assert ds == SHIPPED_DEEPSPEED / "zero3.json" and ds.is_file()
    assert json.loads(ds.read_text())["zero_optimization"]["stage"] == 3
    local = tmp_path / "data" / "my_zero3.json"  # a path under root wins over the shipped names
    local.parent.mkdir()
    local.write_text(ds.read_text())
    assert load_config(SFTConfig, CONFIGS / "onethinker-8b-sft.yaml", [f"root={tmp_path / 'data'}",
                       "train.deepspeed=my_zero3.json"]).deepspeed_path() == local
    with pytest.raises(ValueError, match="no shipped config of that name .shipped: zero3"):
        load_config(SFTConfig, CONFIGS / "onethinker-8b-sft.yaml", ["train.deepspeed=zero9"]).deepspeed_path()
    with pytest.raises(SFTError, match="zero9"):
        sft_trainer._training_args(load_config(SFTConfig, CONFIGS / "onethinker-8b-sft.yaml",
                                               ["train.deepspeed=zero9"]), tmp_path / "o", False)

    def autos(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from autos(v, f"{prefix}{k}.")
            elif v == "auto":
                yield prefix + k

    filled = set(re.findall(r'fill_(?:match|only)\(\s*"([^"]+)"', inspect.getsource(hf_ds)))
    assert {"train_micro_batch_size_per_gpu", "gradient_accumulation_steps", "gradient_clipping"} <= filled
    config = json.loads(ds.read_text())
    assert set(autos(config)) <= filled, set(autos(config)) - filled  # an "auto" left over stops DeepSpeed
    assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # final/ is whole
    t = cfg.train  # the values transformers puts in place of "auto" (bf16: on a GPU)
    assert (t.per_device_batch_size, t.gradient_accumulation_steps, t.max_grad_norm, t.bf16) == (1, 8, 1.0, True)
    plain = sft_trainer._training_args(load_config(SFTConfig, CONFIGS / "onethinker-8b-sft.yaml",
                                                   [f"root={tmp_path / 'data'}", "train.deepspeed=null"]),
                                       tmp_path / "plain", False)
    assert (plain.per_device_train_batch_size, plain.gradient_accumulation_steps, plain.max_grad_norm) == (1, 8, 1.0)


def test_paper_sft_recipe_builds_deepspeed_arguments(tmp_path):
    """With the deepspeed extra installed (not in `make setup`: it builds against torch on GPU nodes),
    transformers reads the shipped ZeRO-3 config and fills in its "auto" values from the recipe."""
    from onethinker.sft import trainer as sft_trainer
    from onethinker.sft.config import SHIPPED_DEEPSPEED

    pytest.importorskip("deepspeed", reason="the deepspeed extra is not installed")
    cfg = load_config(SFTConfig, CONFIGS / "onethinker-8b-sft.yaml", [f"root={tmp_path / 'data'}"])
    ds = SHIPPED_DEEPSPEED / "zero3.json"
    args = sft_trainer._training_args(cfg, tmp_path / "out", False)
    assert args.deepspeed == str(ds) and args.hf_deepspeed_config.is_zero3()
    filled = args.hf_deepspeed_config.config
    assert (filled["train_micro_batch_size_per_gpu"], filled["gradient_accumulation_steps"],
            filled["gradient_clipping"]) == (1, 8, 1.0)
    assert args.learning_rate == 1e-5 and args.lr_scheduler_type == "cosine"


def test_resolve_resume(tmp_path):
    assert resolve_resume(tmp_path, None) is None and resolve_resume(tmp_path, "auto") is None
    with pytest.raises(SFTError, match="no checkpoint"):
        resolve_resume(tmp_path, True)
    for step in (5, 10, 40):
        (tmp_path / f"checkpoint-{step}").mkdir()
    assert resolve_resume(tmp_path, True).name == "checkpoint-40"
    with pytest.raises(SFTError, match="trainer_state.json"):
        resolve_resume(tmp_path, tmp_path / "checkpoint-5")


# -------------------------------------------------------------------------------------------------
# Training
# -------------------------------------------------------------------------------------------------


def _config(corpus, tiny_dir, out, extra=(), **train):
    overrides = [f"root={out.parent}", f"output_dir={out.name}", f"model.path={tiny_dir}",
                 f"data.files=[{corpus / SFT_FILES[0]}, {corpus / SFT_FILES[1]}]", "data.num_workers=0",
                 "data.max_records=48", "data.cutoff_len=4096", "model.freeze_vision_tower=true",
                 "model.freeze_projector=false", "train.learning_rate=0.002", "train.warmup_ratio=0.1",
                 "train.per_device_batch_size=4", "train.gradient_accumulation_steps=2", "train.max_steps=6",
                 "train.logging_steps=1", "train.save_steps=3", "train.save_total_limit=null", "train.seed=3",
                 "train.threads=2", "train.report_to=[]", "format_check.file="]
    overrides += [f"train.{k}={v}" for k, v in train.items()] + list(extra)
    return load_config(SFTConfig, None, overrides)


def test_a_missing_format_check_file_is_an_error_before_training(corpus, tmp_path):
    cfg = _config(corpus, tmp_path / "no-model-needed", tmp_path / "out", ["format_check.file=nowhere/eval.json"])
    with pytest.raises(SFTError, match=r"format_check.file: .*nowhere/eval.json: no such file"):
        train_sft(cfg)
    assert not (tmp_path / "out" / "checkpoint-1").exists()


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(Path(path) / "model.safetensors"))


@pytest.mark.parametrize("grouped", [False, True], ids=["random", "group_by_length"])
def test_short_run_checkpoints_logs_and_bit_exact_resume(corpus, tiny_dir, tmp_path, grouped):
    a = tmp_path / "a"
    extra = [f"data.group_by_length={str(grouped).lower()}"]
    s = train_sft(_config(corpus, tiny_dir, a, extra=extra))
    assert s["global_step"] == 6 and s["records"] == 48 and s["items"] == 48 and s["dropped_too_long"] == 0
    losses = [loss for _, loss in s["loss_curve"]]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-2:]) / 2 < losses[0] - 0.5
    for name in ("checkpoint-3", "checkpoint-6", "final", "config.yaml", "log.jsonl", "summary.json"):
        assert (a / name).exists(), name
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "tokenizer.json"):
        assert (a / "checkpoint-3" / name).is_file(), name
    log = [json.loads(line) for line in (a / "log.jsonl").read_text().splitlines()]
    steps = [e for e in log if "loss" in e]
    assert [e["step"] for e in steps] == [1, 2, 3, 4, 5, 6]
    assert all({"learning_rate", "grad_norm", "items", "dropped_too_long", "tokens"} <= set(e) for e in steps)
    saved = load_config(SFTConfig, a / "config.yaml")
    assert Path(saved.root).is_absolute() and saved.train.max_steps == 6
    model, processor = load(a / "final")  # the final model loads as any checkpoint
    tok = processor.tokenizer
    assert tok.get_vocab() == load(tiny_dir)[1].tokenizer.get_vocab()  # the base's tokenizer, saved with it
    assert tok.convert_tokens_to_ids("<think>") not in (None, tok.unk_token_id)
    frozen = {n for n, p in load(tiny_dir)[0].named_parameters() if param_part(n) == "vision_tower"}
    w0, w1 = _weights(tiny_dir), _weights(a / "final")
    assert all(torch.equal(w0[n], w1[n]) for n in w0 if n in frozen or param_part(n) == "vision_tower")
    assert not torch.equal(w0["model.visual.merger.linear_fc1.weight"], w1["model.visual.merger.linear_fc1.weight"])

    # the same output folder again: an error unless resumed or overwritten
    with pytest.raises(SFTError, match="already has checkpoints"):
        train_sft(_config(corpus, tiny_dir, a, extra=extra))

    # resume from step 3 in another folder: same step count, same weights as the uninterrupted run
    b = tmp_path / "b"
    b.mkdir()
    shutil.copytree(a / "checkpoint-3", b / "checkpoint-3")
    r = train_sft(_config(corpus, tiny_dir, b, extra=extra), resume=True)
    assert r["resumed_from"].endswith("checkpoint-3") and r["global_step"] == 6
    assert r["items"] == 48  # counts go on from the checkpoint's
    wa, wb = _weights(a / "final"), _weights(b / "final")
    assert wa.keys() == wb.keys()
    diff = max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)
    assert diff == 0.0, f"resumed run differs from the uninterrupted one by up to {diff}"
    la = [e["loss"] for e in log if "loss" in e and e["step"] > 3]
    lb = [json.loads(x)["loss"] for x in (b / "log.jsonl").read_text().splitlines() if '"loss"' in x]
    assert lb == la


def test_all_items_over_the_cutoff_train_nothing_and_stay_finite(corpus, tiny_dir, tmp_path):
    out = tmp_path / "c"
    cfg = _config(corpus, tiny_dir, out, max_steps=2, save_steps=100)
    cfg.data.cutoff_len = 8
    s = train_sft(cfg)
    assert s["items"] == 0 and s["dropped_too_long"] == 16 and s["answer_tokens"] == 0
    assert all(loss == 0.0 for _, loss in s["loss_curve"])
    w0, w1 = _weights(tiny_dir), _weights(out / "final")
    assert all(torch.equal(w0[n], w1[n]) for n in w0)


def test_lora_with_gradient_checkpointing_saves_a_loadable_adapter(corpus, tiny_dir, tmp_path):
    from onethinker.models import LoraSpec

    out = tmp_path / "lora"
    cfg = _config(corpus, tiny_dir, out, max_steps=2, save_steps=100, gradient_checkpointing="true")
    cfg.model.lora = LoraSpec(r=4, alpha=8)
    cfg.model.freeze_projector = False  # LoRA: the projector stays frozen anyway (nothing is unfrozen)
    s = train_sft(cfg)
    assert s["global_step"] == 2 and all(torch.isfinite(torch.tensor([x for _, x in s["loss_curve"]])))
    assert s["parameters"]["vision_tower"]["trainable"] == 0 and s["parameters"]["projector"]["trainable"] == 0
    assert (out / "final" / "adapter_config.json").is_file()
    model, _ = load(out / "final")  # the adapter on its base, with the trained weights
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors.torch import load_file

    assert isinstance(model, PeftModel)
    saved, live = load_file(out / "final" / "adapter_model.safetensors"), get_peft_model_state_dict(model)
    assert saved and saved.keys() == live.keys()
    assert all(torch.equal(saved[k], live[k].to(saved[k].dtype).cpu()) for k in saved)
    assert any(k.endswith("lora_B.weight") and saved[k].abs().sum() > 0 for k in saved)  # lora_B starts at 0


# -------------------------------------------------------------------------------------------------
# slow: the demo recipe
# -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_recipe_learns_the_answer_format(tmp_path):
    from onethinker.synthetic.corpus import SynthConfig, synthesize

    synthesize(SynthConfig(n=600, seed=0, workers=2), tmp_path / "corpus")
    build_tiny(tmp_path / "tiny", corpus_dir=tmp_path / "corpus", seed=0)
    cfg = load_config(SFTConfig, CONFIGS / "demo-sft.yaml", [f"root={tmp_path}"])
    s = train_sft(cfg)
    assert s["last_loss"] < 1.0
    assert s["format_check"]["n"] == 40 and s["format_check"]["format_rate"] >= 0.9


def test_format_check_groups_by_task_key(monkeypatch, tmp_path):
    """The format check's per-task block is keyed by the registry's task key: segmentation split by data
    type, problem types matched in any case (it grouped raw problem_type strings before)."""
    import onethinker.data.chat as chat
    import onethinker.models.inputs as inputs
    from onethinker.sft import format_check

    replies = {"A": "<think></think><answer>A</answer>", "B": "no tags"}
    monkeypatch.setattr(inputs, "generate", lambda model, proc, msgs, **kw: [(replies[m[0]["content"]],) for m in msgs])
    monkeypatch.setattr(chat, "record_messages", lambda r, root: [{"role": "user", "content": r["reply"]}])
    seg = json.dumps({"boxes": [0, 0, 10, 10], "positive_points": [[1, 1]] * 3, "negative_points": [[20, 20]] * 3})
    records = [
        {"problem_id": 1, "problem_type": "multiple choice", "data_type": "image", "solution": "<answer>A</answer>", "reply": "A"},
        {"problem_id": 2, "problem_type": "Multiple Choice", "data_type": "image", "solution": "<answer>A</answer>", "reply": "B"},
        {"problem_id": 3, "problem_type": "segmentation", "data_type": "image", "solution": f"<answer>{seg}</answer>", "reply": "B"},
        {"problem_id": 4, "problem_type": "segmentation", "data_type": "video", "solution": f"<answer>{seg}</answer>", "reply": "B"},
    ]
    out = format_check(None, None, records, tmp_path, batch_size=3)
    assert out["n"] == 4 and out["format_rate"] == 0.25
    assert out["by_task"] == {"multiple choice": {"n": 2, "format_rate": 0.5, "accuracy": 0.5},
                              "segmentation/image": {"n": 1, "format_rate": 0.0, "accuracy": 0.0},
                              "segmentation/video": {"n": 1, "format_rate": 0.0, "accuracy": 0.0}}
