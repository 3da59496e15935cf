"""``onethinker model pretrain``: a perception stage for the tiny model, the stand-in for the vision-language
pretraining that a real Qwen3-VL checkpoint brings.

The paper's SFT starts from Qwen3-VL-Instruct, which already sees. The tiny model starts from random
weights, and SFT on the reasoning corpus alone teaches it the answer forms and the text-side priors but
not to read its images (measured: one constant answer per task; docs/experiments.md). This stage gives it
perception first, on scenes drawn fresh from the synthetic world (a seeded stream, separate from every
corpus split), with two losses:

- **dense descriptions** (language-model loss on the assistant tokens): every object in reading order
  with its colour, shape, place and box in Qwen's 0-1000 frame, the count, the background and the sign's
  words: what a captioning and grounding pretraining teaches;
- **short questions** (share ``qa_share`` of the items, same loss): the synthetic world's image questions
  (multiple choice, counting, distances, arithmetic over the objects, reading the sign, finding an object)
  answered with the bare answer, no reasoning: the visual question answering and grounding a real
  instruction-tuned model already does, and the copying from the question that a decoder trained from
  scratch has to learn first ("What colour is the diamond?" needs the word "diamond" found in the prompt);
- **dense patch labels** (auxiliary, weight ``aux_weight``): two linear heads on the vision tokens that
  enter the language model (after the merger) predict, for every merged patch, the colour and the shape of
  the object covering it (or background). They are a strong, direct signal for a vision tower trained from
  scratch, like the classification or contrastive pretraining of a real vision tower; the heads are
  dropped when the model is saved, which stays an ordinary Qwen3-VL checkpoint. With ``box_weight`` > 0 a third
  head regresses, from each object patch, its object's box (fractions of the image; L1): a box answer needs
  the place of an object in the vision tokens' values, which rotary positions alone do not put there; with
  ``digit_weight`` > 0 a fourth predicts the 12 digits of that box as an answer writes it (0-1000 frame).

The result is a checkpoint folder (``OUT/final``) that SFT starts from, as the paper's SFT starts from
Qwen3-VL-Instruct. Checkpoints every ``save_every`` steps (weights, heads, optimiser, step) let a killed
run resume where it stopped; ``OUT/log.jsonl`` holds the losses and the held-out perception figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoints import trim_log
from ..schedules import warmup_cosine

__all__ = ["PretrainConfig", "PretrainError", "QA_TASKS", "describe", "item", "patch_labels", "pretrain", "question",
           "scene_stream"]

#: Stream key of the pretraining scenes (the corpus uses [seed, 1, index]; this one never collides).
_STREAM = 7
PROMPT = "Describe the image: every object with its colour, shape, place and box, the background and any text."
#: Task keys whose image questions (onethinker.synthetic.corpus) the stage asks, answered without reasoning.
QA_TASKS = ("multiple choice", "numerical", "regression", "math", "OCR", "spatial grounding")
QA_FORMATS = ("short", "onethinker")
CKPT = "checkpoint"


class PretrainError(RuntimeError):
    """A pretraining run that cannot start or go on; the message says why."""


@dataclass
class PretrainConfig:
    """Settings of the perception stage (``onethinker model pretrain`` flags map onto these)."""

    model: str = ""  # a tiny checkpoint folder (onethinker model tiny --out ...)
    out: str = ""
    steps: int = 1000
    batch_size: int = 8
    lr: float = 5e-4
    warmup: int = 50
    weight_decay: float = 0.0
    adam_beta2: float = 0.95
    grad_clip: float = 1.0
    aux_weight: float = 1.0  # weight of the dense patch-label loss (0: descriptions only)
    box_weight: float = 0.0  # weight of the patch-box loss (a third head: each object patch's object box; 0: off)
    #: weight of the patch-digit loss (a fourth head: the 12 digits of the object's box as an answer writes it,
    #: [x1, y1, x2, y2] in the 0-1000 frame, 3 digits each; 0: off)
    digit_weight: float = 0.0
    lm_weight: float = 1.0  # weight of the description loss (0: patch labels only)
    min_objects: int = 1
    max_objects: int = 4
    shapes: tuple[str, ...] = ()  # shapes objects are drawn from (empty: all six), as the corpus' --shapes
    text_share: float = 0.3  # share of scenes with a sign
    qa_share: float = 0.5  # share of items that are short questions instead of the description
    qa_tasks: tuple[str, ...] = QA_TASKS  # the kinds of short question, drawn evenly (a kind listed k times: k times as often)
    #: how the questions are asked and answered in training: "short" (the question, "Answer briefly.", the bare
    #: answer) or "onethinker" (the task's OneThinker prompt and "<think>reasoning</think><answer>...</answer>", as
    #: the corpus' SFT conversations); the held-out checks ask in the same form (a "onethinker" reply is scored
    #: by its answer block, as the tasks' rewards read it)
    qa_format: str = "short"
    #: "keep": the model's vision position table as it is; "sincos": replaced, before the first step, by a 2-D
    #: sine-cosine table as strong as the patch embeddings (see :func:`sincos_position_table`)
    pos_embed: str = "keep"
    seed: int = 0
    threads: int = 0
    eval_every: int = 100
    eval_scenes: int = 32
    eval_questions: int = 96  # held-out short questions answered greedily at each check
    eval_boxes: int = 32  # held-out "Find the ..." questions whose boxes are scored by IoU at each check
    workers: int = 1  # processes preparing batches ahead of training (0: in the training process)
    save_dtype: str = "float32"  # dtype of the final model's weights (bfloat16 halves a shipped file)
    save_every: int = 200
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.save_dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"save_dtype must be float32, bfloat16 or float16, got {self.save_dtype!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.aux_weight < 0 or self.lm_weight < 0 or self.aux_weight + self.lm_weight == 0:
            raise ValueError("aux_weight and lm_weight must be >= 0 and not both 0")
        if self.box_weight < 0 or (self.box_weight > 0 and self.aux_weight == 0):
            raise ValueError("box_weight must be >= 0, and needs aux_weight > 0 (the patch heads)")
        if self.digit_weight < 0 or (self.digit_weight > 0 and self.aux_weight == 0):
            raise ValueError("digit_weight must be >= 0, and needs aux_weight > 0 (the patch heads)")
        if not 1 <= self.min_objects <= self.max_objects <= 8:
            raise ValueError("need 1 <= min_objects <= max_objects <= 8")
        if not 0 <= self.qa_share <= 1:
            raise ValueError(f"qa_share must be in [0, 1], got {self.qa_share}")
        self.qa_tasks = tuple(self.qa_tasks)
        unknown = [t for t in self.qa_tasks if t not in QA_TASKS]
        if unknown or not self.qa_tasks:
            raise ValueError(f"qa_tasks: {', '.join(unknown) or 'none given'}; choose from {', '.join(QA_TASKS)}")
        if self.qa_format not in QA_FORMATS:
            raise ValueError(f"qa_format must be one of {', '.join(QA_FORMATS)}, got {self.qa_format!r}")
        if self.pos_embed not in ("keep", "sincos"):
            raise ValueError(f"pos_embed must be keep or sincos, got {self.pos_embed!r}")
        if self.eval_boxes < 0 or self.eval_questions < 0:
            raise ValueError("eval_boxes and eval_questions must be >= 0")


# -------------------------------------------------------------------------------------------------
# Data: scenes, descriptions, patch labels
# -------------------------------------------------------------------------------------------------


def scene_stream(seed: int, index: int, *, min_objects: int = 1, max_objects: int = 4, text_share: float = 0.3,
                 shapes: tuple[str, ...] = ()):
    """Scene ``index`` of the pretraining stream of ``seed``: a still image of the synthetic world."""
    from ..synthetic.corpus import SynthConfig, build_scene

    rng = np.random.default_rng([seed, _STREAM, index])
    cfg = SynthConfig(n=1, min_objects=min_objects, max_objects=max_objects, workers=1, shapes=list(shapes))
    return build_scene(rng, cfg, video=False, with_text=bool(rng.random() < text_share))


def describe(scene) -> str:
    """The dense description of a still scene: count, then each object in reading order with its place
    and box (0-1000), then background and sign."""
    from ..synthetic.scenes import mask_box, to_thousand_box
    from ..synthetic.questions import _a, _reading_order, _where

    _, masks = scene.render(0)
    seen = [(o, m) for o, m in zip(scene.objects, masks) if m.any()]
    by_id = {id(o): m for o, m in seen}
    objs = _reading_order(scene, [o for o, _ in seen])
    parts = []
    for o in objs:
        box = to_thousand_box(mask_box(by_id[id(o)]), scene.width, scene.height)
        parts.append(f"{_a(o.name)} at the {_where(scene, o)}, box [{box[0]}, {box[1]}, {box[2]}, {box[3]}]")
    n = len(objs)
    out = f"The image shows {n} object{'s' if n != 1 else ''}: " + "; ".join(parts) + "."
    out += f" The background is {scene.texture if scene.texture != 'noise' else 'mottled'}."
    if scene.text is not None:
        out += f" A sign reads \"{scene.text.text}\"."
    return out


def question(scene, index: int, seed: int, tasks: tuple[str, ...] = QA_TASKS, *,
             form: str = "short") -> tuple[str, str] | None:
    """A question about the scene (one of ``tasks``) and its answer, or None when the drawn question cannot be asked
    of this scene. ``form`` "short": the question, "Answer briefly.", the bare answer (the task's answer form);
    "onethinker": the task's OneThinker prompt and the reasoning and answer as the corpus' SFT conversations write
    them (the same draw: the same question either way)."""
    from ..synthetic.questions import GENERATORS

    rng = np.random.default_rng([seed, _STREAM + 1, index])
    order = rng.permutation(len(tasks))
    for k in order:
        q = GENERATORS[tasks[int(k)]](scene, rng)
        if q is not None:
            answer = q.task.format_answer(q.value)
            if form == "onethinker":
                from ..synthetic.corpus import sft_reply

                return q.task.prompt(q.text, q.options or None), sft_reply(q.reasoning, answer)
            text = q.text + ("\nOptions:\n" + "\n".join(q.options) if q.options else "") + "\nAnswer briefly."
            return text, answer
    return None


def cfg_scene(cfg: "PretrainConfig", index: int):
    """Scene ``index`` of the stream under ``cfg``'s seed, object counts, sign share and shapes."""
    return scene_stream(cfg.seed, index, min_objects=cfg.min_objects, max_objects=cfg.max_objects,
                        text_share=cfg.text_share, shapes=cfg.shapes)


def item(cfg: "PretrainConfig", index: int):
    """Training item ``index``: (scene, prompt, target text)."""
    scene = cfg_scene(cfg, index)
    if np.random.default_rng([cfg.seed, _STREAM + 2, index]).random() < cfg.qa_share:
        qa = question(scene, index, cfg.seed, cfg.qa_tasks, form=cfg.qa_format)
        if qa is not None:
            return scene, qa[0], qa[1]
    return scene, PROMPT, describe(scene)


#: first scene index of :func:`write_sft_records` by default: apart from the training steps' scenes (0, 1, ...)
#: and the held-out checks' (10,000,000 on)
RECORDS_START = 20_000_000


def write_sft_records(cfg: "PretrainConfig", out: str | Path, n: int, *, start: int = RECORDS_START,
                      name: str = "perception.json") -> Path:
    """Items ``start`` .. ``start + n - 1`` of the perception stage under ``cfg`` (its shapes, question mix and share,
    seed) written as SFT records (``messages`` + ``images``, the corpus' format, image paths relative to the file):
    ``out/name`` and the pictures under ``out/media/perception/``. Added to an SFT run's ``data.files``, they replay
    the perception stage during SFT (docs/experiments.md S5, S6). Returns the file's path."""
    from PIL import Image

    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = Path(out)
    media = out / "media" / "perception"
    media.mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(start, start + n):
        scene, prompt, text = item(cfg, i)
        rel = f"media/perception/{i}.png"
        Image.fromarray(scene.render(0)[0]).save(out / rel)
        records.append({"messages": [{"role": "user", "content": "<image>" + prompt},
                                     {"role": "assistant", "content": text}], "images": [rel]})
    path = out / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)
    return path


def patch_owners(scene, grid_hw: tuple[int, int], min_cover: float = 0.2, *, masks: list | None = None) -> np.ndarray:
    """For every merged patch of a (h, w) grid over the scene, row-major: the index (in ``scene.objects``) of the
    object covering the largest share of the cell when that share is at least ``min_cover``, else -1
    (background). The patch heads' targets all follow it. ``masks``: the scene's object masks
    (``scene.render(0)``), when the caller has them."""
    import cv2

    h, w = grid_hw
    masks = scene.render(0)[1] if masks is None else masks
    if not masks:
        return np.full(h * w, -1, np.int64)
    cover = np.stack([cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA).ravel() for m in masks])
    return np.where(cover.max(0) >= min_cover, cover.argmax(0), -1).astype(np.int64)


def patch_labels(scene, grid_hw: tuple[int, int], min_cover: float = 0.2, *,
                 owners: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(colour, shape) class of every merged patch of a (h, w) grid over the scene, row-major: that of the object
    covering it (:func:`patch_owners`; pass ``owners`` to reuse them), 0 on background. Classes are 1 + the index
    in COLOURS / SHAPES."""
    from ..synthetic.scenes import COLOURS, SHAPES

    owners = patch_owners(scene, grid_hw, min_cover) if owners is None else owners
    colours, shapes = list(COLOURS), list(SHAPES)
    colour_of = np.array([0] + [1 + colours.index(o.colour) for o in scene.objects], np.int64)
    shape_of = np.array([0] + [1 + shapes.index(o.shape) for o in scene.objects], np.int64)
    return colour_of[owners + 1], shape_of[owners + 1]


def patch_boxes(scene, grid_hw: tuple[int, int], min_cover: float = 0.2, *, thousand: bool = False,
                owners: np.ndarray | None = None, masks: list | None = None) -> np.ndarray:
    """The box of the object covering each merged patch of a (h, w) grid (:func:`patch_owners`; pass ``owners``
    and ``masks`` to reuse them), as (x1, y1, x2, y2) fractions of the image's width and height, row-major
    (h * w, 4); NaN on background patches. ``thousand``: in the 0-1000 frame as answers write it
    (``to_thousand_box``)."""
    from ..synthetic.scenes import mask_box, to_thousand_box

    masks = scene.render(0)[1] if masks is None else masks
    owners = patch_owners(scene, grid_hw, min_cover, masks=masks) if owners is None else owners
    out = np.full((len(owners), 4), np.nan, np.float32)
    for k in np.unique(owners[owners >= 0]):
        box = mask_box(masks[k])
        if box is not None:
            x1, y1, x2, y2 = box
            out[owners == k] = (to_thousand_box(box, scene.width, scene.height) if thousand
                                else (x1 / scene.width, y1 / scene.height, x2 / scene.width, y2 / scene.height))
    return out


def box_digits(boxes: np.ndarray) -> np.ndarray:
    """(n, 12) digits of (n, 4) boxes in the 0-1000 frame, three per coordinate (1000 as 999); -100 (ignored by
    cross-entropy) on rows with NaN."""
    out = np.full((len(boxes), 12), -100, np.int64)
    ok = ~np.isnan(boxes).any(1)
    vals = np.clip(np.nan_to_num(boxes[ok]), 0, 999).astype(np.int64)
    out[ok] = np.stack([vals // 100, vals // 10 % 10, vals % 10], axis=2).reshape(-1, 12)
    return out


def sincos_position_table(model, *, strength: float = 0.5, samples: int = 256) -> float:
    """Replace the vision tower's learned position table (``visual.pos_embed``, a square grid of positions that the
    tower interpolates to each picture's patch grid) by a 2-D sine-cosine table: half the channels encode the row,
    half the column, at geometric frequencies, scaled so that a row's norm is ``strength`` times the mean norm of
    the patch embeddings of random pixels. The tiny model's learned table was 1/20 of its patch embeddings with
    almost no difference between places (docs/experiments.md E6-E7), so its vision tokens did not carry where they
    were and boxes could not be read from them. Returns the table's row norm."""
    import torch

    visual = model.model.visual
    table = visual.pos_embed.weight
    n, dim = table.shape
    side = int(round(n ** 0.5))
    if side * side != n or dim % 4:
        raise PretrainError(f"pos_embed: a {n} x {dim} table is not a square grid with channels divisible by 4")
    quarter = dim // 4
    freq = 1.0 / (100.0 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    coords = torch.arange(side, dtype=torch.float32)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")
    parts = [f(a.reshape(-1, 1) * freq[None] * torch.pi / 2) for a in (rows, cols) for f in (torch.sin, torch.cos)]
    sincos = torch.cat(parts, dim=1)  # (n, dim): row sin, row cos, column sin, column cos
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        w = visual.patch_embed.proj.weight
        pixels = torch.rand(samples, w[0].numel(), generator=gen) * 2 - 1
        content = visual.patch_embed(pixels.to(w.dtype)).float().norm(dim=1).mean()
        scaled = sincos * (strength * content / sincos.norm(dim=1).mean())
        table.copy_(scaled.to(table.dtype))
    return float(scaled.norm(dim=1).mean())


def _batch(cfg: PretrainConfig, indices: list[int], processor, *, descriptions_only: bool = False):
    """Model inputs for items ``indices`` (training conversations), their scenes and target texts."""
    from PIL import Image

    from .inputs import build_inputs

    if descriptions_only:
        scenes = [cfg_scene(cfg, i) for i in indices]
        items = [(s, PROMPT, describe(s)) for s in scenes]
    else:
        items = [item(cfg, i) for i in indices]
    convs = []
    for scene, prompt, text in items:
        user = {"role": "user", "content": [{"type": "image", "image": Image.fromarray(scene.render(0)[0])},
                                             {"type": "text", "text": prompt}]}
        convs.append([user, {"role": "assistant", "content": [{"type": "text", "text": text}]}])
    inputs = build_inputs(processor, convs, add_generation_prompt=False, padding_side="right",
                          return_assistant_mask=True)
    return inputs, [s for s, _, _ in items], [t for _, _, t in items]


# -------------------------------------------------------------------------------------------------
# Training
# -------------------------------------------------------------------------------------------------


class _Heads:
    """The patch-label heads (colour, shape; with ``boxes``, a third that regresses the covering object's box),
    and a hook that keeps the merged vision tokens of the last forward."""

    def __init__(self, model, boxes: bool = False, digits: bool = False) -> None:
        import torch

        from ..synthetic.scenes import COLOURS, SHAPES

        hidden = model.config.text_config.hidden_size
        self.colour = torch.nn.Linear(hidden, len(COLOURS) + 1)
        self.shape = torch.nn.Linear(hidden, len(SHAPES) + 1)
        self.box = torch.nn.Linear(hidden, 4) if boxes else None
        self.digits = torch.nn.Linear(hidden, 12 * 10) if digits else None
        self.tokens = None
        model.model.visual.register_forward_hook(self._keep)

    def _keep(self, module, args, output) -> None:
        self.tokens = getattr(output, "pooler_output", None)
        if self.tokens is None and isinstance(output, tuple):
            self.tokens = output[0]

    def parameters(self):
        heads = [self.colour, self.shape] + [h for h in (self.box, self.digits) if h is not None]
        return [p for h in heads for p in h.parameters()]

    def state_dict(self) -> dict:
        state = {"colour": self.colour.state_dict(), "shape": self.shape.state_dict()}
        for name in ("box", "digits"):
            if getattr(self, name) is not None:
                state[name] = getattr(self, name).state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.colour.load_state_dict(state["colour"])
        self.shape.load_state_dict(state["shape"])
        for name in ("box", "digits"):  # a checkpoint without the head: it starts fresh
            if getattr(self, name) is not None and state.get(name) is not None:
                getattr(self, name).load_state_dict(state[name])

    def labels(self, scenes, grid_thw, merge: int) -> dict[str, Any]:
        """Targets of every merged patch of the batch's images: "colour", "shape", and, with those heads, "box"
        (fractions, NaN on background) and "digits" (12 digits, -100 on background)."""
        import torch

        parts: dict[str, list[np.ndarray]] = {"colour": [], "shape": [], "box": [], "digits": []}
        for scene, (_, h, w) in zip(scenes, grid_thw.tolist()):
            grid = (h // merge, w // merge)
            _, masks = scene.render(0)  # once per scene: every target below reads these masks
            owners = patch_owners(scene, grid, masks=masks)
            c, s = patch_labels(scene, grid, owners=owners)
            parts["colour"].append(c)
            parts["shape"].append(s)
            if self.box is not None:
                parts["box"].append(patch_boxes(scene, grid, owners=owners, masks=masks))
            if self.digits is not None:
                parts["digits"].append(box_digits(patch_boxes(scene, grid, thousand=True, owners=owners, masks=masks)))
        return {k: torch.from_numpy(np.concatenate(v)) for k, v in parts.items() if v}

    def loss_and_stats(self, y: dict[str, Any], box_weight: float = 0.0, digit_weight: float = 0.0
                       ) -> tuple[Any, dict]:
        """Cross-entropy of the colour and shape heads, plus ``box_weight`` times the box head's L1 error (in
        image fractions) and ``digit_weight`` times the digit head's cross-entropy, on object patches."""
        import torch.nn.functional as F

        x = self.tokens
        colour_y, shape_y = y["colour"], y["shape"]
        lc, ls = self.colour(x), self.shape(x)
        loss = F.cross_entropy(lc, colour_y) + F.cross_entropy(ls, shape_y)
        obj = colour_y > 0
        stats = {}
        if obj.any():
            stats["patch_colour_acc"] = float((lc.argmax(-1)[obj] == colour_y[obj]).float().mean())
            stats["patch_shape_acc"] = float((ls.argmax(-1)[obj] == shape_y[obj]).float().mean())
        box_y = y.get("box")
        if self.box is not None and box_y is not None:
            has = ~box_y.isnan().any(-1)
            if has.any():
                err = F.l1_loss(self.box(x)[has], box_y[has])
                loss = loss + box_weight * err
                stats["patch_box_l1"] = float(err.detach())
        digit_y = y.get("digits")
        if self.digits is not None and digit_y is not None:
            has = digit_y[:, 0] >= 0
            if has.any():
                logits = self.digits(x)[has].view(-1, 12, 10)
                ce = F.cross_entropy(logits.reshape(-1, 10), digit_y[has].reshape(-1))
                loss = loss + digit_weight * ce
                stats["patch_digit_acc"] = float((logits.argmax(-1) == digit_y[has]).float().mean())
        return loss, stats


def _lm_loss(model, inputs):
    """Mean cross-entropy over the assistant tokens; per-item sums too (for the swapped-image check)."""
    import torch
    import torch.nn.functional as F

    feed = {k: v for k, v in inputs.items() if k != "assistant_masks"}
    out = model(**feed)
    logits = out.logits[:, :-1].float()
    target = inputs["input_ids"][:, 1:]
    mask = inputs["assistant_masks"][:, 1:].bool()
    ce = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    per_item = (ce * mask).sum(1) / mask.sum(1).clamp(min=1)
    return (ce * mask).sum() / mask.sum().clamp(min=1), per_item.detach()


def _swap_images(inputs):
    """The same batch with the images rolled by one item (every image the same size): text with the
    wrong picture. Returns None when the images differ in size."""
    grid = inputs.get("image_grid_thw")
    if grid is None or len(grid) < 2 or not bool((grid == grid[0]).all()):
        return None
    import torch

    per = int(grid[0].prod())
    pv = inputs["pixel_values"].view(len(grid), per, -1)
    swapped = dict(inputs)
    swapped["pixel_values"] = torch.roll(pv, 1, 0).reshape(inputs["pixel_values"].shape)
    return swapped


def evaluate_perception(model, processor, heads: _Heads | None, cfg: PretrainConfig) -> dict:
    """Held-out figures on scenes after the training stream: description loss with the right images and with
    images swapped between items (their gap says how much the model reads its images), and patch-label
    accuracy on object patches."""
    import torch

    base = 10_000_000  # far past any training index
    idx = list(range(base, base + cfg.eval_scenes))
    model.eval()
    out: dict[str, float] = {}
    right, wrong, acc = [], [], []
    merge = model.config.vision_config.spatial_merge_size
    with torch.no_grad():
        for k in range(0, len(idx), cfg.batch_size):
            inputs, scenes, _ = _batch(cfg, idx[k:k + cfg.batch_size], processor, descriptions_only=True)
            _, per = _lm_loss(model, inputs)
            right.append(per)
            if heads is not None:
                _, st = heads.loss_and_stats(heads.labels(scenes, inputs["image_grid_thw"], merge), cfg.box_weight,
                                             cfg.digit_weight)
                acc.append(st)
            sw = _swap_images(inputs)
            if sw is not None:
                _, per_w = _lm_loss(model, sw)
                wrong.append(per_w)
        if cfg.qa_share > 0:
            out.update(_qa_accuracy(model, processor, cfg, list(range(base + 1_000_000, base + 1_000_000 + cfg.eval_questions))))
        if cfg.eval_boxes > 0:
            out.update(box_check(model, processor, cfg, list(range(base + 2_000_000, base + 2_000_000 + cfg.eval_boxes))))
    model.train()
    out["eval_loss"] = float(torch.cat(right).mean())
    if wrong:
        out["eval_loss_swapped"] = float(torch.cat(wrong).mean())
        out["image_gap"] = out["eval_loss_swapped"] - out["eval_loss"]
    for key in ("patch_colour_acc", "patch_shape_acc", "patch_box_l1", "patch_digit_acc"):
        vals = [a[key] for a in acc if key in a]
        if vals:
            out["eval_" + key] = float(np.mean(vals))
    return out


def _qa_accuracy(model, processor, cfg: PretrainConfig, indices: list[int]) -> dict[str, float]:
    """Greedy short answers to held-out questions: exact-match accuracy over all, and for multiple choice
    and counting alone (against always giving the most common answer of each: ``*_majority``)."""
    from collections import Counter

    asked = []
    for i in indices:
        scene = cfg_scene(cfg, i)
        qa = question(scene, i, cfg.seed, form=cfg.qa_format)
        if qa is not None:
            asked.append((scene, qa[0], _answer_of(cfg, qa[1])))
    if not asked:
        return {}
    replies = [_answer_of(cfg, r) for r in _greedy_replies(model, processor, cfg, [(sc, q) for sc, q, _ in asked])]
    out = {"eval_qa_acc": float(np.mean([r == a for r, (_, _, a) in zip(replies, asked)]))}
    for name, test in (("mc", lambda q: "\nOptions:" in q), ("count", lambda q: q.startswith("How many"))):
        sel = [(r, a) for r, (_, q, a) in zip(replies, asked) if test(q)]
        if sel:
            top = Counter(a for _, a in sel).most_common(1)[0][1]
            out[f"eval_{name}_acc"] = float(np.mean([r == a for r, a in sel]))
            out[f"eval_{name}_majority"] = top / len(sel)
            out[f"eval_{name}_n"] = len(sel)
    return out


def _answer_of(cfg: PretrainConfig, reply: str) -> str:
    """What a check scores of a reply: the reply itself in the short form; in the OneThinker form the inside of
    its ``<answer>`` block ("" without one: a reply that never answers scores 0)."""
    if cfg.qa_format == "short":
        return reply
    from ..tasks.response import extract_answer

    return extract_answer(reply) or ""


def _greedy_replies(model, processor, cfg: PretrainConfig, asked: list[tuple[Any, str]]) -> list[str]:
    """Greedy replies to (scene, question) pairs, the scene's first frame as the image: up to 40 tokens in the
    short form, 192 in the OneThinker form (reasoning, then the answer block)."""
    from PIL import Image

    from .inputs import generate

    convs = [[{"role": "user", "content": [{"type": "image", "image": Image.fromarray(scene.render(0)[0])},
                                           {"type": "text", "text": text}]}] for scene, text in asked]
    replies = []
    for k in range(0, len(convs), cfg.batch_size):
        replies += [r[0].strip() for r in generate(model, processor, convs[k:k + cfg.batch_size],
                                                   max_new_tokens=40 if cfg.qa_format == "short" else 192)]
    return replies


def box_check(model, processor, cfg: PretrainConfig, indices: list[int]) -> dict[str, float]:
    """Boxes, which exact-match accuracy never credits: on the scenes ``indices``, one "Find the <object>"
    question each (the spatial-grounding question of the corpus, asked in ``cfg.qa_format``), answered greedily; the mean IoU
    of the replied box with the true one (a reply without a box scores 0), and of the constant box (the
    per-coordinate median of these true boxes: the best a model that does not look can roughly do)."""
    from ..synthetic.questions import q_spatial
    from ..tasks import TASKS
    from ..tasks.geometry import box_iou

    task = TASKS["spatial grounding"]
    asked = []
    for i in indices:
        scene = cfg_scene(cfg, i)
        q = q_spatial(scene, np.random.default_rng([cfg.seed, _STREAM + 3, i]))
        if q is not None:
            text = q.text + "\nAnswer briefly." if cfg.qa_format == "short" else task.prompt(q.text, None)
            asked.append((scene, text, [float(v) for v in q.value]))
    if not asked:
        return {}
    replies = [_answer_of(cfg, r) for r in _greedy_replies(model, processor, cfg, [(sc, text) for sc, text, _ in asked])]
    ious = []
    for reply, (_, _, truth) in zip(replies, asked):
        parsed = task.parse(reply)
        ious.append(box_iou(list(parsed.value), truth) if parsed.ok else 0.0)
    constant = [float(v) for v in np.median(np.array([t for _, _, t in asked]), axis=0)]
    return {"eval_box_iou": float(np.mean(ious)), "eval_box_majority_iou": float(np.mean([box_iou(constant, t) for _, _, t in asked])),
            "eval_box_n": len(asked)}


def pretrain(cfg: PretrainConfig, *, resume: bool = True, progress: Callable[[int, int, dict], None] | None = None) -> dict:
    """Run the perception stage; returns the summary also written to ``OUT/summary.json``."""
    import torch

    from .loading import load

    if not cfg.model or not cfg.out:
        raise PretrainError("pretrain needs a model folder and an output folder")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    ckpt = out / CKPT
    start = 0
    src = cfg.model
    if resume and (ckpt / "state.pt").is_file():
        src = str(ckpt)
    model, processor = load(src, dtype="float32")
    model.train()
    if cfg.pos_embed == "sincos" and src != str(ckpt):  # a resumed run has its table in the checkpoint
        sincos_position_table(model)
    heads = _Heads(model, boxes=cfg.box_weight > 0, digits=cfg.digit_weight > 0) if cfg.aux_weight > 0 else None
    params = [p for p in model.parameters() if p.requires_grad] + (heads.parameters() if heads else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, cfg.adam_beta2), weight_decay=cfg.weight_decay)

    def lr_at(step: int) -> float:
        return cfg.lr * warmup_cosine(step, cfg.warmup, cfg.steps, floor=0.1)

    if src == str(ckpt):
        state = torch.load(ckpt / "state.pt", weights_only=False)
        opt.load_state_dict(state["optimizer"])
        if heads is not None and state.get("heads"):
            heads.load_state_dict(state["heads"])
        start = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2), encoding="utf-8")
    log_path = out / "log.jsonl"
    trim_log(log_path, start)  # a fresh run starts a new log; a resumed one drops the steps it runs again
    merge = model.config.vision_config.spatial_merge_size
    t0 = time.perf_counter()
    window: list[dict] = []
    last_eval: dict = {}
    batches = _prefetch(cfg, processor, start)
    for step in range(start, cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        inputs, scenes = next(batches)
        if cfg.lm_weight > 0:
            lm, _ = _lm_loss(model, inputs)
            loss = cfg.lm_weight * lm
            rec = {"lm_loss": float(lm.detach())}
        else:  # patch labels only: the vision tower and projector, no language model
            model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
            loss, rec = 0.0, {}
        if heads is not None:
            aux, st = heads.loss_and_stats(heads.labels(scenes, inputs["image_grid_thw"], merge), cfg.box_weight,
                                           cfg.digit_weight)
            loss = loss + cfg.aux_weight * aux
            rec.update(aux_loss=float(aux.detach()), **st)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        rec["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        opt.step()
        window.append(rec)
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            row = {"step": done, "lr": lr_at(step), "seconds": round(time.perf_counter() - t0, 1)}
            for k in window[0]:
                vals = [w[k] for w in window if k in w]
                row[k] = round(float(np.mean(vals)), 4)
            window = []
            if done % cfg.eval_every == 0 or done == cfg.steps:
                last_eval = {k: round(v, 4) for k, v in evaluate_perception(model, processor, heads, cfg).items()}
                row.update(last_eval)
            with log_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            if progress:
                progress(done, cfg.steps, row)
        if done % cfg.save_every == 0 or done == cfg.steps:  # the last one too: a longer run continues from it
            _save_checkpoint(model, processor, opt, heads, done, ckpt)
    final = out / "final"
    if not last_eval:
        last_eval = {k: round(v, 4) for k, v in evaluate_perception(model, processor, heads, cfg).items()}
    if cfg.save_dtype != "float32":
        model = model.to(getattr(torch, cfg.save_dtype))
    model.save_pretrained(final, safe_serialization=True)
    processor.save_pretrained(final)
    summary = {"steps": cfg.steps, "resumed_from": start, "seconds": round(time.perf_counter() - t0, 1),
               "final": str(final), "eval": last_eval, "config": asdict(cfg)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


class _Steps:
    """Batch ``start + i`` of the stream as a map-style dataset, so a DataLoader worker renders the scenes
    and runs the processor while the main process trains."""

    def __init__(self, cfg: PretrainConfig, processor, start: int) -> None:
        self.cfg, self.processor, self.start = cfg, processor, start

    def __len__(self) -> int:
        return self.cfg.steps - self.start

    def __getitem__(self, i: int):
        step = self.start + i
        idx = list(range(step * self.cfg.batch_size, (step + 1) * self.cfg.batch_size))
        inputs, scenes, _ = _batch(self.cfg, idx, self.processor)
        return dict(inputs), scenes


def _prefetch(cfg: PretrainConfig, processor, start: int):
    """The training batches from ``start`` on, prepared one step ahead by a worker process (in order)."""
    import torch

    if cfg.workers < 1:
        ds = _Steps(cfg, processor, start)
        return (ds[i] for i in range(len(ds)))
    loader = torch.utils.data.DataLoader(_Steps(cfg, processor, start), batch_size=None, shuffle=False,
                                         num_workers=cfg.workers, prefetch_factor=2, collate_fn=lambda x: x)
    return iter(loader)


def _save_checkpoint(model, processor, opt, heads, step: int, ckpt: Path) -> None:
    import shutil

    import torch

    tmp = ckpt.with_name(ckpt.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp, safe_serialization=True)
    processor.save_pretrained(tmp)
    torch.save({"optimizer": opt.state_dict(), "heads": heads.state_dict() if heads else None, "step": step,
                "torch_rng": torch.get_rng_state()}, tmp / "state.pt")
    if ckpt.exists():
        shutil.rmtree(ckpt)
    tmp.rename(ckpt)
