#!/usr/bin/env python3
"""Compare detector recipes on the out-of-source protocol and write the table the model card cites.

    .venv/bin/python scripts/model_selection.py ../shared/data/train var/corpus-train \\
        --unseen var/corpus-train --cache-dir var/feature-cache --out docs/model/selection

Every probe recipe is scored by group k-fold over sources (no score from a head that saw the
source). The shipped fine-tuned checkpoint cannot be re-trained per fold on this CPU budget, so
it is scored, as the app scores it, on `--unseen` folders whose sources it never saw.
Nothing here reads the in-the-wild set; that is scored once, for the final report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

import numpy as np  # noqa: E402

from detector.ml.out_of_source import (  # noqa: E402
    MIN_SIDE_JUDGED,
    run_out_of_source,
    score_folder_as_the_app,
)
from detector.ml.out_of_source_report import figures_markdown, plain_figures  # noqa: E402
from detector.ml.probe import (  # noqa: E402
    balanced_weights,
    fit_platt,
    operating_figures,
    out_of_source_logits,
    probabilities_from_logits,
)
from detector.ml.out_of_source_thresholds import choose_out_of_source_thresholds  # noqa: E402

ALL_VARIANTS = ("original", "wild", "jpeg75_half")
SHORTCUT_SOURCES = ("cifake", "hardfaces")  # 32-px thumbnails; face crops framed unlike any other source
RECIPES = [  # name, training variants, L2, sources not trained on (still scored)
    ("probe: original images only", ("original",), 1e-2, ()),
    ("probe: original + one re-encoded copy", ("original", "wild"), 1e-2, ()),
    ("probe: original + re-encoded + JPEG q75/half copies", ALL_VARIANTS, 1e-2, ()),
    ("probe: original + re-encoded, L2 0.1", ("original", "wild"), 1e-1, ()),
    ("probe: original + re-encoded, L2 0.001", ("original", "wild"), 1e-3, ()),
    ("probe: all three copies, L2 0.1", ALL_VARIANTS, 1e-1, ()),
    ("probe: all three copies, L2 0.1, not trained on cifake", ALL_VARIANTS, 1e-1, ("cifake",)),
    ("probe: all three copies, L2 0.1, not trained on cifake + hardfaces (shipped)", ALL_VARIANTS, 1e-1, SHORTCUT_SOURCES),
    ("probe: all three copies, L2 1.0, not trained on cifake + hardfaces", ALL_VARIANTS, 1.0, SHORTCUT_SOURCES),
    ("probe: all three copies, L2 0.01, not trained on cifake + hardfaces", ALL_VARIANTS, 1e-2, SHORTCUT_SOURCES),
]


def recipe_figures(base, train_variants, l2, exclude_sources=()):
    images, sides, folds, features = base["images"], base["sides"], base["folds"], base["features"]
    logits = out_of_source_logits(features, images, folds, train_variants=train_variants, l2=l2,
                                  exclude_sources=exclude_sources)
    labels = np.array([i.sample.label for i in images])
    judged = sides >= MIN_SIDE_JUDGED
    kept = [images[i] for i in np.flatnonzero(judged)]
    slope, intercept = fit_platt(logits["original"][judged], labels[judged], balanced_weights(kept))
    p = probabilities_from_logits(logits["original"][judged], slope, intercept)
    thresholds, info = choose_out_of_source_thresholds(p, kept)
    figures = operating_figures(p, kept, thresholds)
    degraded = operating_figures(probabilities_from_logits(logits["jpeg75_half"][judged], slope, intercept), kept, thresholds)
    figures["auc_after_jpeg75_half"] = degraded["auc_ai_vs_all_real"]
    figures["degraded"] = {k: degraded[k] for k in ("auc_ai_vs_all_real", "photos_likely_ai", "art_likely_ai", "ai_caught_likely_ai", "ai_likely_human")}
    return plain_figures(figures), info


def row(name, f):
    def pct(entry):
        return "n/a" if not entry or not entry["of"] else f"{100 * entry['rate']:.1f}%"

    return (f"| {name} | {f['auc_ai_vs_all_real']:.3f} | {f['auc_ai_vs_photos']:.3f} | {f['auc_ai_vs_art']:.3f} | "
            f"{pct(f['photos_likely_ai'])} | {pct(f['art_likely_ai'])} | {pct(f['ai_caught_likely_ai'])} | "
            f"{pct(f['ai_likely_human'])} | {f.get('auc_after_jpeg75_half') or float('nan'):.3f} | "
            f"{f['thresholds']['likely_ai']:.3f} / {f['thresholds']['likely_human']:.3f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--unseen", nargs="*", default=[], help="folders the shipped checkpoint never saw")
    parser.add_argument("--checkpoint", default="detector/weights/default.pt", help="the shipped fine-tuned model")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-per-source", type=int, default=400)
    parser.add_argument("--cache-dir", default="var/feature-cache")
    parser.add_argument("--out", type=Path, default=Path("docs/model/selection"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)

    import django

    django.setup()
    base = run_out_of_source(args.data_dirs, log=lambda m: print(m, flush=True), folds=args.folds, max_per_source=args.max_per_source,
                             cache_dir=args.cache_dir, train_variants=("original", "wild"))
    results = {}
    for name, variants, l2, excluded in RECIPES:
        figures, info = recipe_figures(base, variants, l2, excluded)
        results[name] = {"figures": figures, "threshold_info": info, "train_variants": list(variants), "l2": l2,
                         "not_trained_on": list(excluded)}
        print(f"{name}: AUC {figures['auc_ai_vs_all_real']:.3f}")
    if args.unseen and args.checkpoint:
        from detector.ml.inference import load_detector

        detector = load_detector(args.checkpoint)
        scored = score_folder_as_the_app(detector, args.unseen)
        results[f"shipped full fine-tune ({detector.model_version}), on the unseen sources only"] = {"figures": scored["figures"]}
    elif (args.out / "selection.json").is_file():  # keep the (slow) fine-tune row of an earlier run
        earlier = json.loads((args.out / "selection.json").read_text())
        results.update({k: v for k, v in earlier.items() if k.startswith("shipped full fine-tune")})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "selection.json").write_text(json.dumps(results, indent=2))
    lines = [
        "# Model selection on the out-of-source protocol", "",
        "```bash", "python scripts/model_selection.py " + " ".join(sys.argv[1:]), "```", "",
        f"Probe rows: group {args.folds}-fold by source over {len(base['images'])} images "
        f"({base['protocol']['judged_images']} judged, >= 64 px); each threshold chosen on the same out-of-source scores.",
        "",
        "| recipe | AUC all | AUC photos | AUC art | photos likely_ai | art likely_ai | AI caught | AI likely_human | AUC JPEG q75 + half | thresholds ai / human |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [row(name, r["figures"]) for name, r in results.items()]
    (args.out / "selection.md").write_text("\n".join(lines) + "\n")
    for number, (name, r) in enumerate(results.items(), start=1):
        (args.out / f"recipe-{number}.md").write_text(figures_markdown(r["figures"], name))
    print(f"Wrote {args.out / 'selection.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
