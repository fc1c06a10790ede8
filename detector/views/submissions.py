"""Web pages for submitters: the upload form, their submissions, one result and its printable
report. Thin: validation in forms, work in services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from aiornot_site.roles import is_site_admin, is_submitter

from ..collection_reports import report_entry
from ..forms import SubmitImageForm
from ..models import Submission
from ..selectors import (
    SUBMISSION_LIST_SORTS,
    SUBMISSION_LIST_STATES,
    heatmap_unmapped_parts,
    heatmap_state,
    submission_get_for_report,
    submission_get_for_user,
    submission_list_for,
    submission_outcome_for,
    submissions_visible_to,
    verdict_withheld,
)
from ..services import SubmissionRejected, submission_submit
from ..stored_files import asset_thumbnail
from .files import asset_file_response, heatmap_file_response, heatmap_name_for, private_file_response


def home(request):
    """Signed out: what the product does. Signed in: the upload form and recent submissions."""
    if not request.user.is_authenticated:
        return render(request, "detector/landing.html")
    if not is_submitter(request.user):
        return render(request, "detector/home.html", {"form": None, "recent": []})
    recent = submissions_visible_to(request.user).filter(submitted_by=request.user).select_related("asset__review_case")[:10]
    return render(request, "detector/home.html", {"form": SubmitImageForm(), "recent": recent})


@login_required
@require_http_methods(["GET", "POST"])
def submit(request):
    if not is_submitter(request.user):
        raise PermissionDenied
    form = SubmitImageForm(request.POST, request.FILES) if request.method == "POST" else SubmitImageForm()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                submission = submission_submit(
                    user=request.user,
                    upload=form.cleaned_data["image"],
                    url=form.cleaned_data["url"],
                    channel=Submission.Channel.WEB,
                    note=form.cleaned_data["note"],
                    collection=form.cleaned_data.get("collection"),
                )
            except SubmissionRejected as exc:
                field = "url" if exc.code.startswith("url_") or form.cleaned_data["url"] else "image"
                form.add_error(field, exc.message)
                status = exc.http_status
            else:
                return redirect("submission-detail", pk=submission.pk)
        else:
            status = 413 if form.has_error("image", "file_too_large") else 400
    return render(request, "detector/submit.html", {"form": form}, status=status)


SUBMISSIONS_PER_PAGE = 50
# The heatmap is unfolded only from this P(AI) on: on a low score its hotspots read as
# "the AI part is here" to an editor, which is not what they mean.
HEATMAP_OPEN_FROM_P_AI = 0.5


@login_required
def submission_list(request):
    """Your submissions (admins: all), with what people decided, filters, search and pages."""
    state = request.GET.get("state", "")
    sort = request.GET.get("sort", "newest")
    filters = {
        "state": state if state in SUBMISSION_LIST_STATES else "",
        "sort": sort if sort in SUBMISSION_LIST_SORTS else "newest",
        "q": request.GET.get("q", "")[:100],
    }
    submissions = submission_list_for(user=request.user, state=filters["state"], search=filters["q"], sort=filters["sort"])
    page = Paginator(submissions, SUBMISSIONS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "detector/submission_list.html",
        {"page": page, "submissions": page, "filters": filters, "query": query.urlencode(),
         "can_sort_by_score": is_site_admin(request.user)},
    )


@login_required
def submission_detail(request, pk: int):
    submission = submission_get_for_user(user=request.user, submission_id=pk)
    if submission is None:
        raise Http404("No such submission.")
    return render(
        request,
        "detector/submission_detail.html",
        {
            "submission": submission,
            "outcome": submission_outcome_for(submission, request.user),
            "has_heatmap": bool(heatmap_name_for(submission)),
            "heatmap_state": heatmap_state(submission),
            "heatmap_unmapped": heatmap_unmapped_parts(submission),
            "heatmap_open": submission.p_ai is not None and submission.p_ai >= HEATMAP_OPEN_FROM_P_AI,
            "withheld": verdict_withheld(submission, request.user),
            "events": submission.events.select_related("actor").all(),
        },
    )


@login_required
def submission_status(request, pk: int):
    """Whether scoring has finished, for the result page's script (it reloads when it has)."""
    submission = submission_get_for_user(user=request.user, submission_id=pk)
    if submission is None:
        raise Http404("No such submission.")
    response = JsonResponse({"status": submission.status, "heatmap": heatmap_state(submission)})
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def submission_image(request, pk: int):
    """The stored original, only for people allowed to see the submission."""
    submission = submission_get_for_user(user=request.user, submission_id=pk)
    if submission is None:
        raise Http404("No such submission.")
    return asset_file_response(submission.asset)


@login_required
def submission_heatmap(request, pk: int):
    """The Grad-CAM overlay of the classifier result behind this submission's verdict."""
    submission = submission_get_for_user(user=request.user, submission_id=pk)
    if submission is None:
        raise Http404("No such submission.")
    if verdict_withheld(submission, request.user):
        raise Http404("The result is under review.")
    return heatmap_file_response(submission)


def _report_submission_or_404(request, pk: int):
    submission = submission_get_for_report(user=request.user, submission_id=pk)
    if submission is None:
        raise Http404("No such submission.")
    return submission


@login_required
def submission_report(request, pk: int):
    """A printable page about one image for an editor: everything known, and the disclaimer."""
    submission = _report_submission_or_404(request, pk)
    entry = report_entry(submission, request.user)
    return render(
        request,
        "detector/submission_report.html",
        {
            "submission": submission,
            "entry": entry,
            "has_heatmap": bool(heatmap_name_for(submission)) and entry.shows_score,
            "heatmap_unmapped": heatmap_unmapped_parts(submission),
            "now": timezone.now(),
        },
    )


@login_required
def submission_report_image(request, pk: int):
    return asset_file_response(_report_submission_or_404(request, pk).asset)


@login_required
def submission_report_heatmap(request, pk: int):
    submission = _report_submission_or_404(request, pk)
    if verdict_withheld(submission, request.user):
        raise Http404("The result is under review.")
    return heatmap_file_response(submission)


@login_required
def submission_thumbnail(request, pk: int):
    name = asset_thumbnail(asset=_report_submission_or_404(request, pk).asset)
    if not name:
        raise Http404("No thumbnail.")
    return private_file_response(default_storage.open(name, "rb"), "image/jpeg")
