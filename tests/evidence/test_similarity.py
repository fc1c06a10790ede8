"""Known-image matching: PDQ hashes, HashIndex and VectorIndex (detector.evidence.similarity)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from detector.evidence.similarity import (
    PDQ_MATCH_DISTANCE,
    PDQ_MATCH_DISTANCE_AI,
    PDQ_MATCH_DISTANCE_HUMAN,
    HashIndex,
    VectorIndex,
    hamming,
    pdq_hash,
    pdq_hashes_robust,
)

from ..images import photo_like

SHARED_TRAIN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "train"




def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf)


def crop_each_side(image: Image.Image, fraction: float) -> Image.Image:
    dx, dy = int(image.width * fraction), int(image.height * fraction)
    return image.crop((dx, dy, image.width - dx, image.height - dy))


VARIANTS = {
    "jpeg quality 60": lambda im: jpeg(im, 60),
    "0.5x resize": lambda im: im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS),
    "saturation 1.5 + brightness 1.1": lambda im: ImageEnhance.Brightness(ImageEnhance.Color(im).enhance(1.5)).enhance(1.1),
    "sepia": lambda im: ImageOps.colorize(ImageOps.grayscale(im), (40, 26, 13), (255, 240, 192)),
    "crop 1% per side": lambda im: crop_each_side(im, 0.01),
}


def corpus_photos(count: int) -> list[Image.Image]:
    manifest = SHARED_TRAIN / "MANIFEST.csv"
    if not manifest.exists():
        pytest.skip("the shared corpus (../shared/data/train) is absent")
    with open(manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["path"].startswith(("kodak/", "clothing/", "hardfaces/real/"))]
    rows = rows[:: max(1, len(rows) // count)][:count]
    return [Image.open(SHARED_TRAIN / r["path"]).convert("RGB") for r in rows]


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return photo_like(1)


@pytest.fixture(scope="module")
def unrelated_hashes() -> list[bytes]:
    return [pdq_hash(photo_like(seed))[0] for seed in range(20, 30)]


@pytest.fixture(scope="module")
def library(picture, unrelated_hashes):
    """A HashIndex holding the picture (key 7) among unrelated drawn pictures (keys 100+)."""
    index = HashIndex()
    index.add([7], [pdq_hash(picture)[0]])
    index.add(list(range(100, 100 + len(unrelated_hashes))), unrelated_hashes)
    return index


def test_pdq_hash_is_32_bytes_with_a_quality(picture):
    digest, quality = pdq_hash(picture)
    assert isinstance(digest, bytes) and len(digest) == 32
    assert 50 <= quality <= 100
    assert pdq_hash(picture.copy()) == (digest, quality)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_copy_is_found_after(picture, library, variant):
    copy_hash = pdq_hash(VARIANTS[variant](picture))[0]

    assert hamming(pdq_hash(picture)[0], copy_hash) <= PDQ_MATCH_DISTANCE
    results = library.search(copy_hash, max_distance=PDQ_MATCH_DISTANCE_AI)
    assert results and results[0][0] == 7
    assert [key for key, _ in results] == [7]  # and nothing else


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_corpus_photo_copies_are_found_after(variant):
    for photo in corpus_photos(3):
        assert hamming(pdq_hash(photo)[0], pdq_hash(VARIANTS[variant](photo))[0]) <= PDQ_MATCH_DISTANCE, variant


def test_ten_percent_crop_is_beyond_pdq(picture):
    """Documented limit: PDQ hashes the whole frame, so a 10% crop is a different picture to it.

    (bench/matching.py --thresholds: crop 5% per side p50 90 bits; cropped copies are left to
    the embedding index.)
    """
    original = pdq_hash(picture)[0]
    for cropped in (crop_each_side(picture, 0.05), picture.crop((0, 0, int(picture.width * 0.9), picture.height))):
        assert hamming(original, pdq_hash(cropped)[0]) > PDQ_MATCH_DISTANCE_HUMAN


def test_mirrored_and_rotated_copies_are_found_with_robust_hashes(picture):
    index = HashIndex()
    index.add([1], [pdq_hash(picture)[0]])
    robust = pdq_hashes_robust(picture)
    assert len(robust) == 8 and robust[0] == pdq_hash(picture)[0]
    for turned in (picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT), picture.transpose(Image.Transpose.ROTATE_90)):
        assert not index.search(pdq_hash(turned)[0], PDQ_MATCH_DISTANCE)
        assert any(index.search(h, PDQ_MATCH_DISTANCE) for h in pdq_hashes_robust(turned))


def test_unrelated_pictures_are_not_matched(picture, library, unrelated_hashes):
    assert library.search(pdq_hash(photo_like(99))[0], PDQ_MATCH_DISTANCE_HUMAN) == []
    for other in unrelated_hashes:
        assert hamming(pdq_hash(picture)[0], other) > PDQ_MATCH_DISTANCE_HUMAN


def test_unrelated_corpus_photos_are_not_matched():
    hashes = [pdq_hash(photo)[0] for photo in corpus_photos(12)]
    index = HashIndex()
    index.add(range(len(hashes)), hashes)
    for i, h in enumerate(hashes):
        assert index.search(h, PDQ_MATCH_DISTANCE_HUMAN) == [(i, 0)]


def test_thresholds_are_ordered():
    assert PDQ_MATCH_DISTANCE == PDQ_MATCH_DISTANCE_AI <= PDQ_MATCH_DISTANCE_HUMAN < 46  # closest different pair measured


def test_search_sorts_by_distance_limits_and_reports_each_key_once():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, 32, dtype=np.uint8)
    bits = np.unpackbits(base)
    hashes, keys = [], []
    for key, flips in ((1, 5), (2, 1), (3, 9), (4, 3)):
        variant = bits.copy()
        variant[:flips] ^= 1
        hashes.append(np.packbits(variant).tobytes())
        keys.append(key)
    exact = base.tobytes()
    index = HashIndex()
    index.add(keys, hashes)
    index.add([3], [exact])  # a second hash under key 3, closer than its first

    assert index.search(exact, max_distance=10) == [(3, 0), (2, 1), (4, 3), (1, 5)]
    assert index.search(exact, max_distance=10, limit=2) == [(3, 0), (2, 1)]
    assert index.search(exact, max_distance=2) == [(3, 0), (2, 1)]
    assert len(index) == 5


def test_remove_drops_every_hash_of_a_key(picture, library):
    index = HashIndex()
    digest = pdq_hash(picture)[0]
    index.add([7, 7, 8], [digest, digest, pdq_hash(photo_like(50))[0]])

    assert index.remove([7]) == 2
    assert index.search(digest, PDQ_MATCH_DISTANCE) == []
    assert len(index) == 1
    assert index.remove([7, 12345]) == 0
    assert index.remove([]) == 0


def test_empty_index_returns_nothing(picture):
    assert HashIndex().search(pdq_hash(picture)[0], PDQ_MATCH_DISTANCE) == []
    assert len(HashIndex()) == 0


@pytest.mark.parametrize("bad", [b"\x00" * 31, b"\x00" * 33, b"", "ab" * 32, None])
def test_bad_hash_raises_a_clear_value_error(bad):
    index = HashIndex()
    with pytest.raises(ValueError, match="32 bytes"):
        index.search(bad, 10)
    with pytest.raises(ValueError, match="32 bytes"):
        index.add([1], [bad])


def test_other_bad_arguments_raise_value_errors():
    index = HashIndex()
    with pytest.raises(ValueError, match="keys for"):
        index.add([1, 2], [b"\x00" * 32])
    with pytest.raises(ValueError, match="max_distance"):
        index.search(b"\x00" * 32, 300)
    with pytest.raises(ValueError, match="limit"):
        index.search(b"\x00" * 32, 10, limit=0)
    with pytest.raises(ValueError, match="differing|Cannot compare"):
        hamming(b"\x00" * 32, b"\x00" * 31)


def test_hamming_counts_differing_bits():
    assert hamming(b"\x00" * 32, b"\x00" * 32) == 0
    assert hamming(b"\xff" * 32, b"\x00" * 32) == 256
    assert hamming(b"\x0f" + b"\x00" * 31, b"\x01" + b"\x00" * 31) == 3


@pytest.mark.parametrize("mode", ["RGBA", "LA", "La", "P", "L", "1", "CMYK", "I;16", "F"])
def test_hashing_accepts_any_mode(picture, mode):
    if mode in ("I;16", "F"):
        image = Image.fromarray(np.asarray(picture.convert("L")).astype(np.uint16) * 257).convert(mode)
    else:
        image = picture.convert(mode)
    digest, quality = pdq_hash(image)
    assert len(digest) == 32 and 0 <= quality <= 100
    if mode in ("RGBA", "L", "I;16", "F"):  # same luminance, so the same picture to PDQ
        assert hamming(digest, pdq_hash(picture)[0]) <= PDQ_MATCH_DISTANCE


def test_huge_and_tiny_images_hash():
    assert len(pdq_hash(Image.new("RGB", (1, 1)))[0]) == 32
    big = photo_like(2, size=(640, 480)).resize((4000, 3000))
    assert hamming(pdq_hash(big)[0], pdq_hash(photo_like(2))[0]) <= PDQ_MATCH_DISTANCE


# --- VectorIndex ---------------------------------------------------------------------------------


def test_vector_index_finds_near_vectors_by_cosine():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 64)).astype(np.float32)
    index = VectorIndex()
    index.add(range(50), vectors * 3.0)  # any scale: normalised on the way in
    query = vectors[10] + rng.standard_normal(64).astype(np.float32) * 0.05

    results = index.search(query, min_similarity=0.9)
    assert [k for k, _ in results] == [10]
    assert 0.9 <= results[0][1] <= 1.0
    assert index.search(vectors[10], min_similarity=1.0 - 1e-6)[0][0] == 10
    assert len(index.search(query, min_similarity=-1.0, limit=5)) == 5
    assert index.dim == 64 and len(index) == 50


def test_vector_index_remove_and_empty():
    index = VectorIndex()
    assert index.search(np.ones(8), min_similarity=0.5) == []
    index.add([1, 2], np.eye(8, dtype=np.float32)[:2])
    assert index.remove([1]) == 1
    assert index.search(np.eye(8)[0], min_similarity=0.5) == []
    assert index.search(np.eye(8)[1], min_similarity=0.5) == [(2, pytest.approx(1.0))]


def test_vector_index_rejects_bad_vectors():
    index = VectorIndex(dim=4)
    with pytest.raises(ValueError, match="dimension 4"):
        index.add([1], np.ones((1, 5)))
    with pytest.raises(ValueError, match="zero vector"):
        index.add([1], np.zeros((1, 4)))
    with pytest.raises(ValueError, match="keys for"):
        index.add([1, 2], np.ones((1, 4)))
    index.add([1], np.ones((1, 4)))
    with pytest.raises(ValueError, match="dimension 4"):
        index.search(np.ones(3), min_similarity=0.5)
