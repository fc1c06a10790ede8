#!/usr/bin/env python3
"""What the stability rule costs and what it saves, on labelled folders.

The app also scores a JPEG-90, 0.9x copy of each image and reads a verdict that flips as
`uncertain`. This prints, for the shipped model (or --checkpoint) on the given folders:
false positives saved, true positives lost, extra review work and extra time per image.
Images under the policy's minimum size are left out (the app never judges them anyway).

    .venv/bin/python bench/stability.py var/validation var/holdout
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.ml.datasets import collect_samples  # noqa: E402
from detector.ml.inference import load_detector, set_torch_threads  # noqa: E402
from detector.ml.stability import measure_stability  # noqa: E402
from detector.policy import MIN_SIDE_FOR_VERDICT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--checkpoint", default=str(ROOT / "detector" / "weights" / "default.pt"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        set_torch_threads(args.threads)
    detector = load_detector(args.checkpoint)
    samples = []
    for sample in collect_samples(args.data_dirs, log=lambda m: None):
        with Image.open(sample.path) as image:
            if min(image.size) >= MIN_SIDE_FOR_VERDICT:
                samples.append(sample)
    started = time.perf_counter()
    report = measure_stability(detector, samples)
    print(f"model      {detector.model_version}; thresholds {detector.thresholds}")
    print(f"images     {report.real} real + {report.ai} AI (short side >= {MIN_SIDE_FOR_VERDICT} px) from {', '.join(args.data_dirs)}")
    print(f"flipped    {report.flipped} verdicts ({report.flipped / max(1, report.real + report.ai):.1%})")
    print(f"saves      {report.false_positives_saved} of {report.real_likely_ai} false positives (real called likely_ai)")
    print(f"costs      {report.true_positives_lost} of {report.ai_likely_ai} true positives (AI called likely_ai) now uncertain")
    print(f"review     likely_human -> uncertain: {report.real_likely_human_to_uncertain} real, {report.ai_likely_human_to_uncertain} AI")
    print(f"delta p    max {report.max_abs_delta_p:.3f}, mean {report.mean_abs_delta_p:.3f}")
    print(
        f"time       score {report.seconds_score * 1000:.0f} ms, score + check {report.seconds_check * 1000:.0f} ms per image "
        f"(+{report.extra_seconds_per_image * 1000:.0f} ms); total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
