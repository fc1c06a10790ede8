"""EXIF: the Software tag (also a PNG 'Software' text chunk) and the camera settings."""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass

from PIL import Image

from .. import NEUTRAL, NONE, TOWARDS_AI, TOWARDS_HUMAN, WEAK, Finding
from .containers import Container
from .findings import could_not_read, describe_error, make_finding, one_line, part
from .vocabulary import generator_named

# Codes of the sentences this module writes (findings.py says how they are used).
CODE_SOFTWARE_GENERATOR = "provenance.software.generator"  # source, software, generator
CODE_SOFTWARE = "provenance.software.plain"  # source, software
CODE_SOURCE_EXIF_SOFTWARE = "provenance.software.source_exif"
CODE_SOURCE_PNG_SOFTWARE = "provenance.software.source_png"
CODE_CAMERA_EXIF = "provenance.camera_exif"  # settings
CODE_CAMERA_EXIF_PARTIAL = "provenance.camera_exif_partial"  # settings

EXIF_IFD_POINTER = 0x8769
_EXIF_MAKE, _EXIF_MODEL, _EXIF_SOFTWARE = 0x010F, 0x0110, 0x0131
_EXIF_EXPOSURE_TIME, _EXIF_F_NUMBER, _EXIF_ISO = 0x829A, 0x829D, 0x8827
_EXIF_DATETIME_ORIGINAL, _EXIF_FOCAL_LENGTH, _EXIF_LENS_MODEL = 0x9003, 0x920A, 0xA434


@dataclass
class ExifRead:
    """The file's EXIF, or the UNREADABLE finding saying why it could not be read."""

    exif: Image.Exif | None = None
    problem: Finding | None = None


def guarded_exif(container: Container) -> ExifRead:
    """The file's EXIF (the first real EXIF block), or the reason it could not be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on every damaged tag
            if container.tiff_exif is not None:
                return ExifRead(exif=container.tiff_exif)
            if not container.exif_blocks:
                return ExifRead()
            exif = Image.Exif()
            exif.load(container.exif_blocks[0])
            return ExifRead(exif=exif)
    except Exception as exc:
        return ExifRead(problem=could_not_read("camera_exif", "The EXIF metadata", describe_error(exc)))


def _exif_text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return ""
    return one_line(value.replace("\x00", " "), 200)


def software_tag_findings(container: Container, exif_read: ExifRead) -> list[Finding]:
    """Findings of the EXIF Software tag and PNG 'Software' chunks (each value once)."""
    values: list[tuple[str, str]] = []
    if exif_read.exif is not None:
        software = _exif_text(exif_read.exif.get(_EXIF_SOFTWARE))
        if software:
            values.append(("EXIF Software tag", software))
    for chunk in container.text_chunks:
        if chunk.keyword.lower() == "software" and chunk.text.strip():
            values.append(("PNG 'Software' text chunk", one_line(chunk.text, 200)))
    findings, seen = [], set()
    for source, software in values:
        if software in seen:
            continue
        seen.add(software)
        generator = generator_named(software)
        if generator:
            findings.append(
                make_finding(
                    "software_tag", TOWARDS_AI, WEAK,
                    f"{source} names an AI image generator: '{software}' ({generator}); "
                    "unsigned, easily added or copied.",
                    CODE_SOFTWARE_GENERATOR,
                    {"source": _software_source_part(source), "software": software, "generator": generator},
                    software=software, source=source, generator=generator,
                )
            )
        else:
            line = f"{source}: {software}."
            params = {"source": _software_source_part(source), "software": software}
            findings.append(make_finding("software_tag", NEUTRAL, NONE, line, CODE_SOFTWARE, params, software=software, source=source))
    return findings


def _software_source_part(source: str) -> dict:
    return part(CODE_SOURCE_EXIF_SOFTWARE if source.startswith("EXIF") else CODE_SOURCE_PNG_SOFTWARE)


def camera_exif_findings(exif_read: ExifRead) -> list[Finding]:
    """The camera-EXIF finding: weak towards human when make, model and exposure agree."""
    if exif_read.problem is not None:
        return [exif_read.problem]
    exif = exif_read.exif
    if exif is None:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exif_ifd = exif.get_ifd(EXIF_IFD_POINTER) if EXIF_IFD_POINTER in exif else {}
    make, model = _exif_text(exif.get(_EXIF_MAKE)), _exif_text(exif.get(_EXIF_MODEL))
    exposure_time = _exif_number(exif_ifd.get(_EXIF_EXPOSURE_TIME), 1e-6, 3600)
    f_number = _exif_number(exif_ifd.get(_EXIF_F_NUMBER), 0.5, 128)
    iso_value = exif_ifd.get(_EXIF_ISO)
    iso = _exif_number(iso_value[0] if isinstance(iso_value, tuple) and iso_value else iso_value, 1, 10_000_000)
    focal_length = _exif_number(exif_ifd.get(_EXIF_FOCAL_LENGTH), 0.5, 5000)
    lens_model = _exif_text(exif_ifd.get(_EXIF_LENS_MODEL))
    taken_at = _exif_date(_exif_text(exif_ifd.get(_EXIF_DATETIME_ORIGINAL)))

    details = {
        "make": make or None,
        "model": model or None,
        "exposure_time_s": exposure_time,
        "f_number": f_number,
        "iso": iso,
        "focal_length_mm": focal_length,
        "lens_model": lens_model or None,
        "datetime_original": taken_at,
    }
    if not any(value is not None for value in details.values()):
        return []
    camera = model if make and model.lower().startswith(make.split()[0].lower()) else f"{make} {model}".strip()
    shown = [camera] if camera else []
    if exposure_time is not None:
        shown.append(f"1/{round(1 / exposure_time)} s" if exposure_time < 0.5 else f"{exposure_time:g} s")
    if f_number is not None:
        shown.append(f"f/{f_number:g}")
    if iso is not None:
        shown.append(f"ISO {iso:g}")
    if focal_length is not None:
        shown.append(f"{focal_length:g} mm")
    if lens_model:
        shown.append(lens_model)
    if taken_at:
        shown.append(taken_at)
    exposure_fields = sum(value is not None for value in (exposure_time, f_number, iso, focal_length))
    if make and model and exposure_fields >= 2:
        # Weak: EXIF is trivially forged and editors copy it onto whatever they export.
        settings = ", ".join(shown)
        return [make_finding("camera_exif", TOWARDS_HUMAN, WEAK, "Camera EXIF: " + settings, CODE_CAMERA_EXIF, {"settings": settings}, **details)]
    return [
        make_finding(
            "camera_exif", NEUTRAL, NONE,
            "Partial camera EXIF (" + ", ".join(shown) + "): too incomplete to count as a camera capture.",
            CODE_CAMERA_EXIF_PARTIAL, {"settings": ", ".join(shown)},
            **details,
        )
    ]


def _exif_number(value, low: float, high: float) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def _exif_date(text: str) -> str | None:
    match = re.match(r"(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2})", text)
    if match:
        year, month, day, hour, minute = match.groups()
        return f"{year}-{month}-{day} {hour}:{minute}"
    return text or None
