"""Visible marks that generators stamp on their output, found by template matching at the
corner, position and scale where each generator puts its mark.

A visible mark is unverified: anyone can paint one on a real photo, and anyone can crop or
paint it out. So a found mark is at most MODERATE evidence towards AI, never verified, and
its absence says nothing. The templates are drawn here, by our own code; nothing is
downloaded.

Marks (what each generator stamps, and where):

- `gemini_sparkle`: Gemini / Nano Banana (Gemini 2.5 Flash Image, Gemini 3 Pro Image). A
  four-pointed star with concave sides, white, alpha-blended at about 50% in the bottom-right
  corner: 48x48 px at 32 px from the right and bottom edges, or 96x96 px at 64 px when both
  sides exceed 1024 px (the rule documented by the open-source reverse-alpha removers, and
  what the corpus's Nano Banana Pro images show). Drawn as |x|^0.75 + |y|^0.75 <= 1 (tip to
  tip = the mark's size): ZNCC 0.977 against the mark on a black background, against 0.83
  for a diamond. Reposts are resized, so every size from 2.2% to 8% of the short side is
  tried, always with the margin at 2/3 of the size (the ratio of both documented layouts),
  +-(10% of the size + 2 px) for crops and rounding.
- `dalle2_colour_strip`: DALL-E 2. Five squares, yellow (255,255,102), cyan (66,255,255),
  green (81,218,76), orange-red (255,110,60), blue (60,70,255), each 16x16 px on a
  1024x1024 image, flush with the bottom-right corner (read off the corpus's DALL-E 2 images,
  all of which carry it). Square sides of 3-40 px are tried, flush or up to 2 px in.
- `meta_imagined_with_ai`: Meta AI ("Imagine with Meta AI") writes "Imagined with AI" in
  white in the bottom-left corner of its photorealistic images (Meta's announcements; press
  screenshots). No genuine Meta AI image is held, so the template (the words in Pillow's
  bundled sans-serif, white on a darker ground) is not checked against real output: it is
  searched over the bottom-left band, and counts as WEAK whatever its false-match figure.

Match rules and what they may decide are in MARKS (thresholds) and MARK_STRENGTH; the
measured figures are in docs/evidence.md ("Visible AI marks") and come from
`bench/visible_marks.py`.

Cost: only corner crops are read (at most 16% of the short side for the sparkle, a
16x210 px strip, and the bottom-left band scaled to 512 px wide for the label).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from . import MODERATE, TOWARDS_AI, WEAK, Finding
from .watermark import rgb_uint8

logger = logging.getLogger(__name__)

MIN_SIDE = 96  # smaller images: no mark could be told from noise at the sizes searched
FLAT_VARIANCE = 4.0  # grey-level variance under which a window is flat: no template can match there


@dataclass(frozen=True)
class VisibleMark:
    name: str
    generator: str
    what: str  # the mark, in words, for the evidence line
    corner: str


MARKS = {
    "gemini_sparkle": VisibleMark(
        "gemini_sparkle", "Google Gemini / Nano Banana", "Gemini's four-pointed sparkle", "bottom-right"
    ),
    "dalle2_colour_strip": VisibleMark(
        "dalle2_colour_strip", "OpenAI DALL-E 2", "DALL-E 2's strip of five coloured squares", "bottom-right"
    ),
    "meta_imagined_with_ai": VisibleMark(
        "meta_imagined_with_ai", "Meta AI (Imagine)", "Meta AI's \"Imagined with AI\" label", "bottom-left"
    ),
}

# Stable codes of the evidence sentence for each mark (worded by detector/evidence_text.py);
# params: generator.
CODE_GEMINI_SPARKLE = "visible_mark.gemini_sparkle"
CODE_DALLE2_COLOUR_STRIP = "visible_mark.dalle2_colour_strip"
CODE_META_IMAGINED_WITH_AI = "visible_mark.meta_imagined_with_ai"
MARK_CODES = {
    "gemini_sparkle": CODE_GEMINI_SPARKLE,
    "dalle2_colour_strip": CODE_DALLE2_COLOUR_STRIP,
    "meta_imagined_with_ai": CODE_META_IMAGINED_WITH_AI,
}

# What a found mark may weigh in the fusion rule. MODERATE only for a mark with no false match
# on the real corpus (docs/evidence.md, "Visible AI marks"); WEAK otherwise, or when its hits
# could not be measured on genuine output.
MARK_STRENGTH = {
    "gemini_sparkle": MODERATE,
    "dalle2_colour_strip": MODERATE,
    "meta_imagined_with_ai": WEAK,
}

# --- Gemini sparkle ----------------------------------------------------------------------------

SPARKLE_EXPONENT = 0.75  # |x|^p + |y|^p <= 1: concave sides
SPARKLE_MARGIN_RATIO = 2 / 3  # 32 px for 48 px, 64 px for 96 px
SPARKLE_SIZE_RANGE = (0.022, 0.08)  # mark size / short side
SPARKLE_MIN_PX = 10
SPARKLE_SCALE_STEP = 1.05
SPARKLE_PAD = 0.25  # ring of background around the star in the template, as a share of its size
SPARKLE_MIN_ZNCC = 0.80
SPARKLE_MIN_LEAD = 0.04  # the star must beat a diamond of the same size by this much
SPARKLE_MIN_BRIGHTENING = 10.0  # grey levels the star adds at its core
SPARKLE_MIN_WHITENING = 0.0  # ...and no channel may get darker (white over any colour raises all three)

# --- DALL-E 2 strip ----------------------------------------------------------------------------

DALLE2_COLOURS = ((255, 255, 102), (66, 255, 255), (81, 218, 76), (255, 110, 60), (60, 70, 255))
DALLE2_SQUARE_RANGE = (3, 40)  # px
DALLE2_MAX_INSET = 2  # px from the corner
DALLE2_MAX_COLOUR_ERROR = 40  # largest channel difference of a square's mean from its colour
DALLE2_MAX_SPREAD = 24  # a square's channel standard deviation (it is flat)

# --- Meta label --------------------------------------------------------------------------------

META_TEXT = "Imagined with AI"
META_BAND = (0.45, 0.14)  # the bottom-left band searched: share of width, share of height
META_WORK_WIDTH = 512  # the band is read at this width (of the whole image)
META_TEXT_HEIGHT_RANGE = (7, 22)  # cap-to-descender height at the working width, px
META_MIN_ZNCC = 0.80
META_MIN_CONTRAST = 40.0  # grey levels between the letters and the ground around them


def _rgb(image: Image.Image) -> np.ndarray:
    return rgb_uint8(image)


def _grey(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


@lru_cache(maxsize=256)
def sparkle_template(size: int, exponent: float = SPARKLE_EXPONENT, pad: float = SPARKLE_PAD) -> np.ndarray:
    """Alpha of the sparkle, `size` px tip to tip, centred in a square with `pad * size` around it."""
    supersample = 4
    side = int(round(size * (1 + 2 * pad)))
    coords = (np.arange(side * supersample) + 0.5) / supersample - side / 2
    x = np.abs(coords)[None, :] / (size / 2)
    y = np.abs(coords)[:, None] / (size / 2)
    inside = (x**exponent + y**exponent <= 1).astype(np.float32)
    return inside.reshape(side, supersample, side, supersample).mean(axis=(1, 3))


def draw_sparkle(image: Image.Image, *, size: int | None = None, margin: int | None = None, centre=None, opacity=0.5):
    """A copy of `image` with the sparkle alpha-blended in white, as Gemini stamps it.

    By default at Gemini's place (48 px at 32 px from the bottom-right corner, 96/64 when both
    sides exceed 1024 px); `centre` (x, y) puts it elsewhere. For tests and measurements.
    """
    rgb = _rgb(image).astype(np.float32)
    height, width = rgb.shape[:2]
    if size is None:
        size = 96 if min(width, height) > 1024 else 48
    if margin is None:
        margin = round(size * SPARKLE_MARGIN_RATIO)
    alpha = sparkle_template(size, pad=0.0) * opacity
    if centre is None:
        left, top = width - margin - size, height - margin - size
    else:
        left, top = int(centre[0] - size / 2), int(centre[1] - size / 2)
    n = alpha.shape[0]
    region = rgb[top : top + n, left : left + n]
    a = alpha[: region.shape[0], : region.shape[1], None]
    rgb[top : top + n, left : left + n] = region * (1 - a) + 255.0 * a
    return Image.fromarray(rgb.round().clip(0, 255).astype(np.uint8), "RGB")


def _match(window: np.ndarray, template: np.ndarray) -> np.ndarray:
    """ZNCC of `template` at every position in `window`; 0 where the window is flat (there
    ZNCC is undefined and OpenCV reports 1)."""
    scores = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    th, tw = template.shape
    total, total_sq = cv2.integral2(window.astype(np.float64))[:2]
    rows, cols = scores.shape

    def box(table):
        return table[th : th + rows, tw : tw + cols] - table[:rows, tw : tw + cols] - table[th : th + rows, :cols] + table[:rows, :cols]

    n = th * tw
    variance = box(total_sq) / n - (box(total) / n) ** 2
    return np.where((variance > FLAT_VARIANCE) & np.isfinite(scores), scores, 0.0)


def _sparkle_sizes(width: int, height: int) -> list[int]:
    short_side = min(width, height)
    low = max(SPARKLE_MIN_PX, SPARKLE_SIZE_RANGE[0] * short_side)
    high = SPARKLE_SIZE_RANGE[1] * short_side
    sizes, size = [], low
    while size <= high:
        sizes.append(int(round(size)))
        size *= SPARKLE_SCALE_STEP
    # the unscaled layout for this image size is always tried exactly
    sizes.append(96 if short_side > 1024 else 48)
    return sorted(s for s in set(sizes) if s * (2 + SPARKLE_MARGIN_RATIO) <= short_side)


def _sparkle_reading(image: Image.Image) -> dict | None:
    width, height = image.size
    sizes = _sparkle_sizes(width, height)
    if not sizes:
        return None
    largest = max(sizes)
    reach = int(largest * (1 + SPARKLE_MARGIN_RATIO + SPARKLE_PAD + 0.1)) + 4
    left0, top0 = max(0, width - reach), max(0, height - reach)
    rgb = _rgb(image.crop((left0, top0, width, height))).astype(np.float32)
    grey = _grey(rgb)
    best = None
    for size in sizes:
        template = sparkle_template(size)
        n = template.shape[0]
        pad = (n - size) / 2
        margin = size * SPARKLE_MARGIN_RATIO
        jitter = int(0.1 * size) + 2
        x = int(round(width - margin - size - pad)) - left0
        y = int(round(height - margin - size - pad)) - top0
        x0, y0 = max(0, x - jitter), max(0, y - jitter)
        window = grey[y0 : y + jitter + n, x0 : x + jitter + n]
        if window.shape[0] < n or window.shape[1] < n:
            continue
        scores = _match(window, template)
        dy, dx = np.unravel_index(int(np.argmax(scores)), scores.shape)
        score = float(scores[dy, dx])
        if best is not None and score <= best["zncc"]:
            continue
        patch = window[dy : dy + n, dx : dx + n]
        diamond = sparkle_template(size, exponent=1.0)
        diamond_score = float(cv2.matchTemplate(patch, diamond, cv2.TM_CCOEFF_NORMED)[0, 0])
        core, ground = template > 0.99, template < 0.01
        brightening = float(patch[core].mean() - patch[ground].mean())
        colour = rgb[y0 + dy : y0 + dy + n, x0 + dx : x0 + dx + n]
        # white blended over any colour raises every channel: a coloured highlight is not the mark
        whitening = float(min(colour[..., c][core].mean() - colour[..., c][ground].mean() for c in range(3)))
        best = {
            "zncc": round(score, 4),
            "diamond_zncc": round(diamond_score, 4),
            "brightening": round(brightening, 1),
            "whitening": round(whitening, 1),
            "size_px": size,
            "right_px": int(width - (left0 + x0 + dx + pad + size)),
            "bottom_px": int(height - (top0 + y0 + dy + pad + size)),
        }
    return best


def _sparkle_found(reading: dict) -> bool:
    return (
        reading["zncc"] >= SPARKLE_MIN_ZNCC
        and reading["zncc"] - reading["diamond_zncc"] >= SPARKLE_MIN_LEAD
        and reading["brightening"] >= SPARKLE_MIN_BRIGHTENING
        and reading["whitening"] >= SPARKLE_MIN_WHITENING
    )


def draw_dalle2_strip(image: Image.Image, *, square: int | None = None) -> Image.Image:
    """A copy of `image` with DALL-E 2's five squares flush with its bottom-right corner."""
    out = image.convert("RGB").copy()
    width, height = out.size
    square = square or max(3, round(16 * width / 1024))
    draw = ImageDraw.Draw(out)
    for k, colour in enumerate(DALLE2_COLOURS):
        left = width - (5 - k) * square
        draw.rectangle((left, height - square, left + square - 1, height - 1), fill=colour)
    return out


def _dalle2_reading(image: Image.Image) -> dict | None:
    width, height = image.size
    high = min(DALLE2_SQUARE_RANGE[1], (width - DALLE2_MAX_INSET) // 5, height - DALLE2_MAX_INSET)
    if high < DALLE2_SQUARE_RANGE[0]:
        return None
    span_w, span_h = 5 * high + DALLE2_MAX_INSET, high + DALLE2_MAX_INSET
    rgb = _rgb(image.crop((width - span_w, height - span_h, width, height))).astype(np.float64)
    # integral images of the values and their squares: any rectangle's mean and spread in O(1)
    total = np.pad(rgb.cumsum(0).cumsum(1), ((1, 0), (1, 0), (0, 0)))
    total_sq = np.pad((rgb**2).cumsum(0).cumsum(1), ((1, 0), (1, 0), (0, 0)))
    colours = np.array(DALLE2_COLOURS, dtype=np.float64)

    def box(table, top, left, bottom, right):
        return table[bottom, right] - table[top, right] - table[bottom, left] + table[top, left]

    best = None
    for square in range(DALLE2_SQUARE_RANGE[0], high + 1):
        inner = max(1, square // 4)  # skip the squares' edges (resampling blurs them)
        for inset_x in range(DALLE2_MAX_INSET + 1):
            for inset_y in range(DALLE2_MAX_INSET + 1):
                bottom = span_h - inset_y - inner
                top = span_h - inset_y - square + inner
                if bottom - top < 1:
                    continue
                errors, spreads = [], []
                for k in range(5):
                    right = span_w - inset_x - (4 - k) * square - inner
                    left = right - square + 2 * inner
                    if right - left < 1:
                        break
                    count = (bottom - top) * (right - left)
                    mean = box(total, top, left, bottom, right) / count
                    var = box(total_sq, top, left, bottom, right) / count - mean**2
                    errors.append(float(np.abs(mean - colours[k]).max()))
                    spreads.append(float(np.sqrt(np.clip(var, 0, None)).max()))
                if len(errors) < 5:
                    continue
                error, spread = max(errors), max(spreads)
                if best is None or (error, spread) < (best["colour_error"], best["spread"]):
                    best = {
                        "colour_error": round(error, 1),
                        "spread": round(spread, 1),
                        "square_px": square,
                        "inset_px": [inset_x, inset_y],
                    }
    return best


def _dalle2_found(reading: dict) -> bool:
    return reading["colour_error"] <= DALLE2_MAX_COLOUR_ERROR and reading["spread"] <= DALLE2_MAX_SPREAD


@lru_cache(maxsize=64)
def meta_label_template(text_height: int) -> np.ndarray:
    """The words "Imagined with AI", white on black, about `text_height` px tall (grey, float32)."""
    font = ImageFont.load_default(size=max(6, int(round(text_height * 1.25))))
    left, top, right, bottom = font.getbbox(META_TEXT)
    pad = max(2, text_height // 3)
    canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), META_TEXT, fill=255, font=font)
    return np.asarray(canvas, dtype=np.float32)


def draw_meta_label(image: Image.Image, *, text_height: int | None = None, margin: int | None = None) -> Image.Image:
    """A copy of `image` with "Imagined with AI" in white at its bottom-left corner (for tests)."""
    out = image.convert("RGB").copy()
    width, height = out.size
    text_height = text_height or max(8, round(width * 0.022))
    margin = margin if margin is not None else text_height
    font = ImageFont.load_default(size=int(round(text_height * 1.25)))
    left, top, right, bottom = font.getbbox(META_TEXT)
    ImageDraw.Draw(out).text((margin - left, height - margin - (bottom - top) - top), META_TEXT, fill=(255, 255, 255), font=font)
    return out


def _meta_reading(image: Image.Image) -> dict | None:
    width, height = image.size
    band_w, band_h = int(width * META_BAND[0]), int(height * META_BAND[1])
    if band_w < 32 or band_h < 16:
        return None
    scale = META_WORK_WIDTH / width
    band = image.crop((0, height - band_h, band_w, height))
    work = band.resize((max(1, round(band_w * scale)), max(1, round(band_h * scale))), Image.BILINEAR)
    grey = _grey(_rgb(work))
    best = None
    for text_height in range(META_TEXT_HEIGHT_RANGE[0], META_TEXT_HEIGHT_RANGE[1] + 1):
        template = meta_label_template(text_height)
        if template.shape[0] > grey.shape[0] or template.shape[1] > grey.shape[1]:
            break
        scores = _match(grey, template)
        y, x = np.unravel_index(int(np.argmax(scores)), scores.shape)
        score = float(scores[y, x])
        if best is None or score > best["zncc"]:
            patch = grey[y : y + template.shape[0], x : x + template.shape[1]]
            contrast = float(patch[template > 200].mean() - patch[template < 20].mean())
            best = {"zncc": round(score, 4), "contrast": round(contrast, 1), "text_height_px": round(text_height / scale)}
    return best


def _meta_found(reading: dict) -> bool:
    return reading["zncc"] >= META_MIN_ZNCC and reading["contrast"] >= META_MIN_CONTRAST


_READERS = {
    "gemini_sparkle": (_sparkle_reading, _sparkle_found),
    "dalle2_colour_strip": (_dalle2_reading, _dalle2_found),
    "meta_imagined_with_ai": (_meta_reading, _meta_found),
}


def visible_mark_readings(image: Image.Image) -> dict[str, dict]:
    """The best match of every mark's template, found or not (for measurements and tests).

    Each reading has "found" (the mark's match rule) and the scores behind it.
    """
    width, height = image.size
    if min(width, height) < MIN_SIDE:
        return {}
    readings = {}
    for name, (read, found) in _READERS.items():
        reading = read(image)
        if reading is not None:
            readings[name] = {**reading, "found": found(reading)}
    return readings


def _line(mark: VisibleMark, reading: dict) -> str:
    return (
        f"A visible mark like {mark.what} ({mark.generator}) is in the {mark.corner} corner, "
        "where that generator puts it. A visible mark can be added to any picture, or removed, "
        "so it is a hint, not proof."
    )


def detect_visible_marks(image: Image.Image) -> list[Finding]:
    """TOWARDS_AI findings, one per visible generator mark found; [] when none is found.

    Never raises on a readable PIL image; a failure is logged and gives [].
    """
    try:
        readings = visible_mark_readings(image)
    except Exception:  # noqa: BLE001 - a failed reading must not fail scoring; absence proves nothing
        logger.warning("Visible-mark reader failed on a %s %s image", getattr(image, "mode", "?"), getattr(image, "size", "?"), exc_info=True)
        return []
    findings = []
    for name, reading in readings.items():
        if not reading["found"]:
            continue
        mark = MARKS[name]
        details = {k: v for k, v in reading.items() if k != "found"}
        findings.append(
            Finding(
                layer="visible_mark",
                signal=name,
                direction=TOWARDS_AI,
                strength=MARK_STRENGTH[name],
                line=_line(mark, reading),
                verified=False,  # anyone can paint the mark on a photo
                details={"generator": mark.generator, "corner": mark.corner, "could_be_added": True, **details},
                code=MARK_CODES[name],
                params={"generator": mark.generator},
            )
        )
    return findings
