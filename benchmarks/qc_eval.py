"""How often the input quality check (cxrkit.qc, image-only: view tag removed, no segmenter) refuses or flags
real frontal radiographs and real lateral views, per source and per split of the learned view check.

Data (../shared/data): every image of ``cxrkit.qc_train.list_items``: NIH ChestX-ray14 (images_512 +
images_extra_512), covid-ieee8023 PA / AP / AP Supine (frontal) and L (lateral) by metadata.csv, covid-hannover,
kermany-pneumonia, jsrt-scr. The split (``cxrkit.qc_train.split_of``, by patient) says whether the shipped view
model trained on an image: "heldout" is the honest figure; "train" and "unused" (kermany films left out of
training by the cap) are reported beside it. Every image is read with cxrkit.io.read_image and checked with
cxrkit.qc.check_quality on pixels only, so all image rules count (aspect, noise, uniform, learned view check).
"refused" = not usable; "caught" (laterals) = refused or flagged "possibly a lateral view".

    .venv/bin/python benchmarks/qc_eval.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

from cxrkit.errors import CxrkitError  # noqa: E402
from cxrkit.io import read_image  # noqa: E402
from cxrkit.qc import check_quality  # noqa: E402
from cxrkit.qc_train import assign_splits, list_items, load_nih_split, wilson  # noqa: E402
from cxrkit.qc_view import default_view_model  # noqa: E402
from cxrkit.types import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPOT = "nejmoa2001191_f3-L.jpg"


def verdict(path: str) -> str | None:
    """"refused", "flagged" (usable, view warning), "accepted", or None when unreadable."""
    try:
        img = read_image(Path(path))
    except CxrkitError:
        return None
    q = check_quality(Image(img.pixels, replace(img.meta, view=None)))
    if not q.usable:
        return "refused"
    return "flagged" if any("possibly a lateral" in w for w in q.warnings) else "accepted"


def fmt(k: int, n: int) -> str:
    lo, hi = wilson(k, n)
    return f"{k}/{n} = {k / n:.2%} [{lo:.2%}, {hi:.2%}]" if n else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--nih-split", type=Path, default=ROOT / "configs" / "splits" / "nih_v2.csv",
                    help="the NIH split the shipped view model was trained with (see its card)")
    args = ap.parse_args()
    card = default_view_model().card
    nih_split = load_nih_split(args.nih_split)
    items = list_items(args.data)
    counts: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    spot = None
    t0 = time.time()
    splits = assign_splits(items, nih_split, kermany_train_max=card.training["options"]["kermany_train_max"])
    for i, (it, sp) in enumerate(zip(items, splits)):
        v = verdict(it.path) or "unreadable"
        counts[(it.source, it.kind, sp)][v] += 1
        if Path(it.path).name == SPOT:
            spot = (v, sp)
        if i % 1000 == 0:
            print(f"{i} / {len(items)} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    load = os.getloadavg()
    rows, records = [], []

    def add(name, kind, sp, c):
        n = sum(v for k, v in c.items() if k != "unreadable")
        ref, flg = c.get("refused", 0), c.get("flagged", 0)
        main_k = ref if kind == "frontal" else ref + flg
        rows.append((name, kind, sp, n, fmt(ref, n), fmt(flg, n), fmt(main_k, n), c.get("unreadable", 0)))
        records.append({"bench": "qc", "set": name, "kind": kind, "split": sp, "n": n, "refused": ref, "flagged": flg,
                        "unreadable": c.get("unreadable", 0), "refused_ci": wilson(ref, n),
                        "caught_ci": wilson(ref + flg, n), "model": card.version, "sha256": card.sha256[:16]})
        print(rows[-1], flush=True)

    for key in sorted(counts):
        add(*key, counts[key])
    for kind in ("frontal", "lateral"):
        for sp_name, sps in (("heldout", ("heldout",)), ("all", None)):
            tot: dict[str, int] = defaultdict(int)
            for (_s, k, sp), c in counts.items():
                if k == kind and (sps is None or sp in sps):
                    for kk, vv in c.items():
                        tot[kk] += vv
            add(f"ALL SOURCES ({sp_name})", kind, sp_name if sps else "all (incl. training)", tot)
    info = machine_info()
    append_jsonl("qc", records)
    table = "\n".join(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} | {r[7]} |" for r in rows)
    spot_line = f"`covid-ieee8023/images/{SPOT}` (split: {spot[1]}): {spot[0]}." if spot else ""
    print(spot_line)
    print(f"load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    write_section("qc", f"""## Input quality check (image-only, learned view check {card.version})

`cxrkit.qc.check_quality` on pixels (view tag removed, no segmenter), every frontal and lateral film in
`../shared/data`. View model: {card.architecture}, t_flag = {card.t_flag}, t_refuse = {card.t_refuse}
(sha256 {card.sha256[:16]}). Split by patient (`cxrkit.qc_train.split_of`); "heldout" never touched training
or threshold choice. Frontal: the key rate is "refused"; lateral: "caught" = refused or flagged. 95 % Wilson
intervals. {spot_line}
Machine: {machine_line(info)}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other jobs running).
Rerun: `.venv/bin/python benchmarks/qc_eval.py`.

| set | kind | split | n | refused | flagged (usable) | key rate (frontal: refused; lateral: caught) | unreadable |
|---|---|---|---:|---|---|---|---:|
{table}
""", info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
