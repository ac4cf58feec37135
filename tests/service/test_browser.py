"""End-to-end web viewer test: `cxrkit serve` in a subprocess on a free loopback port, driven by Debian's
headless Chromium through Playwright: upload an NIH radiograph, wait for the findings table, toggle overlays,
take a screenshot."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from _serve import served

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    with served(env={"CXRKIT_INFERENCE_THREADS": "1"}, timeout=60) as base:
        yield base


def test_upload_findings_overlays_screenshot(server, examples, tmp_path):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium not installed (scripts/system_deps.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            assert "not a diagnosis" in page.inner_text("#disclaimer")
            page.set_input_files("#file", str(examples / "00001437_012.png"))
            page.wait_for_selector("body[data-analyzed='true']", timeout=60_000)
            rows = page.locator("#findings tbody tr")
            assert rows.count() >= 1
            status = page.inner_text("#status")
            assert status.startswith("Done"), status
            health = httpx.get(server + "/healthz").json()
            if health["classifier"]:
                assert page.locator("#findings tbody tr[data-finding]").count() == rows.count()
            assert "not a diagnosis" in page.inner_text("#report")
            # the canvas shows the radiograph at its own size and redraws on each toggle
            size = page.eval_on_selector("#canvas", "c => [c.width, c.height]")
            assert size == [512, 512]
            stamps = [page.eval_on_selector("#canvas", "c => c.dataset.drawn")]
            for toggle in ("#toggle-heatmap", "#toggle-boxes", "#toggle-masks"):
                page.wait_for_timeout(5)
                page.click(toggle)
                stamps.append(page.eval_on_selector("#canvas", "c => c.dataset.drawn"))
            assert len(set(stamps)) == len(stamps)
            # centre pixel is the radiograph (not blank)
            lum = page.evaluate("() => { const c = document.getElementById('canvas');"
                                " const d = c.getContext('2d').getImageData(256, 256, 1, 1).data; return d[0]+d[1]+d[2]; }")
            assert lum > 0
            shot = tmp_path / "viewer.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            # a bad upload shows the server's message, not a crash
            bad = tmp_path / "notes.png"
            bad.write_bytes(b"this is not an image")
            page.set_input_files("#file", str(bad))
            page.wait_for_function("document.getElementById('status').classList.contains('error')", timeout=30_000)
            assert page.inner_text("#status").startswith("415")
            assert errors == []
        finally:
            browser.close()
