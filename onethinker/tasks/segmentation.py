"""Segmentation: the model gives a box, 3 positive and 3 negative points (and, for video, a key time);
a promptable segmenter (SAM2) turns them into masks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .geometry import (REWARD_MIN_UNION, box_iou, box_iou_np, is_json_number, number_list, point_list,
                       point_set_similarity, time_similarity)
from .base import Parsed, Task, check_box, check_point, clean_number, dumps, json_object, parse_json_object
from .vectorised import Columns, num, point_sim


@dataclass(frozen=True)
class SegmentationPrompt:
    """The segmenter's prompt in the 0..1000 frame; ``time`` in seconds for video, None for images."""

    box: tuple[float, float, float, float]
    positive: tuple[tuple[float, float], ...]
    negative: tuple[tuple[float, float], ...]
    time: float | None = None


_INSTRUCTION_TAIL = (
    "Choose informative points that help distinguish object vs. background. Prefer negatives on clear non-object "
    "pixels INSIDE the box when safe; otherwise place them just outside on obvious background. "
    "Negatives must NEVER be on the object or on its boundary.\n"
)


class _Segmentation(Task):
    problem_type = "segmentation"
    structured = True
    mask_truth = True
    vectorised = True
    video: bool = False

    def parse(self, answer: str) -> Parsed:
        obj, err = parse_json_object(answer)
        if err:
            return Parsed.fail(err)
        box = number_list(obj.get("boxes"), 4)
        if box is None:
            return Parsed.fail("'boxes' must be a list of 4 numbers [x1, y1, x2, y2]")
        pos, neg = point_list(obj.get("positive_points"), 3), point_list(obj.get("negative_points"), 3)
        if pos is None:
            return Parsed.fail("'positive_points' must be 3 points [x, y]")
        if neg is None:
            return Parsed.fail("'negative_points' must be 3 points [x, y]")
        time = None
        if self.video:
            if not is_json_number(obj.get("time")):
                return Parsed.fail("'time' must be a JSON number (seconds)")
            time = float(obj["time"])
        return Parsed(
            SegmentationPrompt(tuple(box), tuple(map(tuple, pos)), tuple(map(tuple, neg)), time)  # type: ignore[arg-type]
        )

    def format_answer(self, value: SegmentationPrompt) -> str:
        out: dict[str, Any] = {}
        if self.video:
            if value.time is None:
                raise ValueError("video segmentation needs a key time")
            out["time"] = clean_number(value.time, 2)
        out["boxes"] = [clean_number(v, 3) for v in value.box]
        out["positive_points"] = [[clean_number(v, 3) for v in p] for p in value.positive]
        out["negative_points"] = [[clean_number(v, 3) for v in p] for p in value.negative]
        return dumps(out)

    def check_value(self, value: SegmentationPrompt) -> list[str]:
        out = check_box(value.box, "boxes")
        for name, pts in (("positive_points", value.positive), ("negative_points", value.negative)):
            for i, p in enumerate(pts):
                out += check_point(p, f"{name}[{i}]")
        if value.time is not None and value.time < 0:
            out.append(f"time {value.time} is before 0")
        return out

    def times(self, value: SegmentationPrompt) -> list[float]:
        return [] if value.time is None else [value.time]

    def accuracy(self, answer, truth, scorers):
        pred, gt = json_object(answer), json_object(truth)
        if pred is None or gt is None:
            return 0.0
        pb, gb = number_list(pred.get("boxes"), 4), number_list(gt.get("boxes"), 4)
        iou = box_iou(pb, gb) if pb is not None and gb is not None else 0.0
        pos_p, pos_t = point_list(pred.get("positive_points"), 3), point_list(gt.get("positive_points"), 3)
        neg_p, neg_t = point_list(pred.get("negative_points"), 3), point_list(gt.get("negative_points"), 3)
        if pos_p is None or pos_t is None or neg_p is None or neg_t is None:
            return 0.0  # the whole accuracy: points are not optional
        pos_sim = point_set_similarity(pos_p, pos_t)
        neg_sim = point_set_similarity(neg_p, neg_t)
        if not self.video:
            return 0.5 * iou + 0.25 * pos_sim + 0.25 * neg_sim
        t_pred, t_true = pred.get("time"), gt.get("time")
        if not is_json_number(t_pred) or not is_json_number(t_true):
            return 0.0
        return 0.3 * iou + 0.3 * time_similarity(float(t_pred), float(t_true)) + 0.2 * pos_sim + 0.2 * neg_sim

    def structure(self, answer, truth):
        obj = json_object(answer)
        if obj is None:
            return 0.0
        ok = (
            number_list(obj.get("boxes"), 4) is not None
            and point_list(obj.get("positive_points"), 3) is not None
            and point_list(obj.get("negative_points"), 3) is not None
        )
        if self.video:
            ok = ok and is_json_number(obj.get("time"))
        return 0.5 if ok else 0.0

    def vector_parse(self, texts, table_keys=None):
        return Columns(texts).boxes().points().key_time()

    def vector_parts(self, cand, i, truth):
        iou = box_iou_np(cand.box[i][None, :], truth.box, min_union=REWARD_MIN_UNION)
        pos, neg = point_sim(cand.pos[i], truth.pos), point_sim(cand.neg[i], truth.neg)
        ok = truth.points_ok & cand.points_ok[i]
        if not self.video:
            acc = np.where(ok, 0.5 * iou + 0.25 * pos + 0.25 * neg, 0.0)
            structure_ok = cand.points_ok[i] and np.isfinite(cand.box[i]).all()
        else:
            ok = ok & truth.time_ok & cand.time_ok[i]
            tsim = np.nan_to_num(np.exp(-np.abs(cand.time[i] - truth.time) / 2.0), nan=0.0)
            acc = np.where(ok, 0.3 * iou + 0.3 * tsim + 0.2 * pos + 0.2 * neg, 0.0)
            structure_ok = cand.points_ok[i] and cand.time_ok[i] and np.isfinite(cand.box[i]).all()
        return acc, np.full(truth.n, 0.5) if structure_ok else np.zeros(truth.n)

    def median_answer(self, texts):
        p = self.vector_parse(texts)
        ok = p.points_ok & np.isfinite(p.box).all(1)
        if self.video:
            ok &= p.time_ok
        if not ok.any():
            return None
        out: dict[str, Any] = {}
        if self.video:
            out["time"] = clean_number(float(np.median(p.time[ok])), 2)
        out["boxes"] = [num(v) for v in np.median(p.box[ok], axis=0)]
        out["positive_points"] = [[num(v) for v in pt] for pt in np.median(p.pos[ok], axis=0)]
        out["negative_points"] = [[num(v) for v in pt] for pt in np.median(p.neg[ok], axis=0)]
        return dumps(out)


class ImageSegmentation(_Segmentation):
    key = "segmentation/image"
    metric = "referring_segmentation"
    picture = "mask"
    data_types = ("image",)
    video = False
    instruction = (
        "This task prepares inputs for image object segmentation with a specialized model (e.g., SAM2).\n"
        "Please provide ONE bounding box, 3 positive points (clearly INSIDE the object), and 3 negative points "
        "(clearly OUTSIDE the object) within the <answer>...</answer> tags.\n"
        + _INSTRUCTION_TAIL
        + "Example:\n"
        '<answer>{"boxes": [x1, y1, x2, y2], "positive_points": [[x,y],[x,y],[x,y]], '
        '"negative_points": [[x,y],[x,y],[x,y]]}</answer>'
    )


class VideoSegmentation(_Segmentation):
    key = "segmentation/video"
    metric = "vos"
    picture = "mask"
    data_types = ("video",)
    video = True
    instruction = (
        "This task prepares inputs for video object segmentation with a specialized model (e.g., SAM2).\n"
        "Please select ONE representative time (in seconds), and provide ONE bounding box, "
        "3 positive points (clearly INSIDE the object), and 3 negative points (clearly OUTSIDE the object) "
        "within the <answer>...</answer> tags.\n"
        + _INSTRUCTION_TAIL
        + "Example:\n"
        '<answer>{"time": <time_in_seconds>, "boxes": [x1, y1, x2, y2], '
        '"positive_points": [[x,y],[x,y],[x,y]], "negative_points": [[x,y],[x,y],[x,y]]}</answer>'
    )
