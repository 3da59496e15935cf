"""Evaluation metric speed: DAVIS J&F and GOT-10k against straightforward per-frame baselines.

    python benchmarks/eval_metrics.py [--frames 100] [--height 480] [--width 854]
                                      [--sequences 180] [--seq-len 100] [--repeats 5] [--seed 0]

- J&F: one expression of ``--frames`` frames of H x W masks (moving, deforming ellipses and
  polygons, with a prediction that is shifted, resized and jittered, and a few frames where the
  object is absent from one or both). ``onethinker.evaluate.metrics.j_and_f`` against a plain
  per-frame loop: full-frame DAVIS ``seg2bmap`` and scikit-image's ``binary_dilation`` with
  ``disk(r)``, as the DAVIS toolkit computes it.
- GOT-10k: ``--sequences`` sequences of ``--seq-len`` boxes (random walks; a prediction with noise,
  drift and ~3% missing frames). ``metrics.got10k`` against a Python loop over frames with the
  scalar ``geometry.box_iou``.

Both paths run in this process on the same data; the script prints the seconds of each (median of
``--repeats`` runs for the fast path, fewer for the slow baseline), the ratio, and checks that the
numbers agree to 1e-12 (exit status 1 if they do not).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings

import numpy as np

from onethinker.evaluate import metrics
from onethinker.tasks.geometry import box_iou


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------
def blob_masks(n_frames: int, height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(pred, gt): (T, H, W) bool masks of two moving ellipses and a moving polygon."""
    import cv2

    rng = np.random.default_rng(seed)
    gt = np.zeros((n_frames, height, width), dtype=np.uint8)
    pred = np.zeros_like(gt)
    c0 = rng.uniform([0.3 * width, 0.3 * height], [0.7 * width, 0.7 * height], size=(3, 2))
    vel = rng.uniform(-3, 3, size=(3, 2))
    axes0 = rng.uniform(0.05 * height, 0.18 * height, size=(3, 2))
    poly0 = rng.uniform(-0.12 * height, 0.12 * height, size=(7, 2))
    for t in range(n_frames):
        centers = c0 + vel * t
        wobble = 1 + 0.15 * np.sin(0.2 * t + np.arange(3))[:, None]
        axes = axes0 * wobble
        shift = rng.normal(0, 2.5, size=2)
        for k, out in ((0, gt[t]), (1, pred[t])):
            dc = shift if k else 0.0
            scale = 1.05 if k else 1.0
            for e in range(2):
                cx, cy = centers[e] + dc
                ax, ay = axes[e] * scale
                cv2.ellipse(out, (int(cx), int(cy)), (int(ax), int(ay)), angle=7 * t + 40 * e,
                            startAngle=0, endAngle=360, color=1, thickness=-1)
            pts = centers[2] + dc + poly0 * scale * (1 + 0.1 * np.cos(0.3 * t))
            if k:
                pts = pts + rng.normal(0, 3, size=pts.shape)
            cv2.fillPoly(out, [np.round(pts).astype(np.int32)], 1)
    # a few frames with the object absent: from the truth only, from the prediction only, from both
    for t, which in ((n_frames // 5, "gt"), (n_frames // 2, "pred"), (4 * n_frames // 5, "both")):
        if which in ("gt", "both"):
            gt[t] = 0
        if which in ("pred", "both"):
            pred[t] = 0
    return pred.astype(bool), gt.astype(bool)


def box_sequences(n_seq: int, seq_len: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_seq):
        centre = rng.uniform(100, 500, size=2) + np.cumsum(rng.normal(0, 4, size=(seq_len, 2)), axis=0)
        size = rng.uniform(30, 200, size=2) * np.exp(np.cumsum(rng.normal(0, 0.02, size=(seq_len, 2)), axis=0))
        gt = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
        drift = np.cumsum(rng.normal(0, 1.5, size=(seq_len, 4)), axis=0)
        pred = gt + rng.normal(0, 0.12, size=(seq_len, 4)) * np.repeat(size, 2, axis=1) + drift
        pred[0] = gt[0]
        pred[rng.random(seq_len) < 0.03] = np.nan
        out.append((pred, gt))
    return out


# --------------------------------------------------------------------------------------------
# Baselines: the straightforward way
# --------------------------------------------------------------------------------------------
def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """The DAVIS toolkit's boundary map, as written there."""
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = seg ^ e | seg ^ s | seg ^ se
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = 0
    return b


def skimage_dilate(b: np.ndarray, radius: int) -> np.ndarray:
    from skimage import morphology

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # binary_dilation is deprecated from scikit-image 0.26
        if hasattr(morphology, "binary_dilation"):
            return morphology.binary_dilation(b, morphology.disk(radius))
        return morphology.dilation(b, morphology.disk(radius)).astype(bool)


def baseline_f(fg: np.ndarray, gt: np.ndarray) -> float:
    radius = int(np.ceil(0.008 * np.linalg.norm(gt.shape)))
    fg_b, gt_b = seg2bmap(fg), seg2bmap(gt)
    fg_dil, gt_dil = skimage_dilate(fg_b, radius), skimage_dilate(gt_b, radius)
    n_fg, n_gt = np.sum(fg_b), np.sum(gt_b)
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = np.sum(fg_b & gt_dil) / n_fg
        recall = np.sum(gt_b & fg_dil) / n_gt
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def baseline_j(fg: np.ndarray, gt: np.ndarray) -> float:
    union = np.sum(fg | gt)
    return 1.0 if union == 0 else float(np.sum(fg & gt) / union)


def baseline_j_and_f(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    js = [baseline_j(p, g) for p, g in zip(pred, gt)]
    fs = [baseline_f(p, g) for p, g in zip(pred, gt)]
    j, f = float(np.mean(js)), float(np.mean(fs))
    return {"J": j, "F": f, "J&F": (j + f) / 2}


def baseline_got10k(sequences) -> dict[str, float]:
    ious = []
    for pred, gt in sequences:
        for t in range(1, len(gt)):
            p = [float(v) for v in pred[t]]
            g = [float(v) for v in gt[t]]
            ious.append(0.0 if any(math.isnan(v) for v in p) else box_iou(p, g, min_union=0.0))
    n = len(ious)
    return {"AO": sum(ious) / n, "SR@0.5": sum(i > 0.5 for i in ious) / n, "SR@0.75": sum(i > 0.75 for i in ious) / n}


# --------------------------------------------------------------------------------------------
def timed(fn, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def agree(a: dict[str, float], b: dict[str, float]) -> tuple[bool, float]:
    diff = max(abs(a[k] - b[k]) for k in a)
    return a.keys() == b.keys() and diff <= 1e-12, diff


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--sequences", type=int, default=180)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each fast path (median reported)")
    ap.add_argument("--baseline-repeats", type=int, default=1, help="timed runs of each baseline (slow)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    ok = True

    pred, gt = blob_masks(args.frames, args.height, args.width, args.seed)
    radius = metrics.boundary_radius(args.height, args.width)
    print(f"J&F: {args.frames} frames of {args.height}x{args.width} masks (dilation radius {radius}); "
          f"mean truth area {gt.sum(axis=(1, 2)).mean():.0f} px")
    metrics.j_and_f(pred[:2], gt[:2])  # imports (OpenCV) outside the timing
    baseline_j_and_f(pred[:1], gt[:1])
    t_fast, fast = timed(lambda: metrics.j_and_f(pred, gt), args.repeats)
    t_base, base = timed(lambda: baseline_j_and_f(pred, gt), args.baseline_repeats)
    same, diff = agree(fast, base)
    ok &= same
    print(f"  metrics.j_and_f:                         {t_fast:8.4f} s  ({t_fast / args.frames * 1e3:.2f} ms/frame)")
    print(f"  per-frame loop, scikit-image dilation:   {t_base:8.4f} s  ratio {t_base / t_fast:6.1f}x")
    print(f"  J {fast['J']:.12f}  F {fast['F']:.12f}  J&F {fast['J&F']:.12f}")
    print(f"  same numbers as the baseline to 1e-12: {'yes' if same else 'NO'} (max difference {diff:.1e})")

    seqs = box_sequences(args.sequences, args.seq_len, args.seed)
    print(f"GOT-10k: {args.sequences} sequences of {args.seq_len} frames "
          f"({sum(int(np.isnan(p[:, 0]).sum()) for p, _ in seqs)} frames without a box)")
    metrics.got10k(seqs[:1])
    t_fast, fast = timed(lambda: metrics.got10k(seqs), args.repeats)
    t_base, base = timed(lambda: baseline_got10k(seqs), args.baseline_repeats)
    same, diff = agree(fast, base)
    ok &= same
    print(f"  metrics.got10k:                          {t_fast:8.4f} s")
    print(f"  Python loop over frames (box_iou):       {t_base:8.4f} s  ratio {t_base / t_fast:6.1f}x")
    print("  " + "  ".join(f"{k} {v:.12f}" for k, v in fast.items()))
    print(f"  same numbers as the baseline to 1e-12: {'yes' if same else 'NO'} (max difference {diff:.1e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
