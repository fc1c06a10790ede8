"""Formatting for dashboard figures: shares as percentages, ages as readable durations."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

from detector.models import Verdict
from registry.models import ModelVersion
from reviews.models import Decision

register = template.Library()


@register.filter
def pct(value, digits: int = 1) -> str:
    """0.5 -> "50.0%"; None -> an em dash."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def number(value, digits: int = 3) -> str:
    if value is None or value == "":
        return "—"
    return f"{float(value):.{int(digits)}f}"


@register.filter
def duration(seconds) -> str:
    """Seconds -> "3 d 4 h", "5 h 12 min", "40 min", "under a minute"; None -> an em dash."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    if minutes < 1:
        return _("under a minute")
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    return _("%(m)s min") % {"m": minutes}


@register.filter
def index(sequence, i):
    try:
        return sequence[int(i)]
    except (IndexError, TypeError, ValueError):
        return ""


def _choice_label(choices, value) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return value


@register.filter
def decision_label(value) -> str:
    """A final label's code ("ai", "human", "unsure") as its translated name; unknown codes as they are."""
    return _choice_label(Decision, value)


@register.filter
def verdict_label(value) -> str:
    """The model's verdict code ("likely_ai", ...) as its translated name; unknown codes as they are."""
    return _choice_label(Verdict, value)


@register.filter
def registry_status_label(value) -> str:
    """A registry status code ("candidate", "active", "retired") as its translated name."""
    return _choice_label(ModelVersion.Status, value) if value else value
