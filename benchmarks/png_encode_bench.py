"""Overlay PNG encoding: zlib level and strategy chosen by measurement (``cxrkit.deliver.png.png_bytes``).

Data: the overlays ``cxrkit analyze`` writes for 4 NIH ChestX-ray14 1024 px PNGs (``overlay.png``,
``anatomy.png``, one ``heatmap_<finding>.png`` per positive finding), made by the shipped models. Each
setting encodes every overlay once per round; rounds interleaved (``benchmarks/_method.py``), medians.

    .venv/bin/python benchmarks/png_encode_bench.py [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _method import Side, as_records, interleave, load_note, summarize  # noqa: E402
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CXRKIT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "nih-cxr14" / "images_1024_original"
SETTINGS = {  # name: (zlib level, zlib strategy, png_bytes encoder)
    "Pillow, level 6, default strategy (Pillow's default)": (6, zlib.Z_DEFAULT_STRATEGY, "pillow"),
    "Pillow, level 1, default strategy": (1, zlib.Z_DEFAULT_STRATEGY, "pillow"),
    "Pillow, level 1, Z_RLE": (1, zlib.Z_RLE, "pillow"),
    "Pillow, level 0 (stored)": (0, zlib.Z_DEFAULT_STRATEGY, "pillow"),
    "\"Up\" filter + level 1, Z_RLE (cxrkit's default)": (1, zlib.Z_RLE, "up"),
    "\"Up\" filter + level 6, default strategy": (6, zlib.Z_DEFAULT_STRATEGY, "up"),
}


def overlays(n: int) -> list:
    from cxrkit.anatomy.overlay import draw_overlay
    from cxrkit.pipeline import default_analyzer
    from cxrkit.report.overlay import compose_overlay, heatmap_overlay

    an = default_analyzer()
    out = []
    for p in sorted(DATA.glob("*.png"))[:n]:
        result, image = an.analyze_with_image(p)
        out.append(compose_overlay(image.pixels, heatmaps=result.heatmaps, masks=result.masks))
        if result.masks:
            out.append(draw_overlay(image.pixels, result.masks, result.anatomy))
        out += [heatmap_overlay(image.pixels, hm) for hm in result.heatmaps.values()]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    from cxrkit.deliver.png import png_bytes

    arrays = overlays(args.images)
    sizes: dict[str, int] = {}

    def side(name: str, level: int, strategy: int, encoder: str) -> Side:
        def run() -> int:
            sizes[name] = sum(len(png_bytes(a, compress_level=level, compress_type=strategy, encoder=encoder))
                              for a in arrays)
            return len(arrays)
        return Side(run)

    res = interleave({k: side(k, *v) for k, v in SETTINGS.items()}, args.rounds)
    info = machine_info()
    rows, records = [], []
    for name, rounds in res.items():
        s = summarize(rounds)
        kib = sizes[name] / len(arrays) / 1024
        rows.append(f"| {name} | {s['ms_per_item_cpu']:.1f} | {s['ms_per_item_wall']:.1f} | {kib:.0f} |")
        records.append({"setting": name, **s, "kib_per_png": round(kib, 1), "n_png": len(arrays),
                        "raw": as_records(rounds)})
    md = "\n".join([
        "## Overlay PNG encoding",
        "",
        f"Data: the {len(arrays)} overlays (RGB 1024x1024: summary overlay, anatomy, one per positive finding) "
        f"that `cxrkit analyze` writes for the first {args.images} NIH PNGs in "
        "`../shared/data/nih-cxr14/images_1024_original`, shipped models. One process, "
        f"{args.rounds} interleaved rounds (`benchmarks/_method.py`), medians per PNG.",
        f"Machine: {machine_line(info)}; {load_note(res)}.",
        "Command: `.venv/bin/python benchmarks/png_encode_bench.py`.",
        "",
        "| encoder, zlib setting | CPU ms / PNG | wall ms / PNG | KiB / PNG |",
        "| --- | ---: | ---: | ---: |",
        *rows,
        "",
        "`cxrkit.deliver.png.png_bytes` (every overlay the batch writes) uses the PNG \"Up\" row filter "
        "(computed by numpy) + zlib level 1, Z_RLE: lossless; Pillow's encoder spends most of its time choosing a "
        "filter per row.",
    ])
    print(md)
    if not args.no_write:
        append_jsonl("png_encode", records)
        write_section("png-encode", md, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
