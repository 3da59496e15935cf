"""OneThinker's training reward (spec/rewards.md): normalise -> format -> structure -> accuracy.

Two entry points with identical results:

- ``score(response, ground_truth, problem_type, data_type)`` scores one rollout with the libraries the
  recipe uses, one comparison at a time;
- ``RewardScorer(config).score_batch(items)`` (or the module function ``score_batch``) scores a whole RL
  step: identical (task, answer, truth) triples are scored once, the symbolic checks (math-verify,
  mathruler) run in worker processes under a per-item time limit (an answer that hangs sympy scores 0
  and is counted), ROUGE and the math parsers are memoised, and open-ended answers can go to a
  model judge (POLAR) in batches.

Scoring never raises on model output: anything malformed scores 0 in the part it breaks.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from .judge import JudgeConfig, JudgeItem, make_judge
from .pool import OK, TIMEOUT, PoolStartError, TimedPool
from ..tasks.response import extract_answer, has_valid_format, normalize, truth_answer
from .scorers import TextScorers
from ..tasks import TASKS, Task, find_task, split_by_data_type
from ..tasks.base import clip01
from ..tasks.means import task_means

log = logging.getLogger(__name__)

ITEM_FIELDS = ("response", "ground_truth", "problem_type", "data_type")
DEFAULT_FORMAT_WEIGHT = 0.1
_POOL_CHUNK = 32  # items per hand-over to a worker process


@dataclass(frozen=True)
class RewardResult:
    overall: float
    format: float
    accuracy: float
    structure: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


ZERO = RewardResult(0.0, 0.0, 0.0, 0.0)


@dataclass
class RewardConfig:
    """Reward settings (the ``reward:`` section of training configs)."""

    #: w in overall = (1 - w) * accuracy + w * format + structure
    format_weight: float = DEFAULT_FORMAT_WEIGHT
    #: worker processes for the symbolic checks; -1 = one per CPU core (at most 8); 0 = in-process,
    #: which has no per-item time limit
    workers: int = -1
    #: seconds one symbolic check may take before it scores 0 (and is counted)
    item_timeout_s: float = 10.0
    #: "forkserver" (default where available), "spawn" or "fork"
    start_method: str | None = None
    judge: JudgeConfig = field(default_factory=JudgeConfig)

    def __post_init__(self) -> None:
        if not 0 <= self.format_weight <= 1:
            raise ValueError(f"format_weight must be in [0, 1], got {self.format_weight}")
        if self.workers < -1:
            raise ValueError(f"workers must be >= -1 (-1: one per core, 0: in-process), got {self.workers}")
        if self.item_timeout_s <= 0:
            raise ValueError(f"item_timeout_s must be > 0, got {self.item_timeout_s}")
        if self.start_method not in (None, "forkserver", "spawn", "fork"):
            raise ValueError(f"start_method {self.start_method!r} is not one of forkserver, spawn, fork (or null)")

    def resolved_workers(self) -> int:
        if self.workers >= 0:
            return self.workers
        return max(1, min(8, os.cpu_count() or 1))


@dataclass
class BatchStats:
    """What one ``score_batch`` call did (and, summed, what a scorer did over its life)."""

    items: int = 0
    computed: int = 0  # accuracy comparisons run; the other items reused a remembered (task, answer, truth)
    pooled: int = 0  # items scored in worker processes
    timeouts: int = 0  # checks past the time limit (scored 0)
    errors: int = 0  # checks whose worker failed (scored 0)
    judged: int = 0  # open-ended items sent to the model judge
    judge_fallback: int = 0  # of those, scored with ROUGE because their batch failed
    seconds: float = 0.0

    def add(self, other: "BatchStats") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# The pieces shared by both entry points
# ---------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Prepared:
    task: Task | None
    ptype: str  # problem_type, lower-cased
    fmt: float
    acc_text: str  # what accuracy reads: the answer, or the whole stripped response when there is none
    answer: str  # the answer block's text, "" when missing (structure and the judge read it)
    truth: str | None  # the ground truth's answer text; None when the ground truth is not a string


def _prepare(response: Any, ground_truth: Any, problem_type: Any, data_type: Any) -> _Prepared | None:
    """None when the response is not text (everything scores 0)."""
    truth = truth_answer(ground_truth) if isinstance(ground_truth, str) else None
    return _prepare_task(find_task(problem_type, data_type), problem_type, response, truth)


def _prepare_task(task: Task | None, problem_type: Any, response: Any, truth: str | None) -> _Prepared | None:
    """``_prepare`` once the task is resolved and the truth's answer text read."""
    if response is None:
        response = ""
    if not isinstance(response, str):
        return None
    text = normalize(response)
    answer = extract_answer(text) or ""
    ptype = problem_type.lower() if isinstance(problem_type, str) else ""
    return _Prepared(
        task=task,
        ptype=ptype,
        fmt=1.0 if has_valid_format(text) else 0.0,
        acc_text=answer if answer else text.strip(),
        answer=answer,
        truth=truth,
    )


def _accuracy(task: Task | None, acc_text: str, truth: str | None, scorers: TextScorers) -> float:
    if task is None or truth is None:
        return 0.0
    try:
        value = float(task.accuracy(acc_text, truth, scorers))
    except Exception:
        return 0.0
    return clip01(value) if math.isfinite(value) else 0.0


def _structure(p: _Prepared) -> float:
    if p.fmt == 0.0:
        return 0.0
    if p.task is None:
        # unknown problem types get the unstructured 0.5; a type split by data type (segmentation) with
        # another data_type gets 0
        return 0.0 if split_by_data_type(p.ptype) else 0.5
    try:
        return float(p.task.structure(p.answer, p.truth))
    except Exception:
        return 0.0


def _combine(fmt: float, accuracy: float, structure: float, format_weight: float) -> RewardResult:
    overall = (1.0 - format_weight) * accuracy + format_weight * fmt + structure
    return RewardResult(float(overall), float(fmt), float(accuracy), float(structure))


_REFERENCE_SCORERS: TextScorers | None = None


def _reference_scorers() -> TextScorers:
    global _REFERENCE_SCORERS
    if _REFERENCE_SCORERS is None:
        _REFERENCE_SCORERS = TextScorers.reference()
    return _REFERENCE_SCORERS


def score(
    response: str,
    ground_truth: str,
    problem_type: str,
    data_type: str,
    *,
    format_weight: float = DEFAULT_FORMAT_WEIGHT,
) -> RewardResult:
    """Score one rollout (rule-based accuracy; open-ended uses ROUGE)."""
    scorers = _reference_scorers()
    try:
        return _score_prepared(_prepare(response, ground_truth, problem_type, data_type), scorers, format_weight)
    except Exception:  # defence in depth: model output never makes scoring raise
        return ZERO


def score_task(task: Task, response: Any, truth: str | None, *, format_weight: float = DEFAULT_FORMAT_WEIGHT
               ) -> RewardResult:
    """The typed core of ``score``: the task already resolved and ``truth`` the ground truth's answer
    text (``truth_answer(ground_truth)``; None when the ground truth is not text). Same result as
    ``score`` for the record the task was resolved from."""
    scorers = _reference_scorers()
    try:
        return _score_prepared(_prepare_task(task, task.problem_type, response, truth), scorers, format_weight)
    except Exception:  # defence in depth: model output never makes scoring raise
        return ZERO


def answer_accuracy(task: Task, answer: str, truth: str | None) -> float:
    """The reward's accuracy part for an answer already taken out of its block (the reference scorers)."""
    return _accuracy(task, answer, truth, _reference_scorers())


def _score_prepared(p: _Prepared | None, scorers: TextScorers, format_weight: float) -> RewardResult:
    if p is None:
        return ZERO
    acc = _accuracy(p.task, p.acc_text, p.truth, scorers)
    return _combine(p.fmt, acc, _structure(p), format_weight)


# ---------------------------------------------------------------------------------------------
# Batch scoring
# ---------------------------------------------------------------------------------------------
_MEMO_LIMIT = 200_000  # accuracies remembered per process before the memo starts afresh

#: what scoring one item yields: (format, accuracy or None when the judge decides, structure,
#: 1 if the accuracy was computed rather than remembered, (answer, truth) for the judge or None)
Parts = tuple[float, "float | None", float, int, "tuple[str, str] | None"]


class _ItemScorer:
    """Scores whole items with memoised comparisons; one per process (the parent, each worker)."""

    def __init__(self) -> None:
        self.scorers = TextScorers.fast_cached()
        self.memo: dict[tuple[str, str, str], float] = {}

    def __call__(self, response: Any, ground_truth: Any, problem_type: Any, data_type: Any, judge_open: bool) -> Parts:
        try:
            p = _prepare(response, ground_truth, problem_type, data_type)
            if p is None:
                return (0.0, 0.0, 0.0, 0, None)
            structure = _structure(p)
            if p.task is None or p.truth is None:
                return (p.fmt, 0.0, structure, 0, None)
            if judge_open and p.task.judged:
                return (p.fmt, None, structure, 0, (p.answer, p.truth))
            key = (p.task.key, p.acc_text, p.truth)
            acc = self.memo.get(key)
            if acc is not None:
                return (p.fmt, acc, structure, 0, None)
            acc = _accuracy(p.task, p.acc_text, p.truth, self.scorers)
            if len(self.memo) >= _MEMO_LIMIT:
                self.memo.clear()
            self.memo[key] = acc
            return (p.fmt, acc, structure, 1, None)
        except Exception:  # defence in depth: model output never makes scoring raise
            return (0.0, 0.0, 0.0, 0, None)

    def without_accuracy(self, response: Any, ground_truth: Any, problem_type: Any, data_type: Any, judge_open: bool) -> Parts:
        """Format and structure only (for an item whose accuracy check timed out: accuracy 0)."""
        try:
            p = _prepare(response, ground_truth, problem_type, data_type)
            return (0.0, 0.0, 0.0, 0, None) if p is None else (p.fmt, 0.0, _structure(p), 0, None)
        except Exception:
            return (0.0, 0.0, 0.0, 0, None)


_WORKER: _ItemScorer | None = None


def _pool_score(*args: Any) -> Parts:
    """Runs in a worker process."""
    global _WORKER
    if _WORKER is None:
        _WORKER = _ItemScorer()
    return _WORKER(*args)


def _warm_worker() -> None:
    """Pay math-verify's, mathruler's and NLTK's one-off set-up (grammars, tables: about a second)
    before a worker reports ready, so no scored item carries it and no time limit counts it."""
    global _WORKER
    warm = _ItemScorer()
    for truth, answer in (("\\frac{1}{2}", "0.5"), ("2\\sqrt{3}", "$\\sqrt{12}$"), ("x^2+1", "1+x^2"), ("20", "20")):
        warm.scorers.math_equal(truth, answer)
        warm.scorers.grade_answer(answer, truth)
    warm.scorers.rouge_mean("a warm start", "warming up")
    _WORKER = _ItemScorer()  # empty memo tables: warm code, cold data


def _check_item(i: int, item: Any) -> None:
    if not isinstance(item, Mapping):
        raise TypeError(f"score_batch: item {i} is a {type(item).__name__}, expected a mapping with keys {ITEM_FIELDS}")
    for key in ITEM_FIELDS:
        if key not in item:
            raise KeyError(f"score_batch: item {i} has no field {key!r} (expected keys {ITEM_FIELDS})")


def _dispatch_key(item: Mapping[str, Any]) -> tuple[bool, str, str]:
    """Rollouts of one prompt together (so duplicates meet one worker's memo), and the tasks with
    symbolic checks first (so the last chunks, which run while other workers idle, are cheap)."""
    task = find_task(item["problem_type"], item["data_type"])
    return (task is None or not task.expensive, str(item["problem_type"]), str(item["ground_truth"]))


class RewardScorer:
    """Batch reward scorer for an RL run. Build once; worker processes live until ``close()``.

    Items are scored in worker processes (one per core by default), each item under a time limit.
    Items are sent grouped by ground truth, so the rollouts of one prompt meet the same worker and an
    answer given twice is compared once (the worker remembers it). With ``workers=0`` everything runs
    in this process, with the same memo but no time limit.
    """

    def __init__(self, config: RewardConfig | None = None, **overrides: Any) -> None:
        config = config or RewardConfig()
        if overrides:
            config = replace(config, **overrides)
        self.config = config
        self._local = _ItemScorer()
        self._pool: TimedPool | None = None
        self._pool_lock = threading.Lock()
        #: why the worker pool could not start ("" while it is fine); scoring then runs in-process
        self.pool_disabled = ""
        self._judge = make_judge(config.judge, fallback=lambda ref, out: clip01(self._local.scorers.rouge_mean(ref, out)))
        self.last_stats = BatchStats()
        self.totals = BatchStats()

    # -- worker pool --------------------------------------------------------------------------
    def _get_pool(self) -> TimedPool | None:
        workers = self.config.resolved_workers()
        if workers == 0 or self.pool_disabled:
            return None
        with self._pool_lock:
            if self._pool is None:
                pool = TimedPool(
                    "onethinker.reward.core:_pool_score",
                    workers=workers,
                    item_timeout_s=self.config.item_timeout_s,
                    start_method=self.config.start_method,
                    preload=["onethinker.rewards", "math_verify", "mathruler.grader", "rouge_score.tokenize"],
                    init_path="onethinker.reward.core:_warm_worker",
                )
                try:
                    pool.start()
                except PoolStartError as e:
                    self.pool_disabled = str(e)
                    log.warning("reward worker pool unavailable (%s); scoring in-process, without time limits", e)
                    return None
                self._pool = pool
            return self._pool

    def start(self) -> "RewardScorer":
        """Start the worker processes now rather than on the first batch."""
        self._get_pool()
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> "RewardScorer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- scoring ------------------------------------------------------------------------------
    def score_one(self, response: str, ground_truth: str, problem_type: str, data_type: str) -> RewardResult:
        return self.score_batch(
            [{"response": response, "ground_truth": ground_truth, "problem_type": problem_type, "data_type": data_type}]
        )[0]

    def score_batch(self, items: Sequence[Mapping[str, Any]]) -> list[RewardResult]:
        """Results in input order. Items: dicts with response, ground_truth, problem_type, data_type
        (plus problem_id and problem, which the model judge uses)."""
        t0 = time.perf_counter()
        for i, item in enumerate(items):
            _check_item(i, item)
        n = len(items)
        stats = BatchStats(items=n)
        judge_open = self._judge is not None
        args = [(it["response"], it["ground_truth"], it["problem_type"], it["data_type"], judge_open) for it in items]

        pool = self._get_pool()
        parts: list[Parts]
        if pool is None:
            parts = [self._local(*a) for a in args]
        else:
            order = sorted(range(n), key=lambda i: _dispatch_key(items[i]))
            outcomes = pool.map([args[i] for i in order], chunk_size=_POOL_CHUNK)
            parts = [None] * n  # type: ignore[list-item]
            for i, outcome in zip(order, outcomes):
                if outcome.status == OK:
                    parts[i] = outcome.value
                else:
                    stats.timeouts += outcome.status == TIMEOUT
                    stats.errors += outcome.status != TIMEOUT
                    parts[i] = self._local.without_accuracy(*args[i])
            stats.pooled = n
        stats.computed = sum(p[3] for p in parts)

        accuracy = [p[1] for p in parts]
        judged = [i for i, p in enumerate(parts) if p[4] is not None]
        if judged:
            queue = [
                JudgeItem(
                    prompt=str(items[i].get("problem") or ""),
                    reference=parts[i][4][1],  # type: ignore[index]
                    output=parts[i][4][0],  # type: ignore[index]
                    group=items[i].get("problem_id"),
                )
                for i in judged
            ]
            assert self._judge is not None
            before = self._judge.stats.fallback_items
            for i, value in zip(judged, self._judge.score(queue)):
                accuracy[i] = value
            stats.judged = len(judged)
            stats.judge_fallback = self._judge.stats.fallback_items - before

        w = self.config.format_weight
        results = [_combine(p[0], accuracy[i] or 0.0, p[2], w) for i, p in enumerate(parts)]
        stats.seconds = time.perf_counter() - t0
        self.last_stats = stats
        self.totals.add(stats)
        return results


_DEFAULT_SCORERS: dict[str, RewardScorer] = {}


def score_batch(
    items: Sequence[Mapping[str, Any]],
    *,
    format_weight: float = DEFAULT_FORMAT_WEIGHT,
    config: RewardConfig | None = None,
) -> list[RewardResult]:
    """Score many rollouts (see ``RewardScorer.score_batch``), with a process-wide scorer per config."""
    if config is None:
        config = RewardConfig(format_weight=format_weight)
    key = repr(config)
    scorer = _DEFAULT_SCORERS.get(key)
    if scorer is None:
        scorer = _DEFAULT_SCORERS[key] = RewardScorer(config)
    return scorer.score_batch(items)


def mean_by(results: Iterable[RewardResult], keys: Iterable[str]) -> dict[str, dict[str, float]]:
    """Per key: count and the mean of each part (for tables and logs), keys in first-seen order."""
    parts = {p: (lambda pair, p=p: getattr(pair[0], p)) for p in ("overall", "format", "accuracy", "structure")}
    return task_means(zip(results, keys), parts, key=lambda pair: pair[1], count="count", sort=False)
