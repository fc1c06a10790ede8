"""C2PA manifests: signed, trusted, tampered, remote; validated offline, built with c2pa in
the test."""

from __future__ import annotations

import http.server
import threading

import pytest

from detector.evidence import MODERATE, NEUTRAL, NONE, STRONG, TOWARDS_AI, TOWARDS_HUMAN, UNREADABLE, WEAK
from detector.evidence.provenance import read_provenance
from detector.evidence.provenance.c2pa_manifest import _c2pa_settings

from .c2pa_signing import IPTC_SOURCE_TYPE, sign_image, signing_chain
from .provenance_files import _assert_well_formed, _image, _jpeg_segments, _only


def test_signed_ai_manifest_without_trust_anchors_is_valid_verified_but_not_decisive(signed_ai_jpeg):
    findings = read_provenance(signed_ai_jpeg)

    finding = _only(findings, "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, MODERATE, True)
    # The signature and hashes check out, but no configured anchor vouches for the
    # certificate: c2pa reports "Valid" and lists signingCredential.untrusted.
    assert finding.details["validation_state"] == "Valid"
    assert finding.details["validation_errors"] == ["signingCredential.untrusted"]
    assert finding.details["actions"] == ["c2pa.created"]
    assert finding.details["digital_source_types"] == [IPTC_SOURCE_TYPE + "trainedAlgorithmicMedia"]
    assert finding.details["claim_generator"] == "aiornot-tests 1.0"
    assert finding.details["signer"]["common_name"] == "Test C2PA Signer"
    assert finding.line.startswith(
        "C2PA manifest (Valid: signature valid, certificate not on the trust list) declares the image AI-generated"
    )
    _assert_well_formed(findings)


def test_signed_ai_manifest_with_the_test_ca_as_anchor_is_trusted(signed_ai_jpeg):
    finding = _only(read_provenance(signed_ai_jpeg, trust_anchors_pem=signing_chain().ca_pem), "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (TOWARDS_AI, STRONG, True)
    assert finding.details["validation_state"] == "Trusted"
    assert finding.details["validation_errors"] == []
    assert finding.details["trust_anchors_used"] is True
    assert "Trusted: signature valid, certificate trusted" in finding.line


def test_an_unrelated_trust_anchor_leaves_the_manifest_only_valid(signed_ai_jpeg):
    other_ca = signing_chain("Someone Else").ca_pem
    finding = _only(read_provenance(signed_ai_jpeg, trust_anchors_pem=other_ca), "c2pa")
    assert finding.details["validation_state"] == "Valid"


def test_unusable_trust_anchor_setting_falls_back_to_untrusted_validation(signed_ai_jpeg):
    finding = _only(read_provenance(signed_ai_jpeg, trust_anchors_pem="not a certificate"), "c2pa")
    assert finding.details["validation_state"] == "Valid"
    assert "no readable PEM certificate" in finding.details["trust_anchors_problem"]


def test_tampered_signed_image_fails_validation_and_says_so(signed_ai_jpeg):
    scan_start = _jpeg_segments(signed_ai_jpeg)[-1][0]
    tampered = bytearray(signed_ai_jpeg)
    for offset in range(scan_start + 20, scan_start + 26):  # entropy-coded pixel data
        tampered[offset] ^= 0x5A
    findings = read_provenance(bytes(tampered), trust_anchors_pem=signing_chain().ca_pem)

    finding = _only(findings, "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (UNREADABLE, NONE, False)
    assert finding.details["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in finding.details["validation_errors"]
    assert finding.line.startswith("C2PA manifest present but validation failed: assertion hash mismatch")
    assert "changed after signing" in finding.line
    assert "claims trainedAlgorithmicMedia, but an unvalidated claim proves nothing" in finding.line


@pytest.mark.parametrize(
    "source_type, anchors, direction, strength",
    [
        ("digitalCapture", True, TOWARDS_HUMAN, MODERATE),
        ("digitalCapture", False, TOWARDS_HUMAN, WEAK),
        ("compositeWithTrainedAlgorithmicMedia", False, TOWARDS_AI, MODERATE),
        ("algorithmicallyEnhanced", True, NEUTRAL, NONE),
    ],
)
def test_signed_png_source_types(source_type, anchors, direction, strength):
    png = sign_image(_image("PNG"), "image/png", digital_source_type=source_type)
    finding = _only(read_provenance(png, trust_anchors_pem=signing_chain().ca_pem if anchors else None), "c2pa")
    assert (finding.direction, finding.strength, finding.verified) == (direction, strength, True)
    assert finding.details["validation_state"] == ("Trusted" if anchors else "Valid")


def test_remote_manifests_are_never_fetched():
    requests = []

    class RecordingHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/manifest.c2pa"
        jpeg = sign_image(
            _image("JPEG"), "image/jpeg", digital_source_type="trainedAlgorithmicMedia", remote_manifest_url=url
        )
        findings = read_provenance(jpeg)
    finally:
        server.shutdown()
        server.server_close()

    assert requests == []
    finding = _only(findings, "c2pa")
    assert (finding.direction, finding.strength) == (UNREADABLE, NONE)
    assert url in finding.line and "not fetched" in finding.line


def test_c2pa_settings_are_offline():
    settings = _c2pa_settings("PEM", 4_000_000)
    assert settings["verify"]["remote_manifest_fetch"] is False
    assert settings["verify"]["ocsp_fetch"] is False
    assert settings["core"]["allowed_network_hosts"] == []
    assert settings["trust"]["trust_anchors"] == "PEM"


def test_no_manifest_gives_no_c2pa_finding():
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        assert read_provenance(_image(fmt)) == []

