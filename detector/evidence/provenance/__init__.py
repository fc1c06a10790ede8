"""Provenance metadata: C2PA manifests, IPTC/XMP digital source type, generator text
chunks, the Software tag and camera EXIF.

Every marker is read only from the container its format defines for it (a JPEG APP
segment before the first scan, a PNG chunk before IEND, a RIFF chunk of a WebP, a TIFF
tag), so the same text sitting in pixel data, in a comment or after the end of the image
is never honoured. C2PA manifests are validated fully offline: no remote manifest fetch,
no OCSP, and an empty network allow-list behind both.

Unsigned markers are forgeable in both directions (anyone can add "Stable Diffusion" to a
photo or strip it from a render), so only a validated C2PA signature gives a verified,
strong finding. Nothing here raises: what cannot be read becomes an UNREADABLE finding.

One module per container or standard: containers.py walks the file to its metadata blocks;
c2pa_manifest.py, xmp.py, png_text.py and exif.py read them; findings.py and vocabulary.py
hold what they share. This package's names are the layer's public interface.
"""

from __future__ import annotations

from .. import Finding
from .c2pa_manifest import (
    C2PA_SIGNING_EKUS,
    CODE_C2PA_ACTIONS,
    CODE_C2PA_CLAIM_AI_COMPOSITE,
    CODE_C2PA_CLAIM_AI_GENERATED,
    CODE_C2PA_CLAIM_AI_INGREDIENT,
    CODE_C2PA_CLAIM_CREATED_BY_GENERATOR,
    CODE_C2PA_CLAIM_GENERATOR,
    CODE_C2PA_CLAIM_HUMAN,
    CODE_C2PA_CLAIM_NO_SOURCE_TYPE,
    CODE_C2PA_CLAIM_SOURCE_TYPES,
    CODE_C2PA_INVALID,
    CODE_C2PA_MANIFEST,
    CODE_C2PA_NO_LIBRARY,
    CODE_C2PA_NO_MANIFEST,
    CODE_C2PA_REMOTE,
    CODE_C2PA_SIGNED_BY,
    CODE_C2PA_SIGNED_TRUSTED,
    CODE_C2PA_SIGNED_TRUSTED_BY,
    CODE_C2PA_SIGNED_TRUSTED_BY_DATED,
    CODE_C2PA_SIGNED_UNTRUSTED,
    CODE_C2PA_STATE_TRUSTED,
    CODE_C2PA_STATE_VALID,
    CODE_C2PA_UNVALIDATED_CLAIM,
    TrustList,
    c2pa_findings,
)
from .containers import scan_container, sniff_format
from .exif import (
    CODE_CAMERA_EXIF,
    CODE_CAMERA_EXIF_PARTIAL,
    CODE_SOFTWARE,
    CODE_SOFTWARE_GENERATOR,
    CODE_SOURCE_EXIF_SOFTWARE,
    CODE_SOURCE_PNG_SOFTWARE,
    camera_exif_findings,
    guarded_exif,
    software_tag_findings,
)
from .findings import (
    CODE_DAMAGED_CHUNK,
    CODE_DECOMPRESSION_BOMB,
    CODE_TOO_LARGE,
    CODE_UNREADABLE,
    LAYER,
    describe_error,
    guarded,
    unreadable_finding,
)
from .jpeg_quality import CODE_JPEG_LOW_QUALITY, estimate_jpeg_quality, jpeg_quality_findings
from .png_text import (
    CODE_PNG_GENERATOR,
    CODE_PNG_GENERATOR_CHUNKS,
    CODE_PNG_GENERATOR_CHUNKS_SETTINGS,
    CODE_PNG_GENERATOR_SETTINGS,
    CODE_PNG_PARAMETERS_UNRECOGNISED,
    png_generator_findings,
)
from .vocabulary import GENERATOR_NAMES
from .xmp import (
    CODE_XMP_AI_COMPOSITE,
    CODE_XMP_AI_GENERATED,
    CODE_XMP_CREATOR_TOOL,
    CODE_XMP_CREATOR_TOOL_GENERATOR,
    CODE_XMP_HUMAN,
    CODE_XMP_SOURCE_TYPE,
    CODE_XMP_UNSAFE,
    xmp_findings,
)

__all__ = [
    "C2PA_SIGNING_EKUS",
    "GENERATOR_NAMES",
    "LAYER",
    "TrustList",
    "estimate_jpeg_quality",
    "read_provenance",
    # Sentence codes, worded in the reader's language by detector/evidence_text.py.
    "CODE_C2PA_ACTIONS",
    "CODE_C2PA_CLAIM_AI_COMPOSITE",
    "CODE_C2PA_CLAIM_AI_GENERATED",
    "CODE_C2PA_CLAIM_AI_INGREDIENT",
    "CODE_C2PA_CLAIM_CREATED_BY_GENERATOR",
    "CODE_C2PA_CLAIM_GENERATOR",
    "CODE_C2PA_CLAIM_HUMAN",
    "CODE_C2PA_CLAIM_NO_SOURCE_TYPE",
    "CODE_C2PA_CLAIM_SOURCE_TYPES",
    "CODE_C2PA_INVALID",
    "CODE_C2PA_MANIFEST",
    "CODE_C2PA_NO_LIBRARY",
    "CODE_C2PA_NO_MANIFEST",
    "CODE_C2PA_REMOTE",
    "CODE_C2PA_SIGNED_BY",
    "CODE_C2PA_SIGNED_TRUSTED",
    "CODE_C2PA_SIGNED_TRUSTED_BY",
    "CODE_C2PA_SIGNED_TRUSTED_BY_DATED",
    "CODE_C2PA_SIGNED_UNTRUSTED",
    "CODE_C2PA_STATE_TRUSTED",
    "CODE_C2PA_STATE_VALID",
    "CODE_C2PA_UNVALIDATED_CLAIM",
    "CODE_CAMERA_EXIF",
    "CODE_CAMERA_EXIF_PARTIAL",
    "CODE_DAMAGED_CHUNK",
    "CODE_DECOMPRESSION_BOMB",
    "CODE_JPEG_LOW_QUALITY",
    "CODE_PNG_GENERATOR",
    "CODE_PNG_GENERATOR_CHUNKS",
    "CODE_PNG_GENERATOR_CHUNKS_SETTINGS",
    "CODE_PNG_GENERATOR_SETTINGS",
    "CODE_PNG_PARAMETERS_UNRECOGNISED",
    "CODE_SOFTWARE",
    "CODE_SOFTWARE_GENERATOR",
    "CODE_SOURCE_EXIF_SOFTWARE",
    "CODE_SOURCE_PNG_SOFTWARE",
    "CODE_TOO_LARGE",
    "CODE_UNREADABLE",
    "CODE_XMP_AI_COMPOSITE",
    "CODE_XMP_AI_GENERATED",
    "CODE_XMP_CREATOR_TOOL",
    "CODE_XMP_CREATOR_TOOL_GENERATOR",
    "CODE_XMP_HUMAN",
    "CODE_XMP_SOURCE_TYPE",
    "CODE_XMP_UNSAFE",
]


def read_provenance(
    data: bytes,
    *,
    trust_anchors_pem: str | None = None,
    trust_lists: list[TrustList] | tuple[TrustList, ...] = (),
    max_metadata_bytes: int = 4_000_000,
) -> list[Finding]:
    """Read every provenance marker in ``data`` (the bytes of an already validated image).

    Returns findings with layer "provenance"; never raises. C2PA signatures count as
    "Trusted" when they chain to a CA in ``trust_lists`` (the finding names the first list,
    in order, that vouches) or in ``trust_anchors_pem`` (PEM text, an unnamed list).
    ``max_metadata_bytes`` caps any one metadata block (and all inflated PNG text together).
    """
    lists = list(trust_lists)
    if trust_anchors_pem and trust_anchors_pem.strip():
        lists.append(TrustList(name="configured trust anchors", anchors_pem=trust_anchors_pem))
    try:
        return _read_provenance(bytes(data), lists, max_metadata_bytes)
    except Exception as exc:  # hostile structure must never break scoring
        reason = describe_error(exc)
        line = f"The image metadata could not be read: {reason}."
        return [unreadable_finding("metadata", line, CODE_UNREADABLE, {"what": "The image metadata", "reason": reason})]


def _read_provenance(data: bytes, trust_lists: list[TrustList], limit: int) -> list[Finding]:
    image_format = sniff_format(data)
    if image_format is None:
        return []
    container = scan_container(data, image_format, limit)
    findings: list[Finding] = []
    findings += guarded("c2pa", "The C2PA manifest", c2pa_findings, data, container, trust_lists, limit)
    findings += guarded("xmp_digital_source_type", "The XMP metadata", xmp_findings, container, limit)
    findings += guarded("png_generator_parameters", "The PNG text chunks", png_generator_findings, container)
    exif = guarded_exif(container)
    findings += guarded("software_tag", "The Software tag", software_tag_findings, container, exif)
    findings += guarded("camera_exif", "The camera EXIF", camera_exif_findings, exif)
    findings += guarded("jpeg_quality", "The JPEG quantisation tables", jpeg_quality_findings, data)
    findings += container.problems.values()
    return findings

