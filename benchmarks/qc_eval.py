"""How often the input quality check (cxrkit.qc, image-only: no DICOM tags, no segmenter) refuses real
frontal radiographs and real lateral views.

Data (../shared/data): covid-ieee8023 images with view PA / AP / AP Supine (frontal) and L (lateral) from its
metadata.csv; the 710 NIH ChestX-ray14 512 px images (all frontal); covid-hannover (frontal, adult).
Every image is read with cxrkit.io.read_image and checked with cxrkit.qc.check_quality on pixels only (view
tag removed), so the figures measure the image-based layout and intensity cues alone. The layout thresholds
were chosen by looking at covid-ieee8023 frontal/lateral and 200 NIH images: this is NOT a held-out
evaluation for those sets (covid-hannover is untouched by the tuning).

    .venv/bin/python benchmarks/qc_eval.py [--data ../shared/data] [--segmenter]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.errors import CxrkitError  # noqa: E402
from cxrkit.io import read_image  # noqa: E402
from cxrkit.qc import check_quality  # noqa: E402
from cxrkit.types import Image  # noqa: E402


def sets(root: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {"covid-ieee8023 frontal": [], "covid-ieee8023 lateral": []}
    cov = root / "covid-ieee8023"
    for r in csv.DictReader(open(cov / "metadata.csv", encoding="utf-8", errors="replace")):
        p = cov / "images" / r["filename"]
        if r["modality"] != "X-ray" or not p.is_file():
            continue
        if r["view"] in ("PA", "AP", "AP Supine"):
            out["covid-ieee8023 frontal"].append(p)
        elif r["view"] == "L":
            out["covid-ieee8023 lateral"].append(p)
    out["NIH ChestX-ray14 (frontal)"] = sorted((root / "nih-cxr14" / "images_512").glob("*.png"))
    out["covid-hannover (frontal)"] = sorted(p for p in (root / "covid-hannover" / "images").rglob("*")
                                             if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".dcm"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--segmenter", action="store_true", help="also use the shipped segmenter's lung masks")
    args = ap.parse_args()
    seg = None
    if args.segmenter:
        from cxrkit.anatomy.segment import load_segmenter

        seg = load_segmenter(None)
    mode = "image cues + shipped segmenter's lungs" if seg else "image-only cues"
    rows, records = [], []
    for name, paths in sets(args.data).items():
        verdicts: Counter = Counter()
        for p in paths:
            try:
                img = read_image(p)
            except CxrkitError:
                verdicts["unreadable"] += 1
                continue
            img = Image(img.pixels, replace(img.meta, view=None))  # image-only check
            if seg is not None:
                s = seg.segment(img.pixels)
                q = check_quality(img, s.masks, s.confidence)
            else:
                q = check_quality(img)
            verdicts["refused" if not q.usable else ("warned" if q.warnings else "accepted")] += 1
        n = sum(verdicts.values()) - verdicts["unreadable"]
        refused = verdicts["refused"] / n if n else float("nan")
        flagged = (verdicts["refused"] + verdicts["warned"]) / n if n else float("nan")
        rows.append((name, n, verdicts["refused"], refused, flagged, verdicts["unreadable"]))
        records.append({"bench": "qc", "mode": mode, "set": name, "n": n, **verdicts, "refused_rate": refused, "flagged_rate": flagged})
        print(rows[-1], flush=True)
    info = machine_info()
    append_jsonl("qc", records)
    table = "\n".join(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1%} | {r[4]:.1%} | {r[5]} |" for r in rows)
    write_section("qc-segmenter" if seg else "qc", f"""## Input quality check ({mode})

`cxrkit.qc.check_quality` on pixels (view tag removed){"; lung masks from the shipped segmenter" if seg else "; no segmenter"}, real images from `../shared/data`.
"refused" = not usable (no findings reported); "flagged" = refused or usable with a layout/aspect warning.
Thresholds were chosen on covid-ieee8023 and 200 NIH images (not held out for them; covid-hannover was not
used for tuning). DICOM tags (modality, body part, view) and the lung segmentation, when present, are the
stronger checks; these figures are the fallback for PNG/JPEG without metadata.
Machine: {machine_line(info)}. Rerun: `.venv/bin/python benchmarks/qc_eval.py{" --segmenter" if seg else ""}`.

| set | n | refused | refused rate | flagged rate | unreadable |
|---|---:|---:|---:|---:|---:|
{table}
""", info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
