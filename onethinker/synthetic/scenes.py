"""Synthetic scenes: coloured shapes on textured backgrounds, still (images) or moving (videos), with
exact per-object masks.

Everything is drawn without anti-aliasing, so an object's pixels and its mask are the same set: boxes,
points and masks derived here are exact. Objects are drawn in list order; an object's *visible*
mask is its shape minus the objects drawn after it. A video object is visible on the frames whose
time t satisfies ``t_in <= t < t_out``; times are multiples of 1/fps, so spans are exact too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (240, 205, 30),
    "purple": (145, 60, 200),
    "orange": (245, 130, 25),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
SHAPES = ("circle", "square", "triangle", "diamond", "hexagon", "star")
TEXTURES = ("noise", "stripes", "checker", "dots")


@dataclass
class SceneObject:
    shape: str
    colour: str
    size: int  # half-width in pixels
    x: float  # centre at t = 0 (pixels)
    y: float
    vx: float = 0.0  # pixels per second (videos)
    vy: float = 0.0
    t_in: float = 0.0  # visible while t_in <= t < t_out (videos)
    t_out: float = math.inf

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


@dataclass
class TextPanel:
    text: str
    x: int  # top-left corner of the panel, pixels
    y: int
    scale: float
    t_in: float = 0.0
    t_out: float = math.inf


@dataclass
class Scene:
    width: int
    height: int
    texture: str
    background: np.ndarray  # (H, W, 3) uint8
    objects: list[SceneObject]
    text: TextPanel | None = None
    fps: int = 0  # 0 for a still image
    n_frames: int = 1
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_video(self) -> bool:
        return self.fps > 0

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps if self.fps else 0.0

    def frame_time(self, i: int) -> float:
        return i / self.fps if self.fps else 0.0

    def position(self, obj: SceneObject, t: float) -> tuple[float, float]:
        """Centre at time t: straight motion that bounces off the frame edges."""
        return (_bounce(obj.x + obj.vx * t, obj.size, self.width), _bounce(obj.y + obj.vy * t, obj.size, self.height))

    def visible(self, obj: SceneObject, t: float) -> bool:
        return obj.t_in <= t < obj.t_out

    # -- rendering --------------------------------------------------------------------------
    def render(self, i: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
        """Frame i as RGB uint8, and each object's visible mask (bool) on it."""
        if i in self._cache:
            return self._cache[i]
        t = self.frame_time(i)
        img = self.background.copy()
        shapes = []
        for obj in self.objects:
            if not self.visible(obj, t):
                shapes.append(None)
                continue
            cx, cy = self.position(obj, t)
            mask = np.zeros((self.height, self.width), np.uint8)
            draw_shape(mask, obj.shape, cx, cy, obj.size, 1)
            img[mask.astype(bool)] = COLOURS[obj.colour]
            shapes.append(mask.astype(bool))
        panel = self.text
        if panel is not None and panel.t_in <= t < panel.t_out:
            draw_text(img, panel)
        visible = []
        covered = np.zeros((self.height, self.width), bool)
        if panel is not None and panel.t_in <= t < panel.t_out:
            covered |= text_panel_mask(self.height, self.width, panel)
        for m in reversed(shapes):  # later objects hide earlier ones
            if m is None:
                visible.append(np.zeros((self.height, self.width), bool))
                continue
            v = m & ~covered
            covered |= m
            visible.append(v)
        out = (img, visible[::-1])
        if len(self._cache) < 256:
            self._cache[i] = out
        return out

    def frames(self) -> np.ndarray:
        return np.stack([self.render(i)[0] for i in range(self.n_frames)])


def _bounce(p: float, r: float, extent: int) -> float:
    lo, hi = r, extent - 1 - r
    span = hi - lo
    if span <= 0:
        return extent / 2
    q = (p - lo) % (2 * span)
    return lo + (q if q <= span else 2 * span - q)


def shape_points(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    if shape == "square":
        pts = [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    elif shape == "triangle":
        pts = [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    elif shape == "diamond":
        pts = [(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)]
    elif shape == "hexagon":
        pts = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in np.linspace(0, 2 * math.pi, 7)[:-1]]
    elif shape == "star":
        pts = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            rr = r if k % 2 == 0 else r * 0.5
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.round(np.array(pts)).astype(np.int32)


def draw_shape(canvas: np.ndarray, shape: str, cx: float, cy: float, r: int, value) -> None:
    if shape == "circle":
        cv2.circle(canvas, (int(round(cx)), int(round(cy))), int(r), value, thickness=-1, lineType=cv2.LINE_8)
    else:
        cv2.fillPoly(canvas, [shape_points(shape, cx, cy, r)], value, lineType=cv2.LINE_8)


_FONT = cv2.FONT_HERSHEY_SIMPLEX


def text_box(panel: TextPanel) -> tuple[int, int, int, int]:
    (w, h), base = cv2.getTextSize(panel.text, _FONT, panel.scale, 2)
    pad = 6
    return panel.x, panel.y, panel.x + w + 2 * pad, panel.y + h + base + 2 * pad


def text_panel_mask(height: int, width: int, panel: TextPanel) -> np.ndarray:
    x1, y1, x2, y2 = text_box(panel)
    m = np.zeros((height, width), bool)
    m[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)] = True
    return m


def draw_text(img: np.ndarray, panel: TextPanel) -> None:
    x1, y1, x2, y2 = text_box(panel)
    cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), (255, 255, 255), thickness=-1)
    (_, h), base = cv2.getTextSize(panel.text, _FONT, panel.scale, 2)
    cv2.putText(img, panel.text, (x1 + 6, y1 + 6 + h), _FONT, panel.scale, (10, 10, 10), 2, cv2.LINE_AA)


def make_background(rng: np.random.Generator, width: int, height: int, texture: str) -> np.ndarray:
    """A muted textured background (grey-ish, low contrast) so every palette colour stands out."""
    base = rng.uniform(95, 165, size=3)
    tint = rng.uniform(-12, 12, size=3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if texture == "noise":
        small = rng.normal(0, 1, size=(height // 8 + 1, width // 8 + 1)).astype(np.float32)
        pattern = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR) * 10
    elif texture == "stripes":
        angle, period = rng.uniform(0, math.pi), rng.uniform(10, 30)
        pattern = 12 * np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
    elif texture == "checker":
        cell = int(rng.integers(10, 24))
        pattern = 12 * ((((xx // cell) + (yy // cell)) % 2) * 2 - 1)
    else:  # dots
        pattern = np.zeros((height, width), np.float32)
        for _ in range(int(width * height / 300)):
            cv2.circle(pattern, (int(rng.integers(0, width)), int(rng.integers(0, height))), 2, 14.0, -1)
    img = base[None, None, :] + tint[None, None, :] * 0.5 + pattern[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Derived ground truth
# ---------------------------------------------------------------------------------------------
def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Pixel box [x1, y1, x2, y2] with exclusive ends (continuous pixel edges), or None if empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def to_thousand_box(box: tuple[int, int, int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """A pixel box in the 0..1000 frame, rounded outward so it still holds the whole object."""
    x1, y1, x2, y2 = box
    return (
        int(math.floor(x1 * 1000 / width)),
        int(math.floor(y1 * 1000 / height)),
        int(math.ceil(x2 * 1000 / width)),
        int(math.ceil(y2 * 1000 / height)),
    )


def to_thousand_point(x: float, y: float, width: int, height: int) -> tuple[int, int]:
    """A pixel (its centre) in the 0..1000 frame."""
    return int(round((x + 0.5) * 1000 / width)), int(round((y + 0.5) * 1000 / height))


def _spread(candidates: np.ndarray, weights: np.ndarray, k: int) -> list[tuple[int, int]]:
    """k points from (N, 2) candidates: the heaviest first, then each farthest from those chosen."""
    chosen = [int(np.argmax(weights))]
    dist = np.full(len(candidates), np.inf)
    while len(chosen) < k:
        d = np.hypot(*(candidates - candidates[chosen[-1]]).T)
        dist = np.minimum(dist, d)
        chosen.append(int(np.argmax(dist)))
    return [(int(candidates[c][0]), int(candidates[c][1])) for c in chosen]


def prompt_points(mask: np.ndarray, box: tuple[int, int, int, int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """3 positive points well inside the mask and 3 negative points clearly outside it (inside the box
    where there is room, else in a ring around it), as pixel (x, y)."""
    m8 = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    ys, xs = np.nonzero(inside >= max(1.0, 0.4 * inside.max()))
    pos = _spread(np.stack([xs, ys], 1), inside[ys, xs], 3)
    outside = cv2.distanceTransform(1 - m8, cv2.DIST_L2, 3)
    h, w = mask.shape
    x1, y1, x2, y2 = box
    region = np.zeros_like(mask)
    region[y1:y2, x1:x2] = True
    ys, xs = np.nonzero(region & (outside >= 3))
    if len(xs) < 3:
        pad = max(6, (x2 - x1) // 3)
        ring = np.zeros_like(mask)
        ring[max(0, y1 - pad) : min(h, y2 + pad), max(0, x1 - pad) : min(w, x2 + pad)] = True
        ys, xs = np.nonzero(ring & (outside >= 3))
    if len(xs) < 3:
        ys, xs = np.nonzero(outside >= 3)
    neg = _spread(np.stack([xs, ys], 1), outside[ys, xs], 3)
    return pos, neg


def quadrant(x: float, y: float, width: int, height: int) -> str:
    return ("top" if y < height / 2 else "bottom") + " " + ("left" if x < width / 2 else "right")
