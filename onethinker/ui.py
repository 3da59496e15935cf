"""Terminal output: one rich console on standard error (standard output stays clean for data),
progress bars with ETA, and result tables."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True, soft_wrap=True)  # messages never hard-wrapped: paths stay greppable


def progress(transient: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


def results_table(results: Iterable, keys: Iterable[str], title: str = "") -> Table:
    """Count and mean reward parts per task key, and over all items."""
    from .reward import mean_by

    results, keys = list(results), list(keys)
    by_key = mean_by(results, keys)
    table = Table(title=title or None)
    for col in ("task", "count", "overall", "format", "accuracy", "structure"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for key in sorted(by_key):
        m = by_key[key]
        table.add_row(escape(key), str(m["count"]), *(f"{m[p]:.3f}" for p in ("overall", "format", "accuracy", "structure")))
    if results:
        m = mean_by(results, ["all"] * len(results))["all"]
        table.add_row("[bold]all", f"[bold]{m['count']}", *(f"[bold]{m[p]:.3f}" for p in ("overall", "format", "accuracy", "structure")))
    return table
