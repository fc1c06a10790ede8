"""Every test here runs against the offline fake web site of tests/fake_web.py."""

from tests.fake_web import (  # noqa: F401
    _fresh_request_log,
    connections,
    dns,
    site,
    tls_material,
    tls_site,
    trust_test_ca,
)
