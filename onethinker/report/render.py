"""Rendering a result row: its media read and resized, the prediction and truth drawn on each frame,
the legend and text panel, and the encoded files of one item."""

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

from .codecs import encode_gif, encode_jpeg, encode_mp4, encode_png
from .draw import VIDEO_FORMATS, VizError, filmstrip, legend_strip, text_panel, vstack
from .pictures import _VideoPlan, annotate_image, item_name, legend_entries, panel_items

log = logging.getLogger(__name__)


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


