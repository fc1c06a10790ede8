"""How scores are worded for people, shared by the pages and the API.

Wording matters: a score is an aid for a person, never an accusation.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .evidence.provenance import CODE_JPEG_LOW_QUALITY
from .evidence_text import finding_text
from .models import Verdict

DISCLAIMER = _(
    "This is an automated estimate to help a person decide, not a judgement. It can be wrong, "
    "especially for human-made artwork, edited photos and images from generators the model has "
    "not seen. Nobody should be accused of using AI on the strength of this score alone; a "
    "human reviewer makes every decision."
)

VERDICT_TEXT = {
    "likely_ai": _("the model's estimate only; a human reviewer decides."),
    "uncertain": _("the model cannot tell; a human reviewer decides."),
    "likely_human": _("according to the model's estimate."),
}


NO_AI_SIGNS_LABEL = _("No AI signs found")
NO_AI_SIGNS_TEXT = _(
    "only the classifier spoke, and it found no signs of AI. That is not proof a person made the "
    "image: new generators can fool it."
)


def only_the_classifier_cleared(verdict: str, fusion: dict | None) -> bool:
    """A likely_human verdict on the classifier's word alone: no other finding pointed either way."""
    if verdict != "likely_human":
        return False
    return not any(f.get("direction") in ("ai", "human") for f in (fusion or {}).get("findings", []))


def verdict_wording(verdict: str, fusion: dict | None) -> dict[str, str]:
    """{"label": ..., "text": ...} for a verdict: "No AI signs found" when only the classifier cleared it."""
    if only_the_classifier_cleared(verdict, fusion):
        return {"label": str(NO_AI_SIGNS_LABEL), "text": str(NO_AI_SIGNS_TEXT)}
    label = Verdict(verdict).label if verdict in Verdict.values else verdict
    return {"label": str(label), "text": str(VERDICT_TEXT.get(verdict, ""))}


ROUTING_REASON_TEXT = {
    "review_every_entry": _("Every entry of this collection is reviewed by a person."),
    "evidence": _("Evidence besides the classifier points to AI, so a person checks it."),
    "likely_ai": _("The model scored it likely AI-generated, so a person checks it before anything is decided."),
    "uncertain": _("The model could not tell, so a person decides."),
    "sampled_likely_human": _(
        "A random check: a share of images with no AI signs is reviewed, to measure how often the model misses one."
    ),
}


def percent(p: float) -> int:
    return int(round(p * 100))


def probability_lines(p_ai: float | None) -> dict[str, str] | None:
    """{"ai_generated": "AI-generated: 73%", "human_made": "human-made: 27%"}."""
    if p_ai is None:
        return None
    ai = percent(p_ai)
    return {
        "ai_generated": str(_("AI-generated: %(pct)s%%") % {"pct": ai}),
        "human_made": str(_("human-made: %(pct)s%%") % {"pct": 100 - ai}),
    }


LAYER_NAMES = {
    "classifier": _("Learned classifier"),
    "provenance": _("Provenance metadata"),
    "watermark": _("Invisible watermark"),
    "visible_mark": _("Visible AI mark"),
    "known_image": _("Known-image match"),
}
DIRECTION_TEXT = {
    "ai": _("points to AI"),
    "human": _("points to human-made"),
    "none": _("for information"),
    "unreadable": _("could not be read; counts for nothing"),
}
STRENGTH_TEXT = {"strong": _("strong"), "moderate": _("moderate"), "weak": _("weak"), "none": ""}
WITHHELD_TEXT = _(
    "Under review. In this contest no entrant is told a machine's opinion before a person has "
    "looked at the entry; you will see the reviewer's decision here."
)
WITHHELD_AFTER_REVIEW_TEXT = _(
    "Not shown. In this contest an entrant sees the machine's opinion only when reviewers decide "
    "that the entry is AI-generated; the reviewers' decision is below."
)


# Stability: whether a slightly altered copy of the image gets the same answer, said for an editor.
STABILITY_LABEL = {"stable": _("stable"), "unstable": _("unstable")}
STABILITY_TEXT = {
    "stable": _(
        "a slightly altered copy of the image (saved again, a little smaller) got the same answer, so small "
        "changes to the file do not sway it."
    ),
    "unstable": _(
        "a slightly altered copy of the image (saved again, a little smaller) got a different answer, so the "
        "classifier's score alone is not enough to act on."
    ),
}


def _classifier_contribution(fusion: dict | None) -> dict | None:
    return next((c for c in (fusion or {}).get("contributions", []) if c.get("layer") == "classifier"), None)


def recompressed_copy_quality(fusion: dict | None) -> int | None:
    """The JPEG quality of a file the provenance layer read as a possible re-compressed copy, or None."""
    for finding in (fusion or {}).get("findings", []):
        if finding.get("code") == CODE_JPEG_LOW_QUALITY:
            quality = (finding.get("params") or {}).get("quality")
            return quality if isinstance(quality, int) else None
    return None


def stability_wording(fusion: dict | None) -> dict[str, str] | None:
    """{"state": "stable" | "unstable", "label": ..., "text": ...}, or None when it was not measured
    (no altered copy was scored, or the image is too small for the score to count)."""
    fusion = fusion or {}
    classifier = _classifier_contribution(fusion)
    if classifier is None or classifier.get("p_ai_reencoded") is None or fusion.get("too_small"):
        return None
    unstable = fusion["unstable"] if "unstable" in fusion else not classifier.get("reliable", True)
    state = "unstable" if unstable else "stable"
    return {"state": state, "label": str(STABILITY_LABEL[state]), "text": str(STABILITY_TEXT[state])}


def evidence_rows(fusion: dict | None) -> list[dict]:
    """Every piece of evidence behind a verdict, worded for people, classifier first (with its
    stability, see ``stability_wording``)."""
    fusion = fusion or {}
    rows = []
    classifier = _classifier_contribution(fusion)
    if classifier is not None and classifier.get("p_ai") is not None:
        line = str(_("The classifier scored the pixels %(pct)s%% AI-generated.") % {"pct": percent(classifier["p_ai"])})
        rows.append(
            {
                "layer": "classifier",
                "layer_name": LAYER_NAMES["classifier"],
                "signal": "classifier",
                "direction": "ai" if classifier["p_ai"] >= 0.5 else "human",
                "direction_text": "",
                "strength_text": "",
                "verified": False,
                "line": line,
                "counts": bool(classifier.get("reliable", True)),
                "stability": stability_wording(fusion),
            }
        )
    for finding in fusion.get("findings", []):
        rows.append(
            {
                "layer": finding.get("layer", ""),
                "layer_name": LAYER_NAMES.get(finding.get("layer"), finding.get("layer", "")),
                "signal": finding.get("signal", ""),
                "direction": finding.get("direction", "none"),
                "direction_text": DIRECTION_TEXT.get(finding.get("direction"), ""),
                "strength_text": STRENGTH_TEXT.get(finding.get("strength"), ""),
                "verified": bool(finding.get("verified")),
                "line": finding_text(finding),
                "counts": finding.get("direction") in ("ai", "human"),
                "trusted_by": (finding.get("details") or {}).get("trusted_by"),
            }
        )
    return rows


# What each entry of a submission's history means, for the history list on its page.
EVENT_ACTION_TEXT = {
    "submitted": _("Submitted"),
    "scored": _("Scored by the model"),
    "rescored": _("Scored again"),
    "scoring_failed": _("Scoring failed"),
    "requeued": _("Queued for scoring again"),
    "routed_to_review": _("Sent to human review"),
    "not_routed": _("Not selected for human review"),
    "review_decided": _("A reviewer decided"),
    "review_reopened": _("Review reopened"),
}


def event_action_label(action: str) -> str:
    """A history entry's action code as words for people; unknown codes as they are."""
    label = EVENT_ACTION_TEXT.get(action)
    return str(label) if label is not None else action


# How far one layer moved the estimate, for the bars on the result page. log-odds of 4 (about
# 2% to 50%, or 50% to 98%) fills half the bar: beyond that a layer is decisive on its own.
FULL_BAR_LOG_ODDS = 4.0


def contribution_bars(fusion: dict | None) -> list[dict]:
    """One bar per layer that moved the estimate, with a sentence an editor can read.

    ``side`` is "ai" or "human", ``width`` the share (0-50) of the whole bar from its middle.
    """
    bars = []
    for contribution in (fusion or {}).get("contributions", []):
        weight = float(contribution.get("log_odds") or 0.0)
        layer = contribution.get("layer", "")
        if not weight and layer != "classifier":
            continue
        side = "ai" if weight > 0 else "human"
        size = abs(weight)
        amount = _("strongly") if size >= 3 else _("clearly") if size >= 1.5 else _("slightly") if size >= 0.4 else None
        name = LAYER_NAMES.get(layer, layer)
        if amount is None:
            sentence = _("%(layer)s: hardly moved the estimate.") % {"layer": name}
        elif side == "ai":
            sentence = _("%(layer)s: moved the estimate %(amount)s towards AI-generated.") % {"layer": name, "amount": amount}
        else:
            sentence = _("%(layer)s: moved the estimate %(amount)s towards human-made.") % {"layer": name, "amount": amount}
        if layer == "classifier" and not contribution.get("reliable", True):
            sentence = _("%(layer)s: its score is not reliable for this image, so it is read with care.") % {"layer": name}
        bars.append(
            {
                "layer": layer,
                "name": name,
                "side": side,
                "width": round(min(size / FULL_BAR_LOG_ODDS, 1.0) * 50, 1),
                "sentence": str(sentence),
                "line": finding_text(contribution),
            }
        )
    return bars


def result_headline(verdict: str, fusion: dict | None) -> str:
    """The one plain sentence at the top of a result, for an editor."""
    if only_the_classifier_cleared(verdict, fusion):
        return str(_("No signs of AI found. That does not prove a person made it."))
    return str(
        {
            "likely_ai": _("This image shows signs of AI generation. A person checks before anything is decided."),
            "uncertain": _("The checks cannot tell whether this image is AI-generated. A person decides."),
            "likely_human": _("This image looks human-made to the checks."),
        }.get(verdict, "")
    )
