#!/usr/bin/env python3
"""Look for shortcuts a detector could learn instead of the generator: format, size, JPEG quality, colour.

    .venv/bin/python scripts/corpus_shortcuts.py ../shared/data/train var/corpus-train [--out docs/model/shortcuts.md]

Prints, per class and per source, the file formats, median short side, estimated JPEG quality
(from the luminance quantisation table) and mean saturation, and flags a statistic whose two
classes barely overlap: a model could separate them by it without looking at generator traces.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from detector.ml.datasets import collect_samples  # noqa: E402
from detector.ml.metrics import roc_auc  # noqa: E402

# The IJG standard luminance table; a file's table divided by it gives its scaling, hence quality.
_STANDARD_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                           14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                           49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.float64)


def jpeg_quality(image: Image.Image) -> float | None:
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    table = np.array(tables[0], dtype=np.float64)
    # Pillow gives the table in zigzag order; the mean ratio does not depend on the order.
    scale = 100.0 * table.mean() / _STANDARD_LUMA.mean()
    quality = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return float(np.clip(quality, 1, 100))


def stats(path: str) -> dict:
    with Image.open(path) as image:
        fmt = image.format or "?"
        quality = jpeg_quality(image) if fmt in ("JPEG", "MPO") else None
        width, height = image.size
        image.draft("RGB", (256, 256))
        small = image.convert("RGB").resize((64, 64))
    hsv = np.asarray(small.convert("HSV"), dtype=np.float64)
    return {"format": fmt, "short_side": min(width, height), "quality": quality,
            "saturation": float(hsv[..., 1].mean() / 255.0), "brightness": float(hsv[..., 2].mean() / 255.0)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+")
    parser.add_argument("--per-source", type=int, default=60, help="images read per source and class")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    samples = collect_samples(args.data_dirs, log=lambda *_: None)
    by_source = defaultdict(list)
    for sample in samples:
        by_source[(sample.source, sample.label)].append(sample)
    rows, values = [], defaultdict(lambda: ([], []))
    for (source, label), group in sorted(by_source.items()):
        group = sorted(group, key=lambda s: s.path)[:: max(1, len(group) // args.per_source)][: args.per_source]
        measured = [stats(s.path) for s in group]
        formats = Counter(m["format"] for m in measured)
        qualities = [m["quality"] for m in measured if m["quality"] is not None]
        rows.append(f"| {source} | {'ai' if label else 'real'} | {len(by_source[(source, label)])} | "
                    + ", ".join(f"{k} {v}" for k, v in formats.most_common()) + " | "
                    f"{int(np.median([m['short_side'] for m in measured]))} | "
                    + (f"{np.median(qualities):.0f}" if qualities else "-") + " | "
                    f"{np.mean([m['saturation'] for m in measured]):.2f} |")
        for m in measured:
            for key in ("short_side", "saturation", "brightness"):
                values[key][label].append(m[key])
            values["is_jpeg"][label].append(1.0 if m["format"] in ("JPEG", "MPO") else 0.0)
    lines = ["# Shortcut check", "", "| source | class | images | formats (sampled) | median short side | median JPEG quality | mean saturation |",
             "|---|---|---|---|---|---|---|", *rows, "",
             "How well one statistic alone separates the classes (ROC AUC of AI vs real; 0.5 = not at all):", ""]
    for key, (real, ai) in values.items():
        auc = roc_auc(np.r_[np.zeros(len(real)), np.ones(len(ai))], np.r_[real, ai])
        flag = "  <- a shortcut: equalise it (augmentation re-encodes and resizes both classes)" if abs(auc - 0.5) > 0.25 else ""
        lines.append(f"- {key}: {auc:.3f}{flag}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
