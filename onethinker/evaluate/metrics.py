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

The mask rows live in ``onethinker.evaluate.mask_metrics`` and the input checks in
``onethinker.evaluate.metric_inputs``; every name is importable from here.

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
from .metric_inputs import _f, _nonempty, _pred_rows, _same_length, _truth_rows
# the mask metrics live in mask_metrics.py; this module stays the one entry (private names for the tests)
from .mask_metrics import (_as_mask, _bmap, _disk, _frame_scores, _frames_pair, boundary_f, boundary_map,  # noqa: F401
                           boundary_radius, j_and_f, jaccard, referring_segmentation, vos)

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
