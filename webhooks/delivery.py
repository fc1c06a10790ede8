"""Check a callback URL and POST a signed JSON body to it, with the SSRF rules of link intake.

The address checks are those of ``aiornot_site.url_checks`` (reused, not copied): http(s) only,
no credentials in the URL, ports 80, 443 or 1024-65535, the host resolved once and refused
unless every address is public or inside ``allowed_networks``. The POST then goes to the
address that was checked (the name only in ``Host`` and, for https, SNI and certificate
checks), so a DNS answer that changes between check and connect cannot lead inward.
Redirects are not followed: a 3xx answer is a failed attempt.

Plain Python (no Django), like ``safe_http``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aiornot_site.safe_http import AddressUnreachable, Exchange
from aiornot_site.url_checks import Deadline, UrlFetchError, parse_allowed_networks, parse_target, resolve_allowed_addresses

SIGNATURE_PREFIX = "sha256="
USER_AGENT = "aiornot-webhooks/1.0"

# url_checks' codes, as this API names them.
URL_ERROR_CODES = {
    "url_invalid": "webhook_url_invalid",
    "url_scheme_not_allowed": "webhook_url_scheme_not_allowed",
    "url_port_not_allowed": "webhook_url_port_not_allowed",
    "url_dns_failed": "webhook_url_dns_failed",
    "url_host_not_public": "webhook_url_not_public",
}


class CallbackUrlRefused(Exception):
    """The callback URL breaks the SSRF rules; ``code`` is the API error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PostResult:
    status_code: int | None  # None when no HTTP answer came back
    error: str  # empty on a 2xx answer

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Aiornot-Signature`` value: HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


def check_callback_url(url: str, *, allowed_networks: Sequence[str] = (), timeout: float = 5.0) -> str:
    """Return the normalised URL, or raise CallbackUrlRefused (the host is resolved now)."""
    try:
        target = parse_target(url)
        resolve_allowed_addresses(target, parse_allowed_networks(allowed_networks), Deadline(timeout))
    except UrlFetchError as exc:
        raise CallbackUrlRefused(URL_ERROR_CODES.get(exc.code, "webhook_url_invalid"), exc.message) from None
    return target.url


def post_json(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    allowed_networks: Sequence[str] = (),
) -> PostResult:
    """POST ``body`` to ``url`` once; never raises for network or HTTP trouble."""
    deadline = Deadline(timeout)
    try:
        target = parse_target(url)
        addresses = resolve_allowed_addresses(target, parse_allowed_networks(allowed_networks), deadline)
        last_error: UrlFetchError | None = None
        for address in addresses:
            exchange = _PostExchange(target, address, deadline, USER_AGENT)
            try:
                exchange.post(body, headers)
            except AddressUnreachable as exc:
                # Nothing was sent to this address; another checked one may answer.
                last_error = exc
                continue
            try:
                status = exchange.response.status
            finally:
                exchange.close()
            if 200 <= status < 300:
                return PostResult(status, "")
            return PostResult(status, f"The endpoint answered with HTTP status {status}.")
        assert last_error is not None
        raise last_error
    except UrlFetchError as exc:
        if exc.code == "url_timeout":
            return PostResult(None, f"url_timeout: No answer within {timeout:g} seconds.")
        return PostResult(None, f"{exc.code}: {exc.message}")
    except Exception as exc:  # anything else urllib3 or ssl may raise: still just a failed attempt
        return PostResult(None, f"url_connection_failed: {exc.__class__.__name__}: {exc}"[:1000])


class _PostExchange(Exchange):
    """safe_http's exchange (checked address, deadline watchdog, error translation), as a POST."""

    def post(self, body: bytes, headers: Mapping[str, str]) -> None:
        self.open("POST", body, {**headers, "Content-Type": "application/json", "Accept": "*/*"})


def timestamp_now() -> str:
    return str(int(time.time()))
