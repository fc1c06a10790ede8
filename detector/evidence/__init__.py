"""Evidence about an image beyond the pixel classifier: provenance metadata, invisible
watermarks and known-image matching, plus the fusion rule that turns every finding into
P(AI) and a verdict.

Plain Python (Pillow, numpy and the layer's own library); no Django, no torch. Each layer
returns `Finding`s; Django code (detector.evidence_services) stores them as Evidence rows and the
fusion rule (fusion.py) reads them back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Which way a finding points.
TOWARDS_AI = "ai"
TOWARDS_HUMAN = "human"
NEUTRAL = "none"  # informational: read, shown, never moves the score
UNREADABLE = "unreadable"  # present but could not be parsed/validated; never moves the score
DIRECTIONS = (TOWARDS_AI, TOWARDS_HUMAN, NEUTRAL, UNREADABLE)

# How much a finding should move the score (fusion.py maps these to log-odds).
STRONG = "strong"
MODERATE = "moderate"
WEAK = "weak"
NONE = "none"
STRENGTHS = (STRONG, MODERATE, WEAK, NONE)

# A layer that could not run on a file (the web side writes it); params: layer, error.
CODE_CHECK_FAILED = "evidence.check_failed"


@dataclass(frozen=True)
class Finding:
    """One piece of evidence a reviewer can read.

    layer:     "provenance", "watermark", "known_image" or "classifier".
    signal:    what was found, e.g. "c2pa", "png_generator_parameters", "camera_exif",
               "xmp_digital_source_type", "software_tag", "sd_watermark", "reviewer_label_match".
    direction: TOWARDS_AI / TOWARDS_HUMAN / NEUTRAL / UNREADABLE.
    strength:  STRONG / MODERATE / WEAK / NONE.
    line:      one plain sentence for the result page ("PNG text chunk 'parameters' written by
               Automatic1111: prompt ..., Steps 20, Sampler Euler a").
    verified:  True only when a cryptographic check vouches for the finding (a C2PA manifest
               whose signature validated); unsigned markers are forgeable both ways.
    details:   JSON-ready facts behind the line (tags, values, validation codes...).
    code:      stable name of the sentence `line` says ("provenance.camera_exif"), declared as a
               CODE_* constant in the layer's module; the web side words it in the reader's
               language (detector/evidence_text.py) and falls back to `line` when it is empty.
    params:    the values that fill that sentence (plain JSON types; a value may itself be
               {"code", "params"}, a translatable part, and "more" a list of such parts that
               follow as further sentences).
    """

    layer: str
    signal: str
    direction: str
    strength: str
    line: str
    verified: bool = False
    details: dict = field(default_factory=dict)
    code: str = ""
    params: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.strength not in STRENGTHS:
            raise ValueError(f"strength must be one of {STRENGTHS}, got {self.strength!r}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Finding":
        known = {k: data[k] for k in ("layer", "signal", "direction", "strength", "line", "verified", "details", "code", "params") if k in data}
        return cls(**known)
