"""A JPEG saved at a low quality is shown as a possible re-compressed copy, for information only."""

import pytest
from django.urls import reverse

from detector.evidence import NEUTRAL
from detector.evidence.provenance import CODE_JPEG_LOW_QUALITY, estimate_jpeg_quality, read_provenance

from .test_evidence_in_the_app import encode, scene, submit


def _quality_findings(data: bytes):
    return [f for f in read_provenance(data) if f.signal == "jpeg_quality"]


@pytest.mark.parametrize("quality", [40, 60, 75, 79])
def test_a_jpeg_saved_at_low_quality_is_shown_as_a_possible_re_compressed_copy(quality):
    data = encode(scene(1), "JPEG", quality=quality)
    assert estimate_jpeg_quality(data) == quality
    [finding] = _quality_findings(data)
    assert finding.direction == NEUTRAL and finding.verified is False
    assert finding.code == CODE_JPEG_LOW_QUALITY and finding.params == {"quality": quality}
    assert f"about quality {quality}" in finding.line and "ask for the original file" in finding.line


@pytest.mark.parametrize("data", [
    pytest.param(encode(scene(2), "JPEG", quality=80), id="jpeg-80"),
    pytest.param(encode(scene(2), "JPEG", quality=95), id="jpeg-95"),
    pytest.param(encode(scene(2), "PNG"), id="png"),
    pytest.param(encode(scene(2), "WEBP", quality=50), id="webp"),
])
def test_camera_quality_jpegs_and_other_formats_get_no_such_line(data):
    assert _quality_findings(data) == []


def test_a_jpeg_whose_tables_cannot_be_read_is_no_evidence_and_no_error():
    data = encode(scene(3), "JPEG", quality=60)
    dqt = data.index(b"\xff\xdb")
    damaged = data[:dqt] + b"\xff\xdb\x00\x03\x00" + data[dqt + 4:]  # a quantisation segment cut short
    assert estimate_jpeg_quality(damaged) is None
    assert estimate_jpeg_quality(b"\xff\xd8 not a jpeg at all") is None
    assert _quality_findings(damaged) == []


@pytest.mark.django_db(transaction=True)
def test_the_result_page_says_a_low_quality_jpeg_may_be_a_copy_and_it_does_not_move_the_score(web, submitter):
    client = web.login_as(submitter)
    copy = submit(client, encode(scene(4), "JPEG", quality=60), "forwarded.jpg")
    assert copy.status == "scored"
    [finding] = [f for f in copy.fusion["contributions"] if f["signal"] == "jpeg_quality"]
    assert finding["direction"] == "none" and finding["log_odds"] == 0.0
    assert copy.p_ai == pytest.approx(copy.fusion["classifier_p_ai"], abs=1e-6)
    page = client.get(reverse("submission-detail", args=[copy.pk])).content.decode()
    assert "Saved as a JPEG at about quality 60" in page and "ask for the original file" in page
    # Beside the verdict too, where a reader who stops at the verdict sees it.
    assert 'data-testid="recompressed-copy"' in page
    assert "This file was saved as a JPEG at about quality 60" in page

    original = submit(client, encode(scene(5), "JPEG", quality=95), "camera.jpg")
    page = client.get(reverse("submission-detail", args=[original.pk])).content.decode()
    assert 'data-testid="recompressed-copy"' not in page and "about quality" not in page

    client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    page = client.get(reverse("submission-detail", args=[copy.pk])).content.decode()
    assert "JPEG 품질 약 60(으)로 저장되었습니다" in page and "원본 파일을 요청하십시오" in page
    assert "이 파일은 JPEG 품질 약 60(으)로 저장되었습니다" in page
