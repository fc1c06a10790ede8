"""Index speed of the known-image lookups: HashIndex against a numpy scan and a pure-Python loop
(10k and 1M PDQ hashes), the approximate faiss indexes that were considered, and VectorIndex
against a numpy matrix-vector scan (bench/matching.py, default run)."""

from __future__ import annotations

import gc
import time

import faiss
import numpy as np

from detector.evidence.similarity import (
    PDQ_MATCH_DISTANCE_AI,
    PDQ_MATCH_DISTANCE_HUMAN,
    HashIndex,
    VectorIndex,
    hamming,
    pdq_hash,
)

from bench.matching_images import NEAR_DUPLICATES, mib, pct, rss_bytes, sample_images, time_calls

EMBEDDING_DIM = 1280  # efficientnet_lite0 pooled features
EMBEDDING_MATCH_SIMILARITY = 0.93  # detector.known_images uses this cut-off


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
    """Build, memory and lookup latency of HashIndex with real near-duplicates planted, against baselines."""
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
    """Build, memory, recall and lookup latency of VectorIndex against a numpy matrix-vector scan."""
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
