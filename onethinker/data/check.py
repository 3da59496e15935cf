"""``onethinker data check``: every problem of a record file, each with file, record index, problem_id,
field and what was expected; then a summary.

Checked: required fields and their types (per release format), unknown problem_type, a data_type
the task does not support, a ground truth that does not parse for its problem type, coordinates
outside the 0..1000 frame and spans or boxes with no extent, missing or inconsistent multiple-choice
options, duplicate problem_id, media placeholders that do not match the media, media that are missing
or resolve outside the media root, videos shorter than the times in their answer, and segmentation
run-length encodings whose size disagrees with the stated resolution.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..tasks.response import extract_answer, has_valid_format, truth_answer
from ..tasks import DATA_TYPES, PROBLEM_TYPES, TRAIN_DATA_TYPES, find_task, split_by_data_type
from .chat import PLACEHOLDER, media_of
from .media import MediaError, probe_video, resolve_media
from .records import EVAL, RL, SFT, RecordFileError, kind_of, scan_records

ERROR, WARNING = "error", "warning"
_OPTION = re.compile(r"^\s*\(?([A-Za-z])[\.\):]")


@dataclass(frozen=True)
class Problem:
    file: str
    index: int
    problem_id: Any
    field: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        pid = f" (problem_id {self.problem_id!r})" if self.problem_id is not None else ""
        return f"{self.file}: record {self.index}{pid}: {self.field}: {self.message}"


@dataclass
class CheckReport:
    file: str
    records: int = 0
    problems: list[Problem] = field(default_factory=list)
    by_type: Counter = field(default_factory=Counter)  # (problem_type, data_type) -> records
    kinds: Counter = field(default_factory=Counter)  # release format -> records
    media_found: int = 0
    media_missing: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]


@dataclass
class _Context:
    file: str
    media_root: Path | None
    allow_absolute: bool
    check_media: bool
    time_tolerance: float
    seen_ids: dict = field(default_factory=dict)
    video_cache: dict = field(default_factory=dict)
    image_cache: dict = field(default_factory=dict)


# required fields and their types, per format (spec/data-format.md)
_REQUIRED = {
    RL: {"problem_id": (int, str), "problem": str, "data_type": str, "problem_type": str, "answer": str},
    EVAL: {"problem_id": (int, str), "problem": str, "data_type": str, "problem_type": str, "solution": str, "path": str},
    SFT: {"messages": list},
}


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


def check_record(rec: Any, index: int, ctx: _Context, report: CheckReport) -> None:
    def add(fld: str, msg: str, severity: str = ERROR) -> None:
        pid = rec.get("problem_id") if isinstance(rec, dict) else None
        report.problems.append(Problem(ctx.file, index, pid, fld, msg, severity))

    if not isinstance(rec, dict):
        add("(record)", f"expected a JSON object, got {type(rec).__name__}")
        return
    kind = kind_of(rec)
    report.kinds[kind] += 1

    # -- required fields and types ------------------------------------------------------------
    for name, typ in _REQUIRED[kind].items():
        if name not in rec:
            add(name, "missing")
        elif isinstance(rec[name], bool) or not isinstance(rec[name], typ):
            add(name, f"expected {_type_name(typ)}, got {type(rec[name]).__name__}")
    if kind == RL and "problem_reserved_text" in rec and not isinstance(rec["problem_reserved_text"], str):
        add("problem_reserved_text", f"expected str, got {type(rec['problem_reserved_text']).__name__}")
    if kind == RL and "problem_reserved_text" not in rec:
        add("problem_reserved_text", "missing (the model judge's prompt falls back to nothing)", WARNING)
    for name in ("images", "videos"):
        if name in rec and (not isinstance(rec[name], list) or not all(isinstance(p, str) for p in rec[name])):
            add(name, _list_problem(rec[name]))
    options = rec.get("options")
    if options is not None and (not isinstance(options, list) or not all(isinstance(o, str) for o in options)):
        add("options", _options_problem(options))  # on every task: readers and converters expect a list of strings
    if kind == EVAL and rec.get("additional_path") is not None and not isinstance(rec["additional_path"], str):
        add("additional_path", f"expected str, got {type(rec['additional_path']).__name__}")
    if kind == RL and not (rec.get("images") or rec.get("videos")):
        add("images/videos", "missing: an RL record needs an 'images' or a 'videos' list")

    # -- duplicate problem_id -----------------------------------------------------------------
    pid = rec.get("problem_id")
    if isinstance(pid, (int, str)) and not isinstance(pid, bool):
        key = (type(pid).__name__, pid)
        if key in ctx.seen_ids:
            add("problem_id", f"duplicate of record {ctx.seen_ids[key]}")
        else:
            ctx.seen_ids[key] = index

    # -- task ---------------------------------------------------------------------------------
    ptype, dtype = rec.get("problem_type"), rec.get("data_type")
    task = None
    if kind == SFT:
        _check_sft(rec, add)
        if isinstance(ptype, str):
            task = find_task(ptype, dtype)
    else:
        allowed = DATA_TYPES if kind == EVAL else TRAIN_DATA_TYPES
        if isinstance(dtype, str) and dtype not in allowed:
            add("data_type", f"unknown value {dtype!r}; expected one of {', '.join(allowed)}")
        if isinstance(ptype, str):
            task = find_task(ptype, dtype)
            if task is None:
                if split_by_data_type(ptype):
                    add("data_type", f"{ptype.lower()} needs data_type image or video, got {dtype!r}")
                else:
                    add("problem_type", f"unknown value {ptype!r}; expected one of {', '.join(PROBLEM_TYPES)}")
            elif isinstance(dtype, str) and dtype in allowed and dtype not in task.data_types:
                add("data_type", f"{task.problem_type} is defined for {', '.join(task.data_types)}, not {dtype!r}")
        report.by_type[(str(ptype), str(dtype))] += 1
    if kind == SFT:
        report.by_type[(str(ptype) if ptype is not None else "(sft)", str(dtype) if dtype is not None else _sft_dtype(rec))] += 1

    # -- ground truth -------------------------------------------------------------------------
    value = None
    truth_field = {RL: "answer", EVAL: "solution", SFT: "messages"}[kind]
    truth = rec.get(truth_field) if kind != SFT else _sft_answer(rec)
    if task is not None and isinstance(truth, str):
        if kind in (RL, EVAL) and extract_answer(truth) is None:
            add(truth_field, "expected the ground truth wrapped as <answer>...</answer>")
        parsed = task.parse(truth_answer(truth))
        if not parsed.ok:
            add(truth_field, f"does not parse as a {task.key} answer: {parsed.error}")
        else:
            value = parsed.value
            for msg in task.check_value(value):
                add(truth_field, msg)
    if task is not None and task.has_options and kind != SFT:
        _check_options(rec, value, add)

    # -- media --------------------------------------------------------------------------------
    media = _usable_media(rec)
    if kind == EVAL and str(dtype).lower() == "video-image" and not rec.get("additional_path"):
        add("additional_path", "missing: a video-image item needs the extra image's path")
    if kind == RL and isinstance(rec.get("problem"), str):
        slots = PLACEHOLDER.findall(rec["problem"])
        if len(slots) > len(media):
            add("problem", f"{len(slots)} media placeholders but {len(media)} media files")
        elif not slots and media:
            add("problem", "no <image>/<video> placeholder: the media will be placed before the text", WARNING)
        elif [s[1:-1] for s in slots] != [k for k, _ in media][: len(slots)]:
            add("problem", f"placeholders {slots} do not match the media kinds {[k for k, _ in media]}")
    durations = []
    for kind_m, path in media:
        fld = "path" if kind == EVAL else ("images" if kind_m == "image" else "videos")
        if kind == EVAL and kind_m == "image" and str(dtype).lower() == "video-image":
            fld = "additional_path"
        try:
            resolved = resolve_media(path, ctx.media_root, allow_absolute=ctx.allow_absolute)
        except MediaError as e:
            add(fld, str(e))
            report.media_missing += 1
            continue
        if not resolved.is_file():
            add(fld, f"media file not found: {resolved}")
            report.media_missing += 1
            continue
        report.media_found += 1
        if not ctx.check_media:
            continue
        if kind_m == "video":
            info = ctx.video_cache.get(resolved)
            if info is None:
                try:
                    info = ctx.video_cache[resolved] = probe_video(resolved)
                except MediaError as e:
                    add(fld, str(e))
                    continue
            durations.append(info.duration)
        else:
            size = _image_size(resolved, ctx)
            if isinstance(size, str):
                add(fld, size)
    if task is not None and value is not None and durations:
        longest = max(task.times(value), default=None)
        if longest is not None and longest > durations[0] + ctx.time_tolerance:
            add(truth_field, f"refers to {longest:g} s but the video lasts {durations[0]:.2f} s")

    # -- segmentation masks (evaluation records) ----------------------------------------------
    if kind == EVAL and task is not None and task.mask_truth:
        _check_segmentation(rec, "video" in task.data_types, add)


def _list_problem(value: Any) -> str:
    if not isinstance(value, list):
        return f"expected a list of path strings, got {type(value).__name__}"
    bad = next(i for i, p in enumerate(value) if not isinstance(p, str))
    return f"expected a list of path strings, item {bad} is {type(value[bad]).__name__}"


def _usable_media(rec: dict) -> list[tuple[str, str]]:
    """``media_of`` without the entries whose type is wrong (those are reported by the type checks),
    so the media that are path strings are still checked."""
    clean = dict(rec)
    for name in ("images", "videos"):
        value = rec.get(name)
        if value is not None:
            clean[name] = [p for p in value if isinstance(p, str)] if isinstance(value, list) else []
    for name in ("path", "additional_path"):
        if name in rec and not isinstance(rec[name], str):
            clean[name] = None
    return media_of(clean)


def _sft_dtype(rec: dict) -> str:
    return "video" if rec.get("videos") else "image" if rec.get("images") else "text"


def _sft_answer(rec: dict) -> str | None:
    msgs = rec.get("messages")
    if not isinstance(msgs, list):
        return None
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "assistant" and isinstance(m.get("content"), str):
            return m["content"]
    return None


def _check_sft(rec: dict, add: Any) -> None:
    msgs = rec.get("messages")
    if not isinstance(msgs, list):
        return
    roles = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            add(f"messages[{i}]", "expected {'role': str, 'content': str}")
            continue
        roles.append(m["role"])
    if "user" not in roles:
        add("messages", "no user turn")
    if "assistant" not in roles:
        add("messages", "no assistant turn")
    answer = _sft_answer(rec)
    if answer is not None and not has_valid_format(answer):
        add("messages", "the assistant turn is not <think>...</think><answer>...</answer>")
    media = _usable_media(rec)
    user_text = " ".join(m["content"] for m in msgs if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str))
    slots = PLACEHOLDER.findall(user_text)
    if len(slots) != len(media):
        add("messages", f"{len(slots)} media placeholders in the user turns but {len(media)} media files")
    if not media:
        add("images/videos", "missing: an SFT record needs an 'images' or a 'videos' list")


def _options_problem(value: Any) -> str:
    if not isinstance(value, list):
        return f"expected a list of strings (e.g. ['A. cat', 'B. dog'], or [] when there are none), got {type(value).__name__}"
    bad = next(i for i, o in enumerate(value) if not isinstance(o, str))
    return f"expected a list of strings, item {bad} is {type(value[bad]).__name__}"


def _check_options(rec: dict, letter: Any, add: Any) -> None:
    options = rec.get("options")
    if options is not None and (not isinstance(options, list) or not all(isinstance(o, str) for o in options)):
        return  # mistyped: reported with the other field types
    if not options:
        add("options", "missing: a multiple-choice item needs a non-empty list of options")
        return
    letters = []
    for o in options:
        m = _OPTION.match(o)
        letters.append(m.group(1).upper() if m else None)
    if None in letters:
        add("options", "each option should start with its letter, e.g. 'A. cat'", WARNING)
    if isinstance(letter, str) and None not in letters and letter.upper() not in letters:
        add("options", f"the answer {letter!r} is not one of the options {letters}")


def _image_size(path: Path, ctx: _Context) -> tuple[int, int] | str:
    if path in ctx.image_cache:
        return ctx.image_cache[path]
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            out: tuple[int, int] | str = im.size
    except (UnidentifiedImageError, OSError) as e:
        out = f"unreadable image {path} ({e})"
    ctx.image_cache[path] = out
    return out


def _check_segmentation(rec: dict, video: bool, add: Any) -> None:
    res = rec.get("resolution")
    if not isinstance(res, dict) or not all(isinstance(res.get(k), int) and res.get(k) > 0 for k in ("width", "height")):
        add("resolution", "expected {'width': int, 'height': int}")
        return
    size = [res["height"], res["width"]]
    if video and (isinstance(rec.get("fps"), bool) or not isinstance(rec.get("fps"), (int, float)) or rec["fps"] <= 0):
        add("fps", "expected a positive number (frames per second of the video)")
    out = rec.get("segmentation_output")
    if not isinstance(out, dict):
        add("segmentation_output", "missing: expected {'frames': [...], 'segmentation_rle': ...}")
        return
    frames, rles = out.get("frames"), out.get("segmentation_rle")
    if not isinstance(frames, list):
        add("segmentation_output.frames", "expected a list of frame keys")
        frames = []
    elif video and not all(_frame_key(f) for f in frames):
        add("segmentation_output.frames", "expected frame indices (integers, or strings of digits)")
        frames = [f for f in frames if _frame_key(f)]
    if isinstance(rles, dict) and "counts" in rles:
        rles = {"(image)": rles}
    elif isinstance(rles, dict):
        missing = [str(f) for f in frames if str(f) not in rles]
        if missing:
            add("segmentation_output.segmentation_rle", f"no mask for frame(s) {', '.join(missing[:5])}")
        if not frames and not all(_frame_key(k) for k in rles):
            add("segmentation_output.segmentation_rle", "expected frame indices as keys")
        if not rles:
            add("segmentation_output.segmentation_rle", "no masks")
    else:
        add("segmentation_output.segmentation_rle", "expected an RLE or an object of frame key -> RLE")
        return
    for key, rle in rles.items():
        where = "segmentation_output.segmentation_rle" + ("" if key == "(image)" else f"[{key}]")
        if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
            add(where, "expected a COCO RLE {'counts', 'size': [h, w]}")
            continue
        if not isinstance(rle["size"], list):
            add(where, f"size: expected [h, w], got {type(rle['size']).__name__}")
            continue
        if rle["size"] != size:
            add(where, f"size {rle['size']} disagrees with the resolution [h, w] = {size}")
            continue
        try:
            from pycocotools import mask as mask_utils

            counts = rle["counts"]
            mask_utils.decode({"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts})
        except Exception as e:  # pycocotools raises plain Exceptions on bad counts
            add(where, f"cannot decode the RLE ({e})")


def _frame_key(key: Any) -> bool:
    return (isinstance(key, int) and not isinstance(key, bool) and key >= 0) or (isinstance(key, str) and key.isdigit()
                                                                                and key.isascii())


def segmentation_truth_problems(rec: dict, video: bool) -> list[str]:
    """What is wrong with an evaluation record's true masks and resolution ("field: message" strings; empty
    when they can be scored)."""
    found: list[str] = []
    _check_segmentation(rec, video, lambda fld, msg, severity=ERROR: found.append(f"{fld}: {msg}")
                        if severity == ERROR else None)
    return found


def check_file(
    path: str | Path,
    media_root: str | Path | None = None,
    *,
    allow_absolute: bool = False,
    check_media: bool = True,
    time_tolerance: float = 0.5,
) -> CheckReport:
    """Check every record of a file; the report lists each problem (never stops at the first)."""
    path = Path(path)
    report = CheckReport(file=str(path))
    ctx = _Context(str(path), Path(media_root) if media_root is not None else None, allow_absolute, check_media, time_tolerance)
    try:
        for index, rec, err in scan_records(path):
            report.records += 1
            if err:
                report.problems.append(Problem(str(path), index, None, "(record)", err))
            else:
                check_record(rec, index, ctx, report)
    except RecordFileError as e:
        report.problems.append(Problem(str(path), report.records, None, "(file)", str(e)))
    return report


def check_files(paths: Iterable[str | Path], **kw: Any) -> list[CheckReport]:
    return [check_file(p, **kw) for p in paths]

