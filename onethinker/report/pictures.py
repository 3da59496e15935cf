"""What a picture of a result row shows, by the picture kind its task declares (``Task.picture``:
box, span, track, tube, mask; none for text answers): the row as text, the legend, the drawing on an
image, and the per-frame drawing plan of a video."""

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

from ..tasks import task_of_key
from .draw import (
    ERROR_COLOR, GIVEN_COLOR, MUTED_COLOR, PRED_COLOR, TEXT_COLOR, TRUTH_COLOR, _finite, draw_border, draw_box, draw_path,
    draw_points, draw_text, overlay_mask, timeline_strip, to_px,
)

# -------------------------------------------------------------------------------------------------
# text of a row
# -------------------------------------------------------------------------------------------------
def _num(v: Any, digits: int = 2) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return str(f)
    return str(int(f)) if f == int(f) and abs(f) < 1e15 else f"{f:.{digits}f}".rstrip("0").rstrip(".")


def _box_text(b: Any) -> str:
    return "[" + ", ".join(_num(v, 1) for v in b) + "]" if isinstance(b, (list, tuple)) else str(b)


def _keyed_boxes_text(boxes: Any, limit: int = 4) -> str:
    if not isinstance(boxes, dict) or not boxes:
        return "no boxes"
    keys = sorted(boxes, key=_sec_key)
    shown = "; ".join(f"{k}s {_box_text(boxes[k])}" for k in keys[:limit])
    return f"{len(keys)} boxes at {keys[0]}..{keys[-1]} s: {shown}" + (" ..." if len(keys) > limit else "")


def _sec_key(k: Any) -> float:
    try:
        return float(k)
    except (TypeError, ValueError):
        return math.inf


def picture_kind(task_key: Any) -> str | None:
    """The picture kind the task of this key declares (``Task.picture``); None: a text answer or an
    unknown key."""
    task = task_of_key(task_key)
    return task.picture if task is not None else None


def format_value(value: Any, task: str | None) -> str:
    """A parsed prediction or truth of the task with key ``task`` as one short line of text."""
    if value is None:
        return "-"
    kind = picture_kind(task)
    try:
        if kind == "span" and isinstance(value, (list, tuple)):
            return f"[{_num(value[0])} s, {_num(value[1])} s]"
        if kind == "box":
            return _box_text(value)
        if kind == "track":
            return _keyed_boxes_text(value)
        if kind == "tube" and isinstance(value, dict):
            span = value.get("time") or []
            return f"time [{', '.join(_num(v) for v in span)}] s; " + _keyed_boxes_text(value.get("boxes"), 3)
        if kind == "mask" and isinstance(value, dict):
            pos = " ".join(_box_text(p) for p in value.get("positive") or [])
            neg = " ".join(_box_text(p) for p in value.get("negative") or [])
            t = value.get("time")
            return (f"box {_box_text(value.get('box'))}; + {pos}; - {neg}" + (f"; time {_num(t)} s" if t is not None else ""))
    except (TypeError, IndexError, KeyError):
        pass
    if isinstance(value, float):
        return _num(value, 4)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


_PLACEHOLDER = re.compile(r"<(image|video)>")


def question_text(row: dict) -> str:
    q = _PLACEHOLDER.sub("", str(row.get("question") or "")).strip()
    return q


def item_name(row: dict) -> str:
    """``<bench>_<problem_id>`` with characters that do not belong in a file name replaced."""
    raw = f"{row.get('bench') or 'bench'}_{row.get('problem_id')}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip(".-") or "item"
    return name[:150]


def prediction_text(row: dict) -> str:
    """The parsed prediction, or why there is none."""
    if row.get("pred") is not None:
        return format_value(row.get("pred"), row.get("task"))
    if row.get("output") is None:
        return "no output" + (f" ({row['error']})" if row.get("error") else "")
    why = row.get("parse_error") or "not parsed"
    ans = row.get("answer")
    return f"unparsed ({why})" + (f": {ans}" if ans else "")


def panel_items(row: dict) -> list[tuple[str, tuple[int, int, int], int]]:
    """The lines of an item's text panel: (text, colour, max lines)."""
    reward = row.get("reward") or {}
    head = f"{row.get('bench')} | id {row.get('problem_id')} | {row.get('task')} ({row.get('data_type')})"
    items: list[tuple[str, tuple[int, int, int], int]] = [(head, MUTED_COLOR, 1),
                                                          ("Q: " + question_text(row), TEXT_COLOR, 4)]
    if row.get("options"):
        items.append(("   ".join(str(o) for o in row["options"]), TEXT_COLOR, 2))
    items.append(("pred: " + prediction_text(row), PRED_COLOR, 3))
    items.append(("truth: " + format_value(row.get("truth"), row.get("task")), TRUTH_COLOR, 3))
    score = row.get("score")
    line = f"score {_num(score, 3) if score is not None else '-'}"
    if reward:
        line += (f"  |  reward {_num(reward.get('overall'), 3)} (format {_num(reward.get('format'), 2)}, "
                 f"accuracy {_num(reward.get('accuracy'), 3)})")
    items.append((line, TEXT_COLOR, 1))
    if row.get("error"):
        items.append(("error: " + str(row["error"]), ERROR_COLOR, 2))
    return items


# -------------------------------------------------------------------------------------------------
# what to draw for a row
# -------------------------------------------------------------------------------------------------
def legend_entries(row: dict) -> list[tuple[str, tuple[int, int, int], str]]:
    kind = picture_kind(row.get("task"))
    if kind in ("box", "tube"):
        return [("prediction", PRED_COLOR, "box"), ("truth", TRUTH_COLOR, "box")]
    if kind == "track":
        return [("prediction", PRED_COLOR, "box"), ("truth", TRUTH_COLOR, "box"), ("given at t=0", GIVEN_COLOR, "box")]
    if kind == "mask":
        return [("predicted mask/prompt", PRED_COLOR, "fill"), ("true mask/prompt", TRUTH_COLOR, "fill"),
                ("positive point", TEXT_COLOR, "positive"), ("negative point", TEXT_COLOR, "negative")]
    if kind == "span":
        return [("predicted span", PRED_COLOR, "span"), ("true span", TRUTH_COLOR, "span")]
    return []


def _decode_rle(rle: Any) -> np.ndarray | None:
    if not isinstance(rle, dict) or "counts" not in rle or "size" not in rle:
        return None
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    try:
        m = mask_utils.decode({"size": [int(s) for s in rle["size"]],
                               "counts": counts.encode() if isinstance(counts, str) else counts})
    except Exception:  # a corrupt RLE draws nothing
        return None
    return m.astype(bool)


def _prompt(value: Any) -> dict | None:
    return value if isinstance(value, dict) and ("box" in value or "positive" in value) else None


def _draw_prompt(img: np.ndarray, prompt: dict | None, color: tuple[int, int, int], *, thickness: int = 2) -> None:
    """A segmentation prompt (0..1000 box and points)."""
    if prompt is None:
        return
    h, w = img.shape[:2]
    box = _finite(prompt.get("box"), 4)
    if box is not None:
        draw_box(img, to_px(box, (w, h)), color, thickness=thickness)
    r = max(3, min(w, h) // 70)
    draw_points(img, [to_px(p, (w, h)) for p in prompt.get("positive") or [] if _finite(p, 2)], color, positive=True, radius=r)
    draw_points(img, [to_px(p, (w, h)) for p in prompt.get("negative") or [] if _finite(p, 2)], color, positive=False, radius=r)


def annotate_image(row: dict, img: np.ndarray) -> np.ndarray:
    """Draw the row's prediction and truth on a copy of an image item's picture (any size)."""
    img = np.array(img, dtype=np.uint8, copy=True)
    h, w = img.shape[:2]
    kind = picture_kind(row.get("task"))
    thick = max(2, min(w, h) // 160)
    if kind == "box":
        draw_box(img, to_px(row["truth"], (w, h)) if _finite(row.get("truth"), 4) else None, TRUTH_COLOR, thickness=thick + 4)
        draw_box(img, to_px(row["pred"], (w, h)) if _finite(row.get("pred"), 4) else None, PRED_COLOR, thickness=thick)
    elif kind == "mask":
        masks_t, masks_p = (m if isinstance(m, dict) else {} for m in (row.get("truth_masks"), row.get("pred_masks")))
        overlay_mask(img, _decode_rle(masks_t.get("0")), TRUTH_COLOR, alpha=0.35, thickness=thick + 2)
        overlay_mask(img, _decode_rle(masks_p.get("0")), PRED_COLOR, alpha=0.35, thickness=thick)
        _draw_prompt(img, _prompt(row.get("truth")), TRUTH_COLOR, thickness=1)  # the true mask is what counts
        _draw_prompt(img, _prompt(row.get("pred")), PRED_COLOR, thickness=thick)
    return img


_BOX_IN_QUESTION = re.compile(r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]")


def given_box(row: dict) -> list[float] | None:
    """The box a tracking question gives for the first frame (t = 0), read from the question text."""
    m = _BOX_IN_QUESTION.search(str(row.get("question") or ""))
    return [float(v) for v in m.groups()] if m else None


def _keyed(value: Any) -> dict[float, list[float]]:
    """A {"second": box} mapping as {seconds: finite box} (bad entries dropped)."""
    out: dict[float, list[float]] = {}
    if isinstance(value, dict):
        for k, b in value.items():
            s, box = _sec_key(k), _finite(b, 4)
            if math.isfinite(s) and box is not None:
                out[s] = box
    return out


@dataclass
class _VideoPlan:
    """What a video row draws, prepared once for all frames."""

    kind: str | None  # the task's picture kind
    duration: float
    tol: float  # seconds: a frame within tol of a keyed second shows that second's box solid
    pred_boxes: dict[float, list[float]] = field(default_factory=dict)
    truth_boxes: dict[float, list[float]] = field(default_factory=dict)
    given: list[float] | None = None
    pred_span: list[float] | None = None
    truth_span: list[float] | None = None
    pred_prompt: dict | None = None
    truth_prompt: dict | None = None
    pred_masks: dict[int, Any] = field(default_factory=dict)
    truth_masks: dict[int, Any] = field(default_factory=dict)
    mask_tol: int = 0  # frames

    @classmethod
    def of(cls, row: dict, duration: float, sample_fps: float, native_fps: float) -> "_VideoPlan":
        kind = picture_kind(row.get("task"))
        tol = 0.5 / max(sample_fps, 1e-6) + 1e-6
        plan = cls(kind, duration, tol)
        pred, truth = row.get("pred"), row.get("truth")
        if kind == "track":
            plan.pred_boxes, plan.truth_boxes, plan.given = _keyed(pred), _keyed(truth), given_box(row)
        elif kind == "tube":
            plan.pred_boxes = _keyed((pred or {}).get("boxes")) if isinstance(pred, dict) else {}
            plan.truth_boxes = _keyed((truth or {}).get("boxes")) if isinstance(truth, dict) else {}
            plan.pred_span = _finite((pred or {}).get("time"), 2) if isinstance(pred, dict) else None
            plan.truth_span = _finite((truth or {}).get("time"), 2) if isinstance(truth, dict) else None
        elif kind == "span":
            plan.pred_span, plan.truth_span = _finite(pred, 2), _finite(truth, 2)
        elif kind == "mask":
            plan.pred_prompt, plan.truth_prompt = _prompt(pred), _prompt(truth)
            for src, dst in ((row.get("pred_masks"), plan.pred_masks), (row.get("truth_masks"), plan.truth_masks)):
                if isinstance(src, dict):
                    for k, rle in src.items():
                        s = _sec_key(k)
                        if math.isfinite(s):
                            dst[int(s)] = rle
            plan.mask_tol = int(math.floor(native_fps * tol)) if native_fps > 0 else 0
        return plan

    def _nearest_key(self, keys: Iterable[float], t: float) -> float | None:
        best = None
        for k in keys:
            if best is None or abs(k - t) < abs(best - t):
                best = k
        return best

    def mask_at(self, masks: dict[int, Any], index: int) -> Any:
        if index in masks:
            return masks[index]
        near = self._nearest_key(masks, index)
        return masks[int(near)] if near is not None and abs(near - index) <= self.mask_tol else None

    def has_overlay(self, t: float, index: int) -> bool:
        """Whether the frame at ``t`` (source index ``index``) shows a box, mask or prompt at full strength."""
        if self.kind in ("track", "tube"):
            keys = set(self.pred_boxes) | set(self.truth_boxes) | ({0.0} if self.given else set())
            return any(abs(k - t) <= self.tol for k in keys)
        if self.kind == "mask":
            if self.mask_at(self.truth_masks, index) is not None or self.mask_at(self.pred_masks, index) is not None:
                return True
        return False

    def marks(self, which: str) -> list[float]:
        if which == "pred":
            boxes, prompt = self.pred_boxes, self.pred_prompt
        else:
            boxes, prompt = self.truth_boxes, self.truth_prompt
        out = sorted(boxes)
        key_time = _finite([prompt.get("time")], 1) if prompt is not None else None
        if key_time is not None:
            out.append(key_time[0])
        return out

    def draw(self, img: np.ndarray, t: float, index: int) -> np.ndarray:
        h, w = img.shape[:2]
        thick = max(2, min(w, h) // 160)
        if self.kind in ("track", "tube"):
            if self.kind == "track":  # centre paths so far
                for boxes, color in ((self.truth_boxes, TRUTH_COLOR), (self.pred_boxes, PRED_COLOR)):
                    path = ([[0.0, self.given]] if self.given else []) + [[k, b] for k, b in sorted(boxes.items())]
                    centres = [to_px([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], (w, h)) for k, b in path if k <= t + self.tol]
                    draw_path(img, centres, color, thickness=max(1, thick - 1))
                if self.given is not None and abs(t) <= self.tol:
                    draw_box(img, to_px(self.given, (w, h)), GIVEN_COLOR, thickness=thick, label="given")
            for boxes, color, extra in ((self.truth_boxes, TRUTH_COLOR, 4), (self.pred_boxes, PRED_COLOR, 0)):
                k = self._nearest_key(boxes, t)
                if k is None or abs(k - t) > 1.0:
                    continue
                exact = abs(k - t) <= self.tol  # else the box of the nearest second, thin
                draw_box(img, to_px(boxes[k], (w, h)), color, thickness=thick + extra if exact else 1)
        elif self.kind == "mask":
            overlay_mask(img, _decode_rle(self.mask_at(self.truth_masks, index)), TRUTH_COLOR, alpha=0.35,
                         thickness=thick + 2)
            overlay_mask(img, _decode_rle(self.mask_at(self.pred_masks, index)), PRED_COLOR, alpha=0.35, thickness=thick)
            for prompt, color, width in ((self.truth_prompt, TRUTH_COLOR, 1), (self.pred_prompt, PRED_COLOR, thick)):
                pt = prompt.get("time") if prompt else None
                if prompt is not None and _finite([pt], 1) and abs(float(pt) - t) <= self.tol:
                    _draw_prompt(img, prompt, color, thickness=width)
        for span, color, side in ((self.truth_span, TRUTH_COLOR, "top"), (self.pred_span, PRED_COLOR, "bottom")):
            if span is not None and min(span) - self.tol <= t <= max(span) + self.tol:
                draw_border(img, color, thickness=max(3, thick + 1), side=side)
        draw_text(img, f"t={t:.2f}s", (3, 3 + (max(3, thick + 1) if self.truth_span else 0)), (255, 255, 255),
                  bg=(0, 0, 0), size=max(10, min(16, w // 30)))
        return img

    def timeline(self, width: int, t: float | None) -> np.ndarray:
        return timeline_strip(width, self.duration, t=t, pred_span=self.pred_span, truth_span=self.truth_span,
                              pred_marks=self.marks("pred"), truth_marks=self.marks("truth"))


