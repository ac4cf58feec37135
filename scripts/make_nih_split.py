"""Write the fixed NIH patient-level split of classifier v2: ``configs/splits/nih_v2.csv``.

    python scripts/make_nih_split.py --root ../shared/data/nih-cxr14

Rules (so that fine-tuning from ``cxr-default-v1`` never validates on an image it trained on):

* patients of the NIH images ``cxr-default-v1`` trained on -> ``train``;
* patients of its NIH hold-out (``cxr-default-v1.holdout.csv``) -> ``val``;
* every other patient (the extra images) is split by patient, stratified, seed 0: half to ``val``.

The ``val`` images that carry official boxes are the held-out localization images; the ``train`` ones are
the localization training images. Rerunning gives the same file.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cxrkit.data import load_dataset
from cxrkit.data.splits import patient_split
from cxrkit.models.classifier import default_model_path

OUT = Path(__file__).resolve().parents[1] / "configs" / "splits" / "nih_v2.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default="../shared/data/nih-cxr14")
    ap.add_argument("--out", default=str(OUT))
    a = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ds = load_dataset("nih", root=a.root, images="adult_512")
    meta = ds.meta.reset_index(drop=True)
    hold = pd.read_csv(default_model_path().parent / "cxr-default-v1.holdout.csv", dtype=str)
    v1_val = set(hold.loc[hold["source"] == "nih", "image_id"])
    v1_images = meta["folder"] == "images_512"  # the 710 images v1 saw (half trained, half held out)
    val_pat = set(meta.loc[v1_images & meta["image_id"].isin(v1_val), "patient_id"])
    train_pat = set(meta.loc[v1_images & ~meta["image_id"].isin(v1_val), "patient_id"])
    assert not (val_pat & train_pat), "cxr-default-v1's split was not by patient"
    split = np.where(meta["patient_id"].isin(train_pat), "train",
                     np.where(meta["patient_id"].isin(val_pat), "val", ""))
    rest = np.flatnonzero(split == "")
    parts = patient_split(meta.iloc[rest].reset_index(drop=True), {"train": 0.5, "val": 0.5}, seed=0,
                          labels=ds.labels[rest])
    split[rest[parts["train"]]] = "train"
    split[rest[parts["val"]]] = "val"
    has_box = np.zeros(len(meta), bool)
    has_box[np.unique(ds.boxes["row"].to_numpy(np.int64))] = True
    out = pd.DataFrame({"image_id": meta["image_id"], "patient_id": meta["patient_id"], "split": split,
                        "folder": meta["folder"], "has_boxes": has_box}).sort_values("image_id")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(a.out).with_suffix(".tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(a.out)
    print(out.groupby(["split", "folder"]).size().to_string())
    print("boxed:", out.groupby("split")["has_boxes"].sum().to_dict())


if __name__ == "__main__":
    main()
