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
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..tasks import TASKS, Task
from .questions import GENERATORS, LETTERS, Question, caption  # noqa: F401 - LETTERS, caption: public names
from .scenes import COLOURS, SHAPES, TEXTURES, Scene, SceneObject, TextPanel, make_background, text_box

IMAGE_TASKS = ("multiple choice", "numerical", "regression", "math", "OCR", "open-ended", "spatial grounding",
               "segmentation/image")
VIDEO_TASKS = ("multiple choice", "numerical", "regression", "math", "OCR", "open-ended", "temporal grounding",
               "spatial-temporal grounding", "tracking", "segmentation/video")
_WORDS = ("STOP", "OPEN", "EXIT", "Cafe", "North", "Station", "Hello", "World", "SALE", "Push", "Pull", "Gate",
          "Room", "Main", "Road", "Park", "Bank", "Hotel", "Taxi", "Bus", "Sky", "Blue", "Lamp", "Door")


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


def sft_reply(reasoning: str, answer: str) -> str:
    """The assistant turn of an SFT conversation: the reasoning in think tags, then the answer in answer tags."""
    return f"<think>{reasoning}</think><answer>{answer}</answer>"


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
                {"role": "assistant", "content": sft_reply(q.reasoning, answer)},
            ], media_key: [media_path]}})
        else:
            ev = {"problem_id": pid, "problem": q.text, "data_type": dtype, "problem_type": q.task.problem_type,
                  "options": q.options, "solution": f"<answer>{answer}</answer>", "path": media_path, **q.extra}
            out.append({"key": q.task.key, "eval": ev})
    return out


def synth_scene(cfg: SynthConfig, plan_: ScenePlan, out_dir: str) -> tuple[list[dict], list[str]]:
    """Draw one scene, ask its questions, write its media file; returns (records, tasks it swapped)."""
    from ..data.media import write_video

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
    from ..data.records import write_records

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
