"""An HTTP exchange with a public web address that cannot be turned against the server (SSRF).

Every hop (the first request and each redirect) is handled the same way: the URL is checked
and its host resolved once (``url_checks``: refused unless *every* address is public or inside
the administrator's ``allowed_networks``), then the request goes to the validated IP address
itself, sending the original name only in the ``Host`` header and, for https, as SNI and for
certificate checking. Connecting to the validated address (instead of letting the HTTP library
resolve the name again) is what defeats DNS rebinding: a second lookup could return an internal
address after the first one passed the check. One deadline covers the whole exchange
(redirects and body included), enforced by a watchdog, and the body is read up to a size limit.

Link intake (``detector.url_fetch``) and webhook delivery (``webhooks.delivery``) use it.
Plain Python on purpose (no Django), so it runs in views, Celery tasks and commands alike.
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from .url_checks import (
    Address,
    Deadline,
    Target,
    UrlFetchError,
    parse_allowed_networks,
    parse_target,
    quote_for_message,
    resolve_allowed_addresses,
    timeout_error,
)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK_BYTES = 64 * 1024


class AddressUnreachable(UrlFetchError):
    """Connecting to one resolved address failed; the next one may be tried."""


@dataclass(frozen=True)
class Download:
    """A body read in full from the last hop of a GET."""

    content: bytes
    headers: urllib3.HTTPHeaderDict
    final_url: str


def get(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 5,
    allowed_networks: Sequence[str] = (),
    user_agent: str,
    accept: str = "*/*",
    what: str = "the resource",
    check_response: Callable[[urllib3.BaseHTTPResponse, Target], None] | None = None,
) -> Download:
    """GET ``url``, following redirects, refusing anything that is not a public web address.

    ``timeout`` is the deadline for the whole exchange, redirects and body included.
    ``allowed_networks`` lists CIDR ranges (e.g. an intranet server) that may be reached
    even though they are not public. ``check_response`` sees the final answer before its
    body is read and raises UrlFetchError to refuse it; ``what`` names the resource in
    messages. Raises ``UrlFetchError``; raises ``ValueError`` for invalid arguments
    (a programming or configuration error).
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if max_redirects < 0:
        raise ValueError("max_redirects must not be negative")
    networks = parse_allowed_networks(allowed_networks)
    deadline = Deadline(timeout, what)

    current_url = url
    redirects_followed = 0
    while True:
        target = parse_target(current_url)
        addresses = resolve_allowed_addresses(target, networks, deadline)
        with open_exchange(target, addresses, deadline, user_agent, accept=accept) as exchange:
            response = exchange.response
            location = response.headers.get("Location")
            if response.status in REDIRECT_STATUSES and location:
                if redirects_followed >= max_redirects:
                    raise UrlFetchError(
                        "url_too_many_redirects",
                        f"The address {quote_for_message(url)} redirected more than "
                        f"{max_redirects} time{'s' if max_redirects != 1 else ''}; "
                        f"{what} could not be reached.",
                    )
                redirects_followed += 1
                current_url = urllib.parse.urljoin(target.url, location.strip())
                continue
            if check_response is not None:
                check_response(response, target)
            content = exchange.read_body(max_bytes)
            return Download(content=content, headers=response.headers, final_url=target.url)


# --- the HTTP exchange ----------------------------------------------------------------


class _ConnectionTrackingMixin:
    """Remembers every connection a pool opens, so a watchdog can cut them off."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.opened_connections: list = []

    def _new_conn(self):
        connection = super()._new_conn()
        self.opened_connections.append(connection)
        return connection


class _TrackedHTTPConnectionPool(_ConnectionTrackingMixin, urllib3.HTTPConnectionPool):
    pass


class _TrackedHTTPSConnectionPool(_ConnectionTrackingMixin, urllib3.HTTPSConnectionPool):
    pass


class Exchange:
    """One request on its own connection to a validated address.

    Socket timeouts only bound each single wait, so a server dripping one byte at a
    time could stretch a fetch forever; a watchdog timer therefore shuts the socket
    down when the overall deadline passes.
    """

    def __init__(self, target: Target, address: Address, deadline: Deadline, user_agent: str, *, accept: str = "*/*"):
        self.target = target
        self.address = address
        self.deadline = deadline
        self.user_agent = user_agent
        self.accept = accept
        self.response: urllib3.BaseHTTPResponse | None = None
        self._pool = None
        self._watchdog: threading.Timer | None = None
        self._cut_off = threading.Event()

    def open(self, method: str = "GET", body: bytes | None = None, extra_headers=None) -> None:
        """Send the request to the checked address (no redirects, no retries, one deadline)."""
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise timeout_error(self.target, self.deadline)
        self._pool = self._make_pool(remaining)
        self._watchdog = threading.Timer(remaining, self._shut_down_sockets)
        self._watchdog.daemon = True
        self._watchdog.start()
        headers = {
            "Accept": self.accept,
            **(extra_headers or {}),
            "Host": self.target.host_header,
            "User-Agent": self.user_agent,
            # Raw bytes only: the size limit then applies to what is stored, and no
            # decompression bomb can be expanded in memory.
            "Accept-Encoding": "identity",
            "Connection": "close",
        }
        try:
            self.response = self._pool.urlopen(
                method,
                self.target.request_target,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                preload_content=False,
                decode_content=False,
                assert_same_host=False,
            )
        except BaseException as exc:
            self.close()
            raise self._translate(exc, during_body=False) from None

    def _make_pool(self, remaining: float):
        pool_host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        socket_timeout = urllib3.Timeout(connect=remaining, read=remaining)
        common = dict(host=pool_host, port=self.target.port, timeout=socket_timeout,
                      maxsize=1, block=False, retries=False)
        if self.target.scheme == "https":
            # Connect to the IP, but do SNI and certificate checks against the name.
            return _TrackedHTTPSConnectionPool(
                **common,
                cert_reqs="CERT_REQUIRED",
                server_hostname=self.target.hostname,
                assert_hostname=self.target.hostname,
            )
        return _TrackedHTTPConnectionPool(**common)

    def read_body(self, max_bytes: int) -> bytes:
        assert self.response is not None
        declared_length = _declared_content_length(self.response)
        if declared_length is not None and declared_length > max_bytes:
            raise _too_large_error(self.target, max_bytes)
        body = bytearray()
        try:
            while True:
                if self.deadline.expired():
                    raise timeout_error(self.target, self.deadline)
                # Ask for at most one byte past the limit, so memory never exceeds it by more.
                chunk = self.response.read1(
                    min(READ_CHUNK_BYTES, max_bytes - len(body) + 1), decode_content=False
                )
                if not chunk:
                    break
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise _too_large_error(self.target, max_bytes)
        except UrlFetchError:
            raise
        except BaseException as exc:
            raise self._translate(exc, during_body=True) from None
        if self._cut_off.is_set() or self.deadline.expired():
            # The watchdog may have ended the body early; a truncated image is a timeout.
            raise timeout_error(self.target, self.deadline)
        return bytes(body)

    def _translate(self, exc: BaseException, *, during_body: bool) -> BaseException:
        if isinstance(exc, UrlFetchError) or not isinstance(exc, Exception):
            return exc
        if self._cut_off.is_set() or self.deadline.expired():
            return timeout_error(self.target, self.deadline)
        host = self.target.hostname
        # NewConnectionError subclasses urllib3's TimeoutError but means "refused".
        if isinstance(exc, Urllib3TimeoutError) and not isinstance(exc, NewConnectionError):
            return timeout_error(self.target, self.deadline)
        if isinstance(exc, SSLError):
            return UrlFetchError(
                "url_connection_failed",
                f"A secure connection to {host} could not be established "
                "(its certificate could not be verified or the TLS handshake failed).",
            )
        if isinstance(exc, NewConnectionError):
            return AddressUnreachable(
                "url_connection_failed", f"Could not connect to {host} on port {self.target.port}."
            )
        if during_body:
            return UrlFetchError(
                "url_connection_failed",
                f"The connection to {host} broke off before the whole file was received.",
            )
        if isinstance(exc, (HTTPError, OSError, ValueError)):
            return UrlFetchError(
                "url_connection_failed",
                f"The server at {host} did not send a valid HTTP response.",
            )
        return exc

    def _shut_down_sockets(self) -> None:
        self._cut_off.set()
        for connection in list(getattr(self._pool, "opened_connections", ())):
            sock = getattr(connection, "sock", None)
            if sock is None:
                continue
            try:
                # The plain-socket shutdown wakes a recv() blocked in another thread;
                # SSLSocket.shutdown would also tear down TLS state under that thread.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, TypeError, ValueError):
                pass

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.response is not None:
            try:
                self.response.close()
            except Exception:
                pass
        if self._pool is not None:
            for connection in self._pool.opened_connections:
                try:
                    connection.close()
                except Exception:
                    pass
            self._pool.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_exchange(
    target: Target, addresses: list[Address], deadline: Deadline, user_agent: str, *, accept: str = "*/*"
) -> Exchange:
    """Send a GET to the first validated address that accepts a connection; the caller closes it."""
    last_error: UrlFetchError | None = None
    for address in addresses:
        exchange = Exchange(target, address, deadline, user_agent, accept=accept)
        try:
            exchange.open()
        except AddressUnreachable as error:
            # Another validated address of the same host may still answer.
            last_error = error
            continue
        return exchange
    assert last_error is not None
    raise last_error


def _declared_content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    lengths = []
    for value in response.headers.getlist("Content-Length"):
        for item in value.split(","):
            item = item.strip()
            if item.isdigit():
                lengths.append(int(item))
    # Conflicting or unparsable lengths are ignored here; the streaming limit still holds.
    return max(lengths) if lengths else None


# --- messages -------------------------------------------------------------------------


def _too_large_error(target: Target, max_bytes: int) -> UrlFetchError:
    return UrlFetchError(
        "url_too_large",
        f"The file at {target.hostname} is larger than the limit of {_format_size(max_bytes)}.",
    )


def _format_size(size: int) -> str:
    mebibyte = 1024 * 1024
    if size >= mebibyte and size % mebibyte == 0:
        return f"{size // mebibyte} MB"
    if size >= mebibyte:
        return f"{size / mebibyte:.1f} MB ({size:,} bytes)"
    return f"{size:,} byte{'s' if size != 1 else ''}"
