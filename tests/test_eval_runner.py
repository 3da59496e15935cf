"""The evaluation runner: official metrics end to end, resumable after interruption (even kill -9)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from onethinker.data.records import read_records, write_records
from onethinker.evaluate.runner import EvalConfig, EvalError, evaluate
from onethinker.evaluate.store import ResultStore
from onethinker.generate.base import GenerationRequest, Generator, SamplingConfig
from onethinker.generate.scripted import ScriptedGenerator


@pytest.fixture(scope="module")
def bench(corpus, tmp_path_factory):
    """The corpus's held-out items without segmentation (those have their own tests)."""
    out = tmp_path_factory.mktemp("bench") / "eval_small.json"
    recs = [r for r in read_records(corpus / "eval_synthetic.json") if r["problem_type"] != "segmentation"]
    write_records(out, recs)
    return out


def run(gen, bench, out, corpus, **cfg):
    return evaluate(gen, [bench], out, media_root=corpus, config=EvalConfig(**cfg))[0]


def test_a_perfect_model_gets_perfect_official_metrics(bench, corpus, tmp_path):
    res = run(ScriptedGenerator(noise=0.0, malformed=0.0), bench, tmp_path, corpus)
    fams = res.metrics["families"]
    assert res.items == len(list(read_records(bench)))
    for fam, fm in fams.items():
        for name, value in fm["metrics"].items():
            expect = 0.0 if name == "WER" else 1.0
            assert value == pytest.approx(expect), (fam, name, value)
        assert fm["variant"]
    assert res.metrics["unparsed"] == 0 and res.metrics["errors"] == 0
    assert (tmp_path / "summary.md").is_file() and (tmp_path / "eval_small.metrics.json").is_file()


class Garbage(Generator):
    name = "garbage"

    def generate(self, requests, sampling):
        return [["no tags, no answer"] for _ in requests]


def test_unparseable_answers_score_zero_and_stay_in_the_denominator(bench, corpus, tmp_path):
    res = run(Garbage(), bench, tmp_path, corpus)
    assert res.metrics["unparsed"] == res.items
    for fam, fm in res.metrics["families"].items():
        for name, value in fm["metrics"].items():
            assert value == (1.0 if name == "WER" else 0.0), (fam, name)  # WER: every reference word deleted
    rows = ResultStore(tmp_path / "eval_small.jsonl").rows()
    assert len(rows) == res.items and all(r["parse_error"] == "no <answer>...</answer> block" for r in rows)


class Counting(ScriptedGenerator):
    """The scripted model, remembering which items it was asked to answer."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.asked = []

    def generate(self, requests, sampling):
        self.asked += [r.record["problem_id"] for r in requests]
        return super().generate(requests, sampling)


def test_resume_skips_finished_items_and_repairs_a_torn_line(bench, corpus, tmp_path):
    ids_in_order = [r["problem_id"] for r in read_records(bench)]
    gen = Counting(noise=0.3)
    first = run(gen, bench, tmp_path, corpus, limit=10)
    assert first.items == 10 and sorted(gen.asked) == sorted(ids_in_order[:10])
    path = tmp_path / "eval_small.jsonl"
    torn_id = ids_in_order[12]
    with path.open("ab") as f:  # a write cut short by a crash
        f.write(b'{"problem_id": %d, "index": 12, "output": "<think>tr' % torn_id)
    gen.asked.clear()
    full = run(gen, bench, tmp_path, corpus)
    assert sorted(gen.asked) == sorted(ids_in_order[10:])  # only the unfinished items, the torn one among them
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    ids = [r["problem_id"] for r in rows]
    assert len(ids) == len(set(ids)) == full.items
    gen.asked.clear()
    again = run(gen, bench, tmp_path, corpus)  # all done: nothing is generated
    assert gen.asked == [] and again.metrics["families"] == full.metrics["families"]
    reference = run(Counting(noise=0.3), bench, tmp_path / "clean", corpus)
    assert full.metrics["families"] == reference.metrics["families"]


def test_kill_minus_nine_then_resume(bench, corpus, tmp_path):
    script = f"""
import sys
from onethinker.evaluate.runner import EvalConfig, evaluate
from onethinker.generate.scripted import ScriptedGenerator
evaluate(ScriptedGenerator(noise=0.3, delay_s=0.05), [{str(bench)!r}], {str(tmp_path)!r},
         media_root={str(corpus)!r}, config=EvalConfig(batch_size=2))
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    path = tmp_path / "eval_small.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not path.exists() or path.read_text().count("\n") < 6):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = ResultStore(path).rows()
    total = len(list(read_records(bench)))
    assert 0 < len(partial) < total
    gen = Counting(noise=0.3)
    res = run(gen, bench, tmp_path, corpus)
    assert sorted(gen.asked) == sorted(r["problem_id"] for r in read_records(bench)
                                       if r["problem_id"] not in {p["problem_id"] for p in partial})
    rows = ResultStore(path).rows()
    assert len(rows) == total == len({r["problem_id"] for r in rows})
    reference = run(ScriptedGenerator(noise=0.3), bench, tmp_path / "clean", corpus)
    assert res.metrics["families"] == reference.metrics["families"]


def test_missing_media_is_an_error_row_not_a_crash(bench, corpus, tmp_path):
    recs = list(read_records(bench))[:6]
    recs[2] = dict(recs[2], path="media/images/missing.png")
    broken = tmp_path / "broken.json"
    write_records(broken, recs)
    res = evaluate(ScriptedGenerator(noise=0.0), [broken], tmp_path / "out", media_root=corpus)[0]
    rows = {r["index"]: r for r in ResultStore(tmp_path / "out" / "broken.jsonl").rows()}
    assert rows[2]["error"] and "missing.png" in rows[2]["error"] and rows[2]["score"] == 0.0
    assert res.metrics["errors"] == 1 and res.items == 6


def test_bad_benchmark_files_are_clear_errors(bench, corpus, tmp_path):
    recs = list(read_records(bench))[:3]
    dup = tmp_path / "dup.json"
    write_records(dup, [recs[0], recs[1], dict(recs[2], problem_id=recs[0]["problem_id"])])
    with pytest.raises(EvalError, match="records 0 and 2 share problem_id"):
        evaluate(ScriptedGenerator(), [dup], tmp_path / "o", media_root=corpus)
    bad = tmp_path / "bad.json"
    write_records(bad, [dict(recs[0], solution="<answer>{not json</answer>", problem_type="temporal grounding", data_type="video")])
    with pytest.raises(EvalError, match="record 0 .*solution"):
        evaluate(ScriptedGenerator(), [bad], tmp_path / "o2", media_root=corpus)


def test_family_override_anet_rtl(tmp_path):
    from onethinker.synthetic.corpus import SynthConfig, synthesize

    synthesize(SynthConfig(n=12, seed=4, tasks=["temporal grounding"], held_out=0.5, workers=1), tmp_path / "c")
    tg = tmp_path / "anet.json"
    write_records(tg, read_records(tmp_path / "c" / "eval_synthetic.json"))
    res = evaluate(ScriptedGenerator(noise=0.0, malformed=0.0), [tg], tmp_path / "o", media_root=tmp_path / "c",
                   config=EvalConfig(family={"anet": "anet_rtl"}))[0]
    assert res.metrics["families"]["anet_rtl"]["metrics"] == {"mIoU": 1.0, "P@0.5": 1.0}


def test_cli(bench, corpus, tmp_path, capsys):
    from onethinker.cli import main

    code = main(["eval", "--backend", "scripted", "--noise", "0.2", "--bench", str(bench), "--media-root", str(corpus),
                 "--out", str(tmp_path), "--limit", "12"])
    assert code == 0
    assert len(ResultStore(tmp_path / "eval_small.jsonl").rows()) == 12
    assert "eval_small (12 items)" in capsys.readouterr().err


def test_broken_media_in_every_family_that_reads_it_scores_zero_in_the_aggregate(corpus, tmp_path):
    """Boxes, tracks and masks whose video or image is missing, truncated or empty: each item scores 0 with its
    error, stays in the family's aggregate, and the run finishes (it once failed in the aggregate)."""
    from onethinker.data.media import write_video

    recs = list(read_records(corpus / "eval_synthetic.json"))
    keys = ("spatial grounding", "spatial-temporal grounding", "tracking", "segmentation")
    picked = [dict(r) for r in recs if r["problem_type"] in keys]
    media = tmp_path / "media"
    media.mkdir()
    (media / "zero.png").write_bytes(b"")
    (media / "truncated.mp4").write_bytes((corpus / next(r["path"] for r in picked if r["data_type"] == "video"))
                                          .read_bytes()[:3000])
    write_video(media / "short.mp4", np.zeros((4, 32, 32, 3), np.uint8), fps=8)  # shorter than any answer
    broken = ["media/zero.png", "media/truncated.mp4", "media/short.mp4", "media/missing.mp4"]
    for i, r in enumerate(picked):
        r["problem_id"] = f"b{i}"
        r["path"] = broken[i % len(broken)]
    bench_file = tmp_path / "broken.json"
    write_records(bench_file, picked)
    shutil.copytree(corpus / "media", tmp_path / "media", dirs_exist_ok=True)
    res = evaluate(ScriptedGenerator(noise=0.0, malformed=0.0), [bench_file], tmp_path / "out", media_root=tmp_path,
                   config=EvalConfig(segmenter="grabcut", max_frames=8))[0]
    rows = ResultStore(tmp_path / "out" / "broken.jsonl").rows()
    assert len(rows) == len(picked) == res.items
    unreadable = [r for r in rows if r["media"][0]["path"] != "media/short.mp4"]
    assert unreadable and all(r["error"] and r["score"] == 0.0 for r in unreadable)
    assert set(res.metrics["families"]) == {"rec", "stvg", "got10k", "referring_segmentation", "vos"}
    for fam in res.metrics["families"].values():
        assert all(np.isfinite(v) for v in fam["metrics"].values())
    assert res.metrics["errors"] == sum(bool(r["error"]) for r in rows)


def test_malformed_benchmark_records_are_located_errors(corpus, tmp_path):
    recs = list(read_records(corpus / "eval_synthetic.json"))
    seg = next(dict(r) for r in recs if r["problem_type"] == "segmentation" and r["data_type"] == "video")
    other = dict(recs[0], path=["a.png"])
    seg["segmentation_output"] = {"frames": ["x"], "segmentation_rle": {"x": {"size": [1, 1], "counts": "0"}}}
    bad = tmp_path / "bad.json"
    write_records(bad, [other, seg])
    with pytest.raises(EvalError) as e:
        evaluate(ScriptedGenerator(), [bad], tmp_path / "o", media_root=corpus)
    msg = str(e.value)
    assert f"{bad}: 2 records cannot be evaluated" in msg
    assert f"record 0 (problem_id {other['problem_id']!r}): path: expected a path string, got list" in msg
    assert f"record 1 (problem_id {seg['problem_id']!r}): segmentation_output.frames: expected frame indices" in msg
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(EvalError, match=f"{empty}: no records to evaluate"):
        evaluate(ScriptedGenerator(), [empty], tmp_path / "o2", media_root=corpus)


def test_cli_prints_text_from_the_data_as_is(bench, corpus, tmp_path, capsys):
    """Record text that looks like terminal markup is printed, not interpreted (it once raised MarkupError)."""
    from onethinker.cli import main

    rec = dict(next(iter(read_records(bench))), problem_type="[/red] [bold]x")
    bad = tmp_path / "bad.json"
    write_records(bad, [rec])
    assert main(["eval", "--backend", "scripted", "--bench", str(bad), "--media-root", str(corpus),
                 "--out", str(tmp_path / "o")]) == 1
    assert "problem_type '[/red] [bold]x'" in capsys.readouterr().err
    odd = tmp_path / "[bold]b bench.json"  # a file name shown in the progress bar
    write_records(odd, list(read_records(bench))[:2])
    assert main(["eval", "--backend", "scripted", "--bench", str(odd), "--media-root", str(corpus),
                 "--out", str(tmp_path / "o2")]) == 0
    err = capsys.readouterr().err
    assert "[bold]b bench (2 items)" in err
    assert re.search(r"\[bold\]b bench\s*━", err)  # the progress bar's label, as written
    assert main(["infer", "--backend", "scripted", "--media", str(tmp_path / "[/x].png"), "--problem-type", "OCR",
                 "--out", str(tmp_path / "i")]) == 1
    assert "[/x].png: no such file" in capsys.readouterr().err


class Recording(ScriptedGenerator):
    """The scripted model, noting the records of every batch it is given."""

    def __init__(self, **kw):
        super().__init__(noise=0.0, malformed=0.0, **kw)
        self.batches = []

    def generate(self, requests, sampling):
        self.batches.append([r.record for r in requests])
        return super().generate(requests, sampling)


def test_task_order_batches_like_answers_together_and_changes_no_result(bench, corpus, tmp_path):
    from onethinker.tasks import task_key

    records = list(read_records(bench))
    results = {}
    for order in ("file", "task"):
        gen = Recording()
        res = run(gen, bench, tmp_path / order, corpus, batch_size=5, order=order)
        ids = [r["problem_id"] for b in gen.batches for r in b]
        assert sorted(ids) == sorted(r["problem_id"] for r in records)  # every item once
        keys = [task_key(r["problem_type"], r["data_type"]) for b in gen.batches for r in b]
        if order == "file":
            assert ids == [r["problem_id"] for r in records]
        else:  # one run of each key, shortest truth first within it
            runs = [k for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
            assert len(runs) == len(set(keys)) and runs == sorted(runs)
            by_id = {r["problem_id"]: r for r in records}
            for k in set(keys):
                lens = [len(str(by_id[i]["solution"])) for i, kk in zip(ids, keys) if kk == k]
                assert lens == sorted(lens), k
        results[order] = res
    assert results["task"].metrics["families"] == results["file"].metrics["families"]
    rows = {o: ResultStore(tmp_path / o / "eval_small.jsonl").rows() for o in results}
    assert {r["problem_id"]: r["score"] for r in rows["task"]} == {r["problem_id"]: r["score"] for r in rows["file"]}


def test_task_order_resumes_what_is_left(bench, corpus, tmp_path):
    n = len(list(read_records(bench)))
    run(Recording(), bench, tmp_path, corpus, batch_size=4, order="task", limit=n)  # all done
    store = tmp_path / "eval_small.jsonl"
    lines = store.read_text().splitlines()
    store.write_text("\n".join(lines[: n // 2]) + "\n")  # half of them lost
    gen = Recording()
    res = run(gen, bench, tmp_path, corpus, batch_size=4, order="task")
    assert sum(len(b) for b in gen.batches) == n - n // 2
    assert res.items == n and len(ResultStore(store).rows()) == n


def test_bad_eval_config_is_a_clear_error():
    with pytest.raises(EvalError, match="order must be one of task, file"):
        EvalConfig(order="random")
    with pytest.raises(EvalError, match="batch_size must be >= 1"):
        EvalConfig(batch_size=0)
