"""Is an image unlike anything the model was trained on?

The classifier's embedding of an image (stored on its fingerprint for known-image matching) is
compared with embeddings of the training data, written once per model by
`manage.py index_training_embeddings` to AIORNOT_TRAINING_EMBEDDINGS. When even the nearest
training image is less than AIORNOT_NOVEL_SIMILARITY cosine-similar, the case page says so: the
model's score means little there, and a reviewer's label there teaches it the most (so routing
stores the similarity on the case and the queue puts such images forward: reviews.selectors).
This module never imports torch; the command passes in the loaded detector.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from PIL import Image, ImageOps

from .models import ImageFingerprint

EMBED_BATCH = 16


def training_embeddings_write(*, detector, paths, out, log=print) -> int:
    """Embed every image of `paths` with the detector and write them (float16) with its embedding version."""
    vectors = []
    paths = list(paths)
    for start in range(0, len(paths), EMBED_BATCH):
        images = []
        for path in paths[start : start + EMBED_BATCH]:
            try:
                with Image.open(path) as image:
                    images.append(ImageOps.exif_transpose(image).convert("RGB"))
            except OSError as exc:
                log(f"skipped {path}: {exc}")
        if images:
            vectors.append(np.asarray(detector.embed_batch(images), dtype=np.float16))
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, 0), dtype=np.float16)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part.npz")
    np.savez_compressed(partial, vectors=matrix, embedding_version=np.array(detector.embedding_version))
    os.replace(partial, out)
    return int(matrix.shape[0])


_loaded: dict = {}
_load_lock = threading.Lock()


def training_embeddings_load(path=None) -> tuple[np.ndarray, str] | None:
    """The training embeddings (unit rows, float32) and their embedding version; None without a file."""
    path = Path(path or settings.AIORNOT_TRAINING_EMBEDDINGS)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    with _load_lock:
        cached = _loaded.get(str(path))
        if cached and cached[0] == stamp:
            return cached[1]
        with np.load(path) as data:
            vectors = data["vectors"].astype(np.float32)
            version = str(data["embedding_version"])
        if vectors.size:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        _loaded[str(path)] = (stamp, (vectors, version))
        return vectors, version


@dataclass(frozen=True)
class Novelty:
    nearest_similarity: float  # cosine similarity to the closest training image
    unlike_training: bool


def asset_novelty(asset) -> Novelty | None:
    """How close the image is to the training data; None when it cannot be told (no index, no
    embedding, or an embedding of another model)."""
    fingerprint = ImageFingerprint.objects.filter(asset=asset).only("embedding", "embedding_model").first()
    if fingerprint is None or not fingerprint.embedding:
        return None
    index = training_embeddings_load()
    if index is None:
        return None
    vectors, version = index
    if not vectors.size or version != fingerprint.embedding_model:
        return None
    query = np.frombuffer(bytes(fingerprint.embedding), dtype=np.float16).astype(np.float32)
    if query.shape[0] != vectors.shape[1]:
        return None
    query /= max(float(np.linalg.norm(query)), 1e-12)
    nearest = float(np.max(vectors @ query))
    return Novelty(nearest_similarity=nearest, unlike_training=nearest < settings.AIORNOT_NOVEL_SIMILARITY)
