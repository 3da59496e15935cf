"""Grounding and tracking: JSON answers with spans (seconds) and boxes (0..1000 frame)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .geometry import REWARD_MIN_UNION, box_iou, box_iou_np, number_list, span_iou, span_iou_np
from .base import Parsed, Task, check_box, check_span, clean_number, dumps, json_object, parse_json_object
from .vectorised import Columns, median, median_table, num, table_iou

Span = tuple[float, float]
Box = tuple[float, float, float, float]


# ---------------------------------------------------------------------------------------------
# strict parsing helpers (evaluation, data checks)
# ---------------------------------------------------------------------------------------------
def _strict_span(obj: dict, field: str = "time") -> tuple[Span | None, str | None]:
    span = number_list(obj.get(field), 2)
    if span is None:
        return None, f"'{field}' must be a list of 2 numbers [start, end] in seconds"
    return (span[0], span[1]), None


def _strict_box(value: Any, where: str) -> tuple[Box | None, str | None]:
    box = number_list(value, 4)
    if box is None:
        return None, f"{where} must be a list of 4 numbers [x1, y1, x2, y2]"
    return (box[0], box[1], box[2], box[3]), None


def _strict_box_table(obj: dict) -> tuple[dict[int, Box] | None, str | None]:
    boxes = obj.get("boxes")
    if not isinstance(boxes, dict):
        return None, "'boxes' must be an object mapping seconds to boxes"
    out: dict[int, Box] = {}
    for key, value in boxes.items():
        try:
            second = int(key)
        except ValueError:
            return None, f"'boxes' key {key!r} is not an integer second"
        if str(second) != key.strip():
            return None, f"'boxes' key {key!r} is not an integer second"
        box, err = _strict_box(value, f"'boxes'[{key!r}]")
        if err:
            return None, err
        out[second] = box
    return out, None


def _num(x: float) -> int | float:
    return clean_number(x, 3)


def _box_out(box: Sequence[float]) -> list:
    return [_num(v) for v in box]


def _table_out(boxes: Mapping[int, Sequence[float]]) -> dict[str, list]:
    return {str(int(k)): _box_out(v) for k, v in sorted(boxes.items())}


# ---------------------------------------------------------------------------------------------
# reward helpers (spec/rewards.md: a malformed part scores 0 for that part only)
# ---------------------------------------------------------------------------------------------
def _reward_span_iou(a: Any, b: Any) -> float:
    sa, sb = number_list(a, 2), number_list(b, 2)
    if sa is None or sb is None:
        return 0.0
    return span_iou(sa, sb)


def _reward_box_iou(a: Any, b: Any) -> float:
    ba, bb = number_list(a, 4), number_list(b, 4)
    if ba is None or bb is None:
        return 0.0
    return box_iou(ba, bb)


def _all_boxes(table: Any) -> bool:
    return isinstance(table, dict) and all(number_list(v, 4) is not None for v in table.values())


def _key_overlap(pred: dict | None, truth: dict | None) -> float:
    """0.25 * |pred keys & truth keys| / |truth keys| when both 'boxes' are objects, truth non-empty."""
    if not isinstance(pred, dict) or not isinstance(truth, dict):
        return 0.0
    pb, tb = pred.get("boxes", {}), truth.get("boxes", {})
    if not isinstance(pb, dict) or not isinstance(tb, dict) or not tb:
        return 0.0
    return 0.25 * max(0.0, min(1.0, len(pb.keys() & tb.keys()) / float(len(tb))))


# ---------------------------------------------------------------------------------------------
class TemporalGrounding(Task):
    key = problem_type = "temporal grounding"
    metric = "temporal_grounding"
    vectorised = True
    picture = "span"
    data_types = ("video",)
    structured = True
    instruction = (
        "Please provide only the time span in seconds as JSON within the <answer>...</answer> tags.\n"
        'Example:\n<answer>{"time": [12.3, 25.7]}</answer>'
    )

    def parse(self, answer: str) -> Parsed:
        obj, err = parse_json_object(answer)
        if err:
            return Parsed.fail(err)
        span, err = _strict_span(obj)
        return Parsed.fail(err) if err else Parsed(span)

    def format_answer(self, value: Sequence[float]) -> str:
        return dumps({"time": [_num(value[0]), _num(value[1])]})

    def check_value(self, value: Span) -> list[str]:
        return check_span(value)

    def times(self, value: Span) -> list[float]:
        return [value[1]]

    def accuracy(self, answer, truth, scorers):
        pred, gt = json_object(answer), json_object(truth)
        if pred is None or gt is None:
            return 0.0
        return _reward_span_iou(pred.get("time"), gt.get("time"))

    def structure(self, answer, truth):
        obj = json_object(answer)
        return 0.5 if obj is not None and number_list(obj.get("time"), 2) is not None else 0.0

    def vector_parse(self, texts, table_keys=None):
        return Columns(texts).spans()

    def vector_parts(self, cand, i, truth):
        acc = span_iou_np(np.broadcast_to(cand.span[i], truth.span.shape), truth.span, min_union=REWARD_MIN_UNION)
        return acc, np.full(truth.n, 0.5) if np.isfinite(cand.span[i]).all() else np.zeros(truth.n)

    def median_answer(self, texts):
        v = median(self.vector_parse(texts).span)
        return None if v is None or not np.isfinite(v).all() else self.format_answer(tuple(map(float, v)))


class SpatialGrounding(Task):
    key = problem_type = "spatial grounding"
    metric = "rec"
    vectorised = True
    picture = "box"
    data_types = ("image",)
    structured = True
    instruction = (
        "Please provide only the bounding box as JSON with key 'boxes' within the <answer>...</answer> tags.\n"
        'Example:\n<answer>{"boxes": [35, 227, 437, 932]}</answer>'
    )

    def parse(self, answer: str) -> Parsed:
        obj, err = parse_json_object(answer)
        if err:
            return Parsed.fail(err)
        box, err = _strict_box(obj.get("boxes"), "'boxes'")
        return Parsed.fail(err) if err else Parsed(box)

    def format_answer(self, value: Sequence[float]) -> str:
        return dumps({"boxes": _box_out(value)})

    def check_value(self, value: Box) -> list[str]:
        return check_box(value, "boxes")

    def accuracy(self, answer, truth, scorers):
        pred, gt = json_object(answer), json_object(truth)
        if pred is None or gt is None:
            return 0.0
        return _reward_box_iou(pred.get("boxes"), gt.get("boxes"))

    def structure(self, answer, truth):
        obj = json_object(answer)
        return 0.5 if obj is not None and number_list(obj.get("boxes"), 4) is not None else 0.0

    def vector_parse(self, texts, table_keys=None):
        return Columns(texts).boxes()

    def vector_parts(self, cand, i, truth):
        acc = box_iou_np(cand.box[i][None, :], truth.box, min_union=REWARD_MIN_UNION)
        return acc, np.full(truth.n, 0.5) if np.isfinite(cand.box[i]).all() else np.zeros(truth.n)

    def median_answer(self, texts):
        v = median(self.vector_parse(texts).box)
        return None if v is None or not np.isfinite(v).all() else self.format_answer(tuple(map(float, v)))


class SpatioTemporalGrounding(Task):
    key = problem_type = "spatial-temporal grounding"
    metric = "stvg"
    vectorised = True
    picture = "tube"
    data_types = ("video",)
    structured = True
    instruction = (
        "Please provide only the time span in seconds and bounding boxes as JSON within the <answer>...</answer> tags.\n"
        "You MUST output one bounding box for every integer second within the given time span (inclusive).\n"
        "Example:\n"
        '<answer>{"time": [8.125, 13.483], "boxes": {"9": [317, 422, 582, 997], '
        '"10": [332, 175, 442, 369], "11": [340, 180, 450, 370]}}</answer>\n'
        "Note: Each key in 'boxes' must be an integer second within the span, and its value must be a "
        "4-number bounding box [x1, y1, x2, y2]."
    )

    def parse(self, answer: str) -> Parsed:
        obj, err = parse_json_object(answer)
        if err:
            return Parsed.fail(err)
        span, err = _strict_span(obj)
        if err:
            return Parsed.fail(err)
        boxes, err = _strict_box_table(obj)
        if err:
            return Parsed.fail(err)
        return Parsed({"time": span, "boxes": boxes})

    def format_answer(self, value: Mapping[str, Any]) -> str:
        t = value["time"]
        return dumps({"time": [_num(t[0]), _num(t[1])], "boxes": _table_out(value["boxes"])})

    def check_value(self, value: Mapping[str, Any]) -> list[str]:
        out = check_span(value["time"])
        s, e = value["time"]
        if not value["boxes"]:
            out.append("'boxes' is empty")
        for sec, box in value["boxes"].items():
            out += check_box(box, f"boxes[{sec}]")
            if not s - 1 < sec < e + 1:
                out.append(f"boxes key {sec} is not a second within the span {list(value['time'])}")
        return out

    def times(self, value: Mapping[str, Any]) -> list[float]:
        return [value["time"][1], *map(float, value["boxes"])]

    def accuracy(self, answer, truth, scorers):
        pred, gt = json_object(answer), json_object(truth)
        if pred is None or gt is None:
            return 0.0
        tiou = _reward_span_iou(pred.get("time"), gt.get("time"))
        pb, gb = pred.get("boxes"), gt.get("boxes")
        miou = 0.0
        if isinstance(pb, dict) and isinstance(gb, dict):
            common = [k for k in pb if k in gb]
            if common:
                miou = sum(_reward_box_iou(pb[k], gb[k]) for k in common) / len(common)
        return 0.5 * tiou + 0.5 * miou

    def structure(self, answer, truth):
        pred, gt = json_object(answer), json_object(truth)
        score = 0.0
        if pred is not None:
            t = pred.get("time")
            if isinstance(t, list) and len(t) == 2 and _all_boxes(pred.get("boxes")):
                score += 0.25
        return score + _key_overlap(pred, gt)

    def vector_parse(self, texts, table_keys=None):
        return Columns(texts).spans().tables(table_keys).time_lists()

    def vector_parts(self, cand, i, truth):
        iou, both_tables, overlap = table_iou(cand, i, truth)
        tiou = span_iou_np(np.broadcast_to(cand.span[i], truth.span.shape), truth.span, min_union=REWARD_MIN_UNION)
        common = truth.present & cand.present[i][None, :]
        n_common = common.sum(1)
        miou = np.where(both_tables & (n_common > 0), (iou * common).sum(1) / np.maximum(n_common, 1), 0.0)
        acc = 0.5 * tiou + 0.5 * miou
        structure = (0.25 if (cand.time_list[i] and cand.all_boxes[i]) else 0.0) + overlap
        return acc, structure

    def median_answer(self, texts):
        p = self.vector_parse(texts)
        table = median_table(p)
        if not table:
            return None
        span = median(p.span)
        if span is None or not np.isfinite(span).all():
            return None
        return dumps({"time": [num(span[0]), num(span[1])], "boxes": table})


class Tracking(Task):
    key = problem_type = "tracking"
    metric = "got10k"
    vectorised = True
    picture = "track"
    data_types = ("video",)
    structured = True
    instruction = (
        "Please track the target object throughout the video and provide one bounding box per second, "
        "ONLY up to 32 seconds, within the <answer>...</answer> tags.\n"
        "Example:\n"
        '<answer>{"boxes": {"1": [405, 230, 654, 463], "2": [435, 223, 678, 446], ..., '
        '"32": [415, 203, 691, 487]}}</answer>\n'
        "Note: Each key in 'boxes' must correspond to a second (1, 2, 3, ..., 32) and contain a 4-number "
        "bounding box [x1, y1, x2, y2]."
    )

    def parse(self, answer: str) -> Parsed:
        obj, err = parse_json_object(answer)
        if err:
            return Parsed.fail(err)
        boxes, err = _strict_box_table(obj)
        return Parsed.fail(err) if err else Parsed(boxes)

    def format_answer(self, value: Mapping[int, Sequence[float]]) -> str:
        return dumps({"boxes": _table_out(value)})

    def check_value(self, value: Mapping[int, Box]) -> list[str]:
        out = [] if value else ["'boxes' is empty"]
        for sec, box in value.items():
            out += check_box(box, f"boxes[{sec}]")
            if not 1 <= sec <= 32:
                out.append(f"boxes key {sec} is outside the seconds 1..32")
        return out

    def times(self, value: Mapping[int, Box]) -> list[float]:
        return [float(k) for k in value]

    def accuracy(self, answer, truth, scorers):
        pred, gt = json_object(answer), json_object(truth)
        if pred is None or gt is None:
            return 0.0
        pb, gb = pred.get("boxes"), gt.get("boxes")
        if not isinstance(pb, dict) or not isinstance(gb, dict) or not gb:
            return 0.0
        return sum(_reward_box_iou(pb.get(k), gbox) for k, gbox in gb.items()) / len(gb)

    def structure(self, answer, truth):
        pred, gt = json_object(answer), json_object(truth)
        score = 0.25 if pred is not None and _all_boxes(pred.get("boxes")) else 0.0
        return score + _key_overlap(pred, gt)

    def vector_parse(self, texts, table_keys=None):
        return Columns(texts).tables(table_keys)

    def vector_parts(self, cand, i, truth):
        iou, both_tables, overlap = table_iou(cand, i, truth)
        n_truth = truth.present.sum(1)
        acc = np.where(both_tables & (n_truth > 0), (iou * truth.present).sum(1) / np.maximum(n_truth, 1), 0.0)
        structure = (0.25 if cand.all_boxes[i] else 0.0) + overlap
        return acc, structure

    def median_answer(self, texts):
        # the keys in first-seen order, as the answers give them (not format_answer's sorted seconds)
        table = median_table(self.vector_parse(texts))
        return dumps({"boxes": table}) if table else None
