"""aiornot_site.safe_http's exchange: connection failures, redirects, size limits, the deadline, https."""

from __future__ import annotations

import socket
import time

from tests.fake_web import PNG, TIMEOUT, TLS_HOSTNAME, expect_error, fetch


# --- connection failures --------------------------------------------------------------


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
