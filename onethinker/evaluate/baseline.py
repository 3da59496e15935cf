"""The majority baseline: one constant answer per task key, chosen on training records.

``majority_answers(train_records)`` picks, for every task key (``onethinker.tasks``: "multiple choice",
"segmentation/image", ...), the single answer that earns the best mean training reward on that key's
training records when it is given, well formatted, to every one of them. ``score_constant(records,
answers)`` gives that answer to other records (a probe's items, a held-out set) and scores it with the
training reward, one row per record. A model that does not beat these numbers has learned nothing
beyond the label distribution.

The reward is ``onethinker.rewards`` (rule-based: ROUGE for open-ended answers, never a model judge,
whose per-prompt normalisation means nothing for a constant answer). The constant response is
``<think></think><answer>ANSWER</answer>``, so the format score is 1 and the structure score is what
the answer's form earns.

Candidates per task key:

- answers compared as text or by exact value (multiple choice, numerical, math, OCR, open-ended): the
  distinct training answers, most frequent first, as many as fit a budget of (candidate, distinct truth)
  comparisons (``pair_budget``; the symbolic-check tasks get a tenth of it). Each candidate is scored
  exactly with the batch scorer, once per distinct truth. For exact-match tasks the best constant is
  the most frequent answer, which always makes the cut.
- geometric and numeric answers (regression, temporal / spatial / spatial-temporal grounding,
  tracking, segmentation): at most ``max_candidates`` distinct training answers (a seeded subsample when
  there are more) plus their per-coordinate median (per key, for the per-second box tables). They are
  ranked by a vectorised copy of the reward (numpy, one candidate against all records at a time: a
  second for 2,000 records and 257 candidates); the best ``verify_top`` are then rescored exactly with
  the batch scorer and the best exact mean wins, so the reported numbers always come from the reward
  itself.

Ties go to the earlier candidate (more frequent, or earlier in the subsample).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..data.records import EVAL, kind_of
from ..tasks.response import truth_answer
from ..reward import DEFAULT_FORMAT_WEIGHT, RewardConfig, RewardScorer
from ..tasks import TASKS, Task, find_task, task_key, task_of_key

__all__ = [
    "CONSTANT_RESPONSE",
    "VECTORISED",
    "constant_response",
    "truth_of",
    "majority_answers",
    "majority_baseline",
    "score_constant",
    "candidate_answers",
    "vector_rewards",
]

CONSTANT_RESPONSE = "<think></think><answer>{answer}</answer>"

#: task keys whose candidates are ranked with the vectorised reward (the others are scored exactly):
#: the tasks that declare one (``Task.vectorised``)
VECTORISED: tuple[str, ...] = tuple(k for k, t in TASKS.items() if t.vectorised)


def constant_response(answer: str) -> str:
    return CONSTANT_RESPONSE.format(answer=answer)


def truth_of(record: Mapping[str, Any]) -> Any:
    """The ground truth of an evaluation record (``solution``) or an RL record (``answer``)."""
    return record.get("solution") if kind_of(dict(record)) == EVAL else record.get("answer")


def _new_scorer(format_weight: float) -> RewardScorer:
    # in-process: the candidates are training answers, not model output, so no check can hang
    return RewardScorer(RewardConfig(format_weight=format_weight, workers=0))


@dataclass
class _Group:
    """The training records of one task key."""

    key: str
    problem_type: str
    data_type: str
    truths: list[str]  # raw ground truths, one per record (str() of non-strings)

    @property
    def inner(self) -> list[str]:
        return [truth_answer(t) for t in self.truths]


def _groups(records: Iterable[Mapping[str, Any]]) -> dict[str, _Group]:
    out: dict[str, _Group] = {}
    for rec in records:
        ptype, dtype = rec.get("problem_type"), rec.get("data_type")
        if find_task(ptype, dtype) is None:
            continue
        truth = truth_of(rec)
        if not isinstance(truth, str):
            continue
        key = task_key(ptype, dtype)
        g = out.get(key)
        if g is None:
            g = out[key] = _Group(key, str(ptype), str(dtype), [])
        g.truths.append(truth)
    return out


# ---------------------------------------------------------------------------------------------
# exact scoring (the batch scorer, once per distinct truth)
# ---------------------------------------------------------------------------------------------
def _exact_means(scorer: RewardScorer, group: _Group, candidates: Sequence[str]) -> list[tuple[float, float]]:
    """(mean reward, mean accuracy) of each candidate over the group's records."""
    counts = Counter(group.truths)
    truths = list(counts)
    weights = np.array([counts[t] for t in truths], dtype=np.float64)
    items = [
        {"response": constant_response(c), "ground_truth": t, "problem_type": group.problem_type,
         "data_type": group.data_type}
        for c in candidates
        for t in truths
    ]
    results = scorer.score_batch(items) if items else []
    out = []
    total = weights.sum()
    for i in range(len(candidates)):
        chunk = results[i * len(truths) : (i + 1) * len(truths)]
        reward = float(np.dot(weights, [r.overall for r in chunk]) / total)
        acc = float(np.dot(weights, [r.accuracy for r in chunk]) / total)
        out.append((reward, acc))
    return out


# ---------------------------------------------------------------------------------------------
# vectorised reward for the geometric and numeric tasks (ranking only; spec/rewards.md section 4-5):
# each such task declares it (Task.vectorised; onethinker.tasks.vectorised)
# ---------------------------------------------------------------------------------------------
def _vectorised_task(key: str) -> Task | None:
    task = task_of_key(key)
    return task if task is not None and task.vectorised else None


def vector_rewards(key: str, candidates: Sequence[str], truths: Sequence[str], *,
                   format_weight: float = DEFAULT_FORMAT_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """Rewards and accuracies, (C, N) arrays, of each candidate answer (given as
    ``<think></think><answer>candidate</answer>``) against each truth's answer text, for a task key in
    ``VECTORISED``. Equal to the batch scorer's (tests check it); used to rank candidates quickly."""
    task = _vectorised_task(key)
    if task is None:
        raise ValueError(f"no vectorised reward for task {key!r}; vectorised: {', '.join(VECTORISED)}")
    truth = task.vector_parse(list(truths))
    # a candidate's table keys that no truth uses can score nothing; its structure check reads them all
    cand = task.vector_parse(list(candidates), getattr(truth, "table_keys", None))
    rewards = np.zeros((len(candidates), len(truths)))
    accs = np.zeros_like(rewards)
    for i in range(len(candidates)):
        acc, structure = task.vector_parts(cand, i, truth)
        acc = np.clip(np.nan_to_num(acc, nan=0.0), 0.0, 1.0)
        accs[i] = acc
        rewards[i] = (1.0 - format_weight) * acc + format_weight * 1.0 + structure
    return rewards, accs


# ---------------------------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------------------------
def candidate_answers(key: str, truths: Sequence[str], *, max_candidates: int = 256, seed: int = 0) -> list[str]:
    """The candidate constant answers for a task key, from its training answers (answer texts, not
    wrapped): see the module docstring."""
    counts = Counter(t.strip() for t in truths)
    ranked = [a for a, _ in counts.most_common() if a]  # most frequent first; ties keep first-seen order
    task = _vectorised_task(key)
    if task is None:
        return ranked[:max_candidates]
    if len(ranked) > max_candidates:
        ranked = random.Random(seed).sample(ranked, max_candidates)
    median = task.median_answer(list(truths))  # per-coordinate, in the task's answer form
    if median is not None and median not in ranked:
        ranked.append(median)
    return ranked


@dataclass
class TaskBaseline:
    """The chosen constant for one task key and its training means."""

    key: str
    answer: str
    reward: float
    accuracy: float
    candidates: int  # candidates compared (ranked with the vectorised reward, or scored exactly)
    records: int


def majority_baseline(
    train_records: Iterable[Mapping[str, Any]],
    *,
    max_candidates: int = 256,
    seed: int = 0,
    format_weight: float = DEFAULT_FORMAT_WEIGHT,
    pair_budget: int = 20_000,
    verify_top: int = 3,
    scorer: RewardScorer | None = None,
) -> dict[str, TaskBaseline]:
    """Like ``majority_answers``, with each choice's mean training reward and accuracy and how many
    candidates were tried."""
    own = scorer is None
    scorer = scorer or _new_scorer(format_weight)
    w = scorer.config.format_weight
    out: dict[str, TaskBaseline] = {}
    try:
        for key, group in sorted(_groups(train_records).items()):
            inner = group.inner
            cands = candidate_answers(key, inner, max_candidates=max_candidates, seed=seed)
            if not cands:
                continue
            vectorised = _vectorised_task(key) is not None
            if vectorised:
                rewards, _ = vector_rewards(key, cands, inner, format_weight=w)
                order = np.argsort(-rewards.mean(1), kind="stable")[: max(1, verify_top)]
                finalists = [cands[i] for i in order]
            else:
                budget = pair_budget // 10 if TASKS[key].expensive else pair_budget
                distinct = max(1, len(set(group.truths)))
                finalists = cands[: max(1, min(len(cands), budget // distinct))]
            means = _exact_means(scorer, group, finalists)
            top = max(m[0] for m in means)
            best = next(i for i, m in enumerate(means) if m[0] >= top - 1e-12)  # ties: the earlier candidate
            tried = len(cands) if vectorised else len(finalists)
            out[key] = TaskBaseline(key, finalists[best], means[best][0], means[best][1], tried, len(group.truths))
    finally:
        if own:
            scorer.close()
    return out


def majority_answers(train_records: Iterable[Mapping[str, Any]], **options: Any) -> dict[str, str]:
    """``{task_key: answer_text}``: per task key, the constant answer with the best mean training reward
    on ``train_records`` (RL records with ``answer`` or evaluation records with ``solution``). Options:
    ``max_candidates`` (256), ``seed`` (0), ``format_weight`` (0.1), ``pair_budget``, ``verify_top``,
    ``scorer`` (a ``RewardScorer`` to reuse)."""
    return {k: b.answer for k, b in majority_baseline(train_records, **options).items()}


def score_constant(
    records: Sequence[Mapping[str, Any]],
    answers: Mapping[str, str],
    *,
    format_weight: float = DEFAULT_FORMAT_WEIGHT,
    scorer: RewardScorer | None = None,
) -> list[dict[str, Any]]:
    """Give each record its task key's constant answer and score it: one row per record, in order,
    ``{"index", "problem_id", "task", "answer", "reward", "accuracy", "format", "structure"}``.
    A record whose task key has no answer gets ``answer`` None and None scores."""
    own = scorer is None
    scorer = scorer or _new_scorer(format_weight)
    rows: list[dict[str, Any]] = []
    items, slots = [], []
    for i, rec in enumerate(records):
        key = task_key(rec.get("problem_type"), rec.get("data_type"))
        answer = answers.get(key)
        rows.append({"index": i, "problem_id": rec.get("problem_id"), "task": key, "answer": answer,
                     "reward": None, "accuracy": None, "format": None, "structure": None})
        if answer is not None:
            truth = truth_of(rec)
            items.append({"response": constant_response(answer), "ground_truth": truth if isinstance(truth, str) else "",
                          "problem_type": rec.get("problem_type"), "data_type": rec.get("data_type")})
            slots.append(i)
    try:
        results = scorer.score_batch(items) if items else []
    finally:
        if own:
            scorer.close()
    for i, r in zip(slots, results):
        rows[i].update(reward=r.overall, accuracy=r.accuracy, format=r.format, structure=r.structure)
    return rows


def write_baseline_results(train_records: Iterable[Mapping[str, Any]], bench: str | Path, out_dir: str | Path, *,
                           answers: Mapping[str, str] | None = None, format_weight: float = DEFAULT_FORMAT_WEIGHT,
                           **options: Any) -> list[dict[str, Any]]:
    """The majority baseline of benchmark file ``bench`` written as an evaluation output: ``OUT/<bench
    stem>.jsonl`` with one result row per item that has a baseline answer (``problem_id``, ``task``,
    ``problem_type``, ``data_type``, ``prediction``, ``reward`` {overall, format, accuracy, structure}),
    the layout ``onethinker eval`` writes, so ``onethinker eval compare`` pairs it with a model's results.
    ``answers``: the constants (default: :func:`majority_answers` of ``train_records``). Returns the rows."""
    import json
    from pathlib import Path

    from ..data.records import read_records

    bench = Path(bench)
    records = list(read_records(bench))
    if answers is None:
        answers = majority_answers(train_records, format_weight=format_weight, **options)
    rows = []
    for rec, r in zip(records, score_constant(records, answers, format_weight=format_weight)):
        if r["answer"] is None:
            continue
        rows.append({"problem_id": rec.get("problem_id"), "task": r["task"], "problem_type": rec.get("problem_type"),
                     "data_type": rec.get("data_type"), "prediction": r["answer"],
                     "reward": {"overall": r["reward"], "format": r["format"], "accuracy": r["accuracy"],
                                "structure": r["structure"]}})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (bench.stem + ".jsonl.tmp")
    tmp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    tmp.replace(out / (bench.stem + ".jsonl"))
    (out / "baseline.json").write_text(json.dumps({"answers": dict(answers), "bench": str(bench)}, indent=2),
                                       encoding="utf-8")
    return rows
