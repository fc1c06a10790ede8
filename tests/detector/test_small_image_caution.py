"""A judged but small image gets a caution beside its verdict: the model errs more often at that size."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detector import policy
from detector.models import Submission


@pytest.mark.parametrize("size, cautioned", [
    ((63, 500), False),  # too small to judge: it reads uncertain, with its own line
    ((64, 500), True),
    ((1200, 447), True),
    ((448, 448), False),
    ((4000, 3000), False),
    ((None, None), False),  # size unknown: no claim either way
])
def test_the_caution_covers_judged_images_under_448_px_on_the_short_side(size, cautioned):
    assert policy.small_for_reliable_verdict(*size) is cautioned


@pytest.mark.django_db(transaction=True)
def test_the_result_page_cautions_on_a_small_image_and_not_on_a_large_or_unjudged_one(web, submitter, png):
    client = web.login_as(submitter)
    for name, size in (("thumbnail.png", (400, 300)), ("full.png", (640, 480)), ("icon.png", (48, 48))):
        response = client.post(reverse("submit"), {"image": SimpleUploadedFile(name, png(seed=41, size=size))})
        assert response.status_code == 302
    small, large, icon = Submission.objects.order_by("id")
    assert small.status == large.status == icon.status == "scored"

    page = client.get(reverse("submission-detail", args=[small.pk])).content.decode()
    assert 'data-testid="small-image"' in page
    assert "This image is only 400×300 pixels" in page and "ask for the original file" in page
    assert client.get(f"/api/v1/submissions/{small.pk}/").json()["score"]["small_image_caution"] is True
    report = client.get(reverse("submission-report", args=[small.pk])).content.decode()
    assert "This image is only 400×300 pixels" in report

    page = client.get(reverse("submission-detail", args=[large.pk])).content.decode()
    assert 'data-testid="small-image"' not in page
    assert client.get(f"/api/v1/submissions/{large.pk}/").json()["score"]["small_image_caution"] is False

    # Too small to judge: the page says it reads uncertain, and does not add this caution.
    page = client.get(reverse("submission-detail", args=[icon.pk])).content.decode()
    assert 'data-testid="small-image"' not in page and "only 48×48 pixels" in page

    client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    page = client.get(reverse("submission-detail", args=[small.pk])).content.decode()
    assert "이 이미지는 400×300 픽셀에 불과합니다" in page and "원본 파일을 요청하십시오" in page


@pytest.mark.django_db(transaction=True)
def test_the_reviewer_deciding_a_small_image_reads_the_same_caution(settings, web, submitter, reviewer, png):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1.0  # every image is uncertain
    submitter_client = web.login_as(submitter)
    submitter_client.post(reverse("submit"), {"image": SimpleUploadedFile("entry.png", png(seed=42, size=(300, 420)))})
    assert Submission.objects.get().verdict == "uncertain"

    client = web.login_as(reviewer)
    location = client.post(reverse("review-claim-next"))["Location"]
    page = client.get(location).content.decode()
    assert 'data-testid="small-image"' in page and "This image is only 300×420 pixels" in page
