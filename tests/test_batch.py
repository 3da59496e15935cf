"""score_batch gives exactly what score gives, item for item, whatever the path."""

import random

import pytest

from onethinker.rewards import RewardConfig, RewardResult, RewardScorer, score, score_batch
from onethinker.synthetic.rollouts import rollouts

ITEMS = rollouts(48, 5, seed=3)  # every task key, every kind of response


def plain(items, **kw):
    return [score(it["response"], it["ground_truth"], it["problem_type"], it["data_type"], **kw) for it in items]


@pytest.fixture(scope="module")
def pooled():
    with RewardScorer(RewardConfig(workers=2)) as scorer:
        yield scorer


def test_pool_path_equals_score(pooled):
    assert pooled.score_batch(ITEMS) == plain(ITEMS)
    stats = pooled.last_stats
    assert stats.items == len(ITEMS) and stats.pooled == len(ITEMS) and stats.timeouts == stats.errors == 0


def test_in_process_path_equals_score():
    with RewardScorer(RewardConfig(workers=0)) as scorer:
        assert scorer.score_batch(ITEMS) == plain(ITEMS)
        assert scorer.last_stats.pooled == 0


def test_order_is_kept_and_repeats_are_computed_once(pooled):
    items = ITEMS[:60] * 3
    random.Random(0).shuffle(items)
    assert pooled.score_batch(items) == plain(items)
    with RewardScorer(RewardConfig(workers=0)) as fresh:
        fresh.score_batch(items)
        assert fresh.last_stats.computed <= 60


def test_format_weight():
    item = {"response": "<answer>B</answer>", "ground_truth": "B", "problem_type": "multiple choice", "data_type": "image"}
    # format 0 (no think block), accuracy 1, structure 0: overall = (1 - w) * 1
    assert score_batch([item], format_weight=0.3)[0] == RewardResult(0.7, 0.0, 1.0, 0.0)
    with RewardScorer(workers=0, format_weight=0.25) as scorer:
        assert scorer.score_one(**item).overall == pytest.approx(0.75)


def test_untrusted_values_never_raise(pooled):
    base = {"response": "<think>a</think><answer>B</answer>", "ground_truth": "B",
            "problem_type": "multiple choice", "data_type": "image"}
    odd = [
        dict(base, response=None),
        dict(base, response=12),
        dict(base, ground_truth=None),
        dict(base, ground_truth=["B"]),
        dict(base, problem_type=None),
        dict(base, problem_type="no such type"),
        dict(base, data_type=3),
    ]
    results = pooled.score_batch(odd)
    assert results == plain(odd)
    assert results[0] == results[1] == RewardResult(0.0, 0.0, 0.0, 0.0)
    assert results[2].accuracy == results[3].accuracy == 0.0 and results[2].format == 1.0
    assert results[5] == RewardResult(0.1 + 0.5, 1.0, 0.0, 0.5)  # unknown type: accuracy 0, structure 0.5


def test_malformed_items_are_clear_errors(pooled):
    with pytest.raises(KeyError, match="item 1 has no field 'ground_truth'"):
        pooled.score_batch([ITEMS[0], {"response": "x", "problem_type": "math", "data_type": "image"}])
    with pytest.raises(TypeError, match="item 0 is a str"):
        pooled.score_batch(["not a dict"])


def test_a_hanging_check_scores_zero_and_is_counted():
    slow = "\\frac{(x+1)^{120}}{(x-1)^{120}}"  # sympy needs seconds to compare these
    items = [
        {"response": f"<think>t</think><answer>${slow}$</answer>", "ground_truth": "$\\frac{(x+2)^{120}}{(x-1)^{120}}$",
         "problem_type": "math", "data_type": "image"},
        {"response": "<think>t</think><answer>0.5</answer>", "ground_truth": "\\frac{1}{2}",
         "problem_type": "math", "data_type": "image"},
    ]
    with RewardScorer(RewardConfig(workers=1, item_timeout_s=0.5)) as scorer:
        results = scorer.score_batch(items)
        assert scorer.last_stats.timeouts == 1
    # accuracy 0, but format and structure still count
    assert results[0] == RewardResult(0.1 + 0.5, 1.0, 0.0, 0.5)
    assert results[1] == RewardResult(0.9 + 0.1 + 0.5, 1.0, 1.0, 0.5)
