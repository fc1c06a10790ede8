"""Web pages for reviewers. Thin: rules live in reviews.services."""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aiornot_site.roles import is_reviewer
from detector.views import asset_file_response, heatmap_file_response, heatmap_name_for

from .forms import DecisionForm
from .selectors import case_for_reviewer, case_held_by, queue_counts
from .services import ReviewError, case_claim_next, case_decide, case_release


def reviewer_required(view):
    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not is_reviewer(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


@reviewer_required
def queue(request):
    return render(
        request, "reviews/queue.html", {"counts": queue_counts(), "held": case_held_by(request.user)}
    )


@reviewer_required
@require_POST
def claim_next(request):
    case = case_claim_next(reviewer=request.user)
    if case is None:
        messages.info(request, _("The queue is empty: there is nothing for you to review right now."))
        return redirect("review-queue")
    return redirect("review-case", pk=case.pk)


@reviewer_required
def case_detail(request, pk: int):
    case = case_for_reviewer(reviewer=request.user, case_id=pk)
    if case is None:
        raise Http404("This case is not yours to review. Claim the next case from the queue.")
    form = DecisionForm(request.POST) if request.method == "POST" else DecisionForm()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                case_decide(
                    case_id=case.pk,
                    reviewer=request.user,
                    decision=form.cleaned_data["decision"],
                    note=form.cleaned_data["note"],
                )
            except ReviewError as exc:
                form.add_error("note" if exc.code == "note_required" else None, exc.message)
                status = exc.http_status
            else:
                messages.success(request, _("Decision saved for case #%(id)s.") % {"id": case.pk})
                return redirect("review-queue")
        else:
            status = 400
    return render(
        request,
        "reviews/case_detail.html",
        {
            "case": case,
            "form": form,
            "decisions": case.decisions.select_related("reviewer"),
            "has_heatmap": bool(heatmap_name_for(case.first_submission)),
        },
        status=status,
    )


@reviewer_required
@require_POST
def case_release_view(request, pk: int):
    try:
        case_release(case_id=pk, reviewer=request.user)
    except ReviewError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, _("Case #%(id)s is back in the queue.") % {"id": pk})
    return redirect("review-queue")


@reviewer_required
def case_image(request, pk: int):
    case = case_for_reviewer(reviewer=request.user, case_id=pk)
    if case is None:
        raise Http404("No such case.")
    return asset_file_response(case.asset)


@reviewer_required
def case_heatmap(request, pk: int):
    case = case_for_reviewer(reviewer=request.user, case_id=pk)
    if case is None:
        raise Http404("No such case.")
    return heatmap_file_response(case.first_submission)
