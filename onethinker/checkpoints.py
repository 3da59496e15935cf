"""Checkpoint discovery: which saved checkpoint a training run resumes from.

Each trainer saves numbered checkpoint folders in its own layout (``CheckpointLayout``): SFT (the
transformers Trainer) writes ``OUT/checkpoint-N`` with ``trainer_state.json``; the native RL trainer
writes ``OUT/checkpoints/step-NNNNNN`` with ``trainer_state.pt``. ``resolve_resume`` reads a ``--resume``
value the same way for both:

- None, False or "": no checkpoint (a fresh run);
- True or "latest": the newest checkpoint; when there is none, an error (``missing="error"``) or a
  warning and a fresh run (``missing="warn"``), as the trainer chooses;
- "auto" (where the trainer allows it): the newest checkpoint if any, else a fresh run;
- anything else: a path to one checkpoint folder, which must hold the layout's marker file.

(The perception stage keeps one ``OUT/checkpoint`` folder and the verl launcher hands ``--resume`` to
verl; neither chooses among checkpoints.)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

__all__ = ["CheckpointLayout", "SFT_LAYOUT", "RL_LAYOUT", "resolve_resume", "trim_log"]

log = logging.getLogger(__name__)

Resume = Union[bool, str, "os.PathLike[str]", None]


@dataclass(frozen=True)
class CheckpointLayout:
    """Where a trainer keeps its checkpoints: ``OUT/<folder>/<prefix><N>``, each holding ``marker``."""

    prefix: str  # folder names: prefix + step number
    marker: str  # the file a complete checkpoint holds
    folder: str = ""  # the sub-folder of the output folder they live in ("" for the output folder itself)
    #: listing counts only folders that hold the marker (a half-written one is skipped)
    complete_only: bool = False

    def root(self, out: str | os.PathLike[str]) -> Path:
        return Path(out) / self.folder if self.folder else Path(out)

    def list(self, out: str | os.PathLike[str], *, complete_only: bool | None = None) -> list[Path]:
        """The checkpoint folders under ``out``, oldest (smallest step) first."""
        root = self.root(out)
        if not root.is_dir():
            return []
        only = self.complete_only if complete_only is None else complete_only
        n = len(self.prefix)
        found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(self.prefix) and p.name[n:].isdigit()
                 and (not only or (p / self.marker).is_file())]
        return sorted(found, key=lambda p: int(p.name[n:]))

    def latest(self, out: str | os.PathLike[str]) -> Path | None:
        found = self.list(out)
        return found[-1] if found else None


#: ``onethinker train sft``: the transformers Trainer's folders
SFT_LAYOUT = CheckpointLayout(prefix="checkpoint-", marker="trainer_state.json")
#: ``onethinker train rl`` (native): complete ``checkpoints/step-NNNNNN`` folders
RL_LAYOUT = CheckpointLayout(prefix="step-", marker="trainer_state.pt", folder="checkpoints", complete_only=True)


def resolve_resume(layout: CheckpointLayout, out: str | os.PathLike[str], resume: Resume, *,
                   missing: str = "error", allow_auto: bool = True, error: type[Exception] = FileNotFoundError,
                   label: str = "--resume") -> Path | None:
    """The checkpoint folder to resume from, or None for a fresh run (see the module docstring).
    ``error``: the exception class raised for a missing or foreign checkpoint, ``label`` starts its
    message."""
    if resume is None or resume is False or resume == "":
        return None
    if resume is True or resume == "latest" or (allow_auto and resume == "auto"):
        found = layout.latest(out)
        if found is None:
            if resume == "auto":
                return None
            if missing == "warn":
                log.warning("no checkpoint in %s: starting from scratch", layout.root(out))
                return None
            raise error(f"{label}: no {layout.prefix}N folder in {layout.root(out)} to resume from")
        return found
    path = Path(resume).expanduser()
    if not path.is_dir():
        raise error(f"{label} {path}: no such checkpoint folder")
    if not (path / layout.marker).is_file():
        raise error(f"{label} {path}: not a checkpoint of this trainer (no {layout.marker})")
    return path


def trim_log(path: str | os.PathLike[str], step: int, *, drop_keys: tuple[str, ...] = ()) -> int:
    """Make a run's JSONL log (``path``) agree with the step a run restarts from: keep the records whose
    ``step`` is at most ``step`` (0: a fresh run keeps none), drop the ones after it (a resumed run logs those
    steps again, and a reader would otherwise see them twice), the ones holding any of ``drop_keys`` (e.g. an
    end-of-run summary record) and unreadable lines (a write cut off by the stop). Rewritten atomically; a
    missing file is left missing. Returns how many lines it dropped."""
    path = Path(path)
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and int(row.get("step", 0) or 0) <= step and not any(k in row for k in drop_keys):
            kept.append(line)
    if len(kept) != len(lines):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)
    return len(lines) - len(kept)
