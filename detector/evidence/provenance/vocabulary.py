"""Words that mark AI output: names of image generators and IPTC digital source type terms."""

from __future__ import annotations

import re

# Names of AI image generators and the front-ends that drive them, as they appear in
# Software / CreatorTool tags. Matched as whole words with optional separators inside
# ("DALL·E", "dall-e", "DALLE"), so "Imagen" does not match "Imagenomic".
GENERATOR_NAMES = (
    "Stable Diffusion",
    "Stability AI",
    "DreamStudio",
    "SDXL",
    "Automatic1111",
    "ComfyUI",
    "SwarmUI",
    "Midjourney",
    "DALL-E",
    "OpenAI",
    "ChatGPT",
    "Firefly",
    "Imagen",
    "Gemini",
    "NovelAI",
    "InvokeAI",
    "Fooocus",
    "Flux",
    "Leonardo.Ai",
    "Ideogram",
    "Seedream",
    "Dreamina",
    "Kandinsky",
    "NightCafe",
    "Craiyon",
    "Recraft",
    "Bing Image Creator",
    "DiffusionBee",
    "Draw Things",
    "Meta AI",
    # Microsoft's claim generator on Bing Image Creator / Designer output (DALL-E 3), which
    # declares no digital source type.
    "Responsible AI Image Provenance",
)
_GENERATOR_PATTERNS = [
    (name, re.compile(r"\b" + r"[\s\-_.·]*".join(map(re.escape, re.split(r"[\s\-_.·]+", name))) + r"\b", re.I))
    for name in GENERATOR_NAMES
]

# IPTC digital source type terms (http://cv.iptc.org/newscodes/digitalsourcetype/...).
AI_GENERATED = "trainedAlgorithmicMedia"
AI_COMPOSITE = "compositeWithTrainedAlgorithmicMedia"
HUMAN_SOURCE_TYPES = frozenset(
    {"digitalCapture", "computationalCapture", "negativeFilm", "positiveFilm", "compositeCapture", "digitalCreation"}
)


def generator_named(text: str) -> str | None:
    """The first generator of GENERATOR_NAMES that ``text`` names, or None."""
    for name, pattern in _GENERATOR_PATTERNS:
        if pattern.search(text):
            return name
    return None


def source_type_term(value: str) -> str:
    """'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture' -> 'digitalCapture'."""
    return re.split(r"[/#:]", value.strip().rstrip("/"))[-1]

