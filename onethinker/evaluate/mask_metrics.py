"""Mask metrics: referring image segmentation (cIoU, gIoU) and referring video segmentation (DAVIS J
and boundary F), as spec/metrics.md defines them. Re-exported by ``onethinker.evaluate.metrics`` (whose
conventions apply here too)."""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Iterable, Sequence

import numpy as np

from .metric_inputs import _f, _nonempty

__all__ = ["boundary_f", "boundary_map", "boundary_radius", "j_and_f", "jaccard", "referring_segmentation", "vos"]


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
