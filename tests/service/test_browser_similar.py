"""The viewer's similar-prior-films panel in headless Chromium: `cxrkit serve --index IDX` in a subprocess,
upload an NIH film, the panel shows thumbnails of the nearest indexed films with distance and labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _serve import served

CHROMIUM = "/usr/bin/chromium"
FIX = Path(__file__).resolve().parents[1] / "fixtures"
FILMS = {FIX / "anatomy" / "00000001_000.png": "Cardiomegaly", FIX / "anatomy" / "00003659_015.png": "No Finding",
         FIX / "classifier" / "00000002_000.png": "No Finding", FIX / "io" / "00011322_006.png": "Cardiomegaly|Edema"}
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    pd = pytest.importorskip("pandas")
    from cxrkit.io import read_image
    from cxrkit.retrieval.embed import load_embedder
    from cxrkit.retrieval.index import RetrievalIndex

    emb = load_embedder(threads=1)
    idx = RetrievalIndex(emb.spec)
    meta = pd.DataFrame({"image_id": [p.name for p in FILMS], "patient_id": [f"p{i}" for i in range(len(FILMS))],
                         "labels": list(FILMS.values()), "view": "PA", "source_path": [str(p) for p in FILMS]})
    idx.add(emb.embed([read_image(p) for p in FILMS]), meta, spec=emb.spec)
    return idx.save(tmp_path_factory.mktemp("similar") / "idx")


@pytest.fixture(scope="module")
def server(index_dir):
    env = {"CXRKIT_INFERENCE_THREADS": "1", "CXRKIT_SEGMENT": "0", "CXRKIT_LOCALIZE": "0"}
    with served(["--index", str(index_dir)], env) as base:
        yield base


def test_similar_panel_shows_nearest_films(server, tmp_path):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium not installed (scripts/system_deps.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                    "--disable-background-networking", "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1200})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            assert page.locator("#similar-panel").is_hidden()
            page.set_input_files("#file", str(FIX / "io" / "00011322_006.png"))
            page.wait_for_selector("body[data-similar]", timeout=60_000)
            figs = page.locator("#similar figure.neighbor")
            assert figs.count() == 4  # k=8 asked, 4 films indexed (the query's patient is unknown: none excluded)
            first = figs.nth(0).inner_text()
            assert first.startswith("#1 00011322_006.png") and "distance 0.000" in first and "Edema" in first
            assert "distance" in figs.nth(3).inner_text()
            widths = page.eval_on_selector_all("#similar img", "imgs => imgs.map(i => i.naturalWidth)")
            assert all(w > 0 for w in widths)  # thumbnails decoded
            assert "4 nearest of 4 indexed films" in page.inner_text("#similar-status")
            page.screenshot(path=str(tmp_path / "similar.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()
