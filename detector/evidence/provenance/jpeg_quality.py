"""How hard a JPEG was compressed, read from its quantisation tables.

A file saved at a low JPEG quality is often a copy that a sharing service, a messenger or a
"save for web" has re-compressed, and often downscaled too. The pixel classifier reads traces
that such a re-save weakens (measured in docs/model/MODEL_CARD.md: after JPEG q75 + half size its
ROC AUC falls by about 0.05 and about twice as many AI images read "likely human-made"). So
the file's quality is shown to reviewers, for information only: it never moves the score, and a
low quality says nothing about who made the picture.

The estimate is the libjpeg (IJG) quality whose standard luminance table is nearest the file's
first table. Cameras and editors that use their own tables get the nearest IJG quality, which
is what "about" in the sentence means.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image

from .. import NEUTRAL, NONE, Finding
from .findings import LAYER

CODE_JPEG_LOW_QUALITY = "provenance.jpeg_low_quality"

# Phones and cameras save at about 85-100 (a compact camera's "normal" mode at 80), editors' defaults
# at 85 or more; messengers and sharing services re-compress to about 60-80. Below 80 is rarely an
# original (in our corpora: stripped-EXIF copies, and the JPEG q75 re-save the model card measures).
LOW_QUALITY_BELOW = 80


@lru_cache(maxsize=1)
def _reference_tables() -> dict[int, tuple[int, ...]]:
    """Pillow's (libjpeg's) first quantisation table at each quality 1-100, read back the way a file's is."""
    tables = {}
    tiny = Image.new("L", (8, 8))
    for quality in range(1, 101):
        buffer = io.BytesIO()
        tiny.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as reopened:
            tables[quality] = tuple(reopened.quantization[0])
    return tables


def estimate_jpeg_quality(data: bytes) -> int | None:
    """The IJG quality (1-100) nearest the JPEG's luminance table, or None when `data` is not a
    JPEG or has no readable table."""
    if not data.startswith(b"\xff\xd8"):
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            tables = getattr(image, "quantization", None) or {}
            table = tables.get(0) or next(iter(tables.values()), None)
    except Exception:  # a table we cannot read is no evidence either way
        return None
    if not table or len(table) != 64:
        return None
    table = tuple(int(v) for v in table)
    distances = {q: sum(abs(a - b) for a, b in zip(table, ref)) for q, ref in _reference_tables().items()}
    return min(distances, key=lambda q: (distances[q], -q))


def jpeg_quality_findings(data: bytes) -> list[Finding]:
    """An information finding when the file is a JPEG saved below LOW_QUALITY_BELOW."""
    quality = estimate_jpeg_quality(data)
    if quality is None or quality >= LOW_QUALITY_BELOW:
        return []
    line = (f"Saved as a JPEG at about quality {quality}, lower than cameras and editing programs usually save: it may be a "
            "re-compressed copy. The pixel classifier is less reliable on re-compressed or downscaled copies; if "
            "the verdict matters, ask for the original file.")
    return [Finding(layer=LAYER, signal="jpeg_quality", direction=NEUTRAL, strength=NONE, line=line,
                    details={"estimated_quality": quality, "low_below": LOW_QUALITY_BELOW},
                    code=CODE_JPEG_LOW_QUALITY, params={"quality": quality})]
