"""Known-image matching: PDQ perceptual hashes and nearest-neighbour indexes over them.

PDQ (Facebook's pdqhash, 256 bits) says "this is the same picture", not "it looks alike".
Figures from `bench/matching.py --thresholds` on the 3316 corpus images of at least 256x256
px in /work/shared/data/train (phone photos, Unsplash portraits, Kodak scans, vector art,
SD/SDXL/FLUX/StyleGAN images), all hashed through pdq_hash (transparency flattened onto
white, longest side reduced to 1024 px first).

Distance from an image to its own copy, bits of 256 (400 images; p95 / max / share <= 31):
  JPEG quality 60 or 30 ......... 6 / 10 / 100%    grey, sepia ................. 2 / 4 / 100%
  saturation 1.5 + brightness 1.1 10 / 24 / 100%   resize to 64x64 px ......... 16 / 32 / 99.8%
  0.5x resize ................... 28 / 38 / 97.8%  0.25x resize ............... 32 / 46 / 93.5%
  JPEG 60 + 0.5x + colour ....... 30 / 36 / 97.5%  crop 1% off one side ....... 22 / 62 / 99.2%
  crop 1% per side .............. 30 / 58 / 95.2%  crop 2% per side ........... 54 / 74 / 10%
  crop 5% per side ............. 118 / 138 / 0     crop 10% off one side ..... 126 / 142 / 0
  10% border added ............. 148 / 164 / 0     caption bar over 15% ....... 56 / 74 / 42%
  rotate 5 degrees .............. 96 / 124 / 0     rotate 90 ................ 140 / 154 / 0
  mirror ....................... 134 / 138 / 0, but against pdq_hashes_robust() of the copy,
  rotate 90 and mirror are 18 / 58 / 99.8%.
Distance between different pictures (5.5M pairs): 1st percentile 106, 0.001st percentile 74,
closest 46 bits (two StyleGAN faces: aligned portraits are the worst case); closest pair
across labels (real vs AI) 78. Four corpus pairs within 10 bits are one picture held twice
(checked by eye), e.g. a ComfyUI cut-out with a transparent background and its copy on
white: 6 bits, found only because transparency is flattened onto white.

So, within documented limits, a copy is found after re-encoding (JPEG down to quality 30),
resizing (down to ~0.25x), colour filters, grey/sepia, crops up to ~1% per side, and, with
pdq_hashes_robust(), 90-degree turns and mirroring. It is NOT found after a crop of 2% per
side or more (a 10% crop is as far as a different picture), added borders, a rotation of a
few degrees, or a large caption: PDQ hashes the whole frame. A cropped copy is found only
if the library was also hashed at (within ~1% of) that crop, or by the embedding index
(VectorIndex), which says "looks like", not "is".

Thresholds. A match in the AI library pushes towards AI, and a false one accuses an artist:
PDQ_MATCH_DISTANCE_AI = 31 (also Facebook's recommendation). No pair of different pictures
is within it, the closest is 15 bits further. A match in the human library pushes towards
human, the safe direction: PDQ_MATCH_DISTANCE_HUMAN = 36 also keeps 99.8% of 0.5x resizes,
all JPEG+resize+colour copies and 97.8% of 0.25x resizes, 10 bits short of the closest
different pair. Large libraries: a log-linear fit of the different-pairs tail (t = 60..100)
gives P(distance <= 31) ~ 2e-9 per pair and P(<= 36) ~ 6e-9, i.e. against 1M stored
hashes roughly 0.2% (31) and 0.6% (36) of queries would find some false match (among
aligned face portraits alone, about seven times more). Extrapolated, not observed: the
bigger the library, the more a match deserves a second look. Hashes with quality below
PDQ_MIN_QUALITY (near-flat images; Facebook's cut-off) should not be matched: featureless
images hash alike.

Index. HashIndex is faiss IndexBinaryFlat (exact SIMD Hamming scan) behind IndexBinaryIDMap
for the caller's keys: 2.5 ms per lookup at 1M hashes on this 2-core machine, exact at any
threshold (bench/matching.py). IndexBinaryMultiHash 16x16 bits is exact at 31 bits too (31
differing bits leave one 16-bit substring with at most 1, which nflip=1 probes) but is no
faster (2.4 ms), takes 7 s instead of 0.6 s to build, and needs 31 ms at 36 bits; the 8x32
variant and IndexBinaryHNSW lose 30-50% of the matches. A lookup runs on one thread (see
_one_openmp_thread). Removal is faiss's remove_ids, which compacts the arrays (O(n): 9 ms
at 1M), so remove in batches.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import numpy as np
from PIL import Image

# Stable codes of the known-image evidence sentences (the web side builds the findings in
# detector/known_images.py; detector/evidence_text.py words them). Params: case, label, date,
# how (parts) for a reviewer's case; name, how for an imported set.
CODE_MATCH_CASE = "known_image.match_case"
CODE_LOOKS_LIKE_CASE = "known_image.looks_like_case"
CODE_MATCH_AI_SET = "known_image.match_ai_set"
CODE_MATCH_HUMAN_SET = "known_image.match_human_set"
CODE_LOOKS_LIKE_AI_SET = "known_image.looks_like_ai_set"
CODE_LOOKS_LIKE_HUMAN_SET = "known_image.looks_like_human_set"
CODE_LABEL_AI = "known_image.label.ai"
CODE_LABEL_HUMAN = "known_image.label.human"
CODE_HOW_PDQ = "known_image.how.pdq"  # distance
CODE_HOW_PDQ_CROP = "known_image.how.pdq_crop"  # distance
CODE_HOW_EMBEDDING = "known_image.how.embedding"  # similarity

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8

PDQ_MATCH_DISTANCE_AI = 31
PDQ_MATCH_DISTANCE_HUMAN = 36
PDQ_MATCH_DISTANCE = PDQ_MATCH_DISTANCE_AI  # the strict one, for callers with a single library
PDQ_MIN_QUALITY = 50
PDQ_MAX_SIDE = 1024  # larger images are reduced first: PDQ looks at 64x64 luma anyway

_PREMULTIPLIED = {"La": "LA", "RGBa": "RGBA"}

# Order of pdq_hashes_robust() (pdqhash.compute_dihedral).
DIHEDRAL_VARIANTS = ("original", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y", "flip_plus1", "flip_minus1")


def _rgb_for_hashing(image: Image.Image) -> np.ndarray:
    """(h, w, 3) uint8 RGB: transparency flattened onto white, 16-bit scaled, at most PDQ_MAX_SIDE."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.nan_to_num(np.asarray(image, dtype=np.float64))
        if image.mode == "F" and values.size and values.max() <= 1.0:
            values = values * 255.0
        elif values.size and values.max() > 255:
            values = values / 257.0
        image = Image.fromarray(values.clip(0, 255).round().astype(np.uint8), "L")
    if image.mode in _PREMULTIPLIED:  # Pillow converts these only to their straight-alpha form
        image = image.convert(_PREMULTIPLIED[image.mode])
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        image = flat
    rgb = image.convert("RGB")
    if max(rgb.size) > PDQ_MAX_SIDE:
        scale = PDQ_MAX_SIDE / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _pack(bits: np.ndarray) -> bytes:
    # pdqhash lists bit 255 first, so the bytes read as Facebook's hex form of the hash.
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def pdq_hash(image: Image.Image) -> tuple[bytes, int]:
    """256-bit PDQ hash (32 bytes; .hex() gives Facebook's hex form) and its quality 0..100."""
    import pdqhash  # heavy native library stays out of the web process

    bits, quality = pdqhash.compute(_rgb_for_hashing(image))
    return _pack(bits), int(quality)


def pdq_hashes_robust(image: Image.Image) -> list[bytes]:
    """PDQ hashes of the 8 rotations/mirrorings of the image, in DIHEDRAL_VARIANTS order.

    The first equals pdq_hash(image)[0]. Search with all eight to find rotated or mirrored
    copies; each extra hash is one more chance of a false match, so keep the same threshold.
    """
    import pdqhash  # heavy native library stays out of the web process

    variants, _quality = pdqhash.compute_dihedral(_rgb_for_hashing(image))
    return [_pack(bits) for bits in variants]


@contextmanager
def _one_openmp_thread():
    """Answer one query on the calling thread only.

    A faiss OpenMP team waits for all its threads: with the cores busy (load 4.5 on 2 cores)
    a 2-thread lookup in 1M hashes took 32-150 ms instead of 2.5 ms. The setting is per
    calling thread, and faiss has its own OpenMP runtime (torch's is not touched).
    """
    import faiss  # heavy native library stays out of the web process

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def _as_hash(value, what: str = "hash") -> bytes:
    if isinstance(value, np.ndarray):
        value = value.astype(np.uint8, copy=False).tobytes()
    elif isinstance(value, str):
        raise ValueError(f"{what} must be {HASH_BYTES} bytes, got a str (use bytes.fromhex for a hex string).")
    try:
        data = bytes(value)
    except TypeError:
        raise ValueError(f"{what} must be {HASH_BYTES} bytes, got {type(value).__name__}.") from None
    if len(data) != HASH_BYTES:
        raise ValueError(f"{what} must be {HASH_BYTES} bytes ({HASH_BITS} bits), got {len(data)} bytes.")
    return data


def hamming(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equally long byte strings."""
    if len(a) != len(b):
        raise ValueError(f"Cannot compare hashes of {len(a)} and {len(b)} bytes.")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _as_keys(keys: Iterable[int]) -> np.ndarray:
    array = np.asarray(list(keys) if not isinstance(keys, np.ndarray) else keys)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError("keys must be a flat sequence of integers.")
    return array.astype(np.int64)


class HashIndex:
    """In-memory exact index of 256-bit hashes, each stored under an integer key.

    A key may hold several hashes (e.g. the 8 of pdq_hashes_robust); search reports each
    key once, at its closest hash. len() counts stored hashes. Thread-safe.
    """

    def __init__(self) -> None:
        import faiss  # heavy native library stays out of the web process

        self._index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(HASH_BITS))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def nbytes(self) -> int:
        """Bytes held by the codes and the key map."""
        return len(self) * (HASH_BYTES + 8)

    def add(self, keys: Sequence[int], hashes: Sequence[bytes] | np.ndarray) -> None:
        """Store hashes[i] under keys[i]. Raises ValueError for a hash that is not 32 bytes."""
        key_array = _as_keys(keys)
        if isinstance(hashes, np.ndarray) and hashes.ndim == 2:
            if hashes.shape[1] != HASH_BYTES:
                raise ValueError(f"hashes must be {HASH_BYTES} bytes each, got rows of {hashes.shape[1]}.")
            codes = np.ascontiguousarray(hashes, dtype=np.uint8)
        else:
            hashes = list(hashes)
            codes = np.frombuffer(b"".join(_as_hash(h) for h in hashes), dtype=np.uint8).reshape(len(hashes), HASH_BYTES)
        if len(codes) != len(key_array):
            raise ValueError(f"Got {len(key_array)} keys for {len(codes)} hashes.")
        if len(codes):
            with self._lock:
                self._index.add_with_ids(codes, key_array)

    def remove(self, keys: Iterable[int]) -> int:
        """Drop every hash stored under these keys; returns how many hashes went. O(len) per call."""
        import faiss  # heavy native library stays out of the web process

        key_array = _as_keys(keys)
        if not len(key_array):
            return 0
        with self._lock:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(key_array)))

    def search(self, hash: bytes, max_distance: int, limit: int = 10) -> list[tuple[int, int]]:
        """(key, distance) of the stored hashes within max_distance bits, closest first, at most limit keys."""
        query = np.frombuffer(_as_hash(hash), dtype=np.uint8).reshape(1, HASH_BYTES)
        if not 0 <= int(max_distance) <= HASH_BITS:
            raise ValueError(f"max_distance must be between 0 and {HASH_BITS}, got {max_distance}.")
        if int(limit) < 1:
            raise ValueError(f"limit must be at least 1, got {limit}.")
        with self._lock, _one_openmp_thread():
            if not self._index.ntotal:
                return []
            # range_search keeps distances strictly below the radius
            lims, distances, ids = self._index.range_search(query, int(max_distance) + 1)
        return _closest_per_key(ids[lims[0] : lims[1]], distances[lims[0] : lims[1]].astype(np.int64), limit, ascending=True)


def _closest_per_key(ids: np.ndarray, scores: np.ndarray, limit: int, ascending: bool) -> list:
    if not len(ids):
        return []
    order = np.lexsort((ids, scores if ascending else -scores))
    ids, scores = ids[order], scores[order]
    _, first = np.unique(ids, return_index=True)  # first occurrence = best score of each key
    first.sort()
    first = first[: int(limit)]
    cast = int if ascending else float
    return [(int(ids[i]), cast(scores[i])) for i in first]


class VectorIndex:
    """In-memory exact cosine-similarity index of float embeddings under integer keys.

    Vectors are L2-normalised on the way in (float32, faiss IndexFlatIP), so search scores
    are cosine similarities. The dimension is fixed by the constructor or the first add.
    """

    def __init__(self, dim: int | None = None) -> None:
        self._dim = int(dim) if dim is not None else None
        self._index = None
        self._lock = threading.Lock()
        if self._dim is not None:
            self._index = self._new_index(self._dim)

    @staticmethod
    def _new_index(dim: int):
        import faiss  # heavy native library stays out of the web process

        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}.")
        return faiss.IndexIDMap(faiss.IndexFlatIP(dim))

    @property
    def dim(self) -> int | None:
        return self._dim

    def __len__(self) -> int:
        return int(self._index.ntotal) if self._index is not None else 0

    @property
    def nbytes(self) -> int:
        return len(self) * ((self._dim or 0) * 4 + 8)

    def _normalised(self, vectors, what: str) -> np.ndarray:
        array = np.array(vectors, dtype=np.float32, ndmin=2)
        if array.ndim != 2:
            raise ValueError(f"{what} must be a 2-d array (n, dim), got shape {array.shape}.")
        if self._dim is not None and array.shape[1] != self._dim:
            raise ValueError(f"{what} must have dimension {self._dim}, got {array.shape[1]}.")
        if not np.isfinite(array).all():
            raise ValueError(f"{what} contain NaN or infinite values.")
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError(f"{what} contain a zero vector, which has no direction.")
        return np.ascontiguousarray(array / norms)

    def add(self, keys: Sequence[int], vectors) -> None:
        """Store vectors[i] (any scale) under keys[i]."""
        key_array = _as_keys(keys)
        array = self._normalised(vectors, "vectors")
        if len(array) != len(key_array):
            raise ValueError(f"Got {len(key_array)} keys for {len(array)} vectors.")
        if not len(array):
            return
        with self._lock:
            if self._index is None:
                self._dim = int(array.shape[1])
                self._index = self._new_index(self._dim)
            self._index.add_with_ids(array, key_array)

    def remove(self, keys: Iterable[int]) -> int:
        """Drop every vector stored under these keys; returns how many went."""
        import faiss  # heavy native library stays out of the web process

        key_array = _as_keys(keys)
        if not len(key_array) or self._index is None:
            return 0
        with self._lock:
            return int(self._index.remove_ids(faiss.IDSelectorBatch(key_array)))

    def search(self, vector, min_similarity: float, limit: int = 10) -> list[tuple[int, float]]:
        """(key, cosine similarity) of the stored vectors at or above min_similarity, most similar first."""
        if int(limit) < 1:
            raise ValueError(f"limit must be at least 1, got {limit}.")
        if self._index is None or not len(self):
            return []
        query = self._normalised(np.asarray(vector, dtype=np.float32).reshape(1, -1), "vector")
        radius = float(np.nextafter(np.float32(min_similarity), np.float32(-np.inf)))  # faiss keeps > radius
        with self._lock, _one_openmp_thread():
            lims, scores, ids = self._index.range_search(query, radius)
        return _closest_per_key(ids[lims[0] : lims[1]], scores[lims[0] : lims[1]], limit, ascending=False)
