"""The known-image libraries on the Django side: images reviewers labelled and sets an admin
imported, indexed by perceptual hash (and classifier embedding), searched for matches of a
new image, and filled by `manage.py import_known_images`.

The hashing and the indexes are plain code in detector.evidence.similarity; this module
reads and writes rows. It never imports torch (embeddings are computed by the caller's detector).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max

from reviews.models import ReviewCase

from .evidence import MODERATE, STRONG, TOWARDS_AI, TOWARDS_HUMAN, WEAK, Finding
from .evidence import similarity as similarity_layer
from .evidence.similarity import (
    PDQ_MATCH_DISTANCE_AI,
    PDQ_MATCH_DISTANCE_HUMAN,
    PDQ_MIN_QUALITY,
    HashIndex,
    VectorIndex,
    pdq_hash,
)
from .intake import ImageRejected, image_open_for_scoring, image_validate
from .models import ImageFingerprint, KnownImage

# Cosine similarity of classifier embeddings above which two images are shown as "looks like".
# Measured on the Kodak photos with the shipped model's embedding (the final pooled features,
# architectures.embedding_features): a 0.5x resize scores 0.997, a crop to 75% 0.83, unrelated
# photos at most 0.57 (median 0.26). An embedding match alone is weak, unverified evidence.
EMBEDDING_MATCH_SIMILARITY = 0.93
# A PDQ match with the AI library accuses, so it decides on its own (strong) only when it is
# very close on the whole frame or the embeddings agree; otherwise it counts as moderate. The
# chance that two different pictures fall within 31 bits is ~2e-9 per pair (similarity module),
# which adds up in a large library, and crop hashes multiply the pairs.
DECISIVE_AI_DISTANCE = 20
CORROBORATING_SIMILARITY = 0.80

# PDQ hashes the whole frame, so a copy cropped by more than ~1% per side no longer matches
# (detector.evidence.similarity). Library images are therefore also hashed at the crops people
# commonly make: 5% and 10% off every side, and 10% off any one side. A copy cropped within
# about 1% of one of these framings is found; other crops are left to the embedding match.
LIBRARY_CROPS = (
    (0.05, 0.05, 0.05, 0.05),
    (0.10, 0.10, 0.10, 0.10),
    (0.10, 0.0, 0.0, 0.0),
    (0.0, 0.10, 0.0, 0.0),
    (0.0, 0.0, 0.10, 0.0),
    (0.0, 0.0, 0.0, 0.10),
)  # (left, top, right, bottom) fractions removed


def pdq_with_crops(image) -> tuple[bytes, int, list[str]]:
    """The image's PDQ hash, its quality, and the hex hashes of LIBRARY_CROPS."""
    digest, quality = pdq_hash(image)
    width, height = image.size
    crops = []
    for left, top, right, bottom in LIBRARY_CROPS:
        box = (round(width * left), round(height * top), width - round(width * right), height - round(height * bottom))
        if box[2] - box[0] < 16 or box[3] - box[1] < 16:
            continue
        crops.append(pdq_hash(image.crop(box))[0].hex())
    return digest, int(quality), crops


# --- Known-image libraries ----------------------------------------------------------------------
#
# Two libraries: images reviewers labelled (final label ai / human on a decided case) and sets
# an admin imported (`manage.py import_known_images`). Each process keeps one PDQ index per
# label and refreshes it when the libraries' signature changes, so a lookup is an index search,
# never a scan of the table.


@dataclass
class _LibraryEntry:
    label: str
    origin: str  # "review" or "import"
    ref: int  # ReviewCase id or KnownImage id
    date: object
    name: str  # set name for imports
    vector: object = None  # float32 embedding (reviewed images of the current model version)


def _hash_keys(key: int, count: int) -> list[int]:
    # Index keys: 2k for the whole-frame hash, 2k+1 for the crop hashes of library entry k.
    return [2 * key] + [2 * key + 1] * (count - 1)


@dataclass
class _Library:
    signature: tuple = ()
    indexes: dict = field(default_factory=dict)  # label -> HashIndex
    entries: dict = field(default_factory=dict)  # key -> _LibraryEntry
    vectors: object = None  # VectorIndex of reviewer-labelled embeddings (one embedding version)
    vector_version: str = ""


_library = _Library()
_library_lock = threading.Lock()


def _library_signature(embedding_version: str) -> tuple:
    decided = ReviewCase.objects.filter(status=ReviewCase.Status.DECIDED, label__in=["ai", "human"]).aggregate(
        n=Count("id"), last=Max("labelled_at")
    )
    known = KnownImage.objects.aggregate(n=Count("id"), last=Max("id"))
    return (decided["n"], decided["last"], known["n"], known["last"], embedding_version)


def _library_load(embedding_version: str) -> _Library:
    library = _Library(indexes={"ai": HashIndex(), "human": HashIndex()}, vector_version=embedding_version)
    keys = {"ai": ([], []), "human": ([], [])}
    vector_keys, vector_rows = [], []
    cases = (
        ReviewCase.objects.filter(status=ReviewCase.Status.DECIDED, label__in=["ai", "human"], asset__fingerprint__isnull=False)
        .values_list(
            "id",
            "label",
            "labelled_at",
            "asset__fingerprint__pdq",
            "asset__fingerprint__pdq_crops",
            "asset__fingerprint__embedding",
            "asset__fingerprint__embedding_model",
        )
        .iterator(chunk_size=5000)
    )
    for case_id, label, labelled_at, pdq, crops, embedding, model in cases:
        key = 2 * case_id
        entry = library.entries[key] = _LibraryEntry(label, "review", case_id, labelled_at, "")
        digests = [pdq, *(crops or [])]
        keys[label][0].extend(_hash_keys(key, len(digests)))
        keys[label][1].extend(bytes.fromhex(d) for d in digests)
        if embedding and embedding_version and model == embedding_version:
            entry.vector = np.frombuffer(bytes(embedding), dtype=np.float16).astype(np.float32)
            vector_keys.append(key)
            vector_rows.append(entry.vector)
    for known_id, label, imported_at, pdq, crops, set_name in KnownImage.objects.values_list(
        "id", "label", "imported_at", "pdq", "pdq_crops", "set_name"
    ).iterator(chunk_size=5000):
        key = 2 * known_id + 1
        library.entries[key] = _LibraryEntry(label, "import", known_id, imported_at, set_name)
        digests = [pdq, *(crops or [])]
        keys[label][0].extend(_hash_keys(key, len(digests)))
        keys[label][1].extend(bytes.fromhex(d) for d in digests)
    for label, (label_keys, hashes) in keys.items():
        if label_keys:
            library.indexes[label].add(label_keys, hashes)
    if vector_rows:
        library.vectors = VectorIndex()
        library.vectors.add(vector_keys, np.stack(vector_rows))
    return library


def _library_current(embedding_version: str) -> _Library:
    global _library
    signature = _library_signature(embedding_version)
    with _library_lock:
        if _library.signature != signature:
            loaded = _library_load(embedding_version)
            loaded.signature = signature
            _library = loaded
        return _library


def _match_line(entry: _LibraryEntry, distance: int | None, similarity: float | None, looks_like: bool = False) -> str:
    label = "AI" if entry.label == "ai" else "human-made"
    how = f"PDQ distance {distance} of 256 bits" if distance is not None else f"embedding similarity {similarity:.3f}"
    verb = "Looks like" if looks_like else "Matches"
    if entry.origin == "review":
        return f"{verb} case #{entry.ref}, labelled {label} by a reviewer on {entry.date:%Y-%m-%d} ({how})."
    kind = "AI" if entry.label == "ai" else "human"
    return f"{verb} an image in the imported known-{kind} set \"{entry.name}\" ({how})."


def _match_code(
    entry: _LibraryEntry, distance: int | None, similarity: float | None, looks_like: bool = False, via_crop: bool = False
) -> tuple[str, dict]:
    """The code and params of _match_line's sentence (detector/evidence_text.py words it)."""
    layer = similarity_layer
    if distance is not None:
        how = {"code": layer.CODE_HOW_PDQ_CROP if via_crop else layer.CODE_HOW_PDQ, "params": {"distance": int(distance)}}
    else:
        how = {"code": layer.CODE_HOW_EMBEDDING, "params": {"similarity": f"{similarity:.3f}"}}
    if entry.origin == "review":
        label = {"code": layer.CODE_LABEL_AI if entry.label == "ai" else layer.CODE_LABEL_HUMAN, "params": {}}
        code = layer.CODE_LOOKS_LIKE_CASE if looks_like else layer.CODE_MATCH_CASE
        return code, {"case": entry.ref, "label": label, "date": f"{entry.date:%Y-%m-%d}", "how": how}
    if looks_like:
        code = layer.CODE_LOOKS_LIKE_AI_SET if entry.label == "ai" else layer.CODE_LOOKS_LIKE_HUMAN_SET
    else:
        code = layer.CODE_MATCH_AI_SET if entry.label == "ai" else layer.CODE_MATCH_HUMAN_SET
    return code, {"name": entry.name, "how": how}


def known_image_findings(fingerprint: ImageFingerprint | None, *, exclude_case_id: int | None = None) -> list[Finding]:
    """Matches of this image in the labelled libraries, closest first (at most one per library)."""
    if fingerprint is None:
        return []
    library = _library_current(fingerprint.embedding_model)
    findings = []
    digest = bytes.fromhex(fingerprint.pdq)
    query_vector = (
        np.frombuffer(bytes(fingerprint.embedding), dtype=np.float16).astype(np.float32)
        if fingerprint.embedding
        else None
    )
    matched_refs = set()
    for label, limit in (("ai", PDQ_MATCH_DISTANCE_AI), ("human", PDQ_MATCH_DISTANCE_HUMAN)):
        index = library.indexes.get(label)
        if index is None or not len(index) or fingerprint.pdq_quality < PDQ_MIN_QUALITY:
            continue  # near-flat images hash alike: their PDQ says nothing
        for hash_key, distance in index.search(digest, max_distance=limit, limit=10):
            key, via_crop = hash_key // 2, bool(hash_key % 2)
            entry = library.entries.get(key)
            if entry is None or key in matched_refs or (entry.origin == "review" and entry.ref == exclude_case_id):
                continue
            matched_refs.add(key)
            similarity = None
            if query_vector is not None and entry.vector is not None:
                similarity = float(np.dot(query_vector, entry.vector) / (np.linalg.norm(query_vector) * np.linalg.norm(entry.vector) + 1e-12))
            decisive = label == "human" or (
                (not via_crop and distance <= DECISIVE_AI_DISTANCE)
                or (similarity is not None and similarity >= CORROBORATING_SIMILARITY)
            )
            line = _match_line(entry, distance, None)
            code, params = _match_code(entry, distance, None, via_crop=via_crop)
            if via_crop:
                line = line[:-2] + ", on a cropped framing)."
            findings.append(
                Finding(
                    layer="known_image",
                    signal="reviewer_label_match" if entry.origin == "review" else "known_set_match",
                    direction=TOWARDS_AI if label == "ai" else TOWARDS_HUMAN,
                    strength=STRONG if decisive else MODERATE,
                    verified=True,  # a person (reviewer or admin) vouched for the label
                    line=line,
                    code=code,
                    params=params,
                    details={
                        "origin": entry.origin,
                        "case_id" if entry.origin == "review" else "known_image_id": entry.ref,
                        "label": label,
                        "pdq_distance": int(distance),
                        "via_crop_hash": via_crop,
                        "embedding_similarity": similarity,
                        "labelled_at": entry.date.isoformat() if entry.date else None,
                        "set_name": entry.name or None,
                    },
                )
            )
            break
    if library.vectors is not None and fingerprint.embedding and not findings:
        vector = np.frombuffer(bytes(fingerprint.embedding), dtype=np.float16).astype(np.float32)
        for key, similarity in library.vectors.search(vector, min_similarity=EMBEDDING_MATCH_SIMILARITY, limit=3):
            entry = library.entries.get(key)
            if entry is None or key in matched_refs or entry.ref == exclude_case_id:
                continue
            code, params = _match_code(entry, None, float(similarity), looks_like=True)
            findings.append(
                Finding(
                    layer="known_image",
                    signal="embedding_match",
                    direction=TOWARDS_AI if entry.label == "ai" else TOWARDS_HUMAN,
                    strength=WEAK,
                    verified=False,  # "looks like" is not "is": it cannot decide alone
                    line=_match_line(entry, None, float(similarity), looks_like=True),
                    code=code,
                    params=params,
                    details={
                        "origin": entry.origin,
                        "case_id" if entry.origin == "review" else "known_image_id": entry.ref,
                        "label": entry.label,
                        "embedding_similarity": float(similarity),
                    },
                )
            )
            break
    return findings


@dataclass
class ImportResult:
    """What known_images_import did: images added, images already in the set, files skipped."""

    imported: int = 0
    already_known: int = 0
    skipped: list = field(default_factory=list)  # (path, reason)


IMPORT_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def known_images_import(*, folder: Path, label: str, set_name: str, imported_by: str = "", log=None) -> ImportResult:
    """Hash every image under `folder` into the known-image library with `label`.

    Files that are not acceptable images are skipped and listed, never fatal; an image
    already in the same set is counted, not duplicated.
    """
    if label not in KnownImage.Label.values:
        raise ValueError(f"Label must be one of {', '.join(KnownImage.Label.values)}, got {label!r}.")
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder.")
    result = ImportResult()
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMPORT_EXTENSIONS)
    if not paths:
        raise ValueError(f"{folder} holds no image files ({', '.join(sorted(IMPORT_EXTENSIONS))}).")
    for path in paths:
        try:
            if path.stat().st_size > settings.AIORNOT_MAX_UPLOAD_BYTES:
                raise ImageRejected("file_too_large", "larger than the upload limit")
            data = path.read_bytes()
            validated = image_validate(
                data, max_bytes=settings.AIORNOT_MAX_UPLOAD_BYTES, max_pixels=settings.AIORNOT_MAX_IMAGE_PIXELS
            )
            digest, quality, crops = pdq_with_crops(image_open_for_scoring(data))
        except ImageRejected as exc:
            result.skipped.append((str(path), exc.message))
            continue
        except Exception as exc:
            result.skipped.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        with transaction.atomic():
            _, created = KnownImage.objects.get_or_create(
                sha256=validated.sha256,
                set_name=set_name,
                defaults={
                    "label": label,
                    "pdq": digest.hex(),
                    "pdq_quality": quality,
                    "pdq_crops": crops,
                    "source_path": str(path.relative_to(folder)),
                    "imported_by": imported_by,
                },
            )
        if created:
            result.imported += 1
        else:
            result.already_known += 1
        if log and (result.imported + result.already_known) % 500 == 0:
            log(f"{result.imported + result.already_known} of {len(paths)} files done")
    return result
