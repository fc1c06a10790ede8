"""Validate submitted image bytes before anything is stored.

Plain Python (no Django): limits are passed in, and messages are English, marked for
translation (the services show them in the reader's language). Size and pixel limits are
checked before any pixel is decoded; then the whole image is decoded once so truncated or
corrupt files are refused at the door rather than failing later in a worker.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .refusals import Refusal, gettext_noop

# Formats we store and score. Restricting Image.open to these also keeps Pillow from
# handing hostile input to plugins we never need (EPS would start Ghostscript).
# (Multi-picture JPEGs from phones open through the JPEG opener and report format "MPO".)
SUPPORTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# Recognisable files we do not accept, so the error can name them.
_KNOWN_UNSUPPORTED_SIGNATURES: list[tuple[bytes, int, str]] = [
    (b"%PDF", 0, "PDF document"),
    (b"8BPS", 0, "Photoshop (PSD)"),
    (b"ftypheic", 4, "HEIC"),
    (b"ftypheix", 4, "HEIC"),
    (b"ftyphevc", 4, "HEIC"),
    (b"ftypmif1", 4, "HEIF"),
    (b"ftypavif", 4, "AVIF"),
    (b"\x00\x00\x01\x00", 0, "Windows icon (ICO)"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"%!PS", 0, "PostScript"),
]


class ImageRejected(Refusal):
    """The bytes are not an image we can accept; ``code`` is stable, ``message`` is for people."""


@dataclass(frozen=True)
class ValidatedImage:
    sha256: str
    format: str
    width: int
    height: int
    size_bytes: int


def _describe_unsupported(head: bytes) -> str | None:
    for signature, offset, name in _KNOWN_UNSUPPORTED_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    text = head[:512].lstrip().lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head.lower()):
        return "SVG vector graphic"
    return None


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def image_validate(data: bytes, *, max_bytes: int, max_pixels: int) -> ValidatedImage:
    """Check that ``data`` is a complete, supported raster image within the limits.

    Raises ImageRejected with codes: empty_file, file_too_large, unsupported_format,
    not_an_image, image_too_many_pixels, image_corrupt.
    """
    size = len(data)
    if size == 0:
        raise ImageRejected("empty_file", gettext_noop("The file is empty."))
    if size > max_bytes:
        raise ImageRejected(
            "file_too_large",
            gettext_noop("The file is %(size)s; the limit is %(limit)s."),
            {"size": _mb(size), "limit": _mb(max_bytes)},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageRejected(
            "image_too_many_pixels", gettext_noop("The image has too many pixels (%(detail)s)."), {"detail": exc}
        ) from exc
    except Image.DecompressionBombWarning:
        raise ImageRejected("image_too_many_pixels", gettext_noop("The image has too many pixels.")) from None
    except UnidentifiedImageError:
        unsupported = _describe_unsupported(data[:1024])
        if unsupported:
            raise ImageRejected(
                "unsupported_format",
                gettext_noop("%(format)s files are not supported. Please send JPEG, PNG, WebP, GIF, BMP or TIFF."),
                {"format": unsupported},
            ) from None
        raise ImageRejected(
            "not_an_image",
            gettext_noop("The file is not an image we can read. Please send JPEG, PNG, WebP, GIF, BMP or TIFF."),
        ) from None
    except ValueError as exc:
        if "Decompressed Data Too Large" in str(exc) or "text chunks" in str(exc):
            raise ImageRejected(
                "image_metadata_too_large",
                gettext_noop(
                    "The image carries a compressed text block too large to read safely (a decompression bomb). "
                    "Remove the metadata (re-save the image) and try again."
                ),
            ) from exc
        raise _header_damaged(exc) from exc
    except Exception as exc:  # Pillow raises many types for hostile headers
        raise _header_damaged(exc) from exc

    with image:
        width, height = image.size
        image_format = image.format or ""
        if width < 1 or height < 1:
            raise ImageRejected("image_corrupt", gettext_noop("The image has no pixels."))
        if width * height > max_pixels:
            raise ImageRejected(
                "image_too_many_pixels",
                gettext_noop(
                    "The image is %(width)sx%(height)s pixels (%(megapixels)s megapixels); "
                    "the limit is %(limit)s megapixels."
                ),
                {
                    "width": width, "height": height, "megapixels": f"{width * height / 1e6:.0f}",
                    "limit": f"{max_pixels / 1e6:.0f}",
                },
            )
        _decode_fully(image)
    return ValidatedImage(
        sha256=hashlib.sha256(data).hexdigest(),
        format=image_format,
        width=width,
        height=height,
        size_bytes=size,
    )


def _header_damaged(exc: Exception) -> ImageRejected:
    return ImageRejected(
        "image_corrupt",
        gettext_noop("The image header is damaged and cannot be read (%(error)s)."),
        {"error": type(exc).__name__},
    )


def _decode_fully(image: Image.Image) -> None:
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("image_too_many_pixels", gettext_noop("The image has too many pixels.")) from None
    except Exception as exc:
        raise ImageRejected(
            "image_corrupt",
            gettext_noop("The image is truncated or corrupt and cannot be decoded completely."),
        ) from exc
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def image_open_for_scoring(data: bytes) -> Image.Image:
    """Open stored, already validated bytes as an upright RGB-ready Pillow image."""
    image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    image.load()
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:
        # A malformed orientation tag must not stop scoring; score the pixels as stored.
        pass
    return image
