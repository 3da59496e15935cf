"""Video frame sampling throughput: ``onethinker.data.media.sample_video`` against qwen-vl-utils' ``fetch_video``.

    python benchmarks/video_sampling.py [--durations 10 60] [--fps 2] [--repeats 3] [--gop N] [--calibrate]

Synthesises 640x360, 30 fps clips of moving shapes (one per duration) with ``write_video`` (libx264,
crf 18, preset medium, x264's default 250-frame GOP and 3 B-frames unless --gop) in a temporary folder,
then samples each at ``--fps`` with
- onethinker: ``sample_video(method="auto")``, and ``"sequential"`` and ``"seek"`` separately;
- qwen-vl-utils: ``fetch_video`` (the reference loader of the Qwen-VL models) with the same fps,
  min/max frames and pixel bounds.
Both resize to the same size: Qwen3-VL's factor 32 (patch 16 x merge 2) with qwen-vl-utils' video
bounds, min_pixels = 128 x 32 x 32 and max_pixels = 768 x 32 x 32, which gives 640x352 for 640x360
(qwen-vl-utils caps max_pixels further by its total-pixel budget, which these clips do not reach).
Runs alternate between the loaders (``--repeats``) after one untimed warm-up each (file in the page
cache, libraries loaded); medians (and min-max) are reported. It prints frames/s for each and the ratio ours/qwen,
checks that both return the same number of frames of the same size, and measures how far our pixels
are from qwen's pipeline (decord + torch bicubic) on the same source frames.

qwen-vl-utils reads videos with torchcodec, decord or torchvision (in that order of preference);
torchvision >= 0.24 no longer has ``read_video``, so one of the first two must be installed
(``pip install decord``). ``--qwen-backend`` forces one.

``--calibrate`` instead fits the cost model behind ``method="auto"``: it times both strategies on
clips with long (250) and short (30) GOPs over several frame patterns and regresses time on frames
decoded and seeks, printing the seek penalty in frames (``SEEK_PENALTY_FRAMES``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from onethinker.data import media
from onethinker.data.media import fit_pixels, probe_video, sample_video, write_video

WIDTH, HEIGHT, SRC_FPS = 640, 360, 30
FACTOR = 32  # Qwen3-VL: patch 16 x spatial merge 2
MIN_PIXELS = 128 * FACTOR * FACTOR  # qwen-vl-utils VIDEO_MIN_TOKEN_NUM x factor^2
MAX_PIXELS = 768 * FACTOR * FACTOR  # qwen-vl-utils VIDEO_MAX_TOKEN_NUM x factor^2


def moving_shapes(n_frames: int, width: int = WIDTH, height: int = HEIGHT, seed: int = 0):
    """Frames of a gradient background with 8 moving circles/squares and the frame number drawn on."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    bg = np.zeros((height, width, 3), np.uint8)
    bg[..., 0] = xx * 255 // width
    bg[..., 2] = yy * 255 // height
    shapes = [(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-6, 6), rng.uniform(-4, 4),
               int(rng.integers(10, 40)), tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in range(8)]
    for i in range(n_frames):
        f = bg.copy()
        for k, (x, y, vx, vy, r, colour) in enumerate(shapes):
            px, py = int((x + vx * i) % width), int((y + vy * i) % height)
            if k % 2:
                cv2.circle(f, (px, py), r, colour, -1)
            else:
                cv2.rectangle(f, (px - r, py - r), (px + r, py + r), colour, -1)
        cv2.putText(f, str(i), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
        yield f


def make_clips(folder: Path, durations: list[float], gop: int | None) -> list[Path]:
    paths = []
    for secs in durations:
        path = folder / f"shapes_{secs:g}s.mp4"
        t0 = time.perf_counter()
        encoder = write_video(path, moving_shapes(int(round(secs * SRC_FPS))), SRC_FPS, gop=gop)
        info = probe_video(path)
        print(f"clip {path.name}: {info.width}x{info.height}, {info.n_frames} frames at {info.fps:g} fps, "
              f"{path.stat().st_size / 1e6:.1f} MB, {encoder}, GOP {gop or 250}; written in "
              f"{time.perf_counter() - t0:.1f} s")
        paths.append(path)
    return paths


def qwen_fetch(path: Path, fps: float, min_frames: int, max_frames: int):
    from qwen_vl_utils import fetch_video

    return fetch_video({"video": str(path), "fps": fps, "min_frames": min_frames, "max_frames": max_frames,
                        "min_pixels": MIN_PIXELS, "max_pixels": MAX_PIXELS},
                       image_patch_size=FACTOR // 2, return_video_metadata=True)


def ours(path: Path, fps: float, min_frames: int, max_frames: int, method: str):
    return sample_video(path, fps=fps, min_frames=min_frames, max_frames=max_frames, min_pixels=MIN_PIXELS,
                        max_pixels=MAX_PIXELS, factor=FACTOR, method=method)


def pixel_gap(path: Path, clip) -> float | None:
    """Mean |ours - qwen pipeline| over our sampled frames: the same source frames decoded by decord
    and resized with torch bicubic+antialias as qwen-vl-utils does (None without decord)."""
    try:
        import decord
        import torch
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as TF
    except ImportError:
        return None
    vr = decord.VideoReader(str(path))
    ref = torch.tensor(vr.get_batch(clip.frame_indices.tolist()).asnumpy()).permute(0, 3, 1, 2)
    h, w = clip.frames.shape[1:3]
    ref = TF.resize(ref, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True).float()
    ref = ref.round().clamp(0, 255).permute(0, 2, 3, 1).numpy()
    return float(np.abs(ref - clip.frames.astype(np.float32)).mean())


def bench(paths: list[Path], args) -> int:
    if args.qwen_backend:
        os.environ["FORCE_QWENVL_VIDEO_READER"] = args.qwen_backend
    try:
        import qwen_vl_utils  # noqa: F401
        from qwen_vl_utils.vision_process import get_video_reader_backend
        backend = get_video_reader_backend()
    except ImportError as e:
        print(f"qwen-vl-utils not importable ({e}); install the dev extra", file=sys.stderr)
        return 2
    if backend == "torchvision":
        import torchvision
        import torchvision.io

        if not hasattr(torchvision.io, "read_video"):
            print(f"qwen-vl-utils would read videos with torchvision, but torchvision {torchvision.__version__} has "
                  "no read_video: install decord or torchcodec (pip install decord)", file=sys.stderr)
            return 2
    size = fit_pixels(WIDTH, HEIGHT, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, factor=FACTOR)
    print(f"sampling at {args.fps:g} fps, min_frames {args.min_frames}, max_frames {args.max_frames}, "
          f"min_pixels {MIN_PIXELS}, max_pixels {MAX_PIXELS}, factor {FACTOR} -> {size[0]}x{size[1]} for both")
    print(f"qwen-vl-utils backend: {backend}; onethinker: PyAV {__import__('av').__version__}, "
          f"{os.cpu_count()} cores, decoder threads auto; medians of {args.repeats} alternating runs")
    bad = 0
    loaders = {
        "ours auto": lambda p: ours(p, args.fps, args.min_frames, args.max_frames, "auto"),
        "ours sequential": lambda p: ours(p, args.fps, args.min_frames, args.max_frames, "sequential"),
        "ours seek": lambda p: ours(p, args.fps, args.min_frames, args.max_frames, "seek"),
        "qwen fetch_video": lambda p: qwen_fetch(p, args.fps, args.min_frames, args.max_frames),
    }
    for path in paths:
        info = probe_video(path)
        results = {name: fn(path) for name, fn in loaders.items()}  # warm-up, untimed
        times: dict[str, list[float]] = {name: [] for name in loaders}
        for _ in range(args.repeats):
            for name, fn in loaders.items():
                t0 = time.perf_counter()
                results[name] = fn(path)
                times[name].append(time.perf_counter() - t0)
        auto = results["ours auto"]
        qvideo, qmeta = results["qwen fetch_video"]
        n_q = int(qvideo.shape[0])
        med = {name: statistics.median(ts) for name, ts in times.items()}
        print(f"\n{path.name} ({info.duration:g} s, {info.n_frames} frames); auto chose {auto.method}")
        for name in loaders:
            n = len(results[name]) if name.startswith("ours") else n_q
            extra = ""
            if name.startswith("ours"):
                extra = f"  ratio ours/qwen {(n / med[name]) / (n_q / med['qwen fetch_video']):5.2f}x"
            spread = f"({min(times[name]) * 1000:.0f}-{max(times[name]) * 1000:.0f})"
            print(f"  {name:17s} {n:4d} frames  {med[name] * 1000:8.1f} ms {spread:>11s}  {n / med[name]:7.1f} frames/s"
                  f"{extra}")
        same = [np.array_equal(results[name].frames, auto.frames) for name in ("ours sequential", "ours seek")]
        q_idx = np.asarray(qmeta["frames_indices"])
        shape_ok = tuple(qvideo.shape[2:]) == auto.frames.shape[1:3]
        count_ok = len(auto) == n_q
        gap = pixel_gap(path, auto)
        print(f"  check: frames ours {len(auto)} vs qwen {n_q} ({'match' if count_ok else 'DIFFER'}); size "
              f"{auto.frames.shape[2]}x{auto.frames.shape[1]} vs {qvideo.shape[3]}x{qvideo.shape[2]} "
              f"({'match' if shape_ok else 'DIFFER'}); sequential == seek == auto: {all(same)}")
        print(f"  indices: ours {auto.frame_indices[:4].tolist()}...{auto.frame_indices[-1]} "
              f"(every {1 / args.fps:g} s), qwen {q_idx[:4].tolist()}...{q_idx[-1]} (linspace over the clip, ends "
              f"included); max |difference| {int(np.abs(auto.frame_indices - q_idx).max()) if count_ok else 'n/a'} "
              f"source frames")
        if gap is not None:
            print(f"  pixels: mean |ours - (decord + torch bicubic)| on our frames = {gap:.2f} / 255 "
                  f"(swscale vs torch bicubic resampling)")
        bad += (not count_ok) + (not shape_ok) + (not all(same))
    if bad:
        print(f"\n{bad} check(s) failed", file=sys.stderr)
    return 1 if bad else 0


def calibrate(folder: Path, args) -> int:
    """Fit time = a x frames decoded + b x seeks over both strategies; print b / a (frames per seek)."""
    import av

    rows = []
    for gop in (None, 30):
        path = folder / f"calib_gop{gop or 250}.mp4"
        write_video(path, moving_shapes(60 * SRC_FPS), SRC_FPS, gop=gop)
        n = probe_video(path).n_frames
        patterns = {"2fps": list(range(0, n, 15)), "8 spread": list(range(0, n, n // 8)),
                    "32 spread": list(range(0, n, n // 32)), "every 2 s": list(range(10, n, 60)),
                    "every 1 s": list(range(10, n, 30)), "10-s window": list(range(n // 2, n // 2 + 300, 15))}
        for pname, targets in patterns.items():
            for method in ("sequential", "seek"):
                best = None
                for _ in range(args.repeats):
                    container, stream = media._open_video(path)
                    info = media._probe(container, stream, path)
                    clock = media._Clock(stream, info.fps)
                    kf = media._keyframe_indices(container, stream, clock, path)
                    stream.codec_context.thread_type = "AUTO"
                    t0 = time.perf_counter()
                    _, _, _, dec = media._decode_frames(container, stream, clock, path, targets, method, kf,
                                                        fit_pixels(WIDTH, HEIGHT, max_pixels=MAX_PIXELS, factor=FACTOR))
                    dt = time.perf_counter() - t0
                    container.close()
                    best = dt if best is None else min(best, dt)
                planned = media._plan_costs(targets, kf)[method]
                rows.append((planned[0], planned[1], best))
                print(f"GOP {gop or 250:3d} {pname:11s} {method:10s} {best * 1000:7.1f} ms  decoded {dec.decoded:5d} "
                      f"(planned {planned[0]:5d})  seeks {dec.seeks:3d}")
    x = np.array([(d, s) for d, s, _ in rows], float)
    y = np.array([t for _, _, t in rows])
    (a, b), *_ = np.linalg.lstsq(x, y, rcond=None)
    print(f"fit: {a * 1e3:.3f} ms per frame decoded, {b * 1e3:.2f} ms per seek -> seek penalty {b / a:.1f} frames "
          f"(SEEK_PENALTY_FRAMES = {media.SEEK_PENALTY_FRAMES:g}); PyAV {av.__version__}, {os.cpu_count()} cores")
    wrong = 0
    for i in range(0, len(rows), 2):
        (ds, ss, ts), (dk, sk, tk) = rows[i], rows[i + 1]
        chosen_seek = dk + media.SEEK_PENALTY_FRAMES * sk < ds + media.SEEK_PENALTY_FRAMES * ss
        faster_seek = tk < ts
        wrong += chosen_seek != faster_seek and abs(tk - ts) > 0.1 * min(tk, ts)
    print(f"auto's choice was the slower one by more than 10% in {wrong} of {len(rows) // 2} cases")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--durations", type=float, nargs="+", default=[10, 60], help="clip lengths in seconds")
    ap.add_argument("--fps", type=float, default=2.0, help="sampling rate")
    ap.add_argument("--min-frames", type=int, default=4, help="qwen-vl-utils' FPS_MIN_FRAMES default")
    ap.add_argument("--max-frames", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gop", type=int, default=None, help="keyframe interval of the clips (x264 default 250)")
    ap.add_argument("--qwen-backend", choices=["decord", "torchcodec", "torchvision"], default=None)
    ap.add_argument("--keep", type=Path, default=None, help="write the clips here instead of a temporary folder")
    ap.add_argument("--calibrate", action="store_true", help="fit the seek penalty of method='auto' instead")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="video_sampling_") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if args.calibrate:
            return calibrate(folder, args)
        return bench(make_clips(folder, args.durations, args.gop), args)


if __name__ == "__main__":
    sys.exit(main())
