"""Simulated rollouts: ground truths for every task and the responses a policy in training produces.

Each prompt gets ``n`` rollouts, each drawn as one of
- ``correct``: the right answer, sometimes in an equivalent form (``0.5`` for ``\\frac{1}{2}``);
- ``near``: close but not right (a shifted span, a jittered box, an off-by-one count, a paraphrase);
- ``wrong``: another answer of the right form;
- ``malformed``: broken tags, broken JSON, wrong arity, NaN, inverted spans, code fences, prose
  around JSON, a missing answer block, or a huge degenerate output.
The reasoning text differs per rollout, as sampling makes it. For discrete answers a prompt's
rollouts share a few answer modes, as a sampled policy's do (see ``DISCRETE``). Used by the reward benchmark, the
demo, and the tests; the scripted evaluation model reuses ``perturb``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from ..tasks import TASKS, SegmentationPrompt, Task

KINDS = ("correct", "near", "wrong", "malformed")
DEFAULT_MIX = {"correct": 0.35, "near": 0.25, "wrong": 0.2, "malformed": 0.2}

_WORDS = (
    "the red circle moves left right blue square green triangle yellow star stays near top bottom corner "
    "frame scene object appears disappears quickly slowly behind in front of large small two three four "
    "first then after before while during center edge background textured striped dotted purple orange "
    "count shapes total visible at second end start video image question answer option look carefully"
).split()
_COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "white", "black"]
_SHAPES = ["circle", "square", "triangle", "star", "hexagon", "diamond"]
_PLACES = ["top left", "top right", "bottom left", "bottom right", "centre", "left edge", "right edge"]
_OCR_WORDS = [
    "STOP", "OPEN", "exit", "Cafe", "north", "Station", "42nd", "Street", "Hello", "World", "sale", "SALE",
    "Push", "Pull", "Gate", "B12", "Room", "Library", "Main", "Road",
]


def _think(rng: random.Random, lo: int = 30, hi: int = 300) -> str:
    # Reasoning lengths of a policy early in RL: tens to a few hundred words.
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."


def _r(x: float, nd: int = 1) -> float:
    return round(x, nd)


# ---------------------------------------------------------------------------------------------
# Ground truths (typed values; the task formats them)
# ---------------------------------------------------------------------------------------------
def _box(rng: random.Random, min_size: int = 60) -> tuple[int, int, int, int]:
    w, h = rng.randint(min_size, 600), rng.randint(min_size, 600)
    x1, y1 = rng.randint(0, 1000 - w), rng.randint(0, 1000 - h)
    return (x1, y1, x1 + w, y1 + h)


def _points_in(rng: random.Random, box: tuple, inside: bool) -> tuple[tuple[int, int], ...]:
    x1, y1, x2, y2 = box
    pts = []
    while len(pts) < 3:
        x, y = rng.randint(0, 1000), rng.randint(0, 1000)
        if (x1 + 5 < x < x2 - 5 and y1 + 5 < y < y2 - 5) == inside:
            pts.append((x, y))
    return tuple(pts)


def _caption(rng: random.Random) -> str:
    """One to three sentences, as in the captioning and open-ended QA data."""
    sentences = []
    for _ in range(rng.randint(1, 3)):
        c1, c2 = rng.sample(_COLOURS, 2)
        s1, s2 = rng.sample(_SHAPES, 2)
        sentences.append(
            f"A {c1} {s1} moves from the {rng.choice(_PLACES)} towards the {rng.choice(_PLACES)} "
            f"while a {c2} {s2} stays near the {rng.choice(_PLACES)} of a textured background."
        )
    return " ".join(sentences)


def sample_truth(task: Task, rng: random.Random) -> Any:
    """A random ground-truth value of the task's answer type."""
    k = task.key
    if k == "multiple choice":
        return rng.choice("ABCD")
    if k == "numerical":
        return rng.randint(0, 20) if rng.random() < 0.7 else _r(rng.uniform(0, 50), 2)
    if k == "regression":
        return _r(rng.uniform(0.5, 120.0), 2)
    if k == "math":
        a, b = rng.randint(2, 12), rng.randint(2, 9)
        return rng.choice([f"\\frac{{{a}}}{{{b}}}", str(a * b), f"{a}\\sqrt{{{b}}}", f"{a + b}", f"-\\frac{{{a}}}{{{b}}}"])
    if k == "OCR":
        return " ".join(rng.sample(_OCR_WORDS, rng.randint(1, 4)))
    if k == "open-ended":
        return _caption(rng)
    if k == "temporal grounding":
        s = _r(rng.uniform(0, 40))
        return (s, _r(s + rng.uniform(2, 20)))
    if k == "spatial grounding":
        return _box(rng)
    if k == "spatial-temporal grounding":
        s = _r(rng.uniform(0, 20))
        e = _r(s + rng.uniform(2, 8))
        boxes = {sec: _box(rng) for sec in range(int(s) + 1, int(e) + 1)}
        return {"time": (s, e), "boxes": boxes}
    if k == "tracking":
        n = rng.randint(4, 32)
        box = list(_box(rng))
        out = {}
        for sec in range(1, n + 1):  # the box drifts, staying whole inside the frame
            dx = min(1000 - box[2], max(-box[0], rng.randint(-20, 20)))
            dy = min(1000 - box[3], max(-box[1], rng.randint(-20, 20)))
            box = [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy]
            out[sec] = tuple(box)
        return out
    if k in ("segmentation/image", "segmentation/video"):
        box = _box(rng, min_size=120)
        t = _r(rng.uniform(0, 30)) if k == "segmentation/video" else None
        return SegmentationPrompt(box, _points_in(rng, box, True), _points_in(rng, box, False), t)
    raise KeyError(k)


# ---------------------------------------------------------------------------------------------
# Perturbations
# ---------------------------------------------------------------------------------------------
def _jitter_box(rng: random.Random, box: tuple, scale: float) -> tuple:
    w, h = box[2] - box[0], box[3] - box[1]
    return tuple(
        int(min(1000, max(0, v + rng.gauss(0, scale) * (w if i % 2 == 0 else h)))) for i, v in enumerate(box)
    )


def _jitter_points(rng: random.Random, pts: tuple, px: float) -> tuple:
    return tuple((int(x + rng.gauss(0, px)), int(y + rng.gauss(0, px))) for x, y in pts)


def _math_equivalent(rng: random.Random, truth: str) -> str:
    forms = [truth, f"${truth}$", f"\\boxed{{{truth}}}", f"$$ {truth} $$"]
    if truth.startswith("\\frac{") or truth.startswith("-\\frac{"):
        sign = "-" if truth.startswith("-") else ""
        a, b = truth.split("{")[1].rstrip("}"), truth.split("{")[2].rstrip("}")
        forms += [f"{sign}{a}/{b}", f"{sign}\\dfrac{{{a}}}{{{b}}}", f"{sign}{int(a) * 2}/{int(b) * 2}"]
    elif truth.isdigit():
        forms += [f"{truth}.0", f"{int(truth):,}"]
    return rng.choice(forms)


def perturb(task: Task, truth: Any, rng: random.Random, kind: str) -> Any:
    """An answer value of ``kind`` ("correct", "near" or "wrong") for a ground-truth value.

    For free-text tasks the result is the answer text; for structured tasks a typed value.
    """
    k = task.key
    if kind == "correct":
        if k == "math":
            return _math_equivalent(rng, truth)
        if k == "numerical" and rng.random() < 0.3:
            return f"{float(truth):.2f}"
        if k == "open-ended":
            return truth if rng.random() < 0.3 else truth.replace("moves", "travels").replace("stays", "remains")
        if k == "OCR" and rng.random() < 0.2:
            return "  ".join(truth.split())
        return truth
    if kind == "near":
        if k == "multiple choice":
            return rng.choice([f"{truth}. the {rng.choice(_COLOURS)} {rng.choice(_SHAPES)}", f"({truth})", truth.lower()])
        if k == "numerical":
            return float(truth) + rng.choice([-1, 1, 0.01, -0.01])
        if k == "regression":
            return _r(float(truth) * rng.uniform(0.8, 1.2), 2)
        if k == "math":
            return rng.choice([truth.replace("1", "2", 1), truth + "+1", f"-{truth}" if not truth.startswith("-") else truth[1:]])
        if k == "OCR":
            words = truth.split()
            words[rng.randrange(len(words))] = rng.choice(_OCR_WORDS).lower()
            return " ".join(words)
        if k == "open-ended":
            words = truth.split()
            return " ".join(words[: max(3, len(words) // 2)])
        if k == "temporal grounding":
            shift = rng.uniform(-0.5, 0.5) * (truth[1] - truth[0])
            return (_r(truth[0] + shift), _r(truth[1] + shift))
        if k == "spatial grounding":
            return _jitter_box(rng, truth, 0.15)
        if k == "spatial-temporal grounding":
            s, e = truth["time"]
            boxes = {sec: _jitter_box(rng, b, 0.15) for sec, b in truth["boxes"].items() if rng.random() < 0.8}
            return {"time": (_r(s + rng.uniform(-2, 2)), _r(e + rng.uniform(-2, 2))), "boxes": boxes}
        if k == "tracking":
            return {sec: _jitter_box(rng, b, 0.1 + 0.01 * sec) for sec, b in truth.items() if rng.random() < 0.9}
        if k.startswith("segmentation"):
            t = None if truth.time is None else _r(truth.time + rng.uniform(-3, 3))
            return SegmentationPrompt(
                _jitter_box(rng, truth.box, 0.1), _jitter_points(rng, truth.positive, 25),
                _jitter_points(rng, truth.negative, 60), t,
            )
    if kind == "wrong":
        other = sample_truth(task, rng)
        if k == "multiple choice" and other == truth:
            other = "ABCD"[("ABCD".index(truth) + 1) % 4]
        return other
    raise ValueError(f"unknown kind {kind!r}")


def _answer_text(task: Task, value: Any) -> str:
    return value if isinstance(value, str) else task.format_answer(value)


def _malformed(task: Task, truth: Any, rng: random.Random) -> str:
    """A response with a defect of the kinds a policy in training produces."""
    think = _think(rng)
    good = _answer_text(task, truth)
    choices = [
        lambda: f"{think} The answer is {good}.",  # no tags at all
        lambda: f"<think>{think}</think><answer>{good}",  # unclosed answer
        lambda: f"<think>{think}<answer>{good}</answer>",  # unclosed think
        lambda: f"< think >{think}< / think >\n< answer >{good}< /answer >",  # spaced tags (normalised: valid)
        lambda: f"<think>{think}</think><answer></answer>",  # empty answer
        lambda: f"<answer>{good}</answer><think>{think}</think>",  # wrong order
        lambda: f"<think>{think}</think><answer>{good}</answer><answer>{good}</answer>",  # two answers
        lambda: f"<think>{think} {_think(rng, 300, 1500)}",  # long, cut off mid-thought
    ]
    if task.structured:
        obj = json.loads(good)
        broken = good[: max(1, len(good) // 2)]
        choices += [
            lambda: f"<think>{think}</think><answer>{broken}</answer>",  # truncated JSON
            lambda: f"<think>{think}</think><answer>```json\n{good}\n```</answer>",  # code fence
            lambda: f"<think>{think}</think><answer>The boxes are {good}</answer>",  # prose around
            lambda: f"<think>{think}</think><answer>NaN</answer>",
            lambda: f"<think>{think}</think><answer>{json.dumps(list(obj.values()))}</answer>",  # a list
        ]
        if "time" in obj and isinstance(obj["time"], list):
            s, e = obj["time"]
            inv = dict(obj, time=[e, s])
            nan = dict(obj, time=[float("nan"), e])
            choices += [
                lambda: f"<think>{think}</think><answer>{json.dumps(inv)}</answer>",  # inverted span
                lambda: f"<think>{think}</think><answer>{json.dumps(nan)}</answer>",  # NaN inside
            ]
        if "boxes" in obj and isinstance(obj["boxes"], list):
            arity = dict(obj, boxes=obj["boxes"][:3])
            strs = dict(obj, boxes=[str(v) for v in obj["boxes"]])
            choices += [
                lambda: f"<think>{think}</think><answer>{json.dumps(arity)}</answer>",  # wrong arity
                lambda: f"<think>{think}</think><answer>{json.dumps(strs)}</answer>",  # numbers as strings (valid)
            ]
        if "positive_points" in obj:
            two = dict(obj, positive_points=obj["positive_points"][:2])
            choices.append(lambda: f"<think>{think}</think><answer>{json.dumps(two)}</answer>")
        if "time" in obj and not isinstance(obj["time"], list):
            as_str = dict(obj, time=str(obj["time"]))
            choices.append(lambda: f"<think>{think}</think><answer>{json.dumps(as_str)}</answer>")
    else:
        choices += [
            lambda: f"<think>{think}</think><answer>{good} {_think(rng, 2, 6)}</answer>",  # extra words
            lambda: f"<think>{think}</think>\n\n{_think(rng, 200, 600)}",  # rambles, no answer block
        ]
    if rng.random() < 0.04:  # huge degenerate output: a repetition loop
        unit = rng.choice(["<answer>", "wait, ", "   \n", "</think> ", "/ / "])
        return "<think>" + unit * rng.randint(2000, 8000)
    return rng.choice(choices)()


def response(task: Task, truth: Any, rng: random.Random, kind: str, value: Any = None) -> str:
    """One rollout of ``kind``; ``value`` fixes the answer (else a fresh perturbation is drawn)."""
    if kind == "malformed":
        return _malformed(task, truth, rng)
    if value is None:
        value = perturb(task, truth, rng, kind)
    return f"<think>{_think(rng)}</think>\n<answer>{_answer_text(task, value)}</answer>"


#: Tasks with discrete answers. Sampling a policy n times on one prompt gives a few distinct answers
#: (its preferred way of writing the right answer, and the same mistakes again), not n different
#: ones; continuous answers (boxes, spans, sizes, captions) differ in every rollout.
DISCRETE = ("multiple choice", "numerical", "math", "OCR")


def _answer_modes(task: Task, truth: Any, rng: random.Random) -> dict[str, list[Any]]:
    return {
        "correct": [perturb(task, truth, rng, "correct") for _ in range(rng.choice((1, 1, 2)))],
        "near": [perturb(task, truth, rng, "near") for _ in range(2)],
        "wrong": [perturb(task, truth, rng, "wrong") for _ in range(2)],
    }


@dataclass
class SimulatedPrompt:
    problem_id: str
    task: Task
    truth: Any
    ground_truth: str  # "<answer>...</answer>" as in the data files
    problem: str


def rollouts(
    n_prompts: int,
    n: int = 8,
    seed: int = 0,
    tasks: list[str] | None = None,
    mix: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """``n_prompts * n`` reward items (response, ground_truth, problem_type, data_type, problem_id,
    problem, plus ``kind`` and ``task``), prompts cycling over ``tasks`` (default: all twelve)."""
    rng = random.Random(seed)
    keys = tasks or list(TASKS)
    mix = mix or DEFAULT_MIX
    kinds, weights = list(mix), list(mix.values())
    items = []
    for p in range(n_prompts):
        task = TASKS[keys[p % len(keys)]]
        truth = sample_truth(task, rng)
        gt = task.wrap(truth)
        data_type = task.data_types[0]
        problem = f"Question {p} about the {data_type}: what is shown?"
        modes = _answer_modes(task, truth, rng) if task.key in DISCRETE else None
        for _ in range(n):
            kind = rng.choices(kinds, weights)[0]
            value = rng.choice(modes[kind]) if modes is not None and kind in modes else None
            items.append(
                {
                    "response": response(task, truth, rng, kind, value),
                    "ground_truth": gt,
                    "problem_type": task.problem_type,
                    "data_type": data_type,
                    "problem_id": f"p{p}",
                    "problem": problem,
                    "kind": kind,
                    "task": task.key,
                }
            )
    return items
