"""A corpus of malformed and hostile files, built with Pillow and by hand at test time.

Each entry: (name, bytes, expectation) where expectation is "scored" (a correct score) or the
4xx status the API must answer. Nothing here is a committed binary.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw, PngImagePlugin


def _picture(size=(256, 192), mode="RGB", seed=0) -> Image.Image:
    image = Image.new("RGB", size, (30 + seed % 200, 90, 160))
    draw = ImageDraw.Draw(image)
    for i in range(12):
        draw.ellipse([i * 17 % size[0], i * 11 % size[1], i * 17 % size[0] + 40, i * 11 % size[1] + 30],
                     fill=(i * 20 % 256, 200 - i * 9, (seed * 7 + i * 31) % 256))
    return image.convert(mode) if mode != "RGB" else image


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid-looking PNG header claiming a huge image, with a tiny (lying) IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _gif_bomb() -> bytes:
    """GIF89a with a 65535x65535 logical screen and a 1x1 frame."""
    return (b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
            + b"\x2c" + struct.pack("<HHHH", 0, 0, 65535, 65535) + b"\x00" + b"\x02\x02\x44\x01\x00" + b"\x3b")


def _jpeg_with_exif_orientation(orientation: int) -> bytes:
    image = _picture((240, 160), seed=orientation)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(image, "JPEG", quality=90, exif=exif.tobytes())


def _insert_after_soi(jpeg: bytes, segment: bytes) -> bytes:
    return jpeg[:2] + segment + jpeg[2:]


def _app_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _animated(fmt: str) -> bytes:
    frames = [_picture((160, 120), seed=i) for i in range(4)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format=fmt, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return buffer.getvalue()


def _png_with_text(key: str, value: str, compressed: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    if compressed:
        info.add_text(key, value, zip=True)
    else:
        info.add_itxt(key, value)
    return _save(_picture(), "PNG", pnginfo=info)


def _zip_bytes() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "not an image")
    return buffer.getvalue()


def hostile_corpus() -> list[tuple[str, bytes, object]]:
    jpeg = _save(_picture(), "JPEG", quality=90)
    png = _save(_picture(), "PNG")
    webp = _save(_picture(), "WEBP", quality=80)
    gif = _save(_picture().convert("P"), "GIF")
    tiff = _save(_picture(), "TIFF")
    corpus: list[tuple[str, bytes, object]] = [
        # Truncated and damaged files.
        ("truncated-jpeg-half.jpg", jpeg[: len(jpeg) // 2], 422),
        ("truncated-jpeg-header.jpg", jpeg[:200], 422),
        ("truncated-jpeg-soi-only.jpg", jpeg[:2], 415),
        ("truncated-png-half.png", png[: len(png) // 2], 422),
        ("truncated-png-signature.png", png[:8], 415),
        ("truncated-png-no-iend.png", png[:-12], "scored_or_422"),
        ("truncated-webp.webp", webp[: len(webp) // 2], 422),
        ("truncated-gif.gif", gif[: len(gif) // 2], 422),
        ("truncated-tiff.tif", tiff[: len(tiff) // 3], 422),
        ("png-bad-crc.png", png[:29] + bytes([png[29] ^ 0xFF]) + png[30:], 415),
        ("jpeg-garbage-after-soi.jpg", b"\xff\xd8" + bytes(range(256)) * 8, 415),
        ("empty.jpg", b"", 400),
        ("random-bytes.bin", bytes((i * 7919) % 256 for i in range(4096)), 415),
        ("text.jpg", b"hello, this is not an image\n" * 50, 415),
        ("zero-width.png", _png_bomb(0, 10), 415),
        # Decompression bombs and extreme sizes.
        ("png-bomb-50000x50000.png", _png_bomb(50000, 50000), 413),
        ("png-bomb-100000x1.png", _png_bomb(100000, 1000), 413),
        ("gif-bomb-65535.gif", _gif_bomb(), "4xx"),
        ("extreme-aspect-1x4000.png", _save(_picture((1, 4000)), "PNG"), "scored"),
        ("extreme-aspect-4000x1.png", _save(_picture((4000, 1)), "PNG"), "scored"),
        ("tiny-1x1.png", _save(_picture((1, 1)), "PNG"), "scored"),
        # Colour modes and bit depths.
        ("cmyk.jpg", _save(_picture(mode="CMYK"), "JPEG"), "scored"),
        ("cmyk.tif", _save(_picture(mode="CMYK"), "TIFF"), "scored"),
        ("16-bit-grey.png", _save(_picture().convert("I;16"), "PNG"), "scored"),
        ("32-bit-int.tif", _save(_picture().convert("I"), "TIFF"), "scored"),
        ("float.tif", _save(_picture().convert("F"), "TIFF"), "scored"),
        ("palette-transparency.png", _save(_picture().convert("P"), "PNG", transparency=0), "scored"),
        ("rgba.png", _save(_picture(mode="RGBA"), "PNG"), "scored"),
        ("la.png", _save(_picture(mode="LA"), "PNG"), "scored"),
        ("1-bit.png", _save(_picture(mode="1"), "PNG"), "scored"),
        ("grey.jpg", _save(_picture(mode="L"), "JPEG"), "scored"),
        ("rgba.webp", _save(_picture(mode="RGBA"), "WEBP"), "scored"),
        ("bmp.bmp", _save(_picture(), "BMP"), "scored"),
        ("multi-page.tif", _save(_picture(), "TIFF", save_all=True, append_images=[_picture(seed=3)]), "scored"),
        # Animation.
        ("animated.gif", _animated("GIF"), "scored"),
        ("animated.webp", _animated("WEBP"), "scored"),
        # Formats we do not take, by content or by lying extension.
        ("heic.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200, 415),
        ("avif.jpg", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 200, 415),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>', 415),
        ("xml-svg.png", b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "a">]><svg xmlns="http://www.w3.org/2000/svg"/>', 415),
        ("document.pdf.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", 415),
        ("photoshop.jpg", b"8BPS\x00\x01" + b"\x00" * 100, 415),
        ("icon.ico", _save(_picture((32, 32)), "ICO"), 415),
        ("archive.zip.png", _zip_bytes(), 415),
        ("postscript.jpg", b"%!PS-Adobe-3.0\n%%EOF", 415),
        ("html.png", b"<html><body><img src=x onerror=alert(1)></body></html>", 415),
        # Polyglots: a valid image with something else attached is scored as the image.
        ("jpeg-plus-zip.jpg", jpeg + _zip_bytes(), "scored"),
        ("png-plus-html.png", png + b"<script>alert(1)</script>", "scored"),
        ("gif-plus-js.gif", gif + b"/*" + b"alert(1)//", "scored"),
        # EXIF orientation variants (1..8) and malformed metadata.
        *[(f"exif-orientation-{o}.jpg", _jpeg_with_exif_orientation(o), "scored") for o in range(1, 9)],
        ("exif-orientation-99.jpg", _jpeg_with_exif_orientation(99), "scored"),
        ("garbage-exif.jpg", _insert_after_soi(jpeg, _app_segment(0xE1, b"Exif\x00\x00" + b"\xde\xad\xbe\xef" * 40)), "scored"),
        ("garbage-xmp.jpg", _insert_after_soi(jpeg, _app_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:RDF")), "scored"),
        ("xmp-entity-bomb.jpg", _insert_after_soi(jpeg, _app_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00"
            b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>')), "scored"),
        ("broken-c2pa-jumbf.jpg", _insert_after_soi(jpeg, _app_segment(0xEB, b"JP\x00\x01\x00\x00\x00\x01" + b"\xff" * 300)), "scored"),
        ("huge-comment.jpg", _insert_after_soi(jpeg, _app_segment(0xFE, b"A" * 60000)), "scored"),
        ("huge-itxt.png", _png_with_text("parameters", "Steps: 20, " * 30000), "scored"),
        ("ztxt-bomb.png", _png_with_text("Comment", "\x00" * 5_000_000, compressed=True), 422),
        ("chunk-after-iend.png", png + _png_chunk(b"tEXt", b"parameters\x00Steps: 20, Sampler: Euler"), "scored"),
    ]
    return corpus
