"""A submitter checks an image on the web page: upload, result, reuse, and every refusal."""

import pytest
from django.urls import reverse

from detector.models import ImageAsset, Submission
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def upload(client, data: bytes, name: str = "photo.png", **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(reverse("submit"), {"image": SimpleUploadedFile(name, data), **extra})


def test_uploaded_image_is_stored_scored_and_shown_as_probabilities(web, submitter, png, media_files):
    client = web.login_as(submitter)
    response = upload(client, png(seed=1), "entry.png", note="painted in Krita")
    submission = Submission.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("submission-detail", args=[submission.pk])

    submission.refresh_from_db()
    asset = submission.asset
    assert submission.status == "scored"
    assert submission.submitted_by == submitter and submission.created_at
    assert (asset.format, asset.width, asset.height) == ("PNG", 96, 80)
    assert len(asset.sha256) == 64 and asset.size_bytes == len(png(seed=1))
    assert [p.name for p in media_files()] == [f"{asset.sha256}.png"]

    page = client.get(response["Location"]).content.decode()
    ai = round(submission.p_ai * 100)
    assert f"AI-generated: {ai}%" in page
    assert f"human-made: {100 - ai}%" in page
    assert submission.get_verdict_display() in page
    assert submission.model_version and submission.model_version in page
    assert "not a judgement" in page
    assert "painted in Krita" in page
    image = client.get(reverse("submission-image", args=[submission.pk]))
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content) == png(seed=1)


def test_resubmitting_identical_bytes_reuses_file_and_earlier_result(web, submitter, other_submitter, png, media_files):
    upload(web.login_as(submitter), png(seed=2))
    upload(web.login_as(other_submitter), png(seed=2), "same-picture-other-name.png")
    first, second = Submission.objects.order_by("id")
    assert ImageAsset.objects.count() == 1 and len(media_files()) == 1
    assert first.asset_id == second.asset_id
    assert second.reused_earlier_result and not first.reused_earlier_result
    assert (second.p_ai, second.verdict) == (first.p_ai, first.verdict)
    assert first.asset.evidence.filter(kind="classifier").count() == 1


def test_pending_page_says_scoring_and_refreshes(web, submitter, png, settings):
    from detector.services import submission_create

    submission = submission_create(user=submitter, data=png(seed=9))  # no commit hook ran in between
    Submission.objects.filter(pk=submission.pk).update(status="pending")
    page = web.login_as(submitter).get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Scoring" in page
    assert 'http-equiv="refresh"' in page


def test_failed_scoring_shows_the_reason_and_keeps_the_image(web, submitter, png, settings, tmp_path):
    settings.AIORNOT_DETECTOR_CHECKPOINT = tmp_path / "no-such-model.pt"
    upload(web.login_as(submitter), png(seed=10))
    submission = Submission.objects.get()
    assert submission.status == "failed"
    page = web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Scoring failed" in page
    assert "could not be loaded" in page
    assert "no-such-model.pt" in submission.failure_reason
    assert ImageAsset.objects.count() == 1


BAD_FILES = {
    "text file": (b"just some text, not a picture" * 20, "notes.jpg", 415, "not an image"),
    "truncated jpeg": (image_bytes("JPEG", size=(300, 300), seed=5)[:900], "cut.jpg", 422, "truncated or corrupt"),
    "pdf renamed": (b"%PDF-1.4\n%%EOF\n" * 5, "doc.jpg", 415, "PDF"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_gets_a_form_error_and_nothing_is_stored(case, web, submitter, png, media_files):
    client = web.login_as(submitter)
    upload(client, png(seed=3))
    before = media_files()
    data, name, status, words = BAD_FILES[case]
    response = upload(client, data, name)
    assert response.status_code == status
    assert words in response.content.decode()
    assert Submission.objects.count() == 1 and ImageAsset.objects.count() == 1
    assert media_files() == before


def test_file_over_the_size_limit_gets_413_and_a_clear_message(web, submitter, settings, media_files):
    settings.AIORNOT_MAX_UPLOAD_BYTES = 10_000
    response = upload(web.login_as(submitter), image_bytes("BMP", size=(200, 200)), "big.bmp")
    assert response.status_code == 413
    assert "limit" in response.content.decode()
    assert Submission.objects.count() == 0 and media_files() == []


def test_request_body_over_the_limit_is_refused_before_it_is_read(web, submitter, settings):
    settings.AIORNOT_MAX_UPLOAD_BYTES = 10_000
    settings.AIORNOT_MAX_REQUEST_BYTES = 20_000
    response = upload(web.login_as(submitter), b"x" * 50_000, "huge.png")
    assert response.status_code == 413
    assert "limit" in response.content.decode()
    assert Submission.objects.count() == 0


def test_image_over_the_pixel_limit_is_refused(web, submitter, settings):
    settings.AIORNOT_MAX_IMAGE_PIXELS = 5_000
    response = upload(web.login_as(submitter), image_bytes("PNG", size=(100, 100)))
    assert response.status_code == 413
    assert "megapixels" in response.content.decode()
    assert Submission.objects.count() == 0


def test_unsupported_format_is_named_in_the_error(web, submitter):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'
    response = upload(web.login_as(submitter), svg, "vector.svg")
    assert response.status_code == 415
    assert "SVG" in response.content.decode()


def test_form_needs_exactly_one_of_file_or_link(web, submitter, png):
    client = web.login_as(submitter)
    assert "Choose an image file" in client.post(reverse("submit"), {}).content.decode()
    both = upload(client, png(seed=4), url="https://example.org/x.png")
    assert both.status_code == 400 and "not both" in both.content.decode()
    assert Submission.objects.count() == 0


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(reverse("submit"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_user_without_submitter_role_cannot_submit(web, no_role_user, png):
    response = upload(web.login_as(no_role_user), png())
    assert response.status_code == 403
    assert Submission.objects.count() == 0


def test_submitter_cannot_see_someone_elses_submission_or_image(web, submitter, other_submitter, png):
    upload(web.login_as(submitter), png(seed=6))
    submission = Submission.objects.get()
    client = web.login_as(other_submitter)
    assert client.get(reverse("submission-detail", args=[submission.pk])).status_code == 404
    assert client.get(reverse("submission-image", args=[submission.pk])).status_code == 404
