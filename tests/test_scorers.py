"""The batch scorers' fast comparisons return exactly what the reference libraries return."""

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mathruler.grader import grade_answer
from rouge_score import rouge_scorer

from onethinker.reward.scorers import FastRouge, TextScorers, word_edit_distance

WORDS = st.sampled_from(
    ["the", "cat", "cats", "running", "runs", "ran", "a", "red", "circle", "moves", "generously", "42",
     "B12", "ÄÉ", "İ", "ﬁsh", "don't", "x-y", ",", ".", "\n", "  "]
)
TEXT = st.one_of(st.text(max_size=80), st.lists(WORDS, max_size=40).map(" ".join))

_ref = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
_fast = FastRouge()


def reference_mean(target, prediction):
    s = _ref.score(target, prediction)
    return (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3.0


@settings(max_examples=1500)
@given(TEXT, TEXT)
def test_fast_rouge_equals_rouge_score(target, prediction):
    assert _fast.mean_f(target, prediction) == reference_mean(target, prediction)


def test_fast_rouge_on_long_texts():
    rng = random.Random(0)
    vocab = "the red circle moves towards left right while a blue square stays near top of frame".split()
    for _ in range(20):
        a = " ".join(rng.choice(vocab) for _ in range(rng.randint(50, 600)))
        b = " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 80)))
        assert _fast.mean_f(b, a) == reference_mean(b, a)


def test_letter_fast_path_sample():
    fast = TextScorers.fast_cached()
    pairs = [("A", "A"), ("a", "A"), ("B", "C"), ("e", "E"), ("I", "i"), ("N", "O"), ("q", "S"), ("z", "Z")]
    for given_, truth in pairs:
        assert fast.grade_answer(given_, truth) == grade_answer(given_, truth)


@pytest.mark.slow
def test_letter_fast_path_all_pairs():
    fast = TextScorers.fast_cached()
    for given_ in string.ascii_letters:
        for truth in string.ascii_letters:
            assert fast.grade_answer(given_, truth) == grade_answer(given_, truth), (given_, truth)


def test_grade_answer_paths_agree_beyond_letters():
    fast, ref = TextScorers.fast_cached(), TextScorers.reference()
    for given_, truth in [("(B)", "B"), ("B. a dog", "B"), ("12", "12.0"), ("1/2", "\\frac{1}{2}"), ("", "A")]:
        assert fast.grade_answer(given_, truth) == ref.grade_answer(given_, truth)


def test_math_paths_agree():
    fast, ref = TextScorers.fast_cached(), TextScorers.reference()
    cases = [("\\frac{1}{2}", "0.5"), ("\\frac{1}{2}", "$\\frac{2}{4}$"), ("2\\sqrt{3}", "\\sqrt{12}"), ("20", "21"),
             ("x^2+1", "1+x^2"), ("3", "the answer is 3"), ("\\frac{1}{2}", "\\frac{1}{2}")]
    for truth, answer in cases + cases:  # twice: the second round reads the memo
        assert fast.math_equal(truth, answer) == ref.math_equal(truth, answer)


def test_word_edit_distance():
    assert word_edit_distance("a b c".split(), "a c".split()) == 1
    assert word_edit_distance("a b".split(), "x y z".split()) == 3
    assert word_edit_distance([], "x y".split()) == 2
