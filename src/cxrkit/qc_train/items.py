"""The training data of the view check: which images, which label, which split (by patient)."""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cxrkit.views import is_frontal

__all__ = ["Item", "HELDOUT_FRACTION", "SEED", "list_items", "load_nih_split", "split_of", "assign_splits"]

HELDOUT_FRACTION = 0.4
SEED = 20240610


@dataclass(frozen=True)
class Item:
    """One training/evaluation image: ``label`` 1 = not a frontal chest film (``kind`` lateral / non_chest)."""

    path: str
    source: str
    group: str
    label: int
    kind: str


def _hash_fraction(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32


def _kermany_patient(name: str) -> str:
    m = re.match(r"(person\d+)_", name) or re.match(r"((?:NORMAL2-)?IM-\d+)-", name)
    return m.group(1) if m else name


def _rows(path: Path, errors: str = "strict") -> list[dict[str, str]]:
    with open(path, encoding="utf-8", errors=errors, newline="") as fh:
        return list(csv.DictReader(fh))


def list_items(root: Path) -> list[Item]:
    """Every real image of the training/evaluation sets under ``root`` (shared/data)."""
    root = Path(root)
    items: list[Item] = []
    nih = root / "nih-cxr14"
    for manifest, folder in (("images_manifest.csv", "images_512"), ("images_extra_manifest.csv", None)):
        for r in _rows(nih / manifest):
            p = nih / (r["file"] if folder is None else f"{folder}/{r['image']}")
            if p.is_file():
                items.append(Item(str(p), "nih-cxr14", r["patient_id"], 0, "frontal"))
    cov = root / "covid-ieee8023"
    seen: set[str] = set()
    for r in _rows(cov / "metadata.csv", errors="replace"):
        name = r.get("shared_file") or r["filename"]
        p = cov / "images" / name
        if r["modality"] != "X-ray" or not p.is_file() or name in seen:
            continue
        seen.add(name)
        if is_frontal(r["view"]):
            items.append(Item(str(p), "covid-ieee8023", r["patientid"], 0, "frontal"))
        elif r["view"] == "L":
            items.append(Item(str(p), "covid-ieee8023", r["patientid"], 1, "lateral"))
    han = root / "covid-hannover"
    for r in _rows(han / "data.csv"):
        p = han / "images" / f"{r['image_id']}.jpg"
        if p.is_file():
            items.append(Item(str(p), "covid-hannover", r["patient_id"], 0, "frontal"))
    for p in sorted((root / "kermany-pneumonia" / "train").rglob("*.jpeg")):
        items.append(Item(str(p), "kermany-pneumonia", _kermany_patient(p.name), 0, "frontal"))
    for p in sorted((root / "jsrt-scr" / "images").glob("*.jpg")):
        items.append(Item(str(p), "jsrt-scr", p.stem, 0, "frontal"))
    return items


def load_nih_split(path: Path | None) -> dict[str, str]:
    """patient id (no leading zeros) → "train" / "val" from ``configs/splits/nih_v2.csv``; {} when absent."""
    if path is None or not Path(path).is_file():
        return {}
    return {str(int(r["patient_id"])): r["split"] for r in _rows(path)}


def split_of(item: Item, nih_split: dict[str, str] | None = None) -> str:
    """"train" or "heldout", by patient (see the module docstring)."""
    if item.source == "nih-cxr14" and nih_split:
        s = nih_split.get(str(int(item.group)))
        if s is not None:
            return "train" if s == "train" else "heldout"
    return "heldout" if _hash_fraction(f"{item.source}:{item.group}") < HELDOUT_FRACTION else "train"


def assign_splits(items: list[Item], nih_split: dict[str, str] | None = None, *,
                  kermany_train_max: int = 800) -> list[str]:
    """"train" / "heldout" / "unused" per item: :func:`split_of`, with kermany's training films capped at
    ``kermany_train_max`` (chosen by a hash of the patient; pediatric films must not dominate the frontal
    class); the rest of kermany's training part is "unused" (neither trained on nor held out)."""
    split = [split_of(it, nih_split) for it in items]
    ker = [i for i, it in enumerate(items) if it.source == "kermany-pneumonia" and split[i] == "train"]
    if len(ker) > kermany_train_max:
        order = sorted(ker, key=lambda i: _hash_fraction("kermany-train:" + items[i].group))
        for i in order[kermany_train_max:]:
            split[i] = "unused"
    return split
