"""Integrators submit through /api/v1/ with a token and read scores as JSON."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detector.models import ImageAsset, Submission
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

SUBMISSIONS = "/api/v1/submissions/"


def post_image(api, data: bytes, name: str = "x.png", **extra):
    return api.post(SUBMISSIONS, {"image": SimpleUploadedFile(name, data), **extra}, format="multipart")


def test_token_is_issued_for_username_and_password(client, submitter):
    response = client.post("/api/v1/auth/token/", {"username": "sam", "password": "pw-sam"})
    assert response.status_code == 200 and len(response.json()["token"]) == 40


def test_upload_returns_score_verdict_model_version_and_disclaimer(api_for, submitter, jpeg):
    response = post_image(api_for(submitter), jpeg(seed=1), "press.jpg")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "scored"
    assert body["image"]["format"] == "JPEG" and body["image"]["width"] == 96
    score = body["score"]
    ai = round(score["p_ai"] * 100)
    assert score["ai_generated"] == f"AI-generated: {ai}%"
    assert score["human_made"] == f"human-made: {100 - ai}%"
    assert score["verdict"] in {"likely_ai", "uncertain", "likely_human"}
    assert score["model_version"]
    assert "not a judgement" in body["disclaimer"]
    assert body["submitted_by"] == "sam" and body["channel"] == "api"

    detail = api_for(submitter).get(f"{SUBMISSIONS}{body['id']}/")
    assert detail.status_code == 200 and detail.json()["score"] == score
    image = api_for(submitter).get(body["image_url"])
    assert image.status_code == 200 and b"".join(image.streaming_content) == jpeg(seed=1)


def test_session_auth_works_for_the_api_too(client, submitter, png):
    client.force_login(submitter)
    response = client.post(SUBMISSIONS, {"image": SimpleUploadedFile("a.png", png(seed=2))})
    # Session auth enforces CSRF for unsafe methods; Django's test client skips the check.
    assert response.status_code == 201


def test_list_shows_only_my_submissions_but_admins_see_all(api_for, submitter, other_submitter, site_admin, png):
    post_image(api_for(submitter), png(seed=3))
    post_image(api_for(other_submitter), png(seed=4))
    mine = api_for(submitter).get(SUBMISSIONS).json()
    assert mine["count"] == 1 and mine["results"][0]["submitted_by"] == "sam"
    assert api_for(site_admin).get(SUBMISSIONS).json()["count"] == 2
    other_id = Submission.objects.get(submitted_by=other_submitter).pk
    response = api_for(submitter).get(f"{SUBMISSIONS}{other_id}/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_anonymous_and_bad_token_get_401_json(client):
    assert client.get(SUBMISSIONS).status_code == 401
    response = client.get(SUBMISSIONS, HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_user_without_submitter_role_gets_403(api_for, no_role_user, png):
    response = post_image(api_for(no_role_user), png())
    assert response.status_code == 403
    assert "submitter role" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "data, status, code",
    [
        (b"not an image at all" * 10, 415, "not_an_image"),
        (image_bytes("PNG", size=(200, 200), seed=7)[:-300], 422, "image_corrupt"),
        (b"%PDF-1.7\n%%EOF", 415, "unsupported_format"),
        (b"", 400, "invalid_request"),
    ],
)
def test_bad_uploads_get_specific_json_errors_and_store_nothing(api_for, submitter, png, media_files, data, status, code):
    api = api_for(submitter)
    post_image(api, png(seed=11))
    before = media_files()
    response = post_image(api, data, "bad.png")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert Submission.objects.count() == 1 and ImageAsset.objects.count() == 1 and media_files() == before


def test_size_and_pixel_limits_give_413(api_for, submitter, settings):
    settings.AIORNOT_MAX_IMAGE_PIXELS = 1000
    response = post_image(api_for(submitter), image_bytes("PNG", size=(64, 64)))
    assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_many_pixels"
    settings.AIORNOT_MAX_UPLOAD_BYTES = 1000
    settings.AIORNOT_MAX_REQUEST_BYTES = 10**9
    response = post_image(api_for(submitter), image_bytes("BMP", size=(64, 64)))
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    settings.AIORNOT_MAX_REQUEST_BYTES = 5000
    response = post_image(api_for(submitter), image_bytes("BMP", size=(64, 64)))
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    assert Submission.objects.count() == 0


def test_request_without_image_or_url_is_a_400_with_a_message(api_for, submitter, png):
    response = api_for(submitter).post(SUBMISSIONS, {}, format="json")
    assert response.status_code == 400
    assert "Send an image file" in response.json()["error"]["message"]
    both = post_image(api_for(submitter), png(), url="https://example.org/a.png")
    assert both.status_code == 400 and "not both" in both.json()["error"]["message"]


def test_malformed_json_is_a_400_not_a_500(api_for, submitter):
    response = api_for(submitter).generic("POST", SUBMISSIONS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_openapi_schema_documents_the_endpoints(api_for, submitter):
    response = api_for(submitter).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/submissions/" in paths and "/api/v1/review/cases/{id}/decision/" in paths
