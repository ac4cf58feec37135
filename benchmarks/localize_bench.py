"""Localization speed: heatmaps + boxes for every shipped finding vs classification alone, same run.

    .venv/bin/python benchmarks/localize_bench.py            # ~1-3 minutes on 2 busy cores

Data: the 12 untouched 1024x1024 NIH PNGs in ``../shared/data/nih-cxr14/images_1024_original`` (decode included
in every pipeline). Model: the shipped default classifier (``load_classifier()``), all its reported findings.

Pipelines per image (single process, one thread, interleaved rounds; medians):

* ``classify``: ``read_image`` → ``classifier.predict`` (ONNX Runtime): what ``analyze`` does without boxes.
* ``classify+localize``: the above, then ``cxrkit.localize.run.localize`` (CAM through a second ONNX Runtime
  session that also returns the feature map, heatmaps for every finding, default boxes).
* ``localize (fused)``: ``read_image`` → ``localize`` alone: the same probabilities come out of the CAM session,
  so a pipeline that needs boxes need not classify twice.

Also timed on one image: each heatmap method for all findings (CAM via ONNX Runtime and via PyTorch, Grad-CAM,
Grad-CAM++, HiResCAM, Eigen-CAM: PyTorch, one forward + one backward per finding) and, for reference,
captum's ``LayerGradCam`` (one forward + backward per finding, as captum does per target).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CXRKIT_THREADS", "1")  # both ONNX Runtime sessions (classifier and CAM) single-threaded


sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "nih-cxr14" / "images_1024_original"


def _time(fn, *args, **kw) -> float:
    t = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - t


def _method_times(target, img, findings: list[str]) -> dict[str, float]:
    """Median seconds of each heatmap method for all findings of one decoded image (and captum's, if present)."""
    import torch

    from cxrkit.explain import explain_batch

    methods = {}
    for m, backend in (("cam", "onnx"), ("cam", "torch"), ("gradcam", "torch"), ("gradcam++", "torch"),
                       ("hirescam", "torch"), ("eigencam", "torch")):
        explain_batch(target, [img], findings, m, backend=backend, max_side=512)
        methods[f"{m} ({backend})"] = statistics.median(
            _time(explain_batch, target, [img], findings, m, backend=backend, max_side=512) for _ in range(3))
    try:
        from captum.attr import LayerGradCam

        from cxrkit.data.transforms import preprocess

        model = target.model
        layer = getattr(model, "head_bn", None) or getattr(model, "features", None)
        if isinstance(layer, torch.nn.Module):
            x = torch.from_numpy(preprocess(img.pixels, target.transform))[None]
            lgc = LayerGradCam(model, layer)

            def captum_all() -> None:
                for f in findings:
                    lgc.attribute(x, target=target.outputs.index(f))

            captum_all()
            methods["captum LayerGradCam (torch, per finding)"] = statistics.median(_time(captum_all) for _ in range(3))
    except ImportError:
        pass
    return methods


def _markdown(clf, target, findings, files, rounds, med, ratios, ratios_fused, methods, info) -> list[str]:
    args_rounds = rounds
    card = getattr(clf, "card", None)
    model_name = getattr(card, "name", None) or type(target.model).__name__
    md = [
        "## Localization",
        "",
        f"Heatmaps + boxes for all {len(findings)} shipped findings ({', '.join(findings)}) of one image vs "
        f"classification alone. Model: {model_name} ({target.transform.size} px input). Data: the "
        f"{len(files)} untouched 1024x1024 NIH PNGs (`images_1024_original`), decode included, {args_rounds} "
        "interleaved rounds, medians, one thread. Machine: " + machine_line(info) + ".",
        "",
        "| pipeline | median ms / image |",
        "|---|---:|",
    ]
    md += [f"| {k} | {1000 * v:.1f} |" for k, v in med.items()]
    md += [
        "",
        f"**Ratio (classify + localize) / classify: {statistics.median(ratios):.2f}x** (median of per-image "
        f"ratios; target ≤ 2x). Fused (the CAM session's probabilities reused, no second classification): "
        f"{statistics.median(ratios_fused):.2f}x.",
        "",
        f"Heatmap methods, all {len(findings)} findings of one image, maps at ≤ 512 px (decode excluded):",
        "",
        "| method | median ms |",
        "|---|---:|",
    ]
    md += [f"| {k} | {1000 * v:.1f} |" for k, v in methods.items()]
    md += ["", "Command: `.venv/bin/python benchmarks/localize_bench.py`"]
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", default=None, help="classifier weights (default: shipped)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from cxrkit.explain.heatmaps import resolve_target
    from cxrkit.io import read_image
    from cxrkit.localize.run import localize
    from cxrkit.service.commands.localize import load_classifier_or_explain

    info = machine_info()
    clf = load_classifier_or_explain(args.model)
    target = resolve_target(clf)
    findings = list(target.reported)
    files = sorted(p for p in args.data.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise SystemExit(f"no PNGs in {args.data}")

    def classify(p: Path) -> None:
        img = read_image(p)
        clf.predict([img.pixels])

    def classify_localize(p: Path) -> None:
        img = read_image(p)
        clf.predict([img.pixels])
        localize(target, [img], findings)

    def fused(p: Path) -> None:
        img = read_image(p)
        localize(target, [img], findings)

    pipes = {"classify": classify, "classify+localize": classify_localize, "localize (fused)": fused}
    for fn in pipes.values():  # warm-up: sessions, exports, caches
        fn(files[0])
    per_round: dict[str, list[float]] = {k: [] for k in pipes}
    for _ in range(args.rounds):
        for p in files:
            for name, fn in pipes.items():
                per_round[name].append(_time(fn, p))
    med = {k: statistics.median(v) for k, v in per_round.items()}
    ratios = [b / a for a, b in zip(per_round["classify"], per_round["classify+localize"])]
    ratios_fused = [b / a for a, b in zip(per_round["classify"], per_round["localize (fused)"])]

    # methods on one decoded image (decode excluded)
    img = read_image(files[0])
    methods = _method_times(target, img, findings)

    rows = [{"pipeline": k, "median_ms": round(1000 * v, 1), "n_images": len(files), "rounds": args.rounds}
            for k, v in med.items()]
    rows.append({"pipeline": "ratio classify+localize / classify", "median": round(statistics.median(ratios), 2)})
    rows.append({"pipeline": "ratio localize (fused) / classify", "median": round(statistics.median(ratios_fused), 2)})
    rows += [{"method": k, "median_ms_all_findings": round(1000 * v, 1), "n_findings": len(findings)}
             for k, v in methods.items()]
    for r in rows:
        print(r)
    if args.no_write:
        return 0
    append_jsonl("localize", [{**r, "machine": machine_line(info)} for r in rows])
    md = _markdown(clf, target, findings, files, args.rounds, med, ratios, ratios_fused, methods, info)
    write_section("localization", "\n".join(md), info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
