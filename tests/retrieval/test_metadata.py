import numpy as np
import pandas as pd
import pytest

from cxrkit.errors import DataFormatError
from cxrkit.retrieval.metadata import SearchFilter, filter_mask, label_set, normalize_date, normalize_meta


@pytest.mark.parametrize("value, expected", [("20200105", "2020-01-05"), ("2020-01-05", "2020-01-05"), ("", ""),
                                             (None, ""), (float("nan"), "")])
def test_normalize_date(value, expected):
    assert normalize_date(value) == expected


@pytest.mark.parametrize("value", ["2020/01/05", "20201305", "yesterday", "2020-1-5"])
def test_bad_dates_are_named(value):
    with pytest.raises(DataFormatError, match="expected YYYY-MM-DD"):
        normalize_date(value)


def test_normalize_meta_fills_and_checks():
    m = normalize_meta(pd.DataFrame({"image_id": ["a", "b"], "view": ["pa", None], "study_date": ["20200101", ""]}))
    assert list(m["view"]) == ["PA", ""] and list(m["study_date"]) == ["2020-01-01", ""]
    assert list(m["patient_id"]) == ["", ""]
    with pytest.raises(DataFormatError, match="duplicate image_id"):
        normalize_meta(pd.DataFrame({"image_id": ["a", "a"]}))
    with pytest.raises(DataFormatError, match="needs an 'image_id'"):
        normalize_meta(pd.DataFrame({"patient_id": ["a"]}))


def test_filters():
    m = normalize_meta(pd.DataFrame({
        "image_id": list("abcde"), "patient_id": ["p1", "p1", "p2", "p3", "p4"],
        "view": ["PA", "AP", "PA", "PA", "AP"], "study_date": ["2020-01-01", "2020-06-01", "", "2021-01-01", "2019-12-31"],
        "dataset": ["x", "x", "y", "y", "x"]}))
    assert filter_mask(m, None).all()
    assert list(filter_mask(m, SearchFilter.make(exclude_patients=["p1"]))) == [0, 0, 1, 1, 1]
    assert list(filter_mask(m, SearchFilter.make(views=["pa"]))) == [1, 0, 1, 1, 0]
    assert list(filter_mask(m, SearchFilter.make(datasets=["y"]))) == [0, 0, 1, 1, 0]
    rng = filter_mask(m, SearchFilter.make(date_from="20200101", date_to="2020-12-31"))
    assert list(rng) == [1, 1, 0, 0, 0]  # the undated film is out when a range is asked
    assert list(filter_mask(m, SearchFilter.make(exclude_images=["e"]))) == [1, 1, 1, 1, 0]
    with pytest.raises(DataFormatError, match="date range is empty"):
        SearchFilter.make(date_from="2021-01-01", date_to="2020-01-01")


def test_label_set():
    assert label_set("Effusion|Edema") == {"Effusion", "Edema"} and label_set("") == frozenset()
    assert isinstance(filter_mask(normalize_meta(pd.DataFrame({"image_id": []})), None), np.ndarray)
