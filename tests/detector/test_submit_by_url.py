"""Submitting by web link: a real HTTP server on loopback, admitted by the admin allow-list."""

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from detector.models import ImageAsset, Submission
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

PHOTO = image_bytes("JPEG", size=(120, 100), seed=42)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        routes = {
            "/photo.jpg": (200, "image/jpeg", PHOTO),
            "/page.html": (200, "text/html", b"<html><body>not an image</body></html>"),
            "/garbage.jpg": (200, "image/jpeg", PHOTO[: len(PHOTO) // 2]),  # truncated in transit
            "/big.jpg": (200, "image/jpeg", b"\xff" * 50_000),
            "/missing.jpg": (404, "text/plain", b"nope"),
        }
        if self.path == "/redirect-to-private":
            self.send_response(302)
            self.send_header("Location", "http://10.20.30.40/photo.jpg")
            self.end_headers()
            return
        if self.path == "/redirect-to-photo":
            self.send_response(302)
            self.send_header("Location", "/photo.jpg")
            self.end_headers()
            return
        if self.path == "/slow.jpg":
            threading.Event().wait(2.0)
        status, content_type, body = routes.get(self.path, (200, "image/jpeg", PHOTO))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture
def image_server(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The admin trusts this one loopback address, as they might an intranet image host.
    settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.AIORNOT_URL_FETCH_TIMEOUT = 1.0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def submit_url(client, url):
    return client.post(reverse("submit"), {"url": url})


def test_image_from_a_link_is_fetched_stored_and_scored(web, submitter, image_server):
    response = submit_url(web.login_as(submitter), f"{image_server}/redirect-to-photo")
    submission = Submission.objects.get()
    assert response.status_code == 302
    assert submission.source == "url" and submission.source_url.endswith("/redirect-to-photo")
    assert submission.original_filename == "photo.jpg"
    assert submission.status == "scored" and submission.asset.format == "JPEG"
    assert submission.asset.size_bytes == len(PHOTO)


def test_api_accepts_a_url_as_json(api_for, submitter, image_server):
    response = api_for(submitter).post("/api/v1/submissions/", {"url": f"{image_server}/photo.jpg"}, format="json")
    assert response.status_code == 201
    assert response.json()["source"] == "url" and response.json()["score"]["verdict"]


REFUSED = [
    ("ftp://example.org/a.jpg", None, "url_scheme_not_allowed", 400),
    ("file:///etc/passwd", None, "url_scheme_not_allowed", 400),
    ("javascript:alert(1)", None, "url_scheme_not_allowed", 400),
    ("http://127.0.0.1:8000/a.jpg", None, "url_host_not_public", 400),
    ("http://localhost/a.jpg", None, "url_host_not_public", 400),
    ("http://10.0.0.8/a.jpg", None, "url_host_not_public", 400),
    ("http://192.168.1.20/a.jpg", None, "url_host_not_public", 400),
    ("http://169.254.169.254/latest/meta-data/", None, "url_host_not_public", 400),
    ("http://[::1]/a.jpg", None, "url_host_not_public", 400),
    ("http://[fd00::1]/a.jpg", None, "url_host_not_public", 400),
    ("/redirect-to-private", True, "url_host_not_public", 400),
    ("/slow.jpg", True, "url_timeout", 400),
    ("/big.jpg", True, "url_too_large", 413),
    ("/page.html", True, "url_not_image", 415),
    ("/garbage.jpg", True, "image_corrupt", 422),
    ("/missing.jpg", True, "url_http_error", 400),
]


@pytest.mark.parametrize("url, on_server, code, status", REFUSED, ids=[r[2] + ":" + r[0] for r in REFUSED])
def test_refused_links_get_a_specific_error_and_store_nothing(url, on_server, code, status, api_for, web, submitter, settings, request, media_files):
    if on_server:
        url = request.getfixturevalue("image_server") + url
    else:
        settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS = []
    settings.AIORNOT_MAX_UPLOAD_BYTES = 20_000
    response = api_for(submitter).post("/api/v1/submissions/", {"url": url}, format="json")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code and len(error["message"]) > 10

    page = submit_url(web.login_as(submitter), url)
    assert page.status_code == status
    assert error["message"].split(".")[0].replace("'", "&#x27;") in page.content.decode()
    assert Submission.objects.count() == 0 and ImageAsset.objects.count() == 0 and media_files() == []
