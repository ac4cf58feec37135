"""``cxrkit recalibrate``: per-site operating points (and temperature) fitted on a site's labelled sample,
written as a new versioned model card beside checksum-verified copies of the weights.

Inputs as ``cxrkit audit`` (``--images DIR --labels CSV`` or ``--dataset NAME --root DIR``, repeatable). One card
per source in the data: ``<model>-<site>-r<k>.card.json`` in ``--out``. Each reported finding's threshold moves
so that the card's validated sensitivity (``--keep specificity`` for specificity) is reproduced at the site; the
fit, the temperature and ECE before / after are stored in the card (``training.site_recalibration``). Model
outputs are cached in ``--out/cache``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from cxrkit.audit.predict import model_key
    from cxrkit.audit.recalibrate import fit_site, write_site_card
    from cxrkit.audit.run import model_scores
    from cxrkit.models.classifier import load_classifier
    from cxrkit.service.commands.audit import _load, _select

    clf = load_classifier(args.model, threads=args.threads)
    data = _select(args, clf, _load(args))
    out = Path(args.out)
    probs, findings = model_scores(data, clf, out / "cache" / model_key(clf.card), batch_size=args.batch_size)
    cols = [data.findings.index(f) for f in findings]
    y = data.labels[:, cols]
    src = data.meta["source"].astype(str).to_numpy()
    targets = [f for f in findings if f in clf.card.reported_findings] if not args.all_findings else findings
    tcols = [findings.index(f) for f in targets]
    written = 0
    for s in sorted(set(src.tolist())):
        m = src == s
        fit = fit_site(y[m][:, tcols], probs[m][:, tcols], targets, clf.card, keep=args.keep)
        if not fit["findings"]:
            print(f"{s}: nothing recalibrated (" + "; ".join(f"{f}: {r}" for f, r in fit["skipped"].items()) + ")",
                  file=sys.stderr)
            continue
        desc = args.data_name or (f"{int(m.sum())} labelled images of {s}")
        card = write_site_card(clf.card, fit, out, site=s, data=desc)
        written += 1
        print(f"{s}: wrote {card.path} ({int(m.sum())} images)")
        for f, r in fit["findings"].items():
            print(f"  {f}: threshold {r['threshold_before']:.3f} -> {r['threshold']:.3f}; sensitivity "
                  f"{r['sensitivity_at_old_threshold']:.2f} -> {r['sensitivity']:.2f} (target {r['target']:.2f}), "
                  f"specificity {r['specificity_at_old_threshold']:.2f} -> {r['specificity']:.2f}; temperature "
                  f"{r['temperature']:.2f}, ECE {r['ece_before']:.3f} -> {r['ece_after_temperature']:.3f}")
        for f, why in fit["skipped"].items():
            print(f"  {f}: kept the card's threshold ({why})")
    return 0 if written else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recalibrate", help="per-site thresholds + temperature -> a new versioned model card",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    from cxrkit.service.commands.audit import add_input_arguments

    add_input_arguments(p)
    p.add_argument("--keep", choices=("sensitivity", "specificity"), default="sensitivity",
                   help="rate of the card's operating point to reproduce at the site (default sensitivity)")
    p.add_argument("--all-findings", action="store_true", help="also recalibrate findings the card does not report")
    p.add_argument("--data-name", help="description of the site data stored in the card")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", required=True, help="folder for the new card + weight copies")
    p.set_defaults(func=_run)
