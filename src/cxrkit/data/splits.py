"""Patient-level splits: deterministic, seeded, stratified on labels, never a patient in two parts.

:func:`patient_split` assigns whole patients to parts with iterative multilabel stratification (Sechidis et
al., ECML 2011) over patients: rarest finding first, each patient with that finding goes to the part that
still needs the most positives of it, ties broken by the remaining image capacity and then at random with
the given seed. Needs are counted in positive *images* (a patient with 5 positive images of a finding uses 5),
so image-level prevalences and part sizes both come out close to the targets. Patients without any positive
label fill the parts up to their image fractions.

:func:`stratified_id_split` draws a fixed fold over a dataset's *complete* id list (e.g. every JSRT image
number), so a copy holding more or fewer files assigns each id the same part (one image per patient there).

:func:`load_chexnet_split` reads the patient-wise random 70/10/20 NIH split lists of the arnoweng/CheXNet
reproduction.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from cxrkit.errors import DataFormatError
from cxrkit.labels import NIH_FINDINGS

if TYPE_CHECKING:
    from cxrkit.data.dataset import Dataset

__all__ = ["patient_split", "split_dataset", "patient_keys", "stratified_id_split", "load_chexnet_split",
           "chexnet_split_of", "CHEXNET_SPLIT_FILES"]

log = logging.getLogger(__name__)

#: File names of the CheXNet random split lists, relative to ``<nih root>/splits/chexnet_random``.
CHEXNET_SPLIT_FILES: dict[str, str] = {"train": "train_list.txt", "val": "val_list.txt", "test": "test_list.txt"}

DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.1, "test": 0.2}


def patient_keys(meta: pd.DataFrame) -> np.ndarray:
    """One patient key per row: ``"<source>/<patient_id>"``.

    Rows without a patient id get a key of their own (``"<source>/row<i>"``) and a warning, since such rows
    could leak between parts if they came from the same person.
    """
    n = len(meta)
    src = meta["source"] if "source" in meta.columns else pd.Series([""] * n)
    src = pd.Series(src).reset_index(drop=True).astype(object).where(lambda s: s.notna(), "").astype(str)
    pid = meta["patient_id"] if "patient_id" in meta.columns else pd.Series([None] * n)
    pid = pd.Series(pid).reset_index(drop=True)
    missing = pid.isna().to_numpy()
    keys = (src + "/" + pid.astype(str)).to_numpy(dtype=object)
    if missing.any():
        warnings.warn(f"{int(missing.sum())} rows have no patient_id; each is treated as its own patient",
                      UserWarning, stacklevel=2)
        rows = np.flatnonzero(missing)
        keys[rows] = (src.iloc[rows] + "/row" + pd.Series(rows, index=src.index[rows]).astype(str)).to_numpy()
    return keys


def _fractions(fractions: Mapping[str, float] | Sequence[float]) -> dict[str, float]:
    if not isinstance(fractions, Mapping):
        fr = list(fractions)
        names = ["train", "val", "test"][: len(fr)] if len(fr) <= 3 else [f"part{i}" for i in range(len(fr))]
        fractions = dict(zip(names, fr))
    out = {str(k): float(v) for k, v in fractions.items()}
    if not out or any(not np.isfinite(v) or v < 0 for v in out.values()):
        raise DataFormatError(f"fractions must be non-negative numbers; got {out}")
    total = sum(out.values())
    if not 0.999 <= total <= 1.001:
        raise DataFormatError(f"fractions must sum to 1; got {out} (sum {total:.4f})")
    return out


def patient_split(
    data: Dataset | pd.DataFrame,
    fractions: Mapping[str, float] | Sequence[float] = DEFAULT_FRACTIONS,
    *,
    seed: int = 0,
    labels: np.ndarray | None = None,
    stratify: bool = True,
) -> dict[str, np.ndarray]:
    """Split rows into parts by patient.

    Args:
        data: a :class:`~cxrkit.data.Dataset`, or a meta table with ``patient_id`` (and ``source``).
        fractions: part name → fraction of images (sums to 1), or a sequence (train, val, test).
        seed: seed of the local generator; the same inputs and seed give the same split.
        labels: ``(N, K)`` label matrix to stratify on (default: the dataset's labels; NaN and -1 count as
            not positive).
        stratify: False for a plain random split by patient.

    Returns:
        part name → sorted int64 array of row positions. Every row is in exactly one part and no patient
        key (:func:`patient_keys`) is in two parts.
    """
    fr = _fractions(fractions)
    meta = data if isinstance(data, pd.DataFrame) else data.meta
    if labels is None and not isinstance(data, pd.DataFrame):
        labels = data.labels
    n = len(meta)
    names = list(fr)
    if n == 0:
        return {k: np.zeros(0, dtype=np.int64) for k in names}
    keys = patient_keys(meta)
    codes, uniq = pd.factorize(keys, sort=True)
    n_pat = len(uniq)
    images_per_pat = np.bincount(codes, minlength=n_pat).astype(np.float64)
    if labels is not None and stratify:
        lab = np.asarray(labels, dtype=np.float32)
        if lab.shape[0] != n:
            raise DataFormatError(f"labels has {lab.shape[0]} rows but the data has {n}")
        pos = (np.nan_to_num(lab, nan=0.0) == 1.0).astype(np.float64)
        pat_count = np.zeros((n_pat, pos.shape[1]), dtype=np.float64)  # positive images per patient and label
        np.add.at(pat_count, codes, pos)
    else:
        pat_count = np.zeros((n_pat, 0), dtype=np.float64)
    pat_pos = pat_count > 0
    rng = np.random.default_rng(seed)
    frac = np.array([fr[k] for k in names])
    cap = (frac * images_per_pat.sum()).tolist()  # remaining image capacity per part
    need = frac[:, None] * pat_count.sum(0)[None, :]  # remaining positive images per part and label
    assign = np.full(n_pat, -1, dtype=np.int64)
    order = rng.permutation(n_pat)
    remaining = pat_pos.copy()
    active = [f for f in range(len(names)) if frac[f] > 0]
    imgs = images_per_pat.tolist()
    while True:
        counts = remaining[order].sum(0) if remaining.shape[1] else np.zeros(0)
        todo = np.flatnonzero(counts > 0)
        if not len(todo):
            break
        j = int(todo[np.argmin(counts[todo])])  # rarest remaining label first
        need_j = need[:, j].tolist()  # kept in step with need[:, j] below (plain floats: fast in this loop)
        for p in order[remaining[order, j]]:
            top = max(need_j[f] for f in active)
            best = [f for f in active if need_j[f] == top]
            if len(best) > 1:
                room = max(cap[f] for f in best)
                best = [f for f in best if cap[f] == room]
            f = best[0] if len(best) == 1 else best[int(rng.integers(len(best)))]
            assign[p] = f
            cap[f] -= imgs[p]
            need[f] -= pat_count[p]
            need_j[f] = float(need[f, j])
            remaining[p] = False
    for p in order[assign[order] < 0]:
        f = max(active, key=lambda k: cap[k])
        assign[p] = f
        cap[f] -= imgs[p]
    row_part = assign[codes]
    return {k: np.flatnonzero(row_part == i).astype(np.int64) for i, k in enumerate(names)}


def split_dataset(
    ds: Dataset,
    fractions: Mapping[str, float] | Sequence[float] = DEFAULT_FRACTIONS,
    *,
    seed: int = 0,
    stratify: bool = True,
) -> dict[str, Dataset]:
    """:func:`patient_split` applied: part name → sub-dataset."""
    parts = patient_split(ds, fractions, seed=seed, stratify=stratify)
    return {k: ds.subset(v) for k, v in parts.items()}


def stratified_id_split(universe: Sequence[str], strata: Sequence[str], sizes: Mapping[str, float], *, seed: int,
                        rest: str = "train") -> dict[str, str]:
    """Seeded stratified assignment of ids to parts, fixed by the complete id list.

    Each stratum (in order of first appearance in ``strata``) is permuted with one generator seeded by
    ``seed``; the first ``round(sizes[part] * stratum_size / len(universe))`` ids of the permutation go to
    the first part of ``sizes``, the next ones to the second part, and so on; the remaining ids go to ``rest``.
    Use it with one id per patient (then it is a patient-level split).

    Args:
        universe: every id of the dataset (not only those on disk), so the fold does not depend on the copy.
        strata: the stratum of each id of ``universe`` (same length).
        sizes: part name → its number of ids over the whole ``universe`` (may be fractional: rounded per
            stratum), in assignment order.
        seed: seeds the permutations.
        rest: the part that gets every id not drawn for ``sizes``.

    Returns:
        id → part name, for every id of ``universe``.

    Raises:
        DataFormatError: ``strata`` and ``universe`` differ in length, duplicate ids, or negative sizes.
    """
    ids, groups = list(universe), list(strata)
    if len(ids) != len(groups):
        raise DataFormatError(f"strata has {len(groups)} entries but universe has {len(ids)} ids")
    if len(set(ids)) != len(ids):
        raise DataFormatError("universe holds duplicate ids")
    if any(not np.isfinite(v) or v < 0 for v in sizes.values()):
        raise DataFormatError(f"sizes must be non-negative numbers; got {dict(sizes)}")
    rng = np.random.default_rng(seed)
    n_total = len(ids)
    part: dict[str, str] = {}
    for stratum in dict.fromkeys(groups):
        members = [c for c, g in zip(ids, groups, strict=True) if g == stratum]
        order = rng.permutation(len(members))
        bounds, edge = [], 0
        for name, size in sizes.items():
            edge += round(size * len(members) / n_total)
            bounds.append((edge, name))
        for rank, j in enumerate(order):
            part[members[j]] = next((name for edge, name in bounds if rank < edge), rest)
    return part


def load_chexnet_split(root: str | Path) -> pd.DataFrame:
    """The arnoweng/CheXNet random split lists of NIH ChestX-ray14.

    Args:
        root: the NIH root (containing ``splits/chexnet_random/{train,val,test}_list.txt``) or that folder.

    Returns:
        A table with columns ``image_id``, ``split`` ("train" / "val" / "test") and the 14 NIH findings
        (float32 0/1, order of :data:`cxrkit.labels.NIH_FINDINGS`), one row per listed image.
    """
    root = Path(root)
    folder = root if (root / "train_list.txt").exists() else root / "splits" / "chexnet_random"
    frames = []
    for split, fname in CHEXNET_SPLIT_FILES.items():
        p = folder / fname
        if not p.is_file():
            names = ", ".join(CHEXNET_SPLIT_FILES.values())
            raise DataFormatError(f"CheXNet split list {p} not found; expected {names} in {folder}")
        try:
            df = pd.read_csv(p, sep=r"\s+", header=None, engine="c", dtype={0: object})
        except pd.errors.EmptyDataError:
            df = pd.DataFrame(np.zeros((0, 1 + len(NIH_FINDINGS))))
        if df.shape[1] != 1 + len(NIH_FINDINGS):
            raise DataFormatError(f"{p}: each line must be an image name and {len(NIH_FINDINGS)} 0/1 values; "
                                  f"got {df.shape[1]} fields")
        df.columns = ["image_id", *NIH_FINDINGS]
        df.insert(1, "split", split)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out[list(NIH_FINDINGS)] = out[list(NIH_FINDINGS)].astype(np.float32)
    dup = out["image_id"].duplicated()
    if dup.any():
        raise DataFormatError(f"CheXNet split lists name {int(dup.sum())} images more than once")
    return out


def chexnet_split_of(root: str | Path) -> dict[str, str]:
    """Image name → "train" / "val" / "test" from the CheXNet split lists (names only, without parsing the
    label vectors: fast enough to run on every NIH load)."""
    root = Path(root)
    folder = root if (root / "train_list.txt").exists() else root / "splits" / "chexnet_random"
    out: dict[str, str] = {}
    for split, fname in CHEXNET_SPLIT_FILES.items():
        p = folder / fname
        if not p.is_file():
            names = ", ".join(CHEXNET_SPLIT_FILES.values())
            raise DataFormatError(f"CheXNet split list {p} not found; expected {names} in {folder}")
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                name = line.split(None, 1)[0] if line.strip() else None
                if name is None:
                    continue
                if name in out:
                    raise DataFormatError(f"CheXNet split lists name {name} more than once")
                out[name] = split
    return out
