"""C2PA manifests (JUMBF): validated fully offline (no remote manifest, no OCSP, an empty
network allow-list) against the configured trust lists, and read for what they declare."""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import re
from dataclasses import dataclass

from .. import MODERATE, NEUTRAL, NONE, STRONG, TOWARDS_AI, TOWARDS_HUMAN, UNREADABLE, WEAK, Finding
from .containers import Container
from .findings import (
    MAX_DETAIL_ITEMS,
    could_not_read,
    describe_error,
    make_finding,
    one_line,
    part,
    sentence,
    too_large_line,
    too_large_params,
    unreadable_finding,
)
from .vocabulary import AI_COMPOSITE, AI_GENERATED, HUMAN_SOURCE_TYPES, generator_named, source_type_term

try:
    import c2pa
except (ImportError, OSError):  # the native library may be missing on a platform
    c2pa = None

# Codes of the sentences this module writes (findings.py says how they are used).
CODE_C2PA_NO_LIBRARY = "provenance.c2pa.no_library"
CODE_C2PA_NO_MANIFEST = "provenance.c2pa.no_manifest_in_block"
CODE_C2PA_REMOTE = "provenance.c2pa.remote_manifest"  # url
CODE_C2PA_INVALID = "provenance.c2pa.validation_failed"  # reason; more: claim, summary
CODE_C2PA_UNVALIDATED_CLAIM = "provenance.c2pa.unvalidated_claim"  # claimed
CODE_C2PA_MANIFEST = "provenance.c2pa.manifest"  # state, how_signed, claim; more: summary
CODE_C2PA_STATE_VALID = "provenance.c2pa.state.valid"
CODE_C2PA_STATE_TRUSTED = "provenance.c2pa.state.trusted"
CODE_C2PA_SIGNED_UNTRUSTED = "provenance.c2pa.signed.untrusted"
CODE_C2PA_SIGNED_TRUSTED = "provenance.c2pa.signed.trusted"
CODE_C2PA_SIGNED_TRUSTED_BY = "provenance.c2pa.signed.trusted_by"  # name
CODE_C2PA_SIGNED_TRUSTED_BY_DATED = "provenance.c2pa.signed.trusted_by_dated"  # name, date
CODE_C2PA_CLAIM_AI_GENERATED = "provenance.c2pa.claim.ai_generated"  # term
CODE_C2PA_CLAIM_AI_COMPOSITE = "provenance.c2pa.claim.ai_composite"  # term
CODE_C2PA_CLAIM_AI_INGREDIENT = "provenance.c2pa.claim.ai_ingredient"
CODE_C2PA_CLAIM_HUMAN = "provenance.c2pa.claim.human_source"  # terms
CODE_C2PA_CLAIM_CREATED_BY_GENERATOR = "provenance.c2pa.claim.created_by_generator"  # generator
CODE_C2PA_CLAIM_SOURCE_TYPES = "provenance.c2pa.claim.source_types"  # terms
CODE_C2PA_CLAIM_NO_SOURCE_TYPE = "provenance.c2pa.claim.no_source_type"
CODE_C2PA_SIGNED_BY = "provenance.c2pa.summary.signed_by"  # signer
CODE_C2PA_CLAIM_GENERATOR = "provenance.c2pa.summary.claim_generator"  # generator
CODE_C2PA_ACTIONS = "provenance.c2pa.summary.actions"  # actions

_MIME_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
}

# C2PA status codes that explain a failed validation, in words a reviewer can act on.
_C2PA_FAILURE_REASONS = {
    "assertion.dataHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.boxesHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.bmffHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.collectionHash.mismatch": "assertion hash mismatch — the image data was changed after signing",
    "assertion.hashedURI.mismatch": (
        "an assertion no longer matches its signed hash — the manifest was edited after signing"
    ),
    "assertion.missing": "an assertion listed in the signed claim is missing",
    "claimSignature.mismatch": "the claim signature does not verify — the manifest or its signature was altered",
    "claimSignature.missing": "the manifest carries no signature",
    "claimSignature.outsideValidity": "the signing certificate was not valid when the manifest was signed",
    "signingCredential.invalid": "the signing certificate is invalid",
    "signingCredential.revoked": "the signing certificate has been revoked",
    "signingCredential.expired": "the signing certificate had expired",
    "timeStamp.mismatch": "the signature timestamp does not match the claim",
    "manifest.missing": "a manifest the file refers to is missing",
    "claim.missing": "the manifest has no claim",
}
# Codes that are reported as failures but say nothing about tampering.
_C2PA_TRUST_ONLY_CODES = ("signingCredential.untrusted", "signingCredential.ocsp", "timeStamp.untrusted")


# Extended key usages a C2PA signing certificate may carry to count as Trusted: c2pa-rs's own
# defaults plus c2pa-kp-claimSigning, which the C2PA Trust List's certificate policy requires
# of its signers (and which c2pa-rs does not accept unless told: such a signer reads Invalid).
C2PA_SIGNING_EKUS = (
    "1.3.6.1.5.5.7.3.4",  # id-kp-emailProtection
    "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning
    "1.3.6.1.5.5.7.3.8",  # id-kp-timeStamping
    "1.3.6.1.5.5.7.3.9",  # id-kp-OCSPSigning
    "1.3.6.1.4.1.311.76.59.1.9",  # Microsoft C2PA signing
    "1.3.6.1.4.1.62558.2.1",  # c2pa-kp-claimSigning
)


@dataclass(frozen=True)
class TrustList:
    """A named set of C2PA trust anchors (PEM CA certificates) and where it came from.

    ``date`` is the list's issue date (or the day an admin installed it), ``source`` where it
    was taken from; both are shown to people when this list vouches for a signer.
    """

    name: str
    anchors_pem: str
    date: str = ""
    source: str = ""

    def describe(self) -> dict:
        """The list as people are shown it: name, date and source."""
        return {"name": self.name, "date": self.date, "source": self.source}


def _c2pa_settings(trust_anchors_pem: str | None, limit: int) -> dict:
    settings = {
        "version": 1,
        "verify": {
            "verify_after_reading": True,
            "verify_trust": True,
            "remote_manifest_fetch": False,  # never download a manifest the file points at
            "ocsp_fetch": False,  # no revocation look-ups over the network
        },
        "core": {
            # An empty allow-list refuses every host, so nothing we missed can reach out.
            "allowed_network_hosts": [],
            "max_decompressed_manifest_size_in_mb": max(1, math.ceil(limit / 1_000_000)),
        },
    }
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem, "trust_config": "\n".join(C2PA_SIGNING_EKUS) + "\n"}
    return settings


def _usable_trust_anchors(pem: str | None) -> tuple[str | None, str | None]:
    """Keep the well-formed certificate blocks of ``pem``; say why when none are usable."""
    if not pem or not pem.strip():
        return None, None
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----", pem)
    usable = []
    for block in blocks:
        try:
            base64.b64decode("".join(block.split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        usable.append("-----BEGIN CERTIFICATE-----\n" + block.strip() + "\n-----END CERTIFICATE-----\n")
    if not usable:
        return None, "the configured trust anchors contain no readable PEM certificate"
    return "".join(usable), None


def _read_manifest_store(data: bytes, mime_type: str, trust_anchors_pem: str | None, limit: int) -> dict:
    with c2pa.Context.from_dict(_c2pa_settings(trust_anchors_pem, limit)) as context:
        with c2pa.Reader(mime_type, io.BytesIO(data), context=context) as reader:
            return json.loads(reader.json())


def c2pa_findings(data: bytes, container: Container, trust_lists: list[TrustList], limit: int) -> list[Finding]:
    """The finding of the file's C2PA manifest, validated offline; [] when there is none."""
    mime_type = _MIME_TYPES.get(container.format)
    if mime_type is None:
        return []
    if container.c2pa_bytes > limit:
        what = "The C2PA manifest"
        line = too_large_line(what, container.c2pa_bytes, limit)
        return [unreadable_finding("c2pa", line, *too_large_params(what, container.c2pa_bytes, limit))]
    if c2pa is None:
        if container.c2pa_seen:
            line = "A C2PA manifest is present but the c2pa library is not available to read it."
            return [unreadable_finding("c2pa", line, CODE_C2PA_NO_LIBRARY)]
        return []

    usable_lists = [(trust_list, _usable_trust_anchors(trust_list.anchors_pem)[0]) for trust_list in trust_lists]
    usable_lists = [(trust_list, pem) for trust_list, pem in usable_lists if pem]
    anchors, anchors_problem = _usable_trust_anchors("".join(t.anchors_pem + "\n" for t in trust_lists))
    try:
        try:
            store = _read_manifest_store(data, mime_type, anchors, limit)
        except c2pa.C2paError as exc:
            if anchors is None or _is_manifest_not_found(exc) or _remote_manifest_url(exc) is not None:
                raise
            # Retry without the anchors so a bad admin setting does not hide a manifest.
            store = _read_manifest_store(data, mime_type, None, limit)
            anchors, anchors_problem = None, f"the configured trust anchors could not be used ({describe_error(exc)})"
    except c2pa.C2paError as exc:
        if _is_manifest_not_found(exc):
            if container.c2pa_seen:
                return [
                    unreadable_finding(
                        "c2pa",
                        "The C2PA manifest could not be read: the file has a C2PA (JUMBF) block "
                        "but no manifest could be parsed from it.",
                        CODE_C2PA_NO_MANIFEST,
                        error=str(exc),
                    )
                ]
            return []  # no manifest at all: absence is not evidence
        remote_url = _remote_manifest_url(exc)
        if remote_url is not None:
            return [
                unreadable_finding(
                    "c2pa",
                    f"The file points to a remote C2PA manifest ({remote_url}); it was not fetched "
                    "because manifests are validated offline only.",
                    CODE_C2PA_REMOTE,
                    {"url": remote_url},
                    remote_manifest_url=remote_url,
                )
            ]
        return [could_not_read("c2pa", "The C2PA manifest", sentence(str(exc)), error=str(exc))]

    vouching = None
    if store.get("validation_state") == "Trusted":
        vouching = _vouching_list(data, mime_type, usable_lists, limit)
    return [_c2pa_store_finding(store, anchors is not None, anchors_problem, vouching)]


def _vouching_list(data: bytes, mime_type: str, usable_lists: list, limit: int) -> TrustList | None:
    """The first trust list that, on its own, makes this (Trusted) manifest Trusted."""
    if len(usable_lists) == 1:
        return usable_lists[0][0]
    for trust_list, pem in usable_lists:
        try:
            if _read_manifest_store(data, mime_type, pem, limit).get("validation_state") == "Trusted":
                return trust_list
        except c2pa.C2paError:
            continue
    return None


def _is_manifest_not_found(exc: Exception) -> bool:
    return str(exc).startswith("ManifestNotFound") or type(exc).__name__.endswith("ManifestNotFound")


def _remote_manifest_url(exc: Exception) -> str | None:
    message = str(exc)
    if not message.startswith("Remote"):
        return None
    match = re.search(r"""(https?://[^\s"']+)""", message)
    return one_line(match.group(1), 300) if match else "URL not given"


def _c2pa_store_finding(
    store: dict, anchors_used: bool, anchors_problem: str | None, vouching: TrustList | None = None
) -> Finding:
    state = store.get("validation_state") if isinstance(store.get("validation_state"), str) else None
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) if isinstance(manifests.get(active_label), dict) else {}
    failures = _c2pa_failures(store)

    active_types = _digital_source_types(active.get("assertions"))
    ingredient_types = []
    for label, manifest in manifests.items():
        if label != active_label and isinstance(manifest, dict):
            for source_type in _digital_source_types(manifest.get("assertions")):
                if source_type not in ingredient_types:
                    ingredient_types.append(source_type)
    active_terms = {source_type_term(t) for t in active_types}
    ingredient_terms = {source_type_term(t) for t in ingredient_types}

    details = {
        "validation_state": state or "Unknown",
        "validation_errors": [code for code, _ in failures],
        "validation_failures": [{"code": code, "explanation": text} for code, text in failures],
        "claim_generator": _claim_generator(active),
        "signer": _signer(active),
        "actions": _actions(active.get("assertions")),
        "software_agents": _software_agents(active.get("assertions")),
        "digital_source_types": active_types,
        "ingredient_digital_source_types": ingredient_types,
        "title": active.get("title") if isinstance(active.get("title"), str) else None,
        "manifest_label": active_label if isinstance(active_label, str) else None,
        "trust_anchors_used": anchors_used,
    }
    if anchors_problem:
        details["trust_anchors_problem"] = anchors_problem
    if vouching is not None:
        details["trusted_by"] = vouching.describe()
    summary = _c2pa_summary(details)
    summary_parts = _c2pa_summary_parts(details)

    if state not in ("Valid", "Trusted"):
        claimed = [t for t in (AI_GENERATED, AI_COMPOSITE) if t in active_terms | ingredient_terms]
        reason = _c2pa_failure_reason(failures)
        line = f"C2PA manifest present but validation failed: {reason}."
        more = []
        if claimed:
            line += f" It claims {', '.join(claimed)}, but an unvalidated claim proves nothing."
            more.append(part(CODE_C2PA_UNVALIDATED_CLAIM, claimed=", ".join(claimed)))
        params = {"reason": reason, "more": more + summary_parts}
        return make_finding("c2pa", UNREADABLE, NONE, line + summary, CODE_C2PA_INVALID, params, verified=False, **details)

    trusted = state == "Trusted"
    how_signed = (
        "signature valid, certificate trusted" if trusted else "signature valid, certificate not on the trust list"
    )
    how_signed_part = part(CODE_C2PA_SIGNED_TRUSTED if trusted else CODE_C2PA_SIGNED_UNTRUSTED)
    if trusted and vouching is not None:
        how_signed += f" by the {vouching.name}" + (f" of {vouching.date}" if vouching.date else "")
        if vouching.date:
            how_signed_part = part(CODE_C2PA_SIGNED_TRUSTED_BY_DATED, name=vouching.name, date=vouching.date)
        else:
            how_signed_part = part(CODE_C2PA_SIGNED_TRUSTED_BY, name=vouching.name)
    direction, strength, claim, claim_part = _c2pa_claim(
        active_terms, ingredient_terms, details["actions"], details["claim_generator"], details["software_agents"], trusted
    )
    line = f"C2PA manifest ({state}: {how_signed}) {claim}.{summary}"
    params = {
        "state": part(CODE_C2PA_STATE_TRUSTED if trusted else CODE_C2PA_STATE_VALID),
        "how_signed": how_signed_part,
        "claim": claim_part,
        "more": summary_parts,
    }
    return make_finding("c2pa", direction, strength, line, CODE_C2PA_MANIFEST, params, verified=True, **details)


def _c2pa_claim(active_terms: set, ingredient_terms: set, actions: list, claim_generator: str | None,
                software_agents: list, trusted: bool) -> tuple[str, str, str, dict]:
    """(direction, strength, claim sentence, claim part) of what a validated manifest declares."""
    if AI_GENERATED in active_terms:
        # Anyone can mint a certificate: only a signer under an admin-configured anchor makes
        # the claim decisive; an untrusted one counts, but a person still looks.
        direction, strength = TOWARDS_AI, STRONG if trusted else MODERATE
        claim = f"declares the image AI-generated (digital source type {AI_GENERATED})"
        claim_part = part(CODE_C2PA_CLAIM_AI_GENERATED, term=AI_GENERATED)
    elif AI_COMPOSITE in active_terms:
        direction, strength = TOWARDS_AI, MODERATE
        claim = f"declares the image a composite with AI-generated parts ({AI_COMPOSITE})"
        claim_part = part(CODE_C2PA_CLAIM_AI_COMPOSITE, term=AI_COMPOSITE)
    elif ingredient_terms & {AI_GENERATED, AI_COMPOSITE}:
        direction, strength = TOWARDS_AI, MODERATE
        claim = "declares that an ingredient of the image was AI-generated"
        claim_part = part(CODE_C2PA_CLAIM_AI_INGREDIENT)
    elif active_terms & HUMAN_SOURCE_TYPES:
        direction, strength = TOWARDS_HUMAN, MODERATE if trusted else WEAK
        terms = ", ".join(sorted(active_terms & HUMAN_SOURCE_TYPES))
        claim = f"declares a human source ({terms})"
        claim_part = part(CODE_C2PA_CLAIM_HUMAN, terms=terms)
    elif not active_terms and "c2pa.created" in actions and (
        created_by := generator_named(" ".join([claim_generator or "", *software_agents]))
    ):
        # Older generator manifests (Bing Image Creator's DALL-E 3, early ChatGPT images) state no
        # digital source type, but a signer that says its AI tool created the image makes the same
        # claim; an edit (c2pa.edited) by such a tool is not counted here.
        direction, strength = TOWARDS_AI, STRONG if trusted else MODERATE
        claim = f"says the image was created by {created_by}, an AI image generator"
        claim_part = part(CODE_C2PA_CLAIM_CREATED_BY_GENERATOR, generator=created_by)
    else:
        direction, strength = NEUTRAL, NONE
        described = ", ".join(sorted(active_terms)) if active_terms else "no digital source type"
        claim = f"declares {described}"
        if active_terms:
            claim_part = part(CODE_C2PA_CLAIM_SOURCE_TYPES, terms=described)
        else:
            claim_part = part(CODE_C2PA_CLAIM_NO_SOURCE_TYPE)
    return direction, strength, claim, claim_part


def _c2pa_failures(store: dict) -> list[tuple[str, str]]:
    results = store.get("validation_results") if isinstance(store.get("validation_results"), dict) else {}
    entries = []
    active = results.get("activeManifest")
    if isinstance(active, dict):
        entries += active.get("failure") or []
    for delta in results.get("ingredientDeltas") or []:
        if isinstance(delta, dict) and isinstance(delta.get("validationDeltas"), dict):
            entries += delta["validationDeltas"].get("failure") or []
    if not entries:
        entries = store.get("validation_status") or []
    failures: list[tuple[str, str]] = []
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("code"), str):
            pair = (entry["code"], str(entry.get("explanation") or ""))
            if pair not in failures:
                failures.append(pair)
    return failures


def _c2pa_failure_reason(failures: list[tuple[str, str]]) -> str:
    telling = [(c, e) for c, e in failures if not c.startswith(_C2PA_TRUST_ONLY_CODES)] or failures
    reasons: list[str] = []
    for code, explanation in telling:
        reason = _C2PA_FAILURE_REASONS.get(code) or (f"{code} ({explanation})" if explanation else code)
        if reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons[:3]) if reasons else "the c2pa library gave no reason"


def _c2pa_summary_parts(details: dict) -> list[dict]:
    """The facts of _c2pa_summary as translatable sentences."""
    parts = []
    signer = details["signer"]
    if signer.get("common_name") or signer.get("issuer"):
        who = " / ".join(v for v in (signer.get("common_name"), signer.get("issuer")) if v)
        parts.append(part(CODE_C2PA_SIGNED_BY, signer=who))
    if details["claim_generator"]:
        parts.append(part(CODE_C2PA_CLAIM_GENERATOR, generator=details["claim_generator"]))
    if details["actions"]:
        parts.append(part(CODE_C2PA_ACTIONS, actions=", ".join(details["actions"][:6])))
    return parts


def _c2pa_summary(details: dict) -> str:
    parts = []
    signer = details["signer"]
    if signer.get("common_name") or signer.get("issuer"):
        parts.append("signed by " + " / ".join(v for v in (signer.get("common_name"), signer.get("issuer")) if v))
    if details["claim_generator"]:
        parts.append(f"claim generator {details['claim_generator']}")
    if details["actions"]:
        parts.append("actions " + ", ".join(details["actions"][:6]))
    if not parts:
        return ""
    text = "; ".join(parts)
    return f" {text[0].upper()}{text[1:]}."


def _claim_generator(manifest: dict) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name = str(info[0].get("name") or "")
        version = str(info[0].get("version") or "")
        return one_line(f"{name} {version}".strip(), 200) or None
    generator = manifest.get("claim_generator")
    return one_line(generator, 200) if isinstance(generator, str) else None


def _signer(manifest: dict) -> dict:
    info = manifest.get("signature_info") if isinstance(manifest.get("signature_info"), dict) else {}
    keys = ("common_name", "issuer", "time", "alg")
    return {key: one_line(info[key], 200) for key in keys if isinstance(info.get(key), str)}


def _action_entries(assertions):
    """Every action dict of the manifest's c2pa.actions assertions."""
    for assertion in assertions if isinstance(assertions, list) else []:
        if not (isinstance(assertion, dict) and str(assertion.get("label", "")).startswith("c2pa.actions")):
            continue
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        for action in data.get("actions") or []:
            if isinstance(action, dict):
                yield action


def _actions(assertions) -> list[str]:
    actions = []
    for action in _action_entries(assertions):
        if isinstance(action.get("action"), str) and action["action"] not in actions:
            actions.append(action["action"])
    return actions


def _software_agents(assertions) -> list[str]:
    """The softwareAgent names of the manifest's actions (a string or {"name": ...})."""
    agents = []
    for action in _action_entries(assertions):
        agent = action.get("softwareAgent")
        name = agent.get("name") if isinstance(agent, dict) else agent
        if isinstance(name, str) and name.strip() and len(agents) < MAX_DETAIL_ITEMS:
            agents.append(one_line(name, 200))
    return agents


def _digital_source_types(assertions) -> list[str]:
    """Every digitalSourceType value anywhere in the assertions (actions, IPTC metadata...)."""
    found: list[str] = []
    stack = [(assertions, 0)]
    while stack and len(found) < MAX_DETAIL_ITEMS:
        value, depth = stack.pop()
        if depth > 20:
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                if str(key).split(":")[-1].lower() == "digitalsourcetype" and isinstance(item, str):
                    if item not in found:
                        found.append(item)
                else:
                    stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return found

