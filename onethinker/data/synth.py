"""``onethinker data synth``: a deterministic synthetic multi-task corpus, images and short mp4 videos of
coloured shapes on textured backgrounds (and rendered words for OCR), with exact ground truth for
every problem type.

It writes the release formats (spec/data-format.md) with media paths relative to the output folder:

    OUT/media/images/*.png, OUT/media/videos/*.mp4
    OUT/onethinker_sft_image.json       SFT conversations with short reasoning true to the scene (SFT pool)
    OUT/onethinker_sft_video.json
    OUT/onethinker_rl_train.json        RL-train records (RL pool)
    OUT/eval_synthetic.json             evaluation records (held-out pool), segmentation masks as COCO RLE
    OUT/manifest.json                   settings, counts and timing

Three pools of disjoint scenes, as in the paper, whose RL corpus is distinct from its SFT set: SFT
conversations, RL prompts and held-out items, each with its own size and task keys (``sft``, ``rl``,
``heldout`` and ``sft_tasks``, ``rl_tasks``, ``heldout_tasks``), tasks balanced within each pool. No
media file appears in two pools. Each scene is built from its own seed (corpus seed, scene index): the
same settings give the same corpus, byte for byte, whatever the number of worker processes.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..tasks import TASKS, SegmentationPrompt, Task
from .scenes import (
    COLOURS, SHAPES, TEXTURES, Scene, SceneObject, TextPanel, make_background, mask_box, prompt_points, quadrant,
    text_box, to_thousand_box, to_thousand_point,
)

IMAGE_TASKS = ("multiple choice", "numerical", "regression", "math", "OCR", "open-ended", "spatial grounding",
               "segmentation/image")
VIDEO_TASKS = ("multiple choice", "numerical", "regression", "math", "OCR", "open-ended", "temporal grounding",
               "spatial-temporal grounding", "tracking", "segmentation/video")
_WORDS = ("STOP", "OPEN", "EXIT", "Cafe", "North", "Station", "Hello", "World", "SALE", "Push", "Pull", "Gate",
          "Room", "Main", "Road", "Park", "Bank", "Hotel", "Taxi", "Bus", "Sky", "Blue", "Lamp", "Door")
LETTERS = "ABCDEFGH"


@dataclass
class SynthConfig:
    """Settings of the synthetic corpus (``onethinker data synth`` flags map onto these)."""

    n: int = 2000  # records in total, all pools together (when the pool sizes below are not given)
    seed: int = 0
    held_out: float = 0.2  # share of n in the held-out pool (when the pool sizes are not given)
    rl_share: float = 0.5  # share of the rest of n in the RL pool (when the pool sizes are not given)
    sft: int | None = None  # records per pool; giving any of the three sets each pool's size (unset: 0)
    rl: int | None = None
    heldout: int | None = None
    video_share: float = 0.5  # share of records about videos
    rl_video_share: float | None = None  # the RL pool's own share of videos (None: video_share)
    heldout_video_share: float | None = None  # the held-out pool's own share (None: video_share)
    questions_per_scene: int = 2  # records drawn from each scene (different tasks)
    image_size: tuple[int, int] = (320, 240)  # width, height
    video_size: tuple[int, int] = (256, 192)
    video_fps: int = 4
    video_seconds: tuple[int, int] = (6, 10)  # shortest and longest clip, whole seconds
    min_objects: int = 2
    max_objects: int = 4
    distractors: float = 0.3  # chance an object shares the target's colour or shape
    speed: float = 1.0  # motion speed multiplier
    occlusion: float = 0.0  # chance that objects may overlap (0: placed apart)
    object_size: tuple[float, float] = (0.08, 0.14)  # half-width range, as a share of the shorter side
    shapes: list[str] = field(default_factory=list)  # shapes objects are drawn from; empty: all six
    tasks: list[str] = field(default_factory=list)  # task keys to generate; empty: all
    # task keys of one pool (empty: ``tasks``); a key listed k times gets k times the records of the others
    sft_tasks: list[str] = field(default_factory=list)
    rl_tasks: list[str] = field(default_factory=list)
    heldout_tasks: list[str] = field(default_factory=list)
    workers: int = 2  # processes rendering scenes

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("n must be >= 1")
        if not 0 <= self.held_out < 1:
            raise ValueError("held_out must be in [0, 1)")
        for name in ("video_share", "rl_video_share", "heldout_video_share"):
            v = getattr(self, name)
            if v is not None and not 0 <= v <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if not 0 <= self.rl_share <= 1:
            raise ValueError("rl_share must be in [0, 1]")
        for name in ("sft", "rl", "heldout"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ValueError(f"{name} must be a record count >= 0, got {v!r}")
        if self.explicit_pools and sum(self.pool_sizes().values()) < 1:
            raise ValueError("the pools hold no records: give sft, rl or heldout a size >= 1")
        if not 1 <= self.min_objects <= self.max_objects <= 8:
            raise ValueError("need 1 <= min_objects <= max_objects <= 8")
        unknown_shapes = [x for x in self.shapes if x not in SHAPES]
        if unknown_shapes:
            raise ValueError(f"shapes: unknown {unknown_shapes}; known: {', '.join(SHAPES)}")
        if len(COLOURS) * len(self.shapes or SHAPES) < self.max_objects:
            raise ValueError(f"max_objects {self.max_objects} needs at least that many colour-shape pairs")
        for name in ("tasks", "sft_tasks", "rl_tasks", "heldout_tasks"):
            unknown = [t for t in getattr(self, name) if t not in TASKS]
            if unknown:
                raise ValueError(f"{name}: unknown task keys {unknown}; known: {', '.join(TASKS)}")

    @property
    def explicit_pools(self) -> bool:
        return any(v is not None for v in (self.sft, self.rl, self.heldout))

    def pool_sizes(self) -> dict[str, int]:
        """Records of each pool: the explicit sizes, else n split by held_out and rl_share."""
        if self.explicit_pools:
            return {"sft": self.sft or 0, "rl": self.rl or 0, "heldout": self.heldout or 0}
        held = int(round(self.held_out * self.n))
        if self.held_out > 0 and self.n > 1:
            held = min(self.n - 1, max(1, held))
        rest = self.n - held
        rl = int(round(self.rl_share * rest))
        return {"sft": rest - rl, "rl": rl, "heldout": held}

    def pool_tasks(self, pool: str) -> list[str]:
        return list(getattr(self, f"{pool}_tasks") or self.tasks)


# ---------------------------------------------------------------------------------------------
# Scenes
# ---------------------------------------------------------------------------------------------
def _pick_objects(rng: np.random.Generator, cfg: SynthConfig, n: int) -> list[tuple[str, str]]:
    """n distinct (colour, shape) pairs; with probability ``distractors`` an object shares a colour or
    a shape with an earlier one (so naming only one attribute is not enough to tell them apart)."""
    colours, shapes = list(COLOURS), list(cfg.shapes or SHAPES)
    out: list[tuple[str, str]] = []
    while len(out) < n:
        if out and rng.random() < cfg.distractors:
            c0, s0 = out[int(rng.integers(len(out)))]
            pair = (c0, str(rng.choice(shapes))) if rng.random() < 0.5 else (str(rng.choice(colours)), s0)
        else:
            pair = (str(rng.choice(colours)), str(rng.choice(shapes)))
        if pair not in out:
            out.append(pair)
    return out


def _text_panel(rng: np.random.Generator, width: int, height: int, t_range: tuple[float, float] | None) -> TextPanel:
    words = " ".join(str(w) for w in rng.choice(_WORDS, size=int(rng.integers(1, 3)), replace=False))
    scale = 0.8 if width >= 300 else 0.6
    panel = TextPanel(words, 0, 0, scale)
    x1, y1, x2, y2 = text_box(panel)
    panel.x = int(rng.integers(4, max(5, width - (x2 - x1) - 4)))
    panel.y = 4 if rng.random() < 0.5 else height - (y2 - y1) - 4
    if t_range is not None:
        panel.t_in, panel.t_out = t_range
    return panel


def build_scene(rng: np.random.Generator, cfg: SynthConfig, video: bool, with_text: bool) -> Scene:
    width, height = cfg.video_size if video else cfg.image_size
    texture = str(rng.choice(TEXTURES))
    fps = cfg.video_fps if video else 0
    n_frames = fps * int(rng.integers(cfg.video_seconds[0], cfg.video_seconds[1] + 1)) if video else 1
    duration = n_frames / fps if video else 0.0
    panel = None
    if with_text:
        window = None
        if video:
            start = int(rng.integers(0, n_frames // 3)) / fps
            window = (start, min(duration, start + max(2.0, duration / 2)))
        panel = _text_panel(rng, width, height, window)
    keep_out = None
    if panel is not None:
        x1, y1, x2, y2 = text_box(panel)
        keep_out = (x1 - 4, y1 - 4, x2 + 4, y2 + 4)
    n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objects = []
    for colour, shape in _pick_objects(rng, cfg, n):
        size = int(rng.uniform(*cfg.object_size) * min(width, height))
        for _ in range(200):
            x, y = rng.uniform(size + 2, width - size - 2), rng.uniform(size + 2, height - size - 2)
            if keep_out and not video and keep_out[0] - size < x < keep_out[2] + size and keep_out[1] - size < y < keep_out[3] + size:
                continue
            overlap_ok = rng.random() < cfg.occlusion
            if all(math.hypot(x - o.x, y - o.y) > (0.9 * max(size, o.size) if overlap_ok else size + o.size + 4) for o in objects):
                break
        obj = SceneObject(shape, colour, size, x, y)
        if video:
            speed = cfg.speed * rng.uniform(10, 35) * width / 256
            angle = rng.uniform(0, 2 * math.pi)
            obj.vx, obj.vy = speed * math.cos(angle), speed * math.sin(angle)
        objects.append(obj)
    if video:
        # object 0 is visible all along (the tracking target), drawn last so nothing hides it; the
        # others may enter late or leave early (events for temporal questions)
        for obj in objects[1:]:
            if rng.random() < 0.7:
                seconds = n_frames // fps
                length = int(rng.integers(2 * fps, max(2 * fps + 1, n_frames - fps)))
                start = int(rng.integers(0, n_frames - length + 1))
                obj.t_in, obj.t_out = start / fps, min(seconds, (start + length) / fps)
        objects = objects[1:] + objects[:1]
    bg = make_background(rng, width, height, texture)
    return Scene(width, height, texture, bg, objects, panel, fps, n_frames)


# ---------------------------------------------------------------------------------------------
# Questions
# ---------------------------------------------------------------------------------------------
@dataclass
class Question:
    task: Task
    text: str  # the question, no media placeholder
    value: Any  # typed ground truth
    reasoning: str  # the <think> text for SFT: short, and true to the scene
    options: list[str] = field(default_factory=list)
    extra: dict = field(default_factory=dict)  # evaluation-only fields (segmentation masks)


def _rle(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _visible_objects(scene: Scene, frame: int = 0) -> list[tuple[SceneObject, np.ndarray]]:
    _, masks = scene.render(frame)
    return [(o, m) for o, m in zip(scene.objects, masks) if m.any()]


def _all_seen(scene: Scene) -> list[SceneObject]:
    """Objects visible at some frame (a video object that never shows up is not in the scene)."""
    if not scene.is_video:
        return [o for o, _ in _visible_objects(scene)]
    return [o for o in scene.objects if any(scene.visible(o, scene.frame_time(i)) for i in range(scene.n_frames))]


def _a(words: str) -> str:
    """The words with their indefinite article: "a red circle", "an orange star"."""
    return ("an " if words[:1].lower() in "aeiou" else "a ") + words


def _where(scene: Scene, o: SceneObject) -> str:
    """The quadrant of an object's centre (in a video, where it is first seen)."""
    x, y = scene.position(o, o.t_in if scene.is_video else 0.0)
    return quadrant(x, y, scene.width, scene.height)


def _reading_order(scene: Scene, objs: list[SceneObject]) -> list[SceneObject]:
    """Images by quadrant (top row first, left before right), then left to right; videos by when each
    object first shows up, then likewise by where."""
    def key(o: SceneObject) -> tuple:
        x, y = scene.position(o, o.t_in if scene.is_video else 0.0)
        return ((o.t_in if scene.is_video else 0.0), y >= scene.height / 2, x >= scene.width / 2, x, y)

    return sorted(objs, key=key)


def _places(scene: Scene, objs: list[SceneObject]) -> str:
    """"a red circle at the top left, a blue star first seen at the bottom right" in reading order."""
    seen = " first seen" if scene.is_video else ""
    return ", ".join(f"{_a(o.name)}{seen} at the {_where(scene, o)}" for o in _reading_order(scene, objs))


def _listing(scene: Scene) -> str:
    """Every object in reading order (see :func:`_reading_order`)."""
    objs = _all_seen(scene)
    where = "video" if scene.is_video else "image"
    return f"The {where} shows {len(objs)} object{'s' if len(objs) != 1 else ''}: {_places(scene, objs)}."


def _mc(rng: np.random.Generator, correct: str, pool: list[str]) -> tuple[list[str], str]:
    others = [p for p in pool if p != correct]
    picks = [correct] + [str(x) for x in rng.choice(others, size=min(3, len(others)), replace=False)]
    order = rng.permutation(len(picks))
    options = [picks[i] for i in order]
    letter = LETTERS[options.index(correct)]
    return [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)], letter


def q_multiple_choice(scene: Scene, rng: np.random.Generator) -> Question | None:
    objs = _all_seen(scene)
    shapes = Counter(o.shape for o in objs)
    colours = Counter(o.colour for o in objs)
    kinds = ["colour", "shape"] + (["order"] if scene.is_video else ["position"])
    for kind in rng.permutation(kinds):
        if kind == "colour":
            cands = [o for o in objs if shapes[o.shape] == 1]
            if cands:
                o = cands[int(rng.integers(len(cands)))]
                opts, letter = _mc(rng, o.colour, list(COLOURS))
                text = f"What colour is the {o.shape}?"
                why = f"The {o.shape} is {o.colour}, which is option {letter}."
                return Question(TASKS["multiple choice"], text, letter, why, opts)
        elif kind == "shape":
            cands = [o for o in objs if colours[o.colour] == 1]
            if cands:
                o = cands[int(rng.integers(len(cands)))]
                opts, letter = _mc(rng, o.shape, list(SHAPES))
                text = f"What shape is the {o.colour} object?"
                why = f"The {o.colour} object is {_a(o.shape)}, which is option {letter}."
                return Question(TASKS["multiple choice"], text, letter, why, opts)
        elif kind == "position":
            cands = []
            for o in objs:
                if abs(o.x - scene.width / 2) > o.size + 2 and abs(o.y - scene.height / 2) > o.size + 2:
                    cands.append(o)
            if cands:
                o = cands[int(rng.integers(len(cands)))]
                where = quadrant(o.x, o.y, scene.width, scene.height)
                opts, letter = _mc(rng, where, ["top left", "top right", "bottom left", "bottom right"])
                text = f"Where is the {o.name} in the image?"
                why = f"The {o.name} is at the {where}, which is option {letter}."
                return Question(TASKS["multiple choice"], text, letter, why, opts)
        else:  # order of events
            firsts = sorted({o.t_in for o in objs})
            if len(firsts) >= 2 and firsts[1] - firsts[0] >= 1.0:
                first = [o for o in objs if o.t_in == firsts[0]]
                if len(first) == 1:
                    o = first[0]
                    pool = [x.name for x in objs if x.t_in > firsts[0]]
                    opts, letter = _mc(rng, o.name, [o.name] + pool)
                    text = "Which of these objects appears first in the video?"
                    why = (f"The {o.name} is there from {o.t_in:g} s; the others appear later. "
                           f"So the answer is {letter}.")
                    return Question(TASKS["multiple choice"], text, letter, why, opts)
    return None


def q_numerical(scene: Scene, rng: np.random.Generator) -> Question | None:
    objs = _all_seen(scene)
    where = "video" if scene.is_video else "image"
    kind = rng.choice(["all", "shape", "colour"])
    if kind == "shape":
        shape = str(rng.choice([o.shape for o in objs]))
        count = sum(o.shape == shape for o in objs)
        text = f"How many {shape}s are there in the {where}?"
        why = f"The {shape}s: {_places(scene, [o for o in objs if o.shape == shape])}. That makes {count}."
    elif kind == "colour":
        colour = str(rng.choice([o.colour for o in objs]))
        count = sum(o.colour == colour for o in objs)
        text = f"How many {colour} objects are there in the {where}?"
        why = f"The {colour} objects: {_places(scene, [o for o in objs if o.colour == colour])}. That makes {count}."
    else:
        count = len(objs)
        text = f"How many objects are there in the {where}?" if not scene.is_video else "How many different objects appear in the video?"
        why = f"{_listing(scene)} That makes {count}."
    return Question(TASKS["numerical"], text, count, why)


def q_regression(scene: Scene, rng: np.random.Generator) -> Question | None:
    objs = _all_seen(scene)
    if scene.is_video:
        o = objs[int(rng.integers(len(objs)))]
        end = min(o.t_out, scene.duration)
        seconds = round(end - o.t_in, 2)
        text = f"For how many seconds is the {o.name} visible in the video?"
        why = f"The {o.name} is visible from {o.t_in:g} s to {end:g} s, that is {seconds:g} seconds."
        return Question(TASKS["regression"], text, seconds, why)
    if len(objs) < 2:
        return None
    i, j = rng.choice(len(objs), size=2, replace=False)
    a, b = objs[int(i)], objs[int(j)]
    dist = round(100 * math.hypot(a.x - b.x, a.y - b.y) / scene.width, 1)
    if dist <= 0:
        return None
    text = (f"How far apart are the centres of the {a.name} and the {b.name}? "
            "Answer as a percentage of the image width.")
    why = (f"The {a.name} is at the {quadrant(a.x, a.y, scene.width, scene.height)} and the {b.name} at the "
           f"{quadrant(b.x, b.y, scene.width, scene.height)}; their centres are about {dist:g}% of the width apart.")
    return Question(TASKS["regression"], text, dist, why)


def q_math(scene: Scene, rng: np.random.Generator) -> Question | None:
    objs = _all_seen(scene)
    where = "video" if scene.is_video else "image"
    if rng.random() < 0.5:
        colour = str(rng.choice([o.colour for o in objs]))
        k, n = sum(o.colour == colour for o in objs), len(objs)
        f = Fraction(k, n)
        value = str(f.numerator) if f.denominator == 1 else f"\\frac{{{f.numerator}}}{{{f.denominator}}}"
        text = f"What fraction of the objects in the {where} are {colour}? Give the answer in lowest terms."
        why = f"{_listing(scene)} {k} of the {n} objects are {colour}, so the fraction is {value}."
        return Question(TASKS["math"], text, value, why)
    s1, s2 = (str(s) for s in rng.choice(SHAPES, size=2, replace=False))
    a, b = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    c1, c2 = sum(o.shape == s1 for o in objs), sum(o.shape == s2 for o in objs)
    total = a * c1 + b * c2
    text = (f"Each {s1} is worth {a} points and each {s2} is worth {b} points; other shapes are worth nothing. "
            f"How many points are there in the {where}?")
    why = f"{_listing(scene)} There are {c1} {s1}(s) and {c2} {s2}(s): {a} x {c1} + {b} x {c2} = {total}."
    return Question(TASKS["math"], text, str(total), why)


def q_ocr(scene: Scene, rng: np.random.Generator) -> Question | None:
    if scene.text is None:
        return None
    where = "video" if scene.is_video else "image"
    text = f"What text is written on the sign in the {where}?"
    why = f"There is a white sign with black letters. Reading it letter by letter gives \"{scene.text.text}\"."
    return Question(TASKS["OCR"], text, scene.text.text, why)


def _direction(dx: float, dy: float, scale: float) -> str:
    parts = []
    if abs(dy) > 0.1 * scale:
        parts.append("down" if dy > 0 else "up")
    if abs(dx) > 0.1 * scale:
        parts.append("right" if dx > 0 else "left")
    return " and ".join(parts)


def caption(scene: Scene) -> str:
    if not scene.is_video:
        out = _listing(scene)
        out += f" The background is {scene.texture if scene.texture != 'noise' else 'mottled'}."
        if scene.text is not None:
            out += f" A sign reads \"{scene.text.text}\"."
        return out
    sentences = []
    for o in _all_seen(scene):
        end = min(o.t_out, scene.duration) - 1 / scene.fps
        (x0, y0), (x1, y1) = scene.position(o, o.t_in), scene.position(o, end)
        move = _direction(x1 - x0, y1 - y0, scene.width)
        s = f"{_a(o.name).capitalize()} " + (f"moves {move}" if move else "stays in place")
        if o.t_in > 0 or o.t_out < scene.duration:
            s += f", visible from {o.t_in:g} s to {min(o.t_out, scene.duration):g} s"
        sentences.append(s + ".")
    if scene.text is not None:
        sentences.append(f"A sign reading \"{scene.text.text}\" is shown.")
    return " ".join(sentences)


def q_open_ended(scene: Scene, rng: np.random.Generator) -> Question | None:
    text = "Describe what happens in the video." if scene.is_video else "Describe the image."
    value = caption(scene)
    why = "I will list each object with its colour, shape and where it is" + (", and how it moves." if scene.is_video else ".")
    return Question(TASKS["open-ended"], text, value, why)


def _box_at(scene: Scene, obj: SceneObject, frame: int) -> tuple[int, int, int, int] | None:
    _, masks = scene.render(frame)
    box = mask_box(masks[scene.objects.index(obj)])
    return None if box is None else to_thousand_box(box, scene.width, scene.height)


def q_spatial(scene: Scene, rng: np.random.Generator) -> Question | None:
    objs = _visible_objects(scene)
    o, m = objs[int(rng.integers(len(objs)))]
    box = to_thousand_box(mask_box(m), scene.width, scene.height)
    text = f"Find the {o.name} in the image."
    why = (f"The {o.name} is at the {_where(scene, o)}; it spans x from {box[0]} to {box[2]} and y from {box[1]} to "
           f"{box[3]}.")
    return Question(TASKS["spatial grounding"], text, box, why)


def _segmentation_prompt(scene: Scene, mask: np.ndarray, time_s: float | None) -> SegmentationPrompt:
    box_px = mask_box(mask)
    pos, neg = prompt_points(mask, box_px)
    w, h = scene.width, scene.height
    return SegmentationPrompt(
        to_thousand_box(box_px, w, h),
        tuple(to_thousand_point(x, y, w, h) for x, y in pos),
        tuple(to_thousand_point(x, y, w, h) for x, y in neg),
        time_s,
    )


def q_segmentation_image(scene: Scene, rng: np.random.Generator) -> Question | None:
    objs = [(o, m) for o, m in _visible_objects(scene) if m.sum() >= 80]
    if not objs:
        return None
    o, m = objs[int(rng.integers(len(objs)))]
    value = _segmentation_prompt(scene, m, None)
    text = f"Segment the {o.name}."
    why = (f"The {o.name} is at the {_where(scene, o)} and fills the box {list(value.box)}; points on its body are inside it, "
           "and points on the background around it are outside.")
    extra = {"resolution": {"width": scene.width, "height": scene.height},
             "segmentation_output": {"frames": ["0"], "segmentation_rle": _rle(m)}}
    return Question(TASKS["segmentation/image"], text, value, why, extra=extra)


def _event_objects(scene: Scene, min_len: float) -> list[SceneObject]:
    return [o for o in _all_seen(scene) if (o.t_in > 0 or o.t_out < scene.duration) and min(o.t_out, scene.duration) - o.t_in >= min_len]


def q_temporal(scene: Scene, rng: np.random.Generator) -> Question | None:
    cands = _event_objects(scene, 1.0)
    if not cands:
        return None
    o = cands[int(rng.integers(len(cands)))]
    span = (o.t_in, min(o.t_out, scene.duration))
    text = f"When is the {o.name} visible in the video?"
    why = f"The {o.name} appears at {span[0]:g} s and is gone at {span[1]:g} s."
    return Question(TASKS["temporal grounding"], text, span, why)


def q_spatio_temporal(scene: Scene, rng: np.random.Generator) -> Question | None:
    for o in rng.permutation(_event_objects(scene, 2.0)):
        span = (o.t_in, min(o.t_out, scene.duration))
        boxes = {}
        for sec in range(math.ceil(span[0]), math.floor(span[1]) + 1):
            frame = sec * scene.fps
            if frame >= scene.n_frames or not scene.visible(o, scene.frame_time(frame)):
                continue
            box = _box_at(scene, o, frame)
            if box is not None:
                boxes[sec] = box
        if boxes:
            text = f"When is the {o.name} visible, and where is it at each second of that time?"
            why = f"The {o.name} is visible from {span[0]:g} s to {span[1]:g} s; I follow it second by second."
            return Question(TASKS["spatial-temporal grounding"], text, {"time": span, "boxes": boxes}, why)
    return None


def q_tracking(scene: Scene, rng: np.random.Generator) -> Question | None:
    o = scene.objects[-1]  # visible all along and never covered
    first = _box_at(scene, o, 0)
    boxes = {}
    for sec in range(1, 33):
        frame = sec * scene.fps
        if frame >= scene.n_frames:
            break
        box = _box_at(scene, o, frame)
        if box is not None:
            boxes[sec] = box
    if first is None or not boxes:
        return None
    text = (f"The target object is at {list(first)} in the first frame (coordinates from 0 to 1000). "
            "Track it through the video.")
    x0, y0 = scene.position(o, 0.0)
    x1, y1 = scene.position(o, (scene.n_frames - 1) / scene.fps)
    move = _direction(x1 - x0, y1 - y0, scene.width) or "barely"
    why = f"The target is {_a(o.name)}. It moves {move}; I give its box at each second."
    return Question(TASKS["tracking"], text, boxes, why)


def q_segmentation_video(scene: Scene, rng: np.random.Generator) -> Question | None:
    cands = [o for o in _all_seen(scene) if min(o.t_out, scene.duration) - o.t_in >= 2.0]
    if not cands:
        return None
    o = cands[int(rng.integers(len(cands)))]
    k = scene.objects.index(o)
    best, best_area = None, 0
    for sec in range(math.ceil(o.t_in), math.floor(min(o.t_out, scene.duration)) + 1):
        frame = sec * scene.fps
        if frame < scene.n_frames:
            area = int(scene.render(frame)[1][k].sum())
            if area > best_area:
                best, best_area = sec, area
    if best is None or best_area < 80:
        return None
    value = _segmentation_prompt(scene, scene.render(best * scene.fps)[1][k], float(best))
    text = f"Segment the {o.name} in the video."
    why = f"The {o.name} is clearest at {best} s, where it fills the box {list(value.box)}."
    rles = {str(i): _rle(scene.render(i)[1][k]) for i in range(scene.n_frames)}
    extra = {"resolution": {"width": scene.width, "height": scene.height}, "fps": scene.fps,
             "segmentation_output": {"frames": list(rles), "segmentation_rle": rles}}
    return Question(TASKS["segmentation/video"], text, value, why, extra=extra)


GENERATORS: dict[str, Callable[[Scene, np.random.Generator], Question | None]] = {
    "multiple choice": q_multiple_choice,
    "numerical": q_numerical,
    "regression": q_regression,
    "math": q_math,
    "OCR": q_ocr,
    "open-ended": q_open_ended,
    "spatial grounding": q_spatial,
    "segmentation/image": q_segmentation_image,
    "temporal grounding": q_temporal,
    "spatial-temporal grounding": q_spatio_temporal,
    "tracking": q_tracking,
    "segmentation/video": q_segmentation_video,
}


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------
POOLS = ("sft", "rl", "heldout")


@dataclass(frozen=True)
class ScenePlan:
    index: int
    video: bool
    tasks: tuple[str, ...]
    split: str  # the pool: "sft", "rl" or "heldout"
    first_id: int  # problem_id of the scene's first record


def _pool_scenes(rng: np.random.Generator, cfg: SynthConfig, count: int, task_keys: list[str],
                 video_share: float) -> list[tuple[bool, tuple[str, ...]]]:
    """Scenes asking ``count`` questions of ``task_keys`` (a key listed k times: k times the records),
    ``video_share`` of them about videos, balanced within images and within videos."""
    keys = list(task_keys) if task_keys else list(TASKS)
    image_tasks = [t for t in IMAGE_TASKS for _ in range(keys.count(t))]  # canonical order, repeats kept
    video_tasks = [t for t in VIDEO_TASKS for _ in range(keys.count(t))]
    n_video = round(count * video_share) if image_tasks and video_tasks else (count if video_tasks else 0)
    scenes: list[tuple[bool, tuple[str, ...]]] = []
    for video, tasks, k in ((False, image_tasks, count - n_video), (True, video_tasks, n_video)):
        if not tasks or k <= 0:
            continue
        slots = [tasks[i % len(tasks)] for i in range(k)]
        slots = [slots[i] for i in rng.permutation(len(slots))]
        q = max(1, min(cfg.questions_per_scene, len(set(tasks))))
        while slots:
            group: list[str] = []
            rest = []
            for t in slots:
                (group if len(group) < q and t not in group else rest).append(t)
            scenes.append((video, tuple(group)))
            slots = rest
    return [scenes[i] for i in rng.permutation(len(scenes))]


def plan(cfg: SynthConfig) -> list[ScenePlan]:
    """Which scenes to draw, with which questions, in which pool: each pool's own scenes (so no scene is
    in two pools), its tasks balanced within images and within videos."""
    rng = np.random.default_rng([cfg.seed, 0])
    sizes = cfg.pool_sizes()
    out, next_id, index = [], 0, 0
    for pool in POOLS:
        own = getattr(cfg, f"{pool}_video_share", None)
        share = own if own is not None else cfg.video_share
        for video, tasks in _pool_scenes(rng, cfg, sizes[pool], cfg.pool_tasks(pool), share):
            out.append(ScenePlan(index, video, tasks, pool, next_id))
            next_id += len(tasks)
            index += 1
    return out


def _answer_text(task: Task, value: Any) -> str:
    return task.format_answer(value)


def _records_for(scene: Scene, questions: list[Question], plan_: ScenePlan, media_path: str) -> list[dict]:
    dtype = "video" if scene.is_video else "image"
    placeholder = f"<{dtype}>"
    media_key = "videos" if scene.is_video else "images"
    out = []
    for j, q in enumerate(questions):
        pid = plan_.first_id + j
        answer = _answer_text(q.task, q.value)
        if plan_.split == "rl":
            out.append({"key": q.task.key, "rl": {"problem_id": pid, "problem": placeholder + q.text, "problem_reserved_text": q.text,
                               "data_type": dtype, "problem_type": q.task.problem_type, "options": q.options,
                               "answer": f"<answer>{answer}</answer>", media_key: [media_path]}})
        elif plan_.split == "sft":
            out.append({"key": q.task.key, "sft": {"messages": [
                {"role": "user", "content": q.task.prompt(placeholder + q.text, q.options or None)},
                {"role": "assistant", "content": f"<think>{q.reasoning}</think><answer>{answer}</answer>"},
            ], media_key: [media_path]}})
        else:
            ev = {"problem_id": pid, "problem": q.text, "data_type": dtype, "problem_type": q.task.problem_type,
                  "options": q.options, "solution": f"<answer>{answer}</answer>", "path": media_path, **q.extra}
            out.append({"key": q.task.key, "eval": ev})
    return out


def synth_scene(cfg: SynthConfig, plan_: ScenePlan, out_dir: str) -> tuple[list[dict], list[str]]:
    """Draw one scene, ask its questions, write its media file; returns (records, tasks it swapped)."""
    from .media import write_video

    rng = np.random.default_rng([cfg.seed, 1, plan_.index])
    tasks = list(plan_.tasks)
    swapped: list[str] = []
    for attempt in range(30):
        scene = build_scene(rng, cfg, plan_.video, with_text="OCR" in tasks)
        questions = [GENERATORS[t](scene, rng) for t in tasks]
        if all(q is not None for q in questions):
            break
    else:  # this scene layout cannot ask one of them: ask the question that can be asked instead
        fallback = "numerical" if "numerical" not in tasks else "open-ended"
        swapped = [t for t, q in zip(tasks, questions) if q is None]
        questions = [q if q is not None else GENERATORS[fallback](scene, rng) for q in questions]
    rel = f"media/{'videos' if scene.is_video else 'images'}/{plan_.index:06d}.{'mp4' if scene.is_video else 'png'}"
    path = Path(out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if scene.is_video:
        write_video(path, scene.frames(), scene.fps)
    else:
        import cv2

        cv2.imwrite(str(path), cv2.cvtColor(scene.render(0)[0], cv2.COLOR_RGB2BGR))
    return _records_for(scene, questions, plan_, rel), swapped  # type: ignore[arg-type]


def _synth_scene_job(args: tuple[dict, ScenePlan, str]) -> tuple[list[dict], list[str]]:
    cfg_dict, plan_, out_dir = args
    return synth_scene(SynthConfig(**cfg_dict), plan_, out_dir)


def synthesize(cfg: SynthConfig, out_dir: str | Path, progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the corpus to ``out_dir``; returns the manifest (also written as manifest.json)."""
    from .records import write_records

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plans = plan(cfg)
    cfg_dict = asdict(cfg)
    results: list[tuple[list[dict], list[str]]] = []
    jobs = [(cfg_dict, p, str(out)) for p in plans]
    if cfg.workers > 1 and len(plans) > 1:
        import multiprocessing as mp

        ctx = mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")
        with ProcessPoolExecutor(max_workers=cfg.workers, mp_context=ctx) as ex:
            for r in ex.map(_synth_scene_job, jobs, chunksize=4):
                results.append(r)
                if progress:
                    progress(len(results), len(plans))
    else:
        for job in jobs:
            results.append(_synth_scene_job(job))
            if progress:
                progress(len(results), len(plans))
    rl, sft_img, sft_vid, ev = [], [], [], []
    swapped: Counter = Counter()
    for recs, sw in results:
        swapped.update(sw)
        for r in recs:
            if "rl" in r:
                rl.append(r["rl"])
            elif "sft" in r:
                (sft_vid if "videos" in r["sft"] else sft_img).append(r["sft"])
            else:
                ev.append(r["eval"])
    files = {
        "onethinker_rl_train.json": rl,
        "onethinker_sft_image.json": sft_img,
        "onethinker_sft_video.json": sft_vid,
        "eval_synthetic.json": ev,
    }
    for name, recs in files.items():
        write_records(out / name, recs)
    by_task: dict[str, Counter] = {pool: Counter() for pool in POOLS}
    for p, (recs, _) in zip(plans, results):
        for r in recs:
            by_task[p.split][f"{r['key']} ({'video' if p.video else 'image'})"] += 1
    manifest = {
        "config": cfg_dict,
        "scenes": len(plans),
        "scenes_by_pool": {pool: sum(p.split == pool for p in plans) for pool in POOLS},
        "records": {"sft": len(sft_img) + len(sft_vid), "rl": len(rl), "heldout": len(ev)},
        "files": {k: len(v) for k, v in files.items()},
        "by_task": {pool: dict(sorted(c.items())) for pool, c in by_task.items()},
        "swapped_questions": dict(swapped),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest
