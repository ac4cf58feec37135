"""Hostile inputs (issue 11, reader half): deflate bombs, broken file meta, bad rescale, PHI in warnings, memory.

The table of bad files is in ``test_io_errors.py``; this file checks what a table cannot: the header-only
read, the configurable caps, peak memory (measured in a fresh interpreter) and what pydicom prints.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path

import hostile_inputs as hostile
import numpy as np
import pytest

from cxrkit.errors import CxrkitError, InvalidImageError, UnsupportedImageError
from cxrkit.io import read_header, read_image
from cxrkit.synthetic import synthetic_dicom

HERE = Path(__file__).resolve().parent
GIB = 2**30


def test_deflated_dicom_reads_like_its_explicit_twin() -> None:
    deflated = read_image(synthetic_dicom(None, shape=(64, 64), transfer_syntax="deflated"))
    explicit = read_image(synthetic_dicom(None, shape=(64, 64)))
    np.testing.assert_array_equal(deflated.pixels, explicit.pixels)
    assert deflated.meta.dicom["TransferSyntaxUID"] == "1.2.840.10008.1.2.1.99"
    assert read_header(synthetic_dicom(None, shape=(64, 64), transfer_syntax="deflated")).original_size == (64, 64)


def test_inflate_cap_is_configurable() -> None:
    data = synthetic_dicom(None, shape=(64, 64), transfer_syntax="deflated")
    with pytest.raises(UnsupportedImageError, match="max_inflated_bytes"):
        read_image(data, max_inflated_bytes=4000)
    with pytest.raises(UnsupportedImageError, match="max_inflated_bytes"):
        read_header(data, max_inflated_bytes=4000)
    assert read_image(data, max_inflated_bytes=10_000).pixels.shape == (64, 64)


@pytest.mark.parametrize(
    ("make", "error", "word"),
    [
        pytest.param(hostile.deflate_bomb, UnsupportedImageError, "decompression bomb", id="deflate-bomb"),
        pytest.param(hostile.deflate_corrupt, InvalidImageError, "corrupt", id="deflate-corrupt"),
        pytest.param(hostile.deflate_truncated, InvalidImageError, "truncated", id="deflate-truncated"),
        pytest.param(lambda: hostile.wrong_vr_transfer_syntax("IS"), InvalidImageError, "VR IS", id="ts-IS"),
        pytest.param(lambda: hostile.wrong_vr_transfer_syntax("SQ"), InvalidImageError, "VR SQ", id="ts-SQ"),
    ],
)
def test_header_only_read_refuses_the_same_files(tmp_path: Path, make, error: type[CxrkitError], word: str) -> None:
    path = tmp_path / "x.dcm"
    path.write_bytes(make())
    for src in (path, path.read_bytes()):
        with pytest.raises(error, match=word):
            read_header(src)


def _peak_rss(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter; it prints a JSON dict. Adds ``base`` (after imports) and ``peak``
    (whole run) resident set sizes in bytes, from ``VmHWM`` in ``/proc/self/status``. Not ``getrusage``: Linux
    keeps ``ru_maxrss`` across ``execve``, so a child forked from a large pytest process would report the
    parent's peak."""
    prelude = (
        "import json, sys\n"
        "def _hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import numpy as np\n"
        "import hostile_inputs as hostile\n"
        "from cxrkit.io import read_image, read_header\n"
        "from cxrkit.errors import CxrkitError\n"
        "base = _hwm()\n"
    )
    tail = (
        "\nout['base'] = base\n"
        "out['peak'] = _hwm()\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", prelude + code + tail, str(HERE), *args],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_deflate_bomb_stops_at_the_cap_not_at_the_end() -> None:
    """A 300 MB bomb (a 0.3 MB file) is refused after inflating at most the 128 MiB cap, header read included."""
    out = _peak_rss(
        "data = hostile.deflate_bomb(300 * 2**20)\n"
        "base = _hwm()\n"
        "out = {}\n"
        "for fn in (read_image, read_header):\n"
        "    try:\n"
        "        fn(data)\n"
        "    except CxrkitError as exc:\n"
        "        out[fn.__name__] = type(exc).__name__\n"
    )
    assert out["read_image"] == out["read_header"] == "UnsupportedImageError"
    assert out["peak"] - out["base"] < 300 * 2**20, out  # inflating all of it would cost > 300 MB


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_large_png_decodes_at_bounded_memory(mode: str) -> None:
    """Issue 11 item 10: a ~0.2 MB 7000x7000 PNG cost 2.3 GB; now it is reduced while decoding, < 1 GB."""
    out = _peak_rss(
        f"data = hostile.large_png(7000, {mode!r})\n"
        "base = _hwm()\n"
        "image = read_image(data)\n"
        "out = {'size': len(data), 'shape': list(image.pixels.shape), 'notes': list(image.meta.notes),\n"
        "       'original': list(image.meta.original_size)}\n"
    )
    assert out["size"] < 32 * 2**20
    assert out["shape"] == [3500, 3500] and out["original"] == [7000, 7000]
    assert any("reduced" in n for n in out["notes"]), out["notes"]
    assert out["peak"] < GIB, out


def test_large_jpeg_is_reduced_by_the_decoder(tmp_path: Path) -> None:
    import io

    from PIL import Image as PILImage

    buf = io.BytesIO()
    PILImage.open(io.BytesIO(hostile.large_png(6000))).save(buf, format="JPEG", quality=80)
    image = read_image(buf.getvalue())
    assert image.pixels.shape == (3000, 3000) and image.meta.original_size == (6000, 6000)
    assert any("JPEG" in n and "reduced" in n for n in image.meta.notes), image.meta.notes


def test_reduction_scales_pixel_spacing_and_can_be_disabled() -> None:
    data = synthetic_dicom(None, shape=(64, 48), spacing=(0.2, 0.25), window=(2048, 4096))  # a fixed mapping
    small = read_image(data, max_output_pixels=1000)
    assert small.pixels.shape == (32, 24) and small.meta.original_size == (64, 48)
    assert small.meta.pixel_spacing_mm == pytest.approx((0.4, 0.5))
    assert any("reduced 2x" in n for n in small.meta.notes), small.meta.notes
    full = read_image(data, max_output_pixels=None)
    assert full.pixels.shape == (64, 48) and full.meta.pixel_spacing_mm == pytest.approx((0.2, 0.25))
    np.testing.assert_allclose(small.pixels, full.pixels.reshape(32, 2, 24, 2).mean(axis=(1, 3)), atol=2 / 4095)


def test_float_image_with_extreme_range_is_scaled_not_nan() -> None:
    """Found by the fuzz test: a float TIFF spanning -2.5e38..2.5e38 overflowed float32 and read as all NaN."""
    import io

    from PIL import Image as PILImage

    arr = np.linspace(-2.5e38, 2.5e38, 64 * 64, dtype=np.float32).reshape(64, 64)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="TIFF")
    px = read_image(buf.getvalue()).pixels
    assert np.isfinite(px).all() and px.min() == 0.0 and px.max() == 1.0


def test_pydicom_warnings_do_not_carry_header_values(caplog: pytest.LogCaptureFixture, capfd) -> None:
    """Issue 11 item 9: pydicom quoted ages, dates and sex in its warnings (stderr of serve / analyze / pacs)."""
    data = hostile.phi_dicom()  # writing it makes pydicom warn and log too: not what is tested
    caplog.clear()
    capfd.readouterr()
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(data)
        read_header(data)
    assert image.meta.dicom["SeriesNumber"] == "Smith123"  # the value is read, just not printed
    printed = "\n".join(
        [str(w.message) for w in caught] + [r.getMessage() for r in caplog.records] + list(capfd.readouterr())
    )
    for _, value in hostile.PHI_PATCHES.values():
        assert value not in printed, printed


def test_error_messages_do_not_quote_header_values() -> None:
    """With pydicom set to RAISE on invalid values (a user's choice, kept), its exception quotes the value;
    the InvalidImageError built from it does not."""
    from pydicom import config

    saved = config.settings._reading_validation_mode
    config.settings.reading_validation_mode = config.RAISE
    try:
        with pytest.raises(InvalidImageError) as info:
            read_image(hostile.phi_dicom())
    finally:
        config.settings._reading_validation_mode = saved
    assert "VR IS" in str(info.value) and "Smith123" not in str(info.value), str(info.value)


def test_redaction_of_what_pydicom_still_says() -> None:
    from cxrkit.io._pydicom_quiet import redact

    assert redact("Invalid value for VR IS: 'Smith123'.") == "Invalid value for VR IS: <value>."
    assert redact('Value "70 kg" is not valid for elements with a VR of DS') == (
        "Value <value> is not valid for elements with a VR of DS"
    )
    assert redact("End of file reached before delimiter in file /data/DOE_JANE/1.dcm") == (
        "End of file reached before delimiter"
    )


def test_quiet_reads_restore_pydicom_and_warnings_state() -> None:
    from pydicom import config

    before = (config.settings.reading_validation_mode, warnings.showwarning, list(logging.getLogger("pydicom").filters))
    read_image(hostile.phi_dicom())
    after = (config.settings.reading_validation_mode, warnings.showwarning, list(logging.getLogger("pydicom").filters))
    assert after == before
