"""Walking an image's container to the places its format defines for metadata: JPEG APP
segments before the first scan, PNG chunks before IEND (CRC-checked, text inflated under a
budget), WebP RIFF chunks and TIFF tags. What lies elsewhere is never read as metadata."""

from __future__ import annotations

import io
import warnings
import zlib
from dataclasses import dataclass, field

from PIL import Image

from .. import Finding
from .findings import (
    CODE_DAMAGED_CHUNK,
    CODE_DECOMPRESSION_BOMB,
    CODE_UNREADABLE,
    describe_error,
    mb,
    too_large_line,
    too_large_params,
    unreadable_finding,
)

XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEYWORD = "XML:com.adobe.xmp"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_XMP_TAG = 700
TIFF_C2PA_TAG = 0xCD41


class _MetadataTooLarge(Exception):
    pass


@dataclass
class TextChunk:
    """One PNG text chunk (tEXt, zTXt or iTXt), inflated and decoded."""

    keyword: str
    text: str
    chunk_type: str


@dataclass
class Container:
    """The metadata blocks found in their proper places in one file."""

    format: str
    xmp_packets: list[bytes] = field(default_factory=list)
    exif_blocks: list[bytes] = field(default_factory=list)
    text_chunks: list[TextChunk] = field(default_factory=list)
    tiff_exif: Image.Exif | None = None
    c2pa_bytes: int = 0
    c2pa_seen: bool = False
    problems: dict[str, Finding] = field(default_factory=dict)  # first problem per signal

    def problem(self, signal: str, line: str, code: str, params: dict, **details) -> None:
        """Record an UNREADABLE finding for `signal`, unless one is already recorded."""
        self.problems.setdefault(signal, unreadable_finding(signal, line, code, params, **details))


def sniff_format(data: bytes) -> str | None:
    """The image format from the file's magic bytes ('JPEG', 'PNG', ...), or None."""
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


def scan_container(data: bytes, image_format: str, limit: int) -> Container:
    """Collect the file's metadata blocks from the places its format defines for them."""
    container = Container(format=image_format)
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
            reason = describe_error(exc)
            container.problem(
                "camera_exif", f"The TIFF tags could not be read: {reason}.",
                CODE_UNREADABLE, {"what": "The TIFF tags", "reason": reason},
            )
    elif image_format == "GIF":
        # GIF carries C2PA in an application extension; c2pa itself walks the blocks.
        container.c2pa_seen = b"C2PA_GIF" in data
    container.c2pa_seen = container.c2pa_seen or container.c2pa_bytes > 0
    return container


def _walk_jpeg(data: bytes, container: Container) -> None:
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


def _walk_png(data: bytes, container: Container, limit: int) -> None:
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
            container.problem(signal, too_large_line(what, length, limit), *too_large_params(what, length, limit))
            continue
        if chunk_type == b"eXIf":
            container.exif_blocks.append(body)
            continue
        try:
            text = _png_text(chunk_type, body, inflate_budget)
        except _MetadataTooLarge:
            container.problem(
                signal,
                f"{what} could not be read: decompressing it would pass the {mb(limit)} limit "
                "for PNG text (possible decompression bomb), so it was not decompressed.",
                CODE_DECOMPRESSION_BOMB, {"what": what, "limit": mb(limit)},
            )
            continue
        except (ValueError, zlib.error, UnicodeDecodeError) as exc:
            reason = describe_error(exc)
            container.problem(signal, f"{what} could not be read: {reason}.", CODE_UNREADABLE, {"what": what, "reason": reason})
            continue
        if chunk_type == b"iTXt" and keyword == XMP_PNG_KEYWORD:
            container.xmp_packets.append(text.encode("utf-8"))
        else:
            container.text_chunks.append(TextChunk(keyword=keyword, text=text, chunk_type=name))


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


def _walk_webp(data: bytes, container: Container, limit: int) -> None:
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
                container.problem("camera_exif", too_large_line(what, size, limit), *too_large_params(what, size, limit))
            else:
                container.exif_blocks.append(body)
        elif fourcc == b"XMP ":
            container.xmp_packets.append(body)  # size checked with the other packets


def _read_tiff_tags(data: bytes, container: Container) -> None:
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

