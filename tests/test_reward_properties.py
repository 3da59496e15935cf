"""Property tests: arbitrary text and arbitrary JSON never make scoring raise, and every part of the
reward stays in its range, for every problem type."""

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onethinker.rewards import RewardScorer, score
from onethinker.tasks import TASKS

TYPES = [(t.problem_type, t.data_types[0]) for t in TASKS.values()] + [
    ("segmentation", "audio"), ("no such task", "image"), ("Multiple Choice", "IMAGE"),
]
KEYS = ["time", "boxes", "positive_points", "negative_points", "1", "2", "32"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["12.5", "nan", "inf", "1e400", " 7 ", "-0"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=4)), inner, max_size=6),
    ),
    max_leaves=30,
)
# JSON shaped like the structured answers, with wrong content in random places
shaped = st.fixed_dictionaries(
    {},
    optional={
        "time": st.one_of(json_values, st.lists(st.floats(allow_nan=True), min_size=2, max_size=2)),
        "boxes": st.one_of(
            json_values,
            st.lists(st.one_of(st.integers(-5, 1005), st.floats(allow_nan=True)), min_size=4, max_size=4),
            st.dictionaries(st.sampled_from(["1", "2", "3", "x"]), st.lists(st.integers(0, 1000), max_size=5), max_size=4),
        ),
        "positive_points": st.lists(st.lists(st.integers(-10, 1010), max_size=3), max_size=4),
        "negative_points": st.lists(st.lists(st.floats(allow_nan=True), max_size=3), max_size=4),
    },
)


def dump(v):
    return json.dumps(v, allow_nan=True)


answers = st.one_of(st.text(max_size=80), json_values.map(dump), shaped.map(dump))
responses = st.one_of(
    st.text(max_size=120),
    st.tuples(st.text(max_size=30), answers).map(lambda p: f"<think>{p[0]}</think><answer>{p[1]}</answer>"),
    answers.map(lambda a: f"< think >x< / think >\n< answer >{a}< / answer >"),
)
truths = st.one_of(answers, answers.map(lambda a: f"<answer>{a}</answer>"), json_values)

_scorer = RewardScorer(workers=0)


def check(r, w=0.1):
    assert r.format in (0.0, 1.0)
    assert 0.0 <= r.accuracy <= 1.0
    assert 0.0 <= r.structure <= 0.5
    assert math.isfinite(r.overall)
    assert r.overall == (1 - w) * r.accuracy + w * r.format + r.structure
    if r.format == 0.0:
        assert r.structure == 0.0


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TYPES), responses, truths)
def test_scoring_never_raises_and_stays_in_range(types, response, truth):
    ptype, dtype = types
    r = score(response, truth, ptype, dtype)
    check(r)
    b = _scorer.score_one(response, truth, ptype, dtype)
    assert b == r


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TYPES), truths)
def test_the_ground_truth_itself_is_never_penalised_by_parsing(types, truth):
    ptype, dtype = types
    if not isinstance(truth, str):
        return
    answer = truth[8:-9] if truth.startswith("<answer>") and truth.endswith("</answer>") else truth
    check(score(f"<think>t</think><answer>{answer}</answer>", truth, ptype, dtype))
