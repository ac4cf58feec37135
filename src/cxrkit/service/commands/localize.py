"""``cxrkit localize PATH... --findings A,B --out DIR``: heatmaps, boxes and overlays per image.

Writes ``DIR/<image stem>/boxes.json`` (``{"<finding>": [{"x_min", "y_min", "x_max", "y_max", "score"}, ...]}``,
boxes in pixels of the image as stored: DICOM rows/columns for DICOM inputs) and ``DIR/<image stem>/overlay.png``
for every input, with boxes for every requested finding whatever its probability.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from cxrkit.errors import CxrkitError, DataFormatError
from cxrkit.fs import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "localize",
        help="heatmaps and boxes per finding (boxes.json + overlay.png per image)",
        description="For each image: class activation maps of the requested findings, boxes around their hot "
        "regions and an overlay PNG. Boxes are in pixels of the stored image (DICOM rows/columns). "
        "Heatmaps show where the model's evidence lies; they are not a diagnosis.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="images (DICOM/PNG/JPEG) or folders (searched recursively)")
    p.add_argument("--findings", default=None, help="comma-separated findings (default: every finding the model reports)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--method", default="cam", help="heatmap method: cam, gradcam, gradcam++, hirescam, eigencam (default cam; "
                   "an unknown name lists the options)")
    p.add_argument("--boxes", dest="box_method", default=None,
                   help="box method: anatomy (heart mask / lung-field priors learned on NIH training boxes; needs the "
                        "model's shipped priors), default or chestxray8 (default: anatomy when the model has "
                        "priors, else default)")
    p.add_argument("--all-outputs", action="store_true",
                   help="research mode: allow every head output with a prior (e.g. all 8 ChestX-ray8 classes); "
                        "findings the card does not report, or whose localization is not validated, are marked "
                        "'not validated' in the console output")
    p.add_argument("--model", default=None, help="classifier weights (.safetensors with its card); default: shipped model")
    p.add_argument("--no-overlay", action="store_true", help="skip overlay.png (faster)")
    p.set_defaults(func=run)


def load_classifier_or_explain(path: str | None) -> Any:
    """The cxrkit classifier (shipped default when ``path`` is None); a bad package is a ModelError."""
    from cxrkit.models.classifier import load_classifier

    return load_classifier(path)


def expand_paths(paths: list[str]) -> list[Path]:
    """Files as given, folders searched recursively for image-like files (sorted; the same rule as
    ``cxrkit classify``: hidden files skipped)."""
    from cxrkit.service.commands.classify import iter_inputs

    return list(iter_inputs(paths))


def _stem_dirs(files: list[Path], out: Path) -> list[Path]:
    from cxrkit.deliver.outdir import safe_stem

    seen: dict[str, int] = {}
    dirs = []
    for f in files:
        stem = safe_stem(f.stem)  # never "." / ".." / a path: nothing is written outside --out
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        dirs.append(out / (stem if n == 0 else f"{stem}_{n + 1}"))
        if n:
            log.warning("two inputs named %r: writing the second to %s", stem, dirs[-1])
    return dirs


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from cxrkit.explain.heatmaps import resolve_target
    from cxrkit.explain.methods import canonical_method
    from cxrkit.explain.overlay import overlay_png
    from cxrkit.io import read_image
    from cxrkit.localize.boxes import boxes_from_heatmap
    from cxrkit.localize.priors import prior_names
    from cxrkit.localize.run import boxes_json, localize
    from cxrkit.localize.validation import localization_validated

    canonical_method(args.method)  # fail fast on bad names
    classifier = load_classifier_or_explain(args.model)
    name = getattr(getattr(classifier, "card", None), "name", None)
    if args.box_method is None:
        args.box_method = "anatomy" if name in prior_names() else "default"
    if args.box_method != "anatomy":
        boxes_from_heatmap(np.zeros((2, 2)), args.box_method)
    anatomy_opts: dict[str, Any] = {}
    if args.box_method == "anatomy":
        from cxrkit.anatomy.segment import load_segmenter
        from cxrkit.localize.priors import load_priors

        anatomy_opts = {"priors": load_priors(name), "segmenter": load_segmenter()}
    target = resolve_target(classifier)
    if args.all_outputs:
        target = replace(target, reported=target.outputs)
    findings = [f.strip() for f in args.findings.split(",") if f.strip()] if args.findings else list(target.reported)
    for f in findings:
        target.index(f)  # unknown finding → error listing the available ones, before any work
    files = expand_paths(args.paths)
    if not files:
        raise DataFormatError(f"no input images found in {args.paths}")
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for f, d in zip(files, _stem_dirs(files, args.out)):
        try:
            image = read_image(f)
            (res,) = localize(target, [image], findings, method=args.method, box_method=args.box_method,
                              **anatomy_opts)
        except CxrkitError as exc:
            if len(files) == 1:
                raise
            failed += 1
            print(f"{f}: error: {exc}", file=sys.stderr)
            continue
        d.mkdir(parents=True, exist_ok=True)
        atomic_write_text(d / "boxes.json", json.dumps(boxes_json(res), indent=2))
        if not args.no_overlay:
            png = overlay_png(image.pixels, res.maps, probabilities=res.probabilities, boxes=res.boxes,
                              title=f"{f.name}  ({res.method} heatmap, {res.box_method} boxes)")
            atomic_write_bytes(d / "overlay.png", png)
        probs = ", ".join(f"{k} {v:.2f}" + ("" if localization_validated(name, k) else " (location not validated)")
                          for k, v in res.probabilities.items())
        nbox = sum(len(v) for v in res.boxes.values())
        print(f"{f} -> {d}  ({nbox} boxes; probabilities: {probs})")
    return 1 if failed else 0
