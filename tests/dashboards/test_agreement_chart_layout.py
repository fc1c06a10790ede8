"""The confusion matrix on the dashboard is drawn on the server as SVG. Its labels used to overlap
("people: AI-generated" is wider than a column): these tests read the SVG back, estimate the box of
every text element the way a browser would lay it out, and check that no two boxes meet and that
every box lies inside the picture, in English and in Korean, for counts from 0 to billions."""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET

import pytest
from django.utils import translation

from dashboards.charts import agreement_chart

SVG = "{http://www.w3.org/2000/svg}"
LABELS = ["ai", "human", "unsure"]
VERDICTS = ["likely_ai", "uncertain", "likely_human"]


def figure(counts: list[list[int]]) -> dict:
    return {
        "labels": LABELS,
        "verdicts": VERDICTS,
        "matrix": [{"verdict": v, "counts": row} for v, row in zip(VERDICTS, counts)],
        "labelled": sum(map(sum, counts)),
        "agreement_rate": 0.5,
    }


def char_em(ch: str) -> float:
    """Advance of one character in a common sans-serif, in ems, rounded up."""
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if ch.isupper() or ch.isdigit():
        return 0.7
    return 0.62


def text_boxes(svg: str) -> tuple[list[tuple[str, tuple[float, float, float, float]]], tuple[float, ...]]:
    """(text, (left, top, right, bottom)) of every <text>, and the viewBox."""
    root = ET.fromstring(svg)
    view_box = tuple(float(n) for n in root.get("viewBox").split())
    boxes = []
    for node in root.iter(f"{SVG}text"):
        text = "".join(node.itertext())
        style = node.get("style", "")
        size = float(re.search(r"font-size:\s*([\d.]+)px", style).group(1))
        anchor = (re.search(r"text-anchor:\s*(\w+)", style) or [None, "start"])[1]
        transform = node.get("transform", "")
        assert "rotate(-0" in transform or "rotate(" not in transform, f"rotated label {text!r}"
        if node.get("x") is not None:
            x, y = float(node.get("x")), float(node.get("y"))
        else:
            x, y = (float(n) for n in re.search(r"translate\(([-\d.]+)[ ,]+([-\d.]+)\)", transform).groups())
        width = sum(char_em(ch) for ch in text) * size
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        boxes.append((text, (left, y - 0.8 * size, left + width, y + 0.25 * size)))
    return boxes, view_box


def overlapping(boxes):
    for i, (a, (l1, t1, r1, b1)) in enumerate(boxes):
        for b, (l2, t2, r2, b2) in boxes[i + 1 :]:
            if l1 < r2 and l2 < r1 and t1 < b2 and t2 < b1:
                yield a, b


COUNTS = {
    "one image": [[1, 0, 0], [0, 0, 0], [0, 0, 0]],
    "small counts": [[12, 3, 1], [4, 5, 6], [0, 2, 40]],
    "large counts": [[123456, 7, 0], [1, 98765, 3], [0, 1, 99999]],
    "billions": [[1_234_567_890, 2_000_000_000, 7], [9_999_999_999, 1, 0], [0, 1, 3_000_000_000]],
}


@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("counts", COUNTS.values(), ids=COUNTS.keys())
def test_confusion_matrix_labels_never_overlap(language, counts):
    with translation.override(language):
        svg = str(agreement_chart(figure(counts)))
    boxes, (vx, vy, vw, vh) = text_boxes(svg)
    shown = [text for text, _ in boxes]
    assert len(boxes) >= 9 + 3 + 3, shown  # every count, every verdict, every label
    if language == "ko":
        assert any("판단 보류" in text for text in shown), shown
    assert list(overlapping(boxes)) == []
    for text, (left, top, right, bottom) in boxes:
        assert vx <= left and right <= vx + vw and vy <= top and bottom <= vy + vh, f"{text!r} leaves the picture"
