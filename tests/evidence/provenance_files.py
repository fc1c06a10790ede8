"""Files with provenance markers, built with Pillow for the provenance tests, and the checks
every provenance finding must pass."""

from __future__ import annotations

import io
import json
import struct
import zlib

from PIL import Image, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from detector.evidence import NONE, UNREADABLE, Finding

A1111_PARAMETERS = (
    "a watercolor fox in a misty forest, highly detailed\n"
    "Negative prompt: blurry, lowres\n"
    'Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 3141592, Size: 768x512, '
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "fox: 1a2b, mist: 3c4d", Version: v1.7.0'
)
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"


def _xmp(source_type: str = "trainedAlgorithmicMedia", creator_tool: str = "Adobe Photoshop 25.0") -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
        f' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="{creator_tool}">'
        f"<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/{source_type}"
        "</Iptc4xmpExt:DigitalSourceType></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def _image(fmt: str, size=(32, 24), **save_args) -> bytes:
    if fmt == "JPEG":
        # A camera's quality: Pillow's default (75) reads as a re-compressed copy (jpeg_quality.py).
        save_args.setdefault("quality", 95)
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 200)).save(buffer, fmt, **save_args)
    return buffer.getvalue()


def _png_with_text(*chunks: tuple[str, str, str]) -> bytes:
    """chunks: (kind, keyword, text) with kind 'tEXt', 'zTXt' or 'iTXt'."""
    info = PngImagePlugin.PngInfo()
    for kind, keyword, text in chunks:
        if kind == "iTXt":
            info.add_itxt(keyword, text)
        else:
            info.add_text(keyword, text, zip=(kind == "zTXt"))
    return _image("PNG", pnginfo=info)


def _png_chunk(chunk_type: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + chunk_type + body + struct.pack(">I", zlib.crc32(chunk_type + body))


def _insert_png_chunk(png: bytes, chunk: bytes) -> bytes:
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _insert_jpeg_segment(jpeg: bytes, segment: bytes) -> bytes:
    return jpeg[:2] + segment + jpeg[2:]


def _jpeg_segments(jpeg: bytes) -> list[tuple[int, int, int]]:
    """(offset, marker, length) of each segment before the first scan."""
    segments, pos = [], 2
    while pos < len(jpeg):
        marker, length = jpeg[pos + 1], struct.unpack(">H", jpeg[pos + 2 : pos + 4])[0]
        segments.append((pos, marker, length))
        if marker == 0xDA:
            return segments
        pos += 2 + length
    return segments


def _only(findings: list[Finding], signal: str) -> Finding:
    matching = [f for f in findings if f.signal == signal]
    assert len(matching) == 1, findings
    return matching[0]


def _assert_well_formed(findings) -> None:
    assert isinstance(findings, list)
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.layer == "provenance"
        json.dumps(finding.as_dict())  # details must be JSON-ready
        if finding.direction == UNREADABLE:
            assert finding.strength == NONE and not finding.verified


def _camera_exif(software: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS R5"
    if software:
        exif[0x0131] = software
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x829A] = IFDRational(1, 250)  # ExposureTime
    exif_ifd[0x829D] = IFDRational(4, 1)  # FNumber
    exif_ifd[0x8827] = 200  # ISO
    exif_ifd[0x9003] = "2024:05:01 10:22:31"  # DateTimeOriginal
    return exif
