"""Tests for detector.url_fetch, the image rules of fetching by URL (tests/fake_web.py runs the site)."""

from __future__ import annotations

import pytest

from detector.url_fetch import FetchedResource
from tests.fake_web import PNG, _fresh_request_log, connections, dns, expect_error, fetch, site  # noqa: F401


# --- successful fetches ---------------------------------------------------------------


def test_png_is_fetched_with_its_content_type_and_filename(site):
    resource = fetch(site.url("/image.png"))

    assert isinstance(resource, FetchedResource)
    assert resource.content == PNG
    assert resource.content_type == "image/png"
    assert resource.final_url == site.url("/image.png")
    assert resource.filename == "image.png"


def test_image_without_content_type_is_accepted(site):
    resource = fetch(site.url("/image-untyped"))

    assert resource.content == PNG
    assert resource.content_type == ""


def test_content_type_parameters_are_dropped_and_case_is_lowered(site):
    assert fetch(site.url("/image-with-params")).content_type == "image/png"


def test_generic_binary_content_type_is_accepted(site):
    resource = fetch(site.url("/octet-stream"))

    assert resource.content == PNG
    assert resource.content_type == "application/octet-stream"


def test_request_names_the_original_host_and_sends_no_credentials(site, dns, connections):
    dns.answer("pictures.example", ["127.0.0.1"])

    fetch(site.url("/echo", host="pictures.example"), user_agent="aiornot-test/2.0")

    headers = {name.lower(): value for name, value in site.headers_for("/echo").items()}
    assert headers["host"] == f"pictures.example:{site.port}"
    assert headers["user-agent"] == "aiornot-test/2.0"
    assert "cookie" not in headers and "authorization" not in headers
    assert connections == [("127.0.0.1", site.port)]


@pytest.mark.parametrize(
    ("path", "expected_filename"),
    [
        ("/files/My%20Cat%20(1).png", "My_Cat_1_.png"),
        ("/files/..%2F..%2Fetc%2Fpasswd", "passwd"),
        ("/files/.hidden.png", "hidden.png"),
        ("/files/", ""),
    ],
)
def test_filename_is_sanitised_from_the_last_path_segment(site, path, expected_filename):
    assert fetch(site.url(path)).filename == expected_filename


# --- responses that are not a usable image --------------------------------------------


@pytest.mark.parametrize(
    ("path", "media_type"), [("/page.html", "text/html"), ("/data.json", "application/json")]
)
def test_non_image_content_type_is_refused(site, path, media_type):
    expect_error("url_not_image", site.url(path), media_type, "not an image")


@pytest.mark.parametrize(("path", "status"), [("/missing", "404"), ("/server-error", "500")])
def test_error_status_is_reported_with_its_code(site, path, status):
    expect_error("url_http_error", site.url(path), status, "127.0.0.1")


def test_redirect_without_location_is_an_http_error(site):
    expect_error("url_http_error", site.url("/redirect-without-location"), "302")
