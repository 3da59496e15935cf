"""Drawing primitives for pictures of results: colours, text, boxes, points, masks, paths, borders,
legend and timeline strips, text panels, stacking and filmstrips. They take pixel coordinates and draw in
place on (H, W, 3) uint8 RGB arrays; bad model output (NaN, huge or missing values) draws nothing."""

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


