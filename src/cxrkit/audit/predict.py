"""Model outputs for an audit, cached on disk so a second audit is fast and a killed audit resumes.

Each *job* maps a batch of images to named arrays (one row per image): ``full`` (the classifier's
probabilities, as :meth:`Classifier.predict_all` gives them), ``embed`` (the pooled last feature map, the
model's embedding), ``lungs`` (probabilities with only the lungs kept / with the lungs blacked out, using the
shipped segmenter) and ``border`` (probabilities with a border band blanked) and ``thumb`` (a 16 x 16 thumbnail of the pixels, the
source probe's control). Results are stored as atomic
``.npz`` shards under ``<cache>/<model key>/<job>/``, one per finished batch, keyed per image by its path,
modification time and size; a killed run loses at most the batch in flight.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy.special import expit

from cxrkit.fs import atomic_open

__all__ = ["image_key", "model_key", "cached_outputs", "JOBS", "occlude_border", "lung_variants"]

log = logging.getLogger(__name__)

JOBS = ("full", "embed", "lungs", "border", "thumb")
#: Fraction of the width / height blanked on each side by the border probe.
BORDER_FRACTION = 0.12


def image_key(path: str | os.PathLike) -> str:
    """Cache key of one image file: its absolute path, mtime (ns) and size."""
    p = Path(path)
    try:
        st = p.stat()
        raw = f"{p.resolve()}|{st.st_mtime_ns}|{st.st_size}"
    except OSError:
        raw = f"{p}|missing"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def model_key(card) -> str:
    """Cache key of a model: its name and the SHA-256 of its weights and ONNX files."""
    raw = f"{card.name}|{card.weights_sha256}|{card.onnx_sha256 or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def occlude_border(pixels: np.ndarray, fraction: float = BORDER_FRACTION, fill: float = 0.0) -> np.ndarray:
    """A copy with a band of ``fraction`` of the height / width blanked on all four sides (text markers,
    laterality letters and collimation edges live there)."""
    out = np.array(pixels, dtype=np.float32, copy=True)
    h, w = out.shape
    bh, bw = max(1, int(round(h * fraction))), max(1, int(round(w * fraction)))
    out[:bh] = fill
    out[-bh:] = fill
    out[:, :bw] = fill
    out[:, -bw:] = fill
    return out


def lung_variants(pixels: np.ndarray, lungs: np.ndarray, fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(lungs only, lungs blacked out)``: pixels outside / inside the boolean lung mask set to ``fill``."""
    px = np.asarray(pixels, dtype=np.float32)
    return np.where(lungs, px, fill).astype(np.float32), np.where(lungs, fill, px).astype(np.float32)


def _load_shards(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    found: dict[str, dict[str, np.ndarray]] = {}
    for f in sorted(folder.glob("*.npz")):
        try:
            with np.load(f, allow_pickle=False) as z:
                keys = z["keys"]
                arrays = {k: z[k] for k in z.files if k != "keys"}
        except Exception as exc:  # a corrupt shard (disk full, foreign file) is recomputed, never fatal
            log.warning("ignoring unreadable cache shard %s: %s", f, exc)
            continue
        for i, k in enumerate(keys.tolist()):
            found[str(k)] = {name: a[i] for name, a in arrays.items()}
    return found


def _save_shard(folder: Path, keys: list[str], arrays: dict[str, np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256("|".join(keys).encode()).hexdigest()[:20]
    with atomic_open(folder / f"{name}.npz", "wb") as fh:
        np.savez(fh, keys=np.asarray(keys, dtype=str), **arrays)  # type: ignore[arg-type]


def cached_outputs(paths: Sequence[str], job: str, compute: Callable[[list[np.ndarray]], dict[str, np.ndarray]],
                   cache_dir: str | os.PathLike, *, batch_size: int = 16, errors: dict[str, str] | None = None,
                   progress: bool | None = None) -> dict[str, np.ndarray]:
    """Run ``compute`` over images not yet in the cache and return every image's outputs.

    Args:
        paths: image files.
        job: job name (cache sub-folder).
        compute: list of float32 ``(H, W)`` images → name → array with one row per image.
        cache_dir: ``<cache>/<model key>`` folder.
        batch_size: images per shard.
        errors: filled with path → reason for images that could not be read (their rows are NaN).
        progress: tqdm bar (default: when stderr is a terminal).

    Returns:
        name → array ``(N, ...)`` aligned with ``paths`` (NaN rows where an image failed).
    """
    from tqdm.auto import tqdm

    from cxrkit.errors import CxrkitError
    from cxrkit.io import read_image

    folder = Path(cache_dir) / job
    have = _load_shards(folder) if folder.is_dir() else {}
    keys = [image_key(p) for p in paths]
    todo = [i for i, k in enumerate(keys) if k not in have]
    if len(todo) < len(paths):
        log.info("%s: %d of %d images from the cache", job, len(paths) - len(todo), len(paths))
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(todo), desc=f"audit {job}", disable=not show or not todo, unit="img")
    for s in range(0, len(todo), batch_size):
        idx = todo[s : s + batch_size]
        imgs, ok = [], []
        for i in idx:
            try:
                imgs.append(read_image(paths[i]).pixels)
                ok.append(i)
            except (CxrkitError, OSError) as exc:
                if errors is not None:
                    errors[str(paths[i])] = str(exc)
        if imgs:
            out = compute(imgs)
            _save_shard(folder, [keys[i] for i in ok], {k: np.asarray(v) for k, v in out.items()})
            for r, i in enumerate(ok):
                have[keys[i]] = {k: np.asarray(v)[r] for k, v in out.items()}
        bar.update(len(idx))
    bar.close()
    template = next(iter(have.values()), None)
    if template is None:
        return {}
    res = {}
    for name, v in template.items():
        arr = np.full((len(paths),) + np.shape(v), np.nan, dtype=np.float32)
        for i, k in enumerate(keys):
            if k in have:
                arr[i] = have[k][name]
        res[name] = arr
    return res


def job_functions(clf, *, segmenter=None) -> dict[str, Callable[[list[np.ndarray]], dict[str, np.ndarray]]]:
    """The compute function of each job for a :class:`cxrkit.models.classifier.Classifier`."""

    def full(imgs):
        return {"probs": clf.predict_all(imgs, batch_size=len(imgs))}

    def embed(imgs):
        from cxrkit.explain.onnx_cam import feature_session

        t = clf.transform
        sess = feature_session(clf.torch_model(), t.size, t.channels)
        logits, feats = sess.run(clf.preprocess(imgs))
        return {"embedding": feats.mean(axis=(2, 3)).astype(np.float32),
                "probs": expit(logits.astype(np.float64)).astype(np.float32)}

    def lungs(imgs):
        seg = segmenter
        if seg is None:
            raise RuntimeError("the lungs job needs a segmenter")
        only, out, frac = [], [], []
        results = seg.segment_batch(imgs)
        for px, r in zip(imgs, results):
            m = r.masks
            lung = np.zeros(np.shape(px), dtype=bool)
            for name in ("right_lung", "left_lung"):
                if name in m:
                    lung |= m[name]
            a, b = lung_variants(px, lung)
            only.append(a)
            out.append(b)
            frac.append(float(lung.mean()))
        return {"lungs_only": clf.predict_all(only, batch_size=len(only)),
                "lungs_out": clf.predict_all(out, batch_size=len(out)),
                "lung_fraction": np.asarray(frac, dtype=np.float32)}

    def thumb(imgs):  # control for the source probe: what the raw pixels alone say about the collection
        from cxrkit.anatomy.preprocess import resize_float

        return {"thumb": np.stack([resize_float(np.asarray(p, np.float32), (16, 16)).ravel() for p in imgs])}

    def border(imgs):
        return {"probs": clf.predict_all([occlude_border(p) for p in imgs], batch_size=len(imgs))}

    return {"full": full, "embed": embed, "lungs": lungs, "border": border, "thumb": thumb}
