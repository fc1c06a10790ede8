"""Fetch an image by URL on the server without opening an SSRF hole.

Every hop (the first request and each redirect) is handled the same way:

1. parse and check the URL (scheme, userinfo, host, port, length);
2. resolve the host exactly once with ``socket.getaddrinfo``;
3. refuse the hop unless *every* resolved address is publicly routable or lies
   inside one of the administrator's ``allowed_networks``;
4. connect to the validated IP address itself, sending the original name only in
   the ``Host`` header and, for https, as SNI and for certificate checking.

Connecting to the validated address (instead of letting the HTTP library resolve
the name again) is what defeats DNS rebinding: a second lookup could return an
internal address after the first one passed the check.

The module is plain Python on purpose (no Django), so it can be used from views,
Celery tasks and management commands alike.
"""

from __future__ import annotations

import http
import ipaddress
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

__all__ = ["ERROR_CODES", "FetchedResource", "UrlFetchError", "fetch_url"]

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

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
READ_CHUNK_BYTES = 64 * 1024

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

# Carrier-grade NAT space: not "private" per RFC 1918, but never reachable from
# the internet, so treat it like an internal network.
_SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
# NAT64 well-known prefix: the last 32 bits are an IPv4 address that a NAT64
# gateway would connect to, so that embedded address is what must be public.
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# Deprecated IPv4-compatible IPv6 addresses (::a.b.c.d); never legitimate today.
_IPV4_COMPATIBLE_PREFIX = ipaddress.IPv6Network("::/96")

_HOSTNAME_PATTERN = re.compile(r"^[a-z0-9_.-]+$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE_FILENAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
MAX_FILENAME_LENGTH = 255
# Characters left as they are in the request target; everything else (spaces,
# non-ASCII, quotes, ...) is percent-encoded. '%' is kept so existing escapes
# are not encoded twice.
_REQUEST_TARGET_SAFE_CHARACTERS = "!$%&'()*+,/:;=?@[]~"


class UrlFetchError(Exception):
    """A URL could not be fetched; ``code`` is machine-readable, ``message`` is for people."""

    code: str
    message: str

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"UrlFetchError(code={self.code!r}, message={self.message!r})"


class _AddressUnreachable(UrlFetchError):
    """Connecting to one resolved address failed; the next one may be tried."""


@dataclass(frozen=True)
class FetchedResource:
    content: bytes
    content_type: str
    final_url: str
    filename: str


@dataclass(frozen=True)
class _Target:
    """One validated URL, ready to be requested."""

    url: str
    scheme: str
    hostname: str  # ASCII (IDNA) form, lower-case, no brackets
    port: int
    host_header: str
    request_target: str


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._expires_at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._expires_at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


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
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    if max_redirects < 0:
        raise ValueError("max_redirects must not be negative")
    networks = _parse_allowed_networks(allowed_networks)
    deadline = _Deadline(timeout)

    current_url = url
    redirects_followed = 0
    while True:
        target = _parse_target(current_url)
        addresses = _resolve_allowed_addresses(target, networks, deadline)
        with _open_exchange(target, addresses, deadline, user_agent) as exchange:
            response = exchange.response
            location = response.headers.get("Location")
            if response.status in REDIRECT_STATUSES and location:
                if redirects_followed >= max_redirects:
                    raise UrlFetchError(
                        "url_too_many_redirects",
                        f"The address {_quote_for_message(url)} redirected more than "
                        f"{max_redirects} time{'s' if max_redirects != 1 else ''}; "
                        "the image could not be reached.",
                    )
                redirects_followed += 1
                current_url = urllib.parse.urljoin(target.url, location.strip())
                continue
            _check_final_response(response, target)
            content = exchange.read_body(max_bytes)
            return FetchedResource(
                content=content,
                content_type=_media_type(response),
                final_url=target.url,
                filename=_filename_from_url(target.url),
            )


# --- URL checks -----------------------------------------------------------------------


def _parse_target(url: str) -> _Target:
    if not isinstance(url, str):
        raise UrlFetchError("url_invalid", "The web address must be text.")
    url = url.strip()
    if not url:
        raise UrlFetchError("url_invalid", "The web address is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise UrlFetchError(
            "url_invalid",
            f"The web address is {len(url):,} characters long; "
            f"at most {MAX_URL_LENGTH:,} characters are accepted.",
        )
    # Checked before urlsplit, which silently drops tabs and newlines.
    if _CONTROL_CHARACTERS.search(url):
        raise UrlFetchError(
            "url_invalid", "The web address contains control characters such as line breaks."
        )
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        raise UrlFetchError("url_invalid", "The web address could not be understood.") from None

    scheme = parts.scheme.lower()
    if not scheme:
        raise UrlFetchError(
            "url_invalid", "The web address must start with http:// or https://."
        )
    if scheme not in ALLOWED_SCHEMES:
        raise UrlFetchError(
            "url_scheme_not_allowed",
            f"Only http:// and https:// addresses can be fetched, not {scheme}: addresses.",
        )
    if "@" in parts.netloc:
        raise UrlFetchError(
            "url_invalid",
            "The web address contains a user name or password; "
            "only addresses without credentials can be fetched.",
        )
    hostname = _normalise_hostname(parts)
    port = _checked_port(parts, scheme)

    is_ipv6_literal = ":" in hostname
    host_in_header = f"[{hostname}]" if is_ipv6_literal else hostname
    if parts.port is not None and port != DEFAULT_PORTS[scheme]:
        host_in_header = f"{host_in_header}:{port}"
    request_target = parts.path or "/"
    if parts.query:
        request_target = f"{request_target}?{parts.query}"
    request_target = urllib.parse.quote(request_target, safe=_REQUEST_TARGET_SAFE_CHARACTERS)

    return _Target(
        url=urllib.parse.urlunsplit(parts._replace(fragment="")),
        scheme=scheme,
        hostname=hostname,
        port=port,
        host_header=host_in_header,
        request_target=request_target,
    )


def _normalise_hostname(parts: urllib.parse.SplitResult) -> str:
    try:
        hostname = parts.hostname
    except ValueError:
        hostname = None
    if not hostname:
        raise UrlFetchError("url_invalid", "The web address has no host name.")
    if ":" in hostname:
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            raise UrlFetchError(
                "url_invalid", f"The host {_quote_for_message(hostname)} is not a valid address."
            ) from None
        return hostname
    try:
        ascii_hostname = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlFetchError(
            "url_invalid", f"The host name {_quote_for_message(hostname)} is not valid."
        ) from None
    if not _HOSTNAME_PATTERN.match(ascii_hostname) or ascii_hostname.strip(".") == "":
        raise UrlFetchError(
            "url_invalid", f"The host name {_quote_for_message(hostname)} is not valid."
        )
    return ascii_hostname


def _checked_port(parts: urllib.parse.SplitResult, scheme: str) -> int:
    """Allow the default ports and 80, 443 and 1024-65535.

    Ports 1-1023 (other than 80 and 443) belong to system services such as SSH,
    SMTP, DNS or LDAP, the classic targets of cross-protocol SSRF, and public image
    hosting never lives there. Unprivileged ports stay allowed because real image
    servers and intranet hosts (see ``allowed_networks``) often use 8080, 8443 etc.;
    internal services on high ports are still protected by the address check.
    """
    try:
        explicit_port = parts.port
    except ValueError:
        raise UrlFetchError(
            "url_invalid", "The port in the web address is not a number between 0 and 65535."
        ) from None
    if explicit_port is None:
        return DEFAULT_PORTS[scheme]
    if explicit_port in (80, 443) or 1024 <= explicit_port <= 65535:
        return explicit_port
    raise UrlFetchError(
        "url_port_not_allowed",
        f"Port {explicit_port} is not allowed; only ports 80, 443 and 1024 to 65535 "
        "can be fetched.",
    )


# --- address checks -------------------------------------------------------------------

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_allowed_networks(allowed_networks: Sequence[str]) -> tuple[_Network, ...]:
    if isinstance(allowed_networks, str):
        raise ValueError("allowed_networks must be a sequence of CIDR strings, not one string")
    networks = []
    for cidr in allowed_networks:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"allowed_networks contains an invalid network {cidr!r}: {exc}") from None
    return tuple(networks)


def _resolve_allowed_addresses(
    target: _Target, networks: tuple[_Network, ...], deadline: _Deadline
) -> list[_Address]:
    """Resolve once and return the addresses to connect to, or refuse the host."""
    infos = _getaddrinfo_within_deadline(target, deadline)
    addresses: list[_Address] = []
    for family, _type, _proto, _canonname, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # Strip an IPv6 zone ("%eth0"); zones only exist on link-local addresses,
        # which are refused anyway.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlFetchError(
            "url_dns_failed",
            f"The host name {_quote_for_message(target.hostname)} has no usable address.",
        )
    # Refuse if ANY answer is internal: otherwise a name with one public and one
    # private record could still lead the connection inward.
    for address in addresses:
        if _is_in_networks(address, networks):
            continue
        problem = _why_not_public(address)
        if problem:
            if _is_ip_literal(target.hostname):
                subject = f"The address {address}"
            else:
                subject = f"The host {target.hostname} resolves to {address}, which"
            raise UrlFetchError(
                "url_host_not_public",
                f"{subject} is {problem}; only public web addresses can be fetched.",
            )
    return addresses


def _getaddrinfo_within_deadline(target: _Target, deadline: _Deadline) -> list:
    # getaddrinfo cannot be interrupted and a resolver may hang for many seconds,
    # so it runs in a daemon thread that is abandoned when the deadline passes.
    outcome: dict[str, object] = {}

    def lookup() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(
                target.hostname, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except BaseException as exc:  # handed over to the calling thread
            outcome["error"] = exc

    resolver = threading.Thread(target=lookup, name="url-fetch-dns", daemon=True)
    resolver.start()
    resolver.join(max(deadline.remaining(), 0))
    if resolver.is_alive():
        raise _timeout_error(target, deadline)
    error = outcome.get("error")
    if isinstance(error, UnicodeError):
        raise UrlFetchError(
            "url_invalid", f"The host name {_quote_for_message(target.hostname)} is not valid."
        )
    if isinstance(error, OSError):
        raise UrlFetchError(
            "url_dns_failed",
            f"The host name {_quote_for_message(target.hostname)} could not be found.",
        )
    if error is not None:
        raise error  # type: ignore[misc]
    return outcome["infos"]  # type: ignore[return-value]


def _is_ip_literal(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return True


def _is_in_networks(address: _Address, networks: tuple[_Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def _why_not_public(address: _Address) -> str | None:
    """Describe why ``address`` is not publicly routable, or return None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = _why_not_public(embedded)
            if problem:
                return f"an IPv6 form of {embedded}, which is {problem}"
        if address in _IPV4_COMPATIBLE_PREFIX:
            return "a reserved address"
    if address.is_loopback:
        return "a loopback address (this server itself)"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "a site-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private network address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form (mapped, 6to4, Teredo, NAT64) leads to."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        _server, client = address.teredo
        return client
    if address in _NAT64_PREFIX or address in _IPV4_COMPATIBLE_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


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


class _Exchange:
    """One GET request on its own connection to a validated address.

    Socket timeouts only bound each single wait, so a server dripping one byte at a
    time could stretch a fetch forever; a watchdog timer therefore shuts the socket
    down when the overall deadline passes.
    """

    def __init__(self, target: _Target, address: _Address, deadline: _Deadline, user_agent: str):
        self.target = target
        self.address = address
        self.deadline = deadline
        self.user_agent = user_agent
        self.response: urllib3.BaseHTTPResponse | None = None
        self._pool = None
        self._watchdog: threading.Timer | None = None
        self._cut_off = threading.Event()

    def open(self, method: str = "GET", body: bytes | None = None, extra_headers=None) -> None:
        """Send the request to the checked address (no redirects, no retries, one deadline)."""
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise _timeout_error(self.target, self.deadline)
        self._pool = self._make_pool(remaining)
        self._watchdog = threading.Timer(remaining, self._shut_down_sockets)
        self._watchdog.daemon = True
        self._watchdog.start()
        headers = {
            "Accept": "image/*,*/*;q=0.8",
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
                    raise _timeout_error(self.target, self.deadline)
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
            raise _timeout_error(self.target, self.deadline)
        return bytes(body)

    def _translate(self, exc: BaseException, *, during_body: bool) -> BaseException:
        if isinstance(exc, UrlFetchError) or not isinstance(exc, Exception):
            return exc
        if self._cut_off.is_set() or self.deadline.expired():
            return _timeout_error(self.target, self.deadline)
        host = self.target.hostname
        # NewConnectionError subclasses urllib3's TimeoutError but means "refused".
        if isinstance(exc, Urllib3TimeoutError) and not isinstance(exc, NewConnectionError):
            return _timeout_error(self.target, self.deadline)
        if isinstance(exc, SSLError):
            return UrlFetchError(
                "url_connection_failed",
                f"A secure connection to {host} could not be established "
                "(its certificate could not be verified or the TLS handshake failed).",
            )
        if isinstance(exc, NewConnectionError):
            return _AddressUnreachable(
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

    def __enter__(self) -> _Exchange:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _open_exchange(
    target: _Target, addresses: list[_Address], deadline: _Deadline, user_agent: str
) -> _Exchange:
    """Open the request on the first validated address that accepts a connection."""
    last_error: UrlFetchError | None = None
    for address in addresses:
        exchange = _Exchange(target, address, deadline, user_agent)
        try:
            exchange.open()
        except _AddressUnreachable as error:
            # Another validated address of the same host may still answer.
            last_error = error
            continue
        return exchange
    assert last_error is not None
    raise last_error


# --- response checks ------------------------------------------------------------------


def _check_final_response(response: urllib3.BaseHTTPResponse, target: _Target) -> None:
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
    media_type = _media_type(response)
    if media_type and not (
        media_type.startswith("image/") or media_type in GENERIC_BINARY_CONTENT_TYPES
    ):
        raise UrlFetchError(
            "url_not_image",
            f"The address on {target.hostname} returned {_quote_for_message(media_type)} "
            "content, not an image.",
        )


def _media_type(response: urllib3.BaseHTTPResponse) -> str:
    values = response.headers.getlist("Content-Type")
    if not values:
        return ""
    # With repeated headers the last one wins, as in browsers.
    return values[-1].split(";", 1)[0].strip().lower()


def _declared_content_length(response: urllib3.BaseHTTPResponse) -> int | None:
    lengths = []
    for value in response.headers.getlist("Content-Length"):
        for item in value.split(","):
            item = item.strip()
            if item.isdigit():
                lengths.append(int(item))
    # Conflicting or unparsable lengths are ignored here; the streaming limit still holds.
    return max(lengths) if lengths else None


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


# --- messages -------------------------------------------------------------------------


def _timeout_error(target: _Target, deadline: _Deadline) -> UrlFetchError:
    return UrlFetchError(
        "url_timeout",
        f"Fetching the image from {target.hostname} took longer than "
        f"{deadline.seconds:g} seconds.",
    )


def _too_large_error(target: _Target, max_bytes: int) -> UrlFetchError:
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


def _quote_for_message(text: str, limit: int = 100) -> str:
    shortened = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{shortened}"'
