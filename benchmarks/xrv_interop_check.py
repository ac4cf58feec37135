"""Check that cxrkit's DenseNet-121 loads TorchXRayVision DenseNet-121 state dicts and gives the same outputs.

Run in the benchmark venv (it has torchxrayvision):

    $CXRKIT_BENCH_VENV/bin/python benchmarks/xrv_interop_check.py [--json]

Builds ``torchxrayvision.models.DenseNet(weights=None)`` (random weights, 18 outputs), saves its state dict as
safetensors, loads it with ``cxrkit.models.create_model("densenet121", weights=...)`` and compares logits and
feature maps on random radiograph-range inputs ([-1024, 1024], 224 px) in eval mode. Exit code 0 when the
largest absolute difference is below 1e-4, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torchxrayvision as xrv
    from safetensors.torch import save_file

    from cxrkit.models import create_model
    from cxrkit.models.densenet import convert_xrv_state_dict

    torch.manual_seed(args.seed)
    ref = xrv.models.DenseNet(weights=None).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "xrv_random.safetensors"
        sd = {k: v.contiguous() for k, v in convert_xrv_state_dict(ref.state_dict()).items()}
        save_file(sd, str(path))
        ours = create_model("densenet121", weights=path, num_classes=ref.classifier.out_features).eval()
    g = torch.Generator().manual_seed(args.seed)
    x = torch.rand((2, 1, 224, 224), generator=g) * 2048 - 1024
    with torch.no_grad():
        a, b = ref(x), ours(x)
        fa, fb = ref.features(x), ours.features(x)
    diff = float((a - b).abs().max())
    fdiff = float((fa - fb).abs().max())
    ok = diff < 1e-4 and fdiff < 1e-3 and a.shape == b.shape
    rec = {"check": "xrv_densenet121_interop", "xrv_version": getattr(xrv, "__version__", "?"),
           "outputs": list(a.shape), "max_abs_logit_diff": diff, "max_abs_feature_diff": fdiff, "ok": ok}
    print(json.dumps(rec) if args.json else "\n".join(f"{k}: {v}" for k, v in rec.items()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
