"""Evidence sentences in the reader's language.

The evidence layers (detector/evidence/) are free of Django: each finding and fusion note they
write carries a stable `code` (a CODE_* constant of its module), the `params` that fill the
sentence, and an English `text`/`line` kept for the API and for rows stored before codes existed.
This catalogue maps every code to a translatable sentence with named placeholders; `evidence_text`
words one in the active language and falls back to the stored English text for an unknown code.

A param may itself be {"code": ..., "params": ...}, a translatable part (a claim, how a manifest
was signed), and the param "more" a list of such parts that follow as further sentences.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .evidence import CODE_CHECK_FAILED, fusion, provenance, similarity, visible_marks, watermark

# The classifier's own line, worded here rather than by a layer; params: pct.
CLASSIFIER_SCORE_CODE = "classifier.score"

EVIDENCE_SENTENCES = {
    CLASSIFIER_SCORE_CODE: _("The classifier scored the pixels %(pct)s%% AI-generated."),
    # Provenance: reading problems.
    provenance.CODE_UNREADABLE: _("%(what)s could not be read: %(reason)s."),
    provenance.CODE_TOO_LARGE: _("%(what)s could not be read: it is %(size)s, over the %(limit)s limit for one metadata block."),
    provenance.CODE_DAMAGED_CHUNK: _("%(what)s could not be read: its CRC does not match (the chunk is damaged)."),
    provenance.CODE_DECOMPRESSION_BOMB: _(
        "%(what)s could not be read: decompressing it would pass the %(limit)s limit for PNG text "
        "(possible decompression bomb), so it was not decompressed."
    ),
    # Provenance: C2PA.
    provenance.CODE_C2PA_NO_LIBRARY: _("A C2PA manifest is present but the c2pa library is not available to read it."),
    provenance.CODE_C2PA_NO_MANIFEST: _(
        "The C2PA manifest could not be read: the file has a C2PA (JUMBF) block but no manifest could be parsed from it."
    ),
    provenance.CODE_C2PA_REMOTE: _(
        "The file points to a remote C2PA manifest (%(url)s); it was not fetched because manifests are validated "
        "offline only."
    ),
    provenance.CODE_C2PA_INVALID: _("C2PA manifest present but validation failed: %(reason)s."),
    provenance.CODE_C2PA_UNVALIDATED_CLAIM: _("It claims %(claimed)s, but an unvalidated claim proves nothing."),
    provenance.CODE_C2PA_MANIFEST: _("C2PA manifest (%(state)s: %(how_signed)s) %(claim)s."),
    provenance.CODE_C2PA_STATE_VALID: _("Valid"),
    provenance.CODE_C2PA_STATE_TRUSTED: _("Trusted"),
    provenance.CODE_C2PA_SIGNED_UNTRUSTED: _("signature valid, certificate not on the trust list"),
    provenance.CODE_C2PA_SIGNED_TRUSTED: _("signature valid, certificate trusted"),
    provenance.CODE_C2PA_SIGNED_TRUSTED_BY: _("signature valid, certificate trusted by the %(name)s"),
    provenance.CODE_C2PA_SIGNED_TRUSTED_BY_DATED: _("signature valid, certificate trusted by the %(name)s of %(date)s"),
    provenance.CODE_C2PA_CLAIM_AI_GENERATED: _("declares the image AI-generated (digital source type %(term)s)"),
    provenance.CODE_C2PA_CLAIM_AI_COMPOSITE: _("declares the image a composite with AI-generated parts (%(term)s)"),
    provenance.CODE_C2PA_CLAIM_AI_INGREDIENT: _("declares that an ingredient of the image was AI-generated"),
    provenance.CODE_C2PA_CLAIM_HUMAN: _("declares a human source (%(terms)s)"),
    provenance.CODE_C2PA_CLAIM_SOURCE_TYPES: _("declares %(terms)s"),
    provenance.CODE_C2PA_CLAIM_NO_SOURCE_TYPE: _("declares no digital source type"),
    provenance.CODE_C2PA_CLAIM_CREATED_BY_GENERATOR: _("says the image was created by %(generator)s, an AI image generator"),
    provenance.CODE_C2PA_SIGNED_BY: _("Signed by %(signer)s."),
    provenance.CODE_C2PA_CLAIM_GENERATOR: _("Claim generator %(generator)s."),
    provenance.CODE_C2PA_ACTIONS: _("Actions %(actions)s."),
    # Provenance: XMP.
    provenance.CODE_XMP_UNSAFE: _(
        "The XMP metadata could not be read: it declares a DOCTYPE or entity, which is refused "
        "(possible entity-expansion attack)."
    ),
    provenance.CODE_XMP_AI_GENERATED: _(
        "XMP metadata declares the image AI-generated (IPTC DigitalSourceType %(term)s); unsigned metadata that "
        "anyone can add, copy or remove."
    ),
    provenance.CODE_XMP_AI_COMPOSITE: _(
        "XMP metadata declares the image a composite with AI-generated parts (IPTC DigitalSourceType %(term)s); "
        "unsigned metadata that anyone can add, copy or remove."
    ),
    provenance.CODE_XMP_HUMAN: _(
        "XMP metadata declares a human source (IPTC DigitalSourceType %(term)s); unsigned metadata that anyone "
        "can add, copy or remove."
    ),
    provenance.CODE_XMP_SOURCE_TYPE: _("XMP metadata declares IPTC DigitalSourceType %(term)s."),
    provenance.CODE_XMP_CREATOR_TOOL_GENERATOR: _(
        "XMP CreatorTool names an AI image generator: '%(tool)s' (%(generator)s); unsigned, easily added or copied."
    ),
    provenance.CODE_XMP_CREATOR_TOOL: _("XMP CreatorTool: %(tool)s."),
    # Provenance: PNG text chunks written by generators.
    provenance.CODE_PNG_GENERATOR: _("PNG text chunk %(chunks)s written by %(generator)s."),
    provenance.CODE_PNG_GENERATOR_SETTINGS: _("PNG text chunk %(chunks)s written by %(generator)s: %(settings)s"),
    provenance.CODE_PNG_GENERATOR_CHUNKS: _("PNG text chunks %(chunks)s written by %(generator)s."),
    provenance.CODE_PNG_GENERATOR_CHUNKS_SETTINGS: _("PNG text chunks %(chunks)s written by %(generator)s: %(settings)s"),
    provenance.CODE_PNG_PARAMETERS_UNRECOGNISED: _(
        "PNG text chunk 'parameters' is present but not in a generator format we recognise."
    ),
    # Provenance: Software tag and camera EXIF.
    provenance.CODE_SOFTWARE_GENERATOR: _(
        "%(source)s names an AI image generator: '%(software)s' (%(generator)s); unsigned, easily added or copied."
    ),
    provenance.CODE_SOFTWARE: _("%(source)s: %(software)s."),
    provenance.CODE_SOURCE_EXIF_SOFTWARE: _("EXIF Software tag"),
    provenance.CODE_SOURCE_PNG_SOFTWARE: _("PNG 'Software' text chunk"),
    provenance.CODE_CAMERA_EXIF: _("Camera EXIF: %(settings)s"),
    provenance.CODE_CAMERA_EXIF_PARTIAL: _(
        "Partial camera EXIF (%(settings)s): too incomplete to count as a camera capture."
    ),
    provenance.CODE_JPEG_LOW_QUALITY: _(
        "Saved as a JPEG at about quality %(quality)s, lower than cameras and editing programs usually save: it may be a "
        "re-compressed copy. The pixel classifier is less reliable on re-compressed or downscaled copies; if the "
        "verdict matters, ask for the original file."
    ),
    # Visible marks.
    visible_marks.CODE_GEMINI_SPARKLE: _(
        "A visible mark like Gemini's four-pointed sparkle (%(generator)s) is in the bottom-right corner, where "
        "that generator puts it. A visible mark can be added to any picture, or removed, so it is a hint, not proof."
    ),
    visible_marks.CODE_DALLE2_COLOUR_STRIP: _(
        "A visible mark like DALL-E 2's strip of five coloured squares (%(generator)s) is in the bottom-right "
        "corner, where that generator puts it. A visible mark can be added to any picture, or removed, so it is "
        "a hint, not proof."
    ),
    visible_marks.CODE_META_IMAGINED_WITH_AI: _(
        "A visible mark like Meta AI's \"Imagined with AI\" label (%(generator)s) is in the bottom-left corner, "
        "where that generator puts it. A visible mark can be added to any picture, or removed, so it is a hint, "
        "not proof."
    ),
    # Invisible watermark.
    watermark.CODE_SD_WATERMARK: _("Invisible watermark of the %(generator)s found (%(matched)s of %(total)s bits match)."),
    # Known-image matches.
    similarity.CODE_MATCH_CASE: _("Matches case #%(case)s, labelled %(label)s by a reviewer on %(date)s (%(how)s)."),
    similarity.CODE_LOOKS_LIKE_CASE: _("Looks like case #%(case)s, labelled %(label)s by a reviewer on %(date)s (%(how)s)."),
    similarity.CODE_MATCH_AI_SET: _("Matches an image in the imported known-AI set \"%(name)s\" (%(how)s)."),
    similarity.CODE_MATCH_HUMAN_SET: _("Matches an image in the imported known-human set \"%(name)s\" (%(how)s)."),
    similarity.CODE_LOOKS_LIKE_AI_SET: _("Looks like an image in the imported known-AI set \"%(name)s\" (%(how)s)."),
    similarity.CODE_LOOKS_LIKE_HUMAN_SET: _("Looks like an image in the imported known-human set \"%(name)s\" (%(how)s)."),
    similarity.CODE_LABEL_AI: _("AI"),
    similarity.CODE_LABEL_HUMAN: _("human-made"),
    similarity.CODE_HOW_PDQ: _("PDQ distance %(distance)s of 256 bits"),
    similarity.CODE_HOW_PDQ_CROP: _("PDQ distance %(distance)s of 256 bits, on a cropped framing"),
    similarity.CODE_HOW_EMBEDDING: _("embedding similarity %(similarity)s"),
    # A layer that could not run.
    CODE_CHECK_FAILED: _("The %(layer)s check could not run on this file (%(error)s); it counts for nothing."),
    # Fusion notes.
    fusion.CODE_NOTE_TOO_SMALL: _(
        "The image is only %(width)sx%(height)s pixels: too small for the classifier's score to count."
    ),
    fusion.CODE_NOTE_LAYER_CAPPED: _("Unverified %(layer)s evidence counts once, capped at %(cap)s log-odds."),
    fusion.CODE_NOTE_UNSTABLE: _(
        "Unstable: a slightly altered copy of the image (saved again, a little smaller) would get a different "
        "verdict, so the result is read as uncertain and a person decides."
    ),
    fusion.CODE_NOTE_WITHOUT_EVIDENCE: _(
        "Without the unverified %(layer)s evidence the verdict would differ, and that evidence alone cannot "
        "decide: read as uncertain so that a person looks."
    ),
    fusion.CODE_NOTE_ONLY_CLASSIFIER: _("Only the classifier spoke; missing metadata is not evidence either way."),
    fusion.CODE_NOTE_MACHINE_READING: _("A machine reading, not a finding of fact: a person decides."),
    fusion.CODE_NOTE_OUTWEIGHED: _("Some evidence pointed to AI; it was outweighed."),
}

# Layer names inside sentences ("Unverified %(layer)s evidence ..."): the layers' own words.
_LAYER_WORDS = {
    "provenance": _("provenance"),
    "watermark": _("watermark"),
    "visible_mark": _("visible mark"),
    "known_image": _("known-image"),
}


def _is_part(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("code"), str)


def _word(value):
    """One param as it goes into a sentence: parts worded, lists joined, plain values as they are."""
    if _is_part(value):
        return _part_text(value["code"], value.get("params") or {}) or ""
    if isinstance(value, list):
        return ", ".join(str(_word(v)) for v in value)
    return "" if value is None else value


def _part_text(code: str, params: dict) -> str | None:
    sentence = EVIDENCE_SENTENCES.get(code)
    if sentence is None:
        return None
    values = {key: _word(value) for key, value in params.items() if key != "more"}
    if "layer" in values and values["layer"] in _LAYER_WORDS:
        values["layer"] = _LAYER_WORDS[values["layer"]]
    text = str(sentence) % values
    more = [m for m in params.get("more") or [] if _is_part(m)]
    for part in more:
        worded = _part_text(part["code"], part.get("params") or {})
        if worded is None:
            return None
        text += " " + worded
    return text


def evidence_text(code: str | None, params: dict | None, fallback: str = "") -> str:
    """The sentence of ``code`` in the active language, or ``fallback`` (the stored English text)
    for an old row without a code, an unknown code, or params that do not fill the sentence."""
    if not code:
        return fallback
    try:
        text = _part_text(code, params or {})
    except (KeyError, TypeError, ValueError):
        return fallback
    return fallback if text is None else text


def finding_text(finding: dict) -> str:
    """A stored finding (or contribution) as a sentence in the active language."""
    return evidence_text(finding.get("code"), finding.get("params"), finding.get("line", ""))


def fusion_notes(fusion: dict | None) -> list[str]:
    """Why the verdict is what it is, in the active language; old rows keep their stored sentences."""
    fusion = fusion or {}
    coded = fusion.get("coded_notes")
    if not coded:
        return [str(note) for note in fusion.get("notes", [])]
    return [evidence_text(n.get("code"), n.get("params"), n.get("text", "")) for n in coded if isinstance(n, dict)]


__all__ = ["CLASSIFIER_SCORE_CODE", "EVIDENCE_SENTENCES", "evidence_text", "finding_text", "fusion_notes"]
