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

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..data.records import EVAL, kind_of
from ..tasks.geometry import REWARD_MIN_UNION, as_number, box_iou_np, is_json_number, number_list, point_list, span_iou_np
from ..tasks.response import truth_answer
from ..reward import DEFAULT_FORMAT_WEIGHT, RewardConfig, RewardScorer
from ..tasks import TASKS, find_task, task_key
from ..tasks.base import clean_number, dumps, json_object

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

#: task keys whose candidates are ranked with the vectorised reward (the others are scored exactly)
VECTORISED = (
    "regression",
    "temporal grounding",
    "spatial grounding",
    "spatial-temporal grounding",
    "tracking",
    "segmentation/image",
    "segmentation/video",
)


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
# vectorised reward for the geometric and numeric tasks (ranking only; spec/rewards.md section 4-5)
# ---------------------------------------------------------------------------------------------
_MRA_TOL = np.float32(1.0) - np.array([0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95], dtype=np.float32)
_PERMS = ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
_NAN4 = [math.nan] * 4


def _num(text: str) -> float:
    x = as_number(text.replace(",", "")) if isinstance(text, str) else None
    return math.nan if x is None else x


def _box(value: Any) -> list[float]:
    b = number_list(value, 4)
    return _NAN4 if b is None else b


def _span(value: Any) -> list[float]:
    s = number_list(value, 2)
    return [math.nan, math.nan] if s is None else s


class _Parsed:
    """Answers of one task parsed into arrays (NaN / masks where the reward would score 0)."""

    def __init__(self, key: str, texts: Sequence[str], table_keys: Sequence[str] | None = None) -> None:
        self.key = key
        self.n = n = len(texts)
        objs = [json_object(t) for t in texts] if key != "regression" else [None] * n
        if key == "regression":
            self.value = np.array([_num(t) for t in texts], dtype=np.float64)
        if key in ("temporal grounding", "spatial-temporal grounding"):
            self.span = np.array([_span(o.get("time")) if o else [math.nan] * 2 for o in objs], dtype=np.float64).reshape(n, 2)
        if key in ("spatial grounding", "segmentation/image", "segmentation/video"):
            self.box = np.array([_box(o.get("boxes")) if o else _NAN4 for o in objs], dtype=np.float64).reshape(n, 4)
        if key.startswith("segmentation/"):
            pos = [point_list(o.get("positive_points"), 3) if o else None for o in objs]
            neg = [point_list(o.get("negative_points"), 3) if o else None for o in objs]
            self.points_ok = np.array([p is not None and q is not None for p, q in zip(pos, neg)], dtype=bool)
            blank = [[math.nan, math.nan]] * 3
            self.pos = np.array([p or blank for p in pos], dtype=np.float64).reshape(n, 3, 2)
            self.neg = np.array([q or blank for q in neg], dtype=np.float64).reshape(n, 3, 2)
            times = [o.get("time") if o else None for o in objs]
            self.time_ok = np.array([is_json_number(t) for t in times], dtype=bool)
            self.time = np.array([float(t) if ok else math.nan for t, ok in zip(times, self.time_ok)], dtype=np.float64)
        if key in ("tracking", "spatial-temporal grounding"):
            tables = [o.get("boxes") if o else None for o in objs]
            self.table_ok = np.array([isinstance(t, dict) for t in tables], dtype=bool)
            if table_keys is None:
                table_keys = list(dict.fromkeys(k for t in tables if isinstance(t, dict) for k in t))
            self.table_keys = list(table_keys)
            index = {k: i for i, k in enumerate(self.table_keys)}
            k = len(self.table_keys)
            self.table = np.full((n, k, 4), math.nan)
            self.present = np.zeros((n, k), dtype=bool)
            for row, t in enumerate(tables):
                if not isinstance(t, dict):
                    continue
                for name, value in t.items():
                    j = index.get(name)
                    if j is None:
                        continue
                    self.present[row, j] = True
                    self.table[row, j] = _box(value)
            # structure: every value of the table is a list of 4 numbers (an empty table passes)
            self.all_boxes = np.array(
                [isinstance(t, dict) and all(number_list(v, 4) is not None for v in t.values()) for t in tables], dtype=bool
            )
            if key == "spatial-temporal grounding":
                self.time_list = np.array([isinstance(o.get("time"), list) and len(o["time"]) == 2 if o else False
                                           for o in objs], dtype=bool)


def _point_sim(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Point-set similarity of one (3, 2) candidate against (N, 3, 2) truths (best matching, Gaussian)."""
    d = np.sqrt(((pred[None, :, None, :] - truth[:, None, :, :]) ** 2).sum(-1))  # (N, pred i, truth j)
    best = np.min([d[:, p[0], 0] + d[:, p[1], 1] + d[:, p[2], 2] for p in _PERMS], axis=0) / 3.0
    sim = np.exp(-(best**2) / (2 * 50.0**2))
    return np.nan_to_num(np.clip(sim, 0.0, 1.0), nan=0.0)


def _overlap(cand_present: np.ndarray, truth: _Parsed) -> np.ndarray:
    """0.25 * |candidate keys & truth keys| / |truth keys| (0 when the truth's table is empty or absent)."""
    n_truth = truth.present.sum(1)
    shared = (truth.present & cand_present[None, :]).sum(1)
    frac = np.where(n_truth > 0, shared / np.maximum(n_truth, 1), 0.0)
    return np.where(truth.table_ok, 0.25 * np.clip(frac, 0.0, 1.0), 0.0)


def _vector_parts(key: str, cand: _Parsed, i: int, truth: _Parsed) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, structure) of candidate ``i`` against every truth."""
    n = truth.n
    half = np.full(n, 0.5)
    if key == "regression":
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            p, t = np.float32(cand.value[i]), truth.value.astype(np.float32)
            rel = np.abs(p - t) / (np.abs(t) + np.float32(1e-8))
            hits = (rel[:, None] < _MRA_TOL[None, :]).sum(1)
        acc = (hits.astype(np.float32) / np.float32(10)).astype(np.float64)
        return acc, half
    if key == "temporal grounding":
        acc = span_iou_np(np.broadcast_to(cand.span[i], truth.span.shape), truth.span, min_union=REWARD_MIN_UNION)
        return acc, half if np.isfinite(cand.span[i]).all() else np.zeros(n)
    if key == "spatial grounding":
        acc = box_iou_np(cand.box[i][None, :], truth.box, min_union=REWARD_MIN_UNION)
        return acc, half if np.isfinite(cand.box[i]).all() else np.zeros(n)
    if key.startswith("segmentation/"):
        iou = box_iou_np(cand.box[i][None, :], truth.box, min_union=REWARD_MIN_UNION)
        pos, neg = _point_sim(cand.pos[i], truth.pos), _point_sim(cand.neg[i], truth.neg)
        ok = truth.points_ok & cand.points_ok[i]
        if key == "segmentation/image":
            acc = np.where(ok, 0.5 * iou + 0.25 * pos + 0.25 * neg, 0.0)
            structure_ok = cand.points_ok[i] and np.isfinite(cand.box[i]).all()
        else:
            ok = ok & truth.time_ok & cand.time_ok[i]
            tsim = np.nan_to_num(np.exp(-np.abs(cand.time[i] - truth.time) / 2.0), nan=0.0)
            acc = np.where(ok, 0.3 * iou + 0.3 * tsim + 0.2 * pos + 0.2 * neg, 0.0)
            structure_ok = cand.points_ok[i] and cand.time_ok[i] and np.isfinite(cand.box[i]).all()
        return acc, half if structure_ok else np.zeros(n)
    # tables of per-second boxes
    iou = box_iou_np(cand.table[i][None, :, :], truth.table, min_union=REWARD_MIN_UNION)  # (N, K)
    both_tables = truth.table_ok & cand.table_ok[i]
    overlap = _overlap(cand.present[i], truth) if cand.table_ok[i] else np.zeros(n)
    if key == "tracking":
        n_truth = truth.present.sum(1)
        acc = np.where(both_tables & (n_truth > 0), (iou * truth.present).sum(1) / np.maximum(n_truth, 1), 0.0)
        structure = (0.25 if cand.all_boxes[i] else 0.0) + overlap
        return acc, structure
    # spatial-temporal grounding
    tiou = span_iou_np(np.broadcast_to(cand.span[i], truth.span.shape), truth.span, min_union=REWARD_MIN_UNION)
    common = truth.present & cand.present[i][None, :]
    n_common = common.sum(1)
    miou = np.where(both_tables & (n_common > 0), (iou * common).sum(1) / np.maximum(n_common, 1), 0.0)
    acc = 0.5 * tiou + 0.5 * miou
    structure = (0.25 if (cand.time_list[i] and cand.all_boxes[i]) else 0.0) + overlap
    return acc, structure


def vector_rewards(key: str, candidates: Sequence[str], truths: Sequence[str], *,
                   format_weight: float = DEFAULT_FORMAT_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """Rewards and accuracies, (C, N) arrays, of each candidate answer (given as
    ``<think></think><answer>candidate</answer>``) against each truth's answer text, for a task key in
    ``VECTORISED``. Equal to the batch scorer's (tests check it); used to rank candidates quickly."""
    if key not in VECTORISED:
        raise ValueError(f"no vectorised reward for task {key!r}; vectorised: {', '.join(VECTORISED)}")
    truth = _Parsed(key, list(truths))
    # a candidate's table keys that no truth uses can score nothing; its structure check reads them all
    cand = _Parsed(key, list(candidates), getattr(truth, "table_keys", None))
    rewards = np.zeros((len(candidates), len(truths)))
    accs = np.zeros_like(rewards)
    for i in range(len(candidates)):
        acc, structure = _vector_parts(key, cand, i, truth)
        acc = np.clip(np.nan_to_num(acc, nan=0.0), 0.0, 1.0)
        accs[i] = acc
        rewards[i] = (1.0 - format_weight) * acc + format_weight * 1.0 + structure
    return rewards, accs


# ---------------------------------------------------------------------------------------------
# candidates
# ---------------------------------------------------------------------------------------------
def _median_answer(key: str, texts: Sequence[str]) -> str | None:
    """The per-coordinate median of the training answers, written in the task's answer form."""
    p = _Parsed(key, texts)

    def med(a: np.ndarray) -> Any:
        with np.errstate(all="ignore"):
            return np.nanmedian(a, axis=0) if np.isfinite(a).any() else None

    def num(x: float) -> int | float:
        return clean_number(float(x), 3)

    task = TASKS[key]
    if key == "regression":
        v = med(p.value)
        return None if v is None else task.format_answer(float(v))
    if key == "temporal grounding":
        v = med(p.span)
        return None if v is None or not np.isfinite(v).all() else task.format_answer(tuple(map(float, v)))
    if key == "spatial grounding":
        v = med(p.box)
        return None if v is None or not np.isfinite(v).all() else task.format_answer(tuple(map(float, v)))
    if key.startswith("segmentation/"):
        ok = p.points_ok & np.isfinite(p.box).all(1)
        if key == "segmentation/video":
            ok &= p.time_ok
        if not ok.any():
            return None
        out: dict[str, Any] = {}
        if key == "segmentation/video":
            out["time"] = clean_number(float(np.median(p.time[ok])), 2)
        out["boxes"] = [num(v) for v in np.median(p.box[ok], axis=0)]
        out["positive_points"] = [[num(v) for v in pt] for pt in np.median(p.pos[ok], axis=0)]
        out["negative_points"] = [[num(v) for v in pt] for pt in np.median(p.neg[ok], axis=0)]
        return dumps(out)
    # per-second box tables: per key, the median over the answers that have a valid box there
    table: dict[str, list] = {}
    for j, name in enumerate(p.table_keys):
        boxes = p.table[:, j][p.present[:, j] & np.isfinite(p.table[:, j]).all(1)]
        if len(boxes):
            table[name] = [num(v) for v in np.median(boxes, axis=0)]
    if not table:
        return None
    if key == "tracking":
        return dumps({"boxes": table})
    span = med(p.span)
    if span is None or not np.isfinite(span).all():
        return None
    return dumps({"time": [num(span[0]), num(span[1])], "boxes": table})


def candidate_answers(key: str, truths: Sequence[str], *, max_candidates: int = 256, seed: int = 0) -> list[str]:
    """The candidate constant answers for a task key, from its training answers (answer texts, not
    wrapped): see the module docstring."""
    counts = Counter(t.strip() for t in truths)
    ranked = [a for a, _ in counts.most_common() if a]  # most frequent first; ties keep first-seen order
    if key not in VECTORISED:
        return ranked[:max_candidates]
    if len(ranked) > max_candidates:
        ranked = random.Random(seed).sample(ranked, max_candidates)
    median = _median_answer(key, list(truths))
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
            if key in VECTORISED:
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
            tried = len(cands) if key in VECTORISED else len(finalists)
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
