"""Benchmark metrics, row by row as spec/metrics.md defines them (not the training reward).

Every function takes the predictions of a whole benchmark (already parsed by the task) and the
ground truth, and returns plain Python floats. Conventions for every row:

- an item whose output could not be parsed scores 0 and stays in the denominator: pass ``None``
  (or a NaN row) for it, never drop it;
- an IoU whose union is 0 is 0 (spans, boxes), except where a row says otherwise (masks);
- a box with x2 < x1 or y2 < y1 has area 0; boxes are continuous x1, y1, x2, y2 pixels
  (no +1, no clipping);
- ground truth must be finite and well formed: anything else is a ``ValueError`` naming the item;
- an empty benchmark (no items) is a ``ValueError``, not a silent 0 or NaN.

=============================================  ==============================================
spec row                                       function
=============================================  ==============================================
multiple choice                                ``multiple_choice(preds, truths)``
numerical / math QA (the reward's 0/1)         ``accuracy(correct)`` on the task's accuracy
regression (VSI-Bench style)                   ``mra(pred, target)``, ``regression(...)``
OCR                                            ``wer(refs, hyps)``
captioning / open-ended                        ``captioning(targets, preds)``
temporal grounding (Charades-STA, ANet)        ``temporal_grounding(pred, gt)``
ANet-RTL                                       ``anet_rtl(pred, gt, video_ids)``
referring expression grounding (RefCOCO)       ``rec(pred, gt)``
spatio-temporal grounding (HC-STVG)            ``stvg(items)`` with ``STVGItem``
single-object tracking (GOT-10k)               ``got10k(sequences)``
referring image segmentation                   ``referring_segmentation(preds, gts)``
referring video segmentation (MeViS, ...)      ``vos(expressions)``, ``j_and_f``,
                                               ``jaccard``, ``boundary_f``, ``boundary_map``
=============================================  ==============================================

``METRIC_VARIANTS`` describes, per metric, the variant implemented here, for the metrics file
(spec: "each metrics file records which variant was used").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..tasks.geometry import box_iou_np, span_iou_np

__all__ = [
    "METRIC_VARIANTS",
    "MRA_THRESHOLDS",
    "RENAMED_METRICS",
    "STVGItem",
    "accuracy",
    "anet_rtl",
    "boundary_f",
    "boundary_map",
    "boundary_radius",
    "captioning",
    "got10k",
    "j_and_f",
    "jaccard",
    "mra",
    "multiple_choice",
    "rec",
    "referring_segmentation",
    "regression",
    "stvg",
    "temporal_grounding",
    "upgrade_metric_names",
    "vos",
    "wer",
    "wer_words",
]

#: One line per metric: the variant this module computes (written into metrics files).
METRIC_VARIANTS: dict[str, str] = {
    "accuracy": "share of items scored 1; unparseable items score 0 and stay in the denominator",
    "multiple_choice": "predicted option == true option after strip() and upper(); unparseable = wrong",
    "mra": "float64; theta_k = 0.5 + 0.05*k (k = 0..9); hit when |p - t| / |t| <= 1 - theta_k; t == 0 scores 0",
    "wer": "pooled (S + D + I) / reference words over all sentences; jiwer's default words "
           "(runs of 2+ whitespace -> one space, strip, split on ' ')",
    "captioning": "rouge-score RougeScorer(use_stemmer=True).score(target, prediction); ROUGE-L F and "
                  "mean of ROUGE-1/2/L F (the reward's mean)",
    "temporal_grounding": "spans sorted to [min, max]; IoU 0 when union is 0; R1@m uses IoU >= m",
    "anet_rtl": "temporal IoU as temporal_grounding; mean IoU and share IoU >= 0.5 per video, then mean over videos",
    "rec": "continuous x1y1x2y2 box IoU, no +1, no clipping; success when IoU >= 0.5",
    "stvg": "frames = sampled frames; span membership s <= t <= e (closed, spans not reordered); "
            "tIoU = |S_i| / |S_u|; vIoU = sum_{S_i} box IoU / |S_u| (0 when S_u is empty); vIoU@R uses > R",
    "got10k": "continuous box IoU over all frames but the first, pooled over sequences; SR@t uses IoU > t",
    "referring_segmentation": "cIoU = sum I / sum U (1 when every union is 0); gIoU = mean IoU (empty/empty = 1)",
    "vos": "DAVIS J (empty/empty = 1) and boundary F (seg2bmap, disk r = ceil(0.008 * diagonal)); "
           "mean over frames per expression, then over expressions; J&F = (J + F) / 2",
}


# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------
def _nonempty(n: int, what: str) -> None:
    if n == 0:
        raise ValueError(f"{what}: no items to score")


def _pred_rows(values: Any, width: int, what: str) -> np.ndarray:
    """Predictions as an (N, width) float64 array; None or malformed rows become NaN rows (score 0)."""
    if values is None:
        raise ValueError(f"{what}: predictions missing (pass one row per item, None for an unparseable one)")
    if isinstance(values, np.ndarray) and values.dtype != object:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 1 and arr.size == 0:
            return arr.reshape(0, width)
        if arr.ndim != 2 or arr.shape[1] != width:
            raise ValueError(f"{what}: predictions must have shape (N, {width}), got {arr.shape}")
        return arr
    rows = []
    for row in values:
        if row is None:
            rows.append([math.nan] * width)
            continue
        try:
            r = np.asarray(row, dtype=np.float64)
        except (TypeError, ValueError):
            r = None
        rows.append(r if r is not None and r.shape == (width,) else [math.nan] * width)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)


def _truth_rows(values: Any, width: int, what: str) -> np.ndarray:
    """Ground truth as an (N, width) finite float64 array, else a ValueError naming the first bad row."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what}: ground truth must be rows of {width} numbers ({exc})") from None
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, width)
    if arr.ndim != 2 or arr.shape[1] != width:
        raise ValueError(f"{what}: ground truth must have shape (N, {width}), got {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: ground truth row {int(bad[0])} is not finite: {arr[bad[0]].tolist()}")
    return arr


def _same_length(pred: np.ndarray, gt: np.ndarray, what: str) -> None:
    if len(pred) != len(gt):
        raise ValueError(f"{what}: {len(pred)} predictions for {len(gt)} ground-truth items")


def _f(x: Any) -> float:
    return float(x)


# --------------------------------------------------------------------------------------------
# Accuracy rows: multiple choice, numerical / math (the reward's 0/1), regression (MRA)
# --------------------------------------------------------------------------------------------
def accuracy(correct: Iterable[Any]) -> float:
    """Share of correct items: the mean of per-item scores, None or NaN counting 0.

    Spec rows "numerical / math QA": pass the task's own 0/1 accuracy per item (the reward's
    accuracy, exact 0/1), so the comparison rules live in one place (``onethinker.tasks``).
    """
    values = []
    for c in correct:
        try:
            v = float(c) if c is not None else 0.0
        except (TypeError, ValueError):
            v = 0.0
        values.append(v if math.isfinite(v) else 0.0)
    _nonempty(len(values), "accuracy")
    return _f(np.mean(values))


def multiple_choice(preds: Sequence[str | None], truths: Sequence[str]) -> float:
    """Spec row "image/video multiple choice": predicted option == true option.

    ``preds`` are the parsed option letters (``None`` when the answer could not be parsed);
    both sides are compared after ``strip()`` and ``upper()``.
    """
    if len(preds) != len(truths):
        raise ValueError(f"multiple_choice: {len(preds)} predictions for {len(truths)} items")
    _nonempty(len(truths), "multiple_choice")
    hits = [p is not None and str(p).strip().upper() == str(t).strip().upper() for p, t in zip(preds, truths)]
    return _f(np.mean(hits))


#: theta_k = 0.5 + 0.05 k, k = 0..9, computed in float64 exactly as written (spec/metrics.md).
#: (VSI-Bench's own code uses np.linspace(0.5, 0.95, 10), which differs in the last bit at k = 7, 8.)
MRA_THRESHOLDS: np.ndarray = 0.5 + 0.05 * np.arange(10, dtype=np.float64)
_MRA_TOLERANCES = 1.0 - MRA_THRESHOLDS


def mra(pred: Any, target: Any) -> Any:
    """Spec row "regression (VSI-Bench style)": Mean Relative Accuracy, in float64.

    MRA = share of the 10 thresholds theta_k with abs(p - t) / abs(t) <= 1 - theta_k.
    A target of 0 scores 0; a NaN / None / infinite prediction scores 0.
    Scalars give a float; arrays (or lists, None for unparseable) give the per-item float64 array,
    so the benchmark figure is ``mra(p, t).mean()`` (or ``regression(p, t)["MRA"]``).
    """
    scalar = np.ndim(pred) == 0 and np.ndim(target) == 0
    if isinstance(pred, np.ndarray) and pred.dtype == object:
        pred = pred.tolist()
    if isinstance(pred, (list, tuple)):
        pred = [math.nan if p is None else p for p in pred]
    elif pred is None:
        pred = math.nan
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if not np.isfinite(t).all():
        raise ValueError("mra: every target must be finite")
    p, t = np.broadcast_arrays(p, t)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rel = np.abs(p - t) / np.abs(t)
        hits = (rel[..., None] <= _MRA_TOLERANCES).sum(axis=-1)  # NaN compares False
    out = np.where(t == 0.0, 0.0, hits / 10.0)
    return float(out) if scalar else out


def regression(pred: Any, target: Any) -> dict[str, float]:
    """``{"MRA": mean of mra(pred, target)}`` over the items."""
    values = np.atleast_1d(mra(pred, target))
    _nonempty(values.size, "regression")
    return {"MRA": _f(values.mean())}


# --------------------------------------------------------------------------------------------
# OCR: pooled word error rate (jiwer semantics)
# --------------------------------------------------------------------------------------------
_MULTIPLE_SPACES = re.compile(r"\s\s+")


def wer_words(sentence: str) -> list[str]:
    """jiwer's default WER words: runs of 2+ whitespace -> one space, strip, split on " ", drop empties.

    (As in jiwer, a single tab or newline between two words does not split them.)
    """
    return [w for w in _MULTIPLE_SPACES.sub(" ", sentence).strip().split(" ") if w]


def wer(refs: str | Sequence[str], hyps: str | Sequence[str | None]) -> float:
    """Spec row "OCR": pooled WER = (S + D + I) over all sentences / total reference words.

    Equal to ``jiwer.wer(refs, hyps)`` with its default transforms (the tests check it on random
    text); S + D + I per sentence is the word-level Levenshtein distance (rapidfuzz, C++).
    A ``None`` hypothesis (unparseable) is the empty string: every reference word is a deletion.
    As in jiwer, when the references hold no words at all the result is the number of inserted
    words (0.0 when the hypotheses are empty too), not a rate.
    """
    from rapidfuzz.distance import Levenshtein

    if isinstance(refs, str):
        refs = [refs]
    if isinstance(hyps, str) or hyps is None:
        hyps = [hyps]
    if len(refs) != len(hyps):
        raise ValueError(f"wer: {len(refs)} references for {len(hyps)} hypotheses")
    errors = 0
    ref_words = 0
    for ref, hyp in zip(refs, hyps):
        if not isinstance(ref, str):
            raise ValueError(f"wer: reference must be a string, got {type(ref).__name__}")
        r = wer_words(ref)
        h = wer_words(hyp) if isinstance(hyp, str) else []
        errors += Levenshtein.distance(r, h)
        ref_words += len(r)
    if ref_words == 0:
        return float(errors)
    return errors / ref_words


# --------------------------------------------------------------------------------------------
# Captioning / open-ended: ROUGE
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def captioning(targets: Sequence[str], preds: Sequence[str | None]) -> dict[str, float]:
    """Spec row "captioning / open-ended": ``{"ROUGE-L", "ROUGE-mean"}``, means over items.

    rouge-score's ``RougeScorer(use_stemmer=True).score(target, prediction)`` (target first).
    ROUGE-L is the ROUGE-L F-measure; ROUGE-mean is the reward's figure, mean of the ROUGE-1,
    ROUGE-2 and ROUGE-L F-measures clipped to [0, 1]. ``None`` predictions score 0.
    """
    if len(targets) != len(preds):
        raise ValueError(f"captioning: {len(preds)} predictions for {len(targets)} targets")
    _nonempty(len(targets), "captioning")
    scorer = _rouge_scorer()
    rouge_l, rouge_mean = [], []
    for target, pred in zip(targets, preds):
        if pred is None:
            rouge_l.append(0.0)
            rouge_mean.append(0.0)
            continue
        s = scorer.score(target, pred)
        rouge_l.append(s["rougeL"].fmeasure)
        mean = (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3.0
        rouge_mean.append(min(1.0, max(0.0, mean)))
    return {"ROUGE-L": _f(np.mean(rouge_l)), "ROUGE-mean": _f(np.mean(rouge_mean))}


# --------------------------------------------------------------------------------------------
# Temporal grounding, ANet-RTL
# --------------------------------------------------------------------------------------------
def _tg_ious(pred: Any, gt: Any, what: str) -> np.ndarray:
    p = _pred_rows(pred, 2, what)
    g = _truth_rows(gt, 2, what)
    _same_length(p, g, what)
    _nonempty(len(g), what)
    return span_iou_np(p, g, sort=True)


def temporal_grounding(pred: Any, gt: Any) -> dict[str, float]:
    """Spec row "temporal grounding (Charades-STA, ActivityNet)".

    ``pred``, ``gt``: (N, 2) spans in seconds (a NaN or None row = unparseable, IoU 0). Both spans
    are sorted to [min, max] first; IoU 0 when the union is 0. R1@m = share of queries with IoU >= m.
    """
    iou = _tg_ious(pred, gt, "temporal_grounding")
    return {
        "R1@0.3": _f(np.mean(iou >= 0.3)),
        "R1@0.5": _f(np.mean(iou >= 0.5)),
        "R1@0.7": _f(np.mean(iou >= 0.7)),
        "mIoU": _f(iou.mean()),
    }


def anet_rtl(pred: Any, gt: Any, video_ids: Sequence[Any]) -> dict[str, float]:
    """Spec row "ANet-RTL": ``{"mIoU", "P@0.5"}`` averaged per video first, then over videos.

    IoU per query as in ``temporal_grounding`` (sorted spans, NaN = 0); P@0.5 counts IoU >= 0.5.
    ``video_ids``: one hashable id per query.
    """
    iou = _tg_ious(pred, gt, "anet_rtl")
    if len(video_ids) != len(iou):
        raise ValueError(f"anet_rtl: {len(video_ids)} video ids for {len(iou)} queries")
    index: dict[Any, int] = {}
    inverse = np.fromiter((index.setdefault(v, len(index)) for v in video_ids), dtype=np.int64, count=len(iou))
    n_videos = len(index)
    counts = np.bincount(inverse, minlength=n_videos)
    per_video_iou = np.bincount(inverse, weights=iou, minlength=n_videos) / counts
    per_video_p = np.bincount(inverse, weights=(iou >= 0.5).astype(np.float64), minlength=n_videos) / counts
    return {"mIoU": _f(per_video_iou.mean()), "P@0.5": _f(per_video_p.mean())}


# --------------------------------------------------------------------------------------------
# Referring expression grounding (boxes)
# --------------------------------------------------------------------------------------------
def rec(pred: Any, gt: Any) -> dict[str, float]:
    """Spec row "referring expression grounding (RefCOCO/+/g)": ``{"Acc@0.5", "mIoU"}``.

    ``pred``, ``gt``: (N, 4) x1, y1, x2, y2 pixel boxes, continuous (no +1, no clipping).
    Success when IoU >= 0.5. A NaN or None row (unparseable) scores 0.
    """
    p = _pred_rows(pred, 4, "rec")
    g = _truth_rows(gt, 4, "rec")
    _same_length(p, g, "rec")
    _nonempty(len(g), "rec")
    iou = box_iou_np(p, g)
    return {"Acc@0.5": _f(np.mean(iou >= 0.5)), "mIoU": _f(iou.mean())}


#: Metric names that earlier versions wrote, and their names now. Until the metrics spec was corrected,
#: the referring-expression metric was written as an e-mail obfuscator had mangled "Acc@0.5".
RENAMED_METRICS: dict[str, str] = {"[email" + " protected]": "Acc@0.5"}


def upgrade_metric_names(metrics_file: Any) -> Any:
    """A ``<bench>.metrics.json`` object with old metric names (:data:`RENAMED_METRICS`) renamed, in place
    (and returned), so that files written by earlier versions read as new ones. Anything that is not
    such an object is returned unchanged."""
    families = metrics_file.get("families") if isinstance(metrics_file, dict) else None
    if not isinstance(families, dict):
        return metrics_file
    for fm in families.values():
        values = fm.get("metrics") if isinstance(fm, dict) else None
        if isinstance(values, dict) and any(k in RENAMED_METRICS for k in values):
            fm["metrics"] = {RENAMED_METRICS.get(k, k): v for k, v in values.items()}
    return metrics_file


# --------------------------------------------------------------------------------------------
# Single-object tracking (GOT-10k)
# --------------------------------------------------------------------------------------------
def got10k(sequences: Sequence[tuple[Any, Any]]) -> dict[str, float]:
    """Spec row "single-object tracking (GOT-10k)": ``{"AO", "SR@0.5", "SR@0.75"}``.

    ``sequences``: one ``(pred, gt)`` per sequence, each (T, 4) x1, y1, x2, y2 pixel boxes. Row 0
    is the given first box and is excluded; a NaN (or None) prediction row is a frame the model gave
    no box for (IoU 0), and ``pred=None`` a sequence with no boxes at all. The caller drops frames
    where the target is absent. IoUs of all frames of all sequences are pooled (not averaged per
    sequence): AO = mean IoU, SR@t = share of frames with IoU > t (strictly).
    """
    _nonempty(len(sequences), "got10k")
    preds, gts = [], []
    for i, (pred, gt) in enumerate(sequences):
        what = f"got10k sequence {i}"
        g = _truth_rows(gt, 4, what)
        p = np.full(g.shape, np.nan) if pred is None else _pred_rows(pred, 4, what)
        _same_length(p, g, what)
        if len(g) == 0:
            raise ValueError(f"{what}: no frames (row 0 must be the given first box)")
        preds.append(p[1:])
        gts.append(g[1:])
    iou = box_iou_np(np.concatenate(preds), np.concatenate(gts))
    if iou.size == 0:
        raise ValueError("got10k: no frames to score after the first frame of each sequence")
    return {"AO": _f(iou.mean()), "SR@0.5": _f(np.mean(iou > 0.5)), "SR@0.75": _f(np.mean(iou > 0.75))}


# --------------------------------------------------------------------------------------------
# Spatio-temporal grounding (HC-STVG style)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class STVGItem:
    """One video of a spatio-temporal grounding benchmark, on the frames the model was shown.

    frames:     (F,) the sampled frames, as times in seconds or as frame indices; any unit, as long
                as the spans use the same one.
    gt_span:    (start, end) of the true tube; a frame belongs to it when start <= frame <= end.
    gt_boxes:   (F, 4) true x1, y1, x2, y2 pixel box per sampled frame; the rows of frames inside
                ``gt_span`` must be finite, the others are ignored (NaN is fine there).
    pred_span:  (start, end) predicted, or None when the answer could not be parsed (scores 0).
                Not reordered: an inverted span (end < start) contains no frame.
    pred_boxes: (F, 4) predicted box per sampled frame, a NaN (or None) row where the model gave
                none (IoU 0 in that frame); None when no boxes at all.

    A plain mapping with these keys is accepted wherever an ``STVGItem`` is.
    """

    frames: Any
    gt_span: Any
    gt_boxes: Any
    pred_span: Any = None
    pred_boxes: Any = None


def _stvg_item(item: STVGItem | Mapping[str, Any], i: int) -> tuple[np.ndarray, ...]:
    """(frames, gt_span, pred_span, gt_boxes, pred_boxes) of one video, validated."""
    what = f"stvg item {i}"
    if isinstance(item, Mapping):
        try:
            item = STVGItem(**item)
        except TypeError as exc:
            raise ValueError(f"{what}: {exc}") from None
    frames = np.asarray(item.frames, dtype=np.float64)
    if frames.ndim != 1 or not np.isfinite(frames).all():
        raise ValueError(f"{what}: frames must be a 1-D array of finite numbers, got shape {frames.shape}")
    n = len(frames)
    gt_span = _truth_rows([item.gt_span], 2, what + " gt_span")[0]
    if gt_span[1] < gt_span[0]:
        raise ValueError(f"{what}: gt_span {gt_span.tolist()} ends before it starts")
    pred_span = _pred_rows([item.pred_span], 2, what)[0]
    gt_boxes = np.asarray(item.gt_boxes, dtype=np.float64)
    if gt_boxes.shape != (n, 4):
        raise ValueError(f"{what}: gt_boxes must have shape ({n}, 4) (one per sampled frame), got {gt_boxes.shape}")
    in_gt = (frames >= gt_span[0]) & (frames <= gt_span[1])
    bad = np.flatnonzero(in_gt & ~np.isfinite(gt_boxes).all(axis=1))
    if bad.size:
        raise ValueError(f"{what}: gt box of frame {frames[bad[0]]} (inside gt_span) is not finite")
    if item.pred_boxes is None:
        pred_boxes = np.full((n, 4), np.nan)
    else:
        pred_boxes = _pred_rows(item.pred_boxes, 4, what + " pred_boxes")
        if len(pred_boxes) != n:
            raise ValueError(f"{what}: pred_boxes must have one row per sampled frame ({n}), got {len(pred_boxes)}")
    return frames, gt_span, pred_span, gt_boxes, pred_boxes


def stvg(items: Sequence[STVGItem | Mapping[str, Any]]) -> dict[str, float]:
    """Spec row "spatio-temporal grounding (HC-STVG style)": ``{"m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5"}``.

    Per video (see ``STVGItem``), on its sampled frames: S_p, S_g = the frames inside the predicted
    and the true span; S_i = S_p & S_g, S_u = S_p | S_g;
    tIoU = |S_i| / |S_u|; vIoU = (1 / |S_u|) * sum over t in S_i of IoU(pred_box_t, gt_box_t);
    both 0 when S_u is empty. m_tIoU, m_vIoU = means over videos; vIoU@R = share of videos with
    vIoU > R (strictly). A missing span or box counts 0.
    """
    _nonempty(len(items), "stvg")
    parts = [_stvg_item(item, i) for i, item in enumerate(items)]
    n_items = len(parts)
    sizes = np.array([len(p[0]) for p in parts], dtype=np.int64)
    vid = np.repeat(np.arange(n_items), sizes)
    frames = np.concatenate([p[0] for p in parts])
    gt_span = np.stack([p[1] for p in parts])[vid]
    pred_span = np.stack([p[2] for p in parts])[vid]
    gt_boxes = np.concatenate([p[3] for p in parts]).reshape(-1, 4)
    pred_boxes = np.concatenate([p[4] for p in parts]).reshape(-1, 4)
    in_gt = (frames >= gt_span[:, 0]) & (frames <= gt_span[:, 1])
    in_pred = (frames >= pred_span[:, 0]) & (frames <= pred_span[:, 1])  # NaN span: False
    inter = in_gt & in_pred
    union = in_gt | in_pred
    iou = np.where(inter, box_iou_np(pred_boxes, gt_boxes), 0.0)
    n_inter = np.bincount(vid, weights=inter.astype(np.float64), minlength=n_items)
    n_union = np.bincount(vid, weights=union.astype(np.float64), minlength=n_items)
    iou_sum = np.bincount(vid, weights=iou, minlength=n_items)
    safe = np.where(n_union > 0, n_union, 1.0)
    tiou = np.where(n_union > 0, n_inter / safe, 0.0)
    viou = np.where(n_union > 0, iou_sum / safe, 0.0)
    return {
        "m_tIoU": _f(tiou.mean()),
        "m_vIoU": _f(viou.mean()),
        "vIoU@0.3": _f(np.mean(viou > 0.3)),
        "vIoU@0.5": _f(np.mean(viou > 0.5)),
    }


# --------------------------------------------------------------------------------------------
# Masks: referring image segmentation, referring video segmentation (DAVIS J and F)
# --------------------------------------------------------------------------------------------
def _as_mask(mask: Any, what: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        m = m != 0
    if m.ndim < 2 or 0 in m.shape[-2:]:
        raise ValueError(f"{what}: expected a non-empty H x W mask, got shape {m.shape}")
    return np.ascontiguousarray(m)


def jaccard(pred: Any, gt: Any) -> float:
    """Region similarity J of one frame: mask IoU, 1 when both masks are empty."""
    p, g = _as_mask(pred, "jaccard"), _as_mask(gt, "jaccard")
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"jaccard: masks must be two H x W arrays of one shape, got {p.shape} and {g.shape}")
    inter = np.count_nonzero(p & g)
    union = np.count_nonzero(p | g)
    return 1.0 if union == 0 else inter / union


def boundary_radius(height: int, width: int) -> int:
    """DAVIS dilation radius: ceil(0.008 * sqrt(H^2 + W^2))."""
    return int(math.ceil(0.008 * math.sqrt(height * height + width * width)))


@lru_cache(maxsize=64)
def _disk(radius: int) -> np.ndarray:
    """uint8 disk: the pixels with dx^2 + dy^2 <= r^2 (scikit-image's ``disk(r)``)."""
    d = np.arange(-radius, radius + 1)
    return (d[:, None] ** 2 + d[None, :] ** 2 <= radius * radius).astype(np.uint8)


def boundary_map(mask: Any) -> np.ndarray:
    """DAVIS ``seg2bmap`` of a (..., H, W) mask: the boolean boundary map.

    Pixel (y, x) is boundary when its value differs from its east, south or south-east neighbour;
    the last row compares only with the east neighbour, the last column only with the south one,
    and the bottom-right pixel is never boundary.
    """
    m = _as_mask(mask, "boundary_map")
    return _bmap(m)


def _bmap(m: np.ndarray) -> np.ndarray:
    b = np.zeros_like(m)
    np.not_equal(m[..., :, :-1], m[..., :, 1:], out=b[..., :, :-1])  # east (every row, incl. the last)
    b[..., :-1, :] |= m[..., :-1, :] != m[..., 1:, :]  # south (every column, incl. the last)
    b[..., :-1, :-1] |= m[..., :-1, :-1] != m[..., 1:, 1:]  # south-east
    return b


def _frame_scores(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame J and F of (T, H, W) bool C-contiguous masks.

    Each frame is cropped to the bounding box of both masks, grown by one row and column on every
    side (clipped to the image): every boundary pixel of either mask lies inside it, boundary maps
    computed on the crop equal those of the full frame (a crop edge that is not an image edge sees
    only background), and the dilated maps are only ever read at boundary pixels, so dilating the
    crop (pixels outside ignored) gives exactly the full-frame counts.
    """
    import cv2

    n_frames, height, width = gt.shape
    kernel = _disk(boundary_radius(height, width))
    j = np.empty(n_frames, dtype=np.float64)
    f = np.empty(n_frames, dtype=np.float64)
    pred8 = pred.view(np.uint8)
    gt8 = gt.view(np.uint8)
    for t in range(n_frames):
        xp, yp, wp, hp = cv2.boundingRect(pred8[t])
        xg, yg, wg, hg = cv2.boundingRect(gt8[t])
        if wp == 0 and wg == 0:  # both empty: J = 1, and no boundary in either: F = 1
            j[t] = f[t] = 1.0
            continue
        boxes = [b for b in ((xp, yp, wp, hp), (xg, yg, wg, hg)) if b[2] > 0]
        x0 = max(0, min(b[0] for b in boxes) - 1)
        y0 = max(0, min(b[1] for b in boxes) - 1)
        x1 = min(width, max(b[0] + b[2] for b in boxes) + 1)
        y1 = min(height, max(b[1] + b[3] for b in boxes) + 1)
        p = pred[t, y0:y1, x0:x1]
        g = gt[t, y0:y1, x0:x1]
        inter = np.count_nonzero(p & g)
        union = np.count_nonzero(p) + np.count_nonzero(g) - inter
        j[t] = inter / union  # union > 0: at least one mask is non-empty
        pb = _bmap(p)
        gb = _bmap(g)
        n_p = np.count_nonzero(pb)
        n_g = np.count_nonzero(gb)
        if n_p == 0 or n_g == 0:  # none in either: 1; in exactly one: 0 (DAVIS: P, R = 1, 0)
            f[t] = 1.0 if n_p == n_g else 0.0
            continue
        g_dil = cv2.dilate(gb.view(np.uint8), kernel).view(np.bool_)
        p_dil = cv2.dilate(pb.view(np.uint8), kernel).view(np.bool_)
        precision = np.count_nonzero(pb & g_dil) / n_p
        recall = np.count_nonzero(gb & p_dil) / n_g
        f[t] = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return j, f


def _frames_pair(pred: Any, gt: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    g = _as_mask(gt, what + " ground truth")
    if g.ndim == 2:
        g = g[None]
    if g.ndim != 3:
        raise ValueError(f"{what}: ground truth must be (T, H, W) masks, got shape {g.shape}")
    if isinstance(pred, (list, tuple)):
        if len(pred) != len(g):
            raise ValueError(f"{what}: {len(pred)} predicted frames for {len(g)} ground-truth frames")
        frames = [np.zeros(g.shape[1:], dtype=bool) if m is None else _as_mask(m, what) for m in pred]
        for t, m in enumerate(frames):
            if m.shape != g.shape[1:]:
                raise ValueError(f"{what}: predicted frame {t} has shape {m.shape}, the truth {g.shape[1:]}")
        pred = np.stack(frames)
    p = _as_mask(pred, what + " prediction")
    if p.ndim == 2:
        p = p[None]
    if p.shape != g.shape:
        raise ValueError(f"{what}: prediction shape {p.shape} differs from ground truth {g.shape}")
    return p, g


def boundary_f(pred: Any, gt: Any) -> float:
    """Boundary F-measure of one frame (H x W masks), as in the DAVIS toolkit (spec/metrics.md).

    Boundary maps as ``boundary_map``; each dilated by a disk of radius ceil(0.008 * sqrt(H^2 + W^2))
    (pixels outside the image ignored). precision = share of predicted boundary pixels inside the
    dilated true boundary, recall = share of true boundary pixels inside the dilated predicted one,
    F = 2PR / (P + R) (0 when P + R = 0). No boundary in either: 1; in exactly one: 0.
    """
    p, g = _frames_pair(pred, gt, "boundary_f")
    if len(g) != 1:
        raise ValueError(f"boundary_f: expected one H x W frame, got shape {g.shape}")
    return float(_frame_scores(p, g)[1][0])


def j_and_f(pred_masks: Any, gt_masks: Any) -> dict[str, float]:
    """J, F and J&F of one expression: per-frame J and F averaged over its frames; J&F = (J + F) / 2.

    ``gt_masks``: (T, H, W) bool. ``pred_masks``: (T, H, W) bool, or a list of T masks in which
    ``None`` is a frame without a predicted mask (scored as an empty mask), or ``None`` for an
    expression whose answer could not be parsed (J = F = 0).
    """
    if pred_masks is None:
        _frames_pair(np.zeros_like(np.asarray(gt_masks)), gt_masks, "j_and_f")  # validates the truth
        return {"J": 0.0, "F": 0.0, "J&F": 0.0}
    p, g = _frames_pair(pred_masks, gt_masks, "j_and_f")
    j, f = _frame_scores(p, g)
    jm, fm = _f(j.mean()), _f(f.mean())
    return {"J": jm, "F": fm, "J&F": (jm + fm) / 2}


def vos(expressions: Iterable[tuple[Any, Any]]) -> dict[str, float]:
    """Spec row "referring video segmentation (MeViS, ReasonVOS)": ``{"J", "F", "J&F"}``.

    ``expressions``: one ``(pred_masks, gt_masks)`` per expression, as ``j_and_f`` takes them.
    J and F are averaged over the frames of each expression, then over expressions; J&F = (J + F) / 2.
    """
    js, fs = [], []
    for i, (pred, gt) in enumerate(expressions):
        try:
            r = j_and_f(pred, gt)
        except ValueError as exc:
            raise ValueError(f"vos expression {i}: {exc}") from None
        js.append(r["J"])
        fs.append(r["F"])
    _nonempty(len(js), "vos")
    jm, fm = _f(np.mean(js)), _f(np.mean(fs))
    return {"J": jm, "F": fm, "J&F": (jm + fm) / 2}


def referring_segmentation(preds: Sequence[Any], gts: Sequence[Any]) -> dict[str, float]:
    """Spec row "referring image segmentation (RefCOCO/+/g)": ``{"cIoU", "gIoU"}``.

    ``preds``, ``gts``: lists of H x W bool masks (sizes may differ between items). cIoU = sum of
    intersections / sum of unions over the dataset, 1 when every union is 0; gIoU = mean of the
    per-item IoU, an item with empty truth and empty prediction counting 1. A ``None`` prediction
    (unparseable answer) scores IoU 0 and adds its truth's area to the cIoU union.
    """
    if len(preds) != len(gts):
        raise ValueError(f"referring_segmentation: {len(preds)} predictions for {len(gts)} items")
    _nonempty(len(gts), "referring_segmentation")
    total_inter = total_union = 0
    ious = np.empty(len(gts), dtype=np.float64)
    for i, (pred, gt) in enumerate(zip(preds, gts)):
        g = _as_mask(gt, f"referring_segmentation item {i} ground truth")
        if g.ndim != 2:
            raise ValueError(f"referring_segmentation item {i}: expected an H x W mask, got {g.shape}")
        if pred is None:
            total_union += np.count_nonzero(g)
            ious[i] = 0.0
            continue
        p = _as_mask(pred, f"referring_segmentation item {i} prediction")
        if p.shape != g.shape:
            raise ValueError(f"referring_segmentation item {i}: prediction shape {p.shape} differs from {g.shape}")
        inter = np.count_nonzero(p & g)
        union = np.count_nonzero(p | g)
        total_inter += inter
        total_union += union
        ious[i] = 1.0 if union == 0 else inter / union
    ciou = 1.0 if total_union == 0 else total_inter / total_union
    return {"cIoU": float(ciou), "gIoU": _f(ious.mean())}
