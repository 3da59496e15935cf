"""Records -> chat messages, through the task registry (one source of prompt text for training,
evaluation and inference).

The user turn is the question with the media where its placeholders are, then the common
reasoning instruction and the task's answer form (``Task.prompt``). Content items follow the Qwen-VL
chat format: ``{"type": "image", "image": path}``, ``{"type": "video", "video": path}``,
``{"type": "text", "text": ...}``; media paths are resolved against the media root.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..tasks import get_task
from .media import resolve_media
from .records import EVAL, SFT, kind_of

PLACEHOLDER = re.compile(r"(<image>|<video>)")


class RecordError(ValueError):
    """A record that cannot be turned into a prompt; the message names the field."""


def media_of(record: dict) -> list[tuple[str, str]]:
    """The record's media in order, as (kind, path) pairs, kind "image" or "video".

    Raises :class:`RecordError` naming the field when a media field has the wrong type (``images`` /
    ``videos`` not a list of strings, ``path`` / ``additional_path`` not a string): a medium is never
    silently left out."""
    if kind_of(record) == EVAL:
        out = []
        dtype = str(record.get("data_type", "")).lower()
        fields = ["path"] + (["additional_path"] if dtype == "video-image" else [])
        for name in fields:
            value = record.get(name)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise RecordError(f"{name}: expected a path string, got {type(value).__name__}")
            out.append(("image" if name == "additional_path" or dtype == "image" else "video", value))
        return out
    out = []
    for name, kind in (("images", "image"), ("videos", "video")):
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, list):
            raise RecordError(f"{name}: expected a list of path strings, got {type(value).__name__}")
        for i, p in enumerate(value):
            if not isinstance(p, str):
                raise RecordError(f"{name}[{i}]: expected a path string, got {type(p).__name__}")
            out.append((kind, p))
    return out


def question_text(record: dict) -> str:
    """The record's question: ``problem`` (RL, eval) or the first user turn (SFT)."""
    if kind_of(record) == SFT:
        for m in record.get("messages") or []:
            if isinstance(m, dict) and m.get("role") == "user":
                return str(m.get("content", ""))
        raise RecordError("messages: no user turn")
    problem = record.get("problem")
    if not isinstance(problem, str):
        raise RecordError("problem: expected a string")
    return problem


def _content(text: str, media: list[tuple[str, Any]], video_options: dict | None) -> list[dict]:
    """Split ``text`` at its placeholders and put the media there; media without a placeholder go first
    (that is how the evaluation files, which have none, are laid out)."""
    pieces = PLACEHOLDER.split(text)
    n_slots = len(pieces) // 2
    if n_slots > len(media):
        raise RecordError(f"problem has {n_slots} media placeholders but the record has {len(media)} media files")

    def item(kind: str, path: Any) -> dict:
        entry: dict = {"type": kind, kind: path}
        if kind == "video" and video_options:
            entry.update(video_options)
        return entry

    extra = media[n_slots:] if n_slots else media
    slots = media[:n_slots] if n_slots else []
    content = [item(k, p) for k, p in extra] if not n_slots else []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            if piece:
                content.append({"type": "text", "text": piece})
        else:
            kind, path = slots[i // 2]
            content.append(item(kind, path))
    if n_slots:
        content += [item(k, p) for k, p in extra]
    return content


def user_message(
    record: dict,
    media_root: str | Path | None = None,
    *,
    allow_absolute: bool = False,
    video_options: dict | None = None,
    instruction: bool = True,
) -> dict:
    """The user turn for a record: question (+ options) + instruction + answer form, media in place.

    ``video_options`` (e.g. ``{"fps": 2, "max_frames": 128}``) are added to every video item.
    ``instruction=False`` keeps an SFT user turn exactly as the data has it.
    """
    media = [(k, str(resolve_media(p, media_root, allow_absolute=allow_absolute))) for k, p in media_of(record)]
    text = question_text(record)
    if instruction:
        task = get_task(record.get("problem_type"), record.get("data_type"))
        options = record.get("options") if task.has_options else None
        if options is not None and not (isinstance(options, list) and all(isinstance(o, str) for o in options)):
            raise RecordError(f"options: expected a list of strings, got {type(options).__name__}"
                              + (" holding other values" if isinstance(options, list) else ""))
        text = task.prompt(text, options)
    return {"role": "user", "content": _content(text, media, video_options)}


def record_messages(
    record: dict,
    media_root: str | Path | None = None,
    *,
    allow_absolute: bool = False,
    video_options: dict | None = None,
    with_answer: bool = False,
) -> list[dict]:
    """Chat messages for a record of any of the three formats.

    RL and evaluation records give the user turn built through the registry (plus, with
    ``with_answer``, an assistant turn holding the ground truth). SFT records keep their own turns,
    with media placed at their placeholders.
    """
    if kind_of(record) == SFT:
        msgs = record.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise RecordError("messages: expected a non-empty list")
        media = [(k, str(resolve_media(p, media_root, allow_absolute=allow_absolute))) for k, p in media_of(record)]
        out = []
        for m in msgs:
            text = str(m.get("content", "")) if isinstance(m, dict) else ""
            role = m.get("role") if isinstance(m, dict) else None
            if role == "user" and media is not None:  # the media belong to the first user turn
                out.append({"role": "user", "content": _content(text, media, video_options)})
                media = None
            else:
                out.append({"role": role, "content": [{"type": "text", "text": text}]})
        return out
    messages = [user_message(record, media_root, allow_absolute=allow_absolute, video_options=video_options)]
    if with_answer:
        truth = record.get("solution" if kind_of(record) == EVAL else "answer")
        messages.append({"role": "assistant", "content": [{"type": "text", "text": str(truth)}]})
    return messages
