"""On-disk preprocessing cache: exactness, keys, corruption, concurrency, warm runs and the torch wrapper."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

from cxrkit.data.cache import CACHE_FORMAT_VERSION, PreprocessCache, WarmReport, read_pixels_default
from cxrkit.data.cached_dataset import CachedDataset
from cxrkit.data.dataset import Dataset, DatasetCard
from cxrkit.data.transforms import TransformSpec, preprocess
from cxrkit.errors import DataFormatError, InvalidImageError
from cxrkit.io import read_image

SPEC = TransformSpec(64, "center_crop", "xrv")


def _chest_like(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """uint8 ``(h, w)``: bright body, two dark lung fields, noise (seeded)."""
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w]).reshape(2, 1, 1)
    img = 0.75 - 0.25 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
    for cx in (0.3, 0.7):
        img -= 0.45 * np.exp(-(((xx - cx) / 0.13) ** 2 + ((yy - 0.5) / 0.25) ** 2))
    img += rng.normal(0, 0.03, (h, w))
    return np.clip(img * 255, 0, 255).astype(np.uint8)


@pytest.fixture
def pngs(tmp_path, rng) -> list[str]:
    paths = []
    for i, (h, w) in enumerate([(200, 160), (150, 220), (128, 128), (190, 170)]):
        p = tmp_path / "img" / f"cxr_{i}.png"
        p.parent.mkdir(exist_ok=True)
        PILImage.fromarray(_chest_like(rng, h, w)).save(p)
        paths.append(str(p))
    return paths


class CountingReader:
    """The real reader, counting calls (only used in this process)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: str) -> np.ndarray:
        self.calls += 1
        return read_pixels_default(path)


def failing_reader(path: str) -> np.ndarray:
    raise AssertionError(f"decoded {path} although it is cached")


def test_cached_values_match_direct_preprocessing(tmp_path, pngs):
    reader = CountingReader()
    for dtype, tol_unit in (("uint16", 0.5 / 65535), ("uint8", 0.5 / 255)):
        cache = PreprocessCache(tmp_path / "c", SPEC, dtype=dtype, reader=reader)
        for p in pngs:
            direct = preprocess(read_image(p).pixels, SPEC)
            first, again = cache.get(p), cache.get(p)
            assert first.shape == (1, 64, 64) and first.dtype == np.float32
            np.testing.assert_array_equal(first, again)  # first epoch == later epochs
            np.testing.assert_allclose(first, direct, atol=tol_unit * 2048 * 1.001, rtol=0)
    assert reader.calls == 2 * len(pngs)  # one decode per image and dtype, none for the second get


def test_one_entry_serves_every_intensity_convention(tmp_path, pngs):
    reader = CountingReader()
    for intensity in ("unit", "symmetric", "xrv", "imagenet"):
        for channels in (1, 3):
            spec = TransformSpec(64, "center_crop", intensity, channels)
            got = PreprocessCache(tmp_path, spec, reader=reader).get(pngs[0])
            want = preprocess(read_image(pngs[0]).pixels, spec)
            assert got.shape == want.shape == (channels, 64, 64)
            np.testing.assert_allclose(got, want, atol=1e-3 * max(1.0, float(np.abs(want).max())))
    assert reader.calls == 1
    assert PreprocessCache(tmp_path, SPEC).stats()["entries"] == 1


def test_entries_are_plain_memory_mappable_npy(tmp_path, pngs):
    cache = PreprocessCache(tmp_path, SPEC)
    unit = cache.get_unit(pngs[1])
    mm = np.load(cache.entry_path(pngs[1]), mmap_mode="r")
    assert mm.shape == (64, 64) and mm.dtype == np.uint16
    np.testing.assert_allclose(mm / np.float32(65535), unit, atol=1e-7, rtol=0)
    assert cache.entry_path(pngs[1]).parent.parent.name == f"s64-center_crop-uint16-v{CACHE_FORMAT_VERSION}"


def test_key_changes_with_content_size_geometry_and_reader_version(tmp_path, pngs, rng):
    p = pngs[0]
    base = PreprocessCache(tmp_path, SPEC)
    k0 = base.key(p)
    assert PreprocessCache(tmp_path, TransformSpec(64, "center_crop", "unit")).key(p) == k0  # intensity: no
    assert PreprocessCache(tmp_path, TransformSpec(64, "resize", "xrv")).key(p) != k0
    assert PreprocessCache(tmp_path, TransformSpec(96, "center_crop", "xrv")).key(p) != k0
    assert PreprocessCache(tmp_path, SPEC, dtype="uint8").key(p) != k0
    assert PreprocessCache(tmp_path, SPEC, reader_version="other").key(p) != k0
    before = base.get(p)
    # rewrite the file with other pixels: the stale entry must not be returned
    PILImage.fromarray(255 - _chest_like(rng, 200, 160)).save(p)
    st = os.stat(p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert base.key(p) != k0
    after = base.get(p)
    assert np.abs(after - before).mean() > 100  # xrv units: the inverted image is very different
    np.testing.assert_allclose(after, preprocess(read_image(p).pixels, SPEC), atol=0.02)


def _corrupt_truncate(f: Path) -> None:
    f.write_bytes(f.read_bytes()[:-100])


def _corrupt_flip_byte(f: Path) -> None:
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))


def _corrupt_other_shape(f: Path) -> None:
    # a valid .npy of the same byte size but another shape, with a correct-looking footer length
    data = f.read_bytes()
    arr = np.zeros((32, 128), np.uint16)
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=(1, 0))
    f.write_bytes(buf.getvalue() + data[-16:])


def _corrupt_empty(f: Path) -> None:
    f.write_bytes(b"")


@pytest.mark.parametrize("corrupt", [_corrupt_truncate, _corrupt_flip_byte, _corrupt_other_shape, _corrupt_empty])
def test_corrupt_entries_are_detected_and_rebuilt(tmp_path, pngs, corrupt, caplog):
    reader = CountingReader()
    cache = PreprocessCache(tmp_path, SPEC, reader=reader)
    good = cache.get(pngs[2])
    corrupt(cache.entry_path(pngs[2]))
    if corrupt in (_corrupt_truncate, _corrupt_empty):
        assert pngs[2] not in cache  # `in` checks the size only; get() also checks header and CRC
    with caplog.at_level(logging.WARNING, logger="cxrkit.data.cache"):
        again = cache.get(pngs[2])
    assert "corrupt" in caplog.text
    np.testing.assert_array_equal(again, good)
    assert reader.calls == 2
    cache.reader = failing_reader  # the rebuilt entry is valid again
    np.testing.assert_array_equal(cache.get(pngs[2]), good)


def test_missing_and_unreadable_files_raise_typed_errors(tmp_path):
    cache = PreprocessCache(tmp_path, SPEC)
    with pytest.raises(InvalidImageError, match="not found"):
        cache.get(tmp_path / "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not an image at all")
    with pytest.raises(InvalidImageError):
        cache.get(junk)
    assert cache.stats()["entries"] == 0


@pytest.mark.parametrize("bad", [{"dtype": "float16"}, {"spec": "224"}])
def test_bad_configuration(tmp_path, bad):
    kwargs = {"spec": SPEC, **bad}
    with pytest.raises(DataFormatError):
        PreprocessCache(tmp_path, **kwargs)


def test_warm_with_workers_records_failures_and_leaves_no_temp_files(tmp_path, pngs):
    junk = tmp_path / "img" / "junk.png"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    missing = str(tmp_path / "img" / "missing.png")
    cache = PreprocessCache(tmp_path / "cache", SPEC)
    paths = pngs + [str(junk), missing]
    # fork keeps the test fast; the default "spawn" only differs in how workers start
    report = cache.warm(paths, workers=2, progress=False, mp_context="fork")
    assert isinstance(report, WarmReport)
    assert (report.total, report.cached, report.built) == (6, 0, 4)
    assert set(report.failed) == {str(junk), missing}
    assert report.failed[missing].startswith("InvalidImageError")
    # workers built what this process would have built, and a second warm finds everything cached
    cache.reader = failing_reader
    for p in pngs:
        np.testing.assert_allclose(cache.get(p), preprocess(read_image(p).pixels, SPEC), atol=0.02)
    again = cache.warm(pngs, workers=0, progress=False)
    assert (again.cached, again.built, again.failed) == (4, 0, {})
    assert not list((tmp_path / "cache").rglob("*.tmp"))
    assert report.to_dict()["failed"] == report.failed


def test_concurrent_builders_of_the_same_entries(tmp_path, pngs):
    """Two processes racing to build the same entries: both finish, every entry is complete and valid."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        results = list(pool.map(_get_all, [(str(tmp_path), pngs)] * 4))
    for r in results[1:]:
        for a, b in zip(results[0], r, strict=True):
            np.testing.assert_array_equal(a, b)
    cache = PreprocessCache(tmp_path, SPEC, reader=failing_reader)
    for p, a in zip(pngs, results[0], strict=True):
        np.testing.assert_array_equal(cache.get(p), a)
    assert not list(tmp_path.rglob("*.tmp"))


def _get_all(args: tuple[str, list[str]]) -> list[np.ndarray]:
    root, paths = args
    cache = PreprocessCache(root, SPEC)
    return [cache.get(p) for p in paths]


def _dataset(paths: list[str]) -> Dataset:
    labels = np.array([[1, 0], [np.nan, 1], [0, -1], [1, 1]], np.float32)[: len(paths)]
    meta = pd.DataFrame({"path": paths, "patient_id": [f"p{i}" for i in range(len(paths))]})
    card = DatasetCard(name="synthetic", title="synthetic test images", citation="-", license="CC0",
                       homepage="-", label_source="made up")
    return Dataset(["Pneumonia", "Effusion"], labels, meta, card=card)


def test_cached_dataset_with_a_dataloader(tmp_path, pngs):
    import torch
    from torch.utils.data import DataLoader

    ds = _dataset(pngs)
    cached = CachedDataset(ds, PreprocessCache(tmp_path, SPEC))
    assert len(cached) == 4
    x, target, mask = cached[2]
    assert x.shape == (1, 64, 64) and x.dtype == torch.float32
    assert target.tolist() == [0.0, 0.0] and mask.tolist() == [1.0, 0.0]  # -1 uncertain is masked
    x1, target1, mask1 = cached[1]
    assert target1.tolist() == [0.0, 1.0] and mask1.tolist() == [0.0, 1.0]  # NaN is masked
    np.testing.assert_allclose(x1.numpy(), preprocess(read_image(pngs[1]).pixels, SPEC), atol=0.02)
    report = cached.warm(workers=0, progress=False)
    assert (report.cached, report.built) == (2, 2)  # rows 1 and 2 were cached by the reads above
    cached.cache.reader = failing_reader  # epochs after the first never decode
    for _ in range(2):
        batches = list(DataLoader(cached, batch_size=3, num_workers=0))
        assert [b[0].shape[0] for b in batches] == [3, 1]
    assert torch.isfinite(batches[0][0]).all()


def test_cached_dataset_rejects_rows_without_images(tmp_path, pngs):
    ds = _dataset(pngs[:2])
    ds.meta.loc[1, "path"] = None
    with pytest.raises(DataFormatError, match="no image path"):
        CachedDataset(ds, PreprocessCache(tmp_path, SPEC))


def test_cached_read_is_much_faster_than_decoding(tmp_path, rng):
    """Loose guard (5x, typically 30-60x) against the cache silently decoding again; numbers: benchmarks/."""
    p = tmp_path / "big.png"
    PILImage.fromarray(_chest_like(rng, 1024, 1024)).save(p)
    cache = PreprocessCache(tmp_path, TransformSpec(224, "center_crop", "xrv"))
    t0 = time.perf_counter()
    cache.get(p)
    build = time.perf_counter() - t0
    hits = []
    for _ in range(5):
        t0 = time.perf_counter()
        cache.get(p)
        hits.append(time.perf_counter() - t0)
    assert min(hits) * 5 < build, (hits, build)


def test_unwritable_cache_still_returns_pixels(tmp_path, pngs, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    cache = PreprocessCache(blocker, SPEC)
    with caplog.at_level(logging.WARNING, logger="cxrkit.data.cache"):
        x = cache.get(pngs[0])
    assert "cannot write cache entry" in caplog.text
    np.testing.assert_allclose(x, preprocess(read_image(pngs[0]).pixels, SPEC), atol=0.02)


@pytest.mark.shared_data
def test_real_nih_rows_through_the_cache(tmp_path, shared_data):
    from cxrkit.data import load_dataset

    ds = load_dataset("nih", root=shared_data / "nih-cxr14").subset(np.arange(6))
    cached = CachedDataset(ds, PreprocessCache(tmp_path, TransformSpec(224, "center_crop", "xrv")))
    report = cached.warm(workers=0, progress=False)
    assert (report.built, report.failed) == (6, {})
    cached.cache.reader = failing_reader
    for i in range(6):
        x, target, mask = cached[i]
        assert x.shape == (1, 224, 224)
        want = preprocess(read_image(ds.meta["path"].iloc[i]).pixels, cached.cache.spec)
        np.testing.assert_allclose(x.numpy(), want, atol=0.02)
        labels = ds.labels[i]
        np.testing.assert_array_equal(mask.numpy(), np.isfinite(labels).astype(np.float32))
        np.testing.assert_array_equal(target.numpy(), np.nan_to_num(labels, nan=0.0))
