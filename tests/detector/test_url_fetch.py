"""Tests for detector.url_fetch, the SSRF-safe image fetcher.

Everything runs offline: a threaded HTTP(S) server on 127.0.0.1 plays the remote
site, an offline resolver stands in for DNS, and a guard on socket.connect makes
any attempt to reach a non-loopback address fail (and be recorded) instead of
sending a packet.
"""

from __future__ import annotations

import errno
import io
import ipaddress
import shutil
import socket
import socketserver
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from detector import url_fetch
from detector.url_fetch import FetchedResource, UrlFetchError, fetch_url

TIMEOUT = 0.5
SLOW_SERVER_DELAY = 1.0
LOOPBACK_ONLY = ("127.0.0.1/32",)
TLS_HOSTNAME = "images.test"


def _make_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _make_png()


# --- the fake remote site -------------------------------------------------------------


class _SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.close_connection = True
        path = urllib.parse.urlsplit(self.path).path
        self.server.requests.append((path, dict(self.headers.items())))
        port = self.server.server_port
        if path == "/image.png" or path == "/echo" or path.startswith("/files/"):
            return self._send(200, PNG, content_type="image/png")
        if path == "/image-untyped":
            return self._send(200, PNG, content_type=None)
        if path == "/image-with-params":
            return self._send(200, PNG, content_type="Image/PNG; charset=binary")
        if path == "/octet-stream":
            return self._send(200, PNG, content_type="application/octet-stream")
        if path == "/page.html":
            return self._send(200, b"<html><body>hello</body></html>", "text/html; charset=utf-8")
        if path == "/data.json":
            return self._send(200, b'{"image": false}', content_type="application/json")
        if path == "/missing":
            return self._send(404, b"not found", content_type="text/plain")
        if path == "/server-error":
            return self._send(500, b"boom", content_type="text/plain")
        if path == "/redirect-to-image":
            return self._redirect("/image.png")
        if path == "/redirect-to-private":
            return self._redirect("http://10.0.0.1/x")
        if path == "/redirect-to-other-loopback":
            return self._redirect(f"http://127.0.0.2:{port}/image.png")
        if path == "/redirect-to-file":
            return self._redirect("file:///etc/passwd")
        if path == "/redirect-to-ssh-port":
            return self._redirect("http://127.0.0.1:22/")
        if path == "/redirect-to-credentials":
            return self._redirect(f"http://admin:secret@127.0.0.1:{port}/image.png")
        if path == "/redirect-loop":
            return self._redirect("/redirect-loop")
        if path.startswith("/redirect-chain/"):
            hops_left = int(path.rsplit("/", 1)[1])
            return self._redirect(f"/redirect-chain/{hops_left - 1}" if hops_left else "/image.png")
        if path == "/redirect-without-location":
            return self._send(302, b"", content_type=None)
        if path == "/redirect-with-cookie":
            return self._redirect("/echo", extra_headers={"Set-Cookie": "session=abc123; Path=/"})
        if path == "/large-declared":
            return self._send(200, b"\0" * 10_000, content_type="image/png")
        if path == "/chunked-image":
            return self._send_chunked([PNG[:20], PNG[20:]])
        if path == "/endless-chunked":
            return self._send_endless_chunked()
        if path == "/short-body":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(PNG[:10])
            return None
        if path == "/slow-headers":
            time.sleep(SLOW_SERVER_DELAY)
            return self._send(200, PNG, content_type="image/png")
        if path == "/slow-drip":
            return self._send_slow_drip()
        if path == "/slow-drip-headers":
            return self._send_slow_drip_headers()
        if path.startswith("/slow-redirect/"):
            hops_left = int(path.rsplit("/", 1)[1])
            time.sleep(TIMEOUT * 0.6)
            if hops_left:
                return self._redirect(f"/slow-redirect/{hops_left - 1}")
            return self._send(200, PNG, content_type="image/png")
        return self._send(404, b"no such route", content_type="text/plain")

    def _send(self, status, body, content_type, extra_headers=None):
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location, extra_headers=None):
        self._send(302, b"", content_type=None, extra_headers={"Location": location, **(extra_headers or {})})

    def _start_chunked(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()

    def _write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_chunked(self, chunks):
        self._start_chunked()
        for chunk in chunks:
            self._write_chunk(chunk)
        self.wfile.write(b"0\r\n\r\n")

    def _send_endless_chunked(self):
        self._start_chunked()
        # Capped so a broken client cannot keep this thread busy for long.
        for _ in range(10_000):
            try:
                self._write_chunk(b"\xab" * 1000)
            except OSError:
                return

    def _send_slow_drip(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "100")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        for _ in range(100):
            try:
                self.wfile.write(b"\x00")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)


    def _send_slow_drip_headers(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Padding: ")
        for _ in range(100):
            try:
                self.wfile.write(b"a")
                self.wfile.flush()
            except OSError:
                return
            time.sleep(0.05)


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self.requests = []
        super().__init__(*args, **kwargs)

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), which may query DNS; stay offline.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        pass  # the fetcher hanging up mid-response is expected in many tests


class _IPv6SiteServer(_SiteServer):
    address_family = socket.AF_INET6


class RunningSite:
    def __init__(self, server: _SiteServer, scheme: str):
        self.server = server
        self.scheme = scheme
        self.port = server.server_port

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def requested_paths(self) -> list[str]:
        return [path for path, _headers in self.server.requests]

    def headers_for(self, path: str) -> dict[str, str]:
        return next(headers for seen, headers in self.server.requests if seen == path)


def _run_site(server: _SiteServer, scheme: str):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield RunningSite(server, scheme)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def site():
    yield from _run_site(_SiteServer(("127.0.0.1", 0), _SiteHandler), "http")


@pytest.fixture(autouse=True)
def _fresh_request_log(request):
    # Module-scoped servers are shared; each test starts with an empty request log.
    for name in ("site", "tls_site"):
        if name in request.fixturenames:
            request.getfixturevalue(name).server.requests.clear()


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory):
    """A throwaway CA and a certificate for TLS_HOSTNAME, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec_key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=aiornot test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *ec_key, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={TLS_HOSTNAME}")
    (directory / "server.ext").write_text(
        f"subjectAltName=DNS:{TLS_HOSTNAME}\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
    return directory


@pytest.fixture(scope="module")
def tls_site(tls_material):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_material / "server.pem", tls_material / "server.key")
    server = _SiteServer(("127.0.0.1", 0), _SiteHandler)
    server.sni_names = []
    context.sni_callback = lambda _sock, name, _ctx: server.sni_names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield from _run_site(server, "https")


@pytest.fixture
def trust_test_ca(tls_material, monkeypatch):
    # OpenSSL's default verify paths honour SSL_CERT_FILE; urllib3 loads those defaults.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_material / "ca.pem"))


# --- offline DNS and the connection guard ---------------------------------------------


class OfflineResolver:
    """Answers for test names; numeric hosts pass through; everything else does not exist.

    ``answer(name, first, second, ...)`` queues one address list per lookup; the
    last list is repeated for any further lookups.
    """

    def __init__(self, real_getaddrinfo):
        self._real_getaddrinfo = real_getaddrinfo
        self._answers = {"localhost": [["127.0.0.1", "::1"]]}
        self.lookups: list[str] = []

    def answer(self, name, *address_lists):
        self._answers[name] = [list(addresses) for addresses in address_lists]

    def lookups_of(self, name) -> int:
        return self.lookups.count(name)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        if isinstance(host, bytes):
            host = host.decode("ascii")
        self.lookups.append(host)
        if host in self._answers:
            queue = self._answers[host]
            addresses = queue.pop(0) if len(queue) > 1 else queue[0]
            port = int(port or 0)
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port, 0, 0))
                if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (a, port))
                for a in addresses
            ]
        try:
            return self._real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


@pytest.fixture(autouse=True)
def dns(monkeypatch):
    # Patched on the socket module the fetcher uses; urllib3 shares it, which is why
    # numeric hosts are passed through to the real resolver.
    resolver = OfflineResolver(socket.getaddrinfo)
    monkeypatch.setattr(url_fetch.socket, "getaddrinfo", resolver.getaddrinfo)
    return resolver


@pytest.fixture(autouse=True)
def connections(monkeypatch):
    """Every (address, port) something tried to connect to; only loopback really connects."""
    attempts: list[tuple[str, int]] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        if isinstance(address, tuple):
            host = address[0]
            attempts.append((host, address[1]))
            if not ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
                raise ConnectionRefusedError(errno.ECONNREFUSED, f"test guard refused {host}")
        return real_connect(sock, address)

    def guarded_connect_ex(sock, address):
        try:
            guarded_connect(sock, address)
        except OSError as exc:
            return exc.errno or errno.ECONNREFUSED
        return 0

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    return attempts


# --- helpers --------------------------------------------------------------------------


def fetch(url, **options):
    options.setdefault("max_bytes", 1_000_000)
    options.setdefault("timeout", 2.0)
    options.setdefault("allowed_networks", LOOPBACK_ONLY)
    return fetch_url(url, **options)


def expect_error(code, url, *message_fragments, **options):
    with pytest.raises(UrlFetchError) as excinfo:
        fetch(url, **options)
    error = excinfo.value
    assert error.code == code, error.message
    assert error.code in url_fetch.ERROR_CODES
    assert str(error) == error.message
    # A sentence for an end user, not an exception dump.
    assert error.message[0].isupper() and error.message.endswith("."), error.message
    assert "Traceback" not in error.message and "urllib3" not in error.message
    for fragment in message_fragments:
        assert fragment in error.message
    return error


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


def test_body_shorter_than_its_declared_length_is_a_connection_failure(site):
    expect_error("url_connection_failed", site.url("/short-body"), "127.0.0.1")


def test_closed_port_is_a_connection_failure(site):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        unused_port = placeholder.getsockname()[1]

    expect_error("url_connection_failed", f"http://127.0.0.1:{unused_port}/image.png", str(unused_port))


# --- redirects ------------------------------------------------------------------------


def test_redirect_to_image_is_followed(site):
    resource = fetch(site.url("/redirect-to-image"))

    assert resource.content == PNG
    assert resource.final_url == site.url("/image.png")
    assert site.requested_paths() == ["/redirect-to-image", "/image.png"]


def test_redirects_up_to_the_limit_are_followed(site):
    resource = fetch(site.url("/redirect-chain/2"), max_redirects=3)

    assert resource.content == PNG


def test_one_redirect_more_than_the_limit_is_refused(site):
    expect_error(
        "url_too_many_redirects", site.url("/redirect-chain/2"), "more than 2 times", max_redirects=2
    )

    assert "/image.png" not in site.requested_paths()


def test_endless_redirect_loop_is_refused(site):
    expect_error("url_too_many_redirects", site.url("/redirect-loop"), "5 times")

    assert site.requested_paths() == ["/redirect-loop"] * 6


def test_redirect_to_private_address_is_refused(site, connections):
    expect_error("url_host_not_public", site.url("/redirect-to-private"), "10.0.0.1", "private network")

    assert connections == [("127.0.0.1", site.port)]


def test_redirect_to_loopback_address_outside_allowed_networks_is_refused(site, connections):
    expect_error("url_host_not_public", site.url("/redirect-to-other-loopback"), "127.0.0.2", "loopback")

    assert ("127.0.0.2", site.port) not in connections


def test_redirect_to_file_scheme_is_refused(site):
    expect_error("url_scheme_not_allowed", site.url("/redirect-to-file"), "file:")


def test_redirect_to_system_service_port_is_refused(site, connections):
    expect_error("url_port_not_allowed", site.url("/redirect-to-ssh-port"), "Port 22")

    assert connections == [("127.0.0.1", site.port)]


def test_redirect_to_address_with_credentials_is_refused(site):
    expect_error("url_invalid", site.url("/redirect-to-credentials"), "user name or password")


def test_cookies_set_during_redirects_are_not_sent_back(site):
    fetch(site.url("/redirect-with-cookie"))

    echoed = {name.lower() for name in site.headers_for("/echo")}
    assert "cookie" not in echoed


# --- size limits ----------------------------------------------------------------------


def test_declared_length_over_the_limit_is_refused(site):
    expect_error("url_too_large", site.url("/large-declared"), "1,000 bytes", max_bytes=1000)


def test_image_of_exactly_the_limit_is_accepted(site):
    assert fetch(site.url("/image.png"), max_bytes=len(PNG)).content == PNG


def test_image_one_byte_over_the_limit_is_refused(site):
    expect_error("url_too_large", site.url("/image.png"), f"{len(PNG) - 1} bytes", max_bytes=len(PNG) - 1)


def test_chunked_image_of_exactly_the_limit_is_accepted(site):
    assert fetch(site.url("/chunked-image"), max_bytes=len(PNG)).content == PNG


def test_chunked_image_over_the_limit_is_refused(site):
    expect_error("url_too_large", site.url("/chunked-image"), "limit", max_bytes=len(PNG) - 1)


def test_endless_chunked_body_is_cut_off_at_the_limit(site):
    started = time.monotonic()

    expect_error("url_too_large", site.url("/endless-chunked"), "5,000 bytes", max_bytes=5000, timeout=5.0)

    assert time.monotonic() - started < 2.0


# --- the overall deadline -------------------------------------------------------------


def test_slow_response_times_out(site):
    started = time.monotonic()

    expect_error("url_timeout", site.url("/slow-headers"), "0.5 seconds", "127.0.0.1", timeout=TIMEOUT)

    assert time.monotonic() - started < TIMEOUT + 0.4


def test_slow_drip_body_times_out_at_the_overall_deadline(site):
    # Each byte arrives well within any per-read socket timeout; only an overall
    # deadline stops this.
    started = time.monotonic()

    expect_error("url_timeout", site.url("/slow-drip"), "0.5 seconds", timeout=TIMEOUT)

    assert time.monotonic() - started < TIMEOUT + 0.4


def test_slow_drip_headers_time_out_at_the_overall_deadline(site):
    started = time.monotonic()

    expect_error("url_timeout", site.url("/slow-drip-headers"), "0.5 seconds", timeout=TIMEOUT)

    assert time.monotonic() - started < TIMEOUT + 0.4


def test_deadline_covers_all_redirect_hops_together(site):
    # Every hop alone answers within the timeout; together they exceed it.
    started = time.monotonic()

    expect_error("url_timeout", site.url("/slow-redirect/3"), "seconds", timeout=TIMEOUT)

    assert time.monotonic() - started < TIMEOUT + 0.4


# --- URLs refused before any network access -------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file:"),
        ("ftp://example.com/cat.png", "ftp:"),
        ("data:image/png;base64,iVBORw0KGgo=", "data:"),
        ("javascript:alert(1)", "javascript:"),
        ("gopher://example.com:70/_stats", "gopher:"),
        ("dict://example.com:11211/stat", "dict:"),
        ("ws://example.com/socket", "ws:"),
    ],
)
def test_disallowed_schemes_are_refused(url, scheme, dns, connections):
    expect_error("url_scheme_not_allowed", url, scheme, "http:// and https://")

    assert dns.lookups == [] and connections == []


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pass@example.com/cat.png",
        "https://user@example.com/cat.png",
        "http://:secret@example.com/",
        "http://example.com\\@127.0.0.1/",
    ],
)
def test_urls_with_credentials_are_refused(url, dns):
    expect_error("url_invalid", url, "user name or password")

    assert dns.lookups == []


@pytest.mark.parametrize("url", ["http://", "http:///cat.png", "https://:8080/cat.png", "http://?q=1"])
def test_urls_without_host_are_refused(url):
    expect_error("url_invalid", url, "no host name")


@pytest.mark.parametrize("url", ["example.com/cat.png", "//example.com/cat.png", ""])
def test_urls_without_scheme_are_refused(url):
    expect_error("url_invalid", url, "web address")


def test_overly_long_url_is_refused():
    expect_error("url_invalid", "http://example.com/" + "a" * 2100, "2,048")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/cat.png\r\nX-Injected: 1",
        "http://exam\tple.com/",
        "http://example.com/\x00.png",
    ],
)
def test_control_characters_are_refused(url):
    expect_error("url_invalid", url, "control characters")


@pytest.mark.parametrize("url", ["http://example.com:99999/", "http://example.com:http/"])
def test_invalid_port_is_refused(url):
    expect_error("url_invalid", url, "port")


@pytest.mark.parametrize("port", [0, 21, 22, 25, 53, 389, 1023])
def test_system_service_ports_are_refused(port, dns, connections):
    expect_error("url_port_not_allowed", f"http://example.com:{port}/cat.png", f"Port {port}")

    assert dns.lookups == [] and connections == []


@pytest.mark.parametrize("port", [80, 443, 1024, 8080, 65535])
def test_web_and_unprivileged_ports_pass_the_port_check(port, dns):
    dns.answer("intranet.example", ["10.0.0.7"])

    # Getting as far as the address check shows the port was accepted.
    expect_error(
        "url_host_not_public", f"http://intranet.example:{port}/cat.png", "10.0.0.7", allowed_networks=()
    )


@pytest.mark.parametrize(
    ("url", "address_named"),
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://127.0.0.1:8000/", "127.0.0.1"),
        ("http://[::1]/", "::1"),
        ("http://localhost/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f000001/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        ("http://127.1/", "127.0.0.1"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://10.1.2.3/", "10.1.2.3"),
        ("http://172.16.0.1/", "172.16.0.1"),
        ("http://192.168.1.1/", "192.168.1.1"),
        ("http://100.64.0.1/", "100.64.0.1"),
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),
        ("http://[::ffff:a9fe:a9fe]/", "169.254.169.254"),
        ("http://[::127.0.0.1]/", "127.0.0.1"),
        ("http://[64:ff9b::a00:1]/", "10.0.0.1"),
        ("http://[2002:c0a8:101::1]/", "192.168.1.1"),
        ("http://[fe80::1]/", "fe80::1"),
        ("http://[fc00::1]/", "fc00::1"),
        ("http://[fec0::1]/", "fec0::1"),
        ("http://[::]/", "::"),
        ("http://224.0.0.1/", "224.0.0.1"),
        ("http://255.255.255.255/", "255.255.255.255"),
        ("http://192.0.2.10/", "192.0.2.10"),
    ],
)
def test_non_public_addresses_are_refused_before_connecting(url, address_named, connections):
    expect_error(
        "url_host_not_public", url, address_named, "only public web addresses", allowed_networks=()
    )

    assert connections == []


def test_name_with_any_non_public_address_is_refused(dns, connections):
    dns.answer("mixed.example", ["93.184.216.34", "192.168.0.10"])

    expect_error("url_host_not_public", "http://mixed.example/cat.png", "mixed.example", "192.168.0.10")

    assert connections == []


def test_allowed_networks_admit_only_their_own_range(dns, connections):
    dns.answer("intranet.example", ["127.0.0.1", "10.20.30.40"])

    expect_error(
        "url_host_not_public", "http://intranet.example:8080/", "10.20.30.40", allowed_networks=LOOPBACK_ONLY
    )

    assert connections == []


def test_unresolvable_name_is_reported(dns, connections):
    expect_error(
        "url_dns_failed", "http://nonexistent.invalid/cat.png", "nonexistent.invalid", "could not be found"
    )

    assert dns.lookups == ["nonexistent.invalid"]
    assert connections == []


def test_invalid_allowed_network_is_a_configuration_error():
    with pytest.raises(ValueError, match="not-a-network"):
        fetch_url("http://example.com/", max_bytes=10, timeout=1, allowed_networks=["not-a-network"])


# --- DNS rebinding --------------------------------------------------------------------


def test_connection_goes_to_the_validated_address_without_a_second_lookup(site, dns, connections):
    # A fetcher that looks the name up again when connecting gets 10.0.0.1 the
    # second time, and then either refuses or tries 10.0.0.1: both fail this test.
    dns.answer("rebind.example", ["127.0.0.1"], ["10.0.0.1"])

    resource = fetch(site.url("/image.png", host="rebind.example"))

    assert resource.content == PNG
    assert dns.lookups_of("rebind.example") == 1
    assert connections == [("127.0.0.1", site.port)]


def test_rebinding_to_loopback_after_a_public_answer_does_not_reach_the_server(site, dns, connections):
    # The first, validated answer is public; connecting there is stopped by the
    # test's connection guard. Only a second lookup would lead to 127.0.0.1.
    dns.answer("rebind.example", ["93.184.216.34"], ["127.0.0.1"])

    expect_error(
        "url_connection_failed",
        site.url("/image.png", host="rebind.example"),
        "rebind.example",
        allowed_networks=(),
    )

    assert dns.lookups_of("rebind.example") == 1
    assert connections == [("93.184.216.34", site.port)]
    assert site.requested_paths() == []


def test_every_redirect_hop_is_resolved_and_checked_again(site, dns, connections):
    dns.answer("rebind.example", ["127.0.0.1"], ["10.0.0.1"])

    expect_error("url_host_not_public", site.url("/redirect-to-image", host="rebind.example"), "10.0.0.1")

    assert dns.lookups_of("rebind.example") == 2
    assert connections == [("127.0.0.1", site.port)]
    assert site.requested_paths() == ["/redirect-to-image"]


def test_ipv6_literal_host_is_fetched_when_allowed(connections):
    try:
        server = _IPv6SiteServer(("::1", 0), _SiteHandler)
    except OSError:
        pytest.skip("IPv6 loopback is not available here")
    for running in _run_site(server, "http"):
        resource = fetch(running.url("/image.png", host="[::1]"), allowed_networks=["::1/128"])

        assert resource.content == PNG
        assert running.headers_for("/image.png")["Host"] == f"[::1]:{running.port}"
        assert connections == [("::1", running.port)]


# --- https ----------------------------------------------------------------------------


def test_https_connects_to_the_address_but_verifies_the_host_name(tls_site, trust_test_ca, dns, connections):
    dns.answer(TLS_HOSTNAME, ["127.0.0.1"])

    resource = fetch(tls_site.url("/image.png", host=TLS_HOSTNAME))

    assert resource.content == PNG
    assert resource.final_url == f"https://{TLS_HOSTNAME}:{tls_site.port}/image.png"
    assert tls_site.server.sni_names[-1] == TLS_HOSTNAME
    assert dns.lookups_of(TLS_HOSTNAME) == 1
    assert connections == [("127.0.0.1", tls_site.port)]


def test_https_certificate_for_another_name_is_refused(tls_site, trust_test_ca, dns):
    dns.answer("other-name.example", ["127.0.0.1"])

    expect_error(
        "url_connection_failed", tls_site.url("/image.png", host="other-name.example"), "certificate"
    )

    assert tls_site.requested_paths() == []
