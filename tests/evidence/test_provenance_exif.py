"""Camera EXIF and the Software tag as a reviewer sees them."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from detector.evidence import NEUTRAL, NONE, TOWARDS_AI, TOWARDS_HUMAN, WEAK
from detector.evidence.provenance import GENERATOR_NAMES, read_provenance

from .provenance_files import _assert_well_formed, _camera_exif, _image, _only, _png_with_text


def test_coherent_camera_exif_in_a_jpeg_points_weakly_to_a_human():
    findings = read_provenance(_image("JPEG", exif=_camera_exif()))

    finding = _only(findings, "camera_exif")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_HUMAN, WEAK, False)
    assert finding.line == "Camera EXIF: Canon EOS R5, 1/250 s, f/4, ISO 200, 2024-05-01 10:22"
    assert finding.details["make"] == "Canon" and finding.details["model"] == "Canon EOS R5"
    assert finding.details["exposure_time_s"] == pytest.approx(0.004)
    assert finding.details["f_number"] == 4 and finding.details["iso"] == 200
    assert finding.details["datetime_original"] == "2024-05-01 10:22"
    _assert_well_formed(findings)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_camera_exif_is_read_from_png_and_webp_exif_chunks(fmt):
    finding = _only(read_provenance(_image(fmt, exif=_camera_exif())), "camera_exif")
    assert (finding.direction, finding.strength) == (TOWARDS_HUMAN, WEAK)


def test_camera_exif_is_read_from_tiff_ifds():
    with Image.open(io.BytesIO(_image("JPEG", exif=_camera_exif()))) as jpeg:
        buffer = io.BytesIO()
        jpeg.save(buffer, "TIFF", exif=jpeg.getexif())  # Pillow writes the Exif sub-IFD this way
    finding = _only(read_provenance(buffer.getvalue()), "camera_exif")
    assert (finding.direction, finding.strength) == (TOWARDS_HUMAN, WEAK)
    assert finding.line.startswith("Camera EXIF: Canon EOS R5, 1/250 s, f/4, ISO 200")


def test_make_and_model_alone_are_not_counted_as_a_camera():
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    finding = _only(read_provenance(_image("JPEG", exif=exif)), "camera_exif")
    assert (finding.direction, finding.strength) == (NEUTRAL, NONE)
    assert "too incomplete" in finding.line


@pytest.mark.parametrize(
    "software, direction, strength",
    [
        ("Midjourney", TOWARDS_AI, WEAK),
        ("DALL-E 3", TOWARDS_AI, WEAK),
        ("stable-diffusion-webui", TOWARDS_AI, WEAK),
        ("Adobe Photoshop 25.0 (Windows)", NEUTRAL, NONE),
        ("Imagenomic Portraiture 4", NEUTRAL, NONE),  # not "Imagen"
    ],
)
def test_exif_software_tag(software, direction, strength):
    findings = read_provenance(_image("JPEG", exif=_camera_exif(software=software)))
    finding = _only(findings, "software_tag")
    assert (finding.direction, finding.strength, finding.verified) == (direction, strength, False)
    assert software in finding.line
    # The camera fields are still reported beside it.
    assert _only(findings, "camera_exif").direction == TOWARDS_HUMAN


def test_png_software_chunk_naming_a_generator_points_weakly_to_ai():
    finding = _only(read_provenance(_png_with_text(("iTXt", "Software", "DALL·E 3"))), "software_tag")
    assert (finding.direction, finding.strength) == (TOWARDS_AI, WEAK)
    assert finding.details["generator"] == "DALL-E"


def test_generator_names_is_a_tuple_of_names():
    assert isinstance(GENERATOR_NAMES, tuple) and "Midjourney" in GENERATOR_NAMES and "ComfyUI" in GENERATOR_NAMES

