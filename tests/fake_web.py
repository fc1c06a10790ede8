"""A fake remote web site, offline DNS and a connection guard, for tests of outbound HTTP.

Everything runs offline: a threaded HTTP(S) server on 127.0.0.1 plays the remote
site, an offline resolver stands in for DNS, and a guard on socket.connect makes
any attempt to reach a non-loopback address fail (and be recorded) instead of
sending a packet. The tests of ``aiornot_site.safe_http`` (tests/safe_http) and of
``detector.url_fetch`` import these fixtures and helpers.
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

from aiornot_site import url_checks
from aiornot_site.url_checks import UrlFetchError
from detector import url_fetch
from detector.url_fetch import fetch_url

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
    monkeypatch.setattr(url_checks.socket, "getaddrinfo", resolver.getaddrinfo)
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
