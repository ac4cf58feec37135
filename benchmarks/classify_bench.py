# bench-env: bench
"""End-to-end classification speed: 1024 px PNG file -> probabilities, cxrkit vs TorchXRayVision (issue 16).

Sides (every one over the same 12 NIH ChestX-ray14 1024x1024 PNGs per round, in one process):

* ``xrv eager``: TorchXRayVision's README pipeline, one image at a time — ``skimage.io.imread`` →
  ``xrv.datasets.normalize(img, 255)`` → first channel → ``XRayCenterCrop`` → ``XRayResizer(224)`` →
  ``xrv.models.DenseNet(weights=None)`` (DenseNet-121; random weights: the same cost, no download) in PyTorch
  eval / no_grad, ``torch.set_num_threads(T)``.
* ``xrv on ONNX Runtime``: the same preprocessing, the same DenseNet exported to ONNX and run by ONNX Runtime
  (T intra-op threads, no spinning): the peer's best honest configuration, so the ratio shows what is the
  runtime and what is cxrkit.
* ``cxrkit sequential``: ``read_image`` + ``Classifier.predict`` one image at a time, ONNX Runtime 1 thread,
  nothing in parallel (the 1-thread figure).
* ``cxrkit classify loop``: ``cxrkit.service.commands.classify.classify_paths`` (what ``cxrkit classify``
  runs, QC off like the peer): decoding + resizing in W worker threads while ONNX Runtime runs batches of 4.

Method: ``benchmarks/_method.py`` — interleaved rounds, medians, 1-minute load before/after each round, a
ratio refused when fewer than 3 rounds had load <= cores; CPU time (this process, all threads) per image
beside wall time. Also the whole ``cxrkit classify`` process (start, model load, 12 files, CSV) as a child.

    $CXRKIT_BENCH_VENV/bin/python benchmarks/classify_bench.py [--rounds 5] [--no-write]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _method import (  # noqa: E402
    Side,
    as_records,
    cores,
    fmt_ratio,
    interleave,
    load_note,
    ratio,
    run_child,
    summarize,
    thread_env,
)
from _results import append_jsonl, machine_info, machine_line, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CXRKIT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "nih-cxr14" / "images_1024_original"


def xrv_sides(paths: list[Path], threads: list[int], onnx_dir: Path) -> dict[str, Side]:
    import onnxruntime as ort
    import skimage.io
    import torch
    import torchvision
    import torchxrayvision as xrv

    torch.manual_seed(0)
    model = xrv.models.DenseNet(weights=None).eval()
    transform = torchvision.transforms.Compose([xrv.datasets.XRayCenterCrop(), xrv.datasets.XRayResizer(224)])

    def load(path: Path) -> np.ndarray:
        img = xrv.datasets.normalize(skimage.io.imread(str(path)), 255)
        if img.ndim == 3:
            img = img[:, :, 0]
        return transform(img[None, ...]).astype(np.float32)

    onnx_path = onnx_dir / "xrv-densenet121.onnx"
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 1, 224, 224), str(onnx_path), input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "n"}}, opset_version=17, dynamo=False)

    def session(t: int):
        so = ort.SessionOptions()
        so.intra_op_num_threads = t
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.log_severity_level = 3
        return ort.InferenceSession(str(onnx_path), sess_options=so, providers=["CPUExecutionProvider"])

    sides: dict[str, Side] = {}
    for t in threads:
        def eager(t: int = t) -> int:
            torch.set_num_threads(t)
            with torch.no_grad():
                for p in paths:
                    torch.sigmoid(model(torch.from_numpy(load(p)[None]))).numpy()
            return len(paths)

        sess = session(t)

        def on_ort(sess=sess) -> int:
            for p in paths:
                logits = sess.run(None, {"x": load(p)[None]})[0]
                1.0 / (1.0 + np.exp(-logits))
            return len(paths)

        sides[f"xrv eager, {t} thread{'s' * (t > 1)}"] = Side(eager)
        sides[f"xrv on ONNX Runtime, {t} thread{'s' * (t > 1)}"] = Side(on_ort)
    return sides


def cxrkit_sides(paths: list[Path], threads: list[int]) -> dict[str, Side]:
    from cxrkit.io import read_image
    from cxrkit.models.classifier import load_classifier
    from cxrkit.service.commands.classify import DEFAULT_BATCH, classify_paths

    one = load_classifier(threads=1)

    def sequential() -> int:
        for p in paths:
            one.predict([read_image(p).pixels], batch_size=1)
        return len(paths)

    sides = {"cxrkit sequential, 1 thread": Side(sequential)}
    n = max(threads)
    for ort_t in sorted({1, n}):
        clf = load_classifier(threads=ort_t)

        def loop(clf=clf) -> int:
            return sum(1 for _ in classify_paths(clf, paths, batch_size=DEFAULT_BATCH, workers=n, qc=False))

        sides[f"cxrkit classify loop, {n} decode workers + ONNX Runtime {ort_t} thread{'s' * (ort_t > 1)}"] = Side(loop)
    return sides


def cli_rounds(paths: list[Path], rounds: int, threads: int, out_dir: Path) -> list:
    """Whole-process ``cxrkit classify`` over the files (QC on, the default), as child processes."""
    from _method import Probe

    exe = Path(sys.executable).with_name("cxrkit")
    res = []
    for _ in range(rounds):
        probe = Probe()
        wall, cpu = run_child([str(exe), "classify", *map(str, paths), "--out", str(out_dir / "c.csv")],
                              env=thread_env(threads))
        res.append(probe.round(len(paths), wall, cpu))
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-write", action="store_true", help="print only; do not touch RESULTS.md")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    paths = sorted(DATA.glob("*.png"))
    if len(paths) != 12:
        print(f"expected 12 PNGs in {DATA}, found {len(paths)}", file=sys.stderr)
        return 2
    n = cores()
    threads = sorted({1, n})
    tmp = Path(tempfile.mkdtemp(prefix="classify_bench_"))
    sides = {**xrv_sides(paths, threads, tmp), **cxrkit_sides(paths, threads)}
    res = interleave(sides, args.rounds)
    cli = {f"cxrkit classify (whole process, QC on), CXRKIT_THREADS={t}": cli_rounds(paths, 3, t, tmp)
           for t in threads}
    info = machine_info()
    summ = {k: summarize(v) for k, v in {**res, **cli}.items()}
    rows = [f"| {k} | {s['ms_per_item_wall']:.1f} | {s['ms_per_item_cpu']:.1f} | {s['items_per_s_wall']:.1f} | "
            f"{s['load_max']:.2f} |" for k, s in summ.items()]
    seq = "cxrkit sequential, 1 thread"
    best_loop = min((k for k in res if k.startswith("cxrkit classify loop")),
                    key=lambda k: summ[k]["ms_per_item_wall"])
    comparisons = []
    for label, ours, peer in [
        ("1 thread each, eager peer", seq, "xrv eager, 1 thread"),
        ("1 thread each, peer on ONNX Runtime", seq, "xrv on ONNX Runtime, 1 thread"),
        (f"{n} cores each, eager peer", best_loop, f"xrv eager, {n} threads"),
        (f"{n} cores each, peer on ONNX Runtime", best_loop, f"xrv on ONNX Runtime, {n} threads"),
    ]:
        if peer not in res:
            continue
        rw, rc = ratio(res[ours], res[peer]), ratio(res[ours], res[peer], cpu=True)
        comparisons.append({"comparison": label, "ours": ours, "peer": peer, "ratio_wall": rw, "ratio_cpu": rc})
    crow = [f"| {c['comparison']} | {c['ours']} | {fmt_ratio(c['ratio_wall'])} | {fmt_ratio(c['ratio_cpu'])} | "
            f"{', '.join(f'{x:.1f}' for x in c['ratio_wall']['rounds'])} |" for c in comparisons]
    for c in comparisons:
        print(c)
    md = "\n".join([
        "## Inference",
        "",
        "End-to-end classification, PNG file to probabilities (issue 16's method: `benchmarks/_method.py`). "
        "Data: the 12 NIH ChestX-ray14 PNGs at 1024x1024 in `../shared/data/nih-cxr14/images_1024_original` "
        "(9 gray, 3 RGBA). cxrkit: shipped `cxr-adult-v2` (EfficientNet-Lite0, 320 px, ONNX Runtime). "
        "TorchXRayVision 1.5.7: its README preprocessing + DenseNet-121 (224 px, random weights: same cost), "
        "eager PyTorch and, as the peer's best configuration, the same network on ONNX Runtime. "
        f"{args.rounds} interleaved rounds per in-process side (every side sees the 12 images once per round); "
        "medians; ratio = median of per-round ratios, only from rounds with load <= cores.",
        f"Machine: {machine_line(info)}; {load_note({**res, **cli})}.",
        "Command: `$CXRKIT_BENCH_VENV/bin/python benchmarks/classify_bench.py` (venv: "
        "`benchmarks/setup_bench_env.sh`; all figures: `bash benchmarks/run_speed_suite.sh`).",
        "",
        "| side | wall ms / image | CPU ms / image | images/s (wall) | max load |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "| comparison | cxrkit side | speed-up (wall) | speed-up (CPU time) | per-round wall ratios |",
        "| --- | --- | ---: | ---: | --- |",
        *crow,
        "",
        "CPU time is this process's (all threads); the whole-process rows include Python start, imports, model "
        "load, the quality check and the CSV. The models differ (DenseNet-121 at 224 px: ~2.9 G multiply-"
        "accumulates; EfficientNet-Lite0 at 320 px: ~0.8 G), which is part of the speed-up; the ONNX Runtime "
        "peer rows show how much is the runtime.",
    ])
    print(md)
    if not args.no_write:
        append_jsonl("inference", [{"side": k, **s, "raw": as_records({**res, **cli}[k])} for k, s in summ.items()]
                     + [{"comparison": c["comparison"], "ours": c["ours"], "peer": c["peer"],
                         "ratio_wall": c["ratio_wall"], "ratio_cpu": c["ratio_cpu"]} for c in comparisons])
        write_section("inference", md, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
