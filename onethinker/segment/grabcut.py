"""The classical fallback segmenter: OpenCV GrabCut for images, GrabCut + dense optical flow for videos.

Images
    GrabCut is initialised from a mask (not ``GC_INIT_WITH_RECT``, so a box that covers the whole
    image still works): probable foreground inside the box, sure background outside it, sure
    foreground on small disks at the positive points and sure background on small disks at the
    negative points. It runs on a window around the box (the box plus a margin: the background
    model is learnt from the object's surroundings, and it is fast). The connected components of the
    result that hold a positive point are kept (the largest component when there is no positive point).
    Without a usable box (no area), probable foreground disks around the positive points stand in for it.

Videos
    The key frame is segmented as an image. The mask is then carried frame by frame, forward to the
    end and backward to the start: Farneback dense optical flow (from the new frame to the previous
    one, on a window around the object) warps the previous mask onto the new frame (backward
    warping); GrabCut refines the warped mask (probable foreground on it and on object-coloured pixels
    near it, sure foreground on its object-coloured core, probable background on a band around it,
    sure background beyond). The object's colour model (smoothed RGB histograms of the key-frame mask
    against the rest of the key frame, giving P(object | colour)) then checks the result: when the
    refined mask's colours no longer look like the object, or only a sliver of it is left, the object
    is lost (it left, vanished or is hidden) and the mask is empty - no ghosts. While lost, for up to
    ``search_seconds``, each frame is searched for it near where its recent motion puts it: an
    object-coloured blob, refined by GrabCut, is taken only if it also has the key-frame mask's shape
    (IoU with centroids aligned); after that the direction is given up.

Edges
    GrabCut takes the blended edge pixels of compressed or blurred frames into the object; every mask
    is finished by re-deciding the pixels within 2 px of its edge by colour (kept when nearer the
    local object colour than the local background colour, along the line between them).

Settings are in :class:`GrabCutConfig`; on the synthetic corpus (ground-truth prompts, frames decoded
from the mp4s) images reach cIoU 1.0 and videos J about 0.93 (tests/test_segment.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .base import PixelPrompt, Segmenter, register_segmenter

__all__ = ["GrabCutSegmenter", "GrabCutConfig", "ColourModel"]

BGD, FGD, PR_BGD, PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD
_MIN_SAMPLES = 12  # GrabCut fits 5-component GMMs: give each side at least this many pixels


@dataclass(frozen=True)
class GrabCutConfig:
    image_iterations: int = 4  # GrabCut iterations on an image / the key frame
    video_iterations: int = 2  # GrabCut iterations when refining a propagated mask
    image_max_pixels: int = 65536  # GrabCut a larger window at a reduced size (0: always at full size)
    video_max_pixels: int = 16384  # the same when refining a propagated mask (bounds the time per frame)
    box_margin: float = 0.2  # window around the box, as a share of the box's longer side (at least 8 px)
    band: float = 0.25  # probable-background band around a warped mask, share of its longer side (>= 4 px)
    match: float = 0.6  # a propagated mask is kept while its colour score >= match x the key frame's
    min_score: float = 0.35  # ... and >= this absolute score (mean P(object | colour) over the mask)
    snap: bool = True  # move mask edges to where the colour is half-way between object and background
    min_kept: float = 0.1  # a propagated mask under this share of the key-frame mask's area counts as lost
    search_seconds: float = 2.0  # once lost, look for the object again for this long (0: never)
    search_radius: float = 0.6  # ... within this many object sizes (plus a quarter of the distance its
    #                             recent motion covers) of where that motion puts it,
    min_found: float = 0.2  # ... as a blob of at least this share of the key-frame mask's area
    min_shape: float = 0.6  # ... whose shape matches the key-frame mask's (IoU with centroids aligned)


def _disk_radius(h: int, w: int) -> int:
    """Radius of the seed disks drawn at the prompt points: about 0.8% of the shorter side, 1..5 px."""
    return int(max(1, min(5, round(0.008 * min(h, w)))))


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """[x1, y1, x2, y2) of the True pixels, or None."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _expand(box: tuple[int, int, int, int], margin: int, w: int, h: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return max(0, x1 - margin), max(0, y1 - margin), min(w, x2 + margin), min(h, y2 + margin)


def _ellipse(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _run_grabcut(img: np.ndarray, seeds: np.ndarray, iterations: int, max_pixels: int = 0) -> np.ndarray | None:
    """GrabCut from a seed mask; the foreground (bool), or None when it cannot run (too few samples).
    With ``max_pixels`` > 0 a larger window is cut at a reduced size (the result is scaled back)."""
    fg = (seeds == FGD) | (seeds == PR_FGD)
    n_fg = int(fg.sum())
    if n_fg < _MIN_SAMPLES or seeds.size - n_fg < _MIN_SAMPLES:
        return None
    if not ((seeds == PR_FGD) | (seeds == PR_BGD)).any():
        return fg  # nothing left to decide
    h, w = seeds.shape
    scale = (max_pixels / (h * w)) ** 0.5 if max_pixels and h * w > max_pixels else 1.0
    if scale < 1.0:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(seeds, size, interpolation=cv2.INTER_NEAREST)
    else:
        mask = seeds.copy()
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's RNG: same input, same mask, whatever ran before
    try:
        cv2.grabCut(np.ascontiguousarray(img), mask, None, bgd, fgd, int(iterations), cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    out = (mask == FGD) | (mask == PR_FGD)
    if scale < 1.0:
        out = cv2.resize(out.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
        out = np.where(seeds == FGD, True, np.where(seeds == BGD, False, out))
    return out


def _components_at(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The 8-connected components of ``mask`` that hold one of ``points`` ((N, 2) integer x, y);
    the largest component when no point is on the mask."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    ids = np.unique(labels[points[:, 1], points[:, 0]]) if len(points) else np.zeros(0, np.int32)
    ids = ids[ids > 0]
    if not len(ids):  # no point given, or none on the foreground
        ids = np.array([1 + int(np.argmax(np.bincount(labels.ravel(), minlength=n)[1:]))])
    return np.isin(labels, ids)


def _components_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The 8-connected components of ``mask`` that overlap ``seeds`` (all of ``mask`` if none does)."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    ids = np.unique(labels[seeds & mask])
    ids = ids[ids > 0]
    return np.isin(labels, ids) if len(ids) else mask


def _snap_boundary(image: np.ndarray, mask: np.ndarray, width: int = 2, window: int = 7,
                   min_contrast: float = 24.0) -> np.ndarray:
    """Re-decide the pixels within ``width`` of the mask's edge by colour: each is seen as a blend
    ``alpha * object + (1 - alpha) * background`` of the local object colour (mean of the mask's core
    nearby) and the local background colour (mean of the pixels beyond the band nearby), and is kept
    when ``alpha >= 0.5``. GrabCut tends to take the blended edge pixels of blurred or compressed
    frames into the object; this puts the edge where the colour is half-way. Pixels where object and
    background colours are close (less than ``min_contrast`` apart) keep GrabCut's decision."""
    m8 = mask.astype(np.uint8)
    k3 = np.ones((3, 3), np.uint8)
    core = cv2.erode(m8, k3, iterations=width).astype(bool)
    if not core.any():
        return mask
    beyond = ~cv2.dilate(m8, k3, iterations=width).astype(bool)
    band = ~core & ~beyond
    f = image.astype(np.float32)

    def local_mean(sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = sel.astype(np.float32)
        n = cv2.boxFilter(w, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
        s = cv2.boxFilter(f * w[..., None], -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
        return s / np.maximum(n, 1.0)[..., None], n

    fg, n_fg = local_mean(core)
    bg, n_bg = local_mean(beyond)
    d = fg - bg
    dd = (d * d).sum(-1)
    ok = band & (n_fg > 0) & (n_bg > 0) & (dd >= min_contrast**2)
    alpha = ((f - bg) * d).sum(-1) / np.maximum(dd, 1e-6)
    out = mask.copy()
    out[ok] = alpha[ok] >= 0.5
    return out


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else np.zeros(2)


class _Template:
    """A mask's shape about its centroid, to compare another mask's shape with (translation only)."""

    def __init__(self, mask: np.ndarray):
        x1, y1, x2, y2 = _bbox(mask)
        self.mask = mask[y1:y2, x1:x2]
        self.area = int(self.mask.sum())
        self.size = max(x2 - x1, y2 - y1)
        self.centre = _centroid(self.mask)

    def iou(self, mask: np.ndarray) -> float:
        """IoU of ``mask`` with the template once their centroids coincide."""
        box = _bbox(mask)
        if box is None:
            return 0.0
        other = mask[box[1]:box[3], box[0]:box[2]]
        shift = np.round(_centroid(other) - self.centre).astype(int)  # other's frame -> template's frame
        h = max(self.mask.shape[0], other.shape[0] - shift[1]) + abs(shift[1]) + 1
        w = max(self.mask.shape[1], other.shape[1] - shift[0]) + abs(shift[0]) + 1
        a = np.zeros((h, w), bool)
        b = np.zeros((h, w), bool)
        oy, ox = max(0, shift[1]), max(0, shift[0])
        a[oy:oy + self.mask.shape[0], ox:ox + self.mask.shape[1]] = self.mask
        a_y, a_x = oy - shift[1], ox - shift[0]
        b[a_y:a_y + other.shape[0], a_x:a_x + other.shape[1]] = other
        union = int((a | b).sum())
        return float((a & b).sum()) / union if union else 0.0


class ColourModel:
    """P(object | colour) from smoothed 16-bin-per-channel RGB histograms of the object's pixels and
    of the background's pixels (equal priors)."""

    BINS = 16

    def __init__(self, image: np.ndarray, mask: np.ndarray):
        shift = 8 - int(np.log2(self.BINS))
        idx = self._index(image, shift)
        n = self.BINS**3
        hf = np.bincount(idx[mask].ravel(), minlength=n).astype(np.float64)
        hb = np.bincount(idx[~mask].ravel(), minlength=n).astype(np.float64)
        hf, hb = self._smooth(hf), self._smooth(hb)
        hf /= max(hf.sum(), 1.0)
        hb /= max(hb.sum(), 1.0)
        eps = 1e-6
        self._shift = shift
        self.table = ((hf + eps) / (hf + hb + 2 * eps)).astype(np.float32)
        self.reference = self.score(image, mask)

    def _index(self, image: np.ndarray, shift: int) -> np.ndarray:
        q = (image >> shift).astype(np.int32)
        return (q[..., 0] * self.BINS + q[..., 1]) * self.BINS + q[..., 2]

    def _smooth(self, hist: np.ndarray) -> np.ndarray:
        """[1, 2, 1] / 4 along each colour axis: neighbouring bins share mass (compression shifts colours)."""
        h = hist.reshape(self.BINS, self.BINS, self.BINS)
        for axis in range(3):
            p = np.pad(h, [(1, 1) if a == axis else (0, 0) for a in range(3)], mode="edge")
            lo = np.take(p, range(0, self.BINS), axis=axis)
            mid = np.take(p, range(1, self.BINS + 1), axis=axis)
            hi = np.take(p, range(2, self.BINS + 2), axis=axis)
            h = 0.25 * lo + 0.5 * mid + 0.25 * hi
        return h.ravel()

    def prob(self, image: np.ndarray) -> np.ndarray:
        """P(object | colour) per pixel, float32 of the image's (H, W)."""
        return self.table[self._index(image, self._shift)]

    def score(self, image: np.ndarray, mask: np.ndarray) -> float:
        """Mean P(object | colour) over the mask (0 for an empty mask)."""
        if not mask.any():
            return 0.0
        return float(self.prob(image[mask]).mean())


@register_segmenter("grabcut")
class GrabCutSegmenter(Segmenter):
    """OpenCV GrabCut seeded by the prompt; videos propagate the key-frame mask with optical flow."""

    name = "grabcut"

    def __init__(self, config: GrabCutConfig | None = None):
        self.config = config or GrabCutConfig()

    # -- images ---------------------------------------------------------------------------------
    def _segment_image(self, image: np.ndarray, prompt: PixelPrompt) -> np.ndarray:
        cfg = self.config
        h, w = image.shape[:2]
        r = _disk_radius(h, w)
        pos = np.floor(prompt.positive).astype(np.int64).reshape(-1, 2)
        neg = np.floor(prompt.negative).astype(np.int64).reshape(-1, 2)

        if prompt.has_box:
            x1, y1, x2, y2 = prompt.box
            rect = (int(np.floor(x1)), int(np.floor(y1)), int(np.ceil(x2)), int(np.ceil(y2)))
            margin = max(8, int(round(cfg.box_margin * max(rect[2] - rect[0], rect[3] - rect[1]))))
        else:  # no box: probable-foreground disks around the positive points stand in for it
            s = max(6, int(round(0.08 * min(h, w))))
            rect = (int(pos[:, 0].min()), int(pos[:, 1].min()), int(pos[:, 0].max()) + 1, int(pos[:, 1].max()) + 1)
            margin = 3 * s
        win = _expand(rect, margin, w, h)
        if len(pos):  # a positive point outside the box still belongs to the object
            win = (min(win[0], int(pos[:, 0].min()) - r), min(win[1], int(pos[:, 1].min()) - r),
                   max(win[2], int(pos[:, 0].max()) + r + 1), max(win[3], int(pos[:, 1].max()) + r + 1))
            win = (max(0, win[0]), max(0, win[1]), min(w, win[2]), min(h, win[3]))
        wx1, wy1, wx2, wy2 = win
        sub = image[wy1:wy2, wx1:wx2]
        seeds = np.full(sub.shape[:2], BGD, np.uint8)
        if prompt.has_box:
            seeds[max(0, rect[1] - wy1):rect[3] - wy1, max(0, rect[0] - wx1):rect[2] - wx1] = PR_FGD
        else:
            seeds[:] = PR_BGD
            for x, y in pos:
                cv2.circle(seeds, (int(x - wx1), int(y - wy1)), s, PR_FGD, -1)
        for x, y in neg:
            cv2.circle(seeds, (int(x - wx1), int(y - wy1)), r, BGD, -1)
        for x, y in pos:
            cv2.circle(seeds, (int(x - wx1), int(y - wy1)), r, FGD, -1)
        if int(((seeds == BGD) | (seeds == PR_BGD)).sum()) < _MIN_SAMPLES:
            # the box covers the whole window (the whole image): its outer frame is probably background
            frame = np.zeros(seeds.shape, bool)
            frame[[0, -1], :] = frame[:, [0, -1]] = True
            seeds[frame & (seeds == PR_FGD)] = PR_BGD
        fg = _run_grabcut(sub, seeds, cfg.image_iterations, cfg.image_max_pixels)
        if fg is None:  # too few pixels to model: the seeds are the answer
            fg = (seeds == FGD) | (seeds == PR_FGD)
        if self.config.snap:
            fg = _snap_boundary(sub, fg)
        local = pos - np.array([wx1, wy1])
        inside = (local[:, 0] >= 0) & (local[:, 1] >= 0) & (local[:, 0] < sub.shape[1]) & (local[:, 1] < sub.shape[0])
        fg = _components_at(fg, local[inside])
        out = np.zeros((h, w), bool)
        out[wy1:wy2, wx1:wx2] = fg
        return out

    # -- videos ---------------------------------------------------------------------------------
    def _segment_video(self, frames: np.ndarray, times: np.ndarray, key: int, prompt: PixelPrompt) -> np.ndarray:
        cfg = self.config
        t, h, w = frames.shape[:3]
        masks = np.zeros((t, h, w), bool)
        masks[key] = self._segment_image(frames[key], prompt)
        if not masks[key].any() or t == 1:
            return masks
        colour = ColourModel(frames[key], masks[key])
        template = _Template(masks[key])
        grey = np.empty((t, h, w), np.uint8)
        for i in range(t):
            grey[i] = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
        for step in (1, -1):
            prev = masks[key]  # the mask on the previous frame (None while lost)
            track = [(float(times[key]), _centroid(masks[key]))]  # (time, centre) of the masks found
            i = key + step
            while 0 <= i < t:
                if prev is not None:
                    cur = self._propagate(frames[i], grey[i - step], grey[i], prev, colour, template)
                    if cur is not None and cur.sum() < cfg.min_kept * template.area:
                        cur = None  # a sliver of the object (mostly hidden): look for it again instead
                elif abs(times[i] - track[-1][0]) <= cfg.search_seconds:
                    cur = self._redetect(frames[i], float(times[i]), track, template, colour)
                else:
                    break  # lost for too long: empty from here on in this direction
                if cur is not None:
                    masks[i] = cur
                    track.append((float(times[i]), _centroid(cur)))
                prev = cur
                i += step
        return masks

    def _redetect(self, image: np.ndarray, time: float, track: list[tuple[float, np.ndarray]],
                  template: "_Template", colour: ColourModel) -> np.ndarray | None:
        """Look for a lost object again (it was hidden, or left the frame): an object-coloured blob
        near where the object's recent motion puts it now, with the key-frame mask's shape, refined by
        GrabCut and checked as usual. Strict on purpose: a wrong find is worse than none."""
        cfg = self.config
        h, w = image.shape[:2]
        t_last, c_last = track[-1]
        recent = [p for p in track if abs(p[0] - t_last) <= 1.0]
        t0, c0 = recent[0]
        velocity = (c_last - c0) / (t_last - t0) if t_last != t0 else np.zeros(2)
        elapsed = time - t_last
        centre = c_last + velocity * elapsed
        radius = cfg.search_radius * template.size + 0.25 * float(np.hypot(*velocity)) * abs(elapsed)
        if not (-radius <= centre[0] < w + radius and -radius <= centre[1] < h + radius):
            return None
        half = template.size / 2 + radius
        x1, y1 = max(0, int(centre[0] - half)), max(0, int(centre[1] - half))
        x2, y2 = min(w, int(centre[0] + half) + 1), min(h, int(centre[1] + half) + 1)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return None
        blob = (colour.prob(image[y1:y2, x1:x2]) >= 0.5).astype(np.uint8)
        blob = cv2.morphologyEx(blob, cv2.MORPH_OPEN, _ellipse(1))
        n, labels, stats, centres = cv2.connectedComponentsWithStats(blob, connectivity=8)
        min_area = max(_MIN_SAMPLES, cfg.min_found * template.area)
        ok = [j for j in range(1, n) if stats[j, cv2.CC_STAT_AREA] >= min_area]
        if not ok:
            return None
        local = centre - np.array([x1, y1])
        best = min(ok, key=lambda j: float(np.hypot(*(centres[j] - local))))
        seed = np.zeros((h, w), bool)
        seed[y1:y2, x1:x2] = labels == best
        found = self._refine(image, seed, colour, template)
        if found is None or np.hypot(*(_centroid(found) - centre)) > radius:
            return None
        if template.iou(found) < cfg.min_shape:
            return None
        return found

    def _propagate(self, image: np.ndarray, grey_prev: np.ndarray, grey_cur: np.ndarray, prev: np.ndarray,
                   colour: ColourModel, template: "_Template") -> np.ndarray | None:
        """The mask on ``image`` given the mask ``prev`` on the previous frame, or None when lost."""
        h, w = prev.shape
        box = _bbox(prev)
        if box is None:
            return None
        size = max(box[2] - box[0], box[3] - box[1])
        # dense flow on a window around the object: from the current frame back to the previous one,
        # so each current pixel looks up where it came from (backward warping leaves no holes)
        fx1, fy1, fx2, fy2 = _expand(box, max(16, size // 2), w, h)
        flow = cv2.calcOpticalFlowFarneback(grey_cur[fy1:fy2, fx1:fx2], grey_prev[fy1:fy2, fx1:fx2], None,
                                            0.5, 3, 15, 3, 5, 1.2, 0)
        gy, gx = np.mgrid[fy1:fy2, fx1:fx2].astype(np.float32)
        warped_win = cv2.remap(prev.astype(np.uint8), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
        warped = np.zeros((h, w), bool)
        warped[fy1:fy2, fx1:fx2] = warped_win
        return self._refine(image, warped, colour, template)

    def _refine(self, image: np.ndarray, guess: np.ndarray, colour: ColourModel, template: "_Template"
                ) -> np.ndarray | None:
        """GrabCut seeded by a guessed mask (probable foreground on it, sure foreground on its
        object-coloured core, a probable-background band around it, sure background beyond); the
        result, or None when it does not look like the object."""
        cfg = self.config
        h, w = guess.shape
        gbox = _bbox(guess)
        if gbox is None:
            return None
        band = max(4, int(round(cfg.band * max(gbox[2] - gbox[0], gbox[3] - gbox[1], template.size))))
        x1, y1, x2, y2 = _expand(gbox, band + 2, w, h)
        sub, gsub = image[y1:y2, x1:x2], guess[y1:y2, x1:x2]
        prob = colour.prob(sub)
        near = cv2.dilate(gsub.astype(np.uint8), _ellipse(band)).astype(bool)
        core = cv2.erode(gsub.astype(np.uint8), _ellipse(max(1, band // 2))).astype(bool) & (prob >= 0.5)
        seeds = np.full(gsub.shape, BGD, np.uint8)
        seeds[near] = PR_BGD
        seeds[gsub | (near & (prob >= 0.5))] = PR_FGD
        seeds[core] = FGD
        fg = _run_grabcut(sub, seeds, cfg.video_iterations, cfg.video_max_pixels)
        if fg is None or not fg.any():
            return None
        if cfg.snap:
            fg = _snap_boundary(sub, fg)
        fg = _components_touching(fg, gsub)
        if not fg.any():
            return None
        ref = colour.reference
        if float(prob[fg].mean()) < max(cfg.match * ref, min(cfg.min_score, 0.9 * ref)):
            return None
        out = np.zeros((h, w), bool)
        out[y1:y2, x1:x2] = fg
        return out
