"""Independent check of ``onethinker.rewards.score`` against spec/rewards.md.

Every expected number below is derived by hand from the spec (the arithmetic is in the comments).
Where the spec defines a value through a library (mathruler, math-verify, rouge-score), the test
calls that library directly instead of hard-coding its output.

Notation used in comments: fmt = format score, acc = accuracy, st = structure,
overall = (1 - w) * acc + w * fmt + st  (spec section 6), w = 0.1 unless stated.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from math_verify import parse, verify
from mathruler.grader import grade_answer
from rouge_score import rouge_scorer

from onethinker.rewards import RewardResult, score

W = 0.1  # default format weight (spec section 6)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def resp(answer: str, think: str = "Let me reason about it.") -> str:
    """A response that passes the format check (spec section 2)."""
    return f"<think>{think}</think><answer>{answer}</answer>"


def js(obj) -> str:
    return json.dumps(obj)


def expect(res: RewardResult, *, fmt: float, acc: float, st: float, w: float = W) -> None:
    """Assert all four fields; overall is recomputed from spec section 6."""
    assert isinstance(res, RewardResult)
    for name in ("overall", "format", "accuracy", "structure"):
        assert isinstance(getattr(res, name), float), name
    assert res.format == fmt
    assert res.accuracy == pytest.approx(acc, rel=1e-9)
    assert res.structure == pytest.approx(st, rel=1e-9)
    assert res.overall == pytest.approx((1 - w) * acc + w * fmt + st, rel=1e-9)


def rouge_mean(truth: str, answer: str) -> float:
    """Spec section 4, open-ended row: mean of the three F-measures, clipped to [0, 1]."""
    sc = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(truth, answer)
    m = (sc["rouge1"].fmeasure + sc["rouge2"].fmeasure + sc["rougeL"].fmeasure) / 3
    return min(1.0, max(0.0, m))


def assert_finite_in_range(res: RewardResult, lo: float = 0.0, hi: float = 1.0) -> None:
    for name in ("overall", "format", "accuracy", "structure"):
        v = getattr(res, name)
        assert isinstance(v, float) and math.isfinite(v), (name, v)
    assert lo <= res.accuracy <= hi


# --------------------------------------------------------------------------------------------
# result type
# --------------------------------------------------------------------------------------------


def test_result_is_frozen_dataclass_of_floats():
    res = score(resp("B"), "B", "multiple choice", "image")
    assert dataclasses.is_dataclass(res)
    assert {f.name for f in dataclasses.fields(res)} >= {"overall", "format", "accuracy", "structure"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.accuracy = 0.0  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Section 1: normalising the response, ground-truth extraction
# --------------------------------------------------------------------------------------------


def test_s1_spaced_tags_are_normalised():
    # Sec 1: `\s*(<|>|/)\s*` -> char, so "< think >hmm< / think > < answer > B < / answer >"
    # becomes "<think>hmm</think><answer>B</answer>": fmt 1 (sec 2), answer "B" (sec 3).
    # MC: grade_answer("B", "B") is true -> acc 1; st 0.5 (sec 5, other types).
    # overall = 0.9*1 + 0.1*1 + 0.5 = 1.5
    r = score("< think >hmm< / think > < answer > B < / answer >", "B", "multiple choice", "image")
    expect(r, fmt=1.0, acc=1.0, st=0.5)
    assert r.overall == pytest.approx(1.5, rel=1e-9)


def test_s1_spaced_slash_inside_answer_is_collapsed():
    # Sec 1: "a / b" in the answer becomes "a/b" (intended). OCR against truth "a/b":
    # pred words ["a/b"], truth words ["a/b"] -> WER 0 -> acc 1. overall = 0.9 + 0.1 + 0.5 = 1.5
    expect(score(resp("a / b"), "a/b", "ocr", "image"), fmt=1.0, acc=1.0, st=0.5)


def test_s1_ground_truth_is_not_normalised():
    # Sec 1: "The ground truth is not normalised". Truth "a / b" keeps its spaces:
    # truth words ["a", "/", "b"] (3), pred words ["a/b"] (answer normalised).
    # Levenshtein = 1 substitution + 2 deletions = 3 -> WER = 3/3 = 1 -> acc = 1 - 1 = 0.
    # overall = 0 + 0.1 + 0.5 = 0.6
    expect(score(resp("a / b"), "a / b", "ocr", "image"), fmt=1.0, acc=0.0, st=0.5)


def test_s1_ground_truth_with_spaced_answer_tags_is_not_an_answer_block():
    # Sec 1: truth is not normalised, so "< answer >hello< / answer >" contains no literal
    # "<answer>...</answer>" block and is used as it is. OCR: truth words
    # ["<", "answer", ">hello<", "/", "answer", ">"] (6), pred ["hello"]:
    # best alignment = 1 substitution + 5 deletions = 6 -> WER 6/6 = 1 -> acc 0.
    expect(score(resp("hello"), "< answer >hello< / answer >", "ocr", "image"), fmt=1.0, acc=0.0, st=0.5)


def test_s1_ground_truth_answer_block_is_stripped_inside():
    # Sec 1: truth "<answer>  hello world \n</answer>" -> stripped inside "hello world".
    # OCR exact -> acc 1.
    expect(score(resp("hello world"), "<answer>  hello world \n</answer>", "ocr", "image"),
           fmt=1.0, acc=1.0, st=0.5)


def test_s1_ground_truth_uses_first_answer_block():
    # Sec 1: "the stripped inside of the first such block" -> "first".
    gt = "ignore this <answer> first </answer> and <answer>second</answer>"
    expect(score(resp("first"), gt, "ocr", "image"), fmt=1.0, acc=1.0, st=0.5)
    # against "second": truth ["first"], pred ["second"] -> 1 substitution / 1 -> acc 0
    expect(score(resp("second"), gt, "ocr", "image"), fmt=1.0, acc=0.0, st=0.5)


def test_s1_ground_truth_bare_vs_wrapped_same_result():
    # Sec 1: a bare truth and the same truth wrapped in <answer> tags give the same accuracy.
    # numerical: 3.5 vs 3.5 -> acc 1.
    expect(score(resp("3.5"), "3.5", "numerical", "image"), fmt=1.0, acc=1.0, st=0.5)
    expect(score(resp("3.5"), "<answer>3.5</answer>", "numerical", "image"), fmt=1.0, acc=1.0, st=0.5)
    # structured truth wrapped: temporal grounding, identical spans -> tIoU 1, st 0.5
    gt = "<answer>" + js({"time": [10, 20]}) + "</answer>"
    expect(score(resp(js({"time": [10, 20]})), gt, "temporal grounding", "video"), fmt=1.0, acc=1.0, st=0.5)


# --------------------------------------------------------------------------------------------
# Section 2: format score
# --------------------------------------------------------------------------------------------


def test_s2_valid_format():
    # Sec 2: matches the regex -> fmt 1. MC "B" vs "B" acc 1, st 0.5 -> overall 1.5
    expect(score("<think>x</think><answer>B</answer>", "B", "multiple choice", "image"), fmt=1.0, acc=1.0, st=0.5)


def test_s2_newlines_inside_think_and_between_tags():
    # Sec 2: `.` matches newlines and \s* allowed between the blocks -> fmt 1.
    r = score("<think>line1\nline2\n</think>\n\n<answer>\nB\n</answer>", "B", "multiple choice", "image")
    expect(r, fmt=1.0, acc=1.0, st=0.5)


def test_s2_leading_and_trailing_whitespace_pass():
    # Sec 2: regex starts/ends with \s* -> fmt 1.
    r = score("  \n\t<think>x</think>  <answer>B</answer>\n  ", "B", "multiple choice", "image")
    expect(r, fmt=1.0, acc=1.0, st=0.5)


def test_s2_missing_think_fails_format_but_answer_still_scored():
    # Sec 2: no <think> block -> fmt 0. Sec 3: answer block still found -> "B" -> acc 1.
    # Sec 5: st 0 whenever fmt 0. overall = 0.9*1 + 0.1*0 + 0 = 0.9
    r = score("<answer>B</answer>", "B", "multiple choice", "image")
    expect(r, fmt=0.0, acc=1.0, st=0.0)
    assert r.overall == pytest.approx(0.9, rel=1e-9)


def test_s2_unclosed_think_fails_format():
    # Sec 2: "<think>x<answer>B</answer>" has no </think> -> fmt 0; answer "B" -> acc 1; st 0.
    expect(score("<think>x<answer>B</answer>", "B", "multiple choice", "image"), fmt=0.0, acc=1.0, st=0.0)


def test_s2_unclosed_answer_fails_format_and_accuracy_reads_whole_response():
    # Sec 2: no </answer> -> fmt 0. Sec 3: no answer block -> accuracy reads the whole
    # normalised stripped response "<think>x</think><answer>3.5" -> float() fails -> acc 0.
    expect(score("<think>x</think><answer>3.5", "3.5", "numerical", "image"), fmt=0.0, acc=0.0, st=0.0)


def test_s2_wrong_order_fails_format():
    # Sec 2: answer before think -> no match -> fmt 0; answer "B" -> acc 1; st 0 -> overall 0.9
    expect(score("<answer>B</answer><think>x</think>", "B", "multiple choice", "image"), fmt=0.0, acc=1.0, st=0.0)


def test_s2_two_answer_blocks_pass_format_first_block_is_answer():
    # Sec 2: "<think>a</think><answer>b</answer><answer>c</answer>" passes (second .*? spans
    # "b</answer><answer>c"). Sec 3: answer = first block = "b".
    response = "<think>a</think><answer>b</answer><answer>c</answer>"
    # MC vs "b": grade_answer("b","b") true -> acc 1 -> overall 0.9 + 0.1 + 0.5 = 1.5
    expect(score(response, "b", "multiple choice", "image"), fmt=1.0, acc=1.0, st=0.5)
    # vs "c": answer is "b", not "c" -> acc 0 -> overall 0 + 0.1 + 0.5 = 0.6
    assert not grade_answer("b", "c")
    expect(score(response, "c", "multiple choice", "image"), fmt=1.0, acc=0.0, st=0.5)


@pytest.mark.parametrize(
    "response",
    [
        "Sure! <think>x</think><answer>B</answer>",
        "<think>x</think><answer>B</answer> done",
        "<think>x</think> between <answer>B</answer>",
    ],
)
def test_s2_text_outside_tags_fails_format(response):
    # Sec 2: text outside the blocks breaks the whole-string match -> fmt 0; st 0 (sec 5);
    # the answer "B" is still extracted (sec 3) -> acc 1 -> overall 0.9
    expect(score(response, "B", "multiple choice", "image"), fmt=0.0, acc=1.0, st=0.0)


def test_s2_tags_are_case_sensitive():
    # Sec 2: the regex is literal "<think>" (no IGNORECASE) -> "<THINK>" fails -> fmt 0.
    # Sec 3: answer block found -> "B" -> acc 1.
    expect(score("<THINK>x</THINK><answer>B</answer>", "B", "multiple choice", "image"), fmt=0.0, acc=1.0, st=0.0)


# --------------------------------------------------------------------------------------------
# Section 3: the answer; whole-response fallback for accuracy only
# --------------------------------------------------------------------------------------------


def test_s3_no_answer_block_open_ended_rouge_on_reasoning_text():
    # Sec 3: no answer block -> accuracy on the whole normalised stripped response.
    # Sec 2: fmt 0 (no answer block) -> st 0 (sec 5).
    truth = "the cat sat on the mat"
    response = "  <think>the cat sat on the mat</think>  "
    whole = "<think>the cat sat on the mat</think>"  # normalised (nothing to change) + stripped
    acc = rouge_mean(truth, whole)
    assert acc > 0
    expect(score(response, truth, "open-ended", "image"), fmt=0.0, acc=acc, st=0.0)


def test_s3_empty_answer_block_open_ended_uses_whole_response():
    # Sec 3: stripped answer content "" -> accuracy on the whole normalised stripped response.
    # Normalisation: "<answer>  </answer>" -> whitespace around '>' and '<' removed -> "<answer></answer>".
    # fmt 1 (".*?" may be empty). Structure: open-ended -> 0.5 (sec 5, "every other problem type").
    truth = "the cat sat on the mat"
    response = "<think>the cat sat on the mat</think><answer>  </answer>"
    whole = "<think>the cat sat on the mat</think><answer></answer>"
    acc = rouge_mean(truth, whole)
    assert acc > 0
    expect(score(response, truth, "open-ended", "image"), fmt=1.0, acc=acc, st=0.5)


def test_s3_numerical_whole_response_is_a_number():
    # Sec 3: no tags at all -> accuracy reads "3.14" (stripped) -> equal -> acc 1; fmt 0, st 0.
    # overall = 0.9*1 = 0.9
    expect(score("  3.14 \n", "3.14", "numerical", "image"), fmt=0.0, acc=1.0, st=0.0)
    # commas removed in the fallback text too: "1,000" vs "1000" -> 1000.0 == 1000.0
    expect(score("1,000", "1000", "numerical", "image"), fmt=0.0, acc=1.0, st=0.0)


def test_s3_multiple_choice_whole_response_fallback():
    # Sec 3: response "B" (no tags) -> acc reads "B" -> 1; fmt 0 -> overall 0.9
    expect(score("B", "B", "multiple choice", "image"), fmt=0.0, acc=1.0, st=0.0)


def test_s3_structure_uses_empty_string_when_answer_empty():
    # Sec 3: for structure a missing/empty answer is "" -> not a JSON object -> st 0 (sec 5,
    # temporal grounding). Accuracy reads the whole response, which is not a JSON object -> 0.
    # fmt 1 -> overall = 0 + 0.1 + 0 = 0.1
    r = score("<think>x</think><answer></answer>", js({"time": [1, 2]}), "temporal grounding", "video")
    expect(r, fmt=1.0, acc=0.0, st=0.0)
    # and for an unstructured type the rule is still 0.5 (sec 5 "every other problem type")
    expect(score("<think>x</think><answer> </answer>", "3", "numerical", "image"), fmt=1.0, acc=0.0, st=0.5)


# --------------------------------------------------------------------------------------------
# Section 4: accuracy, row by row
# --------------------------------------------------------------------------------------------

# ---- multiple choice ----


@pytest.mark.parametrize(
    "answer,truth",
    [("B", "B"), ("A", "B"), ("B. a dog", "B"), ("b", "B"), ("\\boxed{B}", "B"), ("$B$", "B"), ("(B)", "B")],
)
def test_s4_multiple_choice_uses_mathruler(answer, truth):
    # Sec 4 MC row: acc = 1 if grade_answer(answer, truth) else 0 (library-defined normalisation).
    acc = 1.0 if grade_answer(answer, truth) else 0.0
    expect(score(resp(answer), truth, "multiple choice", "image"), fmt=1.0, acc=acc, st=0.5)


def test_s4_multiple_choice_no_letter_extraction():
    # Sec 4 MC row: "B. a dog" against "B" scores 0 (no letter extraction).
    assert grade_answer("B. a dog", "B") is False
    expect(score(resp("B. a dog"), "B", "multiple choice", "image"), fmt=1.0, acc=0.0, st=0.5)


def test_s4_multiple_choice_exact_letter_and_case():
    # Sec 4 MC row: exact letter -> 1; lower-case letter handled by mathruler's normalisation.
    expect(score(resp("C"), "C", "multiple choice", "image"), fmt=1.0, acc=1.0, st=0.5)
    assert grade_answer("c", "C")
    expect(score(resp("c"), "C", "multiple choice", "image"), fmt=1.0, acc=1.0, st=0.5)


# ---- numerical ----


@pytest.mark.parametrize(
    "answer,truth,acc",
    [
        # commas removed: 1234.5 == 1234.5 -> 1
        ("1,234.5", "1234.5", 1.0),
        ("1234.5", "1,234.5", 1.0),
        # round half to even: 0.125 is exact in binary, round(0.125, 2) == 0.12 -> equal -> 1
        ("0.125", "0.12", 1.0),
        # round(0.135, 2): 0.135 is stored as 0.13500000000000000888 -> 0.14 -> equal -> 1
        ("0.135", "0.14", 1.0),
        # round(0.126, 2) = 0.13 != 0.12 -> 0
        ("0.126", "0.12", 0.0),
        # 3 vs "3.00": 3.0 == 3.0 -> 1
        ("3", "3.00", 1.0),
        # 3.004 -> 3.0 == 3.0 -> 1 ; 3.006 -> 3.01 != 3.0 -> 0
        ("3.004", "3", 1.0),
        ("3.006", "3", 0.0),
        # float("1e3") = 1000.0 -> 1
        ("1e3", "1000", 1.0),
        # negative numbers: -2.5 == -2.5
        ("-2.5", "-2.50", 1.0),
        # not a number -> float() raises -> 0
        ("three", "3", 0.0),
        ("3 apples", "3", 0.0),
    ],
)
def test_s4_numerical(answer, truth, acc):
    # Sec 4 numerical row: commas removed, float(), 1 if round(x,2) equal.
    try:
        same = round(float(answer.replace(",", "")), 2) == round(float(truth.replace(",", "")), 2)
    except ValueError:
        same = False
    assert same == bool(acc)
    expect(score(resp(answer), truth, "numerical", "image"), fmt=1.0, acc=acc, st=0.5)


def test_s4_numerical_round_half_even_sanity():
    # The arithmetic the rows above rely on (Python's round).
    assert round(0.125, 2) == 0.12
    assert round(0.135, 2) == 0.14
    assert round(0.126, 2) == 0.13


# ---- regression ----

THETAS32 = np.linspace(0.5, 0.95, 10).astype(np.float32)  # == torch.linspace(0.5, 0.95, 10)


def mra32(p: float, t: float) -> float:
    """Spec sec 4 regression row, all in float32."""
    p32, t32 = np.float32(p), np.float32(t)
    rel = np.abs(p32 - t32) / (np.abs(t32) + np.float32(1e-8))
    # the share itself is a float32 mean too ("all computed in float32")
    return float((rel < (np.float32(1.0) - THETAS32)).astype(np.float32).mean())


def f32(x: float) -> float:
    """A share k/10 as the float32 mean gives it: 9/10 -> 0.8999999761581421, 4/10 -> 0.4000000059604645."""
    return float(np.float32(x))


def test_s4_regression_thresholds_are_float32_linspace():
    # float32 nearest to 0.50, 0.55, ..., 0.95
    expected = np.array([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95], dtype=np.float32)
    assert np.array_equal(THETAS32, expected)


def test_s4_regression_105_vs_100_is_one():
    # rel = 5/100 in float32 = 0.0500000007450580597; smallest 1-θ is
    # 1 - float32(0.95) = 1 - 0.949999988079071 = 0.050000011920929 > rel -> all 10 thresholds -> 1.0
    # (the spec states this explicitly).
    assert mra32(105, 100) == 1.0
    expect(score(resp("105"), "100", "regression", "image"), fmt=1.0, acc=1.0, st=0.5)


def test_s4_regression_110_vs_100_float32_boundary():
    # rel = float32(10)/float32(100 + 1e-8) ; 100 + 1e-8 rounds to 100 in float32,
    # 10/100 rounds to float32(0.1) = 0.100000001490116.
    # 1-θ for θ = 0.50 .. 0.85 is 0.5 .. 0.15 > rel -> 8 thresholds.
    # θ = 0.90: float32(0.9) = 15099494/2^24 = 0.89999997615814; 1 - that is exact (Sterbenz)
    #   = 1677722/2^24 = 0.10000002384186 > 0.10000000149012 -> rel < 1-θ holds -> counts.
    # θ = 0.95: 1-θ = 0.050000011920929 < rel -> does not count.
    # -> 9/10 = 0.9. (In float64 the θ=0.90 comparison would be 0.1 < 0.09999999999999998,
    #    false, giving 0.8; the spec mandates float32 arithmetic.)
    # The share is itself a float32 mean: float32(0.9) = 0.8999999761581421.
    assert mra32(110, 100) == f32(0.9)
    r32 = np.float32(10) / np.float32(100)
    assert r32 < np.float32(1) - np.float32(0.9)
    expect(score(resp("110"), "100", "regression", "image"), fmt=1.0, acc=f32(0.9), st=0.5)


def test_s4_regression_130_vs_100_exact_float32_tie():
    # rel = float32(30)/float32(100) = float32(0.3) = 5033165/2^24 = 0.300000011920929.
    # θ = 0.70: float32(0.7) = 11744051/2^24; 1 - θ = 5033165/2^24 -> exactly equal to rel,
    # and "rel < 1-θ" is strict -> does not count. θ = 0.50,0.55,0.60,0.65 count (1-θ >= 0.35).
    # -> 4/10 = 0.4, as a float32 mean 0.4000000059604645  (float64 arithmetic would give 0.5)
    assert np.float32(30) / np.float32(100) == np.float32(1) - np.float32(0.7)
    assert mra32(130, 100) == f32(0.4)
    expect(score(resp("130"), "100", "regression", "image"), fmt=1.0, acc=f32(0.4), st=0.5)


@pytest.mark.parametrize(
    "answer,truth,acc",
    [
        # identical -> rel 0 -> 1.0
        ("100", "100", 1.0),
        # t = 0, p = 0: rel = 0 / (0 + 1e-8) = 0 < every 1-θ -> 1.0
        ("0", "0", 1.0),
        # t = 0, p = 1: rel = 1 / 1e-8 ~ 1e8 -> 0
        ("1", "0", 0.0),
        # 150 vs 100: rel 0.5, largest 1-θ = 0.5, strict < fails -> 0
        ("150", "100", 0.0),
        # -100 vs -110: rel = 10/110 = 0.0909 (float32 0.09090909361839294);
        # 1-θ for θ=0.50..0.90 (>= 0.10000002) count, θ=0.95 (0.05) not -> 9/10 (float32 mean)
        ("-100", "-110", f32(0.9)),
        # commas: 1050 vs 1000 -> rel 0.05 -> 1.0 (as 105 vs 100)
        ("1,050", "1,000", 1.0),
        # not a number -> exception -> 0
        ("about ten", "10", 0.0),
    ],
)
def test_s4_regression_rows(answer, truth, acc):
    # Sec 4 regression row.
    try:
        assert mra32(float(answer.replace(",", "")), float(truth.replace(",", ""))) == pytest.approx(acc, rel=1e-9)
    except ValueError:
        assert acc == 0.0
    expect(score(resp(answer), truth, "regression", "image"), fmt=1.0, acc=acc, st=0.5)


# ---- ocr ----


@pytest.mark.parametrize(
    "answer,truth,acc",
    [
        # identical -> WER 0 -> 1
        ("hello world", "hello world", 1.0),
        # case-sensitive: "Hello" != "hello" -> 1 substitution / 2 words -> WER 0.5 -> 0.5
        ("Hello world", "hello world", 0.5),
        # one deletion: 1/2 -> 0.5
        ("hello", "hello world", 0.5),
        # truth "the bat sat on" (4 words), pred "the cat sat": 1 sub + 1 del = 2 -> 2/4 -> 0.5
        ("the cat sat", "the bat sat on", 0.5),
        # truth 4 words, pred adds one word: 1 insertion / 4 -> 0.75
        ("a b c d e", "a b c d", 0.75),
        # many insertions: truth "a" (1 word), pred 5 words -> 4 insertions / 1 -> WER 4 -> 1-4 = -3 -> clip 0
        ("a b c d e", "a", 0.0),
        # split on any whitespace: "hello   world\tfoo" -> ["hello","world","foo"] -> 1
        ("hello   world\tfoo", "hello world foo", 1.0),
        # truth "" -> max(1, 0) = 1 word denominator; pred ["x"] -> 1 insertion / 1 -> 0
        ("x", "", 0.0),
    ],
)
def test_s4_ocr(answer, truth, acc):
    # Sec 4 ocr row: 1 - WER clipped to [0,1], WER = word Levenshtein / max(1, #truth words).
    expect(score(resp(answer), truth, "ocr", "image"), fmt=1.0, acc=acc, st=0.5)


# ---- open-ended ----


@pytest.mark.parametrize(
    "answer,truth",
    [
        ("the cat sat on the mat", "the cat sat on the mat"),
        ("a cat is sitting on the mat", "the cats are sitting on a mat"),
        ("running dogs", "the dog runs"),
        ("completely unrelated words", "the cat sat on the mat"),
    ],
)
def test_s4_open_ended_rouge(answer, truth):
    # Sec 4 open-ended row: mean of ROUGE-1/2/L F-measures of RougeScorer(use_stemmer=True).score(truth, answer).
    acc = rouge_mean(truth, answer)
    expect(score(resp(answer), truth, "open-ended", "image"), fmt=1.0, acc=acc, st=0.5)


def test_s4_open_ended_identical_is_one():
    assert rouge_mean("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    expect(score(resp("the cat sat on the mat"), "the cat sat on the mat", "open-ended", "video"),
           fmt=1.0, acc=1.0, st=0.5)


# ---- math ----


@pytest.mark.parametrize(
    "answer,truth,acc",
    [
        ("\\frac{1}{2}", "0.5", 1.0),
        ("0.5", "\\frac{1}{2}", 1.0),
        # "1 / 2" is normalised to "1/2" (sec 1) -> equivalent to 0.5
        ("1 / 2", "0.5", 1.0),
        ("3", "2", 0.0),
    ],
)
def test_s4_math(answer, truth, acc):
    # Sec 4 math row: verify(parse(truth), parse(answer)), truth first. Check the library agrees.
    normalised = answer.replace(" / ", "/")
    assert bool(verify(parse(truth), parse(normalised))) == bool(acc)
    expect(score(resp(answer), truth, "math", "image"), fmt=1.0, acc=acc, st=0.5)


# ---- temporal grounding ----

TG_TRUTH = js({"time": [10, 20]})


@pytest.mark.parametrize(
    "pred,acc,st",
    [
        # identical -> 1
        ({"time": [10, 20]}, 1.0, 0.5),
        # [15,25] vs [10,20]: inter = min(25,20) - max(15,10) = 5; union = 25 - 10 = 15 -> 1/3
        ({"time": [15, 25]}, 1 / 3, 0.5),
        # [12,18] inside: inter 6, union 10 -> 0.6
        ({"time": [12, 18]}, 0.6, 0.5),
        # disjoint [30,40]: inter max(0, 20-30) = 0 -> 0
        ({"time": [30, 40]}, 0.0, 0.5),
        # inverted [20,10] not swapped: inter = max(0, min(10,20) - max(20,10)) = max(0,-10) = 0;
        # union = max(10,20) - min(20,10) = 10 -> 0/10 = 0.  (swapped it would be 1)
        ({"time": [20, 10]}, 0.0, 0.5),
        # string numbers count as numbers: ["15","25"] -> 1/3; structure "list of 2 numbers" -> 0.5
        ({"time": ["15", "25"]}, 1 / 3, 0.5),
        # 3 numbers -> not exactly 2 -> acc 0, st 0
        ({"time": [10, 15, 20]}, 0.0, 0.0),
        # non-numbers -> 0
        ({"time": ["a", "b"]}, 0.0, 0.0),
        # missing time -> 0
        ({"span": [10, 20]}, 0.0, 0.0),
    ],
)
def test_s4_temporal_grounding(pred, acc, st):
    # Sec 4 temporal grounding row; sec 5 temporal grounding: 0.5 if `time` is a list of 2 numbers.
    expect(score(resp(js(pred)), TG_TRUTH, "temporal grounding", "video"), fmt=1.0, acc=acc, st=st)


def test_s4_temporal_grounding_inverted_identical_spans_score_zero():
    # Both [20,10]: inter = max(0, min(10,10) - max(20,20)) = 0; union = 20 - 10 = 10 -> 0.
    r = score(resp(js({"time": [20, 10]})), js({"time": [20, 10]}), "temporal grounding", "video")
    expect(r, fmt=1.0, acc=0.0, st=0.5)


def test_s4_temporal_grounding_zero_union():
    # [5,5] vs [5,5]: union = 5 - 5 = 0 <= 1e-12 -> 0
    r = score(resp(js({"time": [5, 5]})), js({"time": [5, 5]}), "temporal grounding", "video")
    expect(r, fmt=1.0, acc=0.0, st=0.5)


def test_s4_temporal_grounding_float_arithmetic():
    # [1.5, 4.0] vs [2.0, 5.0]: inter = 4.0 - 2.0 = 2.0; union = 5.0 - 1.5 = 3.5 -> 2/3.5 = 4/7
    r = score(resp(js({"time": [1.5, 4.0]})), js({"time": [2.0, 5.0]}), "temporal grounding", "video")
    expect(r, fmt=1.0, acc=4 / 7, st=0.5)


def test_s4_temporal_grounding_malformed_truth():
    # truth span of 1 number -> 0 (each span must be 2 numbers); st depends on the prediction only -> 0.5
    r = score(resp(js({"time": [10, 20]})), js({"time": [10]}), "temporal grounding", "video")
    expect(r, fmt=1.0, acc=0.0, st=0.5)
    # truth not JSON at all -> exception/parse failure -> 0
    r = score(resp(js({"time": [10, 20]})), "10 to 20 seconds", "temporal grounding", "video")
    expect(r, fmt=1.0, acc=0.0, st=0.5)


# ---- non-JSON-object structured answers (sec 4 intro) ----


@pytest.mark.parametrize(
    "answer",
    [
        "[10, 20]",  # a JSON list
        "15",  # a bare number
        "NaN",  # JSON NaN, not an object
        'The answer is {"time": [10, 20]}',  # text around the JSON
        '{"time": [10, 20]} is my answer',
        '```json\n{"time": [10, 20]}\n```',  # code fences
        "{'time': [10, 20]}",  # not JSON (single quotes)
        "",
    ],
)
def test_s4_non_object_answers_score_zero(answer):
    # Sec 4: must be a JSON object, else acc 0. Sec 5: not an object -> st 0 for structured types.
    # fmt 1 -> overall = 0.1
    r = score(resp(answer), TG_TRUTH, "temporal grounding", "video")
    expect(r, fmt=1.0, acc=0.0, st=0.0)


@pytest.mark.parametrize(
    "ptype,truth",
    [
        ("spatial grounding", js({"boxes": [0, 0, 10, 10]})),
        ("tracking", js({"boxes": {"1": [0, 0, 10, 10]}})),
        ("spatial-temporal grounding", js({"time": [0, 10], "boxes": {"1": [0, 0, 10, 10]}})),
    ],
)
@pytest.mark.parametrize("answer", ["[0, 0, 10, 10]", '```json\n{"boxes": [0, 0, 10, 10]}\n```', "42"])
def test_s4_non_object_answers_other_structured_types(ptype, truth, answer):
    expect(score(resp(answer), truth, ptype, "video"), fmt=1.0, acc=0.0, st=0.0)


# ---- spatial grounding ----

SG_TRUTH = js({"boxes": [0, 0, 10, 10]})


@pytest.mark.parametrize(
    "pred,acc,st",
    [
        ({"boxes": [0, 0, 10, 10]}, 1.0, 0.5),
        # [5,5,15,15] vs [0,0,10,10]: inter = 5*5 = 25; union = 100 + 100 - 25 = 175 -> 25/175 = 1/7
        ({"boxes": [5, 5, 15, 15]}, 1 / 7, 0.5),
        # [0,0,10,5]: inter 50, union 100 + 50 - 50 = 100 -> 0.5
        ({"boxes": [0, 0, 10, 5]}, 0.5, 0.5),
        # [0,0,20,20]: inter 100, union 400 -> 0.25
        ({"boxes": [0, 0, 20, 20]}, 0.25, 0.5),
        # strings holding numbers count: same as [5,5,15,15] -> 1/7, st 0.5
        ({"boxes": ["5", "5", "15", "15"]}, 1 / 7, 0.5),
        # x2 < x1: area max(0, 0-10)*10 = 0; intersection x-extent max(0, min(10,0) - max(0,10)) = 0
        # -> inter 0, union 100 + 0 - 0 = 100 -> 0. Still 4 numbers -> st 0.5
        ({"boxes": [10, 0, 0, 10]}, 0.0, 0.5),
        # wrong arity -> 0, st 0
        ({"boxes": [0, 0, 10]}, 0.0, 0.0),
        ({"boxes": [0, 0, 10, 10, 1]}, 0.0, 0.0),
        # nested list -> not 4 numbers -> 0
        ({"boxes": [[0, 0, 10, 10]]}, 0.0, 0.0),
        # non-number element -> 0
        ({"boxes": [0, 0, "ten", 10]}, 0.0, 0.0),
        # missing key
        ({"box": [0, 0, 10, 10]}, 0.0, 0.0),
    ],
)
def test_s4_spatial_grounding(pred, acc, st):
    # Sec 4 spatial grounding row; sec 5: 0.5 if `boxes` is a list of 4 numbers.
    expect(score(resp(js(pred)), SG_TRUTH, "spatial grounding", "image"), fmt=1.0, acc=acc, st=st)


def test_s4_spatial_grounding_zero_union():
    # both degenerate [5,5,5,5]: areas 0, inter 0, union 0 <= 1e-12 -> 0
    r = score(resp(js({"boxes": [5, 5, 5, 5]})), js({"boxes": [5, 5, 5, 5]}), "spatial grounding", "image")
    expect(r, fmt=1.0, acc=0.0, st=0.5)


def test_s4_spatial_grounding_malformed_truth():
    # truth of 3 numbers -> 0; st depends on the prediction only -> 0.5
    r = score(resp(js({"boxes": [0, 0, 10, 10]})), js({"boxes": [0, 0, 10]}), "spatial grounding", "image")
    expect(r, fmt=1.0, acc=0.0, st=0.5)


def test_s4_spatial_grounding_truth_with_string_numbers():
    # truth boxes as strings -> numbers; identical -> 1
    r = score(resp(js({"boxes": [0, 0, 10, 10]})), js({"boxes": ["0", "0", "10", "10"]}),
              "spatial grounding", "image")
    expect(r, fmt=1.0, acc=1.0, st=0.5)


# ---- spatial-temporal grounding ----

STG_TRUTH = js({"time": [0, 10], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}})


def test_s4_stg_full():
    # tIoU [5,10] vs [0,10]: inter 5, union 10 -> 0.5
    # boxes: key "1" identical -> 1; key "2" [5,5,15,15] -> 1/7; mean = (1 + 1/7)/2 = 4/7
    # acc = 0.5*0.5 + 0.5*4/7 = 0.25 + 2/7 = 0.535714...
    # st: time list of 2 + all values 4 numbers -> 0.25; overlap 0.25 * 2/2 = 0.25 -> 0.5
    pred = {"time": [5, 10], "boxes": {"1": [0, 0, 10, 10], "2": [5, 5, 15, 15]}}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"),
           fmt=1.0, acc=0.25 + 2 / 7, st=0.5)


def test_s4_stg_malformed_time_part_only():
    # time [5] (1 number) -> time part 0 only; boxes as above -> 0.5 * 4/7 = 2/7
    # st: first part fails (time length 1); overlap 0.25 * 2/2 = 0.25
    pred = {"time": [5], "boxes": {"1": [0, 0, 10, 10], "2": [5, 5, 15, 15]}}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"), fmt=1.0, acc=2 / 7, st=0.25)


def test_s4_stg_missing_time():
    # missing time -> 0 for that part; boxes identical -> 0.5 * 1 = 0.5; st overlap only 0.25
    pred = {"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.25)


def test_s4_stg_key_with_non4_box_scores_zero_inside_mean():
    # time identical -> tIoU 1; key "1" -> 1, key "2" [0,0,10] -> 0 inside the mean -> (1+0)/2 = 0.5
    # acc = 0.5*1 + 0.5*0.5 = 0.75
    # st: first part fails (a value is not 4 numbers) -> 0; overlap 0.25*2/2 = 0.25
    pred = {"time": [0, 10], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10]}}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.75, st=0.25)


def test_s4_stg_no_shared_key():
    # time identical -> 0.5*1; no shared key -> box part 0 -> acc 0.5
    # st: first part 0.25 (well-formed); overlap 0.25*0/2 = 0 -> 0.25
    pred = {"time": [0, 10], "boxes": {"3": [0, 0, 10, 10]}}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.25)


def test_s4_stg_mean_over_shared_keys_only():
    # pred has only key "1" (identical) plus an extra key "9": shared = {"1"} -> mean = 1
    # acc = 0.5*1 + 0.5*1 = 1.0
    # st: 0.25 (well-formed) + 0.25*|{1}|/2 = 0.125 -> 0.375
    pred = {"time": [0, 10], "boxes": {"1": [0, 0, 10, 10], "9": [1, 1, 2, 2]}}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"), fmt=1.0, acc=1.0, st=0.375)


def test_s4_stg_boxes_not_object():
    # pred boxes a list -> box part 0; time identical -> acc 0.5
    # st: first part fails (boxes not object); overlap needs both objects -> 0
    pred = {"time": [0, 10], "boxes": [0, 0, 10, 10]}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.0)


def test_s4_stg_inverted_time_not_swapped():
    # time [10,0] vs [0,10]: inter max(0, min(0,10) - max(10,0)) = 0 -> 0; boxes identical -> 0.5
    # st: time is a list of length 2 (any contents) -> 0.25 + overlap 0.25 -> 0.5
    pred = {"time": [10, 0], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}
    expect(score(resp(js(pred)), STG_TRUTH, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.5)


# ---- tracking ----

TR_TRUTH = js({"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}})


@pytest.mark.parametrize(
    "pred,acc,st",
    [
        # identical -> 1; st 0.25 + 0.25*2/2 = 0.5
        ({"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}, 1.0, 0.5),
        # key "2" at [5,5,15,15] -> 1/7; mean over truth keys (1 + 1/7)/2 = 4/7
        ({"boxes": {"1": [0, 0, 10, 10], "2": [5, 5, 15, 15]}}, 4 / 7, 0.5),
        # key "2" missing -> 0 for it: (1 + 0)/2 = 0.5; st 0.25 + 0.25*1/2 = 0.375
        ({"boxes": {"1": [0, 0, 10, 10]}}, 0.5, 0.375),
        # extra pred key ignored: mean over truth keys = 1; st 0.25 + 0.25*2/2 = 0.5
        ({"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10], "3": [0, 0, 1, 1]}}, 1.0, 0.5),
        # malformed key "2" -> 0: (1+0)/2 = 0.5; st: first part fails, overlap 0.25*2/2 = 0.25
        ({"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10]}}, 0.5, 0.25),
        # string numbers count: identical -> 1; st 0.5
        ({"boxes": {"1": ["0", "0", "10", "10"], "2": [0, 0, 10, 10]}}, 1.0, 0.5),
        # empty pred object: both keys missing -> 0; st 0.25 (empty passes) + 0 overlap
        ({"boxes": {}}, 0.0, 0.25),
        # boxes not an object -> 0; st 0
        ({"boxes": [0, 0, 10, 10]}, 0.0, 0.0),
        # no boxes -> 0; st 0
        ({"time": [0, 1]}, 0.0, 0.0),
    ],
)
def test_s4_tracking(pred, acc, st):
    # Sec 4 tracking row; sec 5 tracking rule.
    expect(score(resp(js(pred)), TR_TRUTH, "tracking", "video"), fmt=1.0, acc=acc, st=st)


def test_s4_tracking_truth_boxes_empty():
    # truth boxes {} -> acc 0. st: pred {"1": 4 numbers} -> 0.25; overlap needs truth non-empty -> 0
    r = score(resp(js({"boxes": {"1": [0, 0, 10, 10]}})), js({"boxes": {}}), "tracking", "video")
    expect(r, fmt=1.0, acc=0.0, st=0.25)


# ---- segmentation ----

SEG_IMG_TRUTH = {
    "boxes": [0, 0, 100, 100],
    "positive_points": [[0, 0], [900, 0], [0, 900]],
    "negative_points": [[200, 200], [800, 200], [500, 800]],
}
SEG_IMG_PRED = {
    # box IoU: inter 100*50 = 5000, union 10000 + 5000 - 5000 = 10000 -> 0.5
    "boxes": [0, 0, 100, 50],
    # listed in a different order; best matching: (0,870)->(0,900) 30, (0,30)->(0,0) 30,
    # (870,0)->(900,0) 30 -> sum 90 (any other matching has a distance > 800) -> d = 30
    # pos_sim = exp(-30^2 / (2*50^2)) = exp(-900/5000) = exp(-0.18)
    "positive_points": [[0, 870], [0, 30], [870, 0]],
    # (200,200)->(200,200) 0; (830,240)->(800,200) = sqrt(30^2+40^2) = 50; (500,920)->(500,800) 120
    # sum 170 -> d = 170/3 -> neg_sim = exp(-(170/3)^2 / 5000) = exp(-28900/45000) = exp(-289/450)
    "negative_points": [[500, 920], [200, 200], [830, 240]],
}
POS_SIM = math.exp(-0.18)
NEG_SIM = math.exp(-289 / 450)


def test_s4_segmentation_image_full():
    # acc = 0.5*0.5 + 0.25*exp(-0.18) + 0.25*exp(-289/450) = 0.25 + 0.208818 + 0.131530 = 0.590348
    acc = 0.5 * 0.5 + 0.25 * POS_SIM + 0.25 * NEG_SIM
    assert acc == pytest.approx(0.5903480438761821, rel=1e-12)
    expect(score(resp(js(SEG_IMG_PRED)), js(SEG_IMG_TRUTH), "segmentation", "image"), fmt=1.0, acc=acc, st=0.5)


def test_s4_segmentation_image_identical():
    # IoU 1, d = 0 -> sims 1 -> 0.5 + 0.25 + 0.25 = 1
    expect(score(resp(js(SEG_IMG_TRUTH)), js(SEG_IMG_TRUTH), "segmentation", "image"), fmt=1.0, acc=1.0, st=0.5)


def test_s4_segmentation_image_malformed_box_is_part_only():
    # box of 3 numbers -> box part 0 only; points as in the full case
    # acc = 0 + 0.25*exp(-0.18) + 0.25*exp(-289/450); st 0 (boxes not 4 numbers)
    pred = dict(SEG_IMG_PRED, boxes=[0, 0, 100])
    expect(score(resp(js(pred)), js(SEG_IMG_TRUTH), "segmentation", "image"),
           fmt=1.0, acc=0.25 * POS_SIM + 0.25 * NEG_SIM, st=0.0)


@pytest.mark.parametrize(
    "change",
    [
        {"positive_points": [[0, 0], [900, 0], [0, 900], [1, 1]]},  # 4 positives
        {"negative_points": [[200, 200], [800, 200]]},  # 2 negatives
        {"positive_points": [[0, 0, 0], [900, 0], [0, 900]]},  # a point of 3 numbers
        {"negative_points": [[200, "x"], [800, 200], [500, 800]]},  # non-number coordinate
    ],
)
def test_s4_segmentation_image_wrong_points_whole_accuracy_zero(change):
    # Sec 4 segmentation image: wrong point counts/shape -> whole accuracy 0 (box identical does not help).
    # Sec 5: points not 3+3 of 2 numbers -> st 0 -> overall 0.1
    pred = dict(SEG_IMG_TRUTH, **change)
    expect(score(resp(js(pred)), js(SEG_IMG_TRUTH), "segmentation", "image"), fmt=1.0, acc=0.0, st=0.0)


def test_s4_segmentation_truth_wrong_points_whole_accuracy_zero():
    # truth with 2 positives -> whole accuracy 0; structure reads the (valid) prediction -> 0.5
    truth = dict(SEG_IMG_TRUTH, positive_points=[[0, 0], [900, 0]])
    expect(score(resp(js(SEG_IMG_TRUTH)), js(truth), "segmentation", "image"), fmt=1.0, acc=0.0, st=0.5)


def test_s4_segmentation_string_numbers_count():
    # points and box given as strings holding numbers -> same as numbers -> identical -> 1; st 0.5
    pred = {
        "boxes": ["0", "0", "100", "100"],
        "positive_points": [["0", "0"], ["900", "0"], ["0", "900"]],
        "negative_points": [["200", "200"], ["800", "200"], ["500", "800"]],
    }
    expect(score(resp(js(pred)), js(SEG_IMG_TRUTH), "segmentation", "image"), fmt=1.0, acc=1.0, st=0.5)


SEG_VID_TRUTH = dict(SEG_IMG_TRUTH, time=5.0)
SEG_VID_PRED = dict(SEG_IMG_PRED, time=7)


def test_s4_segmentation_video_full():
    # time: exp(-|7 - 5| / 2) = exp(-1)
    # acc = 0.3*0.5 + 0.3*exp(-1) + 0.2*exp(-0.18) + 0.2*exp(-289/450)
    #     = 0.15 + 0.110364 + 0.167054 + 0.105224 = 0.532642
    acc = 0.3 * 0.5 + 0.3 * math.exp(-1) + 0.2 * POS_SIM + 0.2 * NEG_SIM
    assert acc == pytest.approx(0.5326422674523784, rel=1e-12)
    expect(score(resp(js(SEG_VID_PRED)), js(SEG_VID_TRUTH), "segmentation", "video"), fmt=1.0, acc=acc, st=0.5)


def test_s4_segmentation_video_identical():
    expect(score(resp(js(SEG_VID_TRUTH)), js(SEG_VID_TRUTH), "segmentation", "video"), fmt=1.0, acc=1.0, st=0.5)


def test_s4_segmentation_video_time_string_whole_zero():
    # time "5" (a string, even though equal to the truth) -> whole accuracy 0;
    # st: time not a JSON number -> 0 -> overall 0.1
    pred = dict(SEG_VID_TRUTH, time="5")
    expect(score(resp(js(pred)), js(SEG_VID_TRUTH), "segmentation", "video"), fmt=1.0, acc=0.0, st=0.0)


def test_s4_segmentation_video_truth_time_string_whole_zero():
    # truth time "5.0" -> whole accuracy 0; prediction valid -> st 0.5
    truth = dict(SEG_VID_TRUTH, time="5.0")
    expect(score(resp(js(SEG_VID_TRUTH)), js(truth), "segmentation", "video"), fmt=1.0, acc=0.0, st=0.5)


def test_s4_segmentation_video_time_missing_whole_zero():
    pred = dict(SEG_IMG_TRUTH)  # no time
    expect(score(resp(js(pred)), js(SEG_VID_TRUTH), "segmentation", "video"), fmt=1.0, acc=0.0, st=0.0)


def test_s4_segmentation_video_wrong_points_whole_zero():
    pred = dict(SEG_VID_TRUTH, positive_points=[[0, 0]])
    expect(score(resp(js(pred)), js(SEG_VID_TRUTH), "segmentation", "video"), fmt=1.0, acc=0.0, st=0.0)


@pytest.mark.parametrize("data_type", ["audio", "", "images", " image"])
def test_s4_segmentation_other_data_type_zero(data_type):
    # Sec 4 last row: segmentation with another data_type -> 0; sec 5: image and video only, else 0
    # -> overall 0 + 0.1 + 0 = 0.1
    expect(score(resp(js(SEG_IMG_TRUTH)), js(SEG_IMG_TRUTH), "segmentation", data_type), fmt=1.0, acc=0.0, st=0.0)


@pytest.mark.parametrize("ptype", ["free-form", "classification", "", "multiple-choice"])
def test_s4_unknown_problem_type_zero(ptype):
    # Sec 4 last row: unknown problem_type -> acc 0. Sec 5: "every other problem type: 0.5".
    expect(score(resp("B"), "B", ptype, "image"), fmt=1.0, acc=0.0, st=0.5)
    # and 0 structure when the format fails
    expect(score("B", "B", ptype, "image"), fmt=0.0, acc=0.0, st=0.0)


def test_s4_exception_in_scoring_gives_zero():
    # regression with a non-numeric truth: float() raises -> acc 0, no exception escapes
    expect(score(resp("10"), "ten", "regression", "image"), fmt=1.0, acc=0.0, st=0.5)
    expect(score(resp("10"), "ten", "numerical", "image"), fmt=1.0, acc=0.0, st=0.5)


# ---- NaN / Infinity ----


def test_nan_numerical_forced_zero():
    # float("nan") parses; round(nan,2) != round(nan,2) -> 0 in the recipe; rejecting NaN also 0.
    expect(score(resp("nan"), "nan", "numerical", "image"), fmt=1.0, acc=0.0, st=0.5)


def test_inf_numerical_is_not_a_number():
    # recipe: round(inf,2) == round(inf,2) -> 1; here (the allowed deviation) infinity is not a number -> 0.
    expect(score(resp("inf"), "inf", "numerical", "image"), fmt=1.0, acc=0.0, st=0.5)


@pytest.mark.parametrize("answer,truth", [("nan", "100"), ("inf", "100"), ("inf", "inf"), ("100", "nan")])
def test_nan_inf_regression_forced_zero(answer, truth):
    # rel is NaN or inf -> "rel < 1-θ" false for every θ -> 0; rejecting them is also 0.
    expect(score(resp(answer), truth, "regression", "image"), fmt=1.0, acc=0.0, st=0.5)


@pytest.mark.parametrize(
    "ptype,data_type,answer,truth,acc,st",
    [
        # an answer holding NaN or infinity where a number goes does not have the task's shape: 0 and 0
        ("temporal grounding", "video", '{"time": [NaN, 20]}', TG_TRUTH, 0.0, 0.0),
        ("temporal grounding", "video", '{"time": [10, Infinity]}', TG_TRUTH, 0.0, 0.0),
        ("spatial grounding", "image", '{"boxes": [0, 0, Infinity, 10]}', SG_TRUTH, 0.0, 0.0),
        ("spatial grounding", "image", '{"boxes": [NaN, 0, 10, 10]}', SG_TRUTH, 0.0, 0.0),
        # a NaN in the ground truth: the answer's shape is right (0.5), nothing to compare it with (0)
        ("temporal grounding", "video", js({"time": [10, 20]}), '{"time": [NaN, 20]}', 0.0, 0.5),
        # time identical (0.5 * 1) + boxes: second 1 has a NaN (0), second 2 identical (1) -> 0.5 * 0.5;
        # structure: one of the two seconds has a valid box -> 0.25
        ("spatial-temporal grounding", "video",
         '{"time": [0, 10], "boxes": {"1": [0, 0, NaN, 10], "2": [0, 0, 10, 10]}}', STG_TRUTH, 0.75, 0.25),
        # second 1 identical (1), second 2 infinite (0) -> 0.5; structure likewise 0.25
        ("tracking", "video", '{"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, Infinity, 10]}}', TR_TRUTH, 0.5, 0.25),
        ("segmentation", "image",
         json.dumps(SEG_IMG_TRUTH).replace("[900, 0]", "[NaN, 0]"), js(SEG_IMG_TRUTH), 0.0, 0.0),
        ("segmentation", "video", json.dumps(dict(SEG_VID_TRUTH, time=0.0)).replace("0.0", "NaN"),
         js(SEG_VID_TRUTH), 0.0, 0.0),
        ("segmentation", "video", json.dumps(dict(SEG_VID_TRUTH, time=0.0)).replace("0.0", "Infinity"),
         js(SEG_VID_TRUTH), 0.0, 0.0),
    ],
)
def test_nan_inf_inside_json_exact_scores(ptype, data_type, answer, truth, acc, st):
    # Sec 4: NaN/inf are rejected as numbers (the allowed deviation): the part they are in scores 0, never a
    # NaN reward, and the rest of the answer keeps its credit.
    r = score(resp(answer), truth, ptype, data_type)
    expect(r, fmt=1.0, acc=acc, st=st)
    assert r.overall == pytest.approx(0.9 * acc + 0.1 + st, rel=1e-12)


def test_nan_as_whole_answer_forced_zero():
    # "NaN" parses to a float, not an object -> acc 0 and st 0 (forced)
    expect(score(resp("NaN"), SG_TRUTH, "spatial grounding", "image"), fmt=1.0, acc=0.0, st=0.0)


# --------------------------------------------------------------------------------------------
# Section 5: structure
# --------------------------------------------------------------------------------------------

STG_TRUTH4 = js({"time": [0, 10], "boxes": {k: [0, 0, 10, 10] for k in ("1", "2", "3", "4")}})
TR_TRUTH4 = js({"boxes": {k: [0, 0, 10, 10] for k in ("1", "2", "3", "4")}})


def test_s5_stg_key_overlap_with_well_formed():
    # truth keys {1,2,3,4}, pred keys {1,2}, well-formed -> 0.25 + 0.25*2/4 = 0.375
    # acc: tIoU 1 -> 0.5; mean over shared {1,2} of IoU 1 -> 0.5 -> acc 1.0
    # overall = 0.9*1 + 0.1 + 0.375 = 1.375
    pred = {"time": [0, 10], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}
    r = score(resp(js(pred)), STG_TRUTH4, "spatial-temporal grounding", "video")
    expect(r, fmt=1.0, acc=1.0, st=0.375)
    assert r.overall == pytest.approx(1.375, rel=1e-9)


def test_s5_stg_key_overlap_without_first_part():
    # time of length 3 -> first part fails; overlap still 0.25*2/4 = 0.125
    # acc: time malformed -> 0; boxes shared {1,2} IoU 1 -> 0.5*1 = 0.5
    pred = {"time": [0, 5, 10], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}
    expect(score(resp(js(pred)), STG_TRUTH4, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.125)


def test_s5_stg_time_any_contents():
    # time ["a","b"]: list of length 2 (any contents) -> first part 0.25; overlap 0.25*4/4 -> 0.5
    # acc: time part 0 (not numbers), boxes all identical -> 0.5*1 = 0.5
    pred = {"time": ["a", "b"], "boxes": {k: [0, 0, 10, 10] for k in ("1", "2", "3", "4")}}
    expect(score(resp(js(pred)), STG_TRUTH4, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.5)


def test_s5_stg_empty_boxes_object_passes_first_part():
    # boxes {} passes the first part (0.25), overlap 0 -> 0.25; acc: tIoU 1 -> 0.5, no shared key -> 0.5
    pred = {"time": [0, 10], "boxes": {}}
    expect(score(resp(js(pred)), STG_TRUTH4, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.25)


def test_s5_stg_truth_boxes_empty_no_overlap_part():
    # truth boxes {} -> no overlap part; pred well-formed -> 0.25. acc: tIoU 1 -> 0.5; box part 0
    truth = js({"time": [0, 10], "boxes": {}})
    pred = {"time": [0, 10], "boxes": {"1": [0, 0, 10, 10]}}
    expect(score(resp(js(pred)), truth, "spatial-temporal grounding", "video"), fmt=1.0, acc=0.5, st=0.25)


def test_s5_tracking_key_overlap():
    # truth keys {1,2,3,4}, pred {1,2} well-formed: st = 0.25 + 0.25*2/4 = 0.375
    # acc: mean over truth keys = (1+1+0+0)/4 = 0.5 ; overall = 0.45 + 0.1 + 0.375 = 0.925
    pred = {"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}
    r = score(resp(js(pred)), TR_TRUTH4, "tracking", "video")
    expect(r, fmt=1.0, acc=0.5, st=0.375)
    assert r.overall == pytest.approx(0.925, rel=1e-9)


def test_s5_tracking_overlap_without_first_part():
    # key "2" has 5 numbers -> first part fails; overlap 0.25*2/4 = 0.125
    # acc: (1 + 0 + 0 + 0)/4 = 0.25
    pred = {"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10, 0]}}
    expect(score(resp(js(pred)), TR_TRUTH4, "tracking", "video"), fmt=1.0, acc=0.25, st=0.125)


def test_s5_structure_zero_whenever_format_zero():
    # Valid structured answers but text outside the tags -> fmt 0 -> st 0 for every type.
    # Accuracy still computed from the answer block.
    bad = lambda a: "Answer: " + resp(a)  # noqa: E731
    expect(score(bad(js({"time": [15, 25]})), TG_TRUTH, "temporal grounding", "video"), fmt=0.0, acc=1 / 3, st=0.0)
    expect(score(bad(js({"boxes": [0, 0, 10, 10]})), SG_TRUTH, "spatial grounding", "image"), fmt=0.0, acc=1.0, st=0.0)
    expect(score(bad(js(SEG_IMG_TRUTH)), js(SEG_IMG_TRUTH), "segmentation", "image"), fmt=0.0, acc=1.0, st=0.0)
    expect(score(bad(js({"boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}})), TR_TRUTH, "tracking", "video"),
           fmt=0.0, acc=1.0, st=0.0)
    expect(score(bad("B"), "B", "multiple choice", "image"), fmt=0.0, acc=1.0, st=0.0)


@pytest.mark.parametrize(
    "ptype,answer,truth",
    [
        ("multiple choice", "A", "B"),
        ("numerical", "1", "2"),
        ("regression", "1", "200"),
        ("math", "1", "2"),
        ("ocr", "x", "y"),
        ("open-ended", "x", "y"),
    ],
)
def test_s5_unstructured_types_half(ptype, answer, truth):
    # Sec 5: every other problem type: 0.5 (format passes), even with a wrong answer (acc 0).
    # overall = 0 + 0.1 + 0.5 = 0.6
    r = score(resp(answer), truth, ptype, "image")
    expect(r, fmt=1.0, acc=0.0, st=0.5)
    assert r.overall == pytest.approx(0.6, rel=1e-9)


def test_s5_segmentation_video_structure_requires_number_time():
    # video: time "5" string -> st 0 (tested above); image answer without time is fine for image
    expect(score(resp(js(SEG_IMG_TRUTH)), js(SEG_IMG_TRUTH), "segmentation", "image"), fmt=1.0, acc=1.0, st=0.5)
    # video answer with float time -> st 0.5
    expect(score(resp(js(dict(SEG_IMG_TRUTH, time=5.5))), js(SEG_VID_TRUTH), "segmentation", "video"),
           fmt=1.0, acc=0.3 + 0.3 * math.exp(-0.25) + 0.2 + 0.2, st=0.5)


# --------------------------------------------------------------------------------------------
# Section 6: overall
# --------------------------------------------------------------------------------------------


def test_s6_overall_default_weight():
    # OCR "hello" vs "hello world" -> acc 0.5; fmt 1; st 0.5 -> 0.9*0.5 + 0.1 + 0.5 = 1.05
    r = score(resp("hello"), "hello world", "ocr", "image")
    assert r.overall == pytest.approx(1.05, rel=1e-9)
    expect(r, fmt=1.0, acc=0.5, st=0.5)


def test_s6_overall_format_weight_03():
    # w = 0.3: 0.7*0.5 + 0.3*1 + 0.5 = 0.35 + 0.3 + 0.5 = 1.15
    r = score(resp("hello"), "hello world", "ocr", "image", format_weight=0.3)
    assert r.overall == pytest.approx(1.15, rel=1e-9)
    expect(r, fmt=1.0, acc=0.5, st=0.5, w=0.3)
    # format 0, acc 1 (numerical fallback): 0.7*1 + 0.3*0 + 0 = 0.7
    r = score("2.5", "2.5", "numerical", "image", format_weight=0.3)
    assert r.overall == pytest.approx(0.7, rel=1e-9)
    expect(r, fmt=0.0, acc=1.0, st=0.0, w=0.3)
    # spatial-temporal example: acc 1, st 0.375 -> 0.7 + 0.3 + 0.375 = 1.375
    pred = {"time": [0, 10], "boxes": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}
    r = score(resp(js(pred)), STG_TRUTH4, "spatial-temporal grounding", "video", format_weight=0.3)
    assert r.overall == pytest.approx(1.375, rel=1e-9)


def test_s6_all_zero():
    # fmt 0, acc 0, st 0 -> overall 0
    r = score("nothing here", "B", "multiple choice", "image")
    assert not grade_answer("nothing here", "B")
    expect(r, fmt=0.0, acc=0.0, st=0.0)
    assert r.overall == 0.0


# --------------------------------------------------------------------------------------------
# problem_type / data_type matching; non-string ground truth
# --------------------------------------------------------------------------------------------


def test_problem_type_case_insensitive():
    expect(score(resp("B"), "B", "Multiple Choice", "image"), fmt=1.0, acc=1.0, st=0.5)
    expect(score(resp("B"), "B", "MULTIPLE CHOICE", "Image"), fmt=1.0, acc=1.0, st=0.5)
    expect(score(resp(js({"time": [15, 25]})), TG_TRUTH, "Temporal Grounding", "VIDEO"), fmt=1.0, acc=1 / 3, st=0.5)
    # tracking case-insensitive with key overlap
    expect(score(resp(js({"boxes": {"1": [0, 0, 10, 10]}})), TR_TRUTH, "TRACKING", "video"),
           fmt=1.0, acc=0.5, st=0.375)


def test_data_type_case_insensitive_for_segmentation():
    expect(score(resp(js(SEG_VID_PRED)), js(SEG_VID_TRUTH), "Segmentation", "VIDEO"),
           fmt=1.0, acc=0.3 * 0.5 + 0.3 * math.exp(-1) + 0.2 * POS_SIM + 0.2 * NEG_SIM, st=0.5)
    expect(score(resp(js(SEG_IMG_TRUTH)), js(SEG_IMG_TRUTH), "segmentation", "Image"), fmt=1.0, acc=1.0, st=0.5)


@pytest.mark.parametrize("ptype", [" multiple choice", "multiple choice ", "multiple  choice"])
def test_problem_type_not_stripped(ptype):
    # no stripping: unknown type -> acc 0, st 0.5 (format passes) -> overall 0.6
    expect(score(resp("B"), "B", ptype, "image"), fmt=1.0, acc=0.0, st=0.5)


@pytest.mark.parametrize(
    "truth,ptype",
    [(None, "multiple choice"), (3, "numerical"), (3.0, "regression"), (b"B", "multiple choice"),
     (["B"], "multiple choice"), ({"time": [10, 20]}, "temporal grounding")],
)
def test_non_string_ground_truth_accuracy_zero(truth, ptype):
    # Spec preamble: a ground truth that is not a string gives accuracy 0 (and no exception).
    answer = js({"time": [10, 20]}) if ptype == "temporal grounding" else ("3" if ptype != "multiple choice" else "B")
    r = score(resp(answer), truth, ptype, "image")  # type: ignore[arg-type]
    assert r.format == 1.0
    assert r.accuracy == 0.0
    assert r.structure == pytest.approx(0.5)  # prediction well-formed; these rules read the prediction
    assert r.overall == pytest.approx(0.1 + 0.5, rel=1e-9)
