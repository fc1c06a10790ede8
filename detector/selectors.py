"""Reads about submissions, with the visibility rules of each role."""

from __future__ import annotations

from django.db.models import QuerySet

from aiornot_site.roles import is_site_admin

from .models import Collection

from .models import Submission


def submissions_visible_to(user) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("asset", "submitted_by", "classifier_evidence", "collection")
    if is_site_admin(user):
        return qs
    return qs.filter(submitted_by=user)


def submission_get_for_user(*, user, submission_id: int) -> Submission | None:
    return submissions_visible_to(user).filter(pk=submission_id).first()


def verdict_withheld(submission: Submission, user) -> bool:
    """True when this viewer may not see the machine's verdict yet.

    In an art-contest collection an entrant is never told "likely AI" before a reviewer
    has decided; reviewers and admins always see it.
    """
    if submission.collection_id is None or submission.collection.policy != Collection.Policy.ART_CONTEST:
        return False
    if submission.verdict != "likely_ai":
        return False
    if is_site_admin(user) or user.has_perm("reviews.review_case"):
        return False
    from reviews.models import ReviewCase

    return not ReviewCase.objects.filter(asset_id=submission.asset_id, status=ReviewCase.Status.DECIDED).exists()


def collections_open_for_submission() -> QuerySet[Collection]:
    return Collection.objects.filter(is_open=True).order_by("name")


def submission_get_for_report(*, user, submission_id: int) -> Submission | None:
    """For the printable report, thumbnails and report images: admins and reviewers may open any
    submission, anyone else only their own."""
    from aiornot_site.roles import is_reviewer

    qs = Submission.objects.select_related("asset", "submitted_by", "classifier_evidence", "collection")
    if not (is_site_admin(user) or is_reviewer(user)):
        qs = qs.filter(submitted_by=user)
    return qs.filter(pk=submission_id).first()
