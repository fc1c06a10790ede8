"""The provenance layer's shared result helpers: building findings, JSON-safe details, short
sentences, and the sentence codes every reader of the layer uses."""

from __future__ import annotations

import math
import re

from .. import NONE, UNREADABLE, Finding

LAYER = "provenance"

# Stable codes of the sentences this layer writes: each finding carries one, with the values
# that fill the sentence in `params`, so the web side can word it in the reader's language
# (detector/evidence_text.py). A param may itself be {"code", "params"}: a translatable part.
# The codes of one container or standard sit in its module.
CODE_UNREADABLE = "provenance.unreadable"  # what, reason
CODE_TOO_LARGE = "provenance.too_large"  # what, size, limit
CODE_DAMAGED_CHUNK = "provenance.damaged_chunk"  # what
CODE_DECOMPRESSION_BOMB = "provenance.decompression_bomb"  # what, limit

MAX_DETAIL_STRING = 500
MAX_DETAIL_ITEMS = 50


def part(code: str, **params) -> dict:
    """A translatable piece of a sentence, kept as a code and the values that fill it."""
    return {"code": code, "params": params}


def make_finding(
    signal: str, direction: str, strength: str, line: str, code: str, params: dict | None = None,
    *, verified: bool = False, **details,
) -> Finding:
    """A provenance-layer Finding with a one-line sentence and JSON-safe details and params."""
    return Finding(
        layer=LAYER,
        signal=signal,
        direction=direction,
        strength=strength,
        line=one_line(line, 1000),
        verified=verified,
        details=json_safe(details),
        code=code,
        params=json_safe(params or {}),
    )


def unreadable_finding(signal: str, line: str, code: str, params: dict | None = None, **details) -> Finding:
    """An UNREADABLE finding: present but not readable, so it never moves the score."""
    return make_finding(signal, UNREADABLE, NONE, line, code, params, **details)


def could_not_read(signal: str, what: str, reason: str, **details) -> Finding:
    """'<what> could not be read: <reason>.' as an UNREADABLE finding."""
    line = f"{what} could not be read: {reason}."
    return unreadable_finding(signal, line, CODE_UNREADABLE, {"what": what, "reason": reason}, **details)


def guarded(signal: str, what: str, reader, *args) -> list[Finding]:
    """``reader(*args)``, or one UNREADABLE finding if it raises."""
    try:
        return reader(*args)
    except Exception as exc:  # a parser bug or hostile input must cost one finding, not the request
        return [could_not_read(signal, what, describe_error(exc))]


def describe_error(exc: BaseException) -> str:
    """'<ExceptionType>: <message>' fit to sit inside a sentence."""
    message = sentence(str(exc))
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def sentence(message: str, limit: int = 300) -> str:
    """A library message fit to sit inside a line: one line, no trailing punctuation."""
    return one_line(message, limit).rstrip(" .:;")


def one_line(text: str, limit: int) -> str:
    """``text`` on one line, without control characters, cut to ``limit`` characters."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def json_safe(value, depth: int = 0):
    """JSON-ready copy of ``value``: no bytes, strings and lists capped, depth bounded."""
    if value is None or isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        value = value.replace("\x00", "")
        return value if len(value) <= MAX_DETAIL_STRING else value[: MAX_DETAIL_STRING - 1] + "…"
    if depth >= 6:
        return json_safe(str(value)[:MAX_DETAIL_STRING], depth)
    if isinstance(value, dict):
        items = list(value.items())[:MAX_DETAIL_ITEMS]
        return {str(key)[:100]: json_safe(item, depth + 1) for key, item in items}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(item, depth + 1) for item in list(value)[:MAX_DETAIL_ITEMS]]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    try:
        number = float(value)  # IFDRational and friends
        return number if math.isfinite(number) else None
    except (TypeError, ValueError, ZeroDivisionError):
        return json_safe(str(value), depth)


def mb(n: int) -> str:
    """A byte count as '1.2 MB' or '3.4 KB'."""
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} KB"


def too_large_line(what: str, size: int, limit: int) -> str:
    """The sentence for a metadata block over the size limit."""
    return f"{what} could not be read: it is {mb(size)}, over the {mb(limit)} limit for one metadata block."


def too_large_params(what: str, size: int, limit: int) -> tuple[str, dict]:
    """The code and params of too_large_line's sentence."""
    return CODE_TOO_LARGE, {"what": what, "size": mb(size), "limit": mb(limit)}
