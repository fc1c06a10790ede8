"""Fetch an image by URL on the server: the image rules on top of ``aiornot_site.safe_http``.

``safe_http`` makes the exchange safe (public addresses only, pinned connection, one deadline,
a size limit, redirects checked hop by hop); this module decides what counts as an image
answer (a 2xx status, an image/* or generic binary content type) and names the file after
the last path segment. Plain Python (no Django), so it can be used from views, Celery tasks
and management commands alike.
"""

from __future__ import annotations

import http
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import urllib3

from aiornot_site import safe_http
from aiornot_site.url_checks import Target, UrlFetchError, quote_for_message

__all__ = ["ERROR_CODES", "FetchedResource", "fetch_url"]

ERROR_CODES = (
    "url_invalid",
    "url_scheme_not_allowed",
    "url_port_not_allowed",
    "url_dns_failed",
    "url_host_not_public",
    "url_connection_failed",
    "url_timeout",
    "url_too_large",
    "url_too_many_redirects",
    "url_http_error",
    "url_not_image",
)

ACCEPT_IMAGES = "image/*,*/*;q=0.8"

# Generic "binary download" types some servers use for images. Anything else
# that is not image/* is refused before the body is downloaded; the bytes of
# what is accepted are validated with Pillow by the caller.
GENERIC_BINARY_CONTENT_TYPES = frozenset(
    {
        "application/octet-stream",
        "binary/octet-stream",
        "application/binary",
        "application/force-download",
        "application/x-download",
    }
)

_UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILENAME_LENGTH = 255


@dataclass(frozen=True)
class FetchedResource:
    content: bytes
    content_type: str
    final_url: str
    filename: str


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 5,
    allowed_networks: Sequence[str] = (),
    user_agent: str = "aiornot-url-fetcher/1.0",
) -> FetchedResource:
    """Download ``url`` for image intake, refusing anything that is not a public web address.

    ``timeout`` is the deadline for the whole fetch, redirects and body included.
    ``allowed_networks`` lists CIDR ranges (e.g. an intranet image server) that may
    be fetched even though they are not public. Raises ``UrlFetchError``; raises
    ``ValueError`` for invalid arguments (a programming or configuration error).
    """
    download = safe_http.get(
        url,
        max_bytes=max_bytes,
        timeout=timeout,
        max_redirects=max_redirects,
        allowed_networks=allowed_networks,
        user_agent=user_agent,
        accept=ACCEPT_IMAGES,
        what="the image",
        check_response=_check_final_response,
    )
    return FetchedResource(
        content=download.content,
        content_type=_media_type(download.headers),
        final_url=download.final_url,
        filename=_filename_from_url(download.final_url),
    )


def _check_final_response(response: urllib3.BaseHTTPResponse, target: Target) -> None:
    if not 200 <= response.status < 300:
        try:
            reason = f" ({http.HTTPStatus(response.status).phrase})"
        except ValueError:
            reason = ""
        raise UrlFetchError(
            "url_http_error",
            f"The server at {target.hostname} answered with HTTP status "
            f"{response.status}{reason} instead of an image.",
        )
    media_type = _media_type(response.headers)
    if media_type and not (
        media_type.startswith("image/") or media_type in GENERIC_BINARY_CONTENT_TYPES
    ):
        raise UrlFetchError(
            "url_not_image",
            f"The address on {target.hostname} returned {quote_for_message(media_type)} "
            "content, not an image.",
        )


def _media_type(headers: urllib3.HTTPHeaderDict) -> str:
    values = headers.getlist("Content-Type")
    if not values:
        return ""
    # With repeated headers the last one wins, as in browsers.
    return values[-1].split(";", 1)[0].strip().lower()


def _filename_from_url(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    last_segment = urllib.parse.unquote(path.rsplit("/", 1)[-1])
    # An encoded slash ("..%2F..%2Fetc%2Fpasswd") must not smuggle in a directory.
    last_segment = re.split(r"[/\\]", last_segment)[-1]
    filename = _UNSAFE_FILENAME_CHARACTERS.sub("_", last_segment).lstrip(".")
    if len(filename) > MAX_FILENAME_LENGTH:
        stem, dot, extension = filename.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            filename = stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            filename = filename[:MAX_FILENAME_LENGTH]
    return filename
