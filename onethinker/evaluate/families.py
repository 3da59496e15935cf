"""Benchmark families: how one evaluation item is scored, and how a file's items aggregate into the
benchmark's official metrics (spec/metrics.md, computed by onethinker.evaluate.metrics).

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

from . import metrics as M

# problem_type (+ data_type for segmentation) -> default family
DEFAULT_FAMILY = {
    "multiple choice": "multiple_choice",
    "numerical": "exact",
    "math": "exact",
    "regression": "regression",
    "OCR": "ocr",
    "open-ended": "captioning",
    "temporal grounding": "temporal_grounding",
    "spatial grounding": "rec",
    "spatial-temporal grounding": "stvg",
    "tracking": "got10k",
    "segmentation/image": "referring_segmentation",
    "segmentation/video": "vos",
}
FAMILIES = ("multiple_choice", "exact", "regression", "ocr", "captioning", "temporal_grounding", "anet_rtl",
            "rec", "stvg", "got10k", "referring_segmentation", "vos")


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
def _rle_encode(mask: np.ndarray) -> dict:
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


def _jsonable_value(value: Any) -> Any:
    """A parsed answer value as JSON: tuples to lists, int keys to strings, prompts to dicts."""
    from ..tasks import SegmentationPrompt

    if isinstance(value, SegmentationPrompt):
        return {"box": list(value.box), "positive": [list(p) for p in value.positive],
                "negative": [list(p) for p in value.negative], "time": value.time}
    if isinstance(value, dict):
        return {str(k): _jsonable_value(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_jsonable_value(v) for v in value]
    return value


def _segmentation_prompt(value: dict) -> Any:
    from ..tasks import SegmentationPrompt

    return SegmentationPrompt(tuple(value["box"]), tuple(map(tuple, value["positive"])),
                              tuple(map(tuple, value["negative"])), value.get("time"))


# ---------------------------------------------------------------------------------------------
# per-item scoring
# ---------------------------------------------------------------------------------------------
def score_item(family: str, task: Any, record: dict, pred: Any, truth: Any, ctx: ItemContext, row: dict) -> None:
    """Fill ``row`` (already holding pred / truth as parsed values or None) with what ``family``
    needs: converted predictions, masks, and the per-item ``score``."""
    row["pred"] = _jsonable_value(pred)
    row["truth"] = _jsonable_value(truth)
    if family == "multiple_choice":
        row["score"] = float(pred is not None and str(pred).strip().upper() == str(truth).strip().upper())
    elif family == "exact":
        from ..reward import score as reward_score

        row["score"] = reward_score(f"<answer>{row['answer'] or ''}</answer>", record["solution"],
                                    record["problem_type"], record["data_type"]).accuracy if pred is not None else 0.0
    elif family == "regression":
        row["score"] = float(M.mra(pred, truth)) if pred is not None else 0.0
    elif family == "ocr":
        row["score"] = max(0.0, 1.0 - M.wer([truth], [pred if pred is not None else ""]))
    elif family == "captioning":
        row["score"] = M.captioning([truth], [pred])["ROUGE-L"]
    elif family in ("temporal_grounding", "anet_rtl"):
        row["score"] = M.temporal_grounding([pred if pred is not None else [math.nan] * 2], [truth])["mIoU"]
    elif family == "rec":
        size = row["size"]
        row["pred_px"] = _to_px(pred, size) if pred is not None else None
        row["truth_px"] = _to_px(truth, size)
        row["score"] = M.rec([row["pred_px"] or _nan_box()], [row["truth_px"]])["mIoU"]
    elif family == "stvg":
        item = _stvg_item(row)
        row["score"] = M.stvg([item])["m_vIoU"]
    elif family == "got10k":
        seq = _got_sequence(row)
        row["score"] = M.got10k([seq])["AO"] if len(seq[1]) > 1 else 0.0
    elif family == "referring_segmentation":
        _segment_image(record, pred, ctx, row)
    elif family == "vos":
        _segment_video(record, pred, ctx, row)
    else:
        raise ValueError(f"unknown family {family!r}")


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
    row["pred_masks"] = {"0": _rle_encode(mask)}
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
        pred_rles[k] = _rle_encode(m if m is not None else np.zeros((h, w), bool))
    row["pred_masks"] = pred_rles
    p = np.stack([rle_decode(pred_rles[k]) for k in frames_keys])
    g = np.stack([rle_decode(row["truth_masks"][k]) for k in frames_keys])
    row["score"] = M.j_and_f(p, g)["J&F"]


# ---------------------------------------------------------------------------------------------
# aggregation
# ---------------------------------------------------------------------------------------------
def aggregate(family: str, rows: list[dict]) -> dict[str, float]:
    """The family's official metrics over the rows (each row from ``score_item``)."""
    preds = [r.get("pred") for r in rows]
    truths = [r.get("truth") for r in rows]
    if family == "multiple_choice":
        return {"accuracy": M.multiple_choice([None if p is None else str(p) for p in preds], [str(t) for t in truths])}
    if family == "exact":
        return {"accuracy": M.accuracy([r.get("score", 0.0) for r in rows])}
    if family == "regression":
        return M.regression([math.nan if p is None else p for p in preds], truths)
    if family == "ocr":
        return {"WER": M.wer([str(t) for t in truths], [p if p is not None else "" for p in preds])}
    if family == "captioning":
        return M.captioning([str(t) for t in truths], preds)
    if family == "temporal_grounding":
        return M.temporal_grounding([p if p is not None else [math.nan] * 2 for p in preds], truths)
    if family == "anet_rtl":
        return M.anet_rtl([p if p is not None else [math.nan] * 2 for p in preds], truths, [r.get("video_id") for r in rows])
    if family == "rec":
        return M.rec([r.get("pred_px") or _nan_box() for r in rows], [r["truth_px"] for r in rows])
    if family == "stvg":
        return M.stvg([_stvg_item(r) for r in rows])
    if family == "got10k":
        return M.got10k([_got_sequence(r) for r in rows])
    if family == "referring_segmentation":
        gts = [rle_decode(r["truth_masks"]["0"]) for r in rows]
        prs = [rle_decode(r["pred_masks"]["0"]) if r.get("pred_masks") else None for r in rows]
        return M.referring_segmentation(prs, gts)
    if family == "vos":
        exprs = []
        for r in rows:
            keys = list(r["truth_masks"])
            g = np.stack([rle_decode(r["truth_masks"][k]) for k in keys])
            p = np.stack([rle_decode(r["pred_masks"][k]) for k in keys]) if r.get("pred_masks") else None
            exprs.append((p, g))
        return M.vos(exprs)
    raise ValueError(f"unknown family {family!r}")


def variant(family: str) -> str:
    key = {"exact": "accuracy", "ocr": "wer", "regression": "mra", "captioning": "captioning"}.get(family, family)
    return M.METRIC_VARIANTS.get(key, "")
