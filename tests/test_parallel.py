"""Forked workers (onethinker.parallel): results in order, errors raised where they are read, and the evaluation
runner's and the probe's outputs with several workers equal to those with one."""

import os

import pytest
import torch

import onethinker.parallel as parallel
from onethinker.parallel import WorkerError, fork_available, forked_map, windowed_map

needs_fork = pytest.mark.skipif(not fork_available(), reason="no fork start method here")


def _square_with_pid(x):
    return x * x, os.getpid(), torch.get_num_threads()


@needs_fork
def test_results_in_order_from_separate_processes_one_thread_each():
    threads = torch.get_num_threads()
    out = forked_map(_square_with_pid, [1, 2, 3, 4])
    assert [o[0] for o in out] == [1, 4, 9, 16]
    assert out[0][1] == os.getpid() and len({o[1] for o in out}) == 4  # the first here, the others forked
    assert all(o[2] == 1 for o in out)
    assert torch.get_num_threads() == threads  # put back


def test_sequential_when_not_parallel():
    out = forked_map(_square_with_pid, [2, 3], parallel=False)
    assert [o[0] for o in out] == [4, 9] and {o[1] for o in out} == {os.getpid()}


def test_windowed_map_reads_one_window_at_a_time_and_keeps_the_order():
    read = []

    def pieces():
        for x in range(5):
            read.append(x)
            yield x

    out = windowed_map(_square_with_pid, pieces(), 2)
    first = next(out)
    assert first[0] == 0 and first[1][0] == 0 and read == [0, 1]  # the second window not built yet
    assert [(p, r[0]) for p, r in [first, *out]] == [(0, 0), (1, 1), (2, 4), (3, 9), (4, 16)]


def _fail_on_two(x):
    if x == 2:
        raise ValueError(f"bad piece {x}")
    return x


def _die_on_two(x):
    if x == 2:
        os._exit(3)
    return x


@needs_fork
def test_a_childs_exception_is_raised_here_with_its_traceback():
    with pytest.raises(ValueError, match="bad piece 2") as info:
        forked_map(_fail_on_two, [1, 2, 3])
    assert any("forked worker 1 of 3" in note for note in getattr(info.value, "__notes__", []))


@needs_fork
def test_a_child_that_dies_is_a_worker_error():
    with pytest.raises(WorkerError, match="exit code 3"):
        forked_map(_die_on_two, [1, 2])


# --- the evaluation runner and the probe -------------------------------------------------------------
def _rows(folder, bench="eval_synthetic"):
    from onethinker.evaluate.store import ResultStore

    return [{k: v for k, v in r.items() if k != "gen_seconds"} for r in ResultStore(folder / f"{bench}.jsonl").rows()]


class _Spy:
    """Counts the pieces each ``forked_map`` call gets (to check that batches really ran at once)."""

    def __init__(self, monkeypatch):
        self.pieces, self.real = [], parallel.forked_map
        monkeypatch.setattr(parallel, "forked_map", self)

    def __call__(self, fn, args, parallel=True):
        self.pieces.append(len(args) if parallel else 1)
        return self.real(fn, args, parallel=parallel)


@needs_fork
def test_tiny_model_evaluation_with_workers_equals_one_process(tiny_model_dir, corpus, tmp_path, monkeypatch):
    from onethinker.evaluate.runner import EvalConfig, evaluate
    from onethinker.generate import SamplingConfig, build_generator

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    gen = build_generator("transformers", str(tiny_model_dir))
    assert gen.forkable
    for temperature in (0.0, 1.0):  # greedy, and one seeded sample per item
        sampling = SamplingConfig(max_new_tokens=12, temperature=temperature, seed=3)
        evaluate(gen, [corpus / "eval_synthetic.json"], tmp_path / f"one{temperature}", media_root=corpus,
                 config=EvalConfig(batch_size=4, segmenter="grabcut", workers=1), sampling=sampling)
        with monkeypatch.context() as m:
            spy = _Spy(m)
            evaluate(gen, [corpus / "eval_synthetic.json"], tmp_path / f"three{temperature}", media_root=corpus,
                     config=EvalConfig(batch_size=4, segmenter="grabcut", workers=3), sampling=sampling)
        assert max(spy.pieces) == 3, spy.pieces  # batches ran at once: otherwise the test proves nothing
        one, three = _rows(tmp_path / f"one{temperature}"), _rows(tmp_path / f"three{temperature}")
        assert len(one) == 20 and one == three


@needs_fork
def test_evaluation_with_workers_resumes_what_is_left(corpus, tmp_path):
    from onethinker.evaluate.runner import EvalConfig, evaluate
    from onethinker.evaluate.store import ResultStore
    from onethinker.generate.scripted import ScriptedGenerator

    bench = corpus / "eval_synthetic.json"
    evaluate(ScriptedGenerator(), [bench], tmp_path / "straight", media_root=corpus, config=EvalConfig(batch_size=3))
    evaluate(ScriptedGenerator(), [bench], tmp_path / "resumed", media_root=corpus, config=EvalConfig(batch_size=3, limit=7))
    evaluate(ScriptedGenerator(), [bench], tmp_path / "resumed", media_root=corpus, config=EvalConfig(batch_size=3, workers=2))
    assert len(ResultStore(tmp_path / "resumed" / "eval_synthetic.jsonl").rows()) == 20
    key = lambda r: r["problem_id"]  # noqa: E731
    assert sorted(_rows(tmp_path / "straight"), key=key) == sorted(_rows(tmp_path / "resumed"), key=key)


def test_workers_must_be_positive():
    from onethinker.evaluate.probe import ProbeConfig
    from onethinker.evaluate.runner import EvalConfig, EvalError

    with pytest.raises(EvalError, match="workers must be >= 1"):
        EvalConfig(workers=0)
    with pytest.raises(ValueError, match="workers must be >= 1"):
        ProbeConfig(workers=0)


@needs_fork
def test_probe_with_workers_equals_one_process(tiny_model_dir, corpus, monkeypatch):
    from onethinker.data.records import read_records
    from onethinker.evaluate.probe import ProbeConfig, probe
    from onethinker.generate import build_generator
    from onethinker.reward import RewardConfig

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    gen = build_generator("transformers", str(tiny_model_dir))
    records = list(read_records(corpus / "onethinker_rl_train.json"))[:10]

    def run(workers):
        config = ProbeConfig(n=3, temperature=1.0, max_new_tokens=10, batch_size=3, seed=5, workers=workers)
        result, rows = probe(gen, records, config=config, reward=RewardConfig(workers=0), media_root=corpus)
        result["config"]["run"].pop("seconds", None)
        result["config"]["run"].pop("baseline_seconds", None)
        result["config"]["run"].get("reward", {}).pop("seconds", None)
        return result, rows

    one = run(1)
    spy = _Spy(monkeypatch)
    three = run(3)
    assert max(spy.pieces) == 3, spy.pieces
    assert one == three


@needs_fork
def test_eval_and_probe_cli_take_workers(corpus, tmp_path):
    from onethinker.cli import main

    bench = str(corpus / "eval_synthetic.json")
    for w in (1, 2):
        assert main(["eval", "--backend", "scripted", "--bench", bench, "--media-root", str(corpus), "--batch-size", "4",
                     "--workers", str(w), "--out", str(tmp_path / f"eval{w}")]) == 0
        assert main(["probe", "--backend", "scripted", "--data", bench, "--media-root", str(corpus), "--n", "2",
                     "--reward-workers", "0", "--workers", str(w), "--out", str(tmp_path / f"probe{w}")]) == 0
    assert _rows(tmp_path / "eval1") == _rows(tmp_path / "eval2")
    assert (tmp_path / "probe1" / "probe_items.jsonl").read_text() == (tmp_path / "probe2" / "probe_items.jsonl").read_text()
