"""Dataset base: validation, subset, relabel, query; merge; patient-level splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrkit.data import Dataset, DatasetCard, list_datasets, load_dataset, merge, patient_split, split_dataset
from cxrkit.data.splits import patient_keys
from cxrkit.errors import DataFormatError, UnknownNameError

CARD = DatasetCard(name="toy", title="toy", citation="-", license="-", homepage="-", label_source="-")


def toy(n=6, findings=("Atelectasis", "Effusion"), source="toy", seed=0) -> Dataset:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=(n, len(findings))).astype(np.float32)
    meta = pd.DataFrame({"image_id": [f"{source}{i}" for i in range(n)], "patient_id": [str(i // 2) for i in range(n)],
                         "view": ["PA", "AP"] * (n // 2) + ["PA"] * (n % 2), "source": source})
    boxes = pd.DataFrame({"row": [1, 3, 3], "finding": ["Atelectasis", "Effusion", "Atelectasis"],
                          "x_min": [1.0, 2, 3], "y_min": [1.0, 2, 3], "x_max": [5.0, 6, 7], "y_max": [5.0, 6, 7]})
    card = DatasetCard(name=source, title=source, citation="-", license="-", homepage="-", label_source="-")
    return Dataset(findings, labels, meta, boxes=boxes if n > 3 else None, card=card)


def test_constructor_checks():
    meta = pd.DataFrame({"image_id": ["a", "b"]})
    with pytest.raises(DataFormatError, match="must be 1, 0, -1 or NaN"):
        Dataset(["Effusion"], np.array([[0.5], [1]]), meta, card=CARD)
    with pytest.raises(DataFormatError, match="meta has 2 rows"):
        Dataset(["Effusion"], np.ones((3, 1)), meta, card=CARD)
    with pytest.raises(UnknownNameError, match="did you mean"):
        Dataset(["Efusion"], np.ones((2, 1)), meta, card=CARD)
    ds = Dataset(["Pleural Effusion"], np.array([[1], [np.nan]]), meta, card=CARD)
    assert ds.findings == ["Effusion"] and {"path", "patient_id", "age_years", "sex", "view", "source"} <= set(ds.meta)
    assert ds[0].image is None  # no path: no image


def test_subset_renumbers_boxes():
    ds = toy()
    sub = ds.subset([3, 1])
    assert sub.meta["image_id"].tolist() == ["toy3", "toy1"]
    assert sorted(sub.boxes["row"].tolist()) == [0, 0, 1]
    assert {b.label for b in sub[0].boxes} == {"Effusion", "Atelectasis"}
    assert [b.label for b in sub[1].boxes] == ["Atelectasis"]
    np.testing.assert_array_equal(sub.labels, ds.labels[[3, 1]])
    dup = ds.subset([3, 3])
    assert len(dup.boxes) == 4
    mask = ds.subset(ds.meta["view"].to_numpy() == "PA")
    assert len(mask) == 3 and len(mask.boxes) == 0


def test_relabel_warns_naming_missing():
    ds = toy()
    with pytest.warns(UserWarning, match="toy has no labels for Cardiomegaly"):
        r = ds.relabel(["Effusion", "Cardiomegaly"])
    assert r.findings == ["Effusion", "Cardiomegaly"]
    np.testing.assert_array_equal(r.labels[:, 0], ds.labels[:, 1])
    assert np.isnan(r.labels[:, 1]).all()
    assert set(r.boxes["finding"]) == {"Effusion"}


def test_query_and_table():
    ds = toy()
    assert len(ds.query("view == 'AP'")) == 3
    with pytest.raises(DataFormatError, match="bad query"):
        ds.query("nonexistent_column > 3")
    t = ds.table()
    assert t["n_boxes"].tolist() == [0, 1, 0, 2, 0, 0] and "Effusion" in t


def test_registry_names():
    names = list_datasets()
    assert {"nih", "kermany", "covid_ieee8023", "covid_hannover", "jsrt"} <= set(names)
    with pytest.raises(UnknownNameError, match="did you mean 'nih'"):
        load_dataset("nhi", root=".")


def test_merge_union_and_sources():
    a = toy(findings=("Atelectasis", "Effusion"), source="a")
    b = toy(n=4, findings=("Pneumonia",), source="b")
    m = merge([a, b])
    assert m.findings == ["Atelectasis", "Effusion", "Pneumonia"]  # canonical order
    assert len(m) == 10 and m.meta["source"].tolist() == ["a"] * 6 + ["b"] * 4
    assert np.isnan(m.labels[6:, 0]).all() and np.isnan(m.labels[:6, 2]).all()
    np.testing.assert_array_equal(m.labels[:6, :2], a.labels)
    assert sorted(m.boxes["row"]) == [1, 3, 3, 7, 9, 9]  # rows of b shifted by len(a)
    with pytest.warns(UserWarning, match="b has no labels for Effusion"):
        t = merge([a, b], target=["Effusion"])
    assert t.findings == ["Effusion"] and sorted(t.boxes["row"]) == [3, 9]


def test_patient_split_deterministic_and_leak_free():
    rng = np.random.default_rng(0)
    n = 600
    pid = rng.integers(0, 150, n).astype(str)
    labels = (rng.random((n, 3)) < [0.3, 0.1, 0.02]).astype(np.float32)
    meta = pd.DataFrame({"patient_id": pid, "source": "s"})
    ds = Dataset(["Effusion", "Mass", "Hernia"], labels, meta, card=CARD)
    p1 = patient_split(ds, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=3)
    p2 = patient_split(ds, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=3)
    p3 = patient_split(ds, {"train": 0.7, "val": 0.1, "test": 0.2}, seed=4)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    assert any(not np.array_equal(p1[k], p3[k]) for k in p1)
    allrows = np.concatenate(list(p1.values()))
    assert sorted(allrows) == list(range(n))
    keys = patient_keys(ds.meta)
    sets = {k: set(keys[v]) for k, v in p1.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    assert abs(len(p1["train"]) / n - 0.7) < 0.06
    # stratified: each part gets close to its share of positives of the common finding
    pos = labels[:, 0] == 1
    assert abs(pos[p1["test"]].sum() / pos.sum() - 0.2) < 0.06


def test_split_merged_sets_uses_source_and_patient():
    a, b = toy(source="a"), toy(source="b")  # same patient ids "0".."2" in both sources
    m = merge([a, b])
    parts = split_dataset(m, [0.5, 0.5], seed=0)
    keys = {k: set(patient_keys(v.meta)) for k, v in parts.items()}
    assert len(patient_keys(m.meta)) == 12 and len(set(patient_keys(m.meta))) == 6
    assert not keys["train"] & keys["val"]


def test_split_bad_fractions():
    with pytest.raises(DataFormatError, match="sum to 1"):
        patient_split(toy(), [0.5, 0.2])
    with pytest.warns(UserWarning, match="no patient_id"):
        parts = patient_split(pd.DataFrame({"patient_id": [None, "1"], "source": "x"}), [0.5, 0.5])
    assert sum(len(v) for v in parts.values()) == 2
