"""Which web addresses the server may reach: a URL is checked and its host resolved once, before any connection.

A URL passes when it is http(s), carries no credentials, names a host and uses port 80, 443 or
1024-65535; its host passes when *every* address it resolves to is publicly routable or lies
inside one of the administrator's ``allowed_networks``. ``safe_http`` then connects to the
address checked here, never to a second lookup of the name (DNS rebinding).
Plain Python (no Django).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

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


@dataclass(frozen=True)
class Target:
    """One validated URL, ready to be requested."""

    url: str
    scheme: str
    hostname: str  # ASCII (IDNA) form, lower-case, no brackets
    port: int
    host_header: str
    request_target: str


class Deadline:
    """One time limit for a whole exchange, every hop and the body included.

    ``what`` names what is being fetched, for the message when the time runs out.
    """

    def __init__(self, seconds: float, what: str = "the resource"):
        self.seconds = seconds
        self.what = what
        self._expires_at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._expires_at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


# --- URL checks -----------------------------------------------------------------------


def parse_target(url: str) -> Target:
    """Check a URL (scheme, credentials, host, port, length) without any network access."""
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

    return Target(
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
                "url_invalid", f"The host {quote_for_message(hostname)} is not a valid address."
            ) from None
        return hostname
    try:
        ascii_hostname = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UrlFetchError(
            "url_invalid", f"The host name {quote_for_message(hostname)} is not valid."
        ) from None
    if not _HOSTNAME_PATTERN.match(ascii_hostname) or ascii_hostname.strip(".") == "":
        raise UrlFetchError(
            "url_invalid", f"The host name {quote_for_message(hostname)} is not valid."
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

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowed_networks(allowed_networks: Sequence[str]) -> tuple[Network, ...]:
    """The administrator's CIDR ranges; ValueError for an invalid one (a configuration error)."""
    if isinstance(allowed_networks, str):
        raise ValueError("allowed_networks must be a sequence of CIDR strings, not one string")
    networks = []
    for cidr in allowed_networks:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"allowed_networks contains an invalid network {cidr!r}: {exc}") from None
    return tuple(networks)


def resolve_allowed_addresses(
    target: Target, networks: tuple[Network, ...], deadline: Deadline
) -> list[Address]:
    """Resolve once and return the addresses to connect to, or refuse the host."""
    infos = _getaddrinfo_within_deadline(target, deadline)
    addresses: list[Address] = []
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
            f"The host name {quote_for_message(target.hostname)} has no usable address.",
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


def _getaddrinfo_within_deadline(target: Target, deadline: Deadline) -> list:
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
        raise timeout_error(target, deadline)
    error = outcome.get("error")
    if isinstance(error, UnicodeError):
        raise UrlFetchError(
            "url_invalid", f"The host name {quote_for_message(target.hostname)} is not valid."
        )
    if isinstance(error, OSError):
        raise UrlFetchError(
            "url_dns_failed",
            f"The host name {quote_for_message(target.hostname)} could not be found.",
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


def _is_in_networks(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def _why_not_public(address: Address) -> str | None:
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


# --- messages -------------------------------------------------------------------------


def timeout_error(target: Target, deadline: Deadline) -> UrlFetchError:
    """The refusal when ``deadline`` ran out while talking to ``target``."""
    return UrlFetchError(
        "url_timeout",
        f"Fetching {deadline.what} from {target.hostname} took longer than "
        f"{deadline.seconds:g} seconds.",
    )


def quote_for_message(text: str, limit: int = 100) -> str:
    """``text`` in double quotes, shortened to ``limit`` characters, for a message."""
    shortened = text if len(text) <= limit else text[: limit - 1] + "…"
    return f'"{shortened}"'
