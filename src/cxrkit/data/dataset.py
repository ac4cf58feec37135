"""The dataset data model: one label matrix, one metadata table, boxes and masks, read lazily.

A :class:`Dataset` holds

* ``findings``: the K canonical finding names (:data:`cxrkit.labels.FINDINGS`) of its label columns;
* ``labels``: float32 ``(N, K)`` with 1 (present), 0 (absent), NaN (unknown), and -1 (uncertain) only for
  report-mined sources that keep it (CheXpert, MIMIC-CXR) when asked to;
* ``meta``: a :class:`pandas.DataFrame` with N rows aligned with ``labels`` and at least the columns
  :data:`META_COLUMNS` (``path`` is None where no image is on disk);
* ``boxes``: a DataFrame with columns :data:`BOX_COLUMNS`; ``row`` is the dataset row, coordinates are
  ``(x_min, y_min, x_max, y_max)`` in pixels of the image file on disk;
* ``masks``: None, or one ``dict[str, MaskRef]`` (structure name → reference) or None per row;
* ``card``: a :class:`DatasetCard` (citation, license, label source and what the source cannot give).

Pixels are only read on ``ds[i]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cxrkit import labels as _labels
from cxrkit.data._masks import MaskRef, load_mask
from cxrkit.data._pixels import read_pixels
from cxrkit.errors import DataFormatError, UnknownNameError
from cxrkit.types import Box, Image

__all__ = ["Dataset", "DatasetCard", "Sample", "META_COLUMNS", "BOX_COLUMNS", "empty_boxes"]

log = logging.getLogger(__name__)

#: Columns every dataset's ``meta`` has (values may be None / NaN where the source lacks them).
META_COLUMNS: tuple[str, ...] = ("path", "image_id", "patient_id", "age_years", "sex", "view", "source")

#: Columns of ``Dataset.boxes``.
BOX_COLUMNS: tuple[str, ...] = ("row", "finding", "x_min", "y_min", "x_max", "y_max")


def empty_boxes() -> pd.DataFrame:
    """An empty boxes table with the right columns and dtypes."""
    return pd.DataFrame(
        {
            "row": pd.Series(dtype="int64"),
            "finding": pd.Series(dtype="object"),
            **{c: pd.Series(dtype="float64") for c in ("x_min", "y_min", "x_max", "y_max")},
        }
    )


@dataclass(frozen=True)
class DatasetCard:
    """What a dataset is, where it comes from and what it cannot provide.

    Attributes:
        name: registry name ("nih", "jsrt", ...).
        title: human-readable title.
        citation: the paper(s) to cite.
        license: the data license as stated by the source.
        homepage: where to download it.
        label_source: how the labels were made (report text mining, radiologists, file names...).
        cannot_provide: things users may expect but this source does not give (e.g. "no boxes").
        notes: anything else worth knowing (resampling of the local copy, known label noise...).
    """

    name: str
    title: str
    citation: str
    license: str
    homepage: str
    label_source: str
    cannot_provide: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "title": self.title,
            "citation": self.citation,
            "license": self.license,
            "homepage": self.homepage,
            "label_source": self.label_source,
            "cannot_provide": list(self.cannot_provide),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Sample:
    """One dataset row with its pixels and targets.

    Attributes:
        image: the radiograph (pixels float32 ``(H, W)`` in [0, 1]); None for rows without an image file
            (e.g. report-only datasets such as Open-i here).
        labels: float32 ``(K,)`` in the dataset's ``findings`` order: 1 / 0 / NaN (-1 uncertain if kept).
        boxes: boxes of this row in pixels of the image on disk, ``label`` = canonical finding.
        masks: structure name → bool ``(H, W)`` of the image's size, or None when the source has none.
        meta: this row of ``Dataset.meta`` as a dict.
    """

    image: Image | None
    labels: np.ndarray
    boxes: list[Box]
    masks: dict[str, np.ndarray] | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class Dataset:
    """A labelled set of chest radiographs (or reports) with aligned metadata.

    Build one with :func:`cxrkit.data.load_dataset`; the constructor checks that the pieces line up.

    Args:
        findings: K canonical finding names.
        labels: ``(N, K)`` array of 1 / 0 / NaN (-1 allowed for uncertain).
        meta: N-row table; missing :data:`META_COLUMNS` are added as None.
        boxes: table with :data:`BOX_COLUMNS` (more columns allowed), ``row`` in ``[0, N)``.
        masks: None or a length-N list of ``dict[str, MaskRef] | None``.
        card: the dataset's card.
    """

    def __init__(
        self,
        findings: Sequence[str],
        labels: np.ndarray,
        meta: pd.DataFrame,
        *,
        boxes: pd.DataFrame | None = None,
        masks: Sequence[dict[str, MaskRef] | None] | None = None,
        card: DatasetCard,
    ) -> None:
        findings = [_labels.canonical(f) for f in findings]
        if len(set(findings)) != len(findings):
            raise DataFormatError(f"duplicate findings in {findings}")
        labels = np.asarray(labels, dtype=np.float32)
        if labels.ndim != 2 or labels.shape[1] != len(findings):
            raise DataFormatError(f"labels must be (N, {len(findings)}); got {labels.shape}")
        if len(meta) != labels.shape[0]:
            raise DataFormatError(f"meta has {len(meta)} rows but labels has {labels.shape[0]}")
        ok = np.isnan(labels) | np.isin(labels, (-1.0, 0.0, 1.0))
        if not ok.all():
            bad = np.unique(labels[~ok])[:5]
            raise DataFormatError(f"labels must be 1, 0, -1 or NaN; found {bad.tolist()}")
        meta = meta.reset_index(drop=True).copy()
        for col in META_COLUMNS:
            if col not in meta.columns:
                meta[col] = None
        boxes = empty_boxes() if boxes is None else boxes.reset_index(drop=True)
        missing = [c for c in BOX_COLUMNS if c not in boxes.columns]
        if missing:
            raise DataFormatError(f"boxes table lacks columns {missing}; has {list(boxes.columns)}")
        if len(boxes) and (boxes["row"].min() < 0 or boxes["row"].max() >= len(meta)):
            raise DataFormatError("boxes reference rows outside the dataset")
        if masks is not None and len(masks) != len(meta):
            raise DataFormatError(f"masks has {len(masks)} entries but the dataset has {len(meta)} rows")
        self.findings: list[str] = list(findings)
        self.labels: np.ndarray = labels
        self.meta: pd.DataFrame = meta
        self.boxes: pd.DataFrame = boxes
        self.masks: list[dict[str, MaskRef] | None] | None = None if masks is None else list(masks)
        self.card: DatasetCard = card
        self._box_index: dict[int, np.ndarray] | None = None

    # -- basic protocol -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The registry name from the card."""
        return self.card.name

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        n_img = int(self.meta["path"].notna().sum())
        return (
            f"Dataset({self.card.name!r}, rows={len(self)}, images={n_img}, findings={len(self.findings)}, "
            f"boxes={len(self.boxes)}, masks={'yes' if self.masks is not None else 'no'})"
        )

    def __getitem__(self, i: int) -> Sample:
        """Row ``i`` with its pixels (read now), labels, boxes and masks."""
        n = len(self)
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"dataset index must be an int; got {type(i).__name__} (use subset() for many rows)")
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for a dataset of {n} rows")
        i = int(i) % n
        row = self.meta.iloc[i]
        path = row["path"]
        image = None if path is None or (isinstance(path, float) and np.isnan(path)) else read_pixels(str(path))
        masks = None
        refs = self.masks[i] if self.masks is not None else None
        if refs is not None:
            shape = image.shape if image is not None else None
            masks = {k: load_mask(ref, shape=shape) for k, ref in refs.items()}
        return Sample(image=image, labels=self.labels[i].copy(), boxes=self.boxes_of(i), masks=masks,
                      meta=row.to_dict())

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def boxes_of(self, i: int) -> list[Box]:
        """Boxes of row ``i`` as :class:`~cxrkit.types.Box` (``label`` = finding, no score)."""
        if self._box_index is None:
            self._box_index = {
                int(r): idx for r, idx in self.boxes.groupby("row").indices.items()
            } if len(self.boxes) else {}
        idx = self._box_index.get(int(i))
        if idx is None:
            return []
        sub = self.boxes.iloc[idx]
        return [
            Box(float(b.x_min), float(b.y_min), float(b.x_max), float(b.y_max), label=str(b.finding))
            for b in sub.itertuples(index=False)
        ]

    # -- selection and relabelling ----------------------------------------------------------------------
    def subset(self, idx: Sequence[int] | np.ndarray) -> Dataset:
        """A new dataset with the rows ``idx`` (int positions or a boolean mask of length N), in that order.

        Boxes and masks follow their rows; box ``row`` numbers are renumbered.
        """
        idx = np.asarray(idx)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise DataFormatError(f"boolean mask must have shape ({len(self)},); got {idx.shape}")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        if len(idx) and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"subset index out of range for a dataset of {len(self)} rows")
        idx = idx % max(len(self), 1)
        new_pos = pd.Series(np.arange(len(idx)), index=idx)
        boxes = self.boxes[self.boxes["row"].isin(idx)]
        if len(boxes) and new_pos.index.has_duplicates:
            # a row selected twice: repeat its boxes for each copy
            parts = [boxes[boxes["row"] == old].assign(row=new) for new, old in enumerate(idx)]
            boxes = pd.concat(parts, ignore_index=True) if parts else empty_boxes()
        elif len(boxes):
            boxes = boxes.assign(row=new_pos.loc[boxes["row"].to_numpy()].to_numpy())
            boxes = boxes.sort_values("row", kind="stable")
        masks = None if self.masks is None else [self.masks[j] for j in idx]
        return Dataset(self.findings, self.labels[idx], self.meta.iloc[idx], boxes=boxes, masks=masks,
                       card=self.card)

    def query(self, expr: str) -> Dataset:
        """Rows whose ``meta`` satisfies a :meth:`pandas.DataFrame.query` expression, e.g.
        ``ds.query("view == 'PA' and age_years >= 18")``; finding names are not columns here (use
        :meth:`column`)."""
        try:
            mask = self.meta.eval(expr)
        except Exception as exc:  # pandas raises many types for a bad expression
            raise DataFormatError(f"bad query {expr!r} on columns {list(self.meta.columns)}: {exc}") from exc
        mask = np.asarray(mask, dtype=bool)
        return self.subset(mask)

    def column(self, finding: str) -> np.ndarray:
        """The ``(N,)`` label column of one finding (any known spelling)."""
        name = _labels.canonical(finding)
        if name not in self.findings:
            raise UnknownNameError(
                f"{self.card.name} has no labels for {name!r}; it has {', '.join(self.findings)}"
            )
        return self.labels[:, self.findings.index(name)]

    def relabel(self, target: Sequence[str], *, warn: bool = True) -> Dataset:
        """The same rows on the ``target`` finding list: NaN (with a warning naming them) where this source has
        no such label; columns not in ``target`` are dropped, and so are their boxes."""
        labels = _labels.relabel(self.labels, self.findings, target, source=self.card.name, warn=warn)
        target_c = [_labels.canonical(t) for t in target]
        boxes = self.boxes[self.boxes["finding"].isin(target_c)]
        return Dataset(target_c, labels, self.meta, boxes=boxes, masks=self.masks, card=self.card)

    def with_labels(self, findings: Sequence[str], labels: np.ndarray) -> Dataset:
        """The same rows with another label matrix (e.g. after an uncertainty policy)."""
        return Dataset(findings, labels, self.meta, boxes=self.boxes, masks=self.masks, card=self.card)

    # -- summaries --------------------------------------------------------------------------------------
    def counts(self) -> pd.DataFrame:
        """Per finding: positives, negatives, uncertain and unknown counts (rows are findings)."""
        lab = self.labels
        return pd.DataFrame(
            {
                "positive": (lab == 1).sum(0),
                "negative": (lab == 0).sum(0),
                "uncertain": (lab == -1).sum(0),
                "unknown": np.isnan(lab).sum(0),
            },
            index=pd.Index(self.findings, name="finding"),
        )

    def table(self) -> pd.DataFrame:
        """``meta`` with one column per finding and ``n_boxes``: the flat form used by the catalog."""
        out = self.meta.copy()
        lab = pd.DataFrame(self.labels, columns=self.findings, index=out.index)
        out = pd.concat([out, lab], axis=1)
        nb = np.bincount(self.boxes["row"].to_numpy(dtype=np.int64), minlength=len(self)) if len(self.boxes) else 0
        out["n_boxes"] = np.asarray(nb, dtype=np.int32) if len(self.boxes) else np.zeros(len(self), np.int32)
        return out
