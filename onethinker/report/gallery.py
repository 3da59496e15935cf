"""Reading result rows, choosing the items a gallery shows, and ``onethinker viz`` (:func:`visualize`)."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import random
import re
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .draw import SELECTIONS, SUCCESS, VIDEO_FORMATS, VizError
from .render import render_item
from .pictures import item_name

log = logging.getLogger(__name__)


# -------------------------------------------------------------------------------------------------
# reading results and choosing items
# -------------------------------------------------------------------------------------------------
class ResultRows(list):
    """The rows of one results file (a list of dict). ``path``: the file; ``unreadable``: the numbers (from 1)
    of its lines that were skipped: invalid or torn JSON, or JSON that is not a result row (an object with
    a problem_id). Blank lines are not counted."""

    def __init__(self, rows: Iterable[dict] = (), path: Path | None = None, unreadable: Sequence[int] = ()) -> None:
        super().__init__(rows)
        self.path = path
        self.unreadable: list[int] = list(unreadable)

    def warning(self) -> str:
        """The warning naming the file and the skipped lines; empty when every line was read."""
        bad = self.unreadable
        if not bad:
            return ""
        shown = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        return (f"{self.path}: {len(bad)} unreadable line{'s' if len(bad) != 1 else ''} skipped "
                f"(line{'s' if len(bad) != 1 else ''} {shown}; each line should be a JSON object with a problem_id)")


def read_results(path: str | os.PathLike, *, warn: bool = True) -> ResultRows:
    """Result rows of ``OUT/<bench>.jsonl`` (read-only; a repeated problem_id keeps its last row). A line that
    is invalid or torn, or not a result row, is skipped and counted: its number is in ``.unreadable`` of the
    returned list, and with ``warn`` a warning naming the file and the lines is logged."""
    p = Path(path)
    if not p.is_file():
        raise VizError(f"{p}: no such results file")
    rows: dict[str, dict] = {}
    unreadable: list[int] = []
    with p.open("r", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                unreadable.append(lineno)
                continue
            if isinstance(row, dict) and "problem_id" in row:
                rows[json.dumps(row["problem_id"], sort_keys=True, default=str)] = row
            else:
                unreadable.append(lineno)
    result = ResultRows(rows.values(), p, unreadable)
    if warn and unreadable:
        log.warning("%s", result.warning())
    return result


def item_score(row: dict) -> float:
    try:
        s = float(row.get("score") or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return s if math.isfinite(s) else 0.0


def _diverse_order(rows: list[dict], rng: random.Random, *, best_first: bool | None) -> list[dict]:
    """Rows ordered by score (best or worst first; None: no score order), ties broken so that the tasks
    take turns, then at random."""
    shuffled = rows[:]
    rng.shuffle(shuffled)
    seen: dict[Any, int] = {}
    ranked = []
    for r in shuffled:
        t = r.get("task")
        ranked.append((r, seen.get(t, 0)))
        seen[t] = seen.get(t, 0) + 1
    sign = {True: -1.0, False: 1.0, None: 0.0}[best_first]
    ranked.sort(key=lambda x: (sign * item_score(x[0]), x[1]))
    return [r for r, _ in ranked]


def split_gallery(rows: list[dict], n: int, *, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Up to ``n`` rows in all: successes (score >= 0.5, best first) and failures (worst first), about half
    each (one side fills in for the other when short), with the tasks taking turns."""
    rng = random.Random(seed)
    good = _diverse_order([r for r in rows if item_score(r) >= SUCCESS], rng, best_first=None)
    bad = _diverse_order([r for r in rows if item_score(r) < SUCCESS], rng, best_first=None)
    n_good = min(len(good), max(n - len(bad), (n + 1) // 2))
    n_bad = min(len(bad), n - n_good)
    succ = sorted(good[:n_good], key=lambda r: -item_score(r))
    fail = sorted(bad[:n_bad], key=item_score)
    return succ, fail


def select_rows(rows: list[dict], n: int = 24, select: str = "mixed", *, seed: int = 0) -> list[dict]:
    """Choose up to ``n`` rows: "mixed" (successes and failures, tasks taking turns), "best", "worst",
    "random" or "all" (every row, ``n`` ignored)."""
    if select not in SELECTIONS:
        raise VizError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
    if select == "all":
        return list(rows)
    if n < 1:
        return []
    rng = random.Random(seed)
    if select == "random":
        return rng.sample(rows, min(n, len(rows)))
    if select == "best":
        return _diverse_order(rows, rng, best_first=True)[:n]
    if select == "worst":
        return _diverse_order(rows, rng, best_first=False)[:n]
    succ, fail = split_gallery(rows, n, seed=seed)
    out = []
    for i in range(max(len(succ), len(fail))):  # alternate: success, failure, ...
        out += [x[i] for x in (succ, fail) if i < len(x)]
    return out


class VizPaths(list):
    """The written files, one per item drawn (a list of Path). ``skipped``: (item name, reason) of the
    items that could not be drawn; ``filmstrips``: the filmstrip PNGs written beside the videos;
    ``unreadable``: a warning per results file whose unreadable lines were skipped."""

    def __init__(self, paths: Iterable[Path] = ()) -> None:
        super().__init__(paths)
        self.skipped: list[tuple[str, str]] = []
        self.filmstrips: list[Path] = []
        #: per results file with skipped lines, its warning (:meth:`ResultRows.warning`)
        self.unreadable: list[str] = []


def _metrics_next_to(results: Path) -> dict | None:
    p = results.with_name(results.name[: -len(".jsonl")] + ".metrics.json") if results.name.endswith(".jsonl") \
        else results.with_suffix(".metrics.json")
    try:
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None
    except (OSError, ValueError):
        return None


def visualize(results_path: str | os.PathLike, out_dir: str | os.PathLike, *,
              media_root: str | os.PathLike | None = None, n: int = 24, select: str = "mixed", seed: int = 0,
              video_format: str = "mp4", fps: float = 2.0, max_side: int = 640) -> VizPaths:
    """Draw a sample of the items of ``results_path`` (``OUT/<bench>.jsonl``, or a folder of them) into
    ``out_dir``: one file per item, ``<bench>_<problem_id>.png`` for images and ``.mp4`` / ``.gif``
    (``video_format``) for videos, plus ``<bench>_<problem_id>.filmstrip.png`` beside each video.

    ``media_root`` defaults to the ``media_root`` recorded in ``<bench>.metrics.json`` next to the
    results; with neither, a :class:`VizError`. ``select``: see :func:`select_rows`. Items whose media are
    missing or unreadable are skipped with their reason (``result.skipped``), never an exception.
    Returns the written files (:class:`VizPaths`), one per item drawn.
    """
    if select not in SELECTIONS:
        raise VizError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
    if video_format not in VIDEO_FORMATS:
        raise VizError(f"video_format must be one of {', '.join(VIDEO_FORMATS)}, got {video_format!r}")
    src = Path(results_path)
    files = sorted(src.glob("*.jsonl")) if src.is_dir() else [src]
    if not files:
        raise VizError(f"{src}: no results files (*.jsonl) in this folder")
    plans = []
    unreadable = []
    for f in files:
        rows = read_results(f, warn=False)
        if rows.unreadable:
            unreadable.append(rows.warning())
        metrics = _metrics_next_to(f) or {}
        root = media_root if media_root is not None else metrics.get("media_root")
        if root is None:
            raise VizError(f"{f}: no media root: pass media_root (--media-root) or keep {f.stem}.metrics.json "
                           "(which records it) next to the results")
        if not Path(root).is_dir():
            raise VizError(f"{f}: media root {root} is not a folder")
        allow_abs = bool((metrics.get("config") or {}).get("allow_absolute", False))
        plans.append((rows, root, allow_abs))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = VizPaths()
    result.unreadable = unreadable
    for rows, root, allow_abs in plans:
        for row in select_rows(rows, n, select, seed=seed):
            name = item_name(row)
            try:
                files_ = render_item(row, root, video_format=video_format, fps=fps, max_side=max_side,
                                     allow_absolute=allow_abs)
            except (ValueError, OSError) as e:  # MediaError is a ValueError: missing or unreadable media
                result.skipped.append((name, f"media: {e}"))
                continue
            except Exception as e:  # a bug drawing one item must not stop the others
                result.skipped.append((name, f"drawing failed: {type(e).__name__}: {e}"))
                continue
            for i, (fname, data) in enumerate(files_):
                path = out / fname
                path.write_bytes(data)
                (result.append if i == 0 else result.filmstrips.append)(path)
    if result.skipped:
        log.warning("viz: skipped %d item(s): %s", len(result.skipped),
                    "; ".join(f"{n_}: {why}" for n_, why in result.skipped[:5]) + (" ..." if len(result.skipped) > 5 else ""))
    return result
