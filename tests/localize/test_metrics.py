"""IoU, IoBB, ChestX-ray8 accuracy / AFP and the pointing game on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cxrkit.localize.metrics import accuracy_afp, case_result, iobb, iou, pointing_hit
from cxrkit.types import Box


def test_iou_and_iobb_hand_computed() -> None:
    truth = (0, 0, 10, 10)  # area 100
    pred = (5, 5, 25, 15)  # area 200, intersection 5x5 = 25
    assert iou(pred, truth) == pytest.approx(25 / (100 + 200 - 25))
    assert iobb(pred, truth) == pytest.approx(25 / 200)  # over the detected (predicted) box
    inner = Box(2, 2, 4, 4)
    assert iobb(inner, truth) == 1.0 and iou(inner, truth) == pytest.approx(4 / 100)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0 and iobb((0, 0, 0, 0), truth) == 0.0


def test_case_result_counts_unmatched_predictions() -> None:
    truths = [(0, 0, 10, 10)]
    preds = [(0, 0, 20, 20), (50, 50, 60, 60)]  # IoBB 0.25 and 0
    assert case_result(preds, truths, 0.1) == (True, 1)
    assert case_result(preds, truths, 0.25) == (False, 2)  # strictly greater than T
    assert case_result(preds, truths, 0.2, "iou") == (True, 1)  # IoU 100/400 = 0.25
    assert case_result([], truths, 0.1) == (False, 0)


def test_accuracy_afp_over_cases() -> None:
    preds = [[(0, 0, 10, 10)], [(0, 0, 10, 10), (30, 30, 40, 40)], []]
    truths = [[(0, 0, 10, 10)], [(100, 100, 110, 110)], [(0, 0, 5, 5)]]
    s01, s09 = accuracy_afp(preds, truths, (0.1, 0.9))
    assert s01.n_cases == 3 and s01.accuracy == pytest.approx(1 / 3) and s01.afp == pytest.approx(2 / 3)
    assert s09.accuracy == pytest.approx(1 / 3)


def test_no_cases_gives_nan_with_warning() -> None:
    with pytest.warns(RuntimeWarning):
        (s,) = accuracy_afp([], [], (0.5,))
    assert math.isnan(s.accuracy) and s.n_cases == 0


def test_pointing_game() -> None:
    m = np.zeros((100, 100))
    m[30, 60] = 1.0
    assert pointing_hit(m, [(55, 25, 65, 35)])
    assert not pointing_hit(m, [(0, 0, 50, 50)])
    assert pointing_hit(m, [(62, 25, 70, 35)], tolerance=2)
    assert not pointing_hit(np.zeros((10, 10)), [(0, 0, 10, 10)])  # flat map: no maximum


def test_unknown_measure_is_a_typed_error() -> None:
    from cxrkit.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'iobb'"):
        case_result([(0, 0, 1, 1)], [(0, 0, 1, 1)], 0.5, measure="iob")
