"""The lmms-eval plugin (onethinker.integrations.lmms_eval) run through lmms-eval itself.

lmms-eval lives in its own environment (`make lmms-env`), so in the main one (`make test`) this file is
skipped, saying why; run it with `.venv-lmms/bin/python -m pytest tests/test_lmms_eval.py`. Everything is
offline: a small local lmms-eval task built from the synthetic corpus (images; multiple choice and numeric
questions), the session's tiny random model, and lmms-eval's own command line with `--model onethinker`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("lmms_eval") is None,
                                reason="lmms-eval is not installed here (make lmms-env; then "
                                       ".venv-lmms/bin/python -m pytest tests/test_lmms_eval.py)")

TASK = "onethinker_synth"

UTILS = '''
from PIL import Image


def doc_to_visual(doc):
    if doc["video"]:
        return [doc["video"]]  # lmms-eval's convention: a video is its file path
    return [Image.open(doc["image"]).convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    text = doc["question"]
    if doc["options"]:
        text += "\\n" + "\\n".join(doc["options"])
        text += "\\nAnswer with the option's letter from the given choices directly."
    else:
        text += "\\nAnswer the question using a single word or phrase."
    return text


def process_results(doc, results):
    pred = results[0].strip()
    if doc["options"]:
        return {"accuracy": float(pred == doc["answer"])}
    try:
        return {"accuracy": float(abs(float(pred) - float(doc["answer"])) < 1e-6)}
    except ValueError:
        return {"accuracy": 0.0}
'''


def _task_dir(corpus: Path, out: Path, n: int = 6) -> tuple[Path, list[dict]]:
    """A local lmms-eval task over the corpus's held-out items: images (multiple choice and numerical) and
    one video (numerical)."""
    from onethinker.tasks.response import truth_answer

    records = json.loads((corpus / "eval_synthetic.json").read_text())
    docs = []
    for kind in ("multiple choice", "numerical"):
        picked = [r for r in records if r["problem_type"] == kind and r["data_type"] == "image"][: n // 2]
        for r in picked:
            docs.append({"id": str(r["problem_id"]), "image": str(corpus / r["path"]), "video": "",
                         "question": r["problem"], "options": r.get("options") or [],
                         "answer": truth_answer(r["solution"]), "kind": kind})
    video = next(r for r in records if r["problem_type"] == "numerical" and r["data_type"] == "video")
    docs.append({"id": str(video["problem_id"]), "image": "", "video": str(corpus / video["path"]),
                 "question": video["problem"], "options": [], "answer": truth_answer(video["solution"]),
                 "kind": "numerical"})
    assert len(docs) >= 4, "the session corpus has too few image items"
    task_dir = out / "tasks"
    task_dir.mkdir(parents=True)
    data = out / "test.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs))
    (task_dir / "utils.py").write_text(UTILS)
    (task_dir / f"{TASK}.yaml").write_text(f"""task: {TASK}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_visual: !function utils.doc_to_visual
doc_to_text: !function utils.doc_to_text
doc_to_target: answer
generation_kwargs:
  max_new_tokens: 16
  temperature: 0
  do_sample: false
process_results: !function utils.process_results
metric_list:
  - metric: accuracy
    aggregation: mean
    higher_is_better: true
metadata:
  version: 0.0
""")
    return task_dir, docs


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(tmp / "hf"),
               WANDB_MODE="disabled", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


def _run_lmms(tmp: Path, task_dir: Path, model: Path, batch: int, tag: str) -> tuple[dict, list[dict], list[dict]]:
    out, logs = tmp / f"out-{tag}", tmp / f"replies-{tag}"
    cmd = [sys.executable, "-m", "lmms_eval", "--model", "onethinker",
           "--model_args", f"pretrained={model},max_new_tokens=48,log_dir={logs}",
           "--tasks", TASK, "--include_path", str(task_dir), "--batch_size", str(batch), "--device", "cpu",
           "--log_samples", "--output_path", str(out), "--verbosity", "DEBUG"]
    proc = subprocess.run(cmd, env=_env(tmp), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = sorted(out.rglob("*_results.json"))
    assert results, f"lmms-eval wrote no results file under {out}\n{proc.stderr[-2000:]}"
    samples = [json.loads(line) for p in sorted(out.rglob(f"*_samples_{TASK}.jsonl")) for line in p.open()]
    replies = [json.loads(line) for line in (logs / f"{TASK}.jsonl").open()]
    return json.loads(results[-1].read_text()), samples, replies


def test_check_resolves_the_model():
    from onethinker.integrations.lmms_eval.__main__ import check

    assert "OneThinkerLMMS" in check()


def test_lmms_eval_command_runs_the_tiny_model(corpus, tiny_model_dir, tmp_path):
    """`lmms-eval --model onethinker` on a local task: results and samples written, every reply (with its
    reasoning) in the plugin's log, the answer lmms-eval scored taken from it, batch sizes 1 and 3 agree."""
    from onethinker.integrations.lmms_eval.answers import harness_answer

    model = tiny_model_dir  # random weights: long, untagged replies exercise the extraction
    task_dir, docs = _task_dir(corpus, tmp_path)
    res1, samples1, replies1 = _run_lmms(tmp_path, task_dir, model, 1, "bs1")
    acc = res1["results"][TASK]["accuracy,none"]
    assert 0.0 <= acc <= 1.0
    assert len(samples1) == len(docs) and len(replies1) == len(docs)
    by_doc = {r["doc_id"]: r for r in replies1}
    for s in samples1:
        r = by_doc[s["doc_id"]]
        assert r["max_new_tokens"] == 48  # the task's 16 raised to min_new_tokens, then capped
        assert "<think>" in r["prompt"] and "directly" not in r["prompt"]
        scored = s["filtered_resps"][0] if isinstance(s["filtered_resps"], list) else s["filtered_resps"]
        assert scored == harness_answer(r["reply"], r["problem_type"])
        assert r["problem_type"] == ("multiple choice" if docs[s["doc_id"]]["options"] else "open-ended")
        assert r["data_type"] == ("video" if docs[s["doc_id"]]["video"] else "image")
    _, samples3, replies3 = _run_lmms(tmp_path, task_dir, model, 3, "bs3")
    assert {r["doc_id"]: r["reply"] for r in replies3} == {r["doc_id"]: r["reply"] for r in replies1}


class _Fake:
    """A generator that answers every question right from a lookup, with reasoning around it."""

    def __init__(self, answers: dict[str, str]):
        self.answers, self.calls = answers, []

    def generate(self, requests, sampling):
        self.calls.append((len(requests), sampling.max_new_tokens))
        out = []
        for r in requests:
            text = next(c["text"] for c in r.messages[0]["content"] if c["type"] == "text")
            key = next(q for q in self.answers if q in text)
            out.append([f"<think>Looking at the picture: {key}</think>\n<answer>\\boxed{{{self.answers[key]}}}</answer> done"])
        return out

    def close(self):
        pass


def test_model_class_in_process(corpus, tmp_path):
    """The model class with lmms-eval's Instance objects: batching by generation settings, order kept, the
    answer extracted (LaTeX removed), replies logged per task."""
    from PIL import Image
    from lmms_eval.api.instance import Instance

    from onethinker.integrations.lmms_eval.model import OneThinkerLMMS

    img = Image.new("RGB", (32, 32), "red")
    docs = [{"q": f"Question {i}?", "options": ["A. x", "B. y"] if i % 2 else []} for i in range(5)]
    answers = {d["q"]: ("B" if d["options"] else str(i)) for i, d in enumerate(docs)}
    fake = _Fake(answers)
    lm = OneThinkerLMMS(generator=fake, batch_size=2, log_dir=str(tmp_path / "logs"), min_new_tokens=64)
    lm.task_dict = {"t": {"test": docs}}
    reqs = []
    for i, d in enumerate(docs):
        ctx = d["q"] + ("\n" + "\n".join(d["options"]) if d["options"] else "")
        gen = {"max_new_tokens": 16 if i < 3 else 128, "until": ["\n\n"]}
        reqs.append(Instance(request_type="generate_until", arguments=(ctx, gen, lambda doc: [img], i, "t", "test"),
                             idx=0, metadata={"task": "t", "doc_id": i, "repeats": 1}))
    out = lm.generate_until(reqs)
    assert [o.text for o in out] == [answers[d["q"]] for d in docs]
    assert sorted(fake.calls) == [(1, 64), (2, 64), (2, 128)]  # two settings groups: 3 items at 64, 2 at 128
    logged = [json.loads(line) for line in (tmp_path / "logs" / "t.jsonl").open()]
    assert len(logged) == 5 and all("<think>" in r["reply"] for r in logged)
    with pytest.raises(ValueError, match="unknown model argument"):
        OneThinkerLMMS(generator=fake, no_such_arg=1)
    with pytest.raises(ValueError, match="pretrained"):
        OneThinkerLMMS()


def test_suite_runs_an_lmms_eval_benchmark(corpus, tiny_model_dir, tmp_path, monkeypatch):
    """`eval --suite`'s lmms-eval path: lmms-eval's command with the plugin, its metric read back (x100)."""
    from onethinker.evaluate.suite import Benchmark, Part, SuiteRun, run_suite

    task_dir, docs = _task_dir(corpus, tmp_path)
    bench = Benchmark("Synthetic QA", 1, "image QA", "lmms-eval",
                      (Part("", {"accuracy": 50.0}, {"accuracy": "accuracy"}, lmms_task=TASK),))
    for k, v in _env(tmp_path).items():  # the suite's lmms-eval runs inherit this environment (offline)
        monkeypatch.setenv(k, v)
    run = SuiteRun(model=str(tiny_model_dir), out=tmp_path / "suite", data_root=None, lmms_python=sys.executable,
                   lmms_model_args={"max_new_tokens": 24}, lmms_include=task_dir, batch_size=2, log=lambda _: None)
    summary = run_suite(run, [bench])
    row = summary["rows"][0]
    assert row["status"] == "done", row.get("error")
    assert 0.0 <= row["measured"]["accuracy"] <= 100.0 and row["metrics"]["accuracy"] * 100 == pytest.approx(
        row["measured"]["accuracy"], abs=0.01)
    replies = (tmp_path / "suite" / "lmms" / TASK / "replies" / f"{TASK}.jsonl").read_text().splitlines()
    assert len(replies) == len(docs)
    again = run_suite(run, [bench])  # resumable: lmms-eval's results are found, not recomputed
    assert again["rows"][0]["measured"] == row["measured"]
    assert len((tmp_path / "suite" / "lmms" / TASK / "replies" / f"{TASK}.jsonl").read_text().splitlines()) == len(docs)
