from django import template
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext

from detector.evidence_text import fusion_notes as _fusion_notes
from detector.models import Verdict
from detector.presentation import contribution_bars as _contribution_bars, result_headline as _result_headline, DISCLAIMER, event_action_label as _event_action_label, ROUTING_REASON_TEXT, VERDICT_TEXT, WITHHELD_AFTER_REVIEW_TEXT, WITHHELD_TEXT, evidence_rows as _evidence_rows, percent as _percent, probability_lines as _lines, recompressed_copy_quality as _recompressed_copy_quality, stability_wording as _stability_wording, verdict_wording as _verdict_wording
from detector import policy
from detector.selectors import sees_escalations, verdict_withheld

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
def withheld_text(outcome=None):
    """Why the verdict is not shown: still under review, or reviewed and not found AI-generated."""
    if outcome is not None and getattr(outcome, "state", "") == "decided":
        return WITHHELD_AFTER_REVIEW_TEXT
    return WITHHELD_TEXT


@register.filter
def evidence_rows(fusion):
    return _evidence_rows(fusion)


@register.filter
def stability(fusion):
    """{"state", "label", "text"} of whether a slightly altered copy got the same answer, or None."""
    return _stability_wording(fusion)


@register.filter
def recompressed_copy_quality(fusion):
    """The JPEG quality of a possible re-compressed copy (shown beside the verdict), or None."""
    return _recompressed_copy_quality(fusion)


@register.filter
def small_image_caution(asset):
    """True when the image is judged but small enough that its verdict deserves a caution."""
    return policy.small_for_reliable_verdict(getattr(asset, "width", None), getattr(asset, "height", None))


@register.filter
def fusion_notes(fusion):
    """Why the verdict is what it is, in the reader's language (stored sentences for old rows)."""
    return _fusion_notes(fusion)


@register.filter
def event_action(action):
    """A history entry's action code ("scored", "requeued", ...) as translated words."""
    return _event_action_label(action)


@register.filter
def verdict_wording(submission):
    """{"label", "text"} of a scored submission's verdict ("No AI signs found" when only the classifier cleared it)."""
    return _verdict_wording(submission.verdict, submission.fusion)


@register.filter
def routing_reason_text(reason):
    """Why an image is in review, in words for the person who submitted it."""
    text = ROUTING_REASON_TEXT.get(reason)
    return str(text) if text is not None else ""


@register.filter
def review_status(submission, user=None):
    """What people have decided about the image, in a few words (not the model's verdict); an admin
    (``user``) also reads which cases wait for an admin because the reviewers disagreed."""
    if submission.status != "scored":
        return gettext("Waiting for the score")
    try:
        case = submission.asset.review_case
    except ObjectDoesNotExist:
        return gettext("Not sent to people")
    if case.status == "decided":
        return gettext("Decided: %(label)s") % {"label": case.get_label_display()}
    if case.status == "escalated" and user is not None and sees_escalations(user):
        return gettext("Escalated to an admin: the reviewers disagreed")
    if case.claimed_by_id and case.lease_expires_at and case.lease_expires_at >= timezone.now():
        return gettext("A reviewer is looking at it")
    return gettext("Waiting for a reviewer")


@register.filter
def contribution_bars(fusion):
    return _contribution_bars(fusion)


@register.filter
def result_headline(submission):
    return _result_headline(submission.verdict, submission.fusion)
