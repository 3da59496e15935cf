"""`data check`: the synthetic corpus is clean, and each kind of error is found in a broken record,
named with file, record index, problem_id and field."""

import copy
import json
import shutil

import pytest

from onethinker.cli import main
from onethinker.data.check import check_file
from onethinker.data.records import read_records, write_records

FILES = ["onethinker_rl_train.json", "onethinker_sft_image.json", "onethinker_sft_video.json", "eval_synthetic.json"]


def test_synthetic_corpus_is_clean(corpus):
    for name in FILES:
        rep = check_file(corpus / name, corpus)
        assert rep.records > 0
        assert rep.problems == [], [str(p) for p in rep.problems[:5]]
        assert rep.media_missing == 0 and rep.media_found == rep.records


def _first(corpus, name, pred):
    return copy.deepcopy(next(r for r in read_records(corpus / name) if pred(r)))


def _problems(tmp_path, corpus, records, name="broken.json"):
    path = tmp_path / name
    write_records(path, records)
    return check_file(path, corpus).problems


def _expect(problems, index, field, text):
    hits = [p for p in problems if p.index == index and p.field == field and text in p.message]
    assert hits, "\n".join(str(p) for p in problems)
    return hits[0]


def rl(corpus, ptype, dtype=None):
    return _first(corpus, "onethinker_rl_train.json",
                  lambda r: r["problem_type"] == ptype and (dtype is None or r["data_type"] == dtype))


def test_missing_and_mistyped_fields(tmp_path, corpus):
    a, b, c = rl(corpus, "numerical"), rl(corpus, "OCR"), rl(corpus, "math")
    del a["answer"]
    b["problem_id"], b["data_type"] = 1.5, 3
    c["images" if "images" in c else "videos"] = "not-a-list.png"
    probs = _problems(tmp_path, corpus, [a, b, c])
    _expect(probs, 0, "answer", "missing")
    p = _expect(probs, 1, "problem_id", "expected int or str, got float")
    assert str(p).startswith(f"{tmp_path / 'broken.json'}: record 1")
    _expect(probs, 1, "data_type", "expected str, got int")
    _expect(probs, 2, "images" if "images" in c else "videos", "expected a list of path strings")


def test_unknown_problem_type_and_unsupported_data_type(tmp_path, corpus):
    a, b = rl(corpus, "numerical"), rl(corpus, "tracking")
    a["problem_type"] = "captioning"
    b["data_type"] = "image"
    probs = _problems(tmp_path, corpus, [a, b])
    _expect(probs, 0, "problem_type", "unknown value 'captioning'")
    _expect(probs, 1, "data_type", "tracking is defined for video, not 'image'")


def test_answers_that_do_not_parse_or_are_out_of_range(tmp_path, corpus):
    a, b, c, d, e = (rl(corpus, t) for t in ("temporal grounding", "spatial grounding", "tracking", "numerical", "segmentation"))
    a["answer"] = '<answer>{"time": [3]}</answer>'
    b["answer"] = '<answer>{"boxes": [10, 20, 1200, 30]}</answer>'
    c["answer"] = '<answer>{"boxes": {"1": [50, 50, 40, 90]}}</answer>'
    d["answer"] = "12"  # not wrapped
    e["answer"] = e["answer"].replace('"positive_points": [[', '"positive_points": [[-40, 5], [')
    probs = _problems(tmp_path, corpus, [a, b, c, d, e])
    _expect(probs, 0, "answer", "does not parse as a temporal grounding answer: 'time' must be a list of 2 numbers")
    _expect(probs, 1, "answer", "outside the 0..1000 frame")
    _expect(probs, 2, "answer", "has no area")
    _expect(probs, 3, "answer", "expected the ground truth wrapped as <answer>...</answer>")
    _expect(probs, 4, "answer", "3 points")


def test_multiple_choice_options(tmp_path, corpus):
    a, b, c = (rl(corpus, "multiple choice") for _ in range(3))
    del a["options"]
    b["options"] = ["A. red", "B. blue"]
    b["answer"] = "<answer>D</answer>"
    c["options"] = ["red", "blue"]
    probs = _problems(tmp_path, corpus, [a, b, c])
    _expect(probs, 0, "options", "missing")
    _expect(probs, 1, "options", "the answer 'D' is not one of the options ['A', 'B']")
    warn = _expect(probs, 2, "options", "should start with its letter")
    assert warn.severity == "warning"


def test_duplicate_problem_id(tmp_path, corpus):
    a = rl(corpus, "numerical")
    probs = _problems(tmp_path, corpus, [a, copy.deepcopy(a)])
    p = _expect(probs, 1, "problem_id", "duplicate of record 0")
    assert f"(problem_id {a['problem_id']!r})" in str(p)


def test_media_missing_outside_root_and_placeholders(tmp_path, corpus):
    a, b, c = rl(corpus, "numerical", "image"), rl(corpus, "numerical", "image"), rl(corpus, "math", "image")
    a["images"] = ["media/images/nope.png"]
    b["images"] = ["../../etc/passwd"]
    c["problem"] = "<image>" + c["problem"]  # it already has one
    probs = _problems(tmp_path, corpus, [a, b, c])
    _expect(probs, 0, "images", "media file not found")
    _expect(probs, 1, "images", "outside the media root")
    _expect(probs, 2, "problem", "2 media placeholders but 1 media files")


def test_video_shorter_than_the_answer(tmp_path, corpus):
    a = rl(corpus, "temporal grounding")
    a["answer"] = '<answer>{"time": [1.0, 99.0]}</answer>'
    probs = _problems(tmp_path, corpus, [a])
    _expect(probs, 0, "answer", "refers to 99 s but the video lasts")


def test_segmentation_rle_must_match_the_resolution(tmp_path, corpus):
    img = _first(corpus, "eval_synthetic.json", lambda r: r["problem_type"] == "segmentation" and r["data_type"] == "image")
    vid = _first(corpus, "eval_synthetic.json", lambda r: r["problem_type"] == "segmentation" and r["data_type"] == "video")
    img["resolution"]["width"] += 2
    key = vid["segmentation_output"]["frames"][1]
    vid["segmentation_output"]["segmentation_rle"][key]["size"] = [10, 10]
    del vid["fps"]
    bad = copy.deepcopy(img)
    bad["segmentation_output"]["segmentation_rle"]["size"] = 4.5  # once a TypeError (found by tests/test_fuzz.py)
    probs = _problems(tmp_path, corpus, [img, vid, bad])
    _expect(probs, 2, "segmentation_output.segmentation_rle", "size: expected [h, w], got float")
    _expect(probs, 0, "segmentation_output.segmentation_rle", "disagrees with the resolution")
    _expect(probs, 1, f"segmentation_output.segmentation_rle[{key}]", "size [10, 10] disagrees")
    _expect(probs, 1, "fps", "expected a positive number")


def test_sft_records(tmp_path, corpus):
    a = _first(corpus, "onethinker_sft_image.json", lambda r: True)
    b = copy.deepcopy(a)
    a["messages"][1]["content"] = "just an answer"
    b["messages"][0]["content"] = b["messages"][0]["content"].replace("<image>", "")
    probs = _problems(tmp_path, corpus, [a, b])
    _expect(probs, 0, "messages", "not <think>...</think><answer>...</answer>")
    _expect(probs, 1, "messages", "0 media placeholders in the user turns but 1 media files")


def test_bad_lines_are_reported_and_the_rest_checked(tmp_path, corpus):
    a = rl(corpus, "numerical")
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(a) + "\nnot json\n" + json.dumps(dict(a, problem_type="nope")) + "\n")
    probs = check_file(path, corpus).problems
    _expect(probs, 1, "(record)", "mixed.jsonl:2: invalid JSON")
    _expect(probs, 2, "problem_type", "unknown value 'nope'")


def test_cli_exit_status_and_summary(tmp_path, corpus, capsys):
    assert main(["data", "check", str(corpus / "onethinker_rl_train.json"), "--media-root", str(corpus)]) == 0
    out = capsys.readouterr().err
    assert "records per problem_type x data_type" in out and "0 errors" in out
    broken = tmp_path / "b.json"
    a = rl(corpus, "numerical")
    del a["answer"]
    write_records(broken, [a])
    report = tmp_path / "report.json"
    assert main(["data", "check", str(broken), "--media-root", str(corpus), "--json", str(report)]) == 1
    assert "answer: missing" in capsys.readouterr().err
    assert json.loads(report.read_text())[0]["problems"][0]["field"] == "answer"
    # the default media root is the file's folder
    shutil.copy(corpus / "eval_synthetic.json", tmp_path / "eval.json")
    assert main(["data", "check", str(tmp_path / "eval.json"), "--no-media"]) == 1


def test_media_list_holding_a_number_is_a_located_problem_and_the_rest_is_checked(tmp_path, corpus):
    a = rl(corpus, "numerical", "image")
    good_path = a["images"][0]
    a["images"] = [good_path, 7]
    b = rl(corpus, "temporal grounding")
    b["videos"] = [3.5]
    c = rl(corpus, "numerical")
    c["problem_type"] = "nope"  # a later record is still checked
    for name in ("broken.json", "broken.jsonl", "broken.parquet"):
        path = tmp_path / name
        write_records(path, [a, b, c])
        rep = check_file(path, corpus)
        p = _expect(rep.problems, 0, "images", "item 1 is int")
        assert str(p) == f"{path}: record 0 (problem_id {a['problem_id']!r}): images: expected a list of path strings, item 1 is int"
        _expect(rep.problems, 1, "videos", "item 0 is float")
        _expect(rep.problems, 2, "problem_type", "unknown value 'nope'")
        assert rep.media_found >= 2  # the path string next to the number was still found (and c's media)
        assert not [q for q in rep.problems if q.index == 0 and q.field == "images" and "not found" in q.message]
    # and through the command: a report and exit status 1, no traceback
    path = tmp_path / "broken.json"
    assert main(["data", "check", str(path), "--media-root", str(corpus)]) == 1


def test_jsonl_line_that_is_not_utf8_is_one_bad_record(tmp_path, corpus):
    a = rl(corpus, "numerical")
    path = tmp_path / "mixed.jsonl"
    line = json.dumps(a).encode()
    path.write_bytes(line + b"\n" + line.replace(b'"problem"', b'"pr\xff"', 1) + b"\n"
                     + json.dumps(dict(a, problem_id="other", problem_type="nope")).encode() + b"\n")
    probs = check_file(path, corpus).problems
    _expect(probs, 1, "(record)", "mixed.jsonl:2: not valid UTF-8")
    _expect(probs, 2, "problem_type", "unknown value 'nope'")
    whole = tmp_path / "whole.json"
    whole.write_bytes(b"[\n" + line + b",\n" + line.replace(b'"problem"', b'"pr\xff"', 1) + b"\n]")
    _expect(check_file(whole, corpus).problems, 0, "(file)", "whole.json:3: not valid UTF-8")


def test_cli_unwritable_json_report_is_a_clean_error(tmp_path, corpus, capsys):
    path = corpus / "onethinker_rl_train.json"
    assert main(["data", "check", str(path), "--media-root", str(corpus), "--json", str(tmp_path / "no" / "r.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
