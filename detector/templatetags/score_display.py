from django import template

from detector.models import Verdict
from detector.presentation import DISCLAIMER, event_action_label as _event_action_label, VERDICT_TEXT, WITHHELD_TEXT, evidence_rows as _evidence_rows, percent as _percent, probability_lines as _lines
from detector.selectors import verdict_withheld

register = template.Library()


@register.filter
def probability_lines(p_ai):
    return _lines(p_ai) or {}


@register.filter
def ai_percent_line(p_ai):
    lines = _lines(p_ai)
    return lines["ai_generated"] if lines else ""


@register.filter
def percent(p_ai):
    return _percent(p_ai) if p_ai is not None else 0


@register.filter
def verdict_text(verdict):
    return VERDICT_TEXT.get(verdict, "")


@register.filter
def verdict_label(verdict):
    return Verdict(verdict).label if verdict in Verdict.values else verdict


@register.simple_tag
def disclaimer():
    return DISCLAIMER


@register.filter
def withheld_from(submission, user):
    """The machine's verdict is not shown to this viewer yet (art-contest entrant before review)."""
    return verdict_withheld(submission, user)


@register.simple_tag
def withheld_text():
    return WITHHELD_TEXT


@register.filter
def evidence_rows(fusion):
    return _evidence_rows(fusion)


@register.filter
def event_action(action):
    """A history entry's action code ("scored", "requeued", ...) as translated words."""
    return _event_action_label(action)
