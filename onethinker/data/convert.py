"""Convert OneThinker record files for other engines: verl (RL parquet) and LLaMA-Factory (SFT ShareGPT).

``onethinker data convert FILE --to verl|llamafactory --out PATH`` calls :func:`convert_file`.

Prompts come from the task registry, so a converted prompt is the same text the native trainer,
evaluation and inference use (``Task.prompt``: the question, the options for multiple choice, the
reasoning instruction and the answer form), with ``<image>`` / ``<video>`` placeholders where the media
go - where the record's question has them, else all in front of the text, in media order (evaluation
files have none). That is where :func:`onethinker.data.chat.user_message` puts the media.

verl
----
:func:`to_verl` writes one parquet row per RL-train (or evaluation) record for verl's own multimodal
dataset, ``verl.utils.dataset.rl_dataset.RLHFDataset``, with no custom dataset class. Field forms were
read from the released wheels (PyPI ``verl`` 0.5.0, 0.6.1, 0.7.0, 0.7.1, 0.8.0, 0.9.1: files
``verl/utils/dataset/rl_dataset.py`` and ``verl/utils/dataset/vision_utils.py``) and qwen-vl-utils 0.0.14
(``qwen_vl_utils/vision_process.py``), and a converted synthetic corpus was loaded with each release's
RLHFDataset and a small Qwen2-VL processor:

- ``prompt``: ``[{"role": "user", "content": TEXT}]``, content a plain string. RLHFDataset's
  ``_build_messages`` splits every string content at ``(<image>|<video>)`` and replaces each
  placeholder, in order, by the next entry of the ``images`` / ``videos`` column (0.7.1 and later;
  0.5 / 0.6 put an empty ``{"type": "image"}`` there and read the columns separately). Since 0.7 it
  asserts that each kind's placeholders and column entries are equally many, so every medium gets
  exactly one placeholder here.
- ``images``: ``[{"image": "/abs/path.png"}, ...]``. A dict, not a bare string: 0.5 / 0.6 pass each
  entry to ``vision_utils.process_image``, which hands the dict to qwen-vl-utils ``fetch_image`` (which
  reads ``ele["image"]``); 0.7.1+ expand it as ``{"type": "image", **entry}``, and 0.7.1 / 0.8 raise
  ``TypeError`` for anything but a dict or a PIL image.
- ``videos``: ``[{"video": "/abs/path.mp4", "fps": 2.0, "max_frames": 128}, ...]``. ``process_video``
  (0.5 / 0.6) refuses anything but a dict with a ``"video"`` key, and 0.7.1+ expand the dict into the
  content item ``{"type": "video", **entry}``, so the sampling settings travel inside the entry:
  qwen-vl-utils ``fetch_video`` / ``smart_nframes`` read ``fps``, ``min_frames``, ``max_frames``,
  ``min_pixels``, ``max_pixels``, ``total_pixels`` from it (``process_video``'s own ``fps`` argument
  only applies when the entry has neither ``fps`` nor ``nframes``). Every entry has the same keys (a
  parquet struct) and none is null: a null ``fps`` would still count as "has fps".
- A record without images has ``images`` null (likewise ``videos``); 0.6+ treat null and empty alike.
  A column no record uses is left out.
- ``data_source`` (passed to the reward function), ``ability``, ``reward_model`` =
  ``{"style": "rule", "ground_truth": "<answer>...</answer>"}`` and ``extra_info`` (``index`` is what
  RLHFDataset reports as the row's index) as in verl's multimodal example
  ``examples/data_preprocess/geo3k.py``.

Known limits of particular verl releases (their code, not this format): 0.7.0 wraps dict entries as
``{"type": "image", "image": entry}`` and takes ``len()`` of a null column, so it cannot read dict media
- use another release; 0.7.x's over-long-prompt filter drops every multimodal row (it removes the media
from the row before measuring it) - set ``data.filter_overlong_prompts=False``; 0.5's filter iterates
the media columns without a null check - convert image and video records to separate files, or turn
the filter off.

Media paths are resolved under the media root (:func:`onethinker.data.media.resolve_media`: nothing
outside it unless ``allow_absolute``) and must exist. ``absolute_paths=True`` (default) writes absolute
paths, so the parquet works from any working directory; ``absolute_paths=False`` writes them relative to
the media root (qwen-vl-utils opens them relative to the working directory, so run verl from there).

LLaMA-Factory
-------------
:func:`to_llamafactory` writes ``OUT_DIR/<name>.json`` (ShareGPT/OpenAI-style ``messages`` with
``images`` / ``videos`` path lists) and adds the dataset's entry to ``OUT_DIR/dataset_info.json``
(``formatting: sharegpt``, ``columns``, ``tags`` with ``role``/``content``/``user``/``assistant``), as in
LLaMA-Factory's ``data/README.md`` and the OneThinker release's ``LLaMA-Factory/data/dataset_info.json``.
SFT records pass through (messages unchanged, media paths re-based). RL-train and evaluation records
become a user turn (the prompt above) and an assistant turn holding only the ground truth
``<answer>...</answer>`` - no ``<think>`` reasoning, so such data teaches the answer form, not reasoning.
Relative paths (``absolute_paths=False``) are relative to the media root: set LLaMA-Factory's
``media_dir`` to it. Video sampling (``video_fps``, ``video_maxlen``) is a LLaMA-Factory training
argument, not part of the data.

Errors: a record that cannot be converted (unknown problem_type, no media or a missing media file,
media outside the root, placeholders that do not match the media, a missing ground truth) raises
:class:`ConvertError` naming the record index, problem_id and field. Nothing is dropped silently.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..tasks.response import extract_answer
from ..tasks import UnknownTaskError, get_task
from .chat import PLACEHOLDER, RecordError, media_of, question_text
from .media import MediaError, resolve_media
from .records import EVAL, SFT, container_of, kind_of, read_records

__all__ = [
    "ConvertError",
    "DEFAULT_VIDEO_OPTIONS",
    "FORMATS",
    "convert_file",
    "llamafactory_entry",
    "prompt_text",
    "to_llamafactory",
    "to_verl",
]

FORMATS = ("verl", "llamafactory")

#: Video sampling written into every verl video entry (qwen-vl-utils keys). 2 fps and at most 128
#: frames are the OneThinker settings (EasyR1 ``video_fps: 2.0``; LLaMA-Factory ``video_fps: 2``,
#: ``video_maxlen: 128``).
DEFAULT_VIDEO_OPTIONS: dict[str, Any] = {"fps": 2.0, "max_frames": 128}

_NO_RECORDS = "no records to convert"
_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}


class ConvertError(ValueError):
    """A record that cannot be converted; the message names the file (when known), the record index,
    problem_id and field. The parts are kept as attributes."""

    def __init__(self, index: int, problem_id: Any, field: str, message: str, file: str | Path | None = None):
        self.index, self.problem_id, self.field, self.message = index, problem_id, field, message
        self.file = None if file is None else str(file)
        pid = f" (problem_id {problem_id!r})" if problem_id is not None else ""
        where = f"{self.file}: " if self.file else ""
        super().__init__(f"{where}record {index}{pid}: {field}: {message}")

    def in_file(self, file: str | Path) -> "ConvertError":
        return ConvertError(self.index, self.problem_id, self.field, self.message, file)


# ---------------------------------------------------------------------------------------------
# shared pieces
# ---------------------------------------------------------------------------------------------
def _fail(index: int, record: Any, field: str, message: str) -> ConvertError:
    pid = record.get("problem_id") if isinstance(record, dict) else None
    return ConvertError(index, pid, field, message)


def _media_field(record: dict, kind: str, position: int) -> str:
    """The field a record's ``position``-th medium (in media_of order) comes from, for messages."""
    if kind_of(record) == EVAL:
        return "path" if position == 0 else "additional_path"
    key = "images" if kind == "image" else "videos"
    n_images = len(record.get("images") or [])
    return f"{key}[{position if kind == 'image' else position - n_images}]"


def _media(record: dict, index: int, media_root: str | Path | None, allow_absolute: bool, absolute_paths: bool,
           check_media: bool) -> list[tuple[str, str]]:
    """The record's media as (kind, path to write), resolved under the root and checked to exist."""
    for key in ("images", "videos"):
        value = record.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(p, str) for p in value)):
            raise _fail(index, record, key, f"expected a list of paths, got {value!r}")
    try:
        media = media_of(record)
    except RecordError as e:  # "field: what is wrong"
        field, _, rest = str(e).partition(": ")
        raise _fail(index, record, field, rest) from None
    if kind_of(record) == EVAL and str(record.get("data_type", "")).lower() == "video-image" \
            and not record.get("additional_path"):
        raise _fail(index, record, "additional_path", "a video-image record needs its extra image")
    if not media:
        fields = "path" if kind_of(record) == EVAL else "images or videos"
        raise _fail(index, record, fields, "the record has no media (expected at least one image or video)")
    root = Path(media_root if media_root is not None else os.getcwd()).resolve()
    out = []
    for i, (kind, raw) in enumerate(media):
        field = _media_field(record, kind, i)
        if not isinstance(raw, str):
            raise _fail(index, record, field, f"expected a path string, got {raw!r}")
        try:
            full = resolve_media(raw, root, allow_absolute=allow_absolute)
        except MediaError as e:
            raise _fail(index, record, field, str(e)) from None
        if check_media and not full.is_file():
            raise _fail(index, record, field, f"{raw}: no such file under the media root {root} (looked for {full})")
        out.append((kind, str(full) if absolute_paths else _relative(raw, full, root)))
    return out


def _relative(raw: str, full: Path, root: Path) -> str:
    """A media path relative to the media root (absolute when, with allow_absolute, it lies outside)."""
    if not os.path.isabs(raw):
        return Path(os.path.normpath(raw)).as_posix()
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        return str(full)


def _place(text: str, kinds: list[str]) -> str:
    """``text`` with exactly one placeholder per medium, where chat.user_message puts the media.

    No placeholders: all in front, in media order. Placeholders present: the i-th one must name the
    i-th medium's kind; media beyond the last placeholder go after the text (as in chat._content).
    Raises RecordError when the placeholders do not fit the media.
    """
    found = PLACEHOLDER.findall(text)
    if not found:
        return "".join(f"<{k}>" for k in kinds) + text
    if len(found) > len(kinds):
        raise RecordError(f"problem: {len(found)} media placeholders but the record has {len(kinds)} media files")
    for i, (tag, kind) in enumerate(zip(found, kinds)):
        if tag != f"<{kind}>":
            raise RecordError(f"problem: placeholder {i + 1} is {tag} but medium {i + 1} is {_a(kind)}")
    return text + "".join(f"<{k}>" for k in kinds[len(found):])


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def prompt_text(record: dict, kinds: list[str] | None = None) -> str:
    """The user turn's full text for an RL-train or evaluation record: ``Task.prompt`` (question,
    options for multiple choice, reasoning instruction, answer form) with one ``<image>`` /
    ``<video>`` placeholder per medium. ``kinds``: the media kinds in order (default: the record's).

    Raises UnknownTaskError (unknown problem_type) or RecordError (bad question or placeholders).
    """
    task = get_task(record.get("problem_type"), record.get("data_type"))
    question = question_text(record)
    options = None
    if task.has_options:
        options = record.get("options")
        if not (isinstance(options, list) and options and all(isinstance(o, str) for o in options)):
            raise RecordError(f"options: multiple choice needs a non-empty list of strings, got {options!r}")
    if kinds is None:
        kinds = [k for k, _ in media_of(record)]
    return task.prompt(_place(question, kinds), options)


def _prompt(record: dict, index: int, kinds: list[str]) -> str:
    try:
        return prompt_text(record, kinds)
    except UnknownTaskError as e:
        raise _fail(index, record, "problem_type", str(e)) from None
    except RecordError as e:  # messages read "field: what is wrong"
        field, sep, rest = str(e).partition(": ")
        if not sep or " " in field:
            field, rest = "problem", str(e)
        raise _fail(index, record, field, rest) from None


def _ground_truth(record: dict, index: int) -> str:
    key = "solution" if kind_of(record) == EVAL else "answer"
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(index, record, key, f"expected the ground truth as a non-empty string, got {value!r}")
    return value


def _bare_question(record: dict) -> str:
    """The question without placeholders (what a model judge is shown)."""
    reserved = record.get("problem_reserved_text")
    if isinstance(reserved, str) and reserved.strip():
        return reserved
    return PLACEHOLDER.sub("", record["problem"]).strip()


# ---------------------------------------------------------------------------------------------
# verl
# ---------------------------------------------------------------------------------------------
def _verl_row(record: Any, index: int, *, media_root: str | Path | None, allow_absolute: bool,
              absolute_paths: bool, check_media: bool, data_source: str, video_options: Mapping[str, Any]) -> dict:
    if not isinstance(record, dict):
        raise ConvertError(index, None, "record", f"expected a JSON object, got {type(record).__name__}")
    if kind_of(record) == SFT:
        raise _fail(index, record, "messages", "an SFT record (messages) has no ground truth for RL; convert the "
                    "RL-train or an evaluation file to verl, SFT files to llamafactory")
    media = _media(record, index, media_root, allow_absolute, absolute_paths, check_media)
    text = _prompt(record, index, [k for k, _ in media])
    truth = _ground_truth(record, index)
    images = [{"image": p} for k, p in media if k == "image"]
    videos = [{"video": p, **video_options} for k, p in media if k == "video"]
    options = record.get("options")
    return {
        "data_source": data_source,
        "prompt": [{"role": "user", "content": text}],
        "images": images or None,
        "videos": videos or None,
        "ability": str(record.get("problem_type")),
        "reward_model": {"style": "rule", "ground_truth": truth},
        "extra_info": {
            "index": index,
            "problem_id": record.get("problem_id"),
            "problem_type": str(record.get("problem_type")),
            "data_type": str(record.get("data_type")),
            "problem": _bare_question(record),
            "options": [str(o) for o in options] if isinstance(options, list) else [],
        },
    }


def _verl_schema(rows: list[dict], video_options: Mapping[str, Any]) -> Any:
    import pyarrow as pa

    ids = [r["extra_info"]["problem_id"] for r in rows]
    int_ids = all(isinstance(i, int) and not isinstance(i, bool) and -(2**63) <= i < 2**63 for i in ids)
    if not int_ids:  # one parquet type per column: ids of mixed types (or beyond int64) are written as strings
        for r in rows:
            pid = r["extra_info"]["problem_id"]
            r["extra_info"]["problem_id"] = None if pid is None else str(pid)
    fields = [
        pa.field("data_source", pa.string()),
        pa.field("prompt", pa.list_(pa.struct([pa.field("role", pa.string()), pa.field("content", pa.string())]))),
    ]
    if any(r["images"] for r in rows):
        fields.append(pa.field("images", pa.list_(pa.struct([pa.field("image", pa.string())]))))
    if any(r["videos"] for r in rows):
        video_fields = [pa.field("video", pa.string())]
        video_fields += [pa.field(k, pa.scalar(v).type) for k, v in video_options.items()]
        fields.append(pa.field("videos", pa.list_(pa.struct(video_fields))))
    fields += [
        pa.field("ability", pa.string()),
        pa.field("reward_model", pa.struct([pa.field("style", pa.string()), pa.field("ground_truth", pa.string())])),
        pa.field("extra_info", pa.struct([
            pa.field("index", pa.int64()),
            pa.field("problem_id", pa.int64() if int_ids else pa.string()),
            pa.field("problem_type", pa.string()),
            pa.field("data_type", pa.string()),
            pa.field("problem", pa.string()),
            pa.field("options", pa.list_(pa.string())),
        ])),
    ]
    return pa.schema(fields)


def to_verl(records: Iterable[dict], out_path: str | Path, *, media_root: str | Path | None = None,
            allow_absolute: bool = False, data_source: str = "onethinker", absolute_paths: bool = True,
            video_options: Mapping[str, Any] | None = None, check_media: bool = True) -> int:
    """Write RL-train or evaluation records as a verl RLHFDataset parquet at ``out_path``; returns rows.

    One row per record, in order (``extra_info.index`` is the record's position). ``video_options``:
    the qwen-vl-utils sampling keys put in every video entry (default :data:`DEFAULT_VIDEO_OPTIONS`;
    e.g. add ``"max_pixels"``); values must be numbers, none None. ``check_media``: require every
    media file to exist. The file is written whole or not at all; any record that cannot be converted
    raises :class:`ConvertError` (see the module docstring for the field forms and the verl sources).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_path = Path(out_path)
    if out_path.suffix.lower() != ".parquet":
        raise ValueError(f"{out_path}: a verl dataset is a .parquet file")
    video_options = dict(DEFAULT_VIDEO_OPTIONS if video_options is None else video_options)
    bad = {k: v for k, v in video_options.items()
           if k == "video" or isinstance(v, bool) or not isinstance(v, (int, float))}
    if bad:
        raise ValueError(f"video_options must map qwen-vl-utils keys to numbers, got {bad}")
    rows = [
        _verl_row(rec, i, media_root=media_root, allow_absolute=allow_absolute, absolute_paths=absolute_paths,
                  check_media=check_media, data_source=data_source, video_options=video_options)
        for i, rec in enumerate(records)
    ]
    if not rows:
        raise ValueError(_NO_RECORDS)
    schema = _verl_schema(rows, video_options)
    names = set(schema.names)
    table = pa.Table.from_pylist([{k: v for k, v in r.items() if k in names} for r in rows], schema=schema)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out_path)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# LLaMA-Factory
# ---------------------------------------------------------------------------------------------
def _sft_record(record: dict, index: int, media: list[tuple[str, str]]) -> dict:
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in messages
    ):
        raise _fail(index, record, "messages",
                    "expected a non-empty list of {role, content} objects with string values")
    roles = [m["role"] for m in messages]
    turns = roles[1:] if roles[0] == "system" else roles  # LLaMA-Factory takes a system turn only first
    if not turns or len(turns) % 2 or any(r != ("user" if i % 2 == 0 else "assistant") for i, r in enumerate(turns)):
        raise _fail(index, record, "messages", "expected an optional system turn, then alternating user/assistant "
                    f"turns ending with the assistant, got {roles}")
    for kind in ("image", "video"):
        n_tags = sum(m["content"].count(f"<{kind}>") for m in messages)
        n_media = sum(1 for k, _ in media if k == kind)
        if n_tags != n_media:
            raise _fail(index, record, "messages", f"{n_tags} <{kind}> placeholders but {n_media} {kind}s "
                        "(LLaMA-Factory needs one placeholder per medium)")
    return {"messages": copy.deepcopy(messages)}


def _answer_turn(truth: str) -> str:
    return truth if extract_answer(truth) is not None else f"<answer>{truth.strip()}</answer>"


def _llamafactory_record(record: Any, index: int, *, media_root: str | Path | None, allow_absolute: bool,
                         absolute_paths: bool, check_media: bool) -> dict:
    if not isinstance(record, dict):
        raise ConvertError(index, None, "record", f"expected a JSON object, got {type(record).__name__}")
    media = _media(record, index, media_root, allow_absolute, absolute_paths, check_media)
    if kind_of(record) == SFT:
        out = _sft_record(record, index, media)
    else:
        text = _prompt(record, index, [k for k, _ in media])
        truth = _ground_truth(record, index)
        out = {"messages": [{"role": "user", "content": text},
                            {"role": "assistant", "content": _answer_turn(truth)}]}
    images = [p for k, p in media if k == "image"]
    videos = [p for k, p in media if k == "video"]
    if images:
        out["images"] = images
    if videos:
        out["videos"] = videos
    return out


def llamafactory_entry(file_name: str, *, images: bool = True, videos: bool = False, system: bool = False) -> dict:
    """The dataset_info.json entry for a ShareGPT file written by :func:`to_llamafactory`.

    ``system``: the data has system turns; LLaMA-Factory then needs ``system_tag`` among the tags
    (it sets every tag the entry's ``tags`` leave out to None)."""
    columns = {"messages": "messages"}
    if images:
        columns["images"] = "images"
    if videos:
        columns["videos"] = "videos"
    tags = dict(_TAGS, system_tag="system") if system else dict(_TAGS)
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": tags}


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")
    tmp.replace(path)


def to_llamafactory(records: Iterable[dict], out_dir: str | Path, *, name: str = "onethinker_sft",
                    media_root: str | Path | None = None, allow_absolute: bool = False,
                    absolute_paths: bool = True, check_media: bool = True) -> tuple[Path, Path]:
    """Write records as LLaMA-Factory ShareGPT data; returns (``OUT_DIR/<name>.json``, dataset_info.json).

    SFT records keep their messages; RL-train and evaluation records become a user turn (the task
    prompt with placeholders) and an assistant turn holding only the ground truth
    ``<answer>...</answer>`` - no reasoning. The dataset_info.json entry ``name`` is added or replaced;
    other entries of an existing file are kept. Any record that cannot be converted raises
    :class:`ConvertError`.
    """
    data_path, info_path, _ = _write_llamafactory(records, out_dir, name=name, media_root=media_root,
                                                  allow_absolute=allow_absolute, absolute_paths=absolute_paths,
                                                  check_media=check_media)
    return data_path, info_path


def _write_llamafactory(records: Iterable[dict], out_dir: str | Path, *, name: str = "onethinker_sft",
                        media_root: str | Path | None = None, allow_absolute: bool = False,
                        absolute_paths: bool = True, check_media: bool = True) -> tuple[Path, Path, int]:
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"dataset name {name!r} must be a plain file stem")
    out_dir = Path(out_dir)
    data = [
        _llamafactory_record(rec, i, media_root=media_root, allow_absolute=allow_absolute,
                             absolute_paths=absolute_paths, check_media=check_media)
        for i, rec in enumerate(records)
    ]
    if not data:
        raise ValueError(_NO_RECORDS)
    info_path = out_dir / "dataset_info.json"
    info: dict = {}
    if info_path.exists():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{info_path}: not valid JSON ({e}); not overwriting it") from None
        if not isinstance(info, dict):
            raise ValueError(f"{info_path}: expected a JSON object of dataset entries; not overwriting it")
    data_path = out_dir / f"{name}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(data_path, data)
    info[name] = llamafactory_entry(data_path.name, images=any("images" in r for r in data),
                                    videos=any("videos" in r for r in data),
                                    system=any(r["messages"][0]["role"] == "system" for r in data))
    _write_json(info_path, info)
    return data_path, info_path, len(data)


# ---------------------------------------------------------------------------------------------
# files (the CLI)
# ---------------------------------------------------------------------------------------------
def convert_file(path: str | Path, to: str, out: str | Path, *, media_root: str | Path | None = None,
                 allow_absolute: bool = False, absolute_paths: bool = True, **kwargs: Any) -> dict:
    """Convert a record file (.json, .jsonl, .parquet) for ``to`` ("verl" or "llamafactory").

    ``out``: verl - the parquet to write (a folder, or a path without the .parquet suffix, gets
    ``<input stem>.parquet`` inside); llamafactory - the folder for ``<input stem>.json`` and
    dataset_info.json. ``media_root`` defaults to the current directory (the CLI passes the file's
    folder). Other keyword arguments go to :func:`to_verl` / :func:`to_llamafactory`. Returns
    ``{"input", "to", "records", "outputs"}``; errors name the file, record index, problem_id and field.
    """
    path = Path(path)
    if to not in FORMATS:
        raise ValueError(f"unknown target {to!r}; expected one of {', '.join(FORMATS)}")
    container_of(path)  # a clear error for an unknown file type
    out = Path(out)
    records = read_records(path)
    try:
        if to == "verl":
            target = out if out.suffix.lower() == ".parquet" else out / f"{path.stem}.parquet"
            n = to_verl(records, target, media_root=media_root, allow_absolute=allow_absolute,
                        absolute_paths=absolute_paths, **kwargs)
            outputs = [str(target)]
        else:
            kwargs.setdefault("name", path.stem)
            data_path, info_path, n = _write_llamafactory(records, out, media_root=media_root,
                                                          allow_absolute=allow_absolute,
                                                          absolute_paths=absolute_paths, **kwargs)
            outputs = [str(data_path), str(info_path)]
    except ConvertError as e:
        raise e.in_file(path) from None
    except ValueError as e:
        if str(e) == _NO_RECORDS:
            raise ValueError(f"{path}: {_NO_RECORDS}") from None
        raise
    return {"input": str(path), "to": to, "records": n, "outputs": outputs}
