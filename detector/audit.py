"""The submissions' audit trail: every change to a submission writes one append-only event."""

from __future__ import annotations

from .models import Submission, SubmissionEvent


def submission_event(submission: Submission, action: str, actor=None, **data) -> SubmissionEvent:
    """Record ``action`` on ``submission``; call it inside the transaction of the change it records."""
    return SubmissionEvent.objects.create(submission=submission, action=action, actor=actor, data=data)
