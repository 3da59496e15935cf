"""Segmentation quality of the classical fallback (GrabCut) on synthetic items, with ground-truth prompts.

    python benchmarks/segmentation.py [--items 40] [--seed 2] [--video-share 0.5] [--workers 2] [--out DIR]

Writes a synthetic held-out pool of segmentation items only (``onethinker.synthetic.corpus``: images and mp4
videos with exact masks), then, for each item, gives the segmenter the item's own true prompt (box, 3
positive and 3 negative points, key time for video) and scores its masks against the true ones with the
evaluation's metrics: cIoU and gIoU for images (``metrics.referring_segmentation``), J, F and J&F for
videos (``metrics.vos``, every frame of the clip). Prints the figures, the number of items and the seconds
per item. This is the figure the README quotes for the fallback; SAM2 needs a checkpoint
(``--segmenter sam2 --sam2-checkpoint FILE --sam2-config NAME``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from onethinker.data.media import load_image, sample_video
from onethinker.synthetic.corpus import SynthConfig, synthesize
from onethinker.evaluate import metrics
from onethinker.tasks.response import extract_answer
from onethinker.segment import build_segmenter
from onethinker.tasks import get_task


def decode(rle: dict) -> np.ndarray:
    counts = rle["counts"]
    return mask_utils.decode({"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
                             ).astype(bool)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=40, help="held-out segmentation items (default 40)")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--video-share", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=2, help="rendering processes")
    ap.add_argument("--segmenter", default="grabcut", choices=("grabcut", "sam2"))
    ap.add_argument("--sam2-checkpoint")
    ap.add_argument("--sam2-config")
    ap.add_argument("--out", help="corpus folder (default: a temporary one)")
    args = ap.parse_args(argv)

    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="seg-bench-"))
    cfg = SynthConfig(seed=args.seed, sft=0, rl=0, heldout=args.items, heldout_video_share=args.video_share,
                      tasks=["segmentation/image", "segmentation/video"], workers=args.workers)
    t0 = time.perf_counter()
    synthesize(cfg, root)
    print(f"corpus: {root} ({time.perf_counter() - t0:.1f} s)")
    seg = build_segmenter(args.segmenter, sam2_checkpoint=args.sam2_checkpoint, sam2_config=args.sam2_config)

    image_pred, image_true, videos, seconds = [], [], [], {"image": [], "video": []}
    for r in json.loads((root / "eval_synthetic.json").read_text()):
        if r["problem_type"] != "segmentation":
            continue
        task = get_task(r["problem_type"], r["data_type"])
        prompt = task.parse(extract_answer(r["solution"])).value
        rles = r["segmentation_output"]["segmentation_rle"]
        t0 = time.perf_counter()
        if r["data_type"] == "image":
            mask = seg.segment_image(np.asarray(load_image(root / r["path"])), prompt)
            image_pred.append(mask)
            image_true.append(decode(rles))
        else:
            clip = sample_video(root / r["path"], fps=r["fps"], max_frames=10_000)
            masks = seg.segment_video(clip.frames, clip.timestamps, prompt)
            keys = [str(int(i)) for i in clip.frame_indices]
            truth = np.stack([decode(rles[k]) for k in keys])
            videos.append((masks, truth))
        seconds[r["data_type"]].append(time.perf_counter() - t0)

    print(f"segmenter: {seg.name}")
    if image_pred:
        m = metrics.referring_segmentation(image_pred, image_true)
        print(f"images: {len(image_pred)} items, cIoU {m['cIoU']:.4f}, gIoU {m['gIoU']:.4f}, "
              f"{statistics.mean(seconds['image']):.3f} s per image")
    if videos:
        m = metrics.vos(videos)
        per_video_j = [metrics.j_and_f(p, g)["J"] for p, g in videos]
        print(f"videos: {len(videos)} items, J {m['J']:.4f} (per video {min(per_video_j):.3f}-{max(per_video_j):.3f}), "
              f"F {m['F']:.4f}, J&F {m['J&F']:.4f}, {statistics.mean(seconds['video']):.2f} s per clip")
    if not image_pred and not videos:
        print("no segmentation items were generated", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
