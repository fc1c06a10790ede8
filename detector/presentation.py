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
