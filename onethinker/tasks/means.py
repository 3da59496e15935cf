"""Per-task means: rows grouped by task key (the registry's ``task_key``), fields averaged per group.

One helper for every place that reports numbers per task key: evaluation metrics files, the held-out
summaries of the demo and the ablation, the pre-RL probe, the SFT format check and the RL step log.

>>> rows = [{"task": "numerical", "reward": {"overall": 1.0}}, {"task": "numerical", "reward": {"overall": 0.5}}]
>>> task_means(rows, {"reward": lambda r: r["reward"]["overall"]}, overall="all")
{'numerical': {'items': 2, 'reward': 0.75}, 'all': {'items': 2, 'reward': 0.75}}
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

from . import task_key

__all__ = ["group_by_task", "held_out_summary", "mean", "record_task_key", "row_task_key", "task_means"]

T = TypeVar("T")


def row_task_key(row: Mapping[str, Any]) -> str:
    """The key an evaluation result row is grouped under: its task key, else its problem_type."""
    return row.get("task") or str(row.get("problem_type"))


def record_task_key(record: Mapping[str, Any]) -> str:
    """The task key of a data record or a row that carries ``problem_type`` and ``data_type`` (segmentation
    is split by data type, problem types are matched case-insensitively)."""
    return task_key(record.get("problem_type"), record.get("data_type"))


def mean(values: Sequence[float]) -> float:
    """``sum / count`` as a float; 0.0 for no values."""
    return float(sum(values) / len(values)) if values else 0.0


def group_by_task(items: Iterable[T], key: Callable[[T], str] = row_task_key, *, sort: bool = True) -> dict[str, list[T]]:
    """``{task key: items}``, keys sorted (``sort``) or in first-seen order, items in their order."""
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return dict(sorted(groups.items())) if sort else groups


def task_means(items: Iterable[T], fields: Mapping[str, Callable[[T], float]], *,
               key: Callable[[T], str] = row_task_key, count: str | None = "items",
               sums: Mapping[str, Callable[[T], float]] | None = None, overall: str | None = None,
               sort: bool = True, average: Callable[[Sequence[float]], float] = mean) -> dict[str, dict[str, Any]]:
    """Per task key: ``{count: items, field: mean of field(item) ..., sum: total of sum(item) ...}`` in that
    order; with ``overall``, the same over all items under that name (when there are any). ``average``:
    how a list of values is averaged (default: ``mean``)."""
    items = list(items)

    def block(rows: list[T]) -> dict[str, Any]:
        out: dict[str, Any] = {count: len(rows)} if count else {}
        for name, get in fields.items():
            out[name] = average([get(r) for r in rows])
        for name, get in (sums or {}).items():
            out[name] = sum(get(r) for r in rows)
        return out

    out = {k: block(rows) for k, rows in group_by_task(items, key, sort=sort).items()}
    if overall is not None and items:
        out[overall] = block(items)
    return out


def held_out_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task key and over all items (``"all"``): count and mean overall reward, format and accuracy of
    evaluation result rows (the held-out numbers of the demo and the ablation, and the means of
    ``onethinker eval compare``)."""
    return task_means(rows, {name: (lambda x, part=part: x["reward"][part]) for name, part in
                             (("reward", "overall"), ("format", "format"), ("accuracy", "accuracy"))}, overall="all")
