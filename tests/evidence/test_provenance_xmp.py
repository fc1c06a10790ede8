"""XMP digital source types and creator tools as a reviewer sees them."""

from __future__ import annotations


import pytest

from detector.evidence import MODERATE, NEUTRAL, NONE, TOWARDS_AI, TOWARDS_HUMAN, WEAK
from detector.evidence.provenance import read_provenance

from .c2pa_signing import IPTC_SOURCE_TYPE
from .provenance_files import (
    XMP_HEADER,
    _image,
    _insert_jpeg_segment,
    _jpeg_segment,
    _only,
    _png_with_text,
    _xmp,
)


def test_xmp_digital_source_type_in_jpeg_app1_points_to_ai_unverified():
    jpeg = _insert_jpeg_segment(_image("JPEG"), _jpeg_segment(0xE1, XMP_HEADER + _xmp("trainedAlgorithmicMedia")))
    findings = read_provenance(jpeg)

    finding = _only(findings, "xmp_digital_source_type")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, MODERATE, False)
    assert "trainedAlgorithmicMedia" in finding.line and "unsigned" in finding.line
    assert finding.details["digital_source_type"] == IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia"
    creator = _only(findings, "xmp_creator_tool")
    assert (creator.direction, creator.line) == (NEUTRAL, "XMP CreatorTool: Adobe Photoshop 25.0.")


@pytest.mark.parametrize(
    "source_type, direction, strength",
    [
        ("compositeWithTrainedAlgorithmicMedia", TOWARDS_AI, WEAK),
        ("digitalCapture", TOWARDS_HUMAN, WEAK),
        ("algorithmicallyEnhanced", NEUTRAL, NONE),
    ],
)
def test_xmp_digital_source_types_in_png_itxt(source_type, direction, strength):
    png = _png_with_text(("iTXt", "XML:com.adobe.xmp", _xmp(source_type).decode()))
    finding = _only(read_provenance(png), "xmp_digital_source_type")
    assert (finding.direction, finding.strength, finding.verified) == (direction, strength, False)


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF"])
def test_xmp_is_read_from_webp_and_tiff(fmt):
    xmp = _xmp(creator_tool="Midjourney")
    save_args = {"xmp": xmp} if fmt == "WEBP" else {"tiffinfo": {700: xmp}}  # TIFF tag 700 holds XMP
    findings = read_provenance(_image(fmt, **save_args))
    assert _only(findings, "xmp_digital_source_type").direction == TOWARDS_AI
    creator = _only(findings, "xmp_creator_tool")
    assert (creator.direction, creator.strength) == (TOWARDS_AI, WEAK)
    assert "Midjourney" in creator.line

