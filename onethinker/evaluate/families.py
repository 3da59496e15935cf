"""Metric families: how one evaluation item is scored, and how a file's items aggregate into the
benchmark's official metrics (spec/metrics.md, computed by onethinker.evaluate.metrics).

A family is a record in ``FAMILIES`` (per-item ``score`` and corpus ``aggregate`` together, with the
metric variant it reports), registered by name with ``@register``. A task declares its family
(``Task.metric``); a benchmark can override it with another registered name (``EvalConfig.family``).

Each family turns (record, model output) into a JSON row with what its metrics need (prediction and
truth in comparable form, predicted masks as COCO RLE) and one per-item ``score`` in [0, 1] for
sorting galleries; ``aggregate`` computes the metrics from stored rows only, so a resumed run needs
no recomputation. An item whose answer does not parse has ``pred`` None and scores 0 in every metric
(it stays in the denominator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..tasks.response import truth_answer
from . import metrics as M

@dataclass
class ItemContext:
    """What scoring an item may need beyond the record and the output."""

    media_root: Path | None
    segmenter_factory: Callable[[], Any] | None = None  # built on first use
    video_fps: float = 2.0
    _segmenter: Any = field(default=None, repr=False)

    @property
    def segmenter(self) -> Any:
        if self._segmenter is None:
            if self.segmenter_factory is None:
                raise RuntimeError("segmentation items need a segmenter")
            self._segmenter = self.segmenter_factory()
        return self._segmenter


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def rle_encode(mask: np.ndarray) -> dict:
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def rle_decode(rle: dict) -> np.ndarray:
    from pycocotools import mask as mask_utils

    counts = rle["counts"]
    return mask_utils.decode({"size": list(rle["size"]), "counts": counts.encode() if isinstance(counts, str) else counts}).astype(bool)


def _to_px(values: Any, size: tuple[int, int]) -> list[float]:
    w, h = size
    return [float(v) * (w if i % 2 == 0 else h) / 1000.0 for i, v in enumerate(values)]


def _nan_box() -> list[float]:
    return [math.nan] * 4


def jsonable_value(value: Any) -> Any:
    """A parsed answer value as JSON: tuples to lists, int keys to strings, prompts to dicts."""
    from ..tasks import SegmentationPrompt

    if isinstance(value, SegmentationPrompt):
        return {"box": list(value.box), "positive": [list(p) for p in value.positive],
                "negative": [list(p) for p in value.negative], "time": value.time}
    if isinstance(value, dict):
        return {str(k): jsonable_value(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [jsonable_value(v) for v in value]
    return value


def _segmentation_prompt(value: dict) -> Any:
    from ..tasks import SegmentationPrompt

    return SegmentationPrompt(tuple(value["box"]), tuple(map(tuple, value["positive"])),
                              tuple(map(tuple, value["negative"])), value.get("time"))


def _stvg_item(row: dict) -> M.STVGItem:
    """Sampled frames = the integer seconds of the video (the answers' granularity). Frames inside the
    true span that have no true box are left out (the truth cannot be scored there)."""
    truth, pred = row["truth"], row["pred"]
    duration = row.get("duration") or max([truth["time"][1], *[float(k) for k in truth["boxes"]]])
    gs, ge = truth["time"]
    frames, gt_boxes, pred_boxes = [], [], []
    pboxes = (pred or {}).get("boxes") or {}
    for t in range(0, int(math.floor(duration + 1e-9)) + 1):
        inside = gs <= t <= ge
        gbox = truth["boxes"].get(str(t))
        if inside and gbox is None:
            continue
        frames.append(float(t))
        gt_boxes.append(_to_px(gbox, row["size"]) if gbox is not None else _nan_box())
        pbox = pboxes.get(str(t))
        pred_boxes.append(_to_px(pbox, row["size"]) if pbox is not None else _nan_box())
    return M.STVGItem(frames=np.array(frames), gt_span=(gs, ge), gt_boxes=np.array(gt_boxes).reshape(-1, 4),
                      pred_span=tuple(pred["time"]) if pred is not None else None,
                      pred_boxes=np.array(pred_boxes).reshape(-1, 4))


def _got_sequence(row: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rows: [the given first box (excluded by the metric), then one per second of the truth]."""
    truth, pred = row["truth"], row["pred"] or {}
    keys = sorted(truth, key=int)
    gt = [[0.0, 0.0, 1.0, 1.0]] + [_to_px(truth[k], row["size"]) for k in keys]
    pr = [[0.0, 0.0, 1.0, 1.0]] + [_to_px(pred[k], row["size"]) if k in pred else _nan_box() for k in keys]
    return np.array(pr, dtype=float), np.array(gt, dtype=float)


def _truth_masks(record: dict) -> tuple[list[str], dict]:
    out = record.get("segmentation_output") or {}
    rles = out.get("segmentation_rle")
    if isinstance(rles, dict) and "counts" in rles:
        return ["0"], {"0": rles}
    frames = [str(f) for f in out.get("frames") or sorted(rles or {}, key=lambda k: int(k))]
    return frames, rles or {}


def _segment_image(record: dict, pred: Any, ctx: ItemContext, row: dict) -> None:
    from ..data.media import load_image, resolve_media

    _, rles = _truth_masks(record)
    truth_rle = rles["0"]
    row["truth_masks"] = {"0": truth_rle}
    if pred is None:
        row["pred_masks"] = None
        row["score"] = 0.0
        return
    path = resolve_media(record["path"], ctx.media_root)
    image = np.asarray(load_image(path))
    h, w = truth_rle["size"]
    if image.shape[:2] != (h, w):
        import cv2

        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = ctx.segmenter.segment_image(image, pred)
    row["pred_masks"] = {"0": rle_encode(mask)}
    g = rle_decode(truth_rle)
    row["score"] = M.referring_segmentation([mask], [g])["gIoU"]


def _segment_video(record: dict, pred: Any, ctx: ItemContext, row: dict) -> None:
    from ..data.media import probe_video, resolve_media, sample_video

    frames_keys, rles = _truth_masks(record)
    row["truth_masks"] = {k: rles[k] for k in frames_keys}
    if pred is None:
        row["pred_masks"] = None
        row["score"] = 0.0
        return
    path = resolve_media(record["path"], ctx.media_root)
    info = probe_video(path)
    h, w = rles[frames_keys[0]]["size"]
    clip = sample_video(path, fps=info.fps, max_frames=max(2, info.n_frames), min_frames=1)
    frames = clip.frames
    if frames.shape[1:3] != (h, w):
        import cv2

        frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames])
    masks = ctx.segmenter.segment_video(frames, clip.timestamps, pred)
    by_index = {int(i): m for i, m in zip(clip.frame_indices, masks)}
    pred_rles = {}
    for k in frames_keys:
        m = by_index.get(int(k))
        pred_rles[k] = rle_encode(m if m is not None else np.zeros((h, w), bool))
    row["pred_masks"] = pred_rles
    p = np.stack([rle_decode(pred_rles[k]) for k in frames_keys])
    g = np.stack([rle_decode(row["truth_masks"][k]) for k in frames_keys])
    row["score"] = M.j_and_f(p, g)["J&F"]


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One item to score, resolved once by the runner: its task, record, parsed prediction (None when
    the answer does not parse), parsed truth, and the truth's answer text (None: the record's solution
    is not text)."""

    task: Any
    record: dict
    pred: Any
    truth: Any
    ctx: ItemContext
    truth_text: str | None = None


class MetricFamily:
    """Per-item scoring and corpus aggregation of one family of benchmarks (spec/metrics.md)."""

    name: str = ""
    #: key of the metric variant in ``metrics.METRIC_VARIANTS`` (default: the family's name)
    variant_key: str | None = None
    #: scoring reads the item's medium (its size for pixel boxes, its pixels for the segmenter)
    reads_media: bool = False
    #: scoring turns the predicted prompt into masks with the segmenter
    uses_segmenter: bool = False

    def extra_fields(self, record: dict) -> dict:
        """Fields of the record the aggregate needs, copied into the row before scoring."""
        return {}

    def score(self, item: Item, row: dict) -> None:  # pragma: no cover - abstract
        """Fill ``row`` with what ``aggregate`` needs and the per-item ``score`` in [0, 1]."""
        raise NotImplementedError

    def aggregate(self, rows: list[dict]) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def variant(self) -> str:
        return M.METRIC_VARIANTS.get(self.variant_key or self.name, "")


#: name -> family record
FAMILIES: dict[str, MetricFamily] = {}


def register(name: str) -> Callable[[type[MetricFamily]], type[MetricFamily]]:
    """Class decorator: register one instance of the family under ``name``."""

    def deco(cls: type[MetricFamily]) -> type[MetricFamily]:
        if name in FAMILIES:
            raise ValueError(f"metric family {name!r} is registered twice")
        cls.name = name
        FAMILIES[name] = cls()
        return cls

    return deco


def get_family(name: str) -> MetricFamily:
    family = FAMILIES.get(name)
    if family is None:
        raise ValueError(f"unknown family {name!r}; expected one of {', '.join(FAMILIES)}")
    return family


def _preds(rows: list[dict]) -> list[Any]:
    return [r.get("pred") for r in rows]


def _truths(rows: list[dict]) -> list[Any]:
    return [r.get("truth") for r in rows]


def _spans(rows: list[dict]) -> list[Any]:
    return [p if p is not None else [math.nan] * 2 for p in _preds(rows)]


@register("multiple_choice")
class _MultipleChoice(MetricFamily):
    def score(self, item: Item, row: dict) -> None:
        pred, truth = item.pred, item.truth
        row["score"] = float(pred is not None and str(pred).strip().upper() == str(truth).strip().upper())

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return {"accuracy": M.multiple_choice([None if p is None else str(p) for p in _preds(rows)],
                                              [str(t) for t in _truths(rows)])}


@register("exact")
class _Exact(MetricFamily):
    """The reward's accuracy of the parsed answer (numerical, math): 0 or 1 per item."""

    variant_key = "accuracy"

    def score(self, item: Item, row: dict) -> None:
        from ..reward.core import answer_accuracy

        row["score"] = (answer_accuracy(item.task, row["answer"] or "", item.truth_text)
                        if item.pred is not None else 0.0)

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return {"accuracy": M.accuracy([r.get("score", 0.0) for r in rows])}


@register("regression")
class _Regression(MetricFamily):
    variant_key = "mra"

    def score(self, item: Item, row: dict) -> None:
        row["score"] = float(M.mra(item.pred, item.truth)) if item.pred is not None else 0.0

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return M.regression([math.nan if p is None else p for p in _preds(rows)], _truths(rows))


@register("ocr")
class _OCR(MetricFamily):
    variant_key = "wer"

    def score(self, item: Item, row: dict) -> None:
        row["score"] = max(0.0, 1.0 - M.wer([item.truth], [item.pred if item.pred is not None else ""]))

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return {"WER": M.wer([str(t) for t in _truths(rows)], [p if p is not None else "" for p in _preds(rows)])}


@register("captioning")
class _Captioning(MetricFamily):
    def score(self, item: Item, row: dict) -> None:
        row["score"] = M.captioning([item.truth], [item.pred])["ROUGE-L"]

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return M.captioning([str(t) for t in _truths(rows)], _preds(rows))


@register("temporal_grounding")
class _TemporalGrounding(MetricFamily):
    def score(self, item: Item, row: dict) -> None:
        row["score"] = M.temporal_grounding([item.pred if item.pred is not None else [math.nan] * 2], [item.truth])["mIoU"]

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return M.temporal_grounding(_spans(rows), _truths(rows))


@register("anet_rtl")
class _AnetRTL(_TemporalGrounding):
    def extra_fields(self, record: dict) -> dict:
        return {"video_id": record.get("video_id") or record.get("path")}

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return M.anet_rtl(_spans(rows), _truths(rows), [r.get("video_id") for r in rows])


@register("rec")
class _REC(MetricFamily):
    reads_media = True

    def score(self, item: Item, row: dict) -> None:
        size = row["size"]
        row["pred_px"] = _to_px(item.pred, size) if item.pred is not None else None
        row["truth_px"] = _to_px(item.truth, size)
        row["score"] = M.rec([row["pred_px"] or _nan_box()], [row["truth_px"]])["mIoU"]

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return M.rec([r.get("pred_px") or _nan_box() for r in rows], [r["truth_px"] for r in rows])


@register("stvg")
class _STVG(MetricFamily):
    reads_media = True

    def score(self, item: Item, row: dict) -> None:
        row["score"] = M.stvg([_stvg_item(row)])["m_vIoU"]

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return M.stvg([_stvg_item(r) for r in rows])


@register("got10k")
class _GOT10k(MetricFamily):
    reads_media = True

    def score(self, item: Item, row: dict) -> None:
        seq = _got_sequence(row)
        row["score"] = M.got10k([seq])["AO"] if len(seq[1]) > 1 else 0.0

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        return M.got10k([_got_sequence(r) for r in rows])


@register("referring_segmentation")
class _ReferringSegmentation(MetricFamily):
    reads_media = True
    uses_segmenter = True

    def score(self, item: Item, row: dict) -> None:
        _segment_image(item.record, item.pred, item.ctx, row)

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        gts = [rle_decode(r["truth_masks"]["0"]) for r in rows]
        prs = [rle_decode(r["pred_masks"]["0"]) if r.get("pred_masks") else None for r in rows]
        return M.referring_segmentation(prs, gts)


@register("vos")
class _VOS(MetricFamily):
    reads_media = True
    uses_segmenter = True

    def score(self, item: Item, row: dict) -> None:
        _segment_video(item.record, item.pred, item.ctx, row)

    def aggregate(self, rows: list[dict]) -> dict[str, float]:
        exprs = []
        for r in rows:
            keys = list(r["truth_masks"])
            g = np.stack([rle_decode(r["truth_masks"][k]) for k in keys])
            p = np.stack([rle_decode(r["pred_masks"][k]) for k in keys]) if r.get("pred_masks") else None
            exprs.append((p, g))
        return M.vos(exprs)


# ---------------------------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------------------------
def score_item(family: str, task: Any, record: dict, pred: Any, truth: Any, ctx: ItemContext, row: dict, *,
               truth_text: str | None = None) -> None:
    """Fill ``row`` (already holding pred / truth as parsed values or None) with what ``family``
    needs: converted predictions, masks, and the per-item ``score``. ``truth_text``: the ground truth's
    answer text (default: read from the record's solution)."""
    fam = get_family(family)
    if truth_text is None:
        solution = record.get("solution")
        truth_text = truth_answer(solution) if isinstance(solution, str) else None
    row["pred"] = jsonable_value(pred)
    row["truth"] = jsonable_value(truth)
    fam.score(Item(task, record, pred, truth, ctx, truth_text), row)


def aggregate(family: str, rows: list[dict]) -> dict[str, float]:
    """The family's official metrics over the rows (each row from ``score_item``)."""
    return get_family(family).aggregate(rows)


def variant(family: str) -> str:
    return get_family(family).variant
