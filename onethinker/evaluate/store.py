"""Append-only results file (one JSON object per finished item) that survives being killed.

Each result is written as one complete line and flushed to disk before the next batch starts. A run
killed in the middle of a write leaves at most a torn last line; ``ResultStore.load`` cuts it off (and
drops any line that is not valid JSON), so the next run redoes exactly the items whose results are not
on disk: nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable


def item_key(problem_id: Any) -> str:
    """A key that keeps 1 and "1" apart."""
    return json.dumps(problem_id, sort_keys=True, default=str)


class ResultStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.repaired = 0  # lines dropped by the last load (torn or invalid)

    def load(self) -> dict[str, dict]:
        """Results on disk by item key; repairs the file first if its tail is torn."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        rows: dict[str, dict] = {}
        good_end = 0
        kept: list[bytes] = []
        dropped = 0
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            if nl < 0:  # no newline: a write that was cut short
                dropped += 1
                break
            line = data[start:nl]
            start = nl + 1
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or "problem_id" not in row:
                    raise ValueError("not a result row")
            except ValueError:
                if line.strip():
                    dropped += 1
                continue
            rows[item_key(row["problem_id"])] = row
            kept.append(line)
            good_end = start
        self.repaired = dropped
        if dropped:
            tmp = self.path.with_name(self.path.name + ".repair")
            tmp.write_bytes(b"".join(line + b"\n" for line in kept))
            os.replace(tmp, self.path)
        elif good_end != len(data):  # only blank trailing bytes
            with self.path.open("r+b") as f:
                f.truncate(good_end)
        return rows

    def append(self, rows: Iterable[dict]) -> None:
        lines = "".join(_line(r) for r in rows)
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())

    def rows(self) -> list[dict]:
        return list(self.load().values())


def _line(row: dict) -> str:
    """One row as a JSON line; non-ASCII kept as it is, unless the row holds a lone surrogate (a benchmark's
    "\\ud800" reads as one), which UTF-8 cannot hold: then that row is written with escapes."""
    text = json.dumps(row, ensure_ascii=False, default=_jsonable)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(row, default=_jsonable)
    return text + "\n"


def _jsonable(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, (set, tuple)):
        return list(obj)
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
