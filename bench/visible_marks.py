"""Measure the visible-mark layer (detector/evidence/visible_marks.py): false matches per mark on
real photos and artworks, hits per source on AI images, the closest real near-misses, and the
cost per image.

    .venv/bin/python bench/visible_marks.py [--limit N] [--csv OUT.csv] [--corpus corpus-train ...]

Reads the corpora's MANIFEST.csv files (label column `real` / `ai`):
var/corpus-train, var/corpus-wild and /work/shared/data/train (CIFAKE left out: 32 px images).
Plain Python; no Django.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.evidence.visible_marks import MARKS, visible_mark_readings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPORA = (ROOT / "var/corpus-train", ROOT / "var/corpus-wild", Path("/work/shared/data/train"))
SKIP_SOURCES = {"cifake"}
Image.MAX_IMAGE_PIXELS = 200_000_000


def corpus_rows(only=None):
    for corpus in CORPORA:
        if only and corpus.name not in only:
            continue
        manifest = corpus / "MANIFEST.csv"
        if not manifest.exists():
            print(f"(missing: {manifest})", file=sys.stderr)
            continue
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle):
                source = row.get("source") or row["path"].split("/")[0]
                if source in SKIP_SOURCES:
                    continue
                yield corpus.name, source, row["label"], corpus / row["path"]


def upper_bound_95(found: int, total: int) -> float:
    """One-sided 95% upper bound of a rate (exact for 0 found: 1 - 0.05^(1/n))."""
    if total == 0:
        return 1.0
    if found == 0:
        return 1 - 0.05 ** (1 / total)
    p = found / total
    return min(1.0, p + 1.645 * math.sqrt(p * (1 - p) / total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="at most N images per source (0: all)")
    parser.add_argument("--csv", help="write every reading to this CSV file")
    parser.add_argument("--corpus", action="append", help="only this corpus folder name (repeatable)")
    parser.add_argument("--source", action="append", help="only this source (repeatable)")
    args = parser.parse_args()

    per_source = Counter()
    real_total = 0
    false_matches = defaultdict(list)  # mark -> [paths]
    near = defaultdict(list)  # mark -> [(score, path)] on real images
    hits = defaultdict(Counter)  # source -> mark -> count
    totals = Counter()  # source -> images read
    labels = {}
    unreadable = 0
    seconds = []
    writer = None
    if args.csv:
        out = open(args.csv, "w", newline="")
        writer = csv.writer(out)
        writer.writerow(["corpus", "source", "label", "path", "mark", "found", "score", "reading"])
    for corpus, source, label, path in corpus_rows(args.corpus):
        if args.source and source not in args.source:
            continue
        if args.limit and per_source[source] >= args.limit:
            continue
        per_source[source] += 1
        try:
            with Image.open(path) as opened:
                opened.load()
                image = opened
                start = time.perf_counter()
                readings = visible_mark_readings(image)
                seconds.append(time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - a bad file is counted, not fatal
            unreadable += 1
            print(f"unreadable {path}: {exc}", file=sys.stderr)
            continue
        totals[source] += 1
        labels[source] = label
        if label == "real":
            real_total += 1
        for name, reading in readings.items():
            score = reading.get("zncc", -reading.get("colour_error", 0))
            if writer:
                writer.writerow([corpus, source, label, path, name, reading["found"], score, reading])
            if label == "real":
                near[name].append((score, str(path)))
                if reading["found"]:
                    false_matches[name].append(str(path))
            elif reading["found"]:
                hits[source][name] += 1

    print(f"Real photos and artworks read: {real_total} (unreadable files: {unreadable})")
    for name in MARKS:
        found = len(false_matches[name])
        print(
            f"  {name}: {found} false matches of {real_total} "
            f"(95% upper bound {100 * upper_bound_95(found, real_total):.2f}%)"
        )
        for path in false_matches[name][:10]:
            print(f"      {path}")
        closest = sorted(near[name], reverse=True)[:3]
        print("      closest real readings: " + "; ".join(f"{s:.3f} {Path(p).name}" for s, p in closest))
    print("\nHits on AI images, per source (images with the mark found / images read):")
    for source in sorted(s for s in totals if labels[s] == "ai"):
        marks = ", ".join(f"{name} {count}" for name, count in sorted(hits[source].items())) or "none"
        print(f"  {source}: {sum(hits[source].values())}/{totals[source]}  ({marks})")
    if seconds:
        seconds.sort()
        print(
            f"\nCost of visible_mark_readings per image (decoded image in, {len(seconds)} images): "
            f"median {1000 * seconds[len(seconds) // 2]:.1f} ms, 95th percentile "
            f"{1000 * seconds[int(0.95 * len(seconds))]:.1f} ms, max {1000 * seconds[-1]:.1f} ms"
        )


if __name__ == "__main__":
    main()
