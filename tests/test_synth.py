"""The synthetic corpus: deterministic, exact ground truth, clean splits, working knobs."""

import hashlib
import json

import cv2
import numpy as np
import pytest

from onethinker.data.records import read_records
from onethinker.synthetic.corpus import SynthConfig, plan, synthesize
from onethinker.tasks.response import extract_answer, has_valid_format
from onethinker.rewards import score
from onethinker.tasks import get_task


def _load(corpus, name):
    return list(read_records(corpus / name))


def test_every_task_is_there_and_perfect_answers_score_one(corpus):
    rl, ev = _load(corpus, "onethinker_rl_train.json"), _load(corpus, "eval_synthetic.json")
    keys = {get_task(r["problem_type"], r["data_type"]).key for r in rl + ev}
    assert len(keys) == 12
    for r in rl:
        truth = extract_answer(r["answer"])
        res = score(f"<think>ok</think><answer>{truth}</answer>", r["answer"], r["problem_type"], r["data_type"])
        assert res.accuracy == pytest.approx(1.0) and res.format == 1.0, r
    for r in ev:
        truth = extract_answer(r["solution"])
        assert score(f"<think>ok</think><answer>{truth}</answer>", r["solution"], r["problem_type"], r["data_type"]).accuracy == pytest.approx(1.0)


def test_sft_conversations_reason_in_format(corpus):
    sft = _load(corpus, "onethinker_sft_image.json") + _load(corpus, "onethinker_sft_video.json")
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert len(sft) == manifest["records"]["sft"] > 0
    for s in sft:
        assert set(s) <= {"messages", "images", "videos"}  # the release format, nothing more
        assert has_valid_format(s["messages"][1]["content"])
        user = s["messages"][0]["content"]
        assert user.startswith("<image>" if "images" in s else "<video>") and "<think>" in user


def test_pools_share_no_media_and_paths_are_relative(corpus):
    rl, ev = _load(corpus, "onethinker_rl_train.json"), _load(corpus, "eval_synthetic.json")
    sft = _load(corpus, "onethinker_sft_image.json") + _load(corpus, "onethinker_sft_video.json")
    rl_media = {p for r in rl for p in r.get("images", []) + r.get("videos", [])}
    sft_media = {p for r in sft for p in r.get("images", []) + r.get("videos", [])}
    held_media = {r["path"] for r in ev}
    assert rl_media and sft_media and held_media
    assert not rl_media & held_media and not sft_media & held_media and not sft_media & rl_media
    assert all(not p.startswith("/") and (corpus / p).is_file() for p in rl_media | sft_media | held_media)
    ids = [r["problem_id"] for r in rl + ev]
    assert len(ids) == len(set(ids))


def test_pool_sizes_and_tasks(tmp_path):
    cfg = SynthConfig(sft=10, rl=7, heldout=5, seed=2, video_share=0.0, workers=1, tasks=["numerical", "multiple choice"],
                      rl_tasks=["multiple choice"])
    m = synthesize(cfg, tmp_path)
    assert m["records"] == {"sft": 10, "rl": 7, "heldout": 5}
    assert set(m["by_task"]["rl"]) == {"multiple choice (image)"}
    assert set(m["by_task"]["sft"]) == set(m["by_task"]["heldout"]) == {"multiple choice (image)", "numerical (image)"}
    assert m["by_task"]["sft"] == {"multiple choice (image)": 5, "numerical (image)": 5}  # balanced within a pool
    assert len(_load(tmp_path, "onethinker_rl_train.json")) == 7 and len(_load(tmp_path, "eval_synthetic.json")) == 5
    assert not (tmp_path / "media").exists() or len(list((tmp_path / "media").rglob("*.png"))) == m["scenes"]
    # weights (a key listed twice gets twice the records) and the held-out pool's own video share
    m = synthesize(SynthConfig(sft=0, rl=0, heldout=40, seed=3, workers=1, heldout_video_share=0.25,
                               heldout_tasks=["numerical", "numerical", "numerical", "multiple choice", "tracking"]),
                   tmp_path / "w")
    # numerical and multiple choice exist for images and videos, tracking for videos only
    assert m["by_task"]["heldout"] == {"numerical (image)": 22, "multiple choice (image)": 8,
                                       "numerical (video)": 6, "multiple choice (video)": 2, "tracking (video)": 2}
    # derived sizes: n split by held_out, then rl_share
    assert SynthConfig(n=100, held_out=0.2, rl_share=0.25).pool_sizes() == {"sft": 60, "rl": 20, "heldout": 20}
    assert SynthConfig(rl=3).pool_sizes() == {"sft": 0, "rl": 3, "heldout": 0}
    # one shape: objects differ by colour only
    one = synthesize(SynthConfig(sft=0, rl=12, heldout=0, seed=4, workers=1, video_share=0.0, shapes=["circle"],
                                 tasks=["spatial grounding"]), tmp_path / "one")
    assert one["records"]["rl"] == 12
    assert all(" circle" in r["problem_reserved_text"] for r in _load(tmp_path / "one", "onethinker_rl_train.json"))
    for bad in (dict(shapes=["blob"]), dict(sft=-1), dict(rl=1.5), dict(sft=0, rl=0, heldout=0), dict(rl_share=2.0), dict(rl_tasks=["juggling"]),
                dict(heldout_video_share=1.5)):
        with pytest.raises(ValueError):
            SynthConfig(**bad)


def test_boxes_land_on_the_named_object(corpus):
    """Coordinates use the 0..1000 frame: the box of 'the red circle' holds red pixels, in images and videos."""
    from onethinker.data.media import sample_video
    from onethinker.synthetic.scenes import COLOURS

    checked = 0
    for r in _load(corpus, "onethinker_rl_train.json"):
        if r["problem_type"] not in ("spatial grounding", "segmentation"):
            continue
        colour = next(c for c in COLOURS if f" {c} " in f" {r['problem_reserved_text']} ")
        value = get_task(r["problem_type"], r["data_type"]).parse(extract_answer(r["answer"])).value
        if r["data_type"] == "image":
            img = cv2.cvtColor(cv2.imread(str(corpus / r["images"][0])), cv2.COLOR_BGR2RGB)
            box = value if r["problem_type"] == "spatial grounding" else value.box
        else:
            clip = sample_video(corpus / r["videos"][0], fps=4, max_frames=1000)
            img = clip.frames[int(np.argmin(np.abs(clip.timestamps - value.time)))]
            box = value.box
        h, w = img.shape[:2]
        x1, y1, x2, y2 = (int(round(v * (w if i % 2 == 0 else h) / 1000)) for i, v in enumerate(box))
        crop = img[y1:y2, x1:x2].astype(int)
        near = (np.abs(crop - np.array(COLOURS[colour])).sum(-1) < 60).mean()
        assert near > 0.25, (r["problem_reserved_text"], near)
        checked += 1
    assert checked >= 4


def test_same_seed_same_corpus(tmp_path):
    def digest(folder):
        h = hashlib.sha256()
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.name != "manifest.json":
                h.update(p.relative_to(folder).as_posix().encode())
                h.update(p.read_bytes())
        return h.hexdigest()

    cfg = dict(n=16, seed=3, video_share=0.5)
    synthesize(SynthConfig(workers=1, **cfg), tmp_path / "a")
    synthesize(SynthConfig(workers=2, **cfg), tmp_path / "b")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    synthesize(SynthConfig(workers=1, **dict(cfg, seed=4)), tmp_path / "c")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_knobs(tmp_path):
    cfg = SynthConfig(n=40, seed=1, tasks=["numerical"], video_share=0.0, min_objects=5, max_objects=5, workers=1)
    m = synthesize(cfg, tmp_path / "n")
    assert {k: sum(c.values()) for k, c in m["by_task"].items()} == m["records"]
    assert sum(m["records"].values()) == 40 and set(m["by_task"]["rl"]) == {"numerical (image)"}
    rl = list(read_records(tmp_path / "n" / "onethinker_rl_train.json"))
    totals = [int(extract_answer(r["answer"])) for r in rl if r["problem_reserved_text"].startswith("How many objects")]
    assert totals and set(totals) == {5}
    assert {p.video for p in plan(SynthConfig(n=10, tasks=["tracking"]))} == {True}
    with pytest.raises(ValueError, match="unknown task keys"):
        SynthConfig(tasks=["juggling"])
    with pytest.raises(ValueError):
        SynthConfig(min_objects=4, max_objects=2)


def test_cli(tmp_path, capsys):
    from onethinker.cli import main

    assert main(["data", "synth", "--out", str(tmp_path), "--n", "12", "--workers", "1", "--seed", "5"]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sum(manifest["records"].values()) == 12
    assert "held-out records" in capsys.readouterr().err
