"""Every kind of bad file is refused with a specific code before anything is stored."""

import io
import zipfile

import pytest
from PIL import Image

from detector.intake import ImageRejected, image_validate
from tests.images import image_bytes

LIMITS = {"max_bytes": 2_000_000, "max_pixels": 4_000_000}


def rejected(data: bytes, **limits) -> ImageRejected:
    with pytest.raises(ImageRejected) as info:
        image_validate(data, **{**LIMITS, **limits})
    assert info.value.message and info.value.message[0].isupper()
    return info.value


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"])
def test_supported_formats_are_accepted_with_their_dimensions(fmt):
    result = image_validate(image_bytes(fmt, size=(120, 90)), **LIMITS)
    assert (result.format, result.width, result.height) == (fmt, 120, 90)
    assert len(result.sha256) == 64


def test_text_file_is_not_an_image():
    assert rejected(b"hello, this is a plain text file\n" * 10).code == "not_an_image"


def test_empty_file_is_refused():
    assert rejected(b"").code == "empty_file"


def test_truncated_jpeg_is_corrupt():
    data = image_bytes("JPEG", size=(256, 256), seed=3)
    assert rejected(data[: len(data) // 2]).code == "image_corrupt"


def test_truncated_png_is_corrupt():
    data = image_bytes("PNG", size=(256, 256), seed=4)
    assert rejected(data[: len(data) - 200]).code == "image_corrupt"


def test_png_with_garbled_pixel_data_is_corrupt():
    data = bytearray(image_bytes("PNG", size=(128, 128), seed=5))
    middle = len(data) // 2
    data[middle : middle + 64] = b"\x00" * 64
    assert rejected(bytes(data)).code == "image_corrupt"


def test_file_over_the_size_limit_is_refused_before_decoding():
    error = rejected(b"\x89PNG" + b"\0" * 5000, max_bytes=4096)
    assert error.code == "file_too_large"
    assert "limit" in error.message


def test_decompression_bomb_is_refused_by_pixel_count():
    buffer = io.BytesIO()
    Image.new("1", (12000, 12000)).save(buffer, format="PNG")  # 144 megapixels in a small file
    data = buffer.getvalue()
    assert len(data) < LIMITS["max_bytes"]
    error = rejected(data)
    assert error.code == "image_too_many_pixels"
    assert "megapixels" in error.message or "pixels" in error.message


@pytest.mark.parametrize(
    "data, name",
    [
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "PDF"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', "SVG"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 64, "HEIC"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\0" * 64, "AVIF"),
        (b"8BPS\x00\x01" + b"\0" * 64, "Photoshop"),
    ],
)
def test_known_but_unsupported_formats_are_named(data, name):
    error = rejected(data)
    assert error.code == "unsupported_format"
    assert name in error.message


def test_zip_archive_renamed_to_jpg_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hi")
    assert rejected(buffer.getvalue()).code == "unsupported_format"


def test_format_pillow_could_read_but_we_do_not_support_is_refused():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, format="ICO")
    assert rejected(buffer.getvalue()).code == "unsupported_format"
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(buffer, format="PCX")
    assert rejected(buffer.getvalue()).code == "not_an_image"
