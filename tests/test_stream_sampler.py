"""The streaming sampler (``SamplingEngine.stream``, ``rollout.sampler: stream``): prompts join one decode batch
while others run; each prompt's samples come out when its last row stops. On the tiny model: greedy samples equal
the fast sampler's, sampled tokens' log-probabilities equal a fresh unbatched forward pass (so joined caches, moved
rows, dropped padding and every row's rope positions are right), and seeding. The trainer's dynamic sampling on it:
tests/test_rl_claims.py."""

import pytest
import torch

from onethinker.data.chat import record_messages
from onethinker.data.records import read_records
from onethinker.models import load
from onethinker.models.inputs import build_inputs
from onethinker.models.sampling import SamplingEngine
from onethinker.tasks import task_key

from model_helpers import recomputed_logprobs

KEYS = ["multiple choice", "tracking", "OCR", "temporal grounding", "math", "segmentation/video"]


@pytest.fixture(scope="module")
def setup(tiny_model_dir, corpus):
    model, processor = load(str(tiny_model_dir))
    model.eval()
    by_task: dict = {}
    for r in read_records(corpus / "onethinker_rl_train.json"):
        by_task.setdefault(task_key(r["problem_type"], r["data_type"]), r)
    msgs = [record_messages(by_task[k], corpus) for k in KEYS]
    return model, processor, msgs


def _engine(setup):
    model, processor, _ = setup
    return SamplingEngine.for_model(model, processor, from_generation_config=False, suppress_vision=True)


def _inputs(processor, msgs):
    return dict(build_inputs(processor, msgs, add_generation_prompt=True, padding_side="left"))


def _staggered(processor, msgs, first=2):
    """An admit() that starts ``first`` prompts, then one more after every yielded group, until all joined; and
    the list of admit calls' sizes."""
    queue = list(range(len(msgs)))
    sizes: list[int] = []

    def admit():
        take = queue[:first] if not sizes else queue[:1]
        del queue[: len(take)]
        sizes.append(len(take))
        return (take, _inputs(processor, [msgs[i] for i in take])) if take else None

    return admit, sizes


def _varied_stops(engine, rows):
    """Up to three extra stop tokens under which the given (greedy) rows end at as many different steps as
    possible: rows leave the batch at different times."""
    rows = [r.tolist() for r in rows]
    width = max(len(r) for r in rows)

    def lengths(stops):
        return [next((t + 1 for t, x in enumerate(r) if x in stops), width) for r in rows]

    chosen: set = set()
    for _ in range(3):
        candidates = {x for r in rows for x in r} - chosen - set(engine.stop_ids)
        best = max(sorted(candidates), key=lambda x: (len(set(lengths(chosen | {x}))), -x), default=None)
        if best is None or len(set(lengths(chosen | {best}))) <= len(set(lengths(chosen))):
            break
        chosen.add(best)
    return sorted(chosen)


def _run(engine, admit, **kw):
    out = {}
    for key, seqs, lp in engine.stream(admit, **kw):
        assert key not in out
        out[key] = (seqs, lp)
    return out


def test_stream_greedy_equals_the_fast_sampler_with_staggered_joins(setup):
    """Prompts of 146-379 tokens (images and videos) join a running batch one by one; rows stop at different
    steps (common tokens made stop tokens) and leave. Greedy rows equal each prompt sampled alone."""
    model, processor, msgs = setup
    engine = _engine(setup)
    free = engine.sample(_inputs(processor, msgs), n=1, max_new_tokens=14, sampler="fast").sequences
    engine.stop_ids = engine.stop_ids + _varied_stops(engine, free)
    admit, sizes = _staggered(processor, msgs)
    got = _run(engine, admit, n=2, max_new_tokens=14, temperature=0.0)
    assert sorted(got) == list(range(len(msgs)))
    assert sizes[0] == 2 and sum(sizes) == len(msgs)
    lengths = set()
    for i, (seqs, lp) in got.items():
        assert lp is None and seqs.shape[0] == 2
        alone = engine.sample(_inputs(processor, [msgs[i]]), n=1, max_new_tokens=14, sampler="fast").sequences[0]
        want = engine.cut(alone.tolist())
        for row in seqs.tolist():
            assert engine.cut(row) == want, (KEYS[i], engine.cut(row), want)
            lengths.add(len(engine.cut(row)))
    assert len(lengths) > 2  # rows did stop at different steps


def test_stream_logprobs_equal_a_fresh_forward_pass(setup):
    model, processor, msgs = setup
    engine = _engine(setup)
    free = engine.sample(_inputs(processor, msgs), n=1, max_new_tokens=12, temperature=1.3, seed=5,
                         sampler="fast").sequences
    engine.stop_ids = engine.stop_ids + _varied_stops(engine, free)
    admit, _ = _staggered(processor, msgs, first=3)
    got = _run(engine, admit, n=3, max_new_tokens=12, temperature=1.3, seed=11, keep_logprobs=True)
    assert sorted(got) == list(range(len(msgs)))
    rows = [engine.cut(r) for k in sorted(got) for r in got[k][0].tolist()]
    logprobs = [lp for k in sorted(got) for lp in got[k][1]]
    ref = recomputed_logprobs(model, processor, engine, msgs, rows, 3, 1.3)
    worst = 0.0
    for resp, lp, want in zip(rows, logprobs, ref):
        worst = max(worst, float((lp[: len(resp)] - want).abs().max()))
        assert torch.all(lp[len(resp):] == 0)
    print(f"largest log-probability difference {worst:.2e}")
    assert worst < 1e-5, worst
    assert len({len(r) for r in rows}) > 2  # rows stopped at different steps


def test_stream_seeding_limits_and_keys(setup):
    model, processor, msgs = setup
    engine = _engine(setup)
    kw = dict(n=3, max_new_tokens=9, temperature=1.5)
    before = torch.random.get_rng_state()
    a = _run(engine, _staggered(processor, msgs)[0], seed=3, **kw)
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's stream is untouched
    b = _run(engine, _staggered(processor, msgs)[0], seed=3, **kw)
    c = _run(engine, _staggered(processor, msgs)[0], seed=4, **kw)
    assert all(torch.equal(a[k][0], b[k][0]) for k in a)
    assert any(not torch.equal(a[k][0], c[k][0]) for k in a)
    assert all(s.shape[1] <= 9 for s, _ in a.values())
    assert not any(t in engine.suppress_ids for s, _ in a.values() for t in s.flatten().tolist())
    assert model.training is False
    # nothing to admit: nothing yielded; a key admitted twice is an error
    assert list(engine.stream(lambda: None, **kw)) == []
    twice = iter([([0], _inputs(processor, msgs[:1])), ([0], _inputs(processor, msgs[:1]))])
    with pytest.raises(ValueError, match="admitted twice"):
        _run(engine, lambda: next(twice, None), **kw)
