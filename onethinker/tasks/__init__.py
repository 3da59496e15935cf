"""Task registry: one object per task family, looked up by (problem_type, data_type).

>>> from onethinker.tasks import get_task
>>> get_task("segmentation", "video").key
'segmentation/video'
>>> get_task("Multiple Choice", "image").key      # problem_type is case-insensitive
'multiple choice'

Matching follows spec/rewards.md: case-insensitive, no stripping of whitespace.
"""

from __future__ import annotations

from .base import PICTURE_KINDS, QUESTION_TEMPLATE, Parsed, Task
from .grounding import SpatialGrounding, SpatioTemporalGrounding, TemporalGrounding, Tracking
from .qa import OCR, Math, MultipleChoice, Numerical, OpenEnded, Regression
from .segmentation import ImageSegmentation, SegmentationPrompt, VideoSegmentation

__all__ = [
    "PICTURE_KINDS",
    "QUESTION_TEMPLATE",
    "Parsed",
    "Task",
    "SegmentationPrompt",
    "TASKS",
    "PROBLEM_TYPES",
    "DATA_TYPES",
    "TRAIN_DATA_TYPES",
    "UnknownTaskError",
    "get_task",
    "find_task",
    "task_key",
    "task_of_key",
    "split_by_data_type",
]

TASKS: dict[str, Task] = {
    t.key: t
    for t in (
        MultipleChoice(),
        Numerical(),
        Regression(),
        Math(),
        OCR(),
        OpenEnded(),
        TemporalGrounding(),
        SpatialGrounding(),
        SpatioTemporalGrounding(),
        Tracking(),
        ImageSegmentation(),
        VideoSegmentation(),
    )
}

#: problem_type values as they appear in the data files
PROBLEM_TYPES: tuple[str, ...] = tuple(dict.fromkeys(t.problem_type for t in TASKS.values()))
DATA_TYPES: tuple[str, ...] = ("image", "video", "video-image")
#: the data types of training records (SFT and RL); "video-image" is an evaluation item's only
TRAIN_DATA_TYPES: tuple[str, ...] = ("image", "video")

_BY_TYPE: dict[str, Task] = {t.problem_type.lower(): t for t in TASKS.values() if t.problem_type != "segmentation"}
_SEGMENTATION: dict[str, Task] = {"image": TASKS["segmentation/image"], "video": TASKS["segmentation/video"]}


class UnknownTaskError(KeyError):
    """A (problem_type, data_type) pair that names no task."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown task"


def find_task(problem_type: object, data_type: object = None) -> Task | None:
    """The task for this pair, or None (unknown type, or segmentation without image/video)."""
    if not isinstance(problem_type, str):
        return None
    ptype = problem_type.lower()
    if ptype == "segmentation":
        return _SEGMENTATION.get(data_type.lower()) if isinstance(data_type, str) else None
    return _BY_TYPE.get(ptype)


def get_task(problem_type: object, data_type: object = None) -> Task:
    """Like ``find_task`` but raises ``UnknownTaskError`` naming the known values."""
    task = find_task(problem_type, data_type)
    if task is not None:
        return task
    if isinstance(problem_type, str) and problem_type.lower() == "segmentation":
        raise UnknownTaskError(f"segmentation needs data_type 'image' or 'video', got {data_type!r}")
    raise UnknownTaskError(f"unknown problem_type {problem_type!r}; expected one of: {', '.join(PROBLEM_TYPES)}")


def task_key(problem_type: object, data_type: object = None) -> str:
    """The task key used to group statistics (EMA-GRPO, reports): problem_type, segmentation split by
    data type. Unknown types keep their own lower-cased name, so they still get a group of their own."""
    task = find_task(problem_type, data_type)
    if task is not None:
        return task.key
    return str(problem_type).lower()


def task_of_key(key: object) -> Task | None:
    """The task a result row or statistics group names by its key (``Task.key``), or None."""
    return TASKS.get(key) if isinstance(key, str) else None


def split_by_data_type(problem_type: object) -> bool:
    """Whether this problem_type names one task per data type (segmentation), so that it names no task
    without a matching data_type."""
    return isinstance(problem_type, str) and problem_type.lower() in _SPLIT


_SPLIT = frozenset(t.problem_type.lower() for t in TASKS.values() if t.key != t.problem_type)
