"""Sign test images with C2PA using a throw-away certificate chain made during the test run.

The chain follows the C2PA certificate profile that c2pa-rs enforces: an ES256 root CA
(basicConstraints CA, keyCertSign) issuing an end-entity certificate that is not a CA,
is not self-signed, has digitalSignature key usage and the emailProtection extended key
usage, with subject/authority key identifiers. No timestamp authority: signing is offline.
"""

from __future__ import annotations

import datetime
import functools
import io
from dataclasses import dataclass

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

IPTC_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@dataclass(frozen=True)
class SigningChain:
    ca_pem: str  # what an admin would configure as a trust anchor
    chain_pem: str  # end-entity certificate followed by the CA
    key_pem: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aiornot test suite"),
        ]
    )


def _key_usage(*, digital_signature: bool, key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# The C2PA claim-signing extended key usage (c2pa-kp-claimSigning) that signers on the
# C2PA Trust List carry.
C2PA_CLAIM_SIGNING_EKU = x509.ObjectIdentifier("1.3.6.1.4.1.62558.2.1")


@functools.lru_cache(maxsize=None)
def signing_chain(
    common_name: str = "Test C2PA Signer", extended_key_usages: tuple = (ExtendedKeyUsageOID.EMAIL_PROTECTION,)
) -> SigningChain:
    """A fresh root CA and end-entity certificate (cached per name and usages for the test run)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    valid_from, valid_to = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{common_name} Root CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=False, key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(extended_key_usages)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    key_pem = signer_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningChain(ca_pem=pem(ca_cert), chain_pem=pem(signer_cert) + pem(ca_cert), key_pem=key_pem)


def sign_image(
    data: bytes,
    mime_type: str,
    *,
    digital_source_type: str | None,
    action: str = "c2pa.created",
    chain: SigningChain | None = None,
    remote_manifest_url: str | None = None,
    claim_generator: str = "aiornot-tests",
) -> bytes:
    """Return ``data`` with an embedded C2PA manifest declaring ``digital_source_type``.

    With ``remote_manifest_url`` the manifest is not embedded; the file only points at it.
    """
    chain = chain or signing_chain()
    manifest = {
        "claim_generator_info": [{"name": claim_generator, "version": "1.0"}],
        "title": "test image",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": action,
                            "softwareAgent": {"name": "aiornot test generator"},
                            **({"digitalSourceType": IPTC_SOURCE_TYPE + digital_source_type} if digital_source_type else {}),
                        }
                    ]
                },
            }
        ],
    }
    settings = {
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {"verify_after_sign": False, "remote_manifest_fetch": False, "ocsp_fetch": False},
    }
    # No timestamp authority URL: signing stays offline (the manifest then has no trusted time).
    signer_info = c2pa.C2paSignerInfo(
        c2pa.C2paSigningAlg.ES256, chain.chain_pem.encode(), chain.key_pem.encode(), None
    )
    signer = c2pa.Signer.from_info(signer_info)
    with c2pa.Context.from_dict(settings) as context, c2pa.Builder(manifest, context=context) as builder:
        if remote_manifest_url:
            builder.set_no_embed()
            builder.set_remote_url(remote_manifest_url)
        out = io.BytesIO()
        builder.sign(signer, mime_type, io.BytesIO(data), out)
    signer.close()
    return out.getvalue()
