"""The synthetic corpus's questions: one generator per task key, each asking one question of a scene with
its exact ground truth and a short reasoning true to the scene (``GENERATORS``)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from ..tasks import TASKS, SegmentationPrompt, Task
from .scenes import (
    COLOURS, SHAPES, Scene, SceneObject, mask_box, prompt_points, quadrant, to_thousand_box, to_thousand_point,
)

LETTERS = "ABCDEFGH"

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
