"""The page's examples: one question per task from a folder of record files (a synthetic corpus, or any
evaluation / RL files with their media), or a small synthetic corpus made at start-up (about a second)."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..tasks import TASKS

log = logging.getLogger(__name__)

#: record files looked for in an examples folder (not recursive), in this order
RECORD_PATTERNS = ("eval_*.json", "eval_*.jsonl", "eval_*.parquet", "onethinker_rl_train.json", "*.jsonl")


def example_task_keys() -> list[str]:
    """The tasks the made-up examples cover: every task with a picture (boxes, spans, tracks, tubes,
    masks), then those with options; read from the registry, so a new task family joins by itself."""
    keys = [k for k, t in TASKS.items() if t.picture]
    return keys + [k for k, t in TASKS.items() if t.has_options and k not in keys]


@dataclass(frozen=True)
class Example:
    """One example of the page: an absolute media path and the question to ask about it."""

    media: str
    problem_type: str
    question: str
    task_key: str
    data_type: str
    options: tuple[str, ...] = field(default_factory=tuple)

    def row(self) -> list[str]:
        """The values of the page's inputs: media, task, question, options (one per line)."""
        return [self.media, self.problem_type, self.question, "\n".join(self.options)]


def _record_files(folder: Path) -> list[Path]:
    seen: dict[Path, None] = {}
    for pattern in RECORD_PATTERNS:
        for p in sorted(folder.glob(pattern)):
            seen.setdefault(p, None)
    return list(seen)


def read_examples(folder: str | Path, *, per_task: int = 1, limit: int = 16) -> list[Example]:
    """Up to ``per_task`` examples of each task and data type from the record files in ``folder``, whose
    media paths are relative to it; records about one image or one video whose medium exists. The tasks
    of :func:`example_task_keys` first, images before videos. Files that cannot be read are skipped
    (logged)."""
    from ..data.chat import media_of, question_text
    from ..data.records import read_records
    from ..tasks import find_task

    folder = Path(folder)
    found: dict[tuple[str, str], list[Example]] = {}
    for path in _record_files(folder):
        try:
            records = list(read_records(path))
        except (ValueError, OSError) as e:
            log.warning("examples: skipped %s (%s)", path, e)
            continue
        for rec in records:
            try:
                media = media_of(rec)
                question = question_text(rec)
            except ValueError:
                continue
            dtype = str(rec.get("data_type", "")).lower()
            task = find_task(rec.get("problem_type"), dtype)
            if task is None or dtype not in ("image", "video") or len(media) != 1 or "messages" in rec:
                continue
            if len(found.setdefault((task.key, dtype), [])) >= per_task:
                continue
            file = (folder / media[0][1]).resolve()
            if not file.is_file():
                continue
            options = rec.get("options") if task.has_options else None
            opts = tuple(str(o) for o in options) if isinstance(options, list) else ()
            found[task.key, dtype].append(Example(str(file), task.problem_type, question, task.key, dtype, opts))
    keys = list(dict.fromkeys([*example_task_keys(), *TASKS]))
    ordered = [e for key in keys for dtype in ("image", "video") for e in found.get((key, dtype), [])]
    return ordered[:limit]


def make_examples(folder: str | Path, *, seed: int = 0) -> list[Example]:
    """Write a small synthetic corpus (held-out pool only, the tasks of :func:`example_task_keys`) into
    ``folder`` and read its examples."""
    from ..synthetic.corpus import SynthConfig, synthesize

    keys = example_task_keys()
    cfg = SynthConfig(sft=0, rl=0, heldout=2 * len(keys), heldout_tasks=keys, seed=seed, workers=1)
    synthesize(cfg, Path(folder))
    return read_examples(folder)


def load_examples(folder: str | Path | None) -> tuple[list[Example], Path]:
    """The examples of ``folder`` when it holds record files; else a synthetic set made there (a new
    temporary folder when ``folder`` is None). Returns the examples and the folder they live in."""
    if folder is not None:
        path = Path(folder)
        if path.is_dir() and _record_files(path):
            return read_examples(path), path.resolve()
        if path.exists() and not path.is_dir():
            raise ValueError(f"--examples {folder}: not a folder")
        path.mkdir(parents=True, exist_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="onethinker-app-examples-"))
    return make_examples(path), path.resolve()
