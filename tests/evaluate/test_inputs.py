import numpy as np
import pytest

from cxrkit.errors import DataFormatError
from cxrkit.evaluate._inputs import paired_finite
from cxrkit.evaluate.calibration import expected_calibration_error
from cxrkit.evaluate.operating_points import rates_at


def test_drops_rows_missing_in_either():
    y, s = paired_finite([1, np.nan, 0, 1], [0.9, 0.5, np.nan, 0.2])
    np.testing.assert_array_equal(y, [1, 1])
    np.testing.assert_array_equal(s, [0.9, 0.2])


@pytest.mark.parametrize(
    "y, s, kwargs, match",
    [
        ([1, 0], [0.5], {}, "differ in length"),
        ([1, -1, 0], [0.1, 0.2, 0.3], {}, "uncertain_to_target"),
        ([1, 0], [0.5, 1.5], {"probabilities": True}, r"\[0, 1\]"),
    ],
)
def test_bad_pairs_are_clear_errors(y, s, kwargs, match):
    with pytest.raises(DataFormatError, match=match):
        paired_finite(y, s, **kwargs)


def test_scores_outside_unit_interval_allowed_unless_probabilities():
    y, s = paired_finite([1, 0], [3.0, -2.0])
    assert s.tolist() == [3.0, -2.0]


def test_every_metric_refuses_uncertain_labels():
    # -1 used to be counted as a negative by the operating-point code: now refused everywhere alike.
    with pytest.raises(DataFormatError, match="uncertain_to_target"):
        rates_at(np.array([1, -1, 0]), np.array([0.9, 0.5, 0.1]), 0.5)
    with pytest.raises(DataFormatError, match="uncertain_to_target"):
        expected_calibration_error(np.array([1, -1, 0]), np.array([0.9, 0.5, 0.1]))
