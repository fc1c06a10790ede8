"""The Stable Diffusion invisible-watermark reader (detector.evidence.watermark)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from imwatermark import WatermarkDecoder, WatermarkEncoder
from PIL import Image

from detector.evidence import MODERATE, TOWARDS_AI
from detector.evidence import watermark as wm

from ..images import photo_like

SHARED_TRAIN = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "train"




def imwatermark_sdxl(image: Image.Image) -> Image.Image:
    """SDXL's message embedded with imwatermark's encoder straight on the 8-bit BGR pixels."""
    encoder = WatermarkEncoder()
    encoder.set_watermark("bits", wm.SDXL_WATERMARK_BITS)
    bgr = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
    return Image.fromarray(np.ascontiguousarray(encoder.encode(bgr, "dwtDct")[:, :, ::-1]))


@pytest.fixture(scope="module")
def carrier() -> Image.Image:
    return photo_like(5)


@pytest.fixture(scope="module")
def marked(carrier) -> Image.Image:
    return wm.embed_sd_watermark(carrier, "sdxl")


def test_sdxl_message_written_by_imwatermark_is_found(carrier):
    finding = wm.detect_sd_watermark(imwatermark_sdxl(carrier))

    assert finding is not None
    assert (finding.layer, finding.signal, finding.direction, finding.strength) == ("watermark", "sd_watermark", TOWARDS_AI, MODERATE)
    assert finding.verified is False
    assert finding.details["message"] == "sdxl"
    assert finding.details["bits_total"] == 48
    assert finding.details["bits_matched"] >= 44
    assert finding.details["ber"] <= wm.MAX_BIT_ERROR_RATE
    assert "Stable Diffusion XL" in finding.line
    assert f"{finding.details['bits_matched']} of 48 bits match" in finding.line


@pytest.mark.parametrize("message, bits", [("sdxl", 48), ("sd1", 136), ("sd2", 32)])
def test_reference_embedding_is_found_as_its_own_message(carrier, message, bits):
    finding = wm.detect_sd_watermark(wm.embed_sd_watermark(carrier, message))

    assert finding is not None
    assert finding.details["message"] == message
    assert finding.details["bits_total"] == bits


def test_reading_survives_png_but_not_jpeg(marked, tmp_path):
    marked.save(tmp_path / "marked.png")
    marked.save(tmp_path / "marked.jpg", quality=75)

    assert wm.detect_sd_watermark(Image.open(tmp_path / "marked.png")) is not None
    assert wm.detect_sd_watermark(Image.open(tmp_path / "marked.jpg")) is None  # documented: fragile


def test_vectorised_reading_equals_imwatermark_decoder():
    # 700x1100: taller than one band, width not a multiple of 8, so bands and trimming are exercised
    image = wm.embed_sd_watermark(photo_like(3, size=(700, 1100)), "sdxl")
    rgb = np.asarray(image)
    for path in (wm.UINT8_BGR, wm.FLOAT_BGR, wm.FLOAT_RGB):
        block_bits = wm.read_block_bits(rgb, path)
        pixels = wm._pixels_for_path(rgb, path)
        for length in (48, 136, 32):
            expected = np.asarray(WatermarkDecoder("bits", length).decode(pixels, "dwtDct"), dtype=bool)
            assert (wm.majority_bits(block_bits, length) == expected).all(), (path, length)


def test_drawn_images_without_watermark_are_not_matched():
    for seed in range(6):
        image = photo_like(seed)
        assert wm.detect_sd_watermark(image) is None
        assert all(r["bits_matched"] < r["bits_total"] - wm.MESSAGES[r["message"]].max_errors for r in wm.watermark_readings(image))
    for colour in ("white", "black", (128, 128, 128), (255, 0, 0), (10, 200, 30)):
        assert wm.detect_sd_watermark(Image.new("RGB", (512, 512), colour)) is None


def test_real_photos_are_not_matched():
    manifest = SHARED_TRAIN / "MANIFEST.csv"
    if not manifest.exists():
        pytest.skip("the shared corpus (../shared/data/train) is absent")
    with open(manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] == "real" and int(r["width"]) >= 256 and int(r["height"]) >= 256]
    picked = rows[::max(1, len(rows) // 30)][:30]
    assert picked
    for row in picked:
        assert wm.detect_sd_watermark(Image.open(SHARED_TRAIN / row["path"])) is None, row["path"]


@pytest.mark.parametrize("size", [(1, 1), (100, 100), (255, 255), (256, 255), (5, 20000), (20000, 5)])
def test_images_too_small_for_the_watermark_give_none(size):
    assert wm.detect_sd_watermark(Image.new("RGB", size, "gray")) is None


def test_embedding_refuses_small_images_and_unknown_messages(carrier):
    with pytest.raises(ValueError, match="too small"):
        wm.embed_sd_watermark(Image.new("RGB", (200, 200)))
    with pytest.raises(ValueError, match="Unknown watermark message"):
        wm.embed_sd_watermark(carrier, "dalle")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "La", "RGBa", "L", "1", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "I;16B", "F"])
def test_any_mode_is_read_without_raising(marked, mode):
    if mode in ("I", "I;16", "I;16B", "F"):
        converted = Image.fromarray((np.asarray(marked.convert("L")).astype(np.uint16) * 257)).convert(mode)
    else:
        converted = marked.convert(mode)
    finding = wm.detect_sd_watermark(converted)
    if mode in ("RGBA", "RGBa"):  # the alpha channel is dropped, the colours are untouched
        assert finding is not None
    else:
        assert finding is None or finding.direction == TOWARDS_AI


def test_extreme_aspect_and_16_bit_images_do_not_raise():
    for image in (
        Image.new("RGB", (70000, 8), "white"),
        Image.new("RGB", (8, 70000), "white"),
        Image.new("I;16", (400, 300), 40000),
        Image.fromarray(np.random.default_rng(0).integers(0, 2**16, (300, 400), dtype=np.uint16)),
    ):
        assert wm.detect_sd_watermark(image) is None


def test_large_images_are_read_on_their_top_band_without_rescaling(carrier, monkeypatch):
    tall = Image.new("RGB", (640, 960), "white")
    tall.paste(carrier, (0, 0))
    marked = wm.embed_sd_watermark(tall, "sdxl")
    # the white lower half is where the embedding clips; cap the reading to the top 480 rows
    monkeypatch.setattr(wm, "MAX_DECODE_PIXELS", 640 * 480)
    finding = wm.detect_sd_watermark(marked)
    assert finding is not None and finding.details["message"] == "sdxl"


def test_decoder_failure_gives_none(monkeypatch, carrier):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(wm, "read_block_bits", broken)
    assert wm.detect_sd_watermark(carrier) is None
