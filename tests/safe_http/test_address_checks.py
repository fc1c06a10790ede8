"""aiornot_site.safe_http refuses URLs and addresses the server must not reach (through fetch_url)."""

from __future__ import annotations

import pytest

from detector.url_fetch import fetch_url
from tests.fake_web import LOOPBACK_ONLY, PNG, _IPv6SiteServer, _run_site, _SiteHandler, expect_error, fetch


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
