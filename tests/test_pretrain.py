"""The perception stage (onethinker model pretrain): scene descriptions true to the scene, patch labels on
the right cells, a short run that logs, checkpoints, resumes and saves a loadable Qwen3-VL."""

import json

import numpy as np
import pytest

from onethinker.synthetic.scenes import COLOURS, SHAPES, Scene, SceneObject
from onethinker.models.pretrain import (PretrainConfig, box_digits, describe, patch_boxes, patch_labels, pretrain,
                                       scene_stream)


def _scene(objects, width=320, height=240):
    return Scene(width, height, "noise", np.full((height, width, 3), 128, np.uint8), objects)


def test_description_names_every_object_with_its_box():
    s = _scene([SceneObject("circle", "red", 30, 60.0, 50.0), SceneObject("star", "blue", 30, 250.0, 190.0)])
    text = describe(s)
    assert text.startswith("The image shows 2 objects: a red circle at the top left, box [")
    assert "a blue star at the bottom right, box [" in text and text.endswith("The background is mottled.")
    box = [int(v) for v in text.split("box [")[1].split("]")[0].split(", ")]
    # circle of radius 30 at (60, 50) in 320x240: x 30..90 -> 94..282, y 20..80 -> 83..334 (0-1000 frame)
    assert box[0] == pytest.approx(94, abs=4) and box[2] == pytest.approx(282, abs=4)
    assert box[1] == pytest.approx(83, abs=5) and box[3] == pytest.approx(334, abs=5)


def test_patch_labels_mark_the_cells_under_each_object():
    s = _scene([SceneObject("square", "green", 35, 40.0, 40.0), SceneObject("triangle", "yellow", 35, 280.0, 200.0)])
    colour, shape = patch_labels(s, (6, 8))
    grid_c, grid_s = colour.reshape(6, 8), shape.reshape(6, 8)
    assert grid_c[0, 0] == 1 + list(COLOURS).index("green") and grid_s[0, 0] == 1 + SHAPES.index("square")
    assert grid_c[5, 7] == 1 + list(COLOURS).index("yellow") and grid_s[5, 7] == 1 + SHAPES.index("triangle")
    assert grid_c[3, 4] == 0 and grid_s[3, 4] == 0  # the empty middle is background
    assert ((grid_c > 0) == (grid_s > 0)).all()


def test_patch_boxes_give_each_object_patch_its_objects_box():
    s = _scene([SceneObject("square", "green", 35, 40.0, 40.0), SceneObject("triangle", "yellow", 35, 280.0, 200.0)])
    colour, _ = patch_labels(s, (6, 8))
    boxes = patch_boxes(s, (6, 8))
    assert boxes.shape == (48, 4)
    assert (np.isnan(boxes).any(1) == (colour == 0)).all()  # a box exactly where patch_labels sees an object
    grid = boxes.reshape(6, 8, 4)
    x1, y1, x2, y2 = grid[0, 0]  # the green square around (40, 40) in 320 x 240
    assert 0 <= x1 < 40 / 320 < x2 < 0.3 and 0 <= y1 < 40 / 240 < y2 < 0.4
    x1, y1, x2, y2 = grid[5, 7]  # the yellow triangle around (280, 200)
    assert 0.7 < x1 < 280 / 320 < x2 <= 1.0 and 0.6 < y1 < 200 / 240 < y2 <= 1.0
    assert (grid[0, 0] == grid[0, 1]).all() or np.isnan(grid[0, 1]).any()  # one object, one box
    # in the 0-1000 frame: the box the description writes for the object, as digits
    thousand = patch_boxes(s, (6, 8), thousand=True).reshape(6, 8, 4)
    written = [int(v) for v in describe(s).split("box [")[1].split("]")[0].split(", ")]
    assert thousand[0, 0].tolist() == written
    digits = box_digits(thousand.reshape(-1, 4)).reshape(6, 8, 12)
    assert "".join(str(d) for d in digits[0, 0]) == "".join(f"{min(v, 999):03d}" for v in written)
    assert (digits[np.isnan(thousand).any(-1)] == -100).all()
    assert box_digits(np.array([[1000.0, 0.0, 7.0, 45.0]])).tolist() == [[9, 9, 9, 0, 0, 0, 0, 0, 7, 0, 4, 5]]


def test_stream_is_seeded_and_apart_from_itself():
    a, b = scene_stream(0, 5), scene_stream(0, 5)
    assert describe(a) == describe(b)
    assert describe(scene_stream(0, 6)) != describe(a) or describe(scene_stream(1, 5)) != describe(a)


def test_questions_are_answered_from_the_scene():
    from onethinker.models.pretrain import item, question

    cfg = PretrainConfig(qa_share=1.0)
    kinds = set()
    for i in range(40):
        scene, prompt, target = item(cfg, i)
        qa = question(scene, i, cfg.seed)
        assert qa is not None and (prompt, target) == qa and prompt.endswith("Answer briefly.")
        kinds.add(prompt.split()[0])
        if "\nOptions:" in prompt:
            assert target in "ABCDEFGH" and len(target) == 1
        if prompt.startswith("How many objects are there in the image"):
            assert target == str(len([o for o, m in zip(scene.objects, scene.render(0)[1]) if m.any()]))
    assert len(kinds) >= 4  # several kinds of question
    assert all(item(PretrainConfig(qa_share=0.0), i)[2].startswith("The image shows") for i in range(5))


def test_config_rejects_bad_values():
    for bad in (dict(steps=0), dict(lr=0), dict(aux_weight=0, lm_weight=0), dict(min_objects=3, max_objects=2),
                dict(qa_share=1.5), dict(box_weight=-1), dict(box_weight=1.0, aux_weight=0), dict(pos_embed="learned"), dict(digit_weight=-1), dict(digit_weight=1.0, aux_weight=0)):
        with pytest.raises(ValueError):
            PretrainConfig(**bad)


def test_short_run_logs_checkpoints_resumes_and_saves(tmp_path, tiny_model_dir):
    from onethinker.models import load

    cfg = PretrainConfig(model=str(tiny_model_dir), out=str(tmp_path / "pt"), steps=4, batch_size=2, warmup=1,
                         eval_every=2, eval_scenes=2, eval_questions=3, eval_boxes=2, save_every=2, log_every=1, threads=1)
    s = pretrain(cfg)
    log = [json.loads(line) for line in (tmp_path / "pt" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all(np.isfinite(r["lm_loss"]) and np.isfinite(r["aux_loss"]) for r in log)
    assert {"eval_loss", "eval_loss_swapped", "image_gap", "eval_qa_acc", "eval_box_iou"} <= set(log[1])
    assert "eval_loss" not in log[0] and log[1]["eval_box_n"] == 2
    assert s["steps"] == 4 and s["resumed_from"] == 0 and (tmp_path / "pt" / "checkpoint" / "state.pt").is_file()
    model, _ = load(s["final"])  # an ordinary Qwen3-VL checkpoint, heads dropped
    assert type(model).__name__ == "Qwen3VLForConditionalGeneration"
    # resume: a longer run starts at the saved step, not from scratch
    s2 = pretrain(PretrainConfig(**{**cfg.__dict__, "steps": 6}))
    assert s2["resumed_from"] == 4
    log = [json.loads(line) for line in (tmp_path / "pt" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]  # one record per step, the first run's kept


def test_box_head_trains_logs_and_resumes(tmp_path, tiny_model_dir):
    """box_weight > 0: a third patch head regresses each object patch's box (digit_weight > 0: a fourth predicts
    the box's digits); its error is logged in training
    and at the held-out check, its weights are checkpointed and restored on resume, and the saved model is
    an ordinary Qwen3-VL checkpoint (heads dropped)."""
    import torch

    cfg = PretrainConfig(model=str(tiny_model_dir), out=str(tmp_path / "pt"), steps=2, batch_size=2, warmup=1,
                         box_weight=2.0, digit_weight=1.0, eval_every=2, eval_scenes=2, eval_questions=0, eval_boxes=0, save_every=2,
                         log_every=1, threads=1)
    pretrain(cfg)
    log = [json.loads(line) for line in (tmp_path / "pt" / "log.jsonl").read_text().splitlines()]
    assert all(0 <= r["patch_box_l1"] < 1 for r in log if "patch_box_l1" in r) and "patch_box_l1" in log[0]
    assert 0 <= log[1]["eval_patch_box_l1"] < 1
    assert all(0 <= r["patch_digit_acc"] <= 1 for r in log) and 0 <= log[1]["eval_patch_digit_acc"] <= 1
    state = torch.load(tmp_path / "pt" / "checkpoint" / "state.pt", weights_only=False)
    assert set(state["heads"]) == {"colour", "shape", "box", "digits"} and state["heads"]["box"]["weight"].shape[0] == 4
    assert state["heads"]["digits"]["weight"].shape[0] == 120
    s2 = pretrain(PretrainConfig(**{**cfg.__dict__, "steps": 3}))
    assert s2["resumed_from"] == 2


def test_cli_reports_a_missing_model(tmp_path, capsys):
    from onethinker.cli import main

    assert main(["model", "pretrain", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_box_check_scores_replied_boxes_by_iou(monkeypatch):
    """The perception check of boxes: each reply's box against the true one (IoU), a reply without a box 0, and
    the constant (median) box's IoU beside it."""
    import onethinker.models.inputs as inputs
    from onethinker.models.pretrain import box_check, scene_stream, _STREAM
    from onethinker.synthetic.questions import q_spatial
    from onethinker.tasks.geometry import box_iou

    cfg = PretrainConfig(shapes=("circle",), batch_size=4)
    idx = list(range(500, 506))
    truths = [[float(v) for v in q_spatial(scene_stream(0, i, shapes=("circle",)),
                                           np.random.default_rng([0, _STREAM + 3, i])).value] for i in idx]
    from onethinker.tasks import TASKS

    fmt = TASKS["spatial grounding"].format_answer  # the bare answer the stage trains on
    replies = iter([fmt([0, 0, 1000, 1000]), "no box", *[fmt(t) for t in truths[2:]]])
    monkeypatch.setattr(inputs, "generate", lambda model, proc, convs, max_new_tokens: [[next(replies)] for _ in convs])
    out = box_check(None, None, cfg, idx)
    want = (box_iou([0, 0, 1000, 1000], truths[0]) + 0.0 + 4 * 1.0) / 6
    assert out["eval_box_n"] == 6 and out["eval_box_iou"] == pytest.approx(want)
    med = list(np.median(np.array(truths), axis=0))
    assert out["eval_box_majority_iou"] == pytest.approx(np.mean([box_iou(med, t) for t in truths]))


def test_checks_ask_and_score_in_the_stage_form(monkeypatch):
    """A stage trained in the OneThinker form is checked in it: the task's prompt, a longer reply, and only the
    answer block scored (a reply without one scores 0), for boxes and for the other questions alike."""
    import onethinker.models.inputs as inputs
    from onethinker.models.pretrain import _STREAM, _qa_accuracy, box_check, question, scene_stream
    from onethinker.synthetic.questions import q_spatial
    from onethinker.tasks import TASKS

    cfg = PretrainConfig(shapes=("circle",), batch_size=4, qa_format="onethinker")
    idx = list(range(700, 704))
    truths = [[float(v) for v in q_spatial(scene_stream(0, i, shapes=("circle",)),
                                           np.random.default_rng([0, _STREAM + 3, i])).value] for i in idx]
    fmt = TASKS["spatial grounding"].format_answer
    seen = []

    def fake(model, proc, convs, max_new_tokens):
        seen.extend((c[0]["content"][1]["text"], max_new_tokens) for c in convs)
        return [[next(replies)] for _ in convs]

    monkeypatch.setattr(inputs, "generate", fake)
    # a bare box (the short form) does not count here; boxes in answer blocks do
    replies = iter([fmt(truths[0]), *[f"<think>there</think><answer>{fmt(t)}</answer>" for t in truths[1:]]])
    out = box_check(None, None, cfg, idx)
    assert out["eval_box_iou"] == pytest.approx(3 / 4)
    assert all("<answer>" in text and "Answer briefly" not in text and n == 192 for text, n in seen)
    asked = [qa for i in idx if (qa := question(scene_stream(0, i, shapes=("circle",)), i, 0, form="onethinker"))]
    replies = iter([qa[1] for qa in asked[:-1]] + ["<think>no answer</think>"])  # the SFT replies, the last one cut
    assert _qa_accuracy(None, None, cfg, idx)["eval_qa_acc"] == pytest.approx((len(asked) - 1) / len(asked))


def test_qa_tasks_choose_the_short_questions():
    from onethinker.models.pretrain import item

    cfg = PretrainConfig(shapes=("circle",), qa_share=1.0, qa_tasks=("spatial grounding",))
    prompts = [item(cfg, i)[1] for i in range(12)]
    assert all(p.startswith("Find the ") for p in prompts)
    with pytest.raises(ValueError, match="qa_tasks"):
        PretrainConfig(qa_tasks=("tracking",))
    # a kind listed k times is asked k times as often (E12's box-heavy mix)
    boxes = lambda tasks: np.mean([item(PretrainConfig(shapes=("circle",), qa_share=1.0, qa_tasks=tasks), i)[1]
                                   .startswith("Find the ") for i in range(300)])
    even, heavy = boxes(("multiple choice", "spatial grounding")), boxes(("multiple choice",) + ("spatial grounding",) * 3)
    assert 0.35 < even < 0.65 and heavy > 0.65


def test_onethinker_form_asks_the_same_question_as_the_corpus_sft_does():
    """qa_format "onethinker": the same drawn question as the short form, asked with the task's OneThinker prompt and
    answered with the reasoning and answer the corpus' SFT conversations write; a bad form is refused."""
    from onethinker.models.pretrain import item
    from onethinker.tasks import TASKS

    tasks = ("multiple choice", "numerical", "spatial grounding")
    short = PretrainConfig(shapes=("circle",), qa_share=1.0, qa_tasks=tasks)
    long = PretrainConfig(shapes=("circle",), qa_share=1.0, qa_tasks=tasks, qa_format="onethinker")
    kinds = set()
    for i in range(30):
        _, q_short, a_short = item(short, i)
        _, q_long, a_long = item(long, i)
        question = q_short[: -len("\nAnswer briefly.")]
        task = next(TASKS[t] for t in tasks if TASKS[t].prompt(question.split("\nOptions:")[0],
                    question.split("\nOptions:\n")[1].split("\n") if "\nOptions:" in question else None) == q_long)
        kinds.add(task.key)
        assert a_long.startswith("<think>") and a_long.endswith(f"</think><answer>{a_short}</answer>")
        assert len(a_long) > len(a_short) + len("<think></think><answer></answer>")  # a reasoning was written
    assert kinds == set(tasks)
    with pytest.raises(ValueError, match="qa_format"):
        PretrainConfig(qa_format="long")


def test_sincos_position_table_gives_every_place_its_own_strong_code(tiny_model_dir):
    """The vision tower's position table replaced by a 2-D sine-cosine one: every row as strong as half the patch
    embeddings, rows of different places far apart (the learned table of the shipped base was nearly constant),
    neighbours closer than distant places; the tower still runs."""
    import torch

    from onethinker.models import load
    from onethinker.models.pretrain import sincos_position_table

    model, _ = load(str(tiny_model_dir), dtype="float32")
    norm = sincos_position_table(model, strength=0.5)
    table = model.model.visual.pos_embed.weight.detach()
    side = int(round(table.shape[0] ** 0.5))
    norms = table.norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, norm), rtol=1e-4) and norm > 0
    d = torch.cdist(table, table)
    assert float(d[~torch.eye(len(table), dtype=torch.bool)].min()) > 0.05 * norm  # no two places alike
    assert float(d[0, 1]) < float(d[0, side - 1]) and float(d[0, side]) < float(d[0, side * (side - 1)])
    w = model.model.visual.patch_embed.proj.weight
    with torch.no_grad():
        pix = torch.rand(64, w[0].numel()) * 2 - 1
        content = float(model.model.visual.patch_embed(pix).norm(dim=1).mean())
    assert 0.3 * content < norm < 0.7 * content


def test_sft_records_replay_the_perception_items(tmp_path, capsys):
    """`onethinker model pretrain-records` writes the stage's items (the same scenes, questions and answers as
    training item i) as SFT records that the SFT loader reads, pictures beside them; a bad count is refused."""
    from PIL import Image

    from onethinker.cli import main
    from onethinker.models.pretrain import item
    from onethinker.sft.data import load_sft_dataset

    out = tmp_path / "replay"
    assert main(["model", "pretrain-records", "--out", str(out), "--n", "12", "--start", "500", "--shapes", "circle",
                 "--qa-share", "0.7", "--qa-tasks", "spatial grounding,numerical"]) == 0
    records = json.loads((out / "perception.json").read_text())
    cfg = PretrainConfig(shapes=("circle",), qa_share=0.7, qa_tasks=("spatial grounding", "numerical"))
    assert len(records) == 12
    for i, rec in zip(range(500, 512), records):
        scene, prompt, text = item(cfg, i)
        assert rec["messages"][0]["content"] == "<image>" + prompt and rec["messages"][1]["content"] == text
        assert np.array_equal(np.asarray(Image.open(out / rec["images"][0]).convert("RGB")), scene.render(0)[0])
    asked = [r["messages"][0]["content"] for r in records]
    assert any("Answer briefly." in q for q in asked) and any("Describe the image" in q for q in asked)
    dataset = load_sft_dataset([out / "perception.json"])
    assert len(dataset) == 12
    assert main(["model", "pretrain-records", "--out", str(out), "--n", "0"]) == 2
    assert "n must be >= 1" in capsys.readouterr().err
