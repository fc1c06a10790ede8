"""Reads about submissions, with the visibility rules of each role."""

from __future__ import annotations

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Lower

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


SUBMISSION_LIST_STATES = ("", "pending", "in_review", "decided_ai", "decided_human", "decided_unsure", "not_reviewed")
SUBMISSION_LIST_SORTS = ("newest", "oldest", "score")


def submission_list_for(
    *, user, state: str = "", search: str = "", sort: str = "newest", collection_id: int | None = None
) -> QuerySet[Submission]:
    """Submissions this person may list, by the people's decision rather than the model's verdict.

    ``state``: pending (not scored yet), in_review (a case is open), decided_ai/_human/_unsure
    (people's final label), not_reviewed (scored, not sent to people). ``search``: file name,
    link or submission number. Sorting by score is for admins only: for an art-contest entrant
    it would reveal which entries the model called likely AI before people decided.
    """
    submissions = submissions_visible_to(user).select_related("asset__review_case")
    if collection_id is not None:
        submissions = submissions.filter(collection_id=collection_id)
    submissions = submissions_filtered(submissions, state=state, search=search)
    return submissions_sorted(submissions, sort="score" if sort == "score" and is_site_admin(user) else sort)


def submissions_filtered(submissions: QuerySet[Submission], *, state: str = "", search: str = "",
                         verdict: str = "") -> QuerySet[Submission]:
    """``submissions`` narrowed by the people's decision (``state``, see ``submission_list_for``), a
    search in file name, link or number, and the model's ``verdict`` (scored ones only). Which of
    these a viewer may use is the caller's rule."""
    from reviews.models import ReviewCase

    if state == "pending":
        submissions = submissions.exclude(status=Submission.Status.SCORED)
    elif state == "in_review":
        submissions = submissions.filter(asset__review_case__isnull=False).exclude(
            asset__review_case__status=ReviewCase.Status.DECIDED
        )
    elif state.startswith("decided_"):
        submissions = submissions.filter(
            asset__review_case__status=ReviewCase.Status.DECIDED, asset__review_case__label=state.removeprefix("decided_")
        )
    elif state == "not_reviewed":
        submissions = submissions.filter(status=Submission.Status.SCORED, asset__review_case__isnull=True)
    search = (search or "").strip()
    if search:
        match = Q(original_filename__icontains=search) | Q(source_url__icontains=search)
        if search.lstrip("#").isdigit():
            match |= Q(pk=int(search.lstrip("#")))
        submissions = submissions.filter(match)
    if verdict:
        submissions = submissions.filter(status=Submission.Status.SCORED, verdict=verdict)
    return submissions


def submissions_sorted(submissions: QuerySet[Submission], *, sort: str = "newest") -> QuerySet[Submission]:
    """newest, oldest, name (file name or link, A to Z) or score (highest P(AI) first). The caller
    decides who may sort by score."""
    if sort == "oldest":
        return submissions.order_by("created_at", "id")
    if sort == "name":
        return submissions.order_by(Lower("original_filename"), Lower("source_url"), "id")
    if sort == "score":
        return submissions.order_by(F("p_ai").desc(nulls_last=True), "-id")
    return submissions.order_by("-created_at", "-id")
