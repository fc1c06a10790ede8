#!/usr/bin/env python
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
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import os
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageEnhance, ImageOps  # noqa: E402

from detector.evidence.similarity import (  # noqa: E402
    PDQ_MATCH_DISTANCE_AI,
    PDQ_MATCH_DISTANCE_HUMAN,
    HashIndex,
    VectorIndex,
    hamming,
    pdq_hash,
    pdq_hashes_robust,
)

SHARED_TRAIN = REPO.parent / "shared" / "data" / "train"
EMBEDDING_DIM = 1280  # efficientnet_lite0 pooled features
EMBEDDING_MATCH_SIMILARITY = 0.93  # detector.evidence_services uses this cut-off
COPY_DISTANCE = 10  # corpus pairs this close are one picture held twice, not two pictures


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


# --- Images --------------------------------------------------------------------------------------


def corpus_rows(label: str | None = None, min_side: int = 256, folders=None) -> list[dict]:
    manifest = SHARED_TRAIN / "MANIFEST.csv"
    if not manifest.exists():
        return []
    with open(manifest, newline="") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if int(r["width"]) >= min_side and int(r["height"]) >= min_side and (label is None or r["label"] == label)
        ]
    if folders:
        rows = [r for r in rows if r["path"].split("/")[0] in folders]
    return rows


def drawn_image(seed: int, size=(640, 480)) -> Image.Image:
    """A made-up photo-like picture (gradients, shapes, noise) for when the corpus is absent."""
    from tests.images import photo_like

    return photo_like(seed, size)


def sample_images(count: int, seed: int = 7) -> tuple[list[Image.Image], str]:
    rows = corpus_rows()
    if rows:
        random.Random(seed).shuffle(rows)
        picked = rows[:count]
        return [Image.open(SHARED_TRAIN / r["path"]).convert("RGB") for r in picked], f"{len(picked)} corpus images"
    return [drawn_image(i) for i in range(count)], f"{count} Pillow-drawn images (corpus absent)"


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def scaled(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((max(1, int(image.width * factor)), max(1, int(image.height * factor))), Image.Resampling.LANCZOS)


def crop_each_side(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = int(image.width * fraction), int(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


def crop_one_side(image: Image.Image, fraction: float) -> Image.Image:
    return image.crop((0, 0, int(image.width * (1 - fraction)), image.height))


def colour_filter(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(ImageEnhance.Color(image).enhance(1.5)).enhance(1.1)


def sepia(image: Image.Image) -> Image.Image:
    return ImageOps.colorize(ImageOps.grayscale(image), (40, 26, 13), (255, 240, 192))


def padded(image: Image.Image, fraction: float) -> Image.Image:
    out = Image.new("RGB", (int(image.width * (1 + 2 * fraction)), int(image.height * (1 + 2 * fraction))), "white")
    out.paste(image, (int(image.width * fraction), int(image.height * fraction)))
    return out


def captioned(image: Image.Image) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, int(out.height * 0.85), out.width, out.height), fill=(0, 0, 0))
    draw.text((10, int(out.height * 0.88)), "@someone reposted this picture", fill="white")
    return out


NEAR_DUPLICATES = {  # the variants a lookup must find (within documented limits)
    "jpeg60": lambda im: jpeg(im, 60),
    "resize0.5": lambda im: scaled(im, 0.5),
    "colour": colour_filter,
}


# --- Index speed ---------------------------------------------------------------------------------


def planted_near_duplicates(count: int) -> tuple[list[bytes], list[tuple[int, bytes, str]], str]:
    """Hashes of `count` real pictures and (picture index, variant hash, variant name) queries."""
    images, source = sample_images(count, seed=11)
    originals, queries = [], []
    for i, image in enumerate(images):
        originals.append(pdq_hash(image)[0])
        for name, make in NEAR_DUPLICATES.items():
            queries.append((i, pdq_hash(make(image))[0], name))
    return originals, queries, source


def flipped_pairs(library: np.ndarray, count: int, max_bits: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Queries at 0..max_bits random bit flips from random library rows: the hardest near-duplicates for hashing."""
    rows = rng.integers(0, len(library), count)
    queries = library[rows].copy()
    bits = np.unpackbits(queries, axis=1)
    for q, k in enumerate(rng.integers(0, max_bits + 1, count)):
        flip = rng.choice(256, int(k), replace=False)
        bits[q, flip] ^= 1
    return np.packbits(bits, axis=1), rows


def time_calls(fn, queries, warmup: int = 3) -> list[float]:
    for q in queries[:warmup]:
        fn(q)
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return out


def python_scan(keys, hashes, query: bytes, max_distance: int, limit: int = 10):
    hits = []
    for key, h in zip(keys, hashes):
        d = hamming(query, h)
        if d <= max_distance:
            hits.append((d, key))
    hits.sort()
    return [(k, d) for d, k in hits[:limit]]


def numpy_scan(codes64: np.ndarray, keys: np.ndarray, query: bytes, max_distance: int, limit: int = 10):
    q = np.frombuffer(query, dtype=np.uint64)
    distances = np.bitwise_count(codes64 ^ q).sum(axis=1)
    hits = np.flatnonzero(distances <= max_distance)
    order = hits[np.argsort(distances[hits], kind="stable")][:limit]
    return [(int(keys[i]), int(distances[i])) for i in order]


def bench_hash_index(sizes=(10_000, 1_000_000)) -> None:
    import faiss

    rng = np.random.default_rng(0)
    originals, variant_queries, source = planted_near_duplicates(40)
    print(f"planted    {len(originals)} real pictures from {source}; queries: their "
          f"{', '.join(NEAR_DUPLICATES)} variants ({len(variant_queries)})")
    true_d = [hamming(originals[i], h) for i, h, _ in variant_queries]
    print(f"           variant distances to their original: p50 {pct(true_d, 50):.0f}, max {max(true_d)} bits")
    print()
    header = f"{'hashes':>9} {'method':<34} {'build s':>8} {'RSS +':>11} {'index':>11} {'p50 ms':>8} {'p95 ms':>8} {'x HashIndex':>11}"
    print(header)
    print("-" * len(header))
    results = {}
    for n in sizes:
        random_codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
        slots = rng.choice(n, len(originals), replace=False)
        for slot, h in zip(slots, originals):
            random_codes[slot] = np.frombuffer(h, dtype=np.uint8)
        keys = np.arange(n, dtype=np.int64) * 2 + 1
        planted_key = {i: int(keys[slot]) for i, slot in enumerate(slots)}
        hash_list = [row.tobytes() for row in random_codes]  # what the caller passes: bytes per row
        queries = [h for _, h, _ in variant_queries] + [r.tobytes() for r in rng.integers(0, 256, (200 - len(variant_queries), 32), dtype=np.uint8)]

        gc.collect()
        rss0 = rss_bytes()
        t = time.perf_counter()
        index = HashIndex()
        index.add(keys.tolist(), hash_list)
        build = time.perf_counter() - t
        rss_delta = rss_bytes() - rss0
        found_ai = sum(
            planted_key[i] in [k for k, _ in index.search(h, PDQ_MATCH_DISTANCE_AI)] for i, h, _ in variant_queries
        )
        found_human = sum(
            planted_key[i] in [k for k, _ in index.search(h, PDQ_MATCH_DISTANCE_HUMAN)] for i, h, _ in variant_queries
        )
        stray = sum(
            len([k for k, _ in index.search(h, PDQ_MATCH_DISTANCE_HUMAN) if k != planted_key[i]]) for i, h, _ in variant_queries
        )
        lat = time_calls(lambda q: index.search(q, PDQ_MATCH_DISTANCE_AI), queries)
        base = float(np.median(lat))
        print(f"{n:>9,} {'HashIndex (faiss IndexBinaryFlat)':<34} {build:>8.2f} {mib(rss_delta):>11} {mib(index.nbytes):>11} "
              f"{base * 1e3:>8.2f} {pct(lat, 95) * 1e3:>8.2f} {1.0:>11.2f}")
        results[(n, "hashindex")] = base
        if n >= 1_000_000:
            omp = faiss.omp_get_max_threads()
            lat_omp = time_calls(lambda q: index._index.range_search(np.frombuffer(q, dtype=np.uint8)[None, :], PDQ_MATCH_DISTANCE_AI + 1), queries[:100])
            print(f"{n:>9,} {f'same, faiss default {omp} OpenMP threads':<34} {'-':>8} {'-':>11} {'-':>11} "
                  f"{np.median(lat_omp) * 1e3:>8.2f} {pct(lat_omp, 95) * 1e3:>8.2f} {np.median(lat_omp) / base:>11.1f}")

        codes64 = random_codes.view(np.uint64)
        ok = all(
            numpy_scan(codes64, keys, q, PDQ_MATCH_DISTANCE_AI) == index.search(q, PDQ_MATCH_DISTANCE_AI) for q in queries[:40]
        )
        nq = queries[:60] if n > 100_000 else queries
        lat_np = time_calls(lambda q: numpy_scan(codes64, keys, q, PDQ_MATCH_DISTANCE_AI), nq)
        print(f"{n:>9,} {'numpy XOR + bitwise_count scan':<34} {'-':>8} {'-':>11} {mib(codes64.nbytes + keys.nbytes):>11} "
              f"{np.median(lat_np) * 1e3:>8.2f} {pct(lat_np, 95) * 1e3:>8.2f} {np.median(lat_np) / base:>11.1f}"
              + ("" if ok else "  RESULTS DIFFER"))
        if n <= 100_000:
            key_list = keys.tolist()
            lat_py = time_calls(lambda q: python_scan(key_list, hash_list, q, PDQ_MATCH_DISTANCE_AI), queries[:20], warmup=1)
            results["python_per_hash"] = float(np.median(lat_py)) / n
            print(f"{n:>9,} {'pure-Python loop over hamming()':<34} {'-':>8} {'-':>11} {'-':>11} "
                  f"{np.median(lat_py) * 1e3:>8.2f} {pct(lat_py, 95) * 1e3:>8.2f} {np.median(lat_py) / base:>11.1f}")
        else:
            est = results["python_per_hash"] * n
            print(f"{n:>9,} {'pure-Python loop (extrapolated)':<34} {'-':>8} {'-':>11} {'-':>11} "
                  f"{est * 1e3:>8.0f} {'':>8} {est / base:>11.0f}")
        print(f"{'':>9} planted variants found: {found_ai}/{len(variant_queries)} within {PDQ_MATCH_DISTANCE_AI} bits, "
              f"{found_human}/{len(variant_queries)} within {PDQ_MATCH_DISTANCE_HUMAN}; other keys returned: {stray}")

        t = time.perf_counter()
        removed = index.remove([planted_key[0], planted_key[1]])
        print(f"{'':>9} remove 2 keys: {(time.perf_counter() - t) * 1e3:.1f} ms ({removed} hashes), "
              f"found after removal: {sum(planted_key[0] == k for k, _ in index.search(originals[0], 0))}")
        print()

        if n >= 1_000_000:
            compare_approximate(random_codes, keys, rng)
        del index, hash_list, random_codes, codes64
        gc.collect()


def compare_approximate(codes: np.ndarray, keys: np.ndarray, rng) -> None:
    """Approximate faiss binary indexes against the exact answer, on bit-flip near-duplicates."""
    import faiss

    print(f"approximate indexes considered ({len(codes):,} hashes unless noted; recall = share of "
          f"near-duplicates at 0..{PDQ_MATCH_DISTANCE_HUMAN} random bit flips that come back)")
    queries, rows = flipped_pairs(codes, 300, PDQ_MATCH_DISTANCE_HUMAN, rng)
    dist = np.array([hamming(q.tobytes(), codes[r].tobytes()) for q, r in zip(queries, rows)])
    for label, radius in (("AI", PDQ_MATCH_DISTANCE_AI), ("human", PDQ_MATCH_DISTANCE_HUMAN)):
        for nhash, bits, nflip in ((16, 16, 1 if radius < 32 else 2), (8, 32, 0)):
            index = faiss.IndexBinaryMultiHash(256, nhash, bits)
            t = time.perf_counter()
            index.add(codes)
            build = time.perf_counter() - t
            index.nflip = nflip
            hit, lat = 0, []
            want = dist <= radius
            for q, r, w in zip(queries, rows, want):
                t = time.perf_counter()
                _lims, _d, found = index.range_search(q[None, :], radius + 1)
                lat.append(time.perf_counter() - t)
                hit += bool(w and r in found)
            exact = "exact by pigeonhole" if (radius // nhash) <= nflip else "approximate"
            print(f"  IndexBinaryMultiHash({nhash}x{bits}b, nflip={nflip}) at {radius} bits ({label}): build {build:.1f} s, "
                  f"p50 {np.median(lat) * 1e3:.2f} ms, p95 {pct(lat, 95) * 1e3:.2f} ms, recall {hit}/{int(want.sum())} ({exact})")
            del index
    n_hnsw = 100_000
    index = faiss.IndexBinaryHNSW(256, 16)
    t = time.perf_counter()
    index.add(codes[:n_hnsw])
    build = time.perf_counter() - t
    index.hnsw.efSearch = 64
    queries, rows = flipped_pairs(codes[:n_hnsw], 300, PDQ_MATCH_DISTANCE_AI, rng)
    lat, hit = [], 0
    for q, r in zip(queries, rows):
        t = time.perf_counter()
        _d, found = index.search(q[None, :], 10)
        lat.append(time.perf_counter() - t)
        hit += r in found[0]
    print(f"  IndexBinaryHNSW(M=16, efSearch=64), {n_hnsw:,} hashes only: build {build:.1f} s, "
          f"p50 {np.median(lat) * 1e3:.2f} ms, recall {hit}/{len(rows)} at <= {PDQ_MATCH_DISTANCE_AI} bits")
    print()


def bench_vector_index(sizes=(10_000, 100_000)) -> None:
    rng = np.random.default_rng(1)
    header = f"{'vectors':>9} {'method':<34} {'build s':>8} {'RSS +':>11} {'index':>11} {'p50 ms':>8} {'p95 ms':>8} {'x VectorIndex':>13}"
    print(f"VectorIndex, {EMBEDDING_DIM}-d float32 (1M would hold {1_000_000 * EMBEDDING_DIM * 4 / 2**30:.1f} GiB, so 10k and 100k)")
    print(header)
    print("-" * len(header))
    for n in sizes:
        data = rng.standard_normal((n, EMBEDDING_DIM), dtype=np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        keys = np.arange(n, dtype=np.int64)
        planted = rng.choice(n, 20, replace=False)
        noisy = data[planted] + rng.standard_normal((20, EMBEDDING_DIM), dtype=np.float32) * 0.008  # cosine ~0.96
        queries = list(noisy) + list(rng.standard_normal((80, EMBEDDING_DIM), dtype=np.float32))
        gc.collect()
        rss0 = rss_bytes()
        t = time.perf_counter()
        index = VectorIndex()
        for start in range(0, n, 10_000):
            index.add(keys[start : start + 10_000], data[start : start + 10_000])
        build = time.perf_counter() - t
        rss_delta = rss_bytes() - rss0
        found = sum(int(p) in [k for k, _ in index.search(q, EMBEDDING_MATCH_SIMILARITY)] for p, q in zip(planted, noisy))
        lat = time_calls(lambda q: index.search(q, EMBEDDING_MATCH_SIMILARITY), queries)
        base = float(np.median(lat))

        def numpy_search(q):
            q = q / np.linalg.norm(q)
            sims = data @ q
            hits = np.flatnonzero(sims >= EMBEDDING_MATCH_SIMILARITY)
            return hits[np.argsort(-sims[hits])][:10]

        lat_np = time_calls(numpy_search, queries)
        print(f"{n:>9,} {'VectorIndex (faiss IndexFlatIP)':<34} {build:>8.2f} {mib(rss_delta):>11} {mib(index.nbytes):>11} "
              f"{base * 1e3:>8.2f} {pct(lat, 95) * 1e3:>8.2f} {1.0:>13.2f}")
        print(f"{n:>9,} {'numpy matrix-vector scan':<34} {'-':>8} {'-':>11} {mib(data.nbytes):>11} "
              f"{np.median(lat_np) * 1e3:>8.2f} {pct(lat_np, 95) * 1e3:>8.2f} {np.median(lat_np) / base:>13.2f}")
        print(f"{'':>9} planted neighbours found at >= {EMBEDDING_MATCH_SIMILARITY}: {found}/20")
        del index, data
        gc.collect()
    print()


# --- PDQ thresholds ------------------------------------------------------------------------------


TRANSFORMS = {
    "jpeg60": lambda im: jpeg(im, 60),
    "jpeg30": lambda im: jpeg(im, 30),
    "resize0.5": lambda im: scaled(im, 0.5),
    "resize0.25": lambda im: scaled(im, 0.25),
    "resize64px": lambda im: im.resize((64, 64), Image.Resampling.LANCZOS),
    "saturation1.5+brightness1.1": colour_filter,
    "sepia": sepia,
    "grayscale": lambda im: ImageOps.grayscale(im).convert("RGB"),
    "jpeg60+0.5x+colour": lambda im: jpeg(colour_filter(scaled(im, 0.5)), 60),
    "crop0.5%each": lambda im: crop_each_side(im, 0.005),
    "crop1%each": lambda im: crop_each_side(im, 0.01),
    "crop2%each": lambda im: crop_each_side(im, 0.02),
    "crop1%one": lambda im: crop_one_side(im, 0.01),
    "crop5%each": lambda im: crop_each_side(im, 0.05),
    "crop10%one": lambda im: crop_one_side(im, 0.10),
    "crop10%each": lambda im: crop_each_side(im, 0.10),
    "pad10%": lambda im: padded(im, 0.10),
    "caption_bar15%": captioned,
    "rotate5deg": lambda im: im.rotate(5, resample=Image.Resampling.BICUBIC),
    "rotate90": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "mirror": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
}


def bench_thresholds(sample: int) -> None:
    rows = corpus_rows()
    if rows:
        images_desc = f"{len(rows)} corpus images >= 256 px"
        load = lambda r: Image.open(SHARED_TRAIN / r["path"])  # noqa: E731
        groups = [r["path"].split("/")[0] for r in rows]
        labels = [r["label"] for r in rows]
    else:
        rows = list(range(300))
        images_desc = "300 Pillow-drawn images (corpus absent)"
        load = drawn_image  # noqa: E731
        groups = ["drawn"] * len(rows)
        labels = ["none"] * len(rows)
    t0 = time.perf_counter()
    hashes, qualities = [], []
    for r in rows:
        h, q = pdq_hash(load(r))
        hashes.append(np.frombuffer(h, dtype=np.uint8))
        qualities.append(q)
    log(f"hashed {len(rows)} images in {time.perf_counter() - t0:.0f} s")
    bits = np.unpackbits(np.stack(hashes), axis=1).astype(np.float32)
    ones = bits.sum(axis=1)
    dist = np.rint(ones[:, None] + ones[None, :] - 2 * bits @ bits.T).astype(np.int32)
    iu = np.triu_indices(len(rows), 1)
    full = dist[iu]
    copies = np.flatnonzero(full <= COPY_DISTANCE)
    different = full > COPY_DISTANCE
    d = full[different]
    print(f"unrelated  {images_desc}: {len(d):,} pairs of different images; {len(copies)} pairs within "
          f"{COPY_DISTANCE} bits left out as the same picture held twice (check them by eye):")
    for k in copies[:10]:
        i, j = iu[0][k], iu[1][k]
        name = (lambda r: r["path"] if isinstance(r, dict) else f"drawn {r}")
        print(f"             {full[k]:>3} bits  {name(rows[i])}  {name(rows[j])}")
    print(f"           quality: min {min(qualities)}, under 50: {sum(q < 50 for q in qualities)}")
    print(f"           distance percentiles 0.001/0.01/0.1/1/50: "
          + " / ".join(f"{pct(d, q):.0f}" for q in (0.001, 0.01, 0.1, 1, 50)) + f"; min {d.min()}")
    for t in (24, 31, 36, 40, 46, 50, 60, 70):
        print(f"           pairs within {t:>2} bits: {int((d <= t).sum()):>6}  ({(d <= t).mean():.2e} per pair)")
    if len(set(labels)) > 1:
        lab = np.array(labels)
        cross = (lab[iu[0]] != lab[iu[1]]) & different
        print(f"           closest pair across labels (real vs ai): {full[cross].min()} bits")
    grp = np.array(groups)
    for g in sorted(set(groups)):
        m = (grp[iu[0]] == g) & (grp[iu[1]] == g) & different
        if m.sum():
            print(f"           within {g:<24} {int(m.sum()):>9,} pairs, closest {full[m].min():>3}")
    steps = np.arange(60, 101, 4)
    cdf = np.array([(d <= s).mean() for s in steps])
    keep = cdf > 0
    if keep.sum() >= 3:
        slope, intercept = np.polyfit(steps[keep], np.log10(cdf[keep]), 1)
        print("           tail fit log10 P(d <= t) = %.4f t %+.2f over t = 60..100; extrapolated:" % (slope, intercept))
        for t in (24, 31, 36, 40):
            p = 10 ** (slope * t + intercept)
            print(f"             t={t}: {p:.1e} per pair -> expected false matches per query "
                  f"{p * 1e4:.1e} (10k library), {p * 1e5:.1e} (100k), {p * 1e6:.1e} (1M)")
    print()

    random.seed(3)
    order = list(range(len(rows)))
    random.shuffle(order)
    picked = order[:sample]
    per = {name: [] for name in TRANSFORMS}
    per_robust = {name: [] for name in TRANSFORMS}
    t0 = time.perf_counter()
    for i in picked:
        image = load(rows[i]).convert("RGB")
        h0 = hashes[i].tobytes()
        for name, make in TRANSFORMS.items():
            variant = make(image)
            per[name].append(hamming(h0, pdq_hash(variant)[0]))
            per_robust[name].append(min(hamming(h0, h) for h in pdq_hashes_robust(variant)))
    log(f"transformed {len(picked)} images in {time.perf_counter() - t0:.0f} s")
    print(f"copies     {len(picked)} images, distance to the original (bits of 256)")
    print(f"{'transform':<28} {'p50':>4} {'p95':>4} {'p99':>4} {'max':>4} {'<=' + str(PDQ_MATCH_DISTANCE_AI):>6} "
          f"{'<=' + str(PDQ_MATCH_DISTANCE_HUMAN):>6} | robust8: {'p95':>4} {'max':>4} {'<=' + str(PDQ_MATCH_DISTANCE_AI):>6}")
    for name in TRANSFORMS:
        a, b = np.array(per[name]), np.array(per_robust[name])
        print(f"{name:<28} {np.median(a):>4.0f} {pct(a, 95):>4.0f} {pct(a, 99):>4.0f} {a.max():>4} "
              f"{(a <= PDQ_MATCH_DISTANCE_AI).mean():>6.1%} {(a <= PDQ_MATCH_DISTANCE_HUMAN).mean():>6.1%} | "
              f"{'':>8} {pct(b, 95):>4.0f} {b.max():>4} {(b <= PDQ_MATCH_DISTANCE_AI).mean():>6.1%}")
    print()


# --- Watermark -----------------------------------------------------------------------------------


def bench_watermark(carriers: int) -> None:
    from imwatermark import WatermarkEncoder

    from detector.evidence import watermark as wm

    real = corpus_rows("real")
    if not real:
        print("watermark: /work/shared/data/train is absent; nothing to measure")
        return
    t0 = time.perf_counter()
    best = {}
    matched = 0
    for r in real:
        image = Image.open(SHARED_TRAIN / r["path"])
        for reading in wm.watermark_readings(image):
            key = (reading["message"], reading["path"])
            best[key] = max(best.get(key, 0), reading["bits_matched"])
        matched += wm.detect_sd_watermark(image) is not None
    log(f"read {len(real)} real images in {time.perf_counter() - t0:.0f} s")
    print(f"false matches: {matched} of {len(real)} labelled-real corpus images >= 256 px "
          f"(95% upper bound {3 / len(real):.2%})")
    for (message, path), value in sorted(best.items()):
        total = len(wm.MESSAGES[message].bits)
        need = total - wm.MESSAGES[message].max_errors
        print(f"  best reading {message:<4} {path:<9}: {value:>3}/{total} (match needs {need})")
    ai_rows = corpus_rows("ai")
    ai_matched, ai_best = 0, {}
    for r in ai_rows:
        image = Image.open(SHARED_TRAIN / r["path"])
        for reading in wm.watermark_readings(image):
            ai_best[reading["message"]] = max(ai_best.get(reading["message"], 0), reading["bits_matched"])
        ai_matched += wm.detect_sd_watermark(image) is not None
    print(f"AI corpus images >= 256 px (no reference-pipeline watermark expected): {ai_matched} of {len(ai_rows)} match; "
          f"best readings " + ", ".join(f"{m} {v}" for m, v in sorted(ai_best.items())))

    random.seed(2)
    rows = real[:]
    random.shuffle(rows)
    rows = rows[:carriers]

    def imwatermark_uint8(image):
        encoder = WatermarkEncoder()
        encoder.set_watermark("bits", wm.SDXL_WATERMARK_BITS)
        rgb = np.asarray(image.convert("RGB"))
        return Image.fromarray(np.ascontiguousarray(encoder.encode(np.ascontiguousarray(rgb[:, :, ::-1]), "dwtDct")[:, :, ::-1]))

    embeddings = {
        "sdxl (float BGR, diffusers)": lambda im: wm.embed_sd_watermark(im, "sdxl"),
        "sdxl (uint8, imwatermark)": imwatermark_uint8,
        "sd1 (uint8 BGR)": lambda im: wm.embed_sd_watermark(im, "sd1"),
        "sd2 (uint8 BGR)": lambda im: wm.embed_sd_watermark(im, "sd2"),
    }
    attacks = {
        "png": lambda im: im,
        "jpeg95": lambda im: jpeg(im, 95),
        "jpeg90": lambda im: jpeg(im, 90),
        "resize0.9": lambda im: scaled(im, 0.9),
        "crop3px": lambda im: im.crop((3, 3, im.width, im.height)),
        "crop8px": lambda im: im.crop((8, 8, im.width, im.height)),
    }
    found = {(e, a): 0 for e in embeddings for a in attacks}
    t0 = time.perf_counter()
    for r in rows:
        image = Image.open(SHARED_TRAIN / r["path"]).convert("RGB")
        if image.width * image.height > 1024 * 1024:
            image = image.crop((0, 0, min(image.width, 1024), min(image.height, 1024)))
        for e, embed in embeddings.items():
            marked = embed(image)
            for a, attack in attacks.items():
                found[(e, a)] += wm.detect_sd_watermark(attack(marked)) is not None
    log(f"embedded and read {len(rows)} carriers in {time.perf_counter() - t0:.0f} s")
    print(f"found again, {len(rows)} real carriers (corpus photos and art; longest side <= 1024 px):")
    print(f"{'embedding':<30}" + "".join(f"{a:>10}" for a in attacks))
    for e in embeddings:
        print(f"{e:<30}" + "".join(f"{found[(e, a)] / len(rows):>10.0%}" for a in attacks))
    image = Image.open(SHARED_TRAIN / rows[0]["path"]).convert("RGB").resize((1024, 1024))
    lat = time_calls(wm.detect_sd_watermark, [image] * 10, warmup=1)
    big = image.resize((6000, 4000))
    lat_big = time_calls(wm.detect_sd_watermark, [big] * 3, warmup=0)
    print(f"detect_sd_watermark latency: 1024x1024 p50 {np.median(lat) * 1e3:.0f} ms; "
          f"6000x4000 (capped at {wm.MAX_DECODE_PIXELS / 1e6:.1f} MP) p50 {np.median(lat_big) * 1e3:.0f} ms")
    print()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--thresholds", action="store_true", help="PDQ distances of copies and of different images")
    parser.add_argument("--watermark", action="store_true", help="watermark false matches and recall")
    parser.add_argument("--sample", type=int, default=400, help="images transformed by --thresholds (default 400)")
    parser.add_argument("--carriers", type=int, default=200, help="carrier images for --watermark (default 200)")
    args = parser.parse_args(argv)
    import faiss

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
