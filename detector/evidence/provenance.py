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
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
import warnings
import xml.etree.ElementTree as ElementTree
import xml.parsers.expat
import zlib
from dataclasses import dataclass, field

from PIL import Image

from . import MODERATE, NEUTRAL, NONE, STRONG, TOWARDS_AI, TOWARDS_HUMAN, UNREADABLE, WEAK, Finding

try:
    import c2pa
except (ImportError, OSError):  # the native library may be missing on a platform
    c2pa = None

__all__ = ["C2PA_SIGNING_EKUS", "GENERATOR_NAMES", "TrustList", "read_provenance"]

LAYER = "provenance"

# Stable codes of the sentences this layer writes: each finding carries one, with the values
# that fill the sentence in `params`, so the web side can word it in the reader's language
# (detector/evidence_text.py). A param may itself be {"code", "params"}: a translatable part.
CODE_UNREADABLE = "provenance.unreadable"  # what, reason
CODE_TOO_LARGE = "provenance.too_large"  # what, size, limit
CODE_DAMAGED_CHUNK = "provenance.damaged_chunk"  # what
CODE_DECOMPRESSION_BOMB = "provenance.decompression_bomb"  # what, limit
CODE_C2PA_NO_LIBRARY = "provenance.c2pa.no_library"
CODE_C2PA_NO_MANIFEST = "provenance.c2pa.no_manifest_in_block"
CODE_C2PA_REMOTE = "provenance.c2pa.remote_manifest"  # url
CODE_C2PA_INVALID = "provenance.c2pa.validation_failed"  # reason; more: claim, summary
CODE_C2PA_UNVALIDATED_CLAIM = "provenance.c2pa.unvalidated_claim"  # claimed
CODE_C2PA_MANIFEST = "provenance.c2pa.manifest"  # state, how_signed, claim; more: summary
CODE_C2PA_STATE_VALID = "provenance.c2pa.state.valid"
CODE_C2PA_STATE_TRUSTED = "provenance.c2pa.state.trusted"
CODE_C2PA_SIGNED_UNTRUSTED = "provenance.c2pa.signed.untrusted"
CODE_C2PA_SIGNED_TRUSTED = "provenance.c2pa.signed.trusted"
CODE_C2PA_SIGNED_TRUSTED_BY = "provenance.c2pa.signed.trusted_by"  # name
CODE_C2PA_SIGNED_TRUSTED_BY_DATED = "provenance.c2pa.signed.trusted_by_dated"  # name, date
CODE_C2PA_CLAIM_AI_GENERATED = "provenance.c2pa.claim.ai_generated"  # term
CODE_C2PA_CLAIM_AI_COMPOSITE = "provenance.c2pa.claim.ai_composite"  # term
CODE_C2PA_CLAIM_AI_INGREDIENT = "provenance.c2pa.claim.ai_ingredient"
CODE_C2PA_CLAIM_HUMAN = "provenance.c2pa.claim.human_source"  # terms
CODE_C2PA_CLAIM_CREATED_BY_GENERATOR = "provenance.c2pa.claim.created_by_generator"  # generator
CODE_C2PA_CLAIM_SOURCE_TYPES = "provenance.c2pa.claim.source_types"  # terms
CODE_C2PA_CLAIM_NO_SOURCE_TYPE = "provenance.c2pa.claim.no_source_type"
CODE_C2PA_SIGNED_BY = "provenance.c2pa.summary.signed_by"  # signer
CODE_C2PA_CLAIM_GENERATOR = "provenance.c2pa.summary.claim_generator"  # generator
CODE_C2PA_ACTIONS = "provenance.c2pa.summary.actions"  # actions
CODE_XMP_UNSAFE = "provenance.xmp.unsafe_xml"
CODE_XMP_AI_GENERATED = "provenance.xmp.ai_generated"  # term
CODE_XMP_AI_COMPOSITE = "provenance.xmp.ai_composite"  # term
CODE_XMP_HUMAN = "provenance.xmp.human_source"  # term
CODE_XMP_SOURCE_TYPE = "provenance.xmp.source_type"  # term
CODE_XMP_CREATOR_TOOL_GENERATOR = "provenance.xmp.creator_tool_generator"  # tool, generator
CODE_XMP_CREATOR_TOOL = "provenance.xmp.creator_tool"  # tool
CODE_PNG_GENERATOR = "provenance.png.generator"  # chunks, generator
CODE_PNG_GENERATOR_SETTINGS = "provenance.png.generator_settings"  # chunks, generator, settings
CODE_PNG_GENERATOR_CHUNKS = "provenance.png.generator_chunks"  # chunks, generator
CODE_PNG_GENERATOR_CHUNKS_SETTINGS = "provenance.png.generator_chunks_settings"  # chunks, generator, settings
CODE_PNG_PARAMETERS_UNRECOGNISED = "provenance.png.parameters_unrecognised"
CODE_SOFTWARE_GENERATOR = "provenance.software.generator"  # source, software, generator
CODE_SOFTWARE = "provenance.software.plain"  # source, software
CODE_SOURCE_EXIF_SOFTWARE = "provenance.software.source_exif"
CODE_SOURCE_PNG_SOFTWARE = "provenance.software.source_png"
CODE_CAMERA_EXIF = "provenance.camera_exif"  # settings
CODE_CAMERA_EXIF_PARTIAL = "provenance.camera_exif_partial"  # settings


def _part(code: str, **params) -> dict:
    """A translatable piece of a sentence, kept as a code and the values that fill it."""
    return {"code": code, "params": params}

# Names of AI image generators and the front-ends that drive them, as they appear in
# Software / CreatorTool tags. Matched as whole words with optional separators inside
# ("DALL·E", "dall-e", "DALLE"), so "Imagen" does not match "Imagenomic".
GENERATOR_NAMES = (
    "Stable Diffusion",
    "Stability AI",
    "DreamStudio",
    "SDXL",
    "Automatic1111",
    "ComfyUI",
    "SwarmUI",
    "Midjourney",
    "DALL-E",
    "OpenAI",
    "ChatGPT",
    "Firefly",
    "Imagen",
    "Gemini",
    "NovelAI",
    "InvokeAI",
    "Fooocus",
    "Flux",
    "Leonardo.Ai",
    "Ideogram",
    "Seedream",
    "Dreamina",
    "Kandinsky",
    "NightCafe",
    "Craiyon",
    "Recraft",
    "Bing Image Creator",
    "DiffusionBee",
    "Draw Things",
    "Meta AI",
    # Microsoft's claim generator on Bing Image Creator / Designer output (DALL-E 3), which
    # declares no digital source type.
    "Responsible AI Image Provenance",
)
_GENERATOR_PATTERNS = [
    (name, re.compile(r"\b" + r"[\s\-_.·]*".join(map(re.escape, re.split(r"[\s\-_.·]+", name))) + r"\b", re.I))
    for name in GENERATOR_NAMES
]

# IPTC digital source type terms (http://cv.iptc.org/newscodes/digitalsourcetype/...).
AI_GENERATED = "trainedAlgorithmicMedia"
AI_COMPOSITE = "compositeWithTrainedAlgorithmicMedia"
HUMAN_SOURCE_TYPES = frozenset(
    {"digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "compositeCapture", "digitalCreation"}
)

XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEYWORD = "XML:com.adobe.xmp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_XMP_TAG = 700
TIFF_C2PA_TAG = 0xCD41
EXIF_IFD_POINTER = 0x8769

_MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
}

# C2PA status codes that explain a failed validation, in words a reviewer can act on.
_C2PA_FAILURE_REASONS = {
    "assertion.dataHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.boxesHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.bmffHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.collectionHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.hashedURI.mismatch": (
        "an assertion no longer matches its signed hash — the manifest was edited after signing"
    ),
    "assertion.missing": "an assertion listed in the signed claim is missing",
    "claimSignature.mismatch": "the claim signature does not verify — the manifest or its signature was altered",
    "claimSignature.missing": "the manifest carries no signature",
    "claimSignature.outsideValidity": "the signing certificate was not valid when the manifest was signed",
    "signingCredential.invalid": "the signing certificate is invalid",
    "signingCredential.revoked": "the signing certificate has been revoked",
    "signingCredential.expired": "the signing certificate had expired",
    "timeStamp.mismatch": "the signature timestamp does not match the claim",
    "manifest.missing": "a manifest the file refers to is missing",
    "claim.missing": "the manifest has no claim",
}
# Codes that are reported as failures but say nothing about tampering.
_C2PA_TRUST_ONLY_CODES = ("signingCredential.untrusted", "signingCredential.ocsp", "timeStamp.untrusted")

_MAX_DETAIL_STRING = 500
_MAX_LINE_PROMPT = 120
_MAX_DETAIL_ITEMS = 50
_MAX_XMP_PACKETS = 4  # a real file has one; more are parsed no further


# Extended key usages a C2PA signing certificate may carry to count as Trusted: c2pa-rs's own
# defaults plus c2pa-kp-claimSigning, which the C2PA Trust List's certificate policy requires
# of its signers (and which c2pa-rs does not accept unless told: such a signer reads Invalid).
C2PA_SIGNING_EKUS = (
    "1.3.6.1.5.5.7.3.4",  # id-kp-emailProtection
    "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning
    "1.3.6.1.5.5.7.3.8",  # id-kp-timeStamping
    "1.3.6.1.5.5.7.3.9",  # id-kp-OCSPSigning
    "1.3.6.1.4.1.311.76.59.1.9",  # Microsoft C2PA signing
    "1.3.6.1.4.1.62558.2.1",  # c2pa-kp-claimSigning
)


@dataclass(frozen=True)
class TrustList:
    """A named set of C2PA trust anchors (PEM CA certificates) and where it came from.

    ``date`` is the list's issue date (or the day an admin installed it), ``source`` where it
    was taken from; both are shown to people when this list vouches for a signer.
    """

    name: str
    anchors_pem: str
    date: str = ""
    source: str = ""

    def describe(self) -> dict:
        return {"name": self.name, "date": self.date, "source": self.source}


class _MetadataTooLarge(Exception):
    pass


class _UnsafeXml(Exception):
    pass


@dataclass
class _TextChunk:
    keyword: str
    text: str
    chunk_type: str


@dataclass
class _Container:
    """The metadata blocks found in their proper places in one file."""

    format: str
    xmp_packets: list[bytes] = field(default_factory=list)
    exif_blocks: list[bytes] = field(default_factory=list)
    text_chunks: list[_TextChunk] = field(default_factory=list)
    tiff_exif: Image.Exif | None = None
    c2pa_bytes: int = 0
    c2pa_seen: bool = False
    problems: dict[str, Finding] = field(default_factory=dict)  # first problem per signal

    def problem(self, signal: str, line: str, code: str, params: dict, **details) -> None:
        self.problems.setdefault(signal, _unreadable(signal, line, code, params, **details))


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
        reason = _describe(exc)
        line = f"The image metadata could not be read: {reason}."
        return [_unreadable("metadata", line, CODE_UNREADABLE, {"what": "The image metadata", "reason": reason})]


def _read_provenance(data: bytes, trust_lists: list[TrustList], limit: int) -> list[Finding]:
    image_format = _sniff_format(data)
    if image_format is None:
        return []
    container = _scan_container(data, image_format, limit)
    findings: list[Finding] = []
    findings += _guarded("c2pa", "The C2PA manifest", _c2pa_findings, data, container, trust_lists, limit)
    findings += _guarded("xmp_digital_source_type", "The XMP metadata", _xmp_findings, container, limit)
    findings += _guarded("png_generator_parameters", "The PNG text chunks", _png_generator_findings, container)
    exif = _guarded_exif(container)
    findings += _guarded("software_tag", "The Software tag", _software_tag_findings, container, exif)
    findings += _guarded("camera_exif", "The camera EXIF", _camera_exif_findings, exif)
    findings += container.problems.values()
    return findings


# --- Findings -----------------------------------------------------------------------


def _finding(
    signal: str, direction: str, strength: str, line: str, code: str, params: dict | None = None,
    *, verified: bool = False, **details,
) -> Finding:
    return Finding(
        layer=LAYER,
        signal=signal,
        direction=direction,
        strength=strength,
        line=_one_line(line, 1000),
        verified=verified,
        details=_json_safe(details),
        code=code,
        params=_json_safe(params or {}),
    )


def _unreadable(signal: str, line: str, code: str, params: dict | None = None, **details) -> Finding:
    return _finding(signal, UNREADABLE, NONE, line, code, params, **details)


def _could_not_read(signal: str, what: str, reason: str, **details) -> Finding:
    """'<what> could not be read: <reason>.' as an UNREADABLE finding."""
    line = f"{what} could not be read: {reason}."
    return _unreadable(signal, line, CODE_UNREADABLE, {"what": what, "reason": reason}, **details)


def _guarded(signal: str, what: str, reader, *args) -> list[Finding]:
    try:
        return reader(*args)
    except Exception as exc:  # a parser bug or hostile input must cost one finding, not the request
        return [_could_not_read(signal, what, _describe(exc))]


def _describe(exc: BaseException) -> str:
    message = _sentence(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _sentence(message: str, limit: int = 300) -> str:
    """A library message fit to sit inside a line: one line, no trailing punctuation."""
    return _one_line(message, limit).rstrip(" .:;")


def _one_line(text: str, limit: int) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _json_safe(value, depth: int = 0):
    """JSON-ready copy of ``value``: no bytes, strings and lists capped, depth bounded."""
    if value is None or isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        value = value.replace("\x00", "")
        return value if len(value) <= _MAX_DETAIL_STRING else value[: _MAX_DETAIL_STRING - 1] + "…"
    if depth >= 6:
        return _json_safe(str(value)[:_MAX_DETAIL_STRING], depth)
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_DETAIL_ITEMS]
        return {str(key)[:100]: _json_safe(item, depth + 1) for key, item in items}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(item, depth + 1) for item in list(value)[:_MAX_DETAIL_ITEMS]]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    try:
        number = float(value)  # IFDRational and friends
        return number if math.isfinite(number) else None
    except (TypeError, ValueError, ZeroDivisionError):
        return _json_safe(str(value), depth)


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} KB"


def _too_large_line(what: str, size: int, limit: int) -> str:
    return f"{what} could not be read: it is {_mb(size)}, over the {_mb(limit)} limit for one metadata block."


def _too_large_params(what: str, size: int, limit: int) -> tuple[str, dict]:
    return CODE_TOO_LARGE, {"what": what, "size": _mb(size), "limit": _mb(limit)}


def _generator_named(text: str) -> str | None:
    for name, pattern in _GENERATOR_PATTERNS:
        if pattern.search(text):
            return name
    return None


def _source_type_term(value: str) -> str:
    """'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture' -> 'digitalCapture'."""
    return re.split(r"[/#:]", value.strip().rstrip("/"))[-1]


# --- Container walk -----------------------------------------------------------------


def _sniff_format(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(PNG_SIGNATURE):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if data[:2] == b"BM":
        return "BMP"
    return None


def _scan_container(data: bytes, image_format: str, limit: int) -> _Container:
    container = _Container(format=image_format)
    if image_format == "JPEG":
        _walk_jpeg(data, container)
    elif image_format == "PNG":
        _walk_png(data, container, limit)
    elif image_format == "WEBP":
        _walk_webp(data, container, limit)
    elif image_format == "TIFF":
        try:
            _read_tiff_tags(data, container)
        except Exception as exc:  # Pillow raises many types for hostile IFDs
            reason = _describe(exc)
            container.problem(
                "camera_exif", f"The TIFF tags could not be read: {reason}.",
                CODE_UNREADABLE, {"what": "The TIFF tags", "reason": reason},
            )
    elif image_format == "GIF":
        # GIF carries C2PA in an application extension; c2pa itself walks the blocks.
        container.c2pa_seen = b"C2PA_GIF" in data
    container.c2pa_seen = container.c2pa_seen or container.c2pa_bytes > 0
    return container


def _walk_jpeg(data: bytes, container: _Container) -> None:
    """Walk marker segments up to the first scan; metadata after that point is not metadata.

    Segments hold at most 64 KB each, so only the C2PA total needs a size check (later).
    """
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image
            return
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            return
        payload = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            container.exif_blocks.append(payload)
        elif marker == 0xE1 and payload.startswith(XMP_JPEG_HEADER):
            container.xmp_packets.append(payload[len(XMP_JPEG_HEADER) :])
        elif marker == 0xEB and payload.startswith(b"JP"):  # JUMBF (C2PA) in APP11
            container.c2pa_bytes += len(payload)
        pos += 2 + length


def _walk_png(data: bytes, container: _Container, limit: int) -> None:
    """Walk PNG chunks up to IEND, checking each metadata chunk's CRC."""
    inflate_budget = [limit]  # all compressed text together inflates to at most this
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunk_type = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if chunk_type == b"IEND" or end > len(data):
            return
        body = data[pos + 8 : pos + 8 + length]
        name = chunk_type.decode("latin-1")
        pos = end
        if chunk_type not in (b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"caBX"):
            continue
        if chunk_type == b"caBX":
            container.c2pa_bytes += length
            continue
        keyword = body.split(b"\x00", 1)[0][:79].decode("latin-1", "replace")
        signal = _png_chunk_signal(chunk_type, keyword)
        what = "The PNG eXIf chunk" if chunk_type == b"eXIf" else f"PNG {name} chunk '{keyword}'"
        if zlib.crc32(chunk_type + body) != int.from_bytes(data[end - 4 : end], "big"):
            container.problem(
                signal, f"{what} could not be read: its CRC does not match (the chunk is damaged).",
                CODE_DAMAGED_CHUNK, {"what": what},
            )
            continue
        if length > limit:
            container.problem(signal, _too_large_line(what, length, limit), *_too_large_params(what, length, limit))
            continue
        if chunk_type == b"eXIf":
            container.exif_blocks.append(body)
            continue
        try:
            text = _png_text(chunk_type, body, inflate_budget)
        except _MetadataTooLarge:
            container.problem(
                signal,
                f"{what} could not be read: decompressing it would pass the {_mb(limit)} limit "
                "for PNG text (possible decompression bomb), so it was not decompressed.",
                CODE_DECOMPRESSION_BOMB, {"what": what, "limit": _mb(limit)},
            )
            continue
        except (ValueError, zlib.error, UnicodeDecodeError) as exc:
            reason = _describe(exc)
            container.problem(signal, f"{what} could not be read: {reason}.", CODE_UNREADABLE, {"what": what, "reason": reason})
            continue
        if chunk_type == b"iTXt" and keyword == XMP_PNG_KEYWORD:
            container.xmp_packets.append(text.encode("utf-8"))
        else:
            container.text_chunks.append(_TextChunk(keyword=keyword, text=text, chunk_type=name))


def _png_chunk_signal(chunk_type: bytes, keyword: str) -> str:
    if chunk_type == b"eXIf":
        return "camera_exif"
    if keyword == XMP_PNG_KEYWORD:
        return "xmp_digital_source_type"
    if keyword.lower() == "software":
        return "software_tag"
    return "png_generator_parameters"


def _png_text(chunk_type: bytes, body: bytes, inflate_budget: list[int]) -> str:
    keyword, sep, rest = body.partition(b"\x00")
    if not sep:
        raise ValueError("no keyword separator")
    if chunk_type == b"tEXt":
        return rest.decode("latin-1")
    if chunk_type == b"zTXt":
        if rest[:1] != b"\x00":
            raise ValueError("unknown compression method")
        return _inflate_capped(rest[1:], inflate_budget).decode("latin-1")
    # iTXt: compression flag, method, language\0, translated keyword\0, UTF-8 text
    if len(rest) < 2:
        raise ValueError("iTXt header is truncated")
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, _, rest = rest.partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    if compressed:
        if method != 0:
            raise ValueError("unknown compression method")
        text = _inflate_capped(text, inflate_budget)
    return text.decode("utf-8")


def _inflate_capped(compressed: bytes, inflate_budget: list[int]) -> bytes:
    """Inflate at most the remaining budget; never the whole stream of a bomb."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(compressed, inflate_budget[0] + 1)
    if len(out) > inflate_budget[0]:
        raise _MetadataTooLarge()
    if not inflater.eof:
        raise ValueError("the compressed text is truncated")
    inflate_budget[0] -= len(out)
    return out


def _walk_webp(data: bytes, container: _Container, limit: int) -> None:
    end = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    while pos + 8 <= end:
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : min(pos + 8 + size, end)]
        pos += 8 + size + (size & 1)
        if fourcc == b"C2PA":
            container.c2pa_bytes += size
        elif fourcc == b"EXIF":
            if size > limit:
                what = "The WebP EXIF chunk"
                container.problem("camera_exif", _too_large_line(what, size, limit), *_too_large_params(what, size, limit))
            else:
                container.exif_blocks.append(body)
        elif fourcc == b"XMP ":
            container.xmp_packets.append(body)  # size checked with the other packets


def _read_tiff_tags(data: bytes, container: _Container) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data), formats=["TIFF"]) as image:
            tags = image.tag_v2
            xmp = tags.get(TIFF_XMP_TAG)
            if isinstance(xmp, str):
                xmp = xmp.encode("utf-8")
            if isinstance(xmp, (bytes, bytearray)) and xmp:
                container.xmp_packets.append(bytes(xmp))
            container.c2pa_seen = TIFF_C2PA_TAG in tags
            container.tiff_exif = image.getexif()


# --- C2PA ---------------------------------------------------------------------------


def _c2pa_settings(trust_anchors_pem: str | None, limit: int) -> dict:
    settings = {
        "version": 1,
        "verify": {
            "verify_after_reading": True,
            "verify_trust": True,
            "remote_manifest_fetch": False,  # never download a manifest the file points at
            "ocsp_fetch": False,  # no revocation look-ups over the network
        },
        "core": {
            # An empty allow-list refuses every host, so nothing we missed can reach out.
            "allowed_network_hosts": [],
            "max_decompressed_manifest_size_in_mb": max(1, math.ceil(limit / 1_000_000)),
        },
    }
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem, "trust_config": "\n".join(C2PA_SIGNING_EKUS) + "\n"}
    return settings


def _usable_trust_anchors(pem: str | None) -> tuple[str | None, str | None]:
    """Keep the well-formed certificate blocks of ``pem``; say why when none are usable."""
    if not pem or not pem.strip():
        return None, None
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----", pem)
    usable = []
    for block in blocks:
        try:
            base64.b64decode("".join(block.split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        usable.append("-----BEGIN CERTIFICATE-----\n" + block.strip() + "\n-----END CERTIFICATE-----\n")
    if not usable:
        return None, "the configured trust anchors contain no readable PEM certificate"
    return "".join(usable), None


def _read_manifest_store(data: bytes, mime_type: str, trust_anchors_pem: str | None, limit: int) -> dict:
    with c2pa.Context.from_dict(_c2pa_settings(trust_anchors_pem, limit)) as context:
        with c2pa.Reader(mime_type, io.BytesIO(data), context=context) as reader:
            return json.loads(reader.json())


def _c2pa_findings(data: bytes, container: _Container, trust_lists: list[TrustList], limit: int) -> list[Finding]:
    mime_type = _MIME_TYPES.get(container.format)
    if mime_type is None:
        return []
    if container.c2pa_bytes > limit:
        what = "The C2PA manifest"
        line = _too_large_line(what, container.c2pa_bytes, limit)
        return [_unreadable("c2pa", line, *_too_large_params(what, container.c2pa_bytes, limit))]
    if c2pa is None:
        if container.c2pa_seen:
            line = "A C2PA manifest is present but the c2pa library is not available to read it."
            return [_unreadable("c2pa", line, CODE_C2PA_NO_LIBRARY)]
        return []

    usable_lists = [(trust_list, _usable_trust_anchors(trust_list.anchors_pem)[0]) for trust_list in trust_lists]
    usable_lists = [(trust_list, pem) for trust_list, pem in usable_lists if pem]
    anchors, anchors_problem = _usable_trust_anchors("".join(t.anchors_pem + "\n" for t in trust_lists))
    try:
        try:
            store = _read_manifest_store(data, mime_type, anchors, limit)
        except c2pa.C2paError as exc:
            if anchors is None or _is_manifest_not_found(exc) or _remote_manifest_url(exc) is not None:
                raise
            # Retry without the anchors so a bad admin setting does not hide a manifest.
            store = _read_manifest_store(data, mime_type, None, limit)
            anchors, anchors_problem = None, f"the configured trust anchors could not be used ({_describe(exc)})"
    except c2pa.C2paError as exc:
        if _is_manifest_not_found(exc):
            if container.c2pa_seen:
                return [
                    _unreadable(
                        "c2pa",
                        "The C2PA manifest could not be read: the file has a C2PA (JUMBF) block "
                        "but no manifest could be parsed from it.",
                        CODE_C2PA_NO_MANIFEST,
                        error=str(exc),
                    )
                ]
            return []  # no manifest at all: absence is not evidence
        remote_url = _remote_manifest_url(exc)
        if remote_url is not None:
            return [
                _unreadable(
                    "c2pa",
                    f"The file points to a remote C2PA manifest ({remote_url}); it was not fetched "
                    "because manifests are validated offline only.",
                    CODE_C2PA_REMOTE,
                    {"url": remote_url},
                    remote_manifest_url=remote_url,
                )
            ]
        return [_could_not_read("c2pa", "The C2PA manifest", _sentence(str(exc)), error=str(exc))]

    vouching = None
    if store.get("validation_state") == "Trusted":
        vouching = _vouching_list(data, mime_type, usable_lists, limit)
    return [_c2pa_store_finding(store, anchors is not None, anchors_problem, vouching)]


def _vouching_list(data: bytes, mime_type: str, usable_lists: list, limit: int) -> TrustList | None:
    """The first trust list that, on its own, makes this (Trusted) manifest Trusted."""
    if len(usable_lists) == 1:
        return usable_lists[0][0]
    for trust_list, pem in usable_lists:
        try:
            if _read_manifest_store(data, mime_type, pem, limit).get("validation_state") == "Trusted":
                return trust_list
        except c2pa.C2paError:
            continue
    return None


def _is_manifest_not_found(exc: Exception) -> bool:
    return str(exc).startswith("ManifestNotFound") or type(exc).__name__.endswith("ManifestNotFound")


def _remote_manifest_url(exc: Exception) -> str | None:
    message = str(exc)
    if not message.startswith("Remote"):
        return None
    match = re.search(r"""(https?://[^\s"']+)""", message)
    return _one_line(match.group(1), 300) if match else "URL not given"


def _c2pa_store_finding(
    store: dict, anchors_used: bool, anchors_problem: str | None, vouching: TrustList | None = None
) -> Finding:
    state = store.get("validation_state") if isinstance(store.get("validation_state"), str) else None
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) if isinstance(manifests.get(active_label), dict) else {}
    failures = _c2pa_failures(store)

    active_types = _digital_source_types(active.get("assertions"))
    ingredient_types = []
    for label, manifest in manifests.items():
        if label != active_label and isinstance(manifest, dict):
            for source_type in _digital_source_types(manifest.get("assertions")):
                if source_type not in ingredient_types:
                    ingredient_types.append(source_type)
    active_terms = {_source_type_term(t) for t in active_types}
    ingredient_terms = {_source_type_term(t) for t in ingredient_types}

    details = {
        "validation_state": state or "Unknown",
        "validation_errors": [code for code, _ in failures],
        "validation_failures": [{"code": code, "explanation": text} for code, text in failures],
        "claim_generator": _claim_generator(active),
        "signer": _signer(active),
        "actions": _actions(active.get("assertions")),
        "software_agents": _software_agents(active.get("assertions")),
        "digital_source_types": active_types,
        "ingredient_digital_source_types": ingredient_types,
        "title": active.get("title") if isinstance(active.get("title"), str) else None,
        "manifest_label": active_label if isinstance(active_label, str) else None,
        "trust_anchors_used": anchors_used,
    }
    if anchors_problem:
        details["trust_anchors_problem"] = anchors_problem
    if vouching is not None:
        details["trusted_by"] = vouching.describe()
    summary = _c2pa_summary(details)
    summary_parts = _c2pa_summary_parts(details)

    if state not in ("Valid", "Trusted"):
        claimed = [t for t in (AI_GENERATED, AI_COMPOSITE) if t in active_terms | ingredient_terms]
        reason = _c2pa_failure_reason(failures)
        line = f"C2PA manifest present but validation failed: {reason}."
        more = []
        if claimed:
            line += f" It claims {', '.join(claimed)}, but an unvalidated claim proves nothing."
            more.append(_part(CODE_C2PA_UNVALIDATED_CLAIM, claimed=", ".join(claimed)))
        params = {"reason": reason, "more": more + summary_parts}
        return _finding("c2pa", UNREADABLE, NONE, line + summary, CODE_C2PA_INVALID, params, verified=False, **details)

    trusted = state == "Trusted"
    how_signed = (
        "signature valid, certificate trusted" if trusted else "signature valid, certificate not on the trust list"
    )
    how_signed_part = _part(CODE_C2PA_SIGNED_TRUSTED if trusted else CODE_C2PA_SIGNED_UNTRUSTED)
    if trusted and vouching is not None:
        how_signed += f" by the {vouching.name}" + (f" of {vouching.date}" if vouching.date else "")
        if vouching.date:
            how_signed_part = _part(CODE_C2PA_SIGNED_TRUSTED_BY_DATED, name=vouching.name, date=vouching.date)
        else:
            how_signed_part = _part(CODE_C2PA_SIGNED_TRUSTED_BY, name=vouching.name)
    direction, strength, claim, claim_part = _c2pa_claim(
        active_terms, ingredient_terms, details["actions"], details["claim_generator"], details["software_agents"], trusted
    )
    line = f"C2PA manifest ({state}: {how_signed}) {claim}.{summary}"
    params = {
        "state": _part(CODE_C2PA_STATE_TRUSTED if trusted else CODE_C2PA_STATE_VALID),
        "how_signed": how_signed_part,
        "claim": claim_part,
        "more": summary_parts,
    }
    return _finding("c2pa", direction, strength, line, CODE_C2PA_MANIFEST, params, verified=True, **details)


def _c2pa_claim(active_terms: set, ingredient_terms: set, actions: list, claim_generator: str | None,
                software_agents: list, trusted: bool) -> tuple[str, str, str, dict]:
    """(direction, strength, claim sentence, claim part) of what a validated manifest declares."""
    if AI_GENERATED in active_terms:
        # Anyone can mint a certificate: only a signer under an admin-configured anchor makes
        # the claim decisive; an untrusted one counts, but a person still looks.
        direction, strength = TOWARDS_AI, STRONG if trusted else MODERATE
        claim = f"declares the image AI-generated (digital source type {AI_GENERATED})"
        claim_part = _part(CODE_C2PA_CLAIM_AI_GENERATED, term=AI_GENERATED)
    elif AI_COMPOSITE in active_terms:
        direction, strength = TOWARDS_AI, MODERATE
        claim = f"declares the image a composite with AI-generated parts ({AI_COMPOSITE})"
        claim_part = _part(CODE_C2PA_CLAIM_AI_COMPOSITE, term=AI_COMPOSITE)
    elif ingredient_terms & {AI_GENERATED, AI_COMPOSITE}:
        direction, strength = TOWARDS_AI, MODERATE
        claim = "declares that an ingredient of the image was AI-generated"
        claim_part = _part(CODE_C2PA_CLAIM_AI_INGREDIENT)
    elif active_terms & HUMAN_SOURCE_TYPES:
        direction, strength = TOWARDS_HUMAN, MODERATE if trusted else WEAK
        terms = ", ".join(sorted(active_terms & HUMAN_SOURCE_TYPES))
        claim = f"declares a human source ({terms})"
        claim_part = _part(CODE_C2PA_CLAIM_HUMAN, terms=terms)
    elif not active_terms and "c2pa.created" in actions and (
        created_by := _generator_named(" ".join([claim_generator or "", *software_agents]))
    ):
        # Older generator manifests (Bing Image Creator's DALL-E 3, early ChatGPT images) state no
        # digital source type, but a signer that says its AI tool created the image makes the same
        # claim; an edit (c2pa.edited) by such a tool is not counted here.
        direction, strength = TOWARDS_AI, STRONG if trusted else MODERATE
        claim = f"says the image was created by {created_by}, an AI image generator"
        claim_part = _part(CODE_C2PA_CLAIM_CREATED_BY_GENERATOR, generator=created_by)
    else:
        direction, strength = NEUTRAL, NONE
        described = ", ".join(sorted(active_terms)) if active_terms else "no digital source type"
        claim = f"declares {described}"
        if active_terms:
            claim_part = _part(CODE_C2PA_CLAIM_SOURCE_TYPES, terms=described)
        else:
            claim_part = _part(CODE_C2PA_CLAIM_NO_SOURCE_TYPE)
    return direction, strength, claim, claim_part


def _c2pa_failures(store: dict) -> list[tuple[str, str]]:
    results = store.get("validation_results") if isinstance(store.get("validation_results"), dict) else {}
    entries = []
    active = results.get("activeManifest")
    if isinstance(active, dict):
        entries += active.get("failure") or []
    for delta in results.get("ingredientDeltas") or []:
        if isinstance(delta, dict) and isinstance(delta.get("validationDeltas"), dict):
            entries += delta["validationDeltas"].get("failure") or []
    if not entries:
        entries = store.get("validation_status") or []
    failures: list[tuple[str, str]] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            pair = (entry["code"], str(entry.get("explanation") or ""))
            if pair not in failures:
                failures.append(pair)
    return failures


def _c2pa_failure_reason(failures: list[tuple[str, str]]) -> str:
    telling = [(c, e) for c, e in failures if not c.startswith(_C2PA_TRUST_ONLY_CODES)] or failures
    reasons: list[str] = []
    for code, explanation in telling:
        reason = _C2PA_FAILURE_REASONS.get(code) or (f"{code} ({explanation})" if explanation else code)
        if reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons[:3]) if reasons else "the c2pa library gave no reason"


def _c2pa_summary_parts(details: dict) -> list[dict]:
    """The facts of _c2pa_summary as translatable sentences."""
    parts = []
    signer = details["signer"]
    if signer.get("common_name") or signer.get("issuer"):
        who = " / ".join(v for v in (signer.get("common_name"), signer.get("issuer")) if v)
        parts.append(_part(CODE_C2PA_SIGNED_BY, signer=who))
    if details["claim_generator"]:
        parts.append(_part(CODE_C2PA_CLAIM_GENERATOR, generator=details["claim_generator"]))
    if details["actions"]:
        parts.append(_part(CODE_C2PA_ACTIONS, actions=", ".join(details["actions"][:6])))
    return parts


def _c2pa_summary(details: dict) -> str:
    parts = []
    signer = details["signer"]
    if signer.get("common_name") or signer.get("issuer"):
        parts.append("signed by " + " / ".join(v for v in (signer.get("common_name"), signer.get("issuer")) if v))
    if details["claim_generator"]:
        parts.append(f"claim generator {details['claim_generator']}")
    if details["actions"]:
        parts.append("actions " + ", ".join(details["actions"][:6]))
    if not parts:
        return ""
    text = "; ".join(parts)
    return f" {text[0].upper()}{text[1:]}."


def _claim_generator(manifest: dict) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name = str(info[0].get("name") or "")
        version = str(info[0].get("version") or "")
        return _one_line(f"{name} {version}".strip(), 200) or None
    generator = manifest.get("claim_generator")
    return _one_line(generator, 200) if isinstance(generator, str) else None


def _signer(manifest: dict) -> dict:
    info = manifest.get("signature_info") if isinstance(manifest.get("signature_info"), dict) else {}
    keys = ("common_name", "issuer", "time", "alg")
    return {key: _one_line(info[key], 200) for key in keys if isinstance(info.get(key), str)}


def _action_entries(assertions):
    """Every action dict of the manifest's c2pa.actions assertions."""
    for assertion in assertions if isinstance(assertions, list) else []:
        if not (isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions")):
            continue
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        for action in data.get("actions") or []:
            if isinstance(action, dict):
                yield action


def _actions(assertions) -> list[str]:
    actions = []
    for action in _action_entries(assertions):
        if isinstance(action.get("action"), str) and action["action"] not in actions:
            actions.append(action["action"])
    return actions


def _software_agents(assertions) -> list[str]:
    """The softwareAgent names of the manifest's actions (a string or {"name": ...})."""
    agents = []
    for action in _action_entries(assertions):
        agent = action.get("softwareAgent")
        name = agent.get("name") if isinstance(agent, dict) else agent
        if isinstance(name, str) and name.strip() and len(agents) < _MAX_DETAIL_ITEMS:
            agents.append(_one_line(name, 200))
    return agents


def _digital_source_types(assertions) -> list[str]:
    """Every digitalSourceType value anywhere in the assertions (actions, IPTC metadata...)."""
    found: list[str] = []
    stack = [(assertions, 0)]
    while stack and len(found) < _MAX_DETAIL_ITEMS:
        value, depth = stack.pop()
        if depth > 20:
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if str(key).split(":")[-1].lower() == "digitalsourcetype" and isinstance(item, str):
                    if item not in found:
                        found.append(item)
                else:
                    stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return found


# --- XMP ----------------------------------------------------------------------------


def _parse_xml_safely(packet: bytes) -> ElementTree.Element:
    """Parse XML that declares no DTD or entity (refused outright: no expansion attacks)."""
    packet = packet.strip(b"\x00 \t\r\n")
    if re.search(rb"<!(doctype|entity)", packet, re.I):
        raise _UnsafeXml()

    def refuse(*_args):
        raise _UnsafeXml()

    # The byte check misses UTF-16; expat sees every encoding, so let it refuse too.
    scanner = xml.parsers.expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = refuse
    scanner.EntityDeclHandler = refuse
    scanner.Parse(packet, True)
    return ElementTree.fromstring(packet)


def _xmp_findings(container: _Container, limit: int) -> list[Finding]:
    findings: list[Finding] = []
    source_types: list[str] = []
    creator_tools: list[str] = []
    for packet in container.xmp_packets[:_MAX_XMP_PACKETS]:
        if len(packet) > limit:
            line = _too_large_line("The XMP metadata", len(packet), limit)
            findings.append(
                _unreadable("xmp_digital_source_type", line, *_too_large_params("The XMP metadata", len(packet), limit))
            )
            continue
        try:
            root = _parse_xml_safely(packet)
        except _UnsafeXml:
            findings.append(
                _unreadable(
                    "xmp_digital_source_type",
                    "The XMP metadata could not be read: it declares a DOCTYPE or entity, "
                    "which is refused (possible entity-expansion attack).",
                    CODE_XMP_UNSAFE,
                )
            )
            continue
        except (ElementTree.ParseError, xml.parsers.expat.ExpatError, ValueError) as exc:
            reason = f"malformed XML ({_one_line(str(exc), 200)})"
            findings.append(_could_not_read("xmp_digital_source_type", "The XMP metadata", reason))
            continue
        for name, value in _xmp_properties(root, ("digitalsourcetype", "creatortool")):
            target = source_types if name == "digitalsourcetype" else creator_tools
            if value not in target:
                target.append(value)

    findings += [_xmp_source_type_finding(value) for value in source_types[:5]]
    findings += [_creator_tool_finding(value) for value in creator_tools[:5]]
    return findings


def _xmp_properties(root: ElementTree.Element, wanted: tuple[str, ...]) -> list[tuple[str, str]]:
    """(lower-case local name, value) for wanted properties written as elements or attributes."""
    rdf_resource = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}resource"
    found = []
    for element in root.iter():
        local = str(element.tag).rsplit("}", 1)[-1].lower()
        if local in wanted:
            value = (element.text or "").strip() or element.get(rdf_resource, "").strip()
            if not value:  # rdf:Alt / rdf:Seq wrapper
                value = next(((li.text or "").strip() for li in element.iter() if (li.text or "").strip()), "")
            if value:
                found.append((local, _one_line(value, _MAX_DETAIL_STRING)))
        for key, value in element.attrib.items():
            attribute = key.rsplit("}", 1)[-1].lower()
            if attribute in wanted and value.strip():
                found.append((attribute, _one_line(value, _MAX_DETAIL_STRING)))
    return found


def _xmp_source_type_finding(value: str) -> Finding:
    term = _source_type_term(value)
    details = {"digital_source_type": value, "term": term}
    unsigned = "unsigned metadata that anyone can add, copy or remove"
    if term == AI_GENERATED:
        return _finding(
            "xmp_digital_source_type", TOWARDS_AI, MODERATE,
            f"XMP metadata declares the image AI-generated (IPTC DigitalSourceType {term}); {unsigned}.",
            CODE_XMP_AI_GENERATED, {"term": term}, **details,
        )
    if term == AI_COMPOSITE:
        return _finding(
            "xmp_digital_source_type", TOWARDS_AI, WEAK,
            "XMP metadata declares the image a composite with AI-generated parts "
            f"(IPTC DigitalSourceType {term}); {unsigned}.",
            CODE_XMP_AI_COMPOSITE, {"term": term}, **details,
        )
    if term in HUMAN_SOURCE_TYPES:
        return _finding(
            "xmp_digital_source_type", TOWARDS_HUMAN, WEAK,
            f"XMP metadata declares a human source (IPTC DigitalSourceType {term}); {unsigned}.",
            CODE_XMP_HUMAN, {"term": term}, **details,
        )
    line = f"XMP metadata declares IPTC DigitalSourceType {term}."
    return _finding("xmp_digital_source_type", NEUTRAL, NONE, line, CODE_XMP_SOURCE_TYPE, {"term": term}, **details)


def _creator_tool_finding(tool: str) -> Finding:
    generator = _generator_named(tool)
    if generator:
        return _finding(
            "xmp_creator_tool", TOWARDS_AI, WEAK,
            f"XMP CreatorTool names an AI image generator: '{tool}' ({generator}); unsigned, easily added or copied.",
            CODE_XMP_CREATOR_TOOL_GENERATOR, {"tool": tool, "generator": generator},
            creator_tool=tool, generator=generator,
        )
    return _finding(
        "xmp_creator_tool", NEUTRAL, NONE, f"XMP CreatorTool: {tool}.", CODE_XMP_CREATOR_TOOL, {"tool": tool},
        creator_tool=tool,
    )


# --- PNG text chunks written by generators --------------------------------------------


def _png_generator_findings(container: _Container) -> list[Finding]:
    texts: dict[str, _TextChunk] = {}
    for chunk in container.text_chunks:
        texts.setdefault(chunk.keyword, chunk)  # first chunk of a keyword wins, as in Pillow
    findings = []
    for detect in (_parameters_finding, _comfyui_finding, _novelai_finding, _invokeai_finding):
        try:
            finding = detect(texts)
        except Exception as exc:  # one odd generator format must not hide the others
            finding = _could_not_read("png_generator_parameters", "The PNG text chunks", _describe(exc))
        if finding is not None:
            findings.append(finding)
    return findings


# Settings shown on the result line, in this order; the rest stay in details.
_SHOWN_GENERATOR_FIELDS = (
    ("Steps", "steps"),
    ("Sampler", "sampler"),
    ("CFG", "cfg_scale"),
    ("Seed", "seed"),
    ("Model", "model"),
)


def _generator_finding(keywords: list[str], generator: str, fields: dict, extra: dict | None = None) -> Finding:
    """TOWARDS_AI, MODERATE: generator settings in a real text chunk (unsigned, so not verified)."""
    chunk_names = "/".join(f"'{k}'" for k in keywords)
    noun = "chunk" if len(keywords) == 1 else "chunks"
    shown = []
    if fields.get("prompt"):
        shown.append(f'prompt "{_one_line(fields["prompt"], _MAX_LINE_PROMPT)}"')
    for label, key in _SHOWN_GENERATOR_FIELDS:
        if fields.get(key) not in (None, ""):
            shown.append(f"{label} {_one_line(fields[key], 80)}")
    line = f"PNG text {noun} {chunk_names} written by {generator}"
    line += (": " + ", ".join(shown)) if shown else "."
    if len(keywords) == 1:
        code = CODE_PNG_GENERATOR_SETTINGS if shown else CODE_PNG_GENERATOR
    else:
        code = CODE_PNG_GENERATOR_CHUNKS_SETTINGS if shown else CODE_PNG_GENERATOR_CHUNKS
    params = {"chunks": chunk_names, "generator": generator}
    if shown:
        params["settings"] = ", ".join(shown)
    details = {"generator": generator, "chunks": keywords, **{k: v for k, v in fields.items() if v not in (None, "")}}
    details.update(extra or {})
    return _finding("png_generator_parameters", TOWARDS_AI, MODERATE, line, code, params, **details)


def _parameters_finding(texts: dict[str, _TextChunk]) -> Finding | None:
    """Automatic1111 / Forge / SD.Next text, or Fooocus / SwarmUI JSON, in 'parameters'."""
    chunk = texts.get("parameters")
    if chunk is None:
        return None
    parsed = _json_object(chunk.text)
    if parsed is not None:
        lowered = {str(k).lower(): v for k, v in parsed.items()}
        if "fooocus_scheme" in texts or "fooocus" in chunk.text.lower():
            generator = "Fooocus"
        elif isinstance(lowered.get("sui_image_params"), dict):
            generator = "SwarmUI"
            lowered = {str(k).lower(): v for k, v in lowered["sui_image_params"].items()}
        elif len({"prompt", "steps", "seed", "sampler", "cfg_scale", "model"} & set(lowered)) >= 2:
            generator = "an image generator (JSON parameters)"
        else:
            generator = None
        if generator:
            fields = {
                "prompt": lowered.get("prompt"),
                "negative_prompt": lowered.get("negative prompt") or lowered.get("negativeprompt"),
                "steps": lowered.get("steps"),
                "sampler": lowered.get("sampler") or lowered.get("sampler_name"),
                "cfg_scale": lowered.get("guidance scale") or lowered.get("cfgscale") or lowered.get("cfg_scale"),
                "seed": lowered.get("seed"),
                "model": lowered.get("base model") or lowered.get("model"),
            }
            return _generator_finding(["parameters"], generator, fields, {"version": lowered.get("version")})
    a1111 = _parse_a1111(chunk.text)
    if a1111 is None:
        return _finding(
            "png_generator_parameters", NEUTRAL, NONE,
            "PNG text chunk 'parameters' is present but not in a generator format we recognise.",
            CODE_PNG_PARAMETERS_UNRECOGNISED,
            chunk="parameters", text=chunk.text,
        )
    return _generator_finding(["parameters"], "Automatic1111", a1111["fields"], {"settings": a1111["settings"]})


_QUOTED = re.compile(r'"(?:\\.|[^\\"])*"')


def _parse_a1111(text: str) -> dict | None:
    """Split A1111 'parameters' into prompt, negative prompt and the 'Steps: ..., Sampler: ...' line."""
    lines = text.strip().splitlines()
    # A1111 writes the settings as the last line; look only near the end of hostile text.
    settings_index = next(
        (i for i in range(len(lines) - 1, max(-1, len(lines) - 21), -1) if re.match(r"\s*Steps:\s*\d", lines[i])),
        None,
    )
    if settings_index is None:
        return None
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines[:settings_index]:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative_lines if in_negative else prompt_lines).append(line)
    settings = _a1111_settings(lines[settings_index])
    fields = {
        "prompt": "\n".join(prompt_lines).strip(),
        "negative_prompt": "\n".join(negative_lines).strip(),
        "steps": settings.get("Steps"),
        "sampler": settings.get("Sampler"),
        "cfg_scale": settings.get("CFG scale"),
        "seed": settings.get("Seed"),
        "size": settings.get("Size"),
        "model": settings.get("Model"),
        "model_hash": settings.get("Model hash"),
    }
    return {"fields": fields, "settings": settings}


def _a1111_settings(line: str) -> dict[str, str]:
    """'Steps: 20, Sampler: Euler a, Lora hashes: "a: 1, b: 2"' -> {"Steps": "20", ...}.

    A hand-written scan rather than one regex: the obvious pattern backtracks
    quadratically on a long hostile line.
    """
    settings: dict[str, str] = {}
    pos = 0
    while pos < len(line) and len(settings) < 40:
        colon = line.find(":", pos)
        if colon < 0:
            break
        key = line[pos:colon].strip()
        pos = colon + 1
        while pos < len(line) and line[pos] == " ":
            pos += 1
        quoted = _QUOTED.match(line, pos)
        if quoted:
            value, pos = quoted.group(0)[1:-1], quoted.end()
        comma = line.find(",", pos)
        end = comma if comma >= 0 else len(line)
        if not quoted:
            value = line[pos:end]
        if key:
            settings[key] = value.strip()
        pos = end + 1
    return settings


# ComfyUI node input -> our field name (the first node that has it wins).
_COMFYUI_INPUT_FIELDS = (
    ("ckpt_name", "model"),
    ("unet_name", "model"),
    ("steps", "steps"),
    ("sampler_name", "sampler"),
    ("cfg", "cfg_scale"),
    ("seed", "seed"),
    ("noise_seed", "seed"),
)


def _comfyui_finding(texts: dict[str, _TextChunk]) -> Finding | None:
    prompt_graph = _json_object(texts["prompt"].text) if "prompt" in texts else None
    workflow = _json_object(texts["workflow"].text) if "workflow" in texts else None
    nodes = [n for n in (prompt_graph or {}).values() if isinstance(n, dict) and "class_type" in n]
    workflow_nodes = workflow.get("nodes") if isinstance(workflow, dict) else None
    workflow_nodes = workflow_nodes if isinstance(workflow_nodes, list) else []
    if not nodes and not workflow_nodes:
        return None
    keywords = [k for k, ok in (("prompt", bool(nodes)), ("workflow", bool(workflow_nodes))) if ok]
    class_types = []
    for node in nodes:
        name = str(node.get("class_type"))
        if name not in class_types:
            class_types.append(name)
    for node in workflow_nodes:
        name = str(node.get("type")) if isinstance(node, dict) else ""
        if name and name not in class_types:
            class_types.append(name)
    fields: dict = {}
    prompts = []
    for node in nodes:
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        if "TextEncode" in str(node.get("class_type")) and isinstance(inputs.get("text"), str):
            prompts.append(inputs["text"])
        for key, field_name in _COMFYUI_INPUT_FIELDS:
            if key in inputs and not isinstance(inputs[key], list) and field_name not in fields:
                fields[field_name] = inputs[key]
    if prompts:
        fields["prompt"] = prompts[0]
        fields["other_prompts"] = prompts[1:5]
    return _generator_finding(keywords, "ComfyUI", fields, {"node_types": class_types[:30]})


def _novelai_finding(texts: dict[str, _TextChunk]) -> Finding | None:
    software = texts["Software"].text if "Software" in texts else ""
    source = texts["Source"].text if "Source" in texts else ""
    comment = _json_object(texts["Comment"].text) if "Comment" in texts else None
    if "novelai" not in (software + " " + source).lower() or comment is None:
        return None
    if not {"steps", "seed", "sampler", "prompt"} & set(comment):
        return None
    fields = {
        "prompt": comment.get("prompt") or (texts["Description"].text if "Description" in texts else None),
        "negative_prompt": comment.get("uc"),
        "steps": comment.get("steps"),
        "sampler": comment.get("sampler"),
        "cfg_scale": comment.get("scale"),
        "seed": comment.get("seed"),
        "model": source or None,
    }
    return _generator_finding(["Software", "Comment"], "NovelAI", fields)


def _invokeai_finding(texts: dict[str, _TextChunk]) -> Finding | None:
    if "invokeai_metadata" in texts:
        meta = _json_object(texts["invokeai_metadata"].text)
        if meta is None:
            return None
        model = meta.get("model")
        fields = {
            "prompt": meta.get("positive_prompt"),
            "negative_prompt": meta.get("negative_prompt"),
            "steps": meta.get("steps"),
            "sampler": meta.get("scheduler"),
            "cfg_scale": meta.get("cfg_scale"),
            "seed": meta.get("seed"),
            "model": model.get("name") if isinstance(model, dict) else model,
        }
        return _generator_finding(["invokeai_metadata"], "InvokeAI", fields)
    if "sd-metadata" in texts:
        meta = _json_object(texts["sd-metadata"].text)
        if meta is None:
            return None
        image = meta.get("image") if isinstance(meta.get("image"), dict) else {}
        prompt = image.get("prompt")
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
            prompt = prompt[0].get("prompt")
        fields = {
            "prompt": prompt,
            "steps": image.get("steps"),
            "sampler": image.get("sampler"),
            "cfg_scale": image.get("cfg_scale"),
            "seed": image.get("seed"),
            "model": meta.get("model_weights") or meta.get("model"),
        }
        return _generator_finding(["sd-metadata"], "InvokeAI", fields)
    if "Dream" in texts and texts["Dream"].text.strip():
        dream = texts["Dream"].text.strip()
        prompt = re.match(r'\s*"((?:\\.|[^"\\])*)"', dream)
        steps = re.search(r"\s-s\s*(\d+)", dream)
        seed = re.search(r"\s-S\s*(\d+)", dream)
        fields = {
            "prompt": prompt.group(1) if prompt else dream,
            "steps": steps.group(1) if steps else None,
            "seed": seed.group(1) if seed else None,
        }
        return _generator_finding(["Dream"], "InvokeAI (dream)", fields)
    return None


def _json_object(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


# --- EXIF: Software tag and camera ----------------------------------------------------

_EXIF_MAKE, _EXIF_MODEL, _EXIF_SOFTWARE = 0x010F, 0x0110, 0x0131
_EXIF_EXPOSURE_TIME, _EXIF_F_NUMBER, _EXIF_ISO = 0x829A, 0x829D, 0x8827
_EXIF_DATETIME_ORIGINAL, _EXIF_FOCAL_LENGTH, _EXIF_LENS_MODEL = 0x9003, 0x920A, 0xA434


@dataclass
class _ExifRead:
    exif: Image.Exif | None = None
    problem: Finding | None = None


def _guarded_exif(container: _Container) -> _ExifRead:
    """The file's EXIF (the first real EXIF block), or the reason it could not be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on every damaged tag
            if container.tiff_exif is not None:
                return _ExifRead(exif=container.tiff_exif)
            if not container.exif_blocks:
                return _ExifRead()
            exif = Image.Exif()
            exif.load(container.exif_blocks[0])
            return _ExifRead(exif=exif)
    except Exception as exc:
        return _ExifRead(problem=_could_not_read("camera_exif", "The EXIF metadata", _describe(exc)))


def _exif_text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return ""
    return _one_line(value.replace("\x00", " "), 200)


def _software_tag_findings(container: _Container, exif_read: _ExifRead) -> list[Finding]:
    values: list[tuple[str, str]] = []
    if exif_read.exif is not None:
        software = _exif_text(exif_read.exif.get(_EXIF_SOFTWARE))
        if software:
            values.append(("EXIF Software tag", software))
    for chunk in container.text_chunks:
        if chunk.keyword.lower() == "software" and chunk.text.strip():
            values.append(("PNG 'Software' text chunk", _one_line(chunk.text, 200)))
    findings, seen = [], set()
    for source, software in values:
        if software in seen:
            continue
        seen.add(software)
        generator = _generator_named(software)
        if generator:
            findings.append(
                _finding(
                    "software_tag", TOWARDS_AI, WEAK,
                    f"{source} names an AI image generator: '{software}' ({generator}); "
                    "unsigned, easily added or copied.",
                    CODE_SOFTWARE_GENERATOR,
                    {"source": _software_source_part(source), "software": software, "generator": generator},
                    software=software, source=source, generator=generator,
                )
            )
        else:
            line = f"{source}: {software}."
            params = {"source": _software_source_part(source), "software": software}
            findings.append(_finding("software_tag", NEUTRAL, NONE, line, CODE_SOFTWARE, params, software=software, source=source))
    return findings


def _software_source_part(source: str) -> dict:
    return _part(CODE_SOURCE_EXIF_SOFTWARE if source.startswith("EXIF") else CODE_SOURCE_PNG_SOFTWARE)


def _camera_exif_findings(exif_read: _ExifRead) -> list[Finding]:
    if exif_read.problem is not None:
        return [exif_read.problem]
    exif = exif_read.exif
    if exif is None:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exif_ifd = exif.get_ifd(EXIF_IFD_POINTER) if EXIF_IFD_POINTER in exif else {}
    make, model = _exif_text(exif.get(_EXIF_MAKE)), _exif_text(exif.get(_EXIF_MODEL))
    exposure_time = _exif_number(exif_ifd.get(_EXIF_EXPOSURE_TIME), 1e-6, 3600)
    f_number = _exif_number(exif_ifd.get(_EXIF_F_NUMBER), 0.5, 128)
    iso_value = exif_ifd.get(_EXIF_ISO)
    iso = _exif_number(iso_value[0] if isinstance(iso_value, tuple) and iso_value else iso_value, 1, 10_000_000)
    focal_length = _exif_number(exif_ifd.get(_EXIF_FOCAL_LENGTH), 0.5, 5000)
    lens_model = _exif_text(exif_ifd.get(_EXIF_LENS_MODEL))
    taken_at = _exif_date(_exif_text(exif_ifd.get(_EXIF_DATETIME_ORIGINAL)))

    details = {
        "make": make or None,
        "model": model or None,
        "exposure_time_s": exposure_time,
        "f_number": f_number,
        "iso": iso,
        "focal_length_mm": focal_length,
        "lens_model": lens_model or None,
        "datetime_original": taken_at,
    }
    if not any(value is not None for value in details.values()):
        return []
    camera = model if make and model.lower().startswith(make.split()[0].lower()) else f"{make} {model}".strip()
    shown = [camera] if camera else []
    if exposure_time is not None:
        shown.append(f"1/{round(1 / exposure_time)} s" if exposure_time < 0.5 else f"{exposure_time:g} s")
    if f_number is not None:
        shown.append(f"f/{f_number:g}")
    if iso is not None:
        shown.append(f"ISO {iso:g}")
    if focal_length is not None:
        shown.append(f"{focal_length:g} mm")
    if lens_model:
        shown.append(lens_model)
    if taken_at:
        shown.append(taken_at)
    exposure_fields = sum(value is not None for value in (exposure_time, f_number, iso, focal_length))
    if make and model and exposure_fields >= 2:
        # Weak: EXIF is trivially forged and editors copy it onto whatever they export.
        settings = ", ".join(shown)
        return [_finding("camera_exif", TOWARDS_HUMAN, WEAK, "Camera EXIF: " + settings, CODE_CAMERA_EXIF, {"settings": settings}, **details)]
    return [
        _finding(
            "camera_exif", NEUTRAL, NONE,
            "Partial camera EXIF (" + ", ".join(shown) + "): too incomplete to count as a camera capture.",
            CODE_CAMERA_EXIF_PARTIAL, {"settings": ", ".join(shown)},
            **details,
        )
    ]


def _exif_number(value, low: float, high: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _exif_date(text: str) -> str | None:
    match = re.match(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2})", text)
    if match:
        year, month, day, hour, minute = match.groups()
        return f"{year}-{month}-{day} {hour}:{minute}"
    return text or None
