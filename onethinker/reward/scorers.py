"""The text comparison back-ends behind the rule-based accuracies, built once per process.

``TextScorers.reference()`` calls the libraries the recipe calls, one comparison at a time:
rouge-score's ``RougeScorer``, mathruler's ``grade_answer``, math-verify's ``parse``/``verify``.
``TextScorers.fast()`` returns *the same numbers* faster, for batch scoring:
- ROUGE: rouge-score's tokenisation with each distinct word stemmed once, token ids instead of
  strings, and the longest common subsequence from rapidfuzz (C++) instead of a Python dynamic programme;
  the n-gram overlaps and F-measures are computed with rouge-score's formulas, operation for operation;
- math-verify parses and mathruler gradings are memoised per string / pair (both are pure functions).
Tests compare the two on random and adversarial text.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from functools import lru_cache
from typing import Any, Callable

from rapidfuzz.distance import LCSseq, Levenshtein

# mathruler converts LaTeX with pylatexenc, which logs a warning for every macro it cannot substitute in
# a model's answer (e.g. a \frac with a missing argument); a trainer scoring thousands of rollouts would
# print them all. The answer simply scores as it parses.
logging.getLogger("pylatexenc").setLevel(logging.ERROR)

_CACHE_SIZE = 1 << 16


def word_edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, deletions, insertions all cost 1)."""
    return Levenshtein.distance(reference, hypothesis)


def _is_letter(s: str) -> bool:
    return len(s) == 1 and s.isascii() and s.isalpha()


def _fmeasure(precision: float, recall: float) -> float:
    # rouge_score.scoring.fmeasure
    if precision + recall > 0:
        return 2 * precision * recall / (precision + recall)
    return 0.0


def _ngram_f(target: list, prediction: list, n: int) -> float:
    # rouge_score.rouge_scorer._create_ngrams + _score_ngrams
    if n == 1:
        t_counts, p_counts = Counter(target), Counter(prediction)
    else:
        t_counts = Counter(zip(*(target[i:] for i in range(n))))
        p_counts = Counter(zip(*(prediction[i:] for i in range(n))))
    inter = 0
    for gram, count in t_counts.items():
        inter += min(count, p_counts[gram])
    t_total = sum(t_counts.values())
    p_total = sum(p_counts.values())
    precision = inter / max(p_total, 1)
    recall = inter / max(t_total, 1)
    return _fmeasure(precision, recall)


def _lcs_f(target: list, prediction: list) -> float:
    # rouge_score.rouge_scorer._score_lcs
    if not target or not prediction:
        return 0.0
    lcs = LCSseq.similarity(target, prediction)
    precision = lcs / len(prediction)
    recall = lcs / len(target)
    return _fmeasure(precision, recall)


_WORD = re.compile(r"[a-z0-9]+")
_VALID_TOKEN = re.compile(r"^[a-z0-9]+$")


class FastRouge:
    """mean(ROUGE-1, ROUGE-2, ROUGE-L F) equal to rouge-score's ``RougeScorer(use_stemmer=True)``.

    Tokens are rouge-score's: lower-case, maximal runs of [a-z0-9], words longer than 3 characters
    Porter-stemmed (NLTK's stemmer, as rouge-score builds it), empty or invalid results dropped.
    Here each distinct word is stemmed once and mapped to an integer id.
    """

    def __init__(self) -> None:
        from nltk.stem import porter

        self._stem = porter.PorterStemmer().stem
        self._word_ids: dict[str, int] = {}  # word -> token id, or -1 when the token is dropped
        self._vocab: dict[str, int] = {}
        self._tokens = lru_cache(maxsize=_CACHE_SIZE)(self._token_ids)

    def _word_id(self, word: str) -> int:
        token = self._stem(word) if len(word) > 3 else word
        tid = self._vocab.setdefault(token, len(self._vocab)) if _VALID_TOKEN.match(token) else -1
        if len(self._word_ids) < 4 * _CACHE_SIZE:
            self._word_ids[word] = tid
        return tid

    def _token_ids(self, text: str) -> tuple[int, ...]:
        ids = self._word_ids
        out = []
        for word in _WORD.findall(text.lower()):
            tid = ids.get(word)
            if tid is None:
                tid = self._word_id(word)
            if tid >= 0:
                out.append(tid)
        return tuple(out)

    def mean_f(self, target: str, prediction: str) -> float:
        t = list(self._tokens(target))
        p = list(self._tokens(prediction))
        return (_ngram_f(t, p, 1) + _ngram_f(t, p, 2) + _lcs_f(t, p)) / 3.0


class ReferenceRouge:
    """rouge-score's own scorer, built once."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)

    def mean_f(self, target: str, prediction: str) -> float:
        s = self._scorer.score(target, prediction)
        return (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3.0


def _signal_timeouts_allowed() -> bool:
    # math-verify's timeouts use signal.alarm(), which only works in the main thread. Elsewhere it
    # raises, and the recipe silently fell back to mathruler; here we run it without its timeout
    # instead (the batch scorer's worker pool enforces its own per-item limit).
    return threading.current_thread() is threading.main_thread()


class TextScorers:
    """Bundle of comparison functions; one instance per process, shared by all tasks."""

    def __init__(self, *, fast: bool) -> None:
        self.fast = fast
        self._rouge: Any = None
        self._grade: Callable[[str, str], bool] | None = None
        self._parse: Callable[[str], Any] | None = None
        self._verify: Callable[[Any, Any], bool] | None = None

    @classmethod
    def reference(cls) -> "TextScorers":
        return cls(fast=False)

    @classmethod
    def fast_cached(cls) -> "TextScorers":
        return cls(fast=True)

    # ROUGE -------------------------------------------------------------------------------------
    def rouge_mean(self, target: str, prediction: str) -> float:
        if self._rouge is None:
            self._rouge = FastRouge() if self.fast else ReferenceRouge()
        return self._rouge.mean_f(target, prediction)

    # mathruler ---------------------------------------------------------------------------------
    def grade_answer(self, given: str, truth: str) -> bool:
        if self.fast and _is_letter(given) and _is_letter(truth):
            # Two single ASCII letters: mathruler lower-cases both, and when they differ asks sympy
            # whether Symbol(a) - Symbol(b) simplifies to 0 (6 ms, always False). Same answer, directly;
            # tests check all 52 x 52 pairs against mathruler.
            return given.lower() == truth.lower()
        if self._grade is None:
            from mathruler.grader import grade_answer

            self._grade = lru_cache(maxsize=_CACHE_SIZE)(grade_answer) if self.fast else grade_answer
        return bool(self._grade(given, truth))

    # math-verify -------------------------------------------------------------------------------
    def _math_parse(self, text: str) -> Any:
        from math_verify import parse

        if _signal_timeouts_allowed():
            return tuple(parse(text))
        _quiet_math_verify()
        return tuple(parse(text, parsing_timeout=None))

    def math_equal(self, truth: str, answer: str) -> bool:
        """``verify(parse(truth), parse(answer))``; exceptions propagate (the caller falls back)."""
        if self._parse is None:
            self._parse = lru_cache(maxsize=_CACHE_SIZE)(self._math_parse) if self.fast else self._math_parse
        from math_verify import verify

        gold, target = self._parse(truth), self._parse(answer)
        if _signal_timeouts_allowed():
            return bool(verify(list(gold), list(target)))
        _quiet_math_verify()
        return bool(verify(list(gold), list(target), timeout_seconds=None))

    def cache_info(self) -> dict[str, Any]:
        out = {}
        for name in ("_grade", "_parse"):
            fn = getattr(self, name)
            if fn is not None and hasattr(fn, "cache_info"):
                out[name.strip("_")] = fn.cache_info()._asdict()
        return out


@lru_cache(maxsize=1)  # once per process: it sits on the scoring path
def _quiet_math_verify() -> None:
    """Outside the main thread (annotation threads, servers) math-verify's signal timeouts cannot work, so
    they are off on purpose; math-verify warns about that on the terminal. The pool's per-item time limit is
    the guard where one is needed; the warning says nothing a user can act on."""
    import logging

    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).setLevel(logging.ERROR)
