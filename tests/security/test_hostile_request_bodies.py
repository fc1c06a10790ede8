"""No request body makes the API answer 500: deeply nested JSON, JSON that is not an object, odd
field types, too many parts, and batches whose items are empty, corrupt, unsupported or too large
(each refused on its own, the rest accepted)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from detector.models import Submission
from tests.images import image_bytes

pytestmark = pytest.mark.django_db

NESTED_ARRAYS = "[" * 1100 + "]" * 1100
NESTED_OBJECTS = '{"a":' * 1100 + "1" + "}" * 1100
# Deep enough for the API's limit (AIORNOT_JSON_MAX_DEPTH, 32) but far from Python's recursion limit.
DEEP_FIELD = '{"reason_codes": ' + "[" * 60 + "]" * 60 + "}"
NOT_OBJECTS = ["[]", '"x"', "1", "null", "true", "[{}]"]
NOT_JSON = ["{", "", "\xff\xfe", '{"a": NaN}']

# Every endpoint that reads a JSON body, with the user who gets as far as reading it.
BODY_ENDPOINTS = [
    ("/api/v1/auth/token/", None),
    ("/api/v1/submissions/", "admin"),
    ("/api/v1/submissions/batch/", "admin"),
    ("/api/v1/review/cases/999999/decision/", "admin"),
    ("/api/v1/review/escalations/999999/decision/", "admin"),
    ("/api/v1/review/cases/999999/requeue/", "admin"),
    ("/api/v1/webhooks/", "admin"),
]


def _api_routes() -> list[str]:
    """Every /api/v1/ route with a write method, its id parameters filled with 999999."""
    routes = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
                if view_class and any(hasattr(view_class, m) for m in ("post", "put", "patch", "delete")):
                    path = "/" + prefix + str(pattern.pattern)
                    routes.append(path.replace("<int:pk>", "999999").replace("<int:delivery_pk>", "999999"))

    walk(get_resolver().url_patterns, "")
    return sorted(route for route in routes if route.startswith("/api/v1/"))


def _client(user, api_for) -> APIClient:
    return api_for(user) if user is not None else APIClient()


def _assert_json_client_error(response, code: str | None = None):
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] and error["message"]
    if code:
        assert error["code"] == code, error


def test_the_body_endpoint_list_covers_every_api_route_that_takes_a_body():
    routes = _api_routes()
    listed = {path for path, _ in BODY_ENDPOINTS}
    assert listed <= set(routes), listed - set(routes)
    # Routes left out of BODY_ENDPOINTS take no body (the body is never read).
    assert set(routes) - listed == {
        "/api/v1/review/claim/",
        "/api/v1/review/cases/999999/release/",
        "/api/v1/review/cases/999999/skip/",
        "/api/v1/webhooks/999999/",
        "/api/v1/webhooks/999999/deliveries/999999/redeliver/",
    }


@pytest.mark.parametrize("body", [NESTED_ARRAYS, NESTED_OBJECTS, DEEP_FIELD], ids=["arrays", "objects", "deep-field"])
@pytest.mark.parametrize("path,who", BODY_ENDPOINTS, ids=[p for p, _ in BODY_ENDPOINTS])
def test_deeply_nested_json_is_a_400_on_every_endpoint(path, who, body, api_for, site_admin):
    response = _client(site_admin if who else None, api_for).post(path, body, content_type="application/json")
    _assert_json_client_error(response, "json_too_deep")


@pytest.mark.parametrize("body", NOT_OBJECTS)
@pytest.mark.parametrize("path,who", BODY_ENDPOINTS, ids=[p for p, _ in BODY_ENDPOINTS])
def test_json_that_is_not_an_object_is_a_400_on_every_endpoint(path, who, body, api_for, site_admin):
    response = _client(site_admin if who else None, api_for).post(path, body, content_type="application/json")
    _assert_json_client_error(response, "json_not_object")


@pytest.mark.parametrize("body", NOT_JSON, ids=["truncated", "empty", "not-utf8", "nan"])
@pytest.mark.parametrize("path,who", BODY_ENDPOINTS, ids=[p for p, _ in BODY_ENDPOINTS])
def test_a_body_that_is_not_json_is_a_json_400(path, who, body, api_for, site_admin):
    response = _client(site_admin if who else None, api_for).post(path, body, content_type="application/json")
    _assert_json_client_error(response)


def test_no_write_route_answers_500_to_hostile_bodies(api_for, site_admin):
    client = api_for(site_admin)
    for path in _api_routes():
        for method in ("post", "put", "patch", "delete"):
            for body in [NESTED_ARRAYS, *NOT_OBJECTS]:
                response = getattr(client, method)(path, body, content_type="application/json")
                assert response.status_code < 500, (method, path, body[:10], response.content[:200])
                if response.status_code >= 400:
                    assert response.json()["error"]["code"]


@pytest.mark.parametrize("payload", [
    {"url": [], "note": {}, "collection": []},
    {"url": {"a": 1}},
    {"image": "not a file"},
    {"collection": {"id": 1}, "url": "https://example.org/a.png"},
    {"note": None},
])
def test_odd_field_types_on_submit_are_a_json_400(payload, api_for, submitter):
    response = api_for(submitter).post("/api/v1/submissions/", payload, format="json")
    _assert_json_client_error(response)


@pytest.mark.parametrize("payload", [
    {"urls": "https://example.org/a.png"},
    {"urls": {"a": 1}},
    {"urls": ["x"], "collection": {}},
    {"urls": ["x"], "note": []},
])
def test_odd_field_types_in_a_json_batch_are_a_json_400(payload, api_for, submitter):
    response = api_for(submitter).post("/api/v1/submissions/batch/", payload, format="json")
    _assert_json_client_error(response)


def test_links_of_any_json_type_in_a_batch_are_refused_one_by_one(api_for, submitter):
    links = [1, None, {"href": "x"}, ["x"], "ftp://example.org/a.png", "x" * 5000]
    response = api_for(submitter).post("/api/v1/submissions/batch/", {"urls": links}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "batch_all_refused" and body["refused"] == len(links)
    assert [r["error"]["code"] for r in body["results"]] == ["url_invalid"] * 4 + ["url_scheme_not_allowed", "url_invalid"]


def test_a_multipart_batch_refuses_each_bad_file_alone_and_accepts_the_rest(api_for, submitter, settings):
    settings.AIORNOT_MAX_UPLOAD_BYTES = 60_000
    good = [SimpleUploadedFile(f"ok{i}.png", image_bytes("PNG", size=(24, 24), seed=900 + i)) for i in range(27)]
    bad = [
        SimpleUploadedFile("empty.png", b""),
        SimpleUploadedFile("cut.png", image_bytes("PNG", size=(200, 200), seed=1)[:300]),
        SimpleUploadedFile("notes.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>" * 10),
        SimpleUploadedFile("huge.bmp", image_bytes("BMP", size=(160, 160), seed=2)),  # 77 kB > 60 kB
    ]
    files = good[:10] + bad[:1] + good[10:20] + bad[1:] + good[20:]
    assert len(files) == 31
    response = api_for(submitter).post("/api/v1/submissions/batch/", {"images": files}, format="multipart")
    assert response.status_code == 207, response.content[:500]
    body = response.json()
    assert (body["accepted"], body["refused"]) == (27, 4)
    refused = {r["name"]: r["error"]["code"] for r in body["results"] if r["error"]}
    assert refused == {"empty.png": "empty_file", "cut.png": "image_corrupt", "notes.svg": "unsupported_format",
                       "huge.bmp": "file_too_large"}
    assert Submission.objects.count() == 27


def test_too_many_parts_is_a_json_413(api_for, submitter, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    files = [SimpleUploadedFile(f"{i}.png", b"x") for i in range(6)]
    response = api_for(submitter).post("/api/v1/submissions/batch/", {"images": files}, format="multipart")
    _assert_json_client_error(response, "request_too_many_parts")
