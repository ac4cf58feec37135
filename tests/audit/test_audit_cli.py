"""``cxrkit audit`` / ``cxrkit recalibrate`` end to end on the bundled NIH PNGs, and the audit on real shared data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxrkit.service.cli import main

ROOT = Path(__file__).resolve().parents[2]
#: The audits here pin cxr-default-v1 (224 px, fast; its COVID-19 shortcut is documented in its card).
V1 = ROOT / "src" / "cxrkit" / "models" / "weights" / "cxr-default-v1.card.json"
PNGS = [ROOT / "tests" / "fixtures" / "classifier" / "00000002_000.png",
        *sorted((ROOT / "src" / "cxrkit" / "examples").glob("*.png"))]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit_in")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        name = f"film{i:02d}.png"
        shutil.copy(PNGS[i % len(PNGS)], d / name)
        rows.append({"image": name, "Effusion": i % 2, "Nodule": int(rng.integers(0, 2)), "sex": "MF"[(i // 2) % 2],
                     "age": 30 + i, "view": "PA" if i < 15 else "AP", "site": "north" if i < 30 else "south",
                     "scanner": "s1" if i < 24 else "s2", "Hernia": 0})
    rows.append({"image": "not_there.png", "Effusion": 1, "Nodule": 0, "sex": "M", "age": 50, "view": "PA",
                 "site": "north", "scanner": "s1", "Hernia": 0})
    pd.DataFrame(rows).to_csv(d / "labels.csv", index=False)
    return d


def test_audit_cli_on_fixtures_then_cached(labelled, tmp_path, capsys):
    out = tmp_path / "audit"
    args = ["audit", "--model", str(V1), "--images", str(labelled), "--labels", str(labelled / "labels.csv"),
            "--out", str(out), "--n-boot", "200", "--probe-limit", "4"]
    assert main(args) == 0
    text = capsys.readouterr()
    assert "report:" in text.out and "1 of 41 images" in text.err and "'Hernia'" in text.err
    res = json.loads((out / "audit.json").read_text())
    assert res["data"]["n_images"] == 40 and set(res["data"]["sources"]) == {"north", "south"}
    cs = {e["finding"]: e for e in res["cross_site"]}
    assert cs["Effusion"]["pooled"]["n"] == 40 and cs["Effusion"]["pooled"]["auroc"] is not None
    assert {r["column"] for r in res["subgroups"]["rows"]} >= {"sex", "view"}
    assert any("scanner=s2 has" in n for n in res["subgroups"]["notes"])
    assert res["probes"]["source_id"]["n"] == 8 and res["probes"]["occlusion"]
    assert res["calibration"] and all("ece" in c for c in res["calibration"])
    html = (out / "audit.html").read_text()
    assert html.count("data:image/png;base64,") >= 3 and "Cross-site matrix" in html
    shards = sorted((out / "cache").rglob("*.npz"))
    assert shards
    stamp = [p.stat().st_mtime_ns for p in shards]
    assert main(args) == 0  # second run: everything from the cache, no shard rewritten
    assert [p.stat().st_mtime_ns for p in sorted((out / "cache").rglob("*.npz"))] == stamp


def test_recalibrate_cli_writes_a_card_per_site(labelled, tmp_path, capsys):
    out = tmp_path / "cards"
    rc = main(["recalibrate", "--model", str(V1), "--images", str(labelled), "--labels", str(labelled / "labels.csv"),
               "--out", str(out), "--source", "ignored"])
    text = capsys.readouterr().out
    assert rc == 0 and "north: wrote" in text
    cards = sorted(out.glob("*.card.json"))
    assert [c.name for c in cards] == ["cxr-default-v1-north-r1.card.json", "cxr-default-v1-south-r1.card.json"]
    from cxrkit.models.classifier import load_classifier

    assert load_classifier(cards[0]).card.name == "cxr-default-v1-north-r1"


def test_audit_input_errors_are_clear(tmp_path, capsys):
    assert main(["audit", "--dataset", "nih", "--out", str(tmp_path)]) == 1
    assert "one --root per --dataset" in capsys.readouterr().err
    assert main(["audit", "--images", str(tmp_path), "--out", str(tmp_path)]) == 1
    assert "--images and --labels go together" in capsys.readouterr().err


@pytest.mark.browser
def test_audit_html_renders_in_headless_chromium(labelled, tmp_path):
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("headless Chromium not installed")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    out = tmp_path / "a"
    assert main(["audit", "--model", str(V1), "--images", str(labelled), "--labels", str(labelled / "labels.csv"),
                 "--out", str(out), "--n-boot", "100", "--no-probes"]) == 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto((out / "audit.html").as_uri())
        loaded = page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
        total = page.evaluate("document.images.length")
        tables = page.evaluate("document.querySelectorAll('table').length")
        browser.close()
    assert total >= 3 and loaded == total and tables >= 3


@pytest.mark.shared_data
def test_audit_reproduces_the_covid_shortcut_on_shared_data(shared_data, tmp_path):
    from cxrkit.audit.inputs import DatasetSpec, from_datasets, restrict_ids, subsample
    from cxrkit.audit.run import AuditOptions, run_audit

    specs = [DatasetSpec("nih", str(shared_data / "nih-cxr14"), {}),
             DatasetSpec("covid_ieee8023", str(shared_data / "covid-ieee8023"), {}),
             DatasetSpec("covid_hannover", str(shared_data / "covid-hannover"), {})]
    with pytest.warns(UserWarning):
        data = from_datasets(specs)
    # the model's hold-out only: within-source AUROCs on its training films would be inflated by memorisation
    hold = pd.read_csv(V1.with_name("cxr-default-v1.holdout.csv"))
    data = subsample(restrict_ids(data, hold, "hold-out"), 60, seed=0)
    res = run_audit(data, tmp_path, model=V1, options=AuditOptions(n_boot=500, probes=False, progress=False))
    covid = next(e for e in res["cross_site"] if e["finding"] == "COVID-19")
    assert covid["verdict"] == "shortcut", covid["message"]
    assert covid["pooled"]["auroc"] > 0.9 and covid["per_source"]["covid_ieee8023"]["auroc"] < 0.8
    assert any(line.startswith("COVID-19: SHORTCUT SIGNATURE") for line in res["summary"])
