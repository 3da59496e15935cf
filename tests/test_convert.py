"""Converters: verl RLHFDataset parquet and LLaMA-Factory ShareGPT + dataset_info.json."""

import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from onethinker.data.convert import (
    DEFAULT_VIDEO_OPTIONS, ConvertError, convert_file, llamafactory_entry, prompt_text, to_llamafactory, to_verl,
)
from onethinker.data.records import read_records, write_records
from onethinker.synthetic.corpus import SynthConfig, synthesize
from onethinker.tasks import TASKS, get_task

RL_FILE, EVAL_FILE = "onethinker_rl_train.json", "eval_synthetic.json"
SFT_IMAGE, SFT_VIDEO = "onethinker_sft_image.json", "onethinker_sft_video.json"
VERL_COLUMNS = ["data_source", "prompt", "images", "videos", "ability", "reward_model", "extra_info"]
SPLIT = re.compile(r"(<image>|<video>)")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("convert_corpus")
    synthesize(SynthConfig(n=40, workers=1, seed=1), out)
    return out


def records(corpus, name):
    return list(read_records(corpus / name))


def expected_prompt(rec):
    """Task.prompt with the placeholders where the media go (in front when the question has none)."""
    task = get_task(rec["problem_type"], rec["data_type"])
    question = rec["problem"]
    if not SPLIT.search(question):
        kinds = ["image" if rec["data_type"] == "image" else "video"]
        if rec["data_type"] == "video-image":
            kinds.append("image")
        question = "".join(f"<{k}>" for k in kinds) + question
    return task.prompt(question, rec["options"] if task.key == "multiple choice" else None)


def verl_media(row):
    """What RLHFDataset (0.7.1+) builds from a row: content items per placeholder, checked like verl does
    (each kind's placeholders and entries equally many; entries are dicts with the path under the kind)."""
    images, videos = row["images"] or [], row["videos"] or []
    items, i, v = [], 0, 0
    for seg in (s for s in SPLIT.split(row["prompt"][0]["content"]) if s):
        if seg == "<image>":
            items.append({"type": "image", **images[i]})
            i += 1
        elif seg == "<video>":
            items.append({"type": "video", **videos[v]})
            v += 1
    assert (i, v) == (len(images), len(videos))
    return items


# ---------------------------------------------------------------------------------------------
# verl
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [RL_FILE, EVAL_FILE])
def test_verl_rows_match_records(corpus, tmp_path, name):
    recs = records(corpus, name)
    out = tmp_path / "train.parquet"
    assert to_verl(recs, out, media_root=corpus) == len(recs)
    table = pq.read_table(out)
    assert table.column_names == VERL_COLUMNS
    rows = table.to_pylist()
    assert len(rows) == len(recs)
    truth_key = "solution" if name == EVAL_FILE else "answer"
    for i, (rec, row) in enumerate(zip(recs, rows)):
        assert row["data_source"] == "onethinker"
        assert row["prompt"] == [{"role": "user", "content": expected_prompt(rec)}]
        assert row["ability"] == rec["problem_type"]
        assert row["reward_model"] == {"style": "rule", "ground_truth": rec[truth_key]}
        assert row["reward_model"]["ground_truth"].startswith("<answer>")
        bare = rec.get("problem_reserved_text") or rec["problem"]
        assert row["extra_info"] == {"index": i, "problem_id": rec["problem_id"], "problem_type": rec["problem_type"],
                                     "data_type": rec["data_type"], "problem": bare, "options": rec["options"]}
        assert "<image>" not in row["extra_info"]["problem"] and "<video>" not in row["extra_info"]["problem"]
        items = verl_media(row)
        paths = [it.get("image") or it.get("video") for it in items]
        assert all(os.path.isabs(p) and Path(p).is_file() for p in paths)
        for it in items:
            if it["type"] == "video":
                assert {k: it[k] for k in DEFAULT_VIDEO_OPTIONS} == DEFAULT_VIDEO_OPTIONS
        if name == RL_FILE:
            media = [("image", p) for p in rec.get("images", [])] + [("video", p) for p in rec.get("videos", [])]
        else:
            media = [("image" if rec["data_type"] == "image" else "video", rec["path"])]
        assert [(it["type"], p) for it, p in zip(items, paths)] == [(k, str((corpus / p).resolve())) for k, p in media]
    # the eval file has no placeholders: they were put in front, in media order
    if name == EVAL_FILE:
        assert all(SPLIT.match(r["prompt"][0]["content"]) for r in rows)
    assert any(r["images"] is None for r in rows) == any(r["videos"] for r in rows)  # mixed file: nulls


def test_verl_prompt_for_multiple_choice_and_video_image(corpus, tmp_path):
    rec = next(r for r in records(corpus, EVAL_FILE) if r["problem_type"] == "multiple choice")
    text = prompt_text(rec)
    assert "\nOptions:\n" + "\n".join(rec["options"]) in text
    assert text == expected_prompt(rec)
    # a video plus one extra image, no placeholders: <video><image> in front
    vid = next(r for r in records(corpus, EVAL_FILE) if r["data_type"] == "video")
    img = next(r for r in records(corpus, EVAL_FILE) if r["data_type"] == "image")
    vi = dict(vid, problem_type="numerical", data_type="video-image", additional_path=img["path"], options=[])
    to_verl([vi], tmp_path / "vi.parquet", media_root=corpus)
    row = pq.read_table(tmp_path / "vi.parquet").to_pylist()[0]
    assert row["prompt"][0]["content"].startswith("<video><image>" + vid["problem"])
    assert [it["type"] for it in verl_media(row)] == ["video", "image"]
    assert row["images"] == [{"image": str((corpus / img["path"]).resolve())}]


def test_verl_relative_paths_and_video_options(corpus, tmp_path):
    recs = records(corpus, RL_FILE)
    out = tmp_path / "rel.parquet"
    to_verl(recs, out, media_root=corpus, absolute_paths=False, data_source="ot",
            video_options={"fps": 1.0, "max_frames": 16, "max_pixels": 100352})
    rows = pq.read_table(out).to_pylist()
    for rec, row in zip(recs, rows):
        assert row["data_source"] == "ot"
        assert [e["image"] for e in row["images"] or []] == rec.get("images", [])
        assert [e["video"] for e in row["videos"] or []] == rec.get("videos", [])
        for e in row["videos"] or []:
            assert not os.path.isabs(e["video"]) and (corpus / e["video"]).is_file()
            assert (e["fps"], e["max_frames"], e["max_pixels"]) == (1.0, 16, 100352)


def test_verl_image_only_file_has_no_videos_column(corpus, tmp_path):
    recs = [r for r in records(corpus, RL_FILE) if r["data_type"] == "image"]
    to_verl(recs, tmp_path / "img.parquet", media_root=corpus)
    table = pq.read_table(tmp_path / "img.parquet")
    assert "videos" not in table.column_names and table.column("images").null_count == 0


def test_task_texts_hold_no_media_placeholders():
    # a placeholder in an instruction would take a medium in verl and LLaMA-Factory
    for task in TASKS.values():
        assert not SPLIT.search(task.prompt("q", ["A. x", "B. y"]).replace("q", "", 1))


def bad(rec, **change):
    out = dict(rec, **change)
    return {k: v for k, v in out.items() if v is not ...}


@pytest.mark.parametrize("change, field, words", [
    ({"problem_type": "juggling"}, "problem_type", "unknown problem_type 'juggling'"),
    ({"images": ["../outside.png"]}, "images[0]", "outside the media root"),
    ({"images": ["/etc/hostname"]}, "images[0]", "absolute media paths are not allowed"),
    ({"images": ["media/images/nope.png"]}, "images[0]", "no such file"),
    ({"images": ..., "videos": ...}, "images or videos", "no media"),
    ({"answer": ...}, "answer", "ground truth"),
    ({"problem": "<video>what?"}, "problem", "placeholder 1 is <video> but medium 1 is an image"),
    ({"problem": "<image><image>what?"}, "problem", "2 media placeholders"),
    ({"problem_type": "multiple choice", "options": []}, "options", "non-empty list"),
])
def test_verl_errors_name_index_problem_id_and_field(corpus, tmp_path, change, field, words):
    recs = [r for r in records(corpus, RL_FILE) if r["data_type"] == "image"][:4]
    recs[2] = bad(recs[2], **change)
    out = tmp_path / "bad.parquet"
    with pytest.raises(ConvertError) as e:
        to_verl(recs, out, media_root=corpus)
    msg = str(e.value)
    assert msg.startswith(f"record 2 (problem_id {recs[2]['problem_id']!r}): {field}: "), msg
    assert words in msg
    assert (e.value.index, e.value.field) == (2, field)
    assert not out.exists()  # nothing half-written


def test_verl_refuses_sft_records_and_wrong_suffix(corpus, tmp_path):
    with pytest.raises(ConvertError, match=r"record 0: messages: an SFT record"):
        to_verl(records(corpus, SFT_IMAGE), tmp_path / "x.parquet", media_root=corpus)
    with pytest.raises(ValueError, match=r"\.parquet"):
        to_verl(records(corpus, RL_FILE), tmp_path / "x.json", media_root=corpus)


def test_verl_mixed_problem_ids_become_strings(corpus, tmp_path):
    recs = [r for r in records(corpus, RL_FILE) if r["data_type"] == "image"][:3]
    recs[1] = dict(recs[1], problem_id="abc-1")
    to_verl(recs, tmp_path / "ids.parquet", media_root=corpus)
    ids = [r["extra_info"]["problem_id"] for r in pq.read_table(tmp_path / "ids.parquet").to_pylist()]
    assert ids == [str(recs[0]["problem_id"]), "abc-1", str(recs[2]["problem_id"])]
    recs[1] = dict(recs[1], problem_id=-(2**70))  # beyond int64 (found by tests/test_fuzz.py): strings too
    to_verl(recs, tmp_path / "big.parquet", media_root=corpus)
    ids = [r["extra_info"]["problem_id"] for r in pq.read_table(tmp_path / "big.parquet").to_pylist()]
    assert ids == [str(recs[0]["problem_id"]), str(-(2**70)), str(recs[2]["problem_id"])]


# ---------------------------------------------------------------------------------------------
# LLaMA-Factory
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, key", [(SFT_IMAGE, "images"), (SFT_VIDEO, "videos")])
def test_llamafactory_sft_passthrough(corpus, tmp_path, name, key):
    recs = records(corpus, name)
    data_path, info_path = to_llamafactory(recs, tmp_path, name="sft", media_root=corpus)
    assert data_path == tmp_path / "sft.json" and info_path == tmp_path / "dataset_info.json"
    out = json.loads(data_path.read_text())
    assert len(out) == len(recs)
    for rec, row in zip(recs, out):
        assert row["messages"] == rec["messages"]
        assert set(row) == {"messages", key}
        assert row[key] == [str((corpus / p).resolve()) for p in rec[key]]
    info = json.loads(info_path.read_text())
    assert info == {"sft": llamafactory_entry("sft.json", images=key == "images", videos=key == "videos")}
    assert info["sft"] == {"file_name": "sft.json", "formatting": "sharegpt",
                           "columns": {"messages": "messages", key: key},
                           "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                    "assistant_tag": "assistant"}}


@pytest.mark.parametrize("name", [RL_FILE, EVAL_FILE])
def test_llamafactory_rl_and_eval_records_get_the_answer_turn(corpus, tmp_path, name):
    recs = records(corpus, name)
    data_path, _ = to_llamafactory(recs, tmp_path, name="rl", media_root=corpus, absolute_paths=False)
    out = json.loads(data_path.read_text())
    assert len(out) == len(recs)
    for rec, row in zip(recs, out):
        truth = rec["solution" if name == EVAL_FILE else "answer"]
        assert row["messages"] == [{"role": "user", "content": expected_prompt(rec)},
                                   {"role": "assistant", "content": truth}]
        media = row.get("images", []) + row.get("videos", [])
        n_tags = len(SPLIT.findall(row["messages"][0]["content"]))
        assert n_tags == len(media) >= 1  # LLaMA-Factory: one placeholder per medium
        assert all(not os.path.isabs(p) and (corpus / p).is_file() for p in media)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["rl"]["columns"] == {"messages": "messages", "images": "images", "videos": "videos"}


def test_llamafactory_wraps_a_bare_ground_truth(corpus, tmp_path):
    rec = dict(records(corpus, RL_FILE)[0], answer="41.3")
    data_path, _ = to_llamafactory([rec], tmp_path, media_root=corpus)
    assert json.loads(data_path.read_text())[0]["messages"][1]["content"] == "<answer>41.3</answer>"


def test_llamafactory_merges_dataset_info(corpus, tmp_path):
    existing = {"identity": {"file_name": "identity.json"},
                "onethinker_sft": {"file_name": "old.json", "formatting": "alpaca"}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(existing))
    to_llamafactory(records(corpus, SFT_IMAGE), tmp_path, media_root=corpus)
    to_llamafactory(records(corpus, SFT_VIDEO), tmp_path, name="video", media_root=corpus)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert list(info) == ["identity", "onethinker_sft", "video"]
    assert info["identity"] == {"file_name": "identity.json"}
    assert info["onethinker_sft"]["file_name"] == "onethinker_sft.json"
    assert info["video"]["columns"] == {"messages": "messages", "videos": "videos"}
    (tmp_path / "dataset_info.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        to_llamafactory(records(corpus, SFT_IMAGE), tmp_path, media_root=corpus)
    assert (tmp_path / "dataset_info.json").read_text() == "{broken"


def test_llamafactory_system_turn_adds_system_tag(corpus, tmp_path):
    rec = records(corpus, SFT_IMAGE)[0]
    sys_rec = dict(rec, messages=[{"role": "system", "content": "Be brief."}] + rec["messages"])
    data_path, info_path = to_llamafactory([rec, sys_rec], tmp_path, media_root=corpus)
    assert json.loads(data_path.read_text())[1]["messages"] == sys_rec["messages"]
    assert json.loads(info_path.read_text())["onethinker_sft"]["tags"]["system_tag"] == "system"
    late = dict(rec, messages=rec["messages"] + [{"role": "system", "content": "x"}])
    with pytest.raises(ConvertError, match=r"record 1: messages: expected an optional system turn"):
        to_llamafactory([rec, late], tmp_path, media_root=corpus)


def test_llamafactory_checks_sft_placeholders(corpus, tmp_path):
    rec = records(corpus, SFT_IMAGE)[0]
    msgs = [dict(rec["messages"][0], content=rec["messages"][0]["content"].replace("<image>", "")),
            rec["messages"][1]]
    with pytest.raises(ConvertError, match=r"record 0: messages: 0 <image> placeholders but 1 images"):
        to_llamafactory([dict(rec, messages=msgs)], tmp_path, media_root=corpus)


# ---------------------------------------------------------------------------------------------
# files (the CLI's entry point)
# ---------------------------------------------------------------------------------------------
def test_convert_file_dispatches_and_names_the_file(corpus, tmp_path):
    s = convert_file(corpus / RL_FILE, "verl", tmp_path / "verl", media_root=corpus)
    n = len(records(corpus, RL_FILE))
    assert s == {"input": str(corpus / RL_FILE), "to": "verl", "records": n,
                 "outputs": [str(tmp_path / "verl" / "onethinker_rl_train.parquet")]}
    assert pq.read_table(s["outputs"][0]).num_rows == n
    # JSONL input, llamafactory output named after the file
    jl = tmp_path / "sft.jsonl"
    write_records(jl, records(corpus, SFT_VIDEO))
    s = convert_file(jl, "llamafactory", tmp_path / "lf", media_root=corpus, absolute_paths=False)
    assert s["records"] == len(records(corpus, SFT_VIDEO))
    assert s["outputs"] == [str(tmp_path / "lf" / "sft.json"), str(tmp_path / "lf" / "dataset_info.json")]
    assert "sft" in json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    # errors carry the file name as well
    bad_file = tmp_path / "bad.json"
    recs = records(corpus, EVAL_FILE)
    recs[1]["problem_type"] = "juggling"
    write_records(bad_file, recs)
    where = rf"^{re.escape(str(bad_file))}: record 1 \(problem_id \d+\): problem_type: "
    with pytest.raises(ConvertError, match=where):
        convert_file(bad_file, "verl", tmp_path / "bad.parquet", media_root=corpus)
    with pytest.raises(ValueError, match="unknown target"):
        convert_file(bad_file, "trl", tmp_path / "x", media_root=corpus)
    # a media field of the wrong type, and a file without records, are named too
    recs = records(corpus, EVAL_FILE)
    recs[2]["path"] = ["a.mp4"]
    write_records(bad_file, recs)
    where = rf"^{re.escape(str(bad_file))}: record 2 \(problem_id \d+\): path: expected a path string, got list$"
    with pytest.raises(ConvertError, match=where):
        convert_file(bad_file, "llamafactory", tmp_path / "lf2", media_root=corpus)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ValueError, match=f"^{re.escape(str(empty))}: no records to convert$"):
        convert_file(empty, "verl", tmp_path / "e.parquet", media_root=corpus)


def test_cli_convert(corpus, tmp_path):
    from onethinker.cli import main

    assert main(["data", "convert", str(corpus / EVAL_FILE), "--to", "verl", "--out", str(tmp_path / "e.parquet")]) == 0
    assert pq.read_table(tmp_path / "e.parquet").num_rows == len(records(corpus, EVAL_FILE))
