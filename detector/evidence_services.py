"""Evidence beyond the classifier, on the Django side: run each layer on a stored image, store
its findings as Evidence rows, fingerprint the image, and read the findings back.

The layers themselves are plain modules in detector.evidence; the known-image libraries live
in known_images.py. This module only reads and writes rows. It never imports torch
(embeddings are computed by the caller's detector).
"""

from __future__ import annotations

import logging

import numpy as np

from aiornot_site.write_retry import retry_write_collisions

from .c2pa_trust import c2pa_trust_lists
from .evidence import CODE_CHECK_FAILED, NONE, UNREADABLE, Finding
from .evidence.provenance import read_provenance
from .evidence.visible_marks import detect_visible_marks
from .evidence.watermark import detect_sd_watermark
from .intake import image_open_for_scoring
from .known_images import pdq_with_crops
from .models import Evidence, ImageAsset, ImageFingerprint

logger = logging.getLogger(__name__)

PROVENANCE_VERSION = "provenance/3"  # 2: shipped trust lists, the vouching list named; 3: low JPEG quality shown
WATERMARK_VERSION = "sd-watermark/1"
VISIBLE_MARK_VERSION = "visible-marks/1"
LAYER_VERSIONS = {
    Evidence.Kind.PROVENANCE: PROVENANCE_VERSION,
    Evidence.Kind.WATERMARK: WATERMARK_VERSION,
    Evidence.Kind.VISIBLE_MARK: VISIBLE_MARK_VERSION,
}


def _finding_rows(findings) -> dict:
    return {"findings": [f.as_dict() for f in findings]}


def _unreadable(layer: str, signal: str, exc: Exception) -> Finding:
    return Finding(
        layer=layer,
        signal=signal,
        direction=UNREADABLE,
        strength=NONE,
        line=f"The {layer} check could not run on this file ({type(exc).__name__}); it counts for nothing.",
        details={"error": str(exc)[:300]},
        code=CODE_CHECK_FAILED,
        params={"layer": layer, "error": type(exc).__name__},
    )


def provenance_findings(data: bytes) -> list[Finding]:
    """Provenance-metadata findings for the file bytes, validated offline against the trust lists in force."""
    try:
        return read_provenance(data, trust_lists=c2pa_trust_lists())
    except Exception as exc:  # the reader promises not to raise; a bug must not fail scoring
        logger.exception("Provenance reader failed")
        return [_unreadable("provenance", "metadata", exc)]


def watermark_findings(image) -> list[Finding]:
    """The Stable Diffusion invisible-watermark finding of the image, if it carries one."""
    try:
        found = detect_sd_watermark(image)
    except Exception as exc:
        logger.exception("Watermark decoder failed")
        return [_unreadable("watermark", "sd_watermark", exc)]
    return [found] if found is not None else []


def visible_mark_findings(image) -> list[Finding]:
    """Findings of the visible generator marks (logos, sparkles) on the image."""
    try:
        return detect_visible_marks(image)
    except Exception as exc:
        logger.exception("Visible-mark reader failed")
        return [_unreadable("visible_mark", "visible_mark", exc)]


def _layer_findings(kind: str, data: bytes, image) -> list[Finding]:
    if kind == Evidence.Kind.PROVENANCE:
        return provenance_findings(data)
    if kind == Evidence.Kind.VISIBLE_MARK:
        return visible_mark_findings(image)
    return watermark_findings(image)


def asset_layers_ensure(assets, embedder=None, opened: dict | None = None) -> None:
    """Compute and store what is missing for each asset: provenance, watermark and visible-mark evidence, fingerprint.

    `embedder` is the active detector (its `embed_batch` and `embedding_version`), or None.
    `opened` maps asset ids to (bytes, decoded image) already read by the caller.
    One asset failing never stops the others; its layers are simply absent.
    """
    assets = list(assets)
    stored = {
        (e.asset_id, e.kind)
        for e in Evidence.objects.filter(
            asset__in=assets, kind__in=list(LAYER_VERSIONS)
        ).only("asset_id", "kind", "producer_version")
        if LAYER_VERSIONS.get(e.kind) == e.producer_version
    }
    fingerprinted = {
        f.asset_id: f for f in ImageFingerprint.objects.filter(asset__in=assets).only("asset_id", "embedding_model")
    }
    version = getattr(embedder, "embedding_version", "")
    to_embed = []
    for asset in assets:
        kinds = [k for k in LAYER_VERSIONS if (asset.pk, k) not in stored]
        fingerprint = fingerprinted.get(asset.pk)
        needs_fingerprint = fingerprint is None or (version and fingerprint.embedding_model != version)
        if not kinds and not needs_fingerprint:
            continue
        try:
            if opened and asset.pk in opened:
                data, image = opened[asset.pk]
            else:
                with asset.file.open("rb") as handle:
                    data = handle.read()
                image = image_open_for_scoring(data)
        except Exception:
            logger.exception("Stored image %s could not be opened for the evidence layers", asset.pk)
            continue
        for kind in kinds:
            findings = _layer_findings(kind, data, image)
            Evidence.objects.get_or_create(
                asset=asset, kind=kind, producer_version=LAYER_VERSIONS[kind], defaults={"raw": _finding_rows(findings)}
            )
        if needs_fingerprint:
            try:
                digest, quality, crops = pdq_with_crops(image)
            except Exception:
                logger.exception("PDQ hash failed for asset %s", asset.pk)
                continue
            fingerprint = _fingerprint_store(asset, digest.hex(), quality, crops)
            if embedder is not None:
                to_embed.append((fingerprint, image))
    if to_embed:
        try:
            vectors = embedder.embed_batch([image for _, image in to_embed])
        except Exception:
            logger.exception("Embedding failed")
            return
        for (fingerprint, _), vector in zip(to_embed, vectors):
            fingerprint.embedding = np.asarray(vector, dtype=np.float16).tobytes()
            fingerprint.embedding_model = version
            fingerprint.save(update_fields=["embedding", "embedding_model"])


@retry_write_collisions
def _fingerprint_store(asset: ImageAsset, pdq: str, quality: int, crops: list[str]) -> ImageFingerprint:
    """Store the asset's perceptual hashes: one short write, tried again when it collides."""
    fingerprint, _ = ImageFingerprint.objects.update_or_create(
        asset=asset, defaults={"pdq": pdq, "pdq_quality": quality, "pdq_crops": crops}
    )
    return fingerprint


def asset_layer_findings(asset: ImageAsset) -> list[Finding]:
    """The stored provenance, watermark and visible-mark findings of one asset, in a stable order."""
    findings = []
    rows = Evidence.objects.filter(
        asset=asset, kind__in=list(LAYER_VERSIONS)
    ).order_by("kind")
    for row in rows:
        if LAYER_VERSIONS.get(row.kind) != row.producer_version:
            continue
        for item in (row.raw or {}).get("findings", []):
            try:
                findings.append(Finding.from_dict(item))
            except (TypeError, ValueError):
                continue
    return findings
