"""Compare two evaluation outputs item by item: mean reward and accuracy of each side, the difference
B - A, and its paired percentile-bootstrap 95% confidence interval.

Both folders are ``onethinker eval`` outputs (``OUT/<bench>.jsonl``, one result row per item). Items are
paired by problem_id within each benchmark file; statistics are given per benchmark, per task key
(pooled over benchmarks) and over all paired items. Items or benchmarks present on one side only are
not paired: they are counted under ``unpaired`` and left out of every statistic.

The means come from :func:`onethinker.tasks.means.held_out_summary` (the numbers the demo reports);
the interval from :func:`paired_bootstrap`, which other comparisons (a baseline against a model, two
checkpoints of the demo) can call on any two paired vectors.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..tasks.means import group_by_task, held_out_summary, row_task_key
from .store import item_key

#: the compared quantities: name in the result -> field of a row's ``reward``
METRICS: tuple[tuple[str, str], ...] = (("reward", "overall"), ("accuracy", "accuracy"))
_REWARD_FIELDS = ("overall", "format", "accuracy")  # what held_out_summary reads
_MAX_DRAWS = 1 << 22  # bootstrap indices drawn at once (32 MiB of int64)


class CompareError(ValueError):
    """A folder or result file that cannot be compared (the message names it)."""


# ---------------------------------------------------------------------------------------------
# the bootstrap
# ---------------------------------------------------------------------------------------------
def paired_bootstrap(a_values: Sequence[float], b_values: Sequence[float], resamples: int = 2000,
                     seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(b - a) over paired items.

    ``a_values[i]`` and ``b_values[i]`` belong to the same item. Each of ``resamples`` resamples draws
    n items with replacement (``numpy.random.default_rng(seed).integers(0, n, n)`` per resample, in
    order); the interval is the 2.5th and 97.5th percentile (linear interpolation) of the resampled
    mean differences. Deterministic for a given seed. Raises ValueError for empty or unequal inputs.
    """
    a = np.asarray(a_values, dtype=np.float64).ravel()
    b = np.asarray(b_values, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap: {a.size} values for A but {b.size} for B")
    n = a.size
    if n == 0:
        raise ValueError("paired_bootstrap: no paired values")
    if resamples < 1:
        raise ValueError(f"paired_bootstrap: resamples must be at least 1, got {resamples}")
    d = b - a
    rng = np.random.default_rng(seed)
    means = np.empty(resamples, dtype=np.float64)
    step = max(1, _MAX_DRAWS // n)  # resamples per block: bounded memory, same draws as one block
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        means[start:start + k] = d[rng.integers(0, n, size=(k, n))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


# ---------------------------------------------------------------------------------------------
# reading evaluation outputs
# ---------------------------------------------------------------------------------------------
def _check_row(row: Any, where: str) -> None:
    if not isinstance(row, dict):
        raise CompareError(f"{where}: expected a JSON object (a result row), got {type(row).__name__}")
    if "problem_id" not in row:
        raise CompareError(f"{where}: not a result row (no problem_id)")
    reward = row.get("reward")
    if not isinstance(reward, dict):
        raise CompareError(f"{where}: result row without a reward object (problem_id {row['problem_id']!r})")
    for f in _REWARD_FIELDS:
        v = reward.get(f)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise CompareError(f"{where}: reward.{f} is {v!r}, not a finite number (problem_id {row['problem_id']!r})")


def read_results(path: str | Path) -> dict[str, dict]:
    """The rows of one ``OUT/<bench>.jsonl`` by item key (file order), read only, strictly.

    Unlike ``ResultStore.load`` (which repairs a torn file so a run can resume), any unreadable line
    is a ``CompareError`` naming the file and line: a comparison must not silently drop items.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CompareError(f"{path}: cannot read: {e}") from None
    rows: dict[str, dict] = {}
    lines = text.split("\n")
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{no}"
        try:
            row = json.loads(line)
        except ValueError as e:
            torn = no == len(lines)  # the last line has no newline: a write cut short
            hint = (" (a torn last line: the evaluation was interrupted; run the same `onethinker eval` command "
                    "again to finish it)") if torn else ""
            raise CompareError(f"{where}: invalid JSON: {e}{hint}") from None
        _check_row(row, where)
        key = item_key(row["problem_id"])
        if key in rows:
            raise CompareError(f"{where}: problem_id {row['problem_id']!r} appears twice in the file")
        rows[key] = row
    return rows


def read_eval_dir(folder: str | Path) -> dict[str, dict[str, dict]]:
    """``{bench: {item key: row}}`` for every ``<bench>.jsonl`` in an ``onethinker eval`` output folder."""
    folder = Path(folder)
    if not folder.exists():
        raise CompareError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CompareError(f"{folder}: not a folder (expected an `onethinker eval` output folder)")
    files = sorted(p for p in folder.glob("*.jsonl") if p.is_file())
    if not files:
        raise CompareError(f"{folder}: no <bench>.jsonl result files (expected an `onethinker eval` output folder)")
    return {p.stem: read_results(p) for p in files}


# ---------------------------------------------------------------------------------------------
# the comparison
# ---------------------------------------------------------------------------------------------
def _block(rows_a: list[dict], rows_b: list[dict], resamples: int, seed: int) -> dict[str, Any]:
    """n, and for each metric the means of A and B, B - A and its bootstrap interval, over paired rows."""
    out: dict[str, Any] = {"n": len(rows_a)}
    if not rows_a:
        for name, _ in METRICS:
            out[name] = {"a": None, "b": None, "diff": None, "ci95": None}
        return out
    sa, sb = held_out_summary(rows_a)["all"], held_out_summary(rows_b)["all"]
    for name, field in METRICS:
        lo, hi = paired_bootstrap([r["reward"][field] for r in rows_a], [r["reward"][field] for r in rows_b],
                                  resamples, seed)
        out[name] = {"a": sa[name], "b": sb[name], "diff": sb[name] - sa[name], "ci95": [lo, hi]}
    return out


def compare_dirs(a: str | Path, b: str | Path, resamples: int = 2000, seed: int = 0,
                 pools: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """Compare two ``onethinker eval`` output folders, paired by problem_id within each benchmark file.

    Returns the layout ``onethinker eval compare --json`` writes (README, "Comparing two evaluations"):
    ``method``, ``a``, ``b``, ``benchmarks`` / ``tasks`` / ``all`` (each ``{"n", "reward": {"a", "b",
    "diff", "ci95"}, "accuracy": {...}}``, diff = B - A) and ``unpaired``. Every block uses the same
    seed, so a block's interval does not depend on the others. Raises ``CompareError`` for a missing
    folder, a folder without result files, an unreadable row, no benchmark in common, or a paired item
    whose task differs between the two sides. ``pools``: extra blocks, each over the paired items of
    some task keys (the demo pools the keys RL trains as ``{"rl_tasks": [...]}``), added under their names.
    """
    if resamples < 1:
        raise CompareError(f"resamples must be at least 1, got {resamples}")
    runs_a, runs_b = read_eval_dir(a), read_eval_dir(b)
    shared = sorted(set(runs_a) & set(runs_b))
    only_a = {bench: len(runs_a[bench]) for bench in sorted(set(runs_a) - set(runs_b))}
    only_b = {bench: len(runs_b[bench]) for bench in sorted(set(runs_b) - set(runs_a))}
    if not shared:
        raise CompareError(f"no benchmark in both folders: {a} has {', '.join(sorted(runs_a))}; "
                           f"{b} has {', '.join(sorted(runs_b))}")
    benchmarks: dict[str, Any] = {}
    unpaired_by: dict[str, Any] = {}
    all_a: list[dict] = []
    all_b: list[dict] = []
    for bench in shared:
        ra, rb = runs_a[bench], runs_b[bench]
        keys = [k for k in ra if k in rb]
        for k in keys:
            ta, tb = row_task_key(ra[k]), row_task_key(rb[k])
            if ta != tb:
                raise CompareError(f"{bench}: problem_id {ra[k]['problem_id']!r} is task {ta!r} in {a} but {tb!r} in "
                                   f"{b}; were both evaluated on the same benchmark file?")
        pa, pb = [ra[k] for k in keys], [rb[k] for k in keys]
        benchmarks[bench] = _block(pa, pb, resamples, seed)
        all_a += pa
        all_b += pb
        ids_a = [ra[k]["problem_id"] for k in ra if k not in rb]
        ids_b = [rb[k]["problem_id"] for k in rb if k not in ra]
        if ids_a or ids_b:
            unpaired_by[bench] = {"a": len(ids_a), "b": len(ids_b), "a_ids": ids_a, "b_ids": ids_b}
    by_task = group_by_task(zip(all_a, all_b), key=lambda pair: row_task_key(pair[0]))
    pooled = {}
    for name, keys in (pools or {}).items():
        sel = [i for i, row in enumerate(all_a) if row_task_key(row) in keys]
        pooled[name] = _block([all_a[i] for i in sel], [all_b[i] for i in sel], resamples, seed)
    return {
        **pooled,
        "method": f"paired percentile bootstrap, {resamples} resamples, seed {seed}",
        "a": str(a),
        "b": str(b),
        "benchmarks": benchmarks,
        "tasks": {key: _block([p[0] for p in pairs], [p[1] for p in pairs], resamples, seed)
                  for key, pairs in by_task.items()},
        "all": _block(all_a, all_b, resamples, seed),
        "unpaired": {
            "a": sum(u["a"] for u in unpaired_by.values()),
            "b": sum(u["b"] for u in unpaired_by.values()),
            "by_benchmark": unpaired_by,
            "benchmarks_only_in_a": only_a,
            "benchmarks_only_in_b": only_b,
        },
    }


def excludes_zero(ci: Sequence[float] | None) -> bool:
    """Whether an interval lies entirely above or below 0."""
    return ci is not None and (ci[0] > 0 or ci[1] < 0)


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def diff_cell(m: dict) -> str:
    if m["diff"] is None:
        return "<td class='num'>–</td>"
    lo, hi = m["ci95"]
    style = "" if not excludes_zero(m["ci95"]) else (' style="color:#1f9d55"' if lo > 0 else ' style="color:#d64545"')
    return f"<td class='num'{style}>{m['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}]</td>"


def compare_table_html(result: dict, labels: tuple[str, str] = ("A", "B")) -> str:
    """A small HTML table of a ``compare_dirs`` result: one row per task and one for all items, with
    n, reward of A and B, their difference [95% CI], and the same for accuracy. Differences whose
    interval excludes 0 are coloured (green: B higher, red: B lower). ``labels`` name the two sides."""
    la, lb = (_e(x) for x in labels)
    head = (f"<tr><th>task</th><th>n</th><th>reward {la}</th><th>reward {lb}</th><th>reward {lb} - {la} [95% CI]</th>"
            f"<th>accuracy {la}</th><th>accuracy {lb}</th><th>accuracy {lb} - {la} [95% CI]</th></tr>")
    rows = []
    extra = [("rl_tasks", result["rl_tasks"])] if result.get("rl_tasks") else []  # the demo's pooled RL keys
    for key, block in [*result["tasks"].items(), *extra, ("all", result["all"])]:
        name = "<b>all</b>" if key == "all" else "<b>task keys RL trains</b>" if key == "rl_tasks" else _e(key)
        cells = "".join(f"<td class='num'>{_num(block[m]['a'])}</td><td class='num'>{_num(block[m]['b'])}</td>"
                        + diff_cell(block[m]) for m, _ in METRICS)
        rows.append(f"<tr><td>{name}</td><td class='num'>{block['n']}</td>{cells}</tr>")
    caption = _e(f"paired by item; {result['method']}")
    return f"<table><caption>{caption}</caption>{head}{''.join(rows)}</table>"
