"""Markers are read only from the container their format defines, and hostile or broken
metadata gives UNREADABLE findings, never exceptions."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image

from detector.evidence import NONE, UNREADABLE, Finding
from detector.evidence.provenance import read_provenance

from .provenance_files import (
    A1111_PARAMETERS,
    XMP_HEADER,
    _assert_well_formed,
    _camera_exif,
    _image,
    _insert_jpeg_segment,
    _insert_png_chunk,
    _jpeg_segment,
    _jpeg_segments,
    _only,
    _png_chunk,
    _png_with_text,
    _xmp,
)


def test_generator_text_outside_a_png_text_chunk_is_not_honoured():
    marker = b"parameters\x00" + A1111_PARAMETERS.encode()
    # A one-row grey PNG with a stored (uncompressed) IDAT: its pixel bytes are the marker.
    header = struct.pack(">IIBBBBB", len(marker), 1, 8, 0, 0, 0, 0)
    inside_idat = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" + marker, 0))
        + _png_chunk(b"IEND", b"")
    )
    with Image.open(io.BytesIO(inside_idat)) as image:
        assert image.tobytes() == marker
    png = _image("PNG")
    after_iend = png + _png_chunk(b"tEXt", marker)
    trailing_garbage = png + A1111_PARAMETERS.encode()
    for data in (inside_idat, after_iend, trailing_garbage):
        findings = read_provenance(data)
        assert findings == [], findings


def test_generator_text_in_a_jpeg_comment_or_after_the_image_is_not_honoured():
    in_comment = _image("JPEG", comment=A1111_PARAMETERS.encode())
    assert b"Steps: 28" in in_comment
    after_eoi = _image("JPEG") + b"parameters\x00" + A1111_PARAMETERS.encode() + _xmp()
    for data in (in_comment, after_eoi):
        assert read_provenance(data) == []


def test_xmp_text_outside_its_app1_container_is_not_honoured():
    in_comment = _image("JPEG", comment=XMP_HEADER + _xmp())
    assert read_provenance(in_comment) == []


def _unreadable_only(findings, signal) -> Finding:
    _assert_well_formed(findings)
    finding = _only(findings, signal)
    assert (finding.direction, finding.strength, finding.verified) == (UNREADABLE, NONE, False)
    return finding


def test_garbage_app11_jumbf_segment_is_unreadable():
    jumbf = b"JP\x00\x01\x00\x00\x00\x01" + struct.pack(">I", 40) + b"jumb" + b"\x00" * 32
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xEB, jumbf))
    finding = _unreadable_only(read_provenance(jpeg), "c2pa")
    assert finding.line.startswith("The C2PA manifest could not be read")


def test_truncated_c2pa_manifest_is_unreadable(signed_ai_jpeg):
    offset, marker, length = next(s for s in _jpeg_segments(signed_ai_jpeg) if s[1] == 0xEB)
    payload = signed_ai_jpeg[offset + 4 : offset + 2 + length]
    half_a_manifest = _jpeg_segment(0xEB, payload[: len(payload) // 2])
    truncated = signed_ai_jpeg[:offset] + half_a_manifest + signed_ai_jpeg[offset + 2 + length :]
    finding = _unreadable_only(read_provenance(truncated), "c2pa")
    assert finding.line.startswith("The C2PA manifest could not be read")


def test_oversized_c2pa_block_is_not_parsed(signed_ai_jpeg):
    finding = _unreadable_only(read_provenance(signed_ai_jpeg, max_metadata_bytes=1000), "c2pa")
    assert finding.line.startswith("The C2PA manifest could not be read: it is ")
    assert "over the 1.0 KB limit" in finding.line


def test_malformed_xmp_is_unreadable():
    unclosed = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF>"
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, XMP_HEADER + unclosed))
    finding = _unreadable_only(read_provenance(jpeg), "xmp_digital_source_type")
    assert "malformed XML" in finding.line


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_xmp_with_an_entity_bomb_is_refused_unparsed(encoding):
    bomb = (
        f'<?xml version="1.0" encoding="{encoding}"?>'
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>&lol3;</x:xmpmeta>"
    ).encode(encoding)
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, XMP_HEADER + bomb))
    finding = _unreadable_only(read_provenance(jpeg), "xmp_digital_source_type")
    assert "DOCTYPE" in finding.line


def test_ztxt_decompression_bomb_is_not_inflated():
    bomb = zlib.compress(b"\x00" * 20_000_000, 9)  # ~20 KB that would inflate to 20 MB
    png = _insert_png_chunk(_image("PNG"), _png_chunk(b"zTXt", b"parameters\x00\x00" + bomb))
    finding = _unreadable_only(read_provenance(png, max_metadata_bytes=1_000_000), "png_generator_parameters")
    assert "decompression bomb" in finding.line and "'parameters'" in finding.line


def test_oversized_text_chunk_is_unreadable():
    png = _png_with_text(("tEXt", "parameters", A1111_PARAMETERS + " " * 5000))
    finding = _unreadable_only(read_provenance(png, max_metadata_bytes=2000), "png_generator_parameters")
    assert "over the" in finding.line


def test_text_chunk_with_a_bad_crc_is_unreadable():
    chunk = bytearray(_png_chunk(b"tEXt", b"parameters\x00" + A1111_PARAMETERS.encode()))
    chunk[-1] ^= 0xFF
    png = _insert_png_chunk(_image("PNG"), bytes(chunk))
    finding = _unreadable_only(read_provenance(png), "png_generator_parameters")
    assert "CRC" in finding.line


def test_broken_exif_is_unreadable():
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, b"Exif\x00\x00garbage, not TIFF"))
    finding = _unreadable_only(read_provenance(jpeg), "camera_exif")
    assert finding.line.startswith("The EXIF metadata could not be read")


@pytest.mark.parametrize("data", [None, "not bytes"])
def test_non_bytes_input_gives_an_unreadable_finding(data):
    assert read_provenance(data)[0].direction == UNREADABLE


def test_random_and_truncated_bytes_never_raise(signed_ai_jpeg):
    rng = random.Random(20240501)
    rich_png = _insert_png_chunk(
        _png_with_text(("zTXt", "parameters", A1111_PARAMETERS), ("iTXt", "XML:com.adobe.xmp", _xmp().decode())),
        _png_chunk(b"eXIf", _camera_exif().tobytes()[6:]),
    )
    samples = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\xff\xff\xff\xffWEBP", b"II*\x00", b"GIF89a", b"BM"]
    samples += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))) for _ in range(10)]
    for source in (signed_ai_jpeg, rich_png):
        samples += [source[: rng.randint(1, len(source))] for _ in range(8)]
        for _ in range(8):
            flipped = bytearray(source)
            for _ in range(5):
                flipped[rng.randrange(len(flipped))] = rng.getrandbits(8)
            samples.append(bytes(flipped))
    for sample in samples:
        _assert_well_formed(read_provenance(sample))
