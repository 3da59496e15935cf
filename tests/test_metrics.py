"""Benchmark metrics (spec/metrics.md), row by row.

Hand-computed cases for every function (the arithmetic is in the comments), then randomized
comparisons against straightforward references: the DAVIS toolkit's boundary F written out with
scikit-image's binary dilation, and jiwer's WER.
"""

import math
import warnings

import numpy as np
import pytest

from onethinker.evaluate import metrics as M
from onethinker.evaluate.metrics import (
    STVGItem, accuracy, anet_rtl, boundary_f, boundary_map, boundary_radius, captioning, got10k, j_and_f,
    jaccard, mra, multiple_choice, rec, referring_segmentation, regression, stvg, temporal_grounding, vos,
    wer,
)

NAN4 = [math.nan] * 4


def mask(h, w, *pixels):
    m = np.zeros((h, w), dtype=bool)
    for y, x in pixels:
        m[y, x] = True
    return m


def pixels(m):
    return {(int(y), int(x)) for y, x in zip(*np.nonzero(m))}


# --------------------------------------------------------------------------------------------
# References: DAVIS toolkit, written out, with scikit-image's dilation
# --------------------------------------------------------------------------------------------
def ref_seg2bmap(seg):
    """davis2017-evaluation's _seg2bmap for masks of the image's own size."""
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


def ref_dilate(b, radius):
    morphology = pytest.importorskip("skimage.morphology")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # binary_dilation is deprecated from scikit-image 0.26
        if hasattr(morphology, "binary_dilation"):
            return morphology.binary_dilation(b, morphology.disk(radius))  # outside the image: False
        return morphology.dilation(b, morphology.disk(radius)).astype(bool)


def ref_f(fg, gt):
    """davis2017-evaluation's f_measure (bound_th = 0.008), one frame at a time."""
    radius = int(np.ceil(0.008 * np.linalg.norm(gt.shape)))
    fg_b, gt_b = ref_seg2bmap(fg), ref_seg2bmap(gt)
    fg_dil, gt_dil = ref_dilate(fg_b, radius), ref_dilate(gt_b, radius)
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
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def ref_j(fg, gt):
    union = np.sum(fg | gt)
    return 1.0 if union == 0 else np.sum(fg & gt) / union


def random_masks(rng, h, w):
    """Masks of one size that hit the edge cases: empty, full, single pixels at corners and
    borders, border lines, noise of several densities, ellipses (touching the borders too)."""
    out = [np.zeros((h, w), bool), np.ones((h, w), bool)]
    for y, x in {(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 2)}:
        out.append(mask(h, w, (y, x)))
    last_row = np.zeros((h, w), bool)
    last_row[-1] = True
    last_col = np.zeros((h, w), bool)
    last_col[:, -1] = True
    out += [last_row, last_col, ~last_row, ~last_col]
    for density in (0.01, 0.1, 0.5, 0.9):
        out.append(rng.random((h, w)) < density)
    yy, xx = np.mgrid[:h, :w]
    for _ in range(4):
        cy, cx = rng.uniform(-0.2, 1.2) * h, rng.uniform(-0.2, 1.2) * w
        ay, ax = rng.uniform(0.1, 0.7) * h + 0.5, rng.uniform(0.1, 0.7) * w + 0.5
        out.append(((yy - cy) / ay) ** 2 + ((xx - cx) / ax) ** 2 <= 1)
    return out


# --------------------------------------------------------------------------------------------
# Masks: J, boundary map, F
# --------------------------------------------------------------------------------------------
def test_jaccard_hand_computed():
    empty = np.zeros((3, 3), bool)
    assert jaccard(empty, empty) == 1.0  # union 0: both empty counts 1
    assert jaccard(mask(3, 3, (0, 0)), empty) == 0.0  # inter 0 / union 1
    # {(0,0),(0,1)} vs {(0,1),(0,2)}: inter 1, union 3
    assert jaccard(mask(2, 3, (0, 0), (0, 1)), mask(2, 3, (0, 1), (0, 2))) == pytest.approx(1 / 3)
    assert jaccard(np.array([[0, 255]], np.uint8), np.array([[0, 1]])) == 1.0  # non-zero is foreground
    with pytest.raises(ValueError):
        jaccard(np.zeros((2, 2)), np.zeros((2, 3)))


def test_boundary_map_edge_rules():
    # a pixel at (1, 1): it differs from its east neighbour; (0,0) from its SE, (0,1) from its S,
    # (1,0) from its E neighbour -> the 2x2 block at the top-left of the pixel
    assert pixels(boundary_map(mask(4, 4, (1, 1)))) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    # the bottom-right pixel is never boundary; (2,3) (last column) compares with its south,
    # (3,2) (last row) with its east, (2,2) with its south-east
    assert pixels(boundary_map(mask(4, 4, (3, 3)))) == {(2, 2), (2, 3), (3, 2)}
    # last row filled in a 3x3: row 1 differs from its south (the last column too: south only);
    # the last row compares only with its east neighbour, all equal -> no boundary there
    last_row = np.zeros((3, 3), bool)
    last_row[2] = True
    assert pixels(boundary_map(last_row)) == {(1, 0), (1, 1), (1, 2)}
    assert not boundary_map(np.ones((5, 7), bool)).any()  # a full mask has no boundary
    assert not boundary_map(np.zeros((5, 7), bool)).any()
    stack = np.stack([mask(4, 4, (1, 1)), mask(4, 4, (3, 3))])
    assert (boundary_map(stack) == np.stack([ref_seg2bmap(m) for m in stack])).all()


def test_boundary_radius_and_disk():
    assert boundary_radius(480, 854) == 8  # 0.008 * sqrt(480^2 + 854^2) = 0.008 * 979.6 = 7.84 -> 8
    assert boundary_radius(4, 4) == 1  # 0.008 * 5.66 = 0.045 -> 1
    assert boundary_radius(1080, 1920) == 18  # 0.008 * 2202.9 = 17.6 -> 18
    morphology = pytest.importorskip("skimage.morphology")
    for r in range(1, 21):
        assert (M._disk(r) == morphology.disk(r)).all(), r


def test_boundary_f_hand_computed():
    # 4x4: r = 1, the dilation disk is the plus shape
    g = mask(4, 4, (1, 1))  # boundary {(0,0),(0,1),(1,0),(1,1)}
    assert boundary_f(g, g) == 1.0
    # shifted one column: boundary {(0,1),(0,2),(1,1),(1,2)}; each pixel is in or next to the
    # other's boundary -> P = R = 1
    assert boundary_f(mask(4, 4, (1, 2)), g) == 1.0
    # shifted two columns to (1,3): boundary {(0,2),(0,3),(1,2),(1,3)}. Dilated truth boundary =
    # {(0,0),(0,1),(0,2),(1,0),(1,1),(1,2),(2,0),(2,1)} holds (0,2),(1,2): P = 2/4; symmetric: R = 2/4
    # F = 2 * 0.25 / 1 = 0.5
    assert boundary_f(mask(4, 4, (1, 3)), g) == 0.5
    # 2x2 block at rows/cols 1..2: boundary {(0,0),(0,1),(0,2),(1,0),(1,2),(2,0),(2,1),(2,2)} (8);
    # 7 of them lie in the dilated truth boundary (not (2,2)): P = 7/8; all 4 truth boundary pixels
    # lie in the dilated predicted boundary: R = 1; F = 2 * 7/8 / (15/8) = 14/15
    block = mask(4, 4, (1, 1), (1, 2), (2, 1), (2, 2))
    assert boundary_f(block, g) == pytest.approx(14 / 15)
    assert boundary_f(block, g) == pytest.approx(ref_f(block, g))
    empty, full = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    assert boundary_f(empty, empty) == 1.0  # no boundary in either
    assert boundary_f(full, empty) == 1.0  # DAVIS: a full mask has no boundary either (J is 0 here)
    assert jaccard(full, empty) == 0.0
    assert boundary_f(g, empty) == 0.0 and boundary_f(empty, g) == 0.0  # boundary in exactly one
    # a boundary far outside the disk: P = R = 0 -> F = 0
    assert boundary_f(mask(20, 20, (2, 2)), mask(20, 20, (15, 15))) == 0.0


def test_boundary_f_matches_davis_reference_on_random_masks():
    rng = np.random.default_rng(0)
    sizes = [(1, 1), (1, 6), (6, 1), (2, 2), (3, 5), (8, 8), (17, 23), (40, 31), (64, 64), (120, 200), (260, 330)]
    checked = 0
    for h, w in sizes:
        masks = random_masks(rng, h, w)
        pairs = [(a, b) for a in masks[:8] for b in masks[:8]]  # every edge case against every other
        pairs += [(masks[i], masks[j]) for i, j in rng.integers(0, len(masks), size=(30 if h * w < 20000 else 12, 2))]
        # a mask against a shifted / noisier copy of itself
        for m in masks[-4:]:
            pairs.append((np.roll(m, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4)))), m))
            pairs.append((m ^ (rng.random(m.shape) < 0.02), m))
        ref_js, ref_fs = [], []
        for p, g in pairs:
            ref_js.append(ref_j(p, g))
            ref_fs.append(ref_f(p, g))
            assert boundary_f(p, g) == pytest.approx(ref_fs[-1], abs=1e-12), (h, w)
            assert jaccard(p, g) == pytest.approx(ref_js[-1], abs=1e-12)
            checked += 1
        # the same frames as one expression: the vectorised path over a (T, H, W) stack
        stack_p, stack_g = np.stack([p for p, _ in pairs]), np.stack([g for _, g in pairs])
        r = j_and_f(stack_p, stack_g)
        j, f = np.mean(ref_js), np.mean(ref_fs)
        assert r["J"] == pytest.approx(j, abs=1e-12) and r["F"] == pytest.approx(f, abs=1e-12)
        assert r["J&F"] == pytest.approx((j + f) / 2, abs=1e-12)
    assert checked > 1000


def test_boundary_f_matches_reference_at_benchmark_size():
    # 480 x 854 (r = 8): blobs near the borders, one clipped by the bottom-right corner
    h, w = 480, 854
    yy, xx = np.mgrid[:h, :w]
    g = ((yy - 470) / 60.0) ** 2 + ((xx - 840) / 90.0) ** 2 <= 1
    g |= ((yy - 100) / 40.0) ** 2 + ((xx - 5) / 70.0) ** 2 <= 1
    p = np.roll(g, (6, -9), axis=(0, 1))
    p[200:230, 400:460] = True
    for a, b in ((p, g), (g, p), (g, np.zeros_like(g))):
        assert boundary_f(a, b) == pytest.approx(ref_f(a, b), abs=1e-12)


# --------------------------------------------------------------------------------------------
# Referring video segmentation: J, F, J&F
# --------------------------------------------------------------------------------------------
def test_j_and_f_and_vos_hand_computed():
    g = mask(4, 4, (1, 1))
    gt_a = np.stack([g, g])
    pred_a = np.stack([g, mask(4, 4, (1, 3))])
    # frame 0: J = 1, F = 1; frame 1: J = 0 / 2 = 0, F = 0.5 (see test_boundary_f_hand_computed)
    # J = (1 + 0) / 2 = 0.5, F = (1 + 0.5) / 2 = 0.75, J&F = 0.625
    assert j_and_f(pred_a, gt_a) == {"J": 0.5, "F": 0.75, "J&F": 0.625}
    # expression B: one frame, empty truth, empty prediction: J = 1, F = 1
    empty = np.zeros((1, 4, 4), bool)
    assert j_and_f(empty, empty) == {"J": 1.0, "F": 1.0, "J&F": 1.0}
    # averaged per expression, then over expressions: J = (0.5 + 1) / 2 = 0.75, F = (0.75 + 1) / 2
    # = 0.875, J&F = 0.8125. (Pooling the 3 frames would give J = 2/3.)
    assert vos([(pred_a, gt_a), (empty, empty)]) == {"J": 0.75, "F": 0.875, "J&F": 0.8125}


def test_j_and_f_missing_frames_and_unparseable():
    g = mask(4, 4, (1, 1))
    gt = np.stack([g, g, np.zeros((4, 4), bool)])
    # frame 1 missing -> empty mask: J = 0, F = 0 (boundary in the truth only);
    # frame 2 missing against an empty truth: J = 1, F = 1. J = (1 + 0 + 1) / 3, F likewise.
    r = j_and_f([g, None, None], gt)
    assert r["J"] == pytest.approx(2 / 3) and r["F"] == pytest.approx(2 / 3)
    # an expression whose answer could not be parsed scores 0, and stays in the mean
    assert j_and_f(None, gt) == {"J": 0.0, "F": 0.0, "J&F": 0.0}
    assert vos([(None, gt), (gt, gt)]) == {"J": 0.5, "F": 0.5, "J&F": 0.5}
    with pytest.raises(ValueError):
        j_and_f(np.zeros((2, 4, 4), bool), gt)  # 2 predicted frames for 3
    with pytest.raises(ValueError):
        vos([])


# --------------------------------------------------------------------------------------------
# Referring image segmentation: cIoU, gIoU
# --------------------------------------------------------------------------------------------
def test_referring_segmentation_hand_computed():
    p0, g0 = mask(3, 3, (0, 0), (0, 1), (1, 0), (1, 1)), mask(3, 3, (0, 0), (0, 1))  # I 2, U 4: 0.5
    p1, g1 = np.zeros((2, 2), bool), np.zeros((2, 2), bool)  # I 0, U 0: IoU 1 (empty / empty)
    p2, g2 = np.zeros((3, 3), bool), mask(3, 3, (2, 2), (2, 1))  # I 0, U 2: 0
    r = referring_segmentation([p0, p1, p2], [g0, g1, g2])
    assert r["cIoU"] == pytest.approx((2 + 0 + 0) / (4 + 0 + 2))  # 1/3
    assert r["gIoU"] == pytest.approx((0.5 + 1 + 0) / 3)  # 0.5
    # every union 0: cIoU 1, gIoU 1
    assert referring_segmentation([p1, p1], [g1, g1]) == {"cIoU": 1.0, "gIoU": 1.0}
    # unparseable: IoU 0, its truth's area joins the cIoU union: cIoU = 2 / (4 + 2), gIoU = 0.5 / 2
    r = referring_segmentation([p0, None], [g0, g2])
    assert r["cIoU"] == pytest.approx(1 / 3) and r["gIoU"] == pytest.approx(0.25)
    with pytest.raises(ValueError):
        referring_segmentation([p0], [g1])  # shapes differ


# --------------------------------------------------------------------------------------------
# Tracking (GOT-10k)
# --------------------------------------------------------------------------------------------
def test_got10k_hand_computed():
    box = [0, 0, 10, 10]
    seq_a = (
        np.array([[100, 100, 110, 110],  # row 0: the given first box, excluded (it would score 0)
                  box,                   # IoU 1
                  [0, 0, 10, 5],         # inter 50 / union 100 = 0.5 exactly: not > 0.5
                  NAN4]),                # no box: 0
        np.array([box] * 4),
    )
    seq_b = (np.array([[0, 0, 4, 4], [0, 0, 4, 3]]), np.array([[0, 0, 4, 4]] * 2))  # 12 / 16 = 0.75
    r = got10k([seq_a, seq_b])
    # pooled over the 4 frames [1, 0.5, 0, 0.75]: AO = 2.25 / 4; SR@0.5: {1, 0.75} = 2/4;
    # SR@0.75: {1} = 1/4 (0.75 is not > 0.75). Per-sequence averaging would give AO = 0.625.
    assert r == {"AO": 0.5625, "SR@0.5": 0.5, "SR@0.75": 0.25}
    # zero-area and inverted predicted boxes score 0; a list with None is a missing frame
    r = got10k([([box, [5, 0, 5, 10], [10, 10, 0, 0], None], [box] * 4)])
    assert r == {"AO": 0.0, "SR@0.5": 0.0, "SR@0.75": 0.0}
    with pytest.raises(ValueError):
        got10k([([box, box], [box, NAN4])])  # ground truth must be finite
    with pytest.raises(ValueError):
        got10k([([box], [box])])  # nothing left after the first frame
    # a sequence the model gave no boxes for at all: every frame after the first scores 0
    assert got10k([(None, [box] * 3), ([box] * 3, [box] * 3)]) == {"AO": 0.5, "SR@0.5": 0.5, "SR@0.75": 0.5}


# --------------------------------------------------------------------------------------------
# Temporal grounding, ANet-RTL
# --------------------------------------------------------------------------------------------
def test_temporal_grounding_hand_computed():
    pred = [[0, 10],      # IoU 1
            [10, 5],      # inverted -> [5, 10] against [0, 10]: 5 / 10 = 0.5 (counts for R1@0.5)
            None,         # unparseable: 0
            [2, 5],       # against [10, 0] -> [0, 10]: 3 / 10 = 0.3 (counts for R1@0.3)
            [3, 3]]       # against [3, 3]: union 0 -> 0
    gt = [[0, 10], [0, 10], [0, 10], [10, 0], [3, 3]]
    r = temporal_grounding(pred, gt)
    assert r["R1@0.3"] == pytest.approx(3 / 5)
    assert r["R1@0.5"] == pytest.approx(2 / 5)
    assert r["R1@0.7"] == pytest.approx(1 / 5)
    assert r["mIoU"] == pytest.approx((1 + 0.5 + 0 + 0.3 + 0) / 5)  # 0.36
    # a NaN row in an array is the same as None
    assert temporal_grounding(np.array([[np.nan, np.nan], [0, 10]]), [[0, 10], [0, 10]])["mIoU"] == 0.5
    with pytest.raises(ValueError):
        temporal_grounding([[0, 1]], [[0, math.nan]])
    with pytest.raises(ValueError):
        temporal_grounding([[0, 1]], [[0, 1], [0, 1]])


def test_anet_rtl_averages_per_video_first():
    pred = [[0, 10], [0, 10], [20, 30], [40, 50]]
    gt = [[0, 10], [0, 5], [0, 10], [30, 50]]
    ids = ["a", "b", "a", "a"]
    # video a: IoUs 1, 0, 0.5 (40..50 against 30..50: 10 / 20) -> mIoU 0.5, P@0.5 = 2/3
    # video b: IoU 0.5 (0..10 against 0..5) -> mIoU 0.5, P@0.5 = 1
    # over videos: mIoU = 0.5; P@0.5 = (2/3 + 1) / 2 = 5/6 (pooled over queries it would be 3/4)
    r = anet_rtl(pred, gt, ids)
    assert r["mIoU"] == pytest.approx(0.5) and r["P@0.5"] == pytest.approx(5 / 6)
    # video a: 1, 0, 0 -> 1/3; video b: 0.5 -> over videos (1/3 + 0.5) / 2 = 5/12 (pooled: 1.5 / 4)
    r = anet_rtl([[0, 1], [5, 6], None, [0, 10]], [[0, 1], [0, 1], [0, 1], [0, 5]], [1, 1, 1, 2])
    assert r["mIoU"] == pytest.approx(5 / 12) and r["P@0.5"] == pytest.approx((1 / 3 + 1) / 2)


# --------------------------------------------------------------------------------------------
# Referring expression grounding
# --------------------------------------------------------------------------------------------
def test_rec_hand_computed():
    gt = [[0, 0, 10, 10]] * 6 + [[0, 0, 2, 1]]
    pred = [[0, 0, 10, 10],      # 1
            [0, 0, 10, 5],       # 50 / 100 = 0.5: a success (>= 0.5)
            [-10, -10, 10, 10],  # no clipping: inter 100 / union 400 = 0.25 (clipped it would be 1)
            [5, 0, 5, 10],       # zero width: area 0 -> inter 0 -> 0
            [10, 10, 0, 0],      # inverted: area 0 -> 0
            NAN4,                # unparseable: 0
            [0, 0, 1, 1]]        # no +1: inter 1 / union 2 = 0.5 (with +1 it would be 4 / 6)
    r = rec(pred, gt)
    assert r["Acc@0.5"] == pytest.approx(3 / 7)
    assert r["mIoU"] == pytest.approx((1 + 0.5 + 0.25 + 0.5) / 7)
    assert rec([[5, 5, 5, 5]], [[5, 5, 5, 5]]) == {"Acc@0.5": 0.0, "mIoU": 0.0}  # union 0 -> 0
    assert rec([None, "bad", [1, 2, 3]], [[0, 0, 1, 1]] * 3)["mIoU"] == 0.0  # malformed answers: 0


# --------------------------------------------------------------------------------------------
# Spatio-temporal grounding
# --------------------------------------------------------------------------------------------
def _stvg_video(pred_span, pred_boxes):
    frames = np.arange(8.0)  # sampled frames at 0, 1, ..., 7 s
    gt_boxes = np.full((8, 4), np.nan)
    gt_boxes[2:6] = [0, 0, 10, 10]  # true tube: 2..5 s -> S_g = {2, 3, 4, 5}
    return STVGItem(frames=frames, gt_span=[2, 5], gt_boxes=gt_boxes, pred_span=pred_span, pred_boxes=pred_boxes)


def test_stvg_hand_computed():
    box, half = [0, 0, 10, 10], [0, 0, 10, 5]  # IoU(half, box) = 0.5
    same = _stvg_video([2, 5], [box] * 8)                           # tIoU 1, vIoU 1
    disjoint = _stvg_video([6, 7], [box] * 8)                       # S_i empty: tIoU 0, vIoU 0
    partial = _stvg_video([4, 7.5], [box] * 4 + [half, None, box, box])
    # S_p = {4, 5, 6, 7}, S_i = {4, 5}, S_u = {2..7}: tIoU = 2/6; vIoU = (0.5 [frame 4] + 0 [frame 5,
    # no box]) / 6 = 1/12
    unparseable = _stvg_video(None, None)                           # 0, 0
    halves = _stvg_video([2, 5], [half] * 8)                        # tIoU 1, vIoU 4 * 0.5 / 4 = 0.5
    r = stvg([same, disjoint, partial, unparseable, halves])
    assert r["m_tIoU"] == pytest.approx((1 + 0 + 1 / 3 + 0 + 1) / 5)  # 7/15
    assert r["m_vIoU"] == pytest.approx((1 + 0 + 1 / 12 + 0 + 0.5) / 5)  # 19/60
    assert r["vIoU@0.3"] == pytest.approx(2 / 5)  # 1 and 0.5
    assert r["vIoU@0.5"] == pytest.approx(1 / 5)  # 0.5 is not > 0.5
    assert stvg([same]) == {"m_tIoU": 1.0, "m_vIoU": 1.0, "vIoU@0.3": 1.0, "vIoU@0.5": 1.0}
    assert stvg([disjoint]) == {"m_tIoU": 0.0, "m_vIoU": 0.0, "vIoU@0.3": 0.0, "vIoU@0.5": 0.0}


def test_stvg_spans_on_frame_indices_and_mappings():
    # frame indices instead of seconds; span membership is closed (both ends included)
    item = {"frames": [0, 4, 8, 12], "gt_span": [4, 8], "gt_boxes": [NAN4, [0, 0, 2, 2], [0, 0, 2, 2], NAN4],
            "pred_span": [8, 12], "pred_boxes": [[0, 0, 2, 2]] * 4}
    # S_g = {4, 8}, S_p = {8, 12}: S_i = {8}, S_u = {4, 8, 12}: tIoU = 1/3, vIoU = 1/3
    r = stvg([item])
    assert r["m_tIoU"] == pytest.approx(1 / 3) and r["m_vIoU"] == pytest.approx(1 / 3)
    # an inverted predicted span contains no frame: S_i empty -> 0
    assert stvg([dict(item, pred_span=[12, 8])])["m_tIoU"] == 0.0
    # a true tube between two sampled frames and no prediction: S_u empty -> 0
    assert stvg([dict(item, gt_span=[5, 6], pred_span=None)])["m_tIoU"] == 0.0
    with pytest.raises(ValueError):  # a true box inside the span must be finite
        stvg([dict(item, gt_boxes=[NAN4] * 4)])
    with pytest.raises(ValueError):  # one predicted box per sampled frame
        stvg([dict(item, pred_boxes=[[0, 0, 2, 2]] * 3)])


# --------------------------------------------------------------------------------------------
# Regression: MRA
# --------------------------------------------------------------------------------------------
def test_mra_exact_thresholds():
    # tolerances 1 - theta_k for theta_k = 0.5 + 0.05 k in float64; a hit is rel <= tolerance
    assert mra(6, 4) == 0.1    # rel = 2/4 = 0.5 exactly: only k = 0 (0.5 <= 0.5)
    assert mra(5, 4) == 0.6    # rel = 0.25 exactly: k = 0..5 (theta_5 = 0.75, 1 - 0.75 = 0.25)
    assert mra(2.5, 2) == 0.6  # rel 0.25 again
    assert mra(7, 4) == 0.0    # rel 0.75 > 0.5
    assert mra(4, 4) == 1.0 and mra(-4, -4) == 1.0  # |t| in the denominator
    assert mra(105, 100) == 1.0  # rel 0.05 (0.05000000000000000277) <= 1 - 0.95 = 0.050000000000000044
    # float64 as written: 1 - (0.5 + 0.05 * 8) = 0.09999999999999998 < rel 0.1, so k = 8 misses.
    # (VSI-Bench's np.linspace thresholds would give 0.9 here; the spec's formula gives 0.8.)
    assert mra(110, 100) == 0.8
    assert mra(145, 100) == 0.1  # rel 0.45 (0.45000000000000001) > 1 - 0.55 = 0.44999999999999996
    assert mra(0, 0) == 0.0 and mra(1, 0) == 0.0  # t == 0 scores 0
    assert mra(math.nan, 3) == 0.0 and mra(math.inf, 3) == 0.0 and mra(None, 3) == 0.0


def test_mra_arrays_and_mean():
    values = mra([6, 5, None, 0], [4, 4, 4, 0])
    assert isinstance(values, np.ndarray) and values.dtype == np.float64
    assert values.tolist() == [0.1, 0.6, 0.0, 0.0]
    assert regression([6, 5, None, 0], [4, 4, 4, 0]) == {"MRA": pytest.approx(0.7 / 4)}
    assert mra(np.array([4.0, 6.0]), 4).tolist() == [1.0, 0.1]  # broadcasting a scalar target
    with pytest.raises(ValueError):
        mra(1, math.nan)


# --------------------------------------------------------------------------------------------
# OCR: WER
# --------------------------------------------------------------------------------------------
def test_wer_pooled_not_averaged():
    refs, hyps = ["a b c d", "e"], ["a b c d", "x"]
    # pooled: (0 + 1) errors / (4 + 1) words = 0.2; the mean of per-sentence WERs would be 0.5
    assert wer(refs, hyps) == pytest.approx(0.2)
    # "a b c" -> "a x c d": substitute b->x, insert d: (1 + 0 + 1) / 3
    assert wer("a b c", "a x c d") == pytest.approx(2 / 3)
    # unparseable hypothesis: every reference word deleted: 2 / 2; with a second sentence right: 2 / 3
    assert wer(["a b"], [None]) == 1.0 and wer(["a b", "c"], [None, "c"]) == pytest.approx(2 / 3)
    # jiwer's words: runs of 2+ whitespace collapse to one space, then split on " ": "a\tb" is one word
    assert M.wer_words("  a\tb  c\n\nd ") == ["a\tb", "c", "d"]
    # reference ["a\tb"] (1 word), hypothesis ["a", "b"]: 1 substitution + 1 insertion = 2 / 1
    assert wer("a\tb", "a b") == 2.0
    assert wer("a\tb", "a b c") == 3.0  # 1 substitution + 2 insertions
    assert wer(["", ""], ["x y", ""]) == 2.0  # no reference words: jiwer returns the insertions
    with pytest.raises(ValueError):
        wer(["a"], ["a", "b"])


def test_wer_matches_jiwer_on_random_text():
    jiwer = pytest.importorskip("jiwer")
    rng = np.random.default_rng(1)
    vocab = ["the", "cat", "sat", "on", "mat", "a", "Cat", "THE", "1,000", "ça"]
    seps = [" ", " ", " ", "  ", "\t", " \t ", "\n", "\n\n", "\u00a0", "\u3000 "]

    def sentence(max_words):
        n = int(rng.integers(0, max_words + 1))
        words = [vocab[i] for i in rng.integers(0, len(vocab), size=n)]
        text = "".join(w + seps[int(rng.integers(0, len(seps)))] for w in words)
        return seps[int(rng.integers(0, len(seps)))] * int(rng.integers(0, 2)) + text

    for case in range(600):
        n = int(rng.integers(1, 8))
        refs = [sentence(12) for _ in range(n)]
        hyps = [sentence(12) for _ in range(n)]
        expected = jiwer.wer(refs, hyps)
        assert wer(refs, hyps) == pytest.approx(expected, abs=1e-12), (refs, hyps)
        assert wer(refs[0], hyps[0]) == pytest.approx(jiwer.wer(refs[0], hyps[0]), abs=1e-12)
    # None is the empty hypothesis
    assert wer(["a b c", "d"], [None, "d"]) == pytest.approx(jiwer.wer(["a b c", "d"], ["", "d"]))


# --------------------------------------------------------------------------------------------
# Accuracy, multiple choice, captioning
# --------------------------------------------------------------------------------------------
def test_accuracy_and_multiple_choice():
    assert accuracy([1, 0, True, None, math.nan, 1.0]) == pytest.approx(3 / 6)  # None / NaN count 0
    # "b" == "B" after strip/upper; None (unparseable) is wrong and stays in the denominator
    assert multiple_choice(["A", " b", None, "C"], ["A", "B", "C", "D"]) == 0.5
    with pytest.raises(ValueError):
        accuracy([])
    with pytest.raises(ValueError):
        multiple_choice(["A"], ["A", "B"])


def test_captioning_matches_rouge_score():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    targets = ["A man is running in the park.", "Two dogs play with a red ball", "a cat"]
    preds = ["a man runs through a park", "the dogs are playing", None]
    r = captioning(targets, preds)
    ls = [scorer.score(t, p)["rougeL"].fmeasure for t, p in zip(targets[:2], preds[:2])] + [0.0]
    means = [sum(s.fmeasure for s in scorer.score(t, p).values()) / 3 for t, p in zip(targets[:2], preds[:2])] + [0.0]
    assert r["ROUGE-L"] == pytest.approx(sum(ls) / 3) and r["ROUGE-mean"] == pytest.approx(sum(means) / 3)
    # target first: ROUGE-L precision and recall swap with the order, F does not; stemming on:
    # "running" and "runs" both stem to "run"
    assert captioning(["running"], ["runs"]) == {"ROUGE-L": 1.0, "ROUGE-mean": pytest.approx(2 / 3)}


def test_every_metric_names_its_variant():
    for name in ("accuracy", "multiple_choice", "mra", "wer", "captioning", "temporal_grounding", "anet_rtl",
                 "rec", "stvg", "got10k", "referring_segmentation", "vos"):
        assert name in M.METRIC_VARIANTS and callable(getattr(M, name))


@pytest.mark.slow
def test_boundary_f_matches_reference_on_large_frames():
    # radii 8 (480 x 854), 12 (720 x 1280) and 18 (1080 x 1920); blobs and noise, borders included
    rng = np.random.default_rng(2)
    for h, w in ((480, 854), (720, 1280), (1080, 1920)):
        masks = random_masks(rng, h, w)
        for i, j in rng.integers(0, len(masks), size=(5, 2)):
            assert boundary_f(masks[i], masks[j]) == pytest.approx(ref_f(masks[i], masks[j]), abs=1e-12)
        for m in masks[-2:]:
            shifted = np.roll(m, (int(rng.integers(-20, 21)), int(rng.integers(-20, 21))), axis=(0, 1))
            assert boundary_f(shifted, m) == pytest.approx(ref_f(shifted, m), abs=1e-12)


def test_referring_expression_metric_is_acc_at_05_and_old_files_still_read(tmp_path):
    """The REC metric is named Acc@0.5 (an e-mail obfuscator once mangled it); metrics files written under
    the mangled key read back, in reports and summaries, under the new one."""
    import json

    from onethinker.report import evaluation as report
    from onethinker.evaluate.runner import write_summary

    assert set(rec([[0, 0, 10, 10]], [[0, 0, 10, 10]])) == {"Acc@0.5", "mIoU"}
    old = "[email" + " protected]"
    assert M.RENAMED_METRICS == {old: "Acc@0.5"}
    written = {"bench": "refcoco", "items": 2, "model": "m", "unparsed": 0, "errors": 0, "by_task": {},
               "families": {"rec": {"items": 2, "metrics": {old: 0.5, "mIoU": 0.25}, "variant": "v"}}}
    (tmp_path / "refcoco.metrics.json").write_text(json.dumps(written))
    (tmp_path / "torn.metrics.json").write_text('{"bench": ')  # unreadable files are left out
    [loaded] = report.load_metrics(tmp_path)
    assert loaded["families"]["rec"]["metrics"] == {"Acc@0.5": 0.5, "mIoU": 0.25}
    assert list(loaded["families"]["rec"]["metrics"]) == ["Acc@0.5", "mIoU"]  # order kept
    page = report.render_report(tmp_path, [json.loads(json.dumps(written))], gallery=0)
    summary = write_summary(tmp_path, [json.loads(json.dumps(written))]).read_text()
    for text in (page, summary):
        assert "Acc@0.5" in text and old not in text and "protected" not in text
    assert "| rec | 2 | Acc@0.5 | 0.5000 |" in summary
    assert M.upgrade_metric_names([1, 2]) == [1, 2] and M.upgrade_metric_names({"families": 3}) == {"families": 3}
