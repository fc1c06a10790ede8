#!/usr/bin/env python3
"""Score the in-the-wild evaluation set with one or more checkpoints, as the app scores, and report.

    .venv/bin/python scripts/build_corpus.py --out var/corpus-wild --role wild --check scripts/corpus/MANIFEST.csv
    .venv/bin/python scripts/wild_report.py var/corpus-wild --checkpoint OLD.pt --checkpoint NEW.pt --out docs/model/in-the-wild

The set's sources are never used for training or for choosing a model or a threshold: run this
once, for the final report. Each checkpoint is scored with its own thresholds and the 64-px rule,
on the original files and after JPEG q75 + half size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--checkpoint", action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from detector.ml.inference import load_detector
    from detector.ml.metrics import paired_auc_difference
    from detector.ml.out_of_source import score_folder_as_the_app
    from detector.ml.out_of_source_report import figures_markdown

    args.out.mkdir(parents=True, exist_ok=True)
    command = "python scripts/wild_report.py " + " ".join(sys.argv[1:])
    summary, scored_by_model = {}, []
    for number, path in enumerate(args.checkpoint, start=1):
        detector = load_detector(path)
        scored = score_folder_as_the_app(detector, args.data_dirs, log=lambda m: print(m, flush=True))
        scored_by_model.append((detector.model_version, scored))
        figures = scored["figures"]
        summary[detector.model_version] = figures
        (args.out / f"model-{number}.md").write_text(
            figures_markdown(figures, f"In the wild: {detector.model_version} ({path})", command=command))
        print(f"{detector.model_version}: AUC {figures['auc_ai_vs_all_real']:.3f}", flush=True)
    if len(scored_by_model) > 1:
        # The last checkpoint against the first, on the same images: is the gain more than resampling noise?
        (first, before), (last, after) = scored_by_model[0], scored_by_model[-1]
        labels = [i.sample.label for i in after["images"]]
        summary["paired_auc_difference"] = {"after": last, "before": first}
        for variant in ("original", "jpeg75_half"):
            difference, low, high = paired_auc_difference(labels, before["scores"][variant], after["scores"][variant])
            summary["paired_auc_difference"][variant] = {"difference": difference, "interval": [low, high], "resamples": 1000}
            print(f"{variant}: AUC of {last} minus {first}: {difference:+.3f} "
                  f"(95% bootstrap interval over images {low:+.3f} to {high:+.3f})", flush=True)
    (args.out / "in-the-wild.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
