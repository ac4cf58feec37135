import warnings

import numpy as np
import pytest

from cxrkit import labels
from cxrkit.errors import DataFormatError, UnknownNameError


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Infiltrate", "Infiltration"),
        ("infiltration", "Infiltration"),
        ("Pleural Effusion", "Effusion"),
        ("pleural_thickening", "Pleural_Thickening"),
        ("Pleural Thickening", "Pleural_Thickening"),
        ("Lung Opacity", "Lung Opacity"),
        ("lung-opacity", "Lung Opacity"),
        ("Normal", "No Finding"),
        ("covid19", "COVID-19"),
        ("Enlarged Cardiomediastinum", "Enlarged Cardiomediastinum"),
    ],
)
def test_canonical_spellings(name, expected):
    assert labels.canonical(name) == expected


def test_vocabulary_is_superset_of_xrv_and_nih():
    assert set(labels.XRV_FINDINGS) <= set(labels.FINDINGS)
    assert set(labels.NIH_FINDINGS) <= set(labels.FINDINGS)
    assert len(set(labels.FINDINGS)) == len(labels.FINDINGS)
    assert {"No Finding", "Support Devices", "Tuberculosis", "COVID-19"} <= set(labels.FINDINGS)


def test_every_synonym_points_to_a_canonical_name():
    for target in labels.SYNONYMS.values():
        assert target in labels.FINDINGS


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'Pneumonia'"):
        labels.canonical("pnemonia")
    assert labels.canonical("not a finding", strict=False) is None


def test_relabel_fills_missing_with_nan_and_warns():
    y = np.array([[1, 0], [0, np.nan]], dtype=np.float32)
    with pytest.warns(UserWarning, match="Cardiomegaly"):
        out = labels.relabel(y, ["Pneumonia", "Infiltrate"], ["Infiltration", "Cardiomegaly", "Pneumonia"])
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out[:, 0], [0, np.nan])
    assert np.isnan(out[:, 1]).all()
    np.testing.assert_array_equal(out[:, 2], [1, 0])


def test_relabel_no_warning_when_complete():
    y = np.eye(2, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = labels.relabel(y, ["Mass", "Nodule"], ["Nodule", "Mass"])
    np.testing.assert_array_equal(out, [[0, 1], [1, 0]])


def test_relabel_rejects_wrong_shape():
    with pytest.raises(DataFormatError, match="shape"):
        labels.relabel(np.zeros((3, 2)), ["Mass"], ["Mass"])


@pytest.mark.parametrize("policy, value", [("zeros", 0.0), ("ones", 1.0)])
def test_uncertain_policies(policy, value):
    y = np.array([[-1, 1, 0, np.nan]], dtype=np.float32)
    out = labels.uncertain_to_target(y, policy)
    assert out[0, 0] == value and out[0, 1] == 1 and out[0, 2] == 0 and np.isnan(out[0, 3])


def test_uncertain_ignore_and_unknown_policy():
    out = labels.uncertain_to_target(np.array([-1.0, 1.0]), "ignore")
    assert np.isnan(out[0]) and out[1] == 1
    with pytest.raises(UnknownNameError, match="zeros"):
        labels.uncertain_to_target(np.array([1.0]), "zero")
