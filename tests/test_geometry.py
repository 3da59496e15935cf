"""Geometry: scalar and vectorised measures agree; the number rules of spec/rewards.md."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onethinker.tasks.geometry import (
    as_number, box_iou, box_iou_np, is_json_number, normalized_to_pixels, number_list, pixels_to_normalized,
    point_set_similarity, span_iou, span_iou_np,
)

coord = st.floats(-100, 1100, allow_nan=False)


@settings(max_examples=300)
@given(st.lists(coord, min_size=4, max_size=4), st.lists(coord, min_size=4, max_size=4))
def test_box_iou_flavours_agree(a, b):
    assert box_iou(a, b, min_union=0.0) == pytest.approx(float(box_iou_np([a], [b])[0]), abs=1e-12)
    assert 0.0 <= box_iou(a, b) <= 1.0


@settings(max_examples=300)
@given(st.lists(coord, min_size=2, max_size=2), st.lists(coord, min_size=2, max_size=2))
def test_span_iou_flavours_agree(a, b):
    assert span_iou(a, b, min_union=0.0) == pytest.approx(float(span_iou_np([a], [b])[0]), abs=1e-12)


def test_hand_computed_values():
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([10, 0, 0, 10], [0, 0, 10, 10]) == 0.0  # x2 < x1: area 0
    assert span_iou([0, 10], [5, 15]) == pytest.approx(5 / 15)
    assert span_iou([10, 0], [0, 10]) == 0.0  # inverted: not swapped
    assert span_iou_np([[10, 0]], [[0, 10]], sort=True)[0] == 1.0  # metrics sort first
    assert span_iou([3, 3], [3, 3]) == 0.0  # union 0
    assert box_iou_np([[np.nan] * 4], [[0, 0, 1, 1]])[0] == 0.0  # an unparseable prediction scores 0
    same = [[0, 0], [10, 0], [0, 10]]
    assert point_set_similarity(same, same[::-1]) == 1.0
    shifted = [[x + 30, y + 40] for x, y in same]  # every point 50 away: d = 50
    assert point_set_similarity(shifted, same) == pytest.approx(math.exp(-0.5))


def test_number_rules():
    assert as_number("12.5") == 12.5 and as_number(" 7 ") == 7.0 and as_number(3) == 3.0
    for bad in (True, None, "nan", "inf", float("nan"), float("-inf"), 10**400, "1e400", [1], "x"):
        assert as_number(bad) is None, bad
    assert number_list([1, "2", 3.5, 4], 4) == [1.0, 2.0, 3.5, 4.0]
    assert number_list([1, 2, 3], 4) is None and number_list((1, 2, 3, 4), 4) is None
    assert number_list([1, 2, 3, float("nan")], 4) is None and number_list([1, 2, 3, True], 4) is None
    assert is_json_number(3) and is_json_number(2.5) and not is_json_number("3") and not is_json_number(False)


def test_pixel_conversion_round_trip():
    px = normalized_to_pixels([100, 500, 1000, 250], width=640, height=360)
    assert px == [64.0, 180.0, 640.0, 90.0]
    assert pixels_to_normalized(px, 640, 360) == pytest.approx([100, 500, 1000, 250])
