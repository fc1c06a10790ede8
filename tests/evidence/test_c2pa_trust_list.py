"""The C2PA trust lists: shipped with their source and date, replaced only by a sound file,
and named on the result page when they vouch for a signer. Certificates are made in the test."""

import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from detector.c2pa_trust import SHIPPED_DIR, trust_list_certificates, trust_lists_in_force
from detector.evidence import NEUTRAL, NONE
from detector.evidence.provenance import TrustList, read_provenance
from detector.evidence.provenance.c2pa_manifest import _c2pa_claim

from .c2pa_signing import C2PA_CLAIM_SIGNING_EKU, sign_image, signing_chain
from .test_evidence_in_the_app import encode, scene, submit

AI = "trainedAlgorithmicMedia"
OFFICIAL = SHIPPED_DIR / "C2PA-TRUST-LIST.pem"


@pytest.fixture(autouse=True)
def _private_trust_dir(settings, tmp_path):
    settings.AIORNOT_C2PA_TRUST_DIR = tmp_path / "c2pa-trust"
    settings.AIORNOT_C2PA_TRUST_ANCHORS = ""


@pytest.fixture
def vendor():
    """A generator vendor's chain, with the claim-signing usage the C2PA certificate policy asks for."""
    return signing_chain("Vendor Generator Signer", (C2PA_CLAIM_SIGNING_EKU,))


def signed_jpeg(seed: int, chain) -> bytes:
    return sign_image(encode(scene(seed), "JPEG", quality=90), "image/jpeg", digital_source_type=AI, chain=chain)


def c2pa_finding(submission) -> dict:
    return next(f for f in submission.fusion["findings"] if f["signal"] == "c2pa")


def install(path, **options):
    call_command("c2pa_trust_update", str(path), "--skip-checks", **options)


def test_the_shipped_lists_are_public_pem_files_with_source_and_date():
    entries = json.loads((SHIPPED_DIR / "lists.json").read_text())
    in_force = {info.key: info for info, _pem in trust_lists_in_force()}
    assert list(in_force) == ["c2pa", "interim"]
    for entry in entries:
        data = (SHIPPED_DIR / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]  # byte-for-byte the published list
        assert len(trust_list_certificates(data.decode())) == in_force[entry["key"]].certificates > 10
        assert entry["source"].startswith("https://github.com/") and entry["date"][:2] == "20"
    assert "Google C2PA Root CA G3" in OFFICIAL.read_text()
    readme = (SHIPPED_DIR / "README.md").read_text()
    assert "c2pa-org/conformance-public" in readme and "7dbff513b66e36184619286fe734beea32f2e6db" in readme


def test_a_signer_with_only_the_c2pa_claim_signing_usage_validates_as_trusted(vendor):
    signed = signed_jpeg(30, vendor)
    listed = TrustList(name="C2PA Trust List", anchors_pem=OFFICIAL.read_text() + vendor.ca_pem, date="2026-08-13")
    [finding] = [f for f in read_provenance(signed, trust_lists=[listed]) if f.signal == "c2pa"]
    assert finding.details["validation_state"] == "Trusted"
    assert (finding.direction, finding.strength, finding.verified) == ("ai", "strong", True)
    assert finding.details["trusted_by"] == {"name": "C2PA Trust List", "date": "2026-08-13", "source": ""}


def test_the_first_list_that_vouches_is_the_one_named(vendor):
    other = signing_chain("Some Other Vendor", (C2PA_CLAIM_SIGNING_EKU,))
    lists = [
        TrustList(name="first list", anchors_pem=other.ca_pem, date="2026-01-01"),
        TrustList(name="second list", anchors_pem=vendor.ca_pem, date="2026-02-02"),
    ]
    [finding] = [f for f in read_provenance(signed_jpeg(31, vendor), trust_lists=lists) if f.signal == "c2pa"]
    assert finding.details["trusted_by"]["name"] == "second list"
    assert "certificate trusted by the second list of 2026-02-02" in finding.line


@pytest.mark.django_db(transaction=True)
def test_a_manifest_under_an_installed_list_is_trusted_strong_evidence_and_the_page_names_the_list(
    settings, tmp_path, vendor, web, submitter
):
    downloaded = tmp_path / "C2PA-TRUST-LIST.pem"
    downloaded.write_text(OFFICIAL.read_text() + vendor.ca_pem)
    install(downloaded, date="2026-09-01", source="https://example.org/C2PA-TRUST-LIST.pem")

    submission = submit(web.login_as(submitter), signed_jpeg(32, vendor), "generated.jpg")
    finding = c2pa_finding(submission)
    assert finding["details"]["validation_state"] == "Trusted" and finding["strength"] == "strong"
    assert finding["details"]["trusted_by"]["date"] == "2026-09-01"
    assert submission.verdict == "likely_ai"  # a trusted generator's own declaration decides
    page = web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "vouched for by the C2PA Trust List of 2026-09-01" in page
    assert 'href="https://example.org/C2PA-TRUST-LIST.pem"' in page


@pytest.mark.django_db(transaction=True)
def test_a_manifest_signed_by_an_unknown_ca_is_only_valid_and_does_not_decide(web, submitter):
    unknown = signing_chain("Unknown Self-made CA", (C2PA_CLAIM_SIGNING_EKU,))
    submission = submit(web.login_as(submitter), signed_jpeg(33, unknown), "self-signed.jpg")
    finding = c2pa_finding(submission)
    assert finding["details"]["validation_state"] != "Trusted"
    assert finding["strength"] != "strong" and "trusted_by" not in finding["details"]
    page = web.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "vouched for by" not in page


def _private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize(
    "content, reason",
    [
        ("", "the file is empty"),
        ("<html><body>404 Not Found</body></html>\n", "holds no PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nMIIC3DCCAmOgAwIBAgIU\n", "not closed"),
        ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n", "certificate 1 cannot be read"),
        (None, "contains a private key"),
    ],
    ids=["empty", "html", "truncated", "not-a-certificate", "private-key"],
)
def test_a_malformed_trust_list_is_refused_with_a_clear_error_and_the_old_list_is_kept(
    settings, tmp_path, vendor, content, reason
):
    good = tmp_path / "good.pem"
    good.write_text(vendor.ca_pem)
    install(good, date="2026-09-01")
    installed = settings.AIORNOT_C2PA_TRUST_DIR / "c2pa.pem"
    before = installed.read_bytes()

    bad = tmp_path / "downloaded.pem"
    bad.write_text(_private_key_pem() + vendor.ca_pem if content is None else content)
    with pytest.raises(CommandError) as refused:
        install(bad, date="2026-09-02")
    message = str(refused.value)
    assert reason in message and "The trust list in force was not changed" in message

    assert installed.read_bytes() == before
    assert [p.name for p in settings.AIORNOT_C2PA_TRUST_DIR.iterdir()] == ["c2pa.pem"]  # no half-written file
    c2pa_list = next(info for info, _pem in trust_lists_in_force() if info.key == "c2pa")
    assert (c2pa_list.date, c2pa_list.certificates) == ("2026-09-01", 1)
    listed = [TrustList(name=info.name, anchors_pem=pem) for info, pem in trust_lists_in_force()]
    [finding] = [f for f in read_provenance(signed_jpeg(34, vendor), trust_lists=listed) if f.signal == "c2pa"]
    assert finding.details["validation_state"] == "Trusted"


def test_a_missing_file_or_a_bad_date_is_refused(tmp_path, vendor):
    with pytest.raises(CommandError, match="cannot be read"):
        install(tmp_path / "nowhere.pem")
    good = tmp_path / "good.pem"
    good.write_text(vendor.ca_pem)
    with pytest.raises(CommandError, match="not YYYY-MM-DD"):
        install(good, date="13/08/2026")



def test_a_manifest_created_by_a_named_ai_generator_counts_without_a_source_type():
    """Bing Image Creator's DALL-E 3 manifests (C2PA 1.x) state no digital source type, only their AI claim
    generator and c2pa.created. Today's c2pa library refuses to sign such a claim, so the rule is tested
    on what the reader extracted from the manifest."""
    direction, strength, claim, part = _c2pa_claim(
        set(), set(), ["c2pa.created"], "Microsoft Responsible AI Image Provenance 1.0", [], trusted=True)
    assert (direction, strength) == ("ai", "strong")
    assert claim == "says the image was created by Responsible AI Image Provenance, an AI image generator"
    assert part["code"] == "provenance.c2pa.claim.created_by_generator"
    assert _c2pa_claim(set(), set(), ["c2pa.created"], "Microsoft Responsible AI Image Provenance 1.0", [],
                       trusted=False)[:2] == ("ai", "moderate")  # not vouched for: worth a look, not a decision
    assert _c2pa_claim(set(), set(), ["c2pa.created"], "some app", ["DALL-E"], trusted=True)[:2] == ("ai", "strong")


def test_a_manifest_without_a_source_type_from_an_unknown_tool_or_an_edit_claims_nothing():
    assert _c2pa_claim(set(), set(), ["c2pa.created"], "Camera app 2.0", [], trusted=True)[:2] == (NEUTRAL, NONE)
    assert _c2pa_claim(set(), set(), ["c2pa.edited"], "Adobe Firefly", [], trusted=True)[:2] == (NEUTRAL, NONE)
    # A declared human source wins over a generator's name.
    assert _c2pa_claim({"digitalCapture"}, set(), ["c2pa.created"], "Gemini", [], trusted=True)[0] == "human"
