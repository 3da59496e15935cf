"""RL-train records for the native trainer: read, checked one by one before any model is loaded.

Every record must be one the trainer can use all the way through a step: an RL-train record (an
``answer``), a known task, a question and media that make a prompt (placeholders matching the media,
media paths under the media root, files present) and a ground truth that parses for its task. A record
that fails is an :class:`RLDataError` naming the file, the record index, its problem_id and what is
wrong, or, with ``data.skip_bad_records``, a counted skip (:attr:`RLRecords.skipped`); never a silent
drop. Records of task keys outside ``data.tasks`` are left out on purpose and counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.chat import RecordError, record_messages
from ..data.media import MediaError
from ..data.records import RL, RecordFileError, kind_of, read_records
from ..tasks.response import truth_answer
from ..tasks import UnknownTaskError, find_task, task_key
from .config import RLDataConfig

__all__ = ["RLDataError", "RLRecords", "check_rl_record", "load_rl_records"]


class RLDataError(ValueError):
    """RL-train data that cannot be used; the message names the file, the record and what is wrong."""


@dataclass
class RLRecords:
    records: list[dict]
    media_root: str
    read: int = 0  # records read from all files
    skipped: list[str] = field(default_factory=list)  # "file: record i (problem_id ...): reason" (skip_bad_records)
    other_tasks: int = 0  # records of task keys not in data.tasks


def check_rl_record(record: Any, media_root: str | Path | None) -> None:
    """Raise :class:`RecordError` (a ValueError) saying what makes ``record`` unusable for RL training."""
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    if kind_of(record) != RL:
        which = "an SFT record (messages)" if "messages" in record else "an evaluation record (solution)"
        raise RecordError(f"{which}, not an RL-train record (answer)")
    for name in ("problem_type", "data_type", "answer"):
        if not isinstance(record.get(name), str):
            got = "missing" if name not in record else f"expected a string, got {type(record[name]).__name__}"
            raise RecordError(f"{name}: {got}")
    task = find_task(record["problem_type"], record["data_type"])
    if task is None:
        raise RecordError(f"problem_type: unknown task {record['problem_type']!r} with data_type "
                          f"{record['data_type']!r} (run `onethinker data check`)")
    reserved = record.get("problem_reserved_text")
    if reserved is not None and not isinstance(reserved, str):
        raise RecordError(f"problem_reserved_text: expected a string, got {type(reserved).__name__}")
    try:
        messages = record_messages(record, media_root)
    except MediaError as e:
        raise RecordError(f"media: {e}") from None
    except UnknownTaskError as e:
        raise RecordError(f"problem_type: {e}") from None
    for m in messages:
        for item in m["content"] if isinstance(m.get("content"), list) else []:
            kind = item.get("type")
            if kind in ("image", "video") and not Path(item[kind]).is_file():
                raise RecordError(f"media: {kind} file not found: {item[kind]}")
    parsed = task.parse(truth_answer(record["answer"]))
    if not parsed.ok:
        raise RecordError(f"answer: does not parse as a {task.key} answer: {parsed.error}")


def load_rl_records(data: RLDataConfig) -> RLRecords:
    """The usable records of ``data.train_files`` (see the module docstring), in file order."""
    files = data.train_files
    if not files:
        raise RLDataError("data.train_files is empty: give one or more RL-train record files")
    media_root = data.media_root or str(Path(files[0]).parent)
    wanted = set(data.tasks)
    out = RLRecords([], media_root)
    for f in files:
        try:
            for i, record in enumerate(read_records(f)):
                out.read += 1
                pid = record.get("problem_id") if isinstance(record, dict) else None
                where = f"{f}: record {i}" + (f" (problem_id {pid!r})" if pid is not None else "")
                try:
                    check_rl_record(record, media_root)
                except RecordError as e:
                    if not data.skip_bad_records:
                        raise RLDataError(f"{where}: {e} (set data.skip_bad_records=true to skip such records)") from None
                    out.skipped.append(f"{where}: {e}")
                    continue
                key = task_key(record["problem_type"], record["data_type"])
                if wanted and key not in wanted:
                    out.other_tasks += 1
                    continue
                # a weighted key's records enter the stream that many times (data.task_weights); a key without a
                # weight of its own takes its data type's, if any
                weight = data.task_weights.get(key, data.task_weights.get(record["data_type"], 1))
                out.records.extend([record] * weight)
        except RecordFileError as e:
            raise RLDataError(str(e)) from None
    if data.max_records:
        out.records = out.records[: data.max_records]
    if not out.records:
        why = []
        if out.skipped:
            why.append(f"{len(out.skipped)} skipped as bad, e.g. {out.skipped[0]}")
        if out.other_tasks:
            why.append(f"{out.other_tasks} of other tasks than data.tasks {sorted(wanted)}")
        raise RLDataError(f"no usable RL-train records in {', '.join(map(str, files))}"
                          + (f" ({'; '.join(why)})" if why else ""))
    return out
