"""Pictures of evaluation results: the model's prediction and the truth drawn on the item's media.

``onethinker viz OUT/<bench>.jsonl --out DIR`` calls :func:`visualize`, which picks a sample of result
rows (written by :mod:`onethinker.evaluate.runner`) and writes one file per item, ``<bench>_<id>.<ext>``:

- an image item: one PNG with the boxes / points / masks drawn, a legend and a text panel
  (question, parsed prediction, truth, score);
- a video item: an MP4 (or GIF) of frames sampled at 2 fps with, on each frame, the predicted and true
  boxes of that second (tracking: also the path of the box centres so far), the masks of that frame,
  the time, and a timeline bar with the predicted and true spans; next to it a PNG filmstrip
  ``<bench>_<id>.filmstrip.png`` (a few frames side by side) for a static view.

Colours: prediction :data:`PRED_COLOR` (magenta), truth :data:`TRUTH_COLOR` (green), the box given in a
tracking question :data:`GIVEN_COLOR` (yellow). Positive points are filled discs, negative points are
crosses, in the colour of their source (prediction or truth).

Coordinates in rows are in the 0..1000 frame (spec/data-format.md); they are mapped onto whatever size
the picture is drawn at, so drawing never needs the original pixel size. Masks (COCO RLE at the
medium's size) are resized to the picture. The drawing primitives take pixel coordinates and draw in
place on (H, W, 3) uint8 RGB arrays.

:func:`render_item` returns the encoded files of one row; :func:`render_frames` the annotated frames
(what :mod:`onethinker.evaluate.report` uses for its thumbnails).
"""

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

log = logging.getLogger(__name__)

PRED_COLOR = (255, 0, 255)  # magenta
TRUTH_COLOR = (0, 230, 0)  # green
GIVEN_COLOR = (255, 215, 0)  # yellow: the box a tracking question gives at t = 0
TEXT_COLOR = (235, 235, 235)
MUTED_COLOR = (160, 160, 160)
ERROR_COLOR = (255, 110, 80)
PANEL_BG = (22, 22, 26)
STRIP_BG = (40, 40, 46)

SELECTIONS = ("mixed", "best", "worst", "random", "all")
VIDEO_FORMATS = ("mp4", "gif")
SUCCESS = 0.5  # an item with score >= SUCCESS counts as a success in galleries and "mixed" samples

_BOX_TASKS = ("spatial grounding", "tracking", "spatial-temporal grounding")
_SEG_TASKS = ("segmentation/image", "segmentation/video")


class VizError(ValueError):
    """Visualisation cannot start (no results, no media root, bad arguments)."""


# -------------------------------------------------------------------------------------------------
# coordinates
# -------------------------------------------------------------------------------------------------
def to_px(values: Sequence[float], size: tuple[int, int]) -> list[float]:
    """0..1000 coordinates (x, y, x, y, ...) to pixels of an image of ``size`` = (width, height)."""
    w, h = size
    return [float(v) * (w if i % 2 == 0 else h) / 1000.0 for i, v in enumerate(values)]


def _finite(values: Any, n: int) -> list[float] | None:
    """``values`` as n finite floats, or None (bad model output is drawn as nothing, never an error)."""
    if not isinstance(values, (list, tuple)) or len(values) != n:
        return None
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(v) for v in out) else None


def _clamp_int(v: float, lo: int, hi: int) -> int:
    return int(round(min(max(v, lo), hi)))


# -------------------------------------------------------------------------------------------------
# drawing primitives (in place, pixel coordinates, RGB uint8)
# -------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_size(text: str, size: int) -> tuple[int, int, int, int]:
    """(width, height, x offset, y offset) of ``text`` in the panel font."""
    l, t, r, b = _font(size).getbbox(text or " ")
    return int(math.ceil(r - l)), int(math.ceil(b - t)), int(l), int(t)


def _line_height(size: int) -> int:
    return _text_size("Ag|", size)[1] + max(3, size // 3)


def draw_text(img: np.ndarray, text: str, xy: tuple[int, int], color: tuple[int, int, int] = TEXT_COLOR, *,
              bg: tuple[int, int, int] | None = (0, 0, 0), size: int = 13, pad: int = 2) -> np.ndarray:
    """Text with its top-left corner at ``xy`` (clipped to the image), on a ``bg`` chip if given."""
    from PIL import Image, ImageDraw

    h_img, w_img = img.shape[:2]
    tw, th, ox, oy = _text_size(text, size)
    x, y = int(xy[0]), int(xy[1])
    w, h = tw + 2 * pad, th + 2 * pad
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w_img, x + w), min(h_img, y + h)
    if x1 <= x0 or y1 <= y0:
        return img
    pil = Image.fromarray(np.ascontiguousarray(img[y0:y1, x0:x1]))
    d = ImageDraw.Draw(pil)
    if bg is not None:
        d.rectangle([0, 0, x1 - x0, y1 - y0], fill=tuple(bg))
    d.text((x - x0 + pad - ox, y - y0 + pad - oy), text, font=_font(size), fill=tuple(color))
    img[y0:y1, x0:x1] = np.asarray(pil)
    return img


def draw_box(img: np.ndarray, box: Sequence[float] | None, color: tuple[int, int, int], *, thickness: int = 2,
             label: str | None = None) -> np.ndarray:
    """A rectangle [x1, y1, x2, y2] in pixels (corners in any order); nothing for a missing box."""
    import cv2

    b = _finite(box, 4)
    if b is None:
        return img
    h, w = img.shape[:2]
    x1, x2 = sorted((_clamp_int(b[0], -w, 2 * w), _clamp_int(b[2], -w, 2 * w)))
    y1, y2 = sorted((_clamp_int(b[1], -h, 2 * h), _clamp_int(b[3], -h, 2 * h)))
    cv2.rectangle(img, (x1, y1), (x2, y2), tuple(int(c) for c in color), int(thickness))  # axis-aligned: no AA needed
    if label:
        _, th, _, _ = _text_size(label, 11)
        draw_text(img, label, (max(0, x1), max(0, y1 - th - 4) if y1 - th - 4 >= 0 else y1 + thickness),
                  (0, 0, 0), bg=color, size=11, pad=2)
    return img


def draw_points(img: np.ndarray, points: Iterable[Sequence[float]] | None, color: tuple[int, int, int], *,
                positive: bool = True, radius: int = 5) -> np.ndarray:
    """Prompt points in pixels: positive ones as filled discs with a dark rim, negative ones as crosses
    (an x with a dark outline), both in ``color``."""
    import cv2

    h, w = img.shape[:2]
    c = tuple(int(v) for v in color)
    for p in points or []:
        q = _finite(p, 2)
        if q is None:
            continue
        x, y = _clamp_int(q[0], -w, 2 * w), _clamp_int(q[1], -h, 2 * h)
        if positive:
            cv2.circle(img, (x, y), radius + 1, (0, 0, 0), -1, lineType=cv2.LINE_AA)
            cv2.circle(img, (x, y), radius, c, -1, lineType=cv2.LINE_AA)
        else:
            r = radius + 1
            for thick, col in ((4, (0, 0, 0)), (2, c)):
                cv2.line(img, (x - r, y - r), (x + r, y + r), col, thick, lineType=cv2.LINE_AA)
                cv2.line(img, (x - r, y + r), (x + r, y - r), col, thick, lineType=cv2.LINE_AA)
    return img


def overlay_mask(img: np.ndarray, mask: np.ndarray | None, color: tuple[int, int, int], *, alpha: float = 0.4,
                 contour: bool = True, thickness: int = 2) -> np.ndarray:
    """A semi-transparent fill of ``mask`` (resized to the image when its size differs) and its contour."""
    import cv2

    if mask is None:
        return img
    m = np.asarray(mask).astype(bool)
    if m.ndim != 2:
        return img
    h, w = img.shape[:2]
    if m.shape != (h, w):
        m = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    if not m.any():
        return img
    c = np.array(color, dtype=np.float32)
    img[m] = (img[m].astype(np.float32) * (1 - alpha) + c * alpha).round().astype(np.uint8)
    if contour:
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, contours, -1, tuple(int(v) for v in color), int(thickness), lineType=cv2.LINE_AA)
    return img


def draw_path(img: np.ndarray, points: Sequence[Sequence[float]], color: tuple[int, int, int], *,
              thickness: int = 2) -> np.ndarray:
    """A polyline through ``points`` (pixels) with a small dot at each."""
    import cv2

    h, w = img.shape[:2]
    pts = [(_clamp_int(p[0], -w, 2 * w), _clamp_int(p[1], -h, 2 * h)) for p in (_finite(q, 2) for q in points) if p]
    if len(pts) >= 2:
        cv2.polylines(img, [np.array(pts, np.int32)], False, tuple(int(v) for v in color), int(thickness),
                      lineType=cv2.LINE_AA)
    for p in pts:
        cv2.circle(img, p, thickness + 1, tuple(int(v) for v in color), -1, lineType=cv2.LINE_AA)
    return img


def draw_border(img: np.ndarray, color: tuple[int, int, int], *, thickness: int = 3, side: str = "top") -> np.ndarray:
    """A stripe along one edge (a frame inside a span: truth on top, prediction at the bottom)."""
    if side == "top":
        img[:thickness] = color
    else:
        img[-thickness:] = color
    return img


def legend_strip(width: int, entries: Sequence[tuple[str, tuple[int, int, int], str]], *, size: int = 12
                 ) -> np.ndarray:
    """A strip ``width`` wide naming the colours: entries (label, colour, marker), marker one of
    "box", "fill", "positive", "negative", "span"."""
    import cv2

    lh = _line_height(size) + 6
    rows: list[list[tuple[str, tuple[int, int, int], str]]] = [[]]
    x = 6
    for e in entries:  # wrap entries onto more rows when the strip is narrow
        need = 22 + _text_size(e[0], size)[0] + 12
        if x + need > width and rows[-1]:
            rows.append([])
            x = 6
        rows[-1].append(e)
        x += need
    strip = np.full((lh * len(rows), width, 3), PANEL_BG, np.uint8)
    for r, row in enumerate(rows):
        x, y0 = 6, r * lh
        cy = y0 + lh // 2
        for label, color, marker in row:
            c = tuple(int(v) for v in color)
            if marker == "box":
                cv2.rectangle(strip, (x, cy - 5), (x + 14, cy + 5), c, 2)
            elif marker == "fill":
                cv2.rectangle(strip, (x, cy - 5), (x + 14, cy + 5), c, -1)
            elif marker == "span":
                cv2.rectangle(strip, (x, cy - 3), (x + 14, cy + 3), c, -1)
            elif marker == "positive":
                draw_points(strip, [(x + 7, cy)], c, positive=True, radius=4)
            elif marker == "negative":
                draw_points(strip, [(x + 7, cy)], c, positive=False, radius=4)
            x += 20
            _, th, _, _ = _text_size(label, size)
            draw_text(strip, label, (x, cy - th // 2 - 2), TEXT_COLOR, bg=None, size=size)
            x += _text_size(label, size)[0] + 14
    return strip


def _tick_step(duration: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600):
        if duration / step <= 40:
            return float(step)
    return 1200.0


def timeline_strip(width: int, duration: float, *, t: float | None = None,
                   pred_span: Sequence[float] | None = None, truth_span: Sequence[float] | None = None,
                   pred_marks: Sequence[float] = (), truth_marks: Sequence[float] = (), height: int = 30
                   ) -> np.ndarray:
    """A timeline bar ``width`` wide for a video of ``duration`` seconds: the true span (green, upper
    lane) and predicted span (magenta, lower lane), seconds that have a true / predicted box or key time
    (dots in each lane), ticks, and the current time ``t`` (a white line and its value)."""
    import cv2

    strip = np.full((height, width, 3), STRIP_BG, np.uint8)
    duration = float(duration) if duration and math.isfinite(float(duration)) and duration > 0 else 1.0
    x0, x1 = 4, width - 4
    span_w = max(1, x1 - x0)

    def xpos(sec: float) -> int:
        return _clamp_int(x0 + span_w * float(sec) / duration, x0 - 2, x1 + 2)

    lanes = {"truth": (3, height // 2 - 3), "pred": (height // 2 + 1, height - 7)}
    for lane, span, marks, color in (("truth", truth_span, truth_marks, TRUTH_COLOR),
                                     ("pred", pred_span, pred_marks, PRED_COLOR)):
        ya, yb = lanes[lane]
        s = _finite(span, 2)
        if s is not None:
            a, b = sorted(s)
            cv2.rectangle(strip, (xpos(a), ya), (max(xpos(a) + 1, xpos(b)), yb), color, -1)
        for m in marks:
            if m is not None and math.isfinite(float(m)):
                cv2.circle(strip, (xpos(m), (ya + yb) // 2), 2, color, -1)
    step = _tick_step(duration)
    k = 0
    while k * step <= duration + 1e-9:
        x = xpos(k * step)
        strip[height - 5:height - 1, x] = MUTED_COLOR if (k * step) % (step * 5) else TEXT_COLOR
        k += 1
    if t is not None and math.isfinite(float(t)):
        x = xpos(t)
        strip[:, max(0, x - 1):x + 1] = (255, 255, 255)
        label = f"{t:.1f}/{duration:g}s"
        tw = _text_size(label, 10)[0]
        draw_text(strip, label, (x + 3 if x + 3 + tw + 4 < width else x - tw - 7, 1), (255, 255, 255),
                  bg=(0, 0, 0), size=10, pad=1)
    return strip


def wrap_text(text: str, width: int, size: int, max_lines: int | None = None) -> list[str]:
    """``text`` broken into lines at most ``width`` pixels wide (long words are cut); the last kept line
    ends with an ellipsis when lines were dropped."""
    font = _font(size)
    lines: list[str] = []
    for para in str(text).replace("\r", "").split("\n"):
        cur = ""
        for word in para.split(" "):
            cand = word if not cur else cur + " " + word
            if font.getlength(cand) <= width:
                cur = cand
                continue
            if cur:
                lines.append(cur)
            while font.getlength(word) > width and len(word) > 1:  # a word wider than the line
                cut = max(1, int(len(word) * width / max(1.0, font.getlength(word))))
                while cut > 1 and font.getlength(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            cur = word
        lines.append(cur)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + " …") > width:
            last = last[:-1]
        lines[-1] = last + " …"
    return lines


def text_panel(width: int, items: Sequence[tuple[str, tuple[int, int, int], int]], *, size: int = 13,
               pad: int = 8) -> np.ndarray:
    """A dark panel ``width`` wide with wrapped text: items (text, colour, max lines)."""
    lh = _line_height(size)
    lines: list[tuple[str, tuple[int, int, int]]] = []
    for text, color, max_lines in items:
        for line in wrap_text(text, max(20, width - 2 * pad), size, max_lines):
            lines.append((line, color))
    panel = np.full((len(lines) * lh + 2 * pad, width, 3), PANEL_BG, np.uint8)
    for i, (line, color) in enumerate(lines):
        if line:
            draw_text(panel, line, (pad - 2, pad + i * lh - 2), color, bg=None, size=size)
    return panel


def _pad_width(a: np.ndarray, width: int, fill: tuple[int, int, int] = PANEL_BG) -> np.ndarray:
    if a.shape[1] >= width:
        return a
    out = np.empty((a.shape[0], width, 3), np.uint8)
    out[:] = fill
    out[:, : a.shape[1]] = a
    return out


def vstack(parts: Sequence[np.ndarray | None]) -> np.ndarray:
    parts = [p for p in parts if p is not None]
    width = max(p.shape[1] for p in parts)
    return np.concatenate([_pad_width(p, width) for p in parts], axis=0)


def filmstrip(frames: Sequence[np.ndarray], *, height: int | None = None, gap: int = 4) -> np.ndarray:
    """Frames side by side (each scaled to ``height``, default the first frame's) on a dark background."""
    import cv2

    if not frames:
        raise ValueError("filmstrip: no frames")
    height = int(height or frames[0].shape[0])
    tiles = []
    for f in frames:
        h, w = f.shape[:2]
        nw = max(1, int(round(w * height / h)))
        tiles.append(f if (h, w) == (height, nw) else cv2.resize(f, (nw, height), interpolation=cv2.INTER_AREA))
    width = sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1)
    out = np.full((height, width, 3), PANEL_BG, np.uint8)
    x = 0
    for t in tiles:
        out[:, x : x + t.shape[1]] = t
        x += t.shape[1] + gap
    return out


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


def format_value(value: Any, task: str | None) -> str:
    """A parsed prediction or truth as one short line of text."""
    if value is None:
        return "-"
    try:
        if task == "temporal grounding" and isinstance(value, (list, tuple)):
            return f"[{_num(value[0])} s, {_num(value[1])} s]"
        if task == "spatial grounding":
            return _box_text(value)
        if task == "tracking":
            return _keyed_boxes_text(value)
        if task == "spatial-temporal grounding" and isinstance(value, dict):
            span = value.get("time") or []
            return f"time [{', '.join(_num(v) for v in span)}] s; " + _keyed_boxes_text(value.get("boxes"), 3)
        if task in _SEG_TASKS and isinstance(value, dict):
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
    task = row.get("task")
    if task in ("spatial grounding", "spatial-temporal grounding"):
        return [("prediction", PRED_COLOR, "box"), ("truth", TRUTH_COLOR, "box")]
    if task == "tracking":
        return [("prediction", PRED_COLOR, "box"), ("truth", TRUTH_COLOR, "box"), ("given at t=0", GIVEN_COLOR, "box")]
    if task in _SEG_TASKS:
        return [("predicted mask/prompt", PRED_COLOR, "fill"), ("true mask/prompt", TRUTH_COLOR, "fill"),
                ("positive point", TEXT_COLOR, "positive"), ("negative point", TEXT_COLOR, "negative")]
    if task == "temporal grounding":
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
    task = row.get("task")
    thick = max(2, min(w, h) // 160)
    if task == "spatial grounding":
        draw_box(img, to_px(row["truth"], (w, h)) if _finite(row.get("truth"), 4) else None, TRUTH_COLOR, thickness=thick + 4)
        draw_box(img, to_px(row["pred"], (w, h)) if _finite(row.get("pred"), 4) else None, PRED_COLOR, thickness=thick)
    elif task == "segmentation/image":
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

    task: str | None
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
        task = row.get("task")
        tol = 0.5 / max(sample_fps, 1e-6) + 1e-6
        plan = cls(task, duration, tol)
        pred, truth = row.get("pred"), row.get("truth")
        if task == "tracking":
            plan.pred_boxes, plan.truth_boxes, plan.given = _keyed(pred), _keyed(truth), given_box(row)
        elif task == "spatial-temporal grounding":
            plan.pred_boxes = _keyed((pred or {}).get("boxes")) if isinstance(pred, dict) else {}
            plan.truth_boxes = _keyed((truth or {}).get("boxes")) if isinstance(truth, dict) else {}
            plan.pred_span = _finite((pred or {}).get("time"), 2) if isinstance(pred, dict) else None
            plan.truth_span = _finite((truth or {}).get("time"), 2) if isinstance(truth, dict) else None
        elif task == "temporal grounding":
            plan.pred_span, plan.truth_span = _finite(pred, 2), _finite(truth, 2)
        elif task == "segmentation/video":
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
        if self.task in ("tracking", "spatial-temporal grounding"):
            keys = set(self.pred_boxes) | set(self.truth_boxes) | ({0.0} if self.given else set())
            return any(abs(k - t) <= self.tol for k in keys)
        if self.task == "segmentation/video":
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
        if self.task in ("tracking", "spatial-temporal grounding"):
            if self.task == "tracking":  # centre paths so far
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
        elif self.task == "segmentation/video":
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


# -------------------------------------------------------------------------------------------------
# rendering a row
# -------------------------------------------------------------------------------------------------
@dataclass
class Rendered:
    """Annotated pictures of one row.

    ``frames``: the annotated picture(s), all one size (an image item: one; a video item: one per
    sampled frame, with its timeline bar below); ``times``: each frame's time (video); ``key``: indices
    of the frames worth a still (they show a box, mask or prompt; all frames when none does);
    ``legend``: the legend's entries (empty: no legend); ``extras``: further media of the item (a video-image item's
    image, more images), undrawn; ``fps``: frames per second of ``frames`` (video).
    """

    row: dict
    kind: str  # "image" | "video"
    frames: list[np.ndarray]
    times: list[float] | None = None
    key: list[int] = field(default_factory=list)
    legend: list[tuple[str, tuple[int, int, int], str]] = field(default_factory=list)
    extras: list[np.ndarray] = field(default_factory=list)
    fps: float = 2.0

    @property
    def name(self) -> str:
        return item_name(self.row)

    def still(self, k: int = 5, *, height: int | None = None) -> np.ndarray:
        """The picture (image) or a filmstrip of ``k`` key frames (video), legend below, extras beside."""
        if self.kind == "image":
            main = self.frames[0]
        else:
            main = filmstrip([self.frames[i] for i in pick_evenly(self.key or list(range(len(self.frames))), k)],
                             height=height)
        if height and self.kind == "image" and main.shape[0] != height:
            main = filmstrip([main], height=height)
        if self.extras:
            main = filmstrip([main, *self.extras], height=main.shape[0])
        if self.legend:
            return vstack([main, legend_strip(main.shape[1], self.legend, size=11 if main.shape[1] < 400 else 12)])
        return main

    def with_panel(self, picture: np.ndarray, *, size: int = 13) -> np.ndarray:
        return vstack([picture, text_panel(max(picture.shape[1], 360), panel_items(self.row), size=size)])


def pick_evenly(indices: Sequence[int], k: int) -> list[int]:
    """``k`` of ``indices`` spread evenly (all when there are fewer)."""
    if len(indices) <= k:
        return list(indices)
    pos = np.linspace(0, len(indices) - 1, k).round().astype(int)
    return [indices[i] for i in dict.fromkeys(pos.tolist())]


def fit_size(w: int, h: int, max_side: int | None, min_side: int | None) -> tuple[int, int]:
    s = 1.0
    if max_side and max(w, h) > max_side:
        s = max_side / max(w, h)
    elif min_side and max(w, h) < min_side:
        s = min_side / max(w, h)
    return max(2, int(round(w * s))), max(2, int(round(h * s)))


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (a.shape[1], a.shape[0]) == size:
        return a
    interp = cv2.INTER_AREA if size[0] < a.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(a, size, interpolation=interp)


def _media_path(rel: str, media_root: str | os.PathLike | None, allow_absolute: bool) -> Path:
    from ..data.media import MediaError, resolve_media

    p = resolve_media(rel, media_root, allow_absolute=allow_absolute)
    if not p.is_file():
        raise MediaError("no such file", path=p)
    return p


def render_frames(row: dict, media_root: str | os.PathLike | None, *, max_side: int | None = 640,
                  min_side: int | None = 384, fps: float = 2.0, max_frames: int = 128,
                  allow_absolute: bool = False) -> Rendered:
    """Load the row's media and draw its prediction and truth: see :class:`Rendered`.

    Pictures are scaled to at most ``max_side`` pixels on the longer side (and small ones up to
    ``min_side``). Videos are sampled at ``fps`` frames per second (at most ``max_frames``, spread
    evenly over longer videos). Raises :class:`onethinker.data.media.MediaError` (a ValueError) when a
    medium is missing or unreadable.
    """
    from ..data.media import MediaError, load_image, probe_video, sample_video

    media = [m for m in row.get("media") or [] if isinstance(m, dict) and m.get("path")]
    if not media:
        raise MediaError(f"result row {row.get('problem_id')!r} lists no media")
    kind, rel = media[0].get("kind"), str(media[0]["path"])
    extras = []
    for m in media[1:]:
        if m.get("kind") == "image":
            im = np.asarray(load_image(_media_path(str(m["path"]), media_root, allow_absolute)))
            extras.append(_resize(im, fit_size(im.shape[1], im.shape[0], max_side, min_side)))
    legend = legend_entries(row)
    if kind != "video":
        im = np.asarray(load_image(_media_path(rel, media_root, allow_absolute)))
        im = _resize(im, fit_size(im.shape[1], im.shape[0], max_side, min_side))
        out = annotate_image(row, im)
        return Rendered(row, "image", [out], key=[0], legend=legend,
                        extras=extras)
    path = _media_path(rel, media_root, allow_absolute)
    info = probe_video(path)
    tw, th = fit_size(info.width, info.height, max_side, min_side)
    max_pixels = tw * th if tw * th < info.width * info.height else None
    clip = sample_video(path, fps=fps, max_frames=max_frames, min_frames=1, max_pixels=max_pixels)
    duration = float(row.get("duration") or info.duration or (len(clip) / max(fps, 1e-6)))
    plan = _VideoPlan.of(row, duration, float(clip.sample_fps) or fps, float(info.fps or 0))
    frames, times, key = [], [], []
    for i, (frame, t, idx) in enumerate(zip(clip.frames, clip.timestamps, clip.frame_indices)):
        f = _resize(np.array(frame, copy=True), (tw, th))
        t, idx = float(t), int(idx)
        if plan.has_overlay(t, idx):
            key.append(i)
        plan.draw(f, t, idx)
        frames.append(vstack([f, plan.timeline(tw, t)]))
        times.append(t)
    if not frames:
        raise MediaError("no frames decoded", path=path)
    return Rendered(row, "video", frames, times, key, legend=legend,
                    extras=extras, fps=float(clip.sample_fps) or fps)


# -------------------------------------------------------------------------------------------------
# encoding
# -------------------------------------------------------------------------------------------------
def encode_png(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def encode_jpeg(img: np.ndarray, quality: int = 82) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def encode_gif(frames: Sequence[np.ndarray], fps: float, *, colors: int = 128) -> bytes:
    """An animated GIF (looping) of RGB frames, each with its own adaptive palette."""
    from PIL import Image

    if not frames:
        raise ValueError("encode_gif: no frames")
    ims = [Image.fromarray(f).quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
           for f in frames]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=max(20, int(round(1000 / fps))),
                loop=0, disposal=1)
    return buf.getvalue()


def encode_mp4(frames: Sequence[np.ndarray], fps: float) -> bytes:
    """An H.264 mp4 (through :func:`onethinker.data.media.write_video`)."""
    from ..data.media import write_video

    fd, tmp = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        write_video(tmp, frames, fps, crf=23, preset="veryfast")
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)


def render_item(row: dict, media_root: str | os.PathLike | None, *, video_format: str = "mp4", fps: float = 2.0,
                max_frames: int = 128, max_side: int = 640, filmstrip_frames: int = 5,
                allow_absolute: bool = False) -> list[tuple[str, bytes]]:
    """The files of one row as (file name, bytes): an image item gives ``<name>.png``; a video item
    ``<name>.mp4`` (or ``.gif``) and ``<name>.filmstrip.png``. Every picture carries the legend and the
    text panel (question, prediction, truth, score). Raises MediaError when a medium is missing."""
    if video_format not in VIDEO_FORMATS:
        raise VizError(f"video_format must be one of {', '.join(VIDEO_FORMATS)}, got {video_format!r}")
    r = render_frames(row, media_root, max_side=max_side, fps=fps, max_frames=max_frames, allow_absolute=allow_absolute)
    name = r.name
    if r.kind == "image":
        return [(f"{name}.png", encode_png(r.with_panel(r.still())))]
    legend = (legend_strip(r.frames[0].shape[1], r.legend, size=12 if r.frames[0].shape[1] >= 400 else 11)
              if r.legend else None)
    panel = text_panel(max(r.frames[0].shape[1], 360), panel_items(row), size=13)
    frames = [vstack([f, legend, panel]) for f in r.frames]
    video = encode_mp4(frames, r.fps) if video_format == "mp4" else encode_gif(frames, r.fps)
    strip = r.with_panel(r.still(filmstrip_frames, height=min(r.frames[0].shape[0], 300)))
    return [(f"{name}.{video_format}", video), (f"{name}.filmstrip.png", encode_png(strip))]


# -------------------------------------------------------------------------------------------------
# reading results and choosing items
# -------------------------------------------------------------------------------------------------
def read_results(path: str | os.PathLike) -> list[dict]:
    """Result rows of ``OUT/<bench>.jsonl`` (read-only: invalid or torn lines are skipped; a repeated
    problem_id keeps its last row)."""
    p = Path(path)
    if not p.is_file():
        raise VizError(f"{p}: no such results file")
    rows: dict[str, dict] = {}
    with p.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and "problem_id" in row:
                rows[json.dumps(row["problem_id"], sort_keys=True, default=str)] = row
    return list(rows.values())


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
    items that could not be drawn; ``filmstrips``: the filmstrip PNGs written beside the videos."""

    def __init__(self, paths: Iterable[Path] = ()) -> None:
        super().__init__(paths)
        self.skipped: list[tuple[str, str]] = []
        self.filmstrips: list[Path] = []


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
    for f in files:
        rows = read_results(f)
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
