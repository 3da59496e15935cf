"""Rule-based and open-ended question answering: free-text answers."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from .geometry import as_number
from .base import Parsed, Task, clean_number, clip01
from .vectorised import Columns, median

_OPTION = re.compile(r"^\(?([A-Za-z])\)?(?:[.:)\]]|\s|$)")


def _number(text: str) -> float | None:
    """Commas removed, then ``float()``; None when that fails or is not finite."""
    if not isinstance(text, str):
        return None
    return as_number(text.replace(",", ""))


@lru_cache(maxsize=1 << 16)
def _mathruler_key(text: str) -> str:
    """mathruler's normalisation (what its grader compares), or the lower-cased text without it."""
    try:
        from mathruler.grader import _normalize

        out = _normalize(text)
        return out if isinstance(out, str) else text.strip().lower()
    except Exception:
        return text.strip().lower()


def _number_key(text: str, ndigits: int | None) -> str:
    x = _number(text)
    if x is None:
        return "text:" + text
    return repr((x if ndigits is None else round(x, ndigits)) + 0.0)


class MultipleChoice(Task):
    key = problem_type = "multiple choice"
    answer_form = "discrete"
    metric = "multiple_choice"
    has_options = True
    data_types = ("image", "video", "video-image")
    expensive = True  # mathruler falls back to sympy for letters that differ (milliseconds each)
    instruction = (
        "Please provide only the single option letter (e.g., A, B, C, D, etc.) "
        "within the <answer>...</answer> tags.\n"
        "Example:\n<answer>A</answer>"
    )

    def parse(self, answer: str) -> Parsed:
        m = _OPTION.match(answer.strip())
        if not m:
            return Parsed.fail("expected an option letter such as 'A'")
        return Parsed(m.group(1).upper())

    def format_answer(self, value: Any) -> str:
        return str(value)

    def accuracy(self, answer, truth, scorers):
        # mathruler's grade_answer, no letter extraction: "B. a dog" against "B" scores 0.
        return 1.0 if scorers.grade_answer(answer.strip(), truth.strip()) else 0.0

    def vote_key(self, text: str) -> str:
        return _mathruler_key(text.strip())


class Numerical(Task):
    key = problem_type = "numerical"
    answer_form = "discrete"
    metric = "exact"
    data_types = ("image", "video", "video-image")
    instruction = (
        "Please provide only the numerical value within the <answer>...</answer> tags.\n"
        "Example:\n<answer>3.14</answer>"
    )

    def parse(self, answer: str) -> Parsed:
        x = _number(answer)
        return Parsed(x) if x is not None else Parsed.fail("expected a number")

    def format_answer(self, value: Any) -> str:
        return str(clean_number(value, 2))

    def accuracy(self, answer, truth, scorers):
        p, t = _number(answer), _number(truth)
        if p is None or t is None:
            return 0.0
        return 1.0 if round(p, 2) == round(t, 2) else 0.0

    def vote_key(self, text: str) -> str:
        return _number_key(text.strip(), 2)  # the accuracy compares at 2 decimals


# Mean Relative Accuracy thresholds as the recipe computes them: float32 values of 0.50 .. 0.95.
_MRA_THRESHOLDS = np.array([0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95], dtype=np.float32)
_MRA_TOLERANCE = np.float32(1.0) - _MRA_THRESHOLDS
_MRA_EPS = np.float32(1e-8)


def mra_float32(pred: float, target: float) -> float:
    """The recipe's MRA: everything in float32, rel = |p - t| / (|t| + 1e-8), share of rel < 1 - theta."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p, t = np.float32(pred), np.float32(target)
        rel = np.abs(p - t) / (np.abs(t) + _MRA_EPS)
        hits = np.count_nonzero(rel < _MRA_TOLERANCE)
    return float(np.float32(hits) / np.float32(len(_MRA_THRESHOLDS)))


class Regression(Task):
    key = problem_type = "regression"
    metric = "regression"
    vectorised = True
    data_types = ("image", "video", "video-image")
    instruction = (
        "Please provide only the numerical value within the <answer>...</answer> tags.\n"
        "Example:\n<answer>42.7</answer>"
    )

    def parse(self, answer: str) -> Parsed:
        x = _number(answer)
        return Parsed(x) if x is not None else Parsed.fail("expected a number")

    def format_answer(self, value: Any) -> str:
        return str(clean_number(value, 2))

    def accuracy(self, answer, truth, scorers):
        p, t = _number(answer), _number(truth)
        if p is None or t is None:
            return 0.0
        return mra_float32(p, t)

    def vote_key(self, text: str) -> str:
        return _number_key(text.strip(), None)

    def vector_parse(self, texts, table_keys=None):
        return Columns(texts, json=False).numbers(texts)

    def vector_parts(self, cand, i, truth):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p, t = np.float32(cand.value[i]), truth.value.astype(np.float32)
            rel = np.abs(p - t) / (np.abs(t) + _MRA_EPS)
            hits = (rel[:, None] < _MRA_TOLERANCE[None, :]).sum(1)
        acc = (hits.astype(np.float32) / np.float32(10)).astype(np.float64)
        return acc, np.full(truth.n, 0.5)

    def median_answer(self, texts: Sequence[str]) -> str | None:
        v = median(self.vector_parse(texts).value)
        return None if v is None else self.format_answer(float(v))


class Math(Task):
    key = problem_type = "math"
    answer_form = "discrete"
    metric = "exact"
    data_types = ("image", "video", "video-image")
    expensive = True  # symbolic parsing and verification (milliseconds, occasionally seconds)
    instruction = (
        "Please provide only the final result (a number or LaTeX formula) within the <answer>...</answer> tags.\n"
        "Example:\n<answer>$$-\\dfrac{3}{2}$$</answer>"
    )

    def parse(self, answer: str) -> Parsed:
        return Parsed(answer.strip()) if answer.strip() else Parsed.fail("empty answer")

    def format_answer(self, value: Any) -> str:
        return str(value)

    def accuracy(self, answer, truth, scorers):
        try:
            ok = scorers.math_equal(truth, answer)
        except Exception:
            ok = scorers.grade_answer(answer, truth)
        return 1.0 if ok else 0.0

    def vote_key(self, text: str) -> str:
        return _mathruler_key(text.strip())


class OCR(Task):
    key = problem_type = "OCR"
    answer_form = "text"
    metric = "ocr"
    data_types = ("image", "video", "video-image")
    instruction = (
        "Please provide only the transcribed text within the <answer>...</answer> tags.\n"
        "Example:\n<answer>Hello World</answer>"
    )

    def parse(self, answer: str) -> Parsed:
        return Parsed(answer.strip()) if answer.strip() else Parsed.fail("empty transcription")

    def format_answer(self, value: Any) -> str:
        return str(value)

    def accuracy(self, answer, truth, scorers):
        from ..reward.scorers import word_edit_distance

        ref, hyp = truth.split(), answer.split()
        wer = word_edit_distance(ref, hyp) / max(1, len(ref))
        return clip01(1.0 - wer)


class OpenEnded(Task):
    key = problem_type = "open-ended"
    answer_form = "free text"
    metric = "captioning"
    judged = True  # RL can send its accuracy to a model judge (POLAR)
    data_types = ("image", "video", "video-image")
    instruction = (
        "Please provide only your text answer within the <answer>...</answer> tags.\n"
        "Example:\n<answer>The capital of France is Paris.</answer>"
    )

    def parse(self, answer: str) -> Parsed:
        return Parsed(answer.strip()) if answer.strip() else Parsed.fail("empty answer")

    def format_answer(self, value: Any) -> str:
        return str(value)

    def accuracy(self, answer, truth, scorers):
        return clip01(scorers.rouge_mean(truth, answer))
