"""Which task keys can RL move? A probe of a model before spending compute on RL.

For every prompt of a data file the model answers once greedily and ``n`` times at the sampling
temperature (through a generation back-end, ``onethinker.generate``); every answer is scored with the
training reward (``onethinker.rewards``). Per task key (``onethinker.tasks``: "multiple choice",
"segmentation/image", ...) and over all prompts:

- ``greedy``: mean reward, accuracy and format score of the greedy answers;
- ``sampled``: the same means over the n samples;
- ``pass_at_k`` (k = n): tasks with discrete answers ("discrete" in ``ANSWER_FORMS``: multiple choice,
  numerical, math; accuracy is 0 or 1) use the unbiased estimator 1 - C(n - c, k) / C(n, k), c = samples
  with accuracy == 1 (with k = n: the share of prompts with at least one right sample). Tasks with a
  graded accuracy (IoU-type, MRA, 1 - WER, ROUGE) report the mean over prompts of the best accuracy
  among the n samples instead;
- ``maj_at_k``: where answers are discrete (multiple choice, numerical, math, OCR), the accuracy of the
  majority answer among the n samples, answers compared after the normalisation the reward applies
  (mathruler's for multiple choice and math, rounding to 2 decimals for numerical, whitespace for OCR);
  ties go to the answer seen first. None (null) for continuous or free-form answers (regression,
  grounding, tracking, segmentation, open-ended), where a vote over exact answers means nothing;
- ``no_signal_frac``: share of prompts whose n samples all get the same reward; GRPO's advantages are 0
  there, so those prompts give no gradient;
- ``majority_baseline``: the constant answer per task key chosen on training records
  (``onethinker.evaluate.baseline``), given to every probed item: its mean reward and accuracy;
- ``distinct_frac``: distinct greedy answers / prompts, answers normalised as for the vote (structured
  answers: their JSON with sorted keys); near 0 means the model says the same thing to every prompt;
- ``filter_kept_frac``: share of prompts whose group of n samples RL's online filter keeps
  (``onethinker.rl.filtering.keep_groups`` with the config's ``filter_low``/``filter_high``/``drop_equal_scores``,
  the trainer's own function): 0 means RL gives the key no gradient of its own;
- ``risks``: what the numbers predict for RL on the key (:func:`risks`): ``"below_constant"`` when the
  samples' mean reward is below the key's majority (constant) answer's, so moving toward the constant is the
  reward-correct move and greedy answers can collapse onto it; ``"no_gradient"`` when no group passes the
  filter; :func:`risk_lines` words them;
- ``cut_frac``: share of the samples that reached ``max_new_tokens`` (counted with the model's tokenizer, within
  ``CUT_SLACK`` tokens of the limit: a sample cut there has no closing tag, so its format and reward are 0);
  None when tokens are not counted with a tokenizer. ``risks`` then has ``"cut"`` when at least ``CUT_RISK`` of
  a key's samples were cut: RL at that length sees a broken answer for the key, whatever the model knows;
- ``mean_tokens``: mean length of the sampled responses: their text re-tokenised with the model's
  tokenizer when the back-end has one (close to, not exactly, the generated count: decoding drops special
  tokens and re-encoding may split differently), else whitespace-separated words
  (``config.token_count`` says which).

Where RL can help: tasks with a low ``no_signal_frac`` (the samples disagree, so there is an advantage
to learn from) and ``pass_at_k`` well above the greedy accuracy (the model can already produce better
answers; RL makes them likelier). A greedy score at or below the majority baseline means the model has
not learned the task yet.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..data.chat import RecordError, record_messages
from ..data.media import MediaError
from ..data.records import SFT, RecordFileError, kind_of, scan_records
from ..generate.base import GenerationRequest, Generator, SamplingConfig
from ..tasks.response import extract_answer, normalize, truth_answer
from ..reward import RewardConfig, RewardResult, RewardScorer
from ..tasks import TASKS, UnknownTaskError, find_task, task_key, task_of_key
from ..tasks.base import default_vote_key
from ..tasks.means import group_by_task
from .baseline import majority_baseline, score_constant, truth_of

__all__ = [
    "ANSWER_FORMS",
    "ProbeConfig",
    "ProbeDataError",
    "PromptStats",
    "answer_key",
    "load_records",
    "majority_index",
    "pass_at_k",
    "probe",
    "prompt_stats",
    "summarize",
    "token_counter",
]

#: How each task's answers are compared, which decides pass@k and maj@k:
#: "discrete"  - one right answer, accuracy 0 or 1: unbiased pass@k, maj@k;
#: "text"      - a transcription, graded accuracy (1 - WER): pass@k = mean best accuracy, maj@k;
#: "free text" - a sentence, graded accuracy (ROUGE): pass@k = mean best accuracy, no maj@k;
#: "continuous"- numbers, spans, boxes, points, graded accuracy: pass@k = mean best accuracy, no maj@k.
ANSWER_FORMS: dict[str, str] = {t.key: t.answer_form for t in TASKS.values()}  # declared by each task
VOTABLE = ("discrete", "text")
SAME_REWARD_TOL = 1e-9
CUT_SLACK = 2  # re-tokenised text can be a token or two shorter than what was generated
CUT_RISK = 0.1  # share of a key's samples cut at max_new_tokens from which the probe warns


class ProbeDataError(ValueError):
    """Records that cannot be probed; the message names file, record index, problem_id and field."""


@dataclass
class ProbeConfig:
    n: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    batch_size: int = 8
    seed: int = 0
    video_fps: float = 2.0
    max_frames: int = 128
    video_max_pixels: int | None = None
    allow_absolute: bool = False
    max_candidates: int = 256  # majority baseline: candidates per continuous task key
    # RL's online filter, for predicting which groups carry signal (the RL config's algorithm.filter_*)
    filter_low: float = 0.01
    filter_high: float = 0.99
    drop_equal_scores: bool = False
    # batches generated at once, each in its own process of one torch thread (onethinker.parallel; the
    # transformers back-end on a CPU); the same outputs as 1
    workers: int = 1

    def __post_init__(self) -> None:
        for name in ("n", "batch_size", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------
def _where(path: Any, index: int, record: Any) -> str:
    pid = record.get("problem_id") if isinstance(record, dict) else None
    return f"{path}: record {index}" + (f" (problem_id {pid!r})" if pid is not None else "")


def check_record(record: dict, index: int, path: Any) -> list[str]:
    """Problems that stop a record from being probed (or used as a training answer); [] when sound."""
    at = _where(path, index, record)
    if kind_of(record) == SFT:
        return [f"{at}: messages: an SFT record has no ground truth to score against; "
                "use RL records (answer) or evaluation records (solution)"]
    field_name = "solution" if "solution" in record else "answer"
    task = find_task(record.get("problem_type"), record.get("data_type"))
    if task is None:
        return [f"{at}: problem_type: {record.get('problem_type')!r} with data_type {record.get('data_type')!r} "
                f"is not a known task (known: {', '.join(TASKS)})"]
    truth = record.get(field_name)
    if not isinstance(truth, str):
        what = "missing" if field_name not in record else f"expected a string, got {type(truth).__name__}"
        return [f"{at}: {field_name}: {what}"]
    parsed = task.parse(truth_answer(truth))
    if not parsed.ok:
        return [f"{at}: {field_name}: does not parse as a {task.key} answer: {parsed.error}"]
    return []


def load_records(path: str | Path, *, limit: int | None = None) -> list[dict]:
    """The records of a JSON / JSONL / parquet file (the first ``limit``), each with a ground truth that
    parses for its task; otherwise ``ProbeDataError`` listing the problems (up to 10)."""
    records, problems = [], []
    try:
        for i, rec, err in scan_records(path):
            if limit is not None and i >= limit:
                break
            if err:
                problems.append(err)
                continue
            problems += check_record(rec, i, path)
            records.append(rec)
    except RecordFileError as e:
        raise ProbeDataError(str(e)) from None
    if problems:
        _raise(problems, f"{path}: {len(problems)} bad records")
    if not records:
        raise ProbeDataError(f"{path}: no records")
    return records


def _raise(problems: list[str], head: str) -> None:
    more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
    raise ProbeDataError(head + ":\n  " + "\n  ".join(problems[:10]) + more)


def build_requests(records: Sequence[dict], path: Any, media_root: str | Path | None, config: ProbeConfig
                   ) -> list[GenerationRequest]:
    """Chat prompts through ``record_messages``; missing media or bad placeholders are located errors."""
    video_options: dict[str, Any] = {"fps": config.video_fps, "max_frames": config.max_frames}
    if config.video_max_pixels:
        video_options["max_pixels"] = config.video_max_pixels
    requests, problems = [], []
    for i, rec in enumerate(records):
        at = _where(path, i, rec)
        media_field = "path" if "solution" in rec else "images/videos"
        try:
            msgs = record_messages(rec, media_root, allow_absolute=config.allow_absolute, video_options=video_options)
        except RecordError as e:
            problems.append(f"{at}: {e}" if str(e).startswith(("problem", "messages")) else f"{at}: problem: {e}")
            continue
        except (MediaError, UnknownTaskError) as e:
            problems.append(f"{at}: {media_field}: {e}")
            continue
        for m in msgs:
            for item in m["content"] if isinstance(m.get("content"), list) else []:
                kind = item.get("type")
                if kind in ("image", "video") and not Path(item[kind]).is_file():
                    problems.append(f"{at}: {media_field}: {kind} not found: {item[kind]}")
        requests.append(GenerationRequest(msgs, rec))
    if problems:
        _raise(problems, f"{path}: {len(problems)} records cannot be prompted")
    return requests


# ---------------------------------------------------------------------------------------------
# answers, votes, pass@k
# ---------------------------------------------------------------------------------------------
def accuracy_text(response: str | None) -> str:
    """What the reward's accuracy reads: the answer block, or the whole normalised response when there
    is none (spec/rewards.md section 3)."""
    if not isinstance(response, str):
        return ""
    text = normalize(response)
    return extract_answer(text) or text.strip()


def answer_key(key: str, text: str) -> str:
    """An answer text normalised for votes and distinct counts: answers with the same key score the same.
    The task of ``key`` says how (``Task.vote_key``: the normalisation its reward applies)."""
    task = task_of_key(key)
    return task.vote_key(text) if task is not None else default_vote_key(None, text)


def majority_index(keys: Sequence[str]) -> int:
    """Index of the first sample carrying the most frequent key (ties: the key seen first)."""
    if not keys:
        raise ValueError("no samples")
    top = Counter(keys).most_common(1)[0][0]  # most_common keeps first-seen order among equal counts
    return list(keys).index(top)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n - c, k) / C(n, k); n samples, c right."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


@dataclass
class PromptStats:
    """Everything the probe keeps about one prompt."""

    index: int
    problem_id: Any
    task: str
    greedy: dict[str, float]  # reward, accuracy, format
    greedy_key: str
    sampled: list[dict[str, float]]  # per sample: reward, accuracy, format
    pass_value: float
    maj_value: float | None
    no_signal: bool
    tokens: list[int]
    filter_kept: bool = True  # RL's online filter keeps this prompt's group of samples
    cut: int | None = None  # samples that reached max_new_tokens (None: tokens not counted with a tokenizer)
    baseline: dict[str, Any] | None = None  # answer, reward, accuracy (None: no training answer)
    greedy_output: str = ""
    sample_outputs: list[str] = field(default_factory=list)
    error: str | None = None


def _parts(r: RewardResult) -> dict[str, float]:
    return {"reward": r.overall, "accuracy": r.accuracy, "format": r.format}


def prompt_stats(index: int, record: Mapping[str, Any], greedy_output: str, greedy: RewardResult,
                 sample_outputs: Sequence[str], samples: Sequence[RewardResult], tokens: Sequence[int], *,
                 filter_low: float = 0.01, filter_high: float = 0.99, drop_equal_scores: bool = False) -> PromptStats:
    """The per-prompt numbers from its outputs and their rewards (a pure function)."""
    from ..rl.filtering import keep_groups

    key = task_key(record.get("problem_type"), record.get("data_type"))
    form = ANSWER_FORMS.get(key, "continuous")
    n = len(samples)
    accs = [r.accuracy for r in samples]
    if n == 0:
        pass_value, maj, no_signal, kept = 0.0, None, True, False
    else:
        if form == "discrete":
            pass_value = pass_at_k(n, sum(a == 1.0 for a in accs), n)
        else:
            pass_value = max(accs)
        maj = None
        if form in VOTABLE:
            keys = [answer_key(key, accuracy_text(o)) for o in sample_outputs]
            maj = accs[majority_index(keys)]
        rewards = [r.overall for r in samples]
        no_signal = max(rewards) - min(rewards) <= SAME_REWARD_TOL
        kept = bool(keep_groups([0] * n, accs, rewards, low=filter_low, high=filter_high,
                                drop_equal_scores=drop_equal_scores))
    return PromptStats(
        index=index, problem_id=record.get("problem_id"), task=key, greedy=_parts(greedy),
        greedy_key=answer_key(key, accuracy_text(greedy_output)), sampled=[_parts(r) for r in samples],
        pass_value=float(pass_value), maj_value=maj, no_signal=no_signal, tokens=list(tokens), filter_kept=kept,
        greedy_output=greedy_output, sample_outputs=list(sample_outputs),
    )


# ---------------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------------
def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return float(sum(values) / len(values)) if values else None


def _block(rows: Sequence[PromptStats], *, with_answer: bool) -> dict[str, Any]:
    samples = [s for r in rows for s in r.sampled]
    maj = [r.maj_value for r in rows if r.maj_value is not None]
    based = [r.baseline for r in rows if r.baseline is not None and r.baseline.get("reward") is not None]
    baseline: dict[str, Any] = {"reward": _mean(b["reward"] for b in based), "accuracy": _mean(b["accuracy"] for b in based)}
    if with_answer:
        answers = {b["answer"] for b in based}
        baseline = {"answer": answers.pop() if len(answers) == 1 else None, **baseline}
    tokens = [t for r in rows for t in r.tokens]
    return {
        "prompts": len(rows),
        "greedy": {p: _mean(r.greedy[p] for r in rows) for p in ("reward", "accuracy", "format")},
        "sampled": {p: _mean(s[p] for s in samples) for p in ("reward", "accuracy", "format")},
        "pass_at_k": _mean(r.pass_value for r in rows),
        "maj_at_k": _mean(maj) if maj else None,
        "no_signal_frac": _mean(float(r.no_signal) for r in rows),
        "filter_kept_frac": _mean(float(r.filter_kept) for r in rows),
        "majority_baseline": baseline,
        "distinct_frac": len({(r.task, r.greedy_key) for r in rows}) / len(rows) if rows else None,
        "cut_frac": (sum(r.cut for r in rows) / max(1, sum(len(r.sampled) for r in rows))
                     if rows and all(r.cut is not None for r in rows) else None),
        "mean_tokens": _mean(tokens),
    }


def risks(block: Mapping[str, Any]) -> list[str]:
    """What a task key's probe block predicts for RL: ``"below_constant"`` (samples at the rollout temperature
    score below the key's constant answer: RL's reward-correct move is toward the constant, and greedy answers
    can slide onto it), ``"no_gradient"`` (no group passes the online filter: the key trains only through
    the others) and ``"cut"`` (at least ``CUT_RISK`` of the samples reached ``max_new_tokens``: their answers
    are cut off and score 0 whatever the model knows)."""
    out = []
    sampled = (block.get("sampled") or {}).get("reward")
    constant = (block.get("majority_baseline") or {}).get("reward")
    if sampled is not None and constant is not None and sampled < constant:
        out.append("below_constant")
    if block.get("prompts") and block.get("filter_kept_frac") == 0:
        out.append("no_gradient")
    if (block.get("cut_frac") or 0.0) >= CUT_RISK:
        out.append("cut")
    return out


def risk_lines(result: Mapping[str, Any], keys: Sequence[str] | None = None) -> list[str]:
    """One warning line per task key (of ``keys``, default all) with a risk, in words and figures (the
    configuration's ``max_new_tokens`` named where ``result`` has it)."""
    limit = (result.get("config") or {}).get("max_new_tokens")
    lines = []
    for key, block in result.get("tasks", {}).items():
        if keys is not None and key not in keys:
            continue
        for risk in block.get("risks", []):
            if risk == "below_constant":
                lines.append(f"{key}: samples score {block['sampled']['reward']:.3f} in reward, below the constant "
                             f"answer's {block['majority_baseline']['reward']:.3f}: RL may slide greedy answers "
                             f"toward the constant")
            elif risk == "no_gradient":
                lines.append(f"{key}: none of its {block['prompts']} groups passes RL's filter (each group's mean "
                             f"accuracy outside the filter's bounds, or its rewards all equal): RL gives this key no "
                             f"gradient of its own")
            elif risk == "cut":
                at = f" ({limit} tokens)" if limit else ""
                lines.append(f"{key}: {block['cut_frac']:.0%} of the samples reached max_new_tokens{at} and were cut "
                             f"off (no closing tag, reward 0): raise rollout.max_new_tokens above this key's answers")
    return lines


def summarize(rows: Sequence[PromptStats]) -> dict[str, Any]:
    """``{"tasks": {key: block}, "all": block}`` (the all block has no baseline answer); every task block
    carries its :func:`risks`."""
    tasks = {k: _block(v, with_answer=True) for k, v in group_by_task(rows, key=lambda r: r.task).items()}
    for block in tasks.values():
        block["risks"] = risks(block)
    return {"tasks": tasks, "all": _block(rows, with_answer=False)}


# ---------------------------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------------------------
def token_counter(generator: Generator, model: str | None = None) -> tuple[str, Callable[[str], int]]:
    """(what is counted, counter): the back-end's tokenizer (transformers, vLLM), else the tokenizer in a
    local ``model`` folder, else whitespace-separated words."""
    tok = getattr(generator, "tokenizer", None)
    if tok is None:
        proc = getattr(generator, "processor", None)
        tok = getattr(proc, "tokenizer", proc)
    if tok is None and model and Path(model).is_dir():
        try:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(model)
        except Exception:
            tok = None
    if tok is not None and callable(tok):
        def count(text: str) -> int:
            return len(tok(text, add_special_tokens=False)["input_ids"])

        return "tokenizer", count
    return "whitespace words", lambda text: len(text.split())


# ---------------------------------------------------------------------------------------------
# the probe
# ---------------------------------------------------------------------------------------------
def _generate(generator: Generator, requests: list[GenerationRequest], sampling: SamplingConfig):
    from .runner import _generate as generate_with_fallback  # one failed item costs only itself

    return generate_with_fallback(generator, requests, sampling)


def probe(
    generator: Generator,
    records: Sequence[dict],
    *,
    train_records: Sequence[dict] | None = None,
    config: ProbeConfig | None = None,
    reward: RewardConfig | None = None,
    media_root: str | Path | None = None,
    source: str = "records",
    count_tokens: Callable[[str], int] | None = None,
    tokenizer_counts: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[PromptStats]]:
    """Probe ``generator`` on ``records`` (RL or evaluation records whose ground truths parse; see
    ``load_records``). ``train_records`` choose the majority baseline (default: ``records``).
    Returns (the probe.json object, the per-prompt rows); its ``config`` holds only ``run`` (generation
    errors, reward scorer counts, the baseline's training means and time): ``config_dict`` adds the rest.
    ``tokenizer_counts``: ``count_tokens`` counts the model's tokens, so samples cut at ``max_new_tokens`` can be
    told (``cut_frac``)."""
    config = config or ProbeConfig()
    reward = reward or RewardConfig()
    count_tokens = count_tokens or (lambda text: len(text.split()))
    requests = build_requests(records, source, media_root, config)
    greedy_sampling = SamplingConfig(max_new_tokens=config.max_new_tokens, temperature=0.0, n=1, seed=config.seed)
    sampled_sampling = SamplingConfig(max_new_tokens=config.max_new_tokens, temperature=config.temperature,
                                      top_p=config.top_p, n=config.n, seed=config.seed)
    greedy_out: list[str] = []
    sample_out: list[list[str]] = []
    errors: list[str | None] = []
    from ..parallel import windowed_map

    def both(chunk: list[GenerationRequest]) -> tuple:
        return _generate(generator, chunk, greedy_sampling), _generate(generator, chunk, sampled_sampling)

    workers = config.workers if getattr(generator, "forkable", False) else 1
    chunks = (requests[start : start + config.batch_size] for start in range(0, len(requests), config.batch_size))
    for _, ((g_outs, g_fail), (s_outs, s_fail)) in windowed_map(both, chunks, workers):
        for g, gf, s, sf in zip(g_outs, g_fail, s_outs, s_fail):
            greedy_out.append(g[0] if g else "")
            outs = list(s) if s else []
            sample_out.append((outs + [""] * config.n)[: config.n])
            errors.append("; ".join(x for x in (gf and f"greedy: {gf}", sf and f"sampled: {sf}") if x) or None)
        if progress:
            progress(len(greedy_out), len(requests))

    with RewardScorer(reward) as scorer:
        items = []
        for rec, g, s in zip(records, greedy_out, sample_out):
            base = {"ground_truth": truth_of(rec), "problem_type": rec.get("problem_type"), "data_type": rec.get("data_type"),
                    "problem_id": rec.get("problem_id"), "problem": rec.get("problem_reserved_text") or rec.get("problem")}
            items.append({**base, "response": g})
            items += [{**base, "response": o} for o in s]
        results = scorer.score_batch(items)
        scorer_stats = scorer.totals.to_dict()

    rows = []
    step = 1 + config.n
    for i, rec in enumerate(records):
        res = results[i * step : (i + 1) * step]
        tokens = [count_tokens(o) for o in sample_out[i]]
        row = prompt_stats(i, rec, greedy_out[i], res[0], sample_out[i], res[1:], tokens,
                           filter_low=config.filter_low, filter_high=config.filter_high,
                           drop_equal_scores=config.drop_equal_scores)
        row.error = errors[i]
        if tokenizer_counts:
            row.cut = sum(t >= config.max_new_tokens - CUT_SLACK for t in tokens)
        rows.append(row)

    t0 = time.perf_counter()
    train = list(train_records) if train_records is not None else list(records)
    chosen = majority_baseline(train, max_candidates=config.max_candidates, seed=config.seed,
                               format_weight=reward.format_weight)
    answers = {k: b.answer for k, b in chosen.items()}
    for row, b in zip(rows, score_constant(records, answers, format_weight=reward.format_weight)):
        row.baseline = None if b["answer"] is None else {"answer": b["answer"], "reward": b["reward"], "accuracy": b["accuracy"]}
    baseline_s = time.perf_counter() - t0

    out = summarize(rows)
    out["config"] = {"run": {
        "generation_errors": sum(e is not None for e in errors),
        "reward": scorer_stats,
        "baseline_seconds": round(baseline_s, 3),
        "baseline_train": {k: {"records": b.records, "candidates": b.candidates, "reward": b.reward,
                               "accuracy": b.accuracy} for k, b in chosen.items()},
    }}
    return out, rows


def config_dict(config: ProbeConfig, reward: RewardConfig, **extra: Any) -> dict[str, Any]:
    """The ``config`` block of probe.json: settings, definitions, and what was counted how."""
    return {
        **extra,
        **asdict(config),
        "k": config.n,
        "format_weight": reward.format_weight,
        "reward_workers": reward.workers,
        "answer_forms": dict(ANSWER_FORMS),
        "pass_at_k": "discrete answers: unbiased estimator with correct = accuracy == 1; graded accuracy: "
                     "mean over prompts of the best accuracy among the n samples",
        "maj_at_k": "accuracy of the majority answer among the n samples (discrete and text answers); "
                    "null for continuous and free-text answers",
    }


def write_items(path: Path, rows: Sequence[PromptStats]) -> None:
    """One JSON line per prompt: the outputs and their scores."""
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(asdict(r), ensure_ascii=False, default=str) + "\n")
