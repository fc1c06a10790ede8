"""Reads about submissions and collections, with the visibility rules of each role."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone
from django.db.models.functions import Lower

from aiornot_site.roles import is_reviewer, is_site_admin, is_submitter
from reviews.models import Decision, ReviewCase
from reviews.selectors import ReviewOutcome, submission_outcome

from .models import Collection, Submission, Verdict


def submissions_visible_to(user) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("asset", "submitted_by", "classifier_evidence", "collection")
    if is_site_admin(user):
        return qs
    return qs.filter(submitted_by=user)


def submission_get_for_user(*, user, submission_id: int) -> Submission | None:
    return submissions_visible_to(user).filter(pk=submission_id).first()


def verdict_withheld(submission: Submission, user) -> bool:
    """True when this viewer may not see the machine's verdict.

    In an art-contest collection an entrant is told "likely AI" only once reviewers have decided
    that the entry is AI-generated: before a decision, and after a "human-made" or "unsure" one,
    the machine's accusation stays hidden (the entrant sees the people's decision). Reviewers and
    admins always see it.
    """
    if submission.collection_id is None or submission.collection.policy != Collection.Policy.ART_CONTEST:
        return False
    if submission.verdict != "likely_ai":
        return False
    if is_site_admin(user) or user.has_perm("reviews.review_case"):
        return False
    return not ReviewCase.objects.filter(
        asset_id=submission.asset_id, status=ReviewCase.Status.DECIDED, label=Decision.AI
    ).exists()


def sees_escalations(user) -> bool:
    """Admins settle the cases reviewers disagreed on, so they see which ones wait for them;
    anyone else sees such a case as still under review (who disagreed with whom stays private)."""
    return is_site_admin(user)


def submission_outcome_for(submission: Submission, user) -> ReviewOutcome:
    """What people have done about the image, as this viewer may see it: ``submission_outcome``,
    except that an admin sees a case the reviewers disagreed on as ``escalated`` (it waits for an
    admin, not for a reviewer)."""
    outcome = submission_outcome(submission)
    if outcome.state in ("waiting", "in_review") and outcome.case_id is not None and sees_escalations(user):
        if ReviewCase.objects.filter(pk=outcome.case_id, status=ReviewCase.Status.ESCALATED).exists():
            return replace(outcome, state="escalated")
    return outcome


# Architectures whose score has a part the Grad-CAM heatmap does not explain: the NPR patch models
# of detector/ml/npr.py (NPR_ARCH) read pixel traces and have no map.
HEATMAP_PARTIAL_ARCHS = ("efficientnet_lite0_multilevel_npr",)


def heatmap_unmapped_parts(submission: Submission) -> frozenset:
    """The parts of the submission's score that its heatmap does not show: "pixel_trace" (the NPR
    patch models; a model version begins with its architecture's name) and "whole_view" (the
    probe's look at the whole picture at once, recorded with the classifier's reading)."""
    parts = set()
    version = submission.model_version or ""
    if any(version.startswith(f"{arch}-") for arch in HEATMAP_PARTIAL_ARCHS):
        parts.add("pixel_trace")
    evidence = submission.classifier_evidence
    if evidence is not None and (evidence.raw or {}).get("whole_view"):
        parts.add("whole_view")
    return frozenset(parts)


# A heatmap still missing this long after the verdict will not come (its worker stopped).
HEATMAP_WAIT = timedelta(minutes=10)


def heatmap_state(submission: Submission) -> str:
    """"ready", "pending" (the verdict is shown, the heatmap is being drawn) or "none"."""
    if not settings.AIORNOT_HEATMAPS:
        return "none"
    if submission.status == Submission.Status.PENDING:
        return "pending"
    evidence = submission.classifier_evidence
    if submission.status != Submission.Status.SCORED or evidence is None:
        return "none"
    raw = evidence.raw or {}
    if "heatmap" in raw:
        return "ready" if raw["heatmap"] else "none"
    scored_at = submission.scored_at or evidence.created_at
    return "pending" if scored_at and timezone.now() - scored_at < HEATMAP_WAIT else "none"


def collections_open_for_submission() -> QuerySet[Collection]:
    return Collection.objects.filter(is_open=True).order_by("name")


def submission_get_for_report(*, user, submission_id: int) -> Submission | None:
    """For the printable report, thumbnails and report images: admins and reviewers may open any
    submission, anyone else only their own."""
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


# --- Collections --------------------------------------------------------------------------------


def can_manage_collections(user) -> bool:
    return is_site_admin(user) and user.has_perms(["detector.add_collection", "detector.change_collection"])


def sees_every_entry(user) -> bool:
    """Admins and reviewers see every entry of a collection; submitters only their own."""
    return is_site_admin(user) or is_reviewer(user)


def collections_visible_to(user) -> QuerySet[Collection]:
    """Admins and reviewers: every collection. Submitters: the open ones, and closed ones they
    have entries in. Others: none. Open ones first, then the nearest deadline."""
    qs = Collection.objects.select_related("created_by")
    if not sees_every_entry(user):
        if not is_submitter(user):
            return qs.none()
        mine = Submission.objects.filter(submitted_by=user).values("collection_id")
        qs = qs.filter(Q(is_open=True) | Q(pk__in=mine))
    return qs.order_by("-is_open", "deadline", "name", "id")


def collection_get_for_user(*, user, collection_id: int) -> Collection | None:
    return collections_visible_to(user).filter(pk=collection_id).first()


def collection_entries_visible_to(*, user, collection: Collection) -> QuerySet[Submission]:
    qs = Submission.objects.select_related("asset", "submitted_by", "classifier_evidence", "collection").filter(
        collection=collection
    )
    if not sees_every_entry(user):
        qs = qs.filter(submitted_by=user)
    return qs.order_by("created_at", "id")


ENTRY_LIST_STATES = SUBMISSION_LIST_STATES
ENTRY_LIST_VERDICTS = ("", *Verdict.values)
ENTRY_LIST_SORTS = ("newest", "oldest", "name", "score")


def may_use_model_verdicts(*, user, collection: Collection) -> bool:
    """Whether this viewer may filter or sort a collection's entries by what the model said.

    Admins and reviewers may. So may a submitter, except in an art contest: there an entrant is
    never told which entries the model called likely AI before people decided, and a filter or a
    score order would tell them just that (by elimination, even if withheld entries were left out).
    """
    return sees_every_entry(user) or collection.policy != Collection.Policy.ART_CONTEST


def collection_entry_list_for(
    *, user, collection: Collection, state: str = "", verdict: str = "", search: str = "", sort: str = "newest"
) -> QuerySet[Submission]:
    """The entries this viewer may list, filtered by people's decision (``state``, as on the
    submission list), the model's ``verdict``, a search in file name, link or number, and sorted
    newest, oldest, by file name or (admins and reviewers only) by score. A verdict filter from a
    viewer who may not use it is ignored."""
    entries = collection_entries_visible_to(user=user, collection=collection).select_related("asset__review_case")
    verdicts_allowed = may_use_model_verdicts(user=user, collection=collection)
    entries = submissions_filtered(entries, state=state, search=search, verdict=verdict if verdicts_allowed else "")
    if sort == "score" and not sees_every_entry(user):
        sort = "newest"
    return submissions_sorted(entries, sort=sort)


def collection_upload_progress(*, user, collection: Collection) -> dict:
    """How many entries this person has in the collection, by scoring status: the upload page
    polls it while the server adds a zip archive's entries one by one (each is committed alone)."""
    counts = dict(
        Submission.objects.filter(collection=collection, submitted_by=user)
        .values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {"entries": sum(counts.values()), **{status: counts.get(status, 0) for status in Submission.Status.values}}
