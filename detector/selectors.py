"""Reads about submissions, with the visibility rules of each role."""

from __future__ import annotations

from django.db.models import QuerySet

from aiornot_site.roles import is_site_admin

from .models import Submission


def submissions_visible_to(user) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("asset", "submitted_by", "classifier_evidence")
    if is_site_admin(user):
        return qs
    return qs.filter(submitted_by=user)


def submission_get_for_user(*, user, submission_id: int) -> Submission | None:
    return submissions_visible_to(user).filter(pk=submission_id).first()
