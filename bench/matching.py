"""Known-image matching and watermark figures, in one run per question.

    .venv/bin/python bench/matching.py                # index speed (about 1 minute)
    .venv/bin/python bench/matching.py --thresholds   # PDQ distances behind the thresholds (about 3 minutes)
    .venv/bin/python bench/matching.py --watermark    # watermark false matches and recall (about 3 minutes)

Default run: build time, memory (RSS delta and index bytes) and lookup latency p50/p95 of
HashIndex.search at 10k and 1M random 256-bit hashes with real near-duplicates planted,
against baselines measured in the same run (a pure-Python loop over `hamming` at 10k,
extrapolated to 1M, and a numpy XOR+popcount scan at both sizes); the approximate faiss
indexes that were considered (recall at the thresholds); VectorIndex at 10k and 100k
1280-d embeddings against a numpy matrix-vector scan. Figures go to bench/MATCHING.md.

The measurements live beside this script: matching_index.py (index speed),
matching_thresholds.py, matching_watermark.py, and matching_images.py (pictures and timers).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from bench.matching_index import bench_hash_index, bench_vector_index  # noqa: E402
from bench.matching_thresholds import bench_thresholds  # noqa: E402
from bench.matching_watermark import bench_watermark  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thresholds", action="store_true", help="PDQ distances of copies and of different images")
    parser.add_argument("--watermark", action="store_true", help="watermark false matches and recall")
    parser.add_argument("--sample", type=int, default=400, help="images transformed by --thresholds (default 400)")
    parser.add_argument("--carriers", type=int, default=200, help="carrier images for --watermark (default 200)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    print(f"machine    {platform.processor() or platform.machine()}, {os.cpu_count()} cores, faiss {faiss.__version__} "
          f"({faiss.get_compile_options().strip()}), {faiss.omp_get_max_threads()} OpenMP threads, numpy {np.__version__}")
    if args.thresholds:
        bench_thresholds(args.sample)
    if args.watermark:
        bench_watermark(args.carriers)
    if not (args.thresholds or args.watermark):
        bench_hash_index()
        bench_vector_index()
    print(f"load avg   {load:.2f} at start, {os.getloadavg()[0]:.2f} at end; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
