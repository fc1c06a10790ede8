"""Integrators and contest staff submit many images in one request; each item stands alone."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from detector.models import ImageAsset, Submission
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)
BATCH = "/api/v1/submissions/batch/"


def files(*pairs):
    return [SimpleUploadedFile(name, data) for name, data in pairs]


def test_batch_of_images_is_stored_and_scored_together(api_for, submitter):
    images = files(*[(f"entry{i}.png", image_bytes("PNG", seed=500 + i)) for i in range(5)])
    response = api_for(submitter).post(BATCH, {"images": images, "note": "round 1"}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["accepted"] == 5 and body["refused"] == 0
    assert [r["name"] for r in body["results"]] == [f"entry{i}.png" for i in range(5)]
    assert {r["submission"]["status"] for r in body["results"]} == {"scored"}
    assert all(r["submission"]["score"]["ai_generated"].startswith("AI-generated: ") for r in body["results"])
    assert Submission.objects.filter(note="round 1").count() == 5


def test_batch_scores_match_one_at_a_time_scoring(api_for, submitter):
    from detector.intake import image_open_for_scoring
    from detector.scoring import active_detector

    data = [image_bytes("JPEG", size=(300, 200), seed=601), image_bytes("PNG", size=(90, 90), seed=602)]
    batch = api_for(submitter).post(BATCH, {"images": files(("a.jpg", data[0]), ("b.png", data[1]))}, format="multipart").json()
    one_by_one = [active_detector().score(image_open_for_scoring(d)).p_ai for d in data]
    assert [r["submission"]["score"]["p_ai"] for r in batch["results"]] == pytest.approx(one_by_one, abs=1e-5)


def test_bad_items_are_refused_individually_and_the_rest_accepted(api_for, submitter, media_files):
    items = files(("good.png", image_bytes("PNG", seed=701)), ("notes.txt", b"hello" * 40), ("cut.jpg", image_bytes("JPEG", size=(300, 300), seed=702)[:800]))
    response = api_for(submitter).post(BATCH, {"images": items, "urls": ["ftp://example.org/x.png"]}, format="multipart")
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["refused"]) == (1, 3)
    codes = [r["error"]["code"] if r["error"] else None for r in body["results"]]
    assert codes == [None, "not_an_image", "image_corrupt", "url_scheme_not_allowed"]
    assert Submission.objects.count() == 1 and len(media_files()) == 1


def test_batch_with_nothing_accepted_is_a_400(api_for, submitter):
    response = api_for(submitter).post(BATCH, {"images": files(("x.txt", b"text" * 30))}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "batch_all_refused"


def test_empty_and_oversized_batches_are_refused(api_for, submitter, settings):
    assert api_for(submitter).post(BATCH, {}, format="multipart").json()["error"]["code"] == "invalid_request"
    settings.AIORNOT_BATCH_MAX_ITEMS = 2
    images = files(*[(f"{i}.png", image_bytes("PNG", seed=800 + i)) for i in range(3)])
    response = api_for(submitter).post(BATCH, {"images": images}, format="multipart")
    assert response.status_code == 400 and "at most 2 items" in response.json()["error"]["message"]
    assert Submission.objects.count() == 0


def test_batch_needs_the_submitter_role(api_for, no_role_user):
    response = api_for(no_role_user).post(BATCH, {"images": files(("a.png", image_bytes("PNG")))}, format="multipart")
    assert response.status_code == 403
