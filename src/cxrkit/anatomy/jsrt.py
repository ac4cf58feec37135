"""JSRT radiographs with SCR expert masks: file layout, the seeded held-out fold, and loading.

Layout expected under ``root`` (as in ``shared/data/jsrt-scr``)::

    images/JPC*.jpg (or .png)                       1024x1024 8-bit grayscale
    masks/{left_lung,right_lung,heart,left_clavicle,right_clavicle}/JPC*.png   {0, 255}

"left"/"right" in the SCR masks are the PATIENT's sides (image right / image left on a PA film), the same
convention as :data:`cxrkit.anatomy.unet.STRUCTURES`.

Split: every JSRT image is a different patient, so an image-level split is a patient-level split.
:func:`split_ids` draws a seeded fold: ``test`` (40 images, never used for training or model selection),
``val`` (15 images, checkpoint selection) and ``train`` (the rest), stratified by nodule (``JPCLN``) vs
no nodule (``JPCNN``). Images missing from a copy of the data set simply fall out of the split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxrkit.anatomy.structures import STRUCTURES
from cxrkit.errors import DataFormatError

__all__ = ["list_ids", "split_ids", "read_case", "SPLIT_SEED", "N_TEST", "N_VAL"]

SPLIT_SEED = 20261128
N_TEST = 40
N_VAL = 15
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


def _image_path(root: Path, case_id: str) -> Path | None:
    for ext in _IMAGE_EXTS:
        p = root / "images" / f"{case_id}{ext}"
        if p.is_file():
            return p
    return None


def list_ids(root: str | Path) -> list[str]:
    """Sorted case ids (e.g. ``JPCLN002``) that have an image and all five SCR masks under ``root``."""
    root = Path(root)
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise DataFormatError(f"{root} does not look like a JSRT/SCR folder (expected images/ and masks/)")
    ids = []
    for p in sorted((root / "images").iterdir()):
        if p.suffix.lower() not in _IMAGE_EXTS:
            continue
        cid = p.stem
        if all((root / "masks" / s / f"{cid}.png").is_file() for s in STRUCTURES):
            ids.append(cid)
    if not ids:
        raise DataFormatError(f"no JSRT case with an image and all five masks under {root}")
    return ids


def split_ids(ids: list[str], seed: int = SPLIT_SEED, n_test: int = N_TEST, n_val: int = N_VAL) -> dict[str, list[str]]:
    """Seeded stratified split of case ids into ``train``, ``val`` and ``test`` (each sorted).

    The fold depends on the full JSRT id list (JPCLN001-154, JPCNN001-093), not on which files a copy holds,
    so that a copy with more or fewer images assigns the same ids to the same fold.
    """
    full = [f"JPCLN{i:03d}" for i in range(1, 155)] + [f"JPCNN{i:03d}" for i in range(1, 94)]
    rng = np.random.default_rng(seed)
    fold: dict[str, str] = {}
    n_total = len(full)
    for prefix in ("JPCLN", "JPCNN"):
        group = [c for c in full if c.startswith(prefix)]
        order = rng.permutation(len(group))
        k_test = round(n_test * 50 / 40 * len(group) / n_total)  # over the 247 ids; ~40 of the 197 on disk
        k_val = round(n_val * 50 / 40 * len(group) / n_total)
        for rank, j in enumerate(order):
            fold[group[j]] = "test" if rank < k_test else ("val" if rank < k_test + k_val else "train")
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for cid in ids:
        out[fold.get(cid, "train")].append(cid)
    return {k: sorted(v) for k, v in out.items()}


def read_case(root: str | Path, case_id: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read one case: float32 pixels ``(H, W)`` in [0, 1] and boolean masks ``(H, W)`` keyed by structure."""
    from PIL import Image as PILImage

    root = Path(root)
    path = _image_path(root, case_id)
    if path is None:
        raise DataFormatError(f"no image for case {case_id!r} under {root / 'images'}")
    with PILImage.open(path) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    masks = {}
    for s in STRUCTURES:
        with PILImage.open(root / "masks" / s / f"{case_id}.png") as m:
            arr = np.asarray(m.convert("L")) > 127
        if arr.shape != pixels.shape:
            raise DataFormatError(f"mask {s} of {case_id} is {arr.shape}, image is {pixels.shape}")
        masks[s] = arr
    return pixels, masks
