"""Promptable segmentation: a :class:`SegmentationPrompt` (box, 3 positive and 3 negative points in the
0..1000 frame, and a key time for video) -> masks.

- :func:`prompt_to_pixels` converts the prompt to pixel coordinates of a W x H image (clipped into it).
- :class:`Segmenter` is the interface of the back-ends: :meth:`Segmenter.segment_image` and
  :meth:`Segmenter.segment_video`. The public methods check the media (bad media is the caller's
  error: ``ValueError``), convert and clean the prompt (a prompt is model output: it never raises;
  a prompt that gives nothing to segment gives an empty mask), call the back-end and check its
  output (shape, dtype).
- :func:`build_segmenter` picks a back-end: SAM2 when a checkpoint is given, else the classical
  GrabCut fallback.

Pixel coordinates are continuous: x = value * W / 1000, y = value * H / 1000, so the pixel (i, j)
(row, column) covers [j, j + 1) x [i, i + 1) and a point lies in the pixel (floor(y), floor(x)).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from ..tasks.segmentation import SegmentationPrompt

__all__ = [
    "Segmenter",
    "PixelPrompt",
    "prompt_to_pixels",
    "key_frame_index",
    "build_segmenter",
    "register_segmenter",
    "segmenter_class",
    "segmenter_kinds",
    "SEGMENTER_KINDS",
]

SEGMENTER_KINDS = ("auto", "sam2", "grabcut")  # the built-in kinds (segmenter_kinds() adds registered ones)

# Non-finite or absurd coordinates are first brought into this range (in the 0..1000 frame) so
# that the arithmetic below cannot overflow; everything is clipped into the image afterwards.
_COORD_LIMIT = 1e6


def _finite(values, count: int, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as a float64 array of ``count`` numbers and a mask of the entries that were finite
    numbers (anything else - missing entries, None, strings, NaN, inf - becomes ``fill``)."""
    out = np.full(count, fill, dtype=np.float64)
    ok = np.zeros(count, dtype=bool)
    try:
        seq = list(values)[:count]
    except TypeError:
        return out, ok
    for i, v in enumerate(seq):
        try:
            f = float(v)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(f):
            out[i], ok[i] = max(-_COORD_LIMIT, min(_COORD_LIMIT, f)), True
    return out, ok


def _points(points, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) pixel points clipped into the image, and which of them were valid (two finite numbers)."""
    try:
        pts = list(points) if points is not None else []
    except TypeError:
        pts = []
    xy = np.zeros((len(pts), 2), dtype=np.float64)
    ok = np.zeros(len(pts), dtype=bool)
    for i, p in enumerate(pts):
        v, good = _finite(p if isinstance(p, (list, tuple, np.ndarray)) else [], 2)
        xy[i], ok[i] = v, bool(good.all())
    xy[:, 0] = np.clip(xy[:, 0] * width / 1000.0, 0.0, width - 1.0)
    xy[:, 1] = np.clip(xy[:, 1] * height / 1000.0, 0.0, height - 1.0)
    return xy, ok


def prompt_to_pixels(prompt: SegmentationPrompt, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The prompt in pixels of a ``width`` x ``height`` image: ``(box, points, labels)``.

    - ``box``: float64 (4,) ``[x1, y1, x2, y2]``, x = value * W / 1000, y = value * H / 1000, corners
      sorted (a reversed box is the same box) and clipped to [0, W] x [0, H]. A box with no area after
      clipping (or with a non-finite coordinate: all zeros then) has ``x1 == x2`` or ``y1 == y2``:
      back-ends ignore it.
    - ``points``: float64 (P + N, 2) pixel ``(x, y)``, the positive points then the negative points
      (6 for a well-formed prompt), clipped to [0, W - 1] x [0, H - 1] so each lies on a pixel.
    - ``labels``: int64 (P + N,): 1 positive, 0 negative, -1 for a point that was not two finite
      numbers (SAM's padding label: ignored by every back-end; its coordinates are 0, 0).

    Never raises on a malformed prompt (the prompt is model output); ``width`` and ``height`` must be
    positive integers.
    """
    if int(width) != width or int(height) != height or width < 1 or height < 1:
        raise ValueError(f"prompt_to_pixels: width and height must be positive integers, got {width}x{height}")
    width, height = int(width), int(height)
    raw_box = getattr(prompt, "box", None)
    b, ok = _finite(raw_box if raw_box is not None else (), 4)
    if not ok.all():
        b[:] = 0.0
    x1, x2 = sorted((b[0] * width / 1000.0, b[2] * width / 1000.0))
    y1, y2 = sorted((b[1] * height / 1000.0, b[3] * height / 1000.0))
    box = np.array([np.clip(x1, 0, width), np.clip(y1, 0, height), np.clip(x2, 0, width), np.clip(y2, 0, height)],
                   dtype=np.float64)
    pos, pos_ok = _points(getattr(prompt, "positive", None), width, height)
    neg, neg_ok = _points(getattr(prompt, "negative", None), width, height)
    points = np.concatenate([pos, neg]).reshape(-1, 2)
    labels = np.concatenate([np.where(pos_ok, 1, -1), np.where(neg_ok, 0, -1)]).astype(np.int64)
    points[labels < 0] = 0.0
    return box, points, labels


def box_has_area(box: np.ndarray) -> bool:
    """Whether a pixel box from :func:`prompt_to_pixels` covers any area."""
    return bool(box[2] > box[0] and box[3] > box[1])


class PixelPrompt:
    """A prompt in pixels (what the back-ends receive): ``box`` (4,), ``points`` (N, 2), ``labels`` (N,)
    with only the valid points (labels 1 / 0) and ``has_box``."""

    __slots__ = ("box", "points", "labels", "has_box", "width", "height")

    def __init__(self, prompt: SegmentationPrompt, width: int, height: int):
        box, points, labels = prompt_to_pixels(prompt, width, height)
        keep = labels >= 0
        self.box, self.points, self.labels = box, points[keep], labels[keep]
        self.has_box = box_has_area(box)
        self.width, self.height = int(width), int(height)

    @property
    def positive(self) -> np.ndarray:
        return self.points[self.labels == 1]

    @property
    def negative(self) -> np.ndarray:
        return self.points[self.labels == 0]

    @property
    def empty(self) -> bool:
        """Nothing to segment: no box with area and no positive point."""
        return not self.has_box and not (self.labels == 1).any()


def key_frame_index(times: np.ndarray, time: float | None) -> int:
    """Index of the frame whose time is nearest ``time`` (the first of ties); frame 0 when ``time`` is
    missing or not a finite number."""
    try:
        t = float(time) if time is not None else math.nan
    except (TypeError, ValueError, OverflowError):
        t = math.nan
    if not math.isfinite(t) or len(times) == 0:
        return 0
    return int(np.argmin(np.abs(np.asarray(times, dtype=np.float64) - t)))


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"segment_image: image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image)


def _check_video(frames: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8 or min(frames.shape[:3]) < 1:
        raise ValueError(f"segment_video: frames must be (T, H, W, 3) uint8 RGB with T >= 1, got "
                         f"{frames.shape} {frames.dtype}")
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    if times.shape[0] != frames.shape[0]:
        raise ValueError(f"segment_video: {frames.shape[0]} frames but {times.shape[0]} times")
    if not np.isfinite(times).all():
        raise ValueError("segment_video: frame times must be finite numbers (seconds)")
    return np.ascontiguousarray(frames), times


def _clean_mask(mask, shape: tuple[int, ...], who: str) -> np.ndarray:
    """A back-end's mask as bool of ``shape``. Back-ends are ours; a wrong shape is a bug, not bad input."""
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise RuntimeError(f"{who}: back-end returned a mask of shape {mask.shape}, expected {shape}")
    if mask.dtype != bool:
        mask = np.nan_to_num(mask.astype(np.float64, copy=False), nan=0.0) > 0.5 if mask.dtype.kind == "f" else mask != 0
    return mask


class Segmenter(ABC):
    """A promptable segmenter. Subclasses implement :meth:`_segment_image` and :meth:`_segment_video`
    on a cleaned :class:`PixelPrompt`; the public methods check inputs and outputs."""

    name: str = "segmenter"
    #: the kind it is registered as (``register_segmenter``)
    kind: str = ""

    @classmethod
    def from_options(cls, *, sam2_config: str | None = None, sam2_checkpoint: str | None = None,
                     device: str = "cpu") -> "Segmenter":
        """Build one from ``build_segmenter``'s options (a back-end reads those it uses; default: none)."""
        return cls()

    def segment_image(self, image: np.ndarray, prompt: SegmentationPrompt) -> np.ndarray:
        """(H, W, 3) uint8 RGB image -> (H, W) bool mask of the prompted object."""
        image = _check_image(image)
        h, w = image.shape[:2]
        px = PixelPrompt(prompt, w, h)
        if px.empty:
            return np.zeros((h, w), dtype=bool)
        return _clean_mask(self._segment_image(image, px), (h, w), self.name)

    def segment_video(self, frames: np.ndarray, times: np.ndarray, prompt: SegmentationPrompt) -> np.ndarray:
        """(T, H, W, 3) uint8 RGB frames at ``times`` (seconds) -> (T, H, W) bool masks.

        The key frame is the frame nearest ``prompt.time`` (frame 0 without a usable time); it is
        prompted, and the mask is propagated forward to the last frame and backward to the first.
        """
        frames, times = _check_video(frames, times)
        t, h, w = frames.shape[:3]
        px = PixelPrompt(prompt, w, h)
        if px.empty:
            return np.zeros((t, h, w), dtype=bool)
        key = key_frame_index(times, getattr(prompt, "time", None))
        return _clean_mask(self._segment_video(frames, times, key, px), (t, h, w), self.name)

    @abstractmethod
    def _segment_image(self, image: np.ndarray, prompt: PixelPrompt) -> np.ndarray:
        """Back-end: (H, W) mask for a prompt that is not empty."""

    @abstractmethod
    def _segment_video(self, frames: np.ndarray, times: np.ndarray, key: int, prompt: PixelPrompt) -> np.ndarray:
        """Back-end: (T, H, W) masks; ``key`` is the prompted frame's index."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


# -------------------------------------------------------------------------------------------------
# registry: a back-end module registers its class under its kind; the factory imports it on first use
# -------------------------------------------------------------------------------------------------
#: the built-in back-ends: kind -> the module (in this package) that registers it, imported lazily (SAM2's
#: module never loads for GrabCut, and neither module is imported by this one at import time)
BUILTIN_SEGMENTERS: dict[str, str] = {"sam2": "sam2_backend", "grabcut": "grabcut"}
_REGISTRY: dict[str, type[Segmenter]] = {}


def register_segmenter(kind: str):
    """Class decorator: register a ``Segmenter`` subclass as segmenter ``kind`` (``build_segmenter``
    builds it with its ``from_options``)."""
    def deco(cls: type[Segmenter]) -> type[Segmenter]:
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls
    return deco


def segmenter_kinds() -> tuple[str, ...]:
    """What ``build_segmenter`` accepts: "auto", the built-in kinds, then any registered from outside."""
    return tuple(dict.fromkeys(["auto", *BUILTIN_SEGMENTERS, *_REGISTRY]))


def segmenter_class(kind: str) -> type[Segmenter]:
    """The class registered as ``kind``, importing its module first when it is a built-in one."""
    if kind not in _REGISTRY and kind in BUILTIN_SEGMENTERS:
        import importlib

        importlib.import_module(f"{__package__}.{BUILTIN_SEGMENTERS[kind]}")
    if kind not in _REGISTRY:
        raise ValueError(f"build_segmenter: unknown segmenter kind {kind!r}; expected one of {', '.join(segmenter_kinds())}")
    return _REGISTRY[kind]


def build_segmenter(kind: str = "auto", *, sam2_config: str | None = None, sam2_checkpoint: str | None = None,
                    device: str = "cpu") -> Segmenter:
    """The segmenter to use.

    - ``"auto"``: SAM2 when ``sam2_checkpoint`` is given, else the GrabCut fallback.
    - ``"sam2"``: SAM2 from ``sam2_checkpoint`` (a local ``.pt`` file such as ``sam2.1_hiera_large.pt``;
      ``sam2_config`` defaults to the config that matches its file name). ``sam2_checkpoint="random"``
      builds the model with random weights (tests; the tiny config unless ``sam2_config`` says
      otherwise). Without a checkpoint it is an error: nothing is downloaded.
    - ``"grabcut"``: the classical fallback (OpenCV GrabCut; optical flow for video).

    ``device``: torch device for SAM2 ("cpu", "cuda", "cuda:1", ...); GrabCut always runs on the CPU.
    """
    k = str(kind).strip().lower()
    if k not in segmenter_kinds():
        raise ValueError(f"build_segmenter: unknown segmenter kind {kind!r}; expected one of {', '.join(segmenter_kinds())}")
    if k == "auto":
        k = "sam2" if sam2_checkpoint else "grabcut"
    return segmenter_class(k).from_options(sam2_config=sam2_config, sam2_checkpoint=sam2_checkpoint, device=device)
