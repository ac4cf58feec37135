"""Coverage of the readers by hypothesis-driven mutation fuzzing: only typed cxrkit errors may escape.

A fixed seed corpus (the real fixtures in ``tests/fixtures/io``, synthetic DICOMs in every transfer syntax
cxrkit writes, Pillow formats, and the hostile files of issue 11) is mutated by hypothesis (byte flips and
sets, interesting integers and tokens such as ``nan``/``1e308``/VR codes, insertions, deletions, splices,
truncations; mostly in the first 2 KB where the headers are) and fed through three doors: ``read_image`` on
bytes, ``read_image`` on a path, ``read_header``. A read either returns a valid image (float32 ``(H, W)``,
finite, in [0, 1]) or raises :class:`~cxrkit.errors.CxrkitError`; anything else is collected (type, place,
door, seed file) and fails the test at the end, with the inputs saved for replay.

Time-bounded: hypothesis runs chunks of 50 examples with seeds ``CXRKIT_FUZZ_SEED`` (default 0), +1, +2 ...
until ``CXRKIT_FUZZ_SECONDS`` (default 60) have passed, so each chunk is reproducible and CI stays bounded.
A long local run on other seeds (the figures in ``docs/security.md``)::

    CXRKIT_FUZZ_SECONDS=600 CXRKIT_FUZZ_SEED=100000 CXRKIT_FUZZ_REPORT=fuzz.json \\
        nice -n 10 .venv/bin/python -m pytest -q -s -p no:logging tests/io/test_io_fuzz_readers.py
"""

from __future__ import annotations

import io
import json
import os
import time
import traceback
import warnings
from collections import Counter
from functools import lru_cache
from pathlib import Path

import hostile_inputs as hostile
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from PIL import Image as PILImage

from cxrkit.errors import CxrkitError
from cxrkit.io import read_header, read_image
from cxrkit.synthetic import synthetic_chest, synthetic_dicom

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "io"
CHUNK = 50
HEAD = 2048
TOKENS = (
    b"nan", b"NaN", b"inf", b"-inf", b"1e308", b"-1e308", b"0", b"-0", b"0.0", b"1e-45", b"\x00",
    b"IS", b"SQ", b"UN", b"OB", b"OW", b"UI", b"US", b"DS", b"\\", b"1.2.840.10008.1.2.1.99",
    b"1.2.840.10008.1.2.4.50", b"1.2.840.10008.1.2.4.90", b"MONOCHROME1", b"PALETTE COLOR", b"YBR_FULL_422",
    b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0", b"\xe0\x7f\x10\x00", b"\x02\x00\x10\x00",
)
INTEGERS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFE, 65536, 2**24)


def _pil(fmt: str, arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pil_image(fmt: str, im: PILImage.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


@lru_cache(maxsize=1)
def corpus() -> dict[str, bytes]:
    """The seed files, built once (about 1.7 MB of fixtures plus small synthetic files)."""
    img = synthetic_chest((48, 48), seed=0)
    u8 = np.rint(img * 255).astype(np.uint8)
    files = {p.name: p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.name != "SOURCE.md"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ts in ("explicit", "implicit", "deflated", "rle", "jpeg2000", "jpegls"):
            files[f"dicom-{ts}"] = synthetic_dicom(None, pixels=img, transfer_syntax=ts)  # type: ignore[assignment]
        files["dicom-jpeg"] = synthetic_dicom(  # type: ignore[assignment]
            None, pixels=img, bits_stored=8, transfer_syntax="jpeg"
        )
        files["dicom-luts"] = synthetic_dicom(  # type: ignore[assignment]
            None, pixels=img, window=[(1000, 2000), (10, 20)], rescale=(2, -5), voi_lut=True, modality_lut=True
        )
        files["dicom-m1-signed"] = synthetic_dicom(  # type: ignore[assignment]
            None, pixels=img, photometric="MONOCHROME1", signed=True, rescale=(1, 1024)
        )
        files["dicom-rgb"] = synthetic_dicom(  # type: ignore[assignment]
            None, pixels=img, photometric="RGB", bits_stored=8
        )
        files["dicom-no-preamble"] = synthetic_dicom(None, pixels=img, preamble=False)  # type: ignore[assignment]
        files["dicom-no-preamble-implicit"] = synthetic_dicom(  # type: ignore[assignment]
            None, pixels=img, preamble=False, transfer_syntax="implicit"
        )
        files["dicom-phi"] = hostile.phi_dicom()
    files["deflate-corrupt"] = hostile.deflate_corrupt()
    files["deflate-truncated"] = hostile.deflate_truncated()
    files["deflate-bomb-small"] = hostile.deflate_bomb(4 * 2**20)
    files["ts-IS"] = hostile.wrong_vr_transfer_syntax("IS")
    files["ts-SQ"] = hostile.wrong_vr_transfer_syntax("SQ")
    files["png"] = _pil("PNG", u8)
    files["png16"] = _pil("PNG", (img * 60000).astype(np.uint16))
    files["png-palette"] = _pil_image("PNG", PILImage.fromarray(u8).convert("P"))
    files["jpeg"] = _pil("JPEG", u8)
    files["jpeg-progressive"] = _pil("JPEG", u8, progressive=True)
    files["tiff16"] = _pil("TIFF", (img * 60000).astype(np.uint16))
    files["tiff-float"] = _pil("TIFF", img.astype(np.float32))
    files["bmp"] = _pil("BMP", u8)
    files["gif"] = _pil("GIF", u8)
    files["webp"] = _pil("WEBP", u8)
    return files


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, bytes, str]:
    """``(seed name, mutated bytes, door)``."""
    files = corpus()
    name = draw(st.sampled_from(sorted(files)))
    data = bytearray(files[name])
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        head = draw(st.booleans()) or draw(st.booleans())  # 3 in 4 mutations hit the first 2 KB
        pos = draw(st.integers(0, (min(len(data), HEAD) if head else len(data)) - 1))
        op = draw(st.sampled_from(("flip", "set", "int16", "int32", "token", "insert", "delete", "splice", "cut")))
        if op == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[pos] = draw(st.integers(0, 255))
        elif op in ("int16", "int32"):
            width = 2 if op == "int16" else 4
            value = draw(st.sampled_from(INTEGERS)) & (2 ** (8 * width) - 1)
            data[pos : pos + width] = value.to_bytes(width, "little")
        elif op == "token":
            token = draw(st.sampled_from(TOKENS))
            data[pos : pos + len(token)] = token
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "splice":
            other = files[draw(st.sampled_from(sorted(files)))]
            start = draw(st.integers(0, max(0, len(other) - 1)))
            data[pos : pos + 64] = other[start : start + 64]
        else:
            del data[max(1, pos) :]
    door = draw(st.sampled_from(("bytes", "path", "header")))
    return name, bytes(data), door


def _exercise(case: tuple[str, bytes, str], path: Path, stats: Counter, failures: list[dict]) -> None:
    name, data, door = case
    stats["execs"] += 1
    try:
        if door == "bytes":
            result = read_image(data)
        elif door == "path":
            path.write_bytes(data)
            result = read_image(path)
        else:
            read_header(data)
            stats["header-ok"] += 1
            return
    except CxrkitError:
        stats["rejected"] += 1
        return
    except Exception as exc:  # noqa: BLE001 (collecting what escapes is the point)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        failures.append(
            {"seed": name, "door": door, "type": type(exc).__name__, "message": str(exc)[:300],
             "where": f"{Path(where.filename).name}:{where.lineno}", "data": data}
        )
        return
    px = result.pixels
    if not (px.dtype == np.float32 and px.ndim == 2 and np.isfinite(px).all()
            and float(px.min()) >= 0.0 and float(px.max()) <= 1.0):
        failures.append({"seed": name, "door": door, "type": "wrong success", "message": f"{px.dtype} {px.shape}",
                         "where": "", "data": data})
        return
    stats["read"] += 1


def _chunk(seed_value: int, path: Path, stats: Counter, failures: list[dict], deadline: float) -> None:
    @seed(seed_value)
    @settings(
        max_examples=CHUNK,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=mutants())
    def run(case: tuple[str, bytes, str]) -> None:
        if time.monotonic() < deadline:
            _exercise(case, path, stats, failures)

    run()


@pytest.mark.slow
@pytest.mark.timeout(0)
@pytest.mark.filterwarnings("ignore")  # the corrupt files make pydicom and Pillow warn; errors are what count
def test_fuzzed_readers_raise_only_cxrkit_errors(tmp_path: Path) -> None:
    budget = float(os.environ.get("CXRKIT_FUZZ_SECONDS", "60"))
    start = time.monotonic()
    deadline = start + budget
    stats: Counter = Counter()
    failures: list[dict] = []
    first = chunk = int(os.environ.get("CXRKIT_FUZZ_SEED", "0"))
    while time.monotonic() < deadline:
        _chunk(chunk, tmp_path / "fuzz.bin", stats, failures, deadline)
        chunk += 1
    elapsed = time.monotonic() - start
    distinct = Counter(f"{f['type']} at {f['where']}" for f in failures)
    summary = {"seconds": round(elapsed, 1), "seeds": [first, chunk - 1], "seed_files": len(corpus()), **stats,
               "untyped": len(failures), "distinct_untyped": dict(distinct)}
    print("fuzz:", json.dumps(summary))
    report = os.environ.get("CXRKIT_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps(summary, indent=2) + "\n")
    keep = Path(os.environ.get("CXRKIT_FUZZ_FAILURES", tmp_path / "failures"))
    for i, f in enumerate(failures[:50]):
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{i:03d}-{f['seed']}.bin").write_bytes(f["data"])
    assert not failures, "untyped exceptions or wrong successes escaped the readers:\n" + "\n".join(
        f"{f['type']} at {f['where']} ({f['door']}, seed {f['seed']}): {f['message']}" for f in failures[:20]
    ) + f"\n(inputs saved in {keep})"
