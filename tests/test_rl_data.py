"""RL-train records are checked one by one before any model is loaded: a bad record is an error naming the
file, record and field, or (skip_bad_records) a counted skip; records of other tasks are counted apart."""

import copy

import pytest

from onethinker.data.records import read_records, write_records
from onethinker.rl.config import RLDataConfig
from onethinker.rl.data import RLDataError, load_rl_records


@pytest.fixture(scope="module")
def rl_records(corpus):
    return list(read_records(corpus / "onethinker_rl_train.json"))


@pytest.mark.parametrize("change, words", [
    ({"images": [7]}, "images[0]: expected a path string, got int"),
    ({"videos": "a.mp4", "images": None}, "videos: expected a list of path strings, got str"),
    ({"images": ["media/images/nope.png"]}, "media: image file not found"),
    ({"images": ["../../etc/passwd"]}, "outside the media root"),
    ({"answer": None}, "answer: expected a string, got NoneType"),
    ({"answer": "<answer>{not json</answer>", "problem_type": "spatial grounding"}, "answer: does not parse"),
    ({"problem_type": "juggling"}, "problem_type: unknown task 'juggling'"),
    ({"problem": 3}, "problem: expected a string"),
    ({"problem": "<image><image>two?"}, "2 media placeholders"),
    ({"problem_type": "multiple choice", "options": [1, 2]}, "options: expected a list of strings"),
    ({"solution": "<answer>A</answer>"}, "an evaluation record (solution), not an RL-train record"),
])
def test_bad_record_is_an_error_or_a_counted_skip(corpus, tmp_path, rl_records, change, words):
    recs = copy.deepcopy([r for r in rl_records if r.get("images")][:3])
    recs[1].update(change)
    path = tmp_path / "rl.jsonl"
    write_records(path, recs)
    cfg = RLDataConfig(train_files=[str(path)], media_root=str(corpus))
    with pytest.raises(RLDataError) as e:
        load_rl_records(cfg)
    assert str(e.value).startswith(f"{path}: record 1 (problem_id {recs[1]['problem_id']!r}): "), str(e.value)
    assert words in str(e.value) and "skip_bad_records" in str(e.value)
    cfg.skip_bad_records = True
    got = load_rl_records(cfg)
    assert [r["problem_id"] for r in got.records] == [recs[0]["problem_id"], recs[2]["problem_id"]]
    assert got.read == 3 and len(got.skipped) == 1 and words in got.skipped[0]


def test_task_filter_is_counted_apart_and_an_empty_result_is_an_error(corpus, tmp_path, rl_records):
    path = tmp_path / "rl.json"
    write_records(path, rl_records)
    got = load_rl_records(RLDataConfig(train_files=[str(path)], media_root=str(corpus), tasks=["math"]))
    assert got.records and all(r["problem_type"] == "math" for r in got.records)
    assert got.read == len(rl_records) == len(got.records) + got.other_tasks
    with pytest.raises(RLDataError, match=r"no usable RL-train records .* of other tasks than data\.tasks"):
        load_rl_records(RLDataConfig(train_files=[str(path)], media_root=str(corpus), tasks=["nothing"]))
    with pytest.raises(RLDataError, match="data.train_files is empty"):
        load_rl_records(RLDataConfig())
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(RLDataError, match=r"junk\.json: invalid JSON"):
        load_rl_records(RLDataConfig(train_files=[str(junk)]))


def test_task_weights_repeat_a_keys_records_in_the_stream(corpus, tmp_path, rl_records):
    from collections import Counter

    from onethinker.tasks import task_key

    path = tmp_path / "rl.json"
    write_records(path, rl_records)
    plain = load_rl_records(RLDataConfig(train_files=[str(path)], media_root=str(corpus)))
    weighted = load_rl_records(RLDataConfig(train_files=[str(path)], media_root=str(corpus),
                                            task_weights={"math": 3, "multiple choice": 1}))
    count = lambda recs: Counter(task_key(r["problem_type"], r["data_type"]) for r in recs)  # noqa: E731
    a, b = count(plain.records), count(weighted.records)
    assert a["math"] > 0 and b["math"] == 3 * a["math"]
    assert {k: v for k, v in b.items() if k != "math"} == {k: v for k, v in a.items() if k != "math"}
    assert weighted.read == plain.read == len(rl_records)  # read once, repeated in the stream
    # a data type weighs its records whose key has no weight of its own
    by_type = load_rl_records(RLDataConfig(train_files=[str(path)], media_root=str(corpus),
                                           task_weights={"video": 2, "tracking": 5}))
    kinds = lambda recs: Counter((task_key(r["problem_type"], r["data_type"]), r["data_type"]) for r in recs)  # noqa: E731
    a, c = kinds(plain.records), kinds(by_type.records)
    assert any(t == "video" and k != "tracking" for k, t in a) and a[("tracking", "video")] > 0
    for (k, t), n in a.items():
        assert c[(k, t)] == n * (5 if k == "tracking" else 2 if t == "video" else 1), (k, t)
    for bad, words in (({"trackin": 2}, "unknown task key 'trackin'"), ({"math": 0}, "must be an integer >= 1"),
                       ({"math": 1.5}, "must be an integer >= 1"), ({"vidoe": 2}, "or a data type"),
                       ({"video-image": 2}, "or a data type")):
        with pytest.raises(ValueError, match=words):
            RLDataConfig(train_files=[str(path)], task_weights=bad)
