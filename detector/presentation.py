"""How scores are worded for people, shared by the pages and the API.

Wording matters: a score is an aid for a person, never an accusation.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

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


def evidence_rows(fusion: dict | None) -> list[dict]:
    """Every piece of evidence behind a verdict, worded for people, classifier first."""
    fusion = fusion or {}
    rows = []
    classifier = next((c for c in fusion.get("contributions", []) if c.get("layer") == "classifier"), None)
    if classifier is not None and classifier.get("p_ai") is not None:
        line = str(_("The classifier scored the pixels %(pct)s%% AI-generated.") % {"pct": percent(classifier["p_ai"])})
        if classifier.get("p_ai_reencoded") is not None:
            line += " " + str(
                _("A slightly re-saved copy scored %(pct)s%%.") % {"pct": percent(classifier["p_ai_reencoded"])}
            )
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
                "line": finding.get("line", ""),
                "counts": finding.get("direction") in ("ai", "human"),
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
