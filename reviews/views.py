"""Web pages for reviewers and admins. Thin: rules live in reviews.services, reads in the selectors."""

from __future__ import annotations

from django.contrib import messages
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from aiornot_site.roles import is_reviewer, is_site_admin, role_required
from detector.policy import VERDICTS
from detector.novelty import asset_novelty
from detector.selectors import heatmap_unmapped_parts
from detector.stored_files import asset_thumbnail
from detector.views.files import asset_file_response, heatmap_file_response, heatmap_name_for, private_file_response

from .case_selectors import (
    CASE_LIST_SORTS,
    CASE_LIST_STATES,
    CaseListFilters,
    case_context,
    case_for_reviewer,
    case_is_held_by,
    case_list,
    case_list_collections,
    case_requeue_reason,
    case_visible_in_list,
    current_round_decisions,
    decisions_visible_to,
    history_neighbours,
    matching_case_outcomes,
    undoable_decision,
)
from .forms import DecisionForm, RequeueForm
from .models import ReviewCase
from .selectors import case_held_by, escalated_cases, queue_counts
from .services import (
    ReviewError,
    case_claim_next,
    case_decide,
    case_decision_undo,
    case_escalation_decide,
    case_release,
    case_requeue,
    case_skip,
)

DECISION_KEYS = {"ai": "a", "human": "h", "unsure": "u"}

# (keys, what it does): listed on the page in <kbd>; static/js/review.js implements them.
SHORTCUTS = [
    (["a"], gettext_lazy("choose AI-generated (then write a note or save)")),
    (["h"], gettext_lazy("choose human-made")),
    (["u"], gettext_lazy("choose unsure")),
    (["1", "…", "9"], gettext_lazy("tick or untick a reason")),
    (["Ctrl", "Enter"], gettext_lazy("save the decision (Enter alone when not typing)")),
    (["Esc"], gettext_lazy("leave the note field, so keys work again")),
    (["s"], gettext_lazy("skip this case (you will not get it again for a while)")),
    (["r"], gettext_lazy("release this case back to the queue")),
    (["n"], gettext_lazy("claim the next case")),
    (["["], gettext_lazy("previous case in your history (also p)")),
    (["]"], gettext_lazy("next case in your history")),
    (["z"], gettext_lazy("zoom in / fit the image")),
    (["+", "-", "0"], gettext_lazy("zoom in, zoom out, reset (mouse wheel zooms, drag pans)")),
    (["o"], gettext_lazy("show the image at 1:1 pixels (again: fit)")),
    (["l"], gettext_lazy("magnifying loupe under the pointer on or off")),
    (["m"], gettext_lazy("show or hide the heatmap over the image")),
    (["?"], gettext_lazy("show or hide this list")),
]


reviewer_required = role_required(is_reviewer)
reviewer_or_admin_required = role_required(lambda user: is_reviewer(user) or is_site_admin(user))
admin_required = role_required(is_site_admin)


CASES_PER_PAGE = 50


def _case_list_filters(query) -> CaseListFilters:
    state = query.get("state", "queue")
    sort = query.get("sort", "queue")
    return CaseListFilters(
        state=state if state in CASE_LIST_STATES else "queue",
        collection=query.get("collection", "")[:12],
        verdict=query.get("verdict", "")[:16],
        search=query.get("q", "")[:100],
        sort=sort if sort in CASE_LIST_SORTS else "queue",
    )


@reviewer_or_admin_required
def queue(request):
    """Counts, the claim button, and the case list with filters (reviewers and admins)."""
    filters = _case_list_filters(request.GET)
    page = Paginator(case_list(viewer=request.user, filters=filters), CASES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "reviews/queue.html",
        {
            "counts": queue_counts(viewer=request.user),
            "held": case_held_by(request.user),
            "is_admin": is_site_admin(request.user),
            "can_claim": is_reviewer(request.user),
            "shortcuts": [s for s in SHORTCUTS if s[0] == ["n"]],
            "filters": filters,
            "page": page,
            "query": query.urlencode(),
            "collections": case_list_collections(request.user),
            "verdicts": list(VERDICTS),
            "undo": undoable_decision(request.user),
            "now": timezone.now(),
        },
    )


def _claim_next_redirect(request):
    case = case_claim_next(reviewer=request.user)
    if case is None:
        messages.info(request, _("The queue is empty: there is nothing for you to review right now."))
        return redirect("review-queue")
    return redirect("review-case", pk=case.pk)


@reviewer_required
@require_POST
def claim_next(request):
    return _claim_next_redirect(request)


def _case_mode(case: ReviewCase, user) -> str:
    """decide: you hold it; escalation: an admin settles it; read: look only."""
    if case_is_held_by(case, user):
        return "decide"
    if case.status == ReviewCase.Status.ESCALATED and is_site_admin(user):
        return "escalation"
    return "read"


@reviewer_or_admin_required
def case_detail(request, pk: int):
    case = case_for_reviewer(reviewer=request.user, case_id=pk)
    if case is None:
        raise Http404("This case is not yours to review. Claim the next case from the queue.")
    mode = _case_mode(case, request.user)
    form = DecisionForm(request.POST) if request.method == "POST" else DecisionForm()
    status = 200
    if request.method == "POST":
        if form.is_valid():
            decide = case_escalation_decide if mode == "escalation" else case_decide
            actor = {"admin" if mode == "escalation" else "reviewer": request.user}
            try:
                review = decide(
                    case_id=case.pk,
                    decision=form.cleaned_data["decision"],
                    note=form.cleaned_data["note"],
                    reason_codes=form.cleaned_data["reason_codes"],
                    **actor,
                )
            except ReviewError as exc:
                form.add_error("note" if exc.code == "note_required" else None, exc.message)
                if mode == "read":  # no form on the page to show the error in
                    messages.error(request, exc.message)
                status = exc.http_status
            else:
                case.refresh_from_db()
                if case.status == ReviewCase.Status.AWAITING_SECOND:
                    messages.success(
                        request,
                        _("Decision saved for case #%(id)s. An AI label here needs a second, independent reviewer "
                          "before it is final.") % {"id": case.pk},
                    )
                else:
                    messages.success(request, _("Decision saved for case #%(id)s.") % {"id": case.pk})
                if review.stage == review.Stage.ESCALATION:
                    return redirect("review-escalations")
                return _claim_next_redirect(request)  # auto-advance; the next page offers undo
        else:
            status = 400
    previous_id, next_id = history_neighbours(request.user, case)
    return render(
        request,
        "reviews/case_detail.html",
        {
            "case": case,
            "mode": mode,
            "form": form,
            "decision_radios": [(radio, DECISION_KEYS.get(str(radio.data["value"]), "")) for radio in form["decision"]],
            "reason_boxes": [(box, str(i) if i <= 9 else "") for i, box in enumerate(form["reason_codes"], start=1)],
            "decisions": decisions_visible_to(case, request.user),
            "round_decisions": current_round_decisions(case) if mode == "escalation" else [],
            "matching": matching_case_outcomes(case),
            "novelty": asset_novelty(case.asset),
            "requeue_reason": case_requeue_reason(case),
            "requeue_form": (
                RequeueForm() if case.status == ReviewCase.Status.DECIDED and is_site_admin(request.user) else None
            ),
            "previous_id": previous_id,
            "next_id": next_id,
            "holds_other_case": mode != "decide" and case_held_by(request.user) is not None,
            "has_heatmap": bool(heatmap_name_for(case.first_submission)),
            "heatmap_unmapped": heatmap_unmapped_parts(case.first_submission),
            "context": case_context(case, request.user),
            "undo": undoable_decision(request.user) if mode == "decide" else None,
            "shortcuts": SHORTCUTS,
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
@require_POST
def case_skip_view(request, pk: int):
    """Skip the case and go straight to the next one."""
    try:
        case_skip(case_id=pk, reviewer=request.user)
    except ReviewError as exc:
        messages.error(request, exc.message)
        return redirect("review-queue")
    messages.info(
        request, _("Skipped case #%(id)s: others can take it; you will not get it again for a while.") % {"id": pk}
    )
    return _claim_next_redirect(request)


@admin_required
@require_POST
def case_requeue_view(request, pk: int):
    form = RequeueForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say why this case is re-opened."))
        return redirect("review-case", pk=pk)
    try:
        case_requeue(case_id=pk, admin=request.user, reason=form.cleaned_data["reason"])
    except ReviewError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("Case #%(id)s is back in the queue; its label is cleared until it is decided again.") % {"id": pk}
        )
    return redirect("review-case", pk=pk)


@admin_required
def escalations(request):
    cases = list(escalated_cases()[:200])
    rows = [{"case": case, "decisions": current_round_decisions(case)} for case in cases]
    return render(request, "reviews/escalations.html", {"rows": rows})


@reviewer_or_admin_required
def case_image(request, pk: int):
    case = case_for_reviewer(reviewer=request.user, case_id=pk)
    if case is None:
        raise Http404("No such case.")
    return asset_file_response(case.asset)


@reviewer_or_admin_required
def case_heatmap(request, pk: int):
    case = case_for_reviewer(reviewer=request.user, case_id=pk)
    if case is None:
        raise Http404("No such case.")
    return heatmap_file_response(case.first_submission)


@reviewer_required
@require_POST
def decision_undo_view(request, pk: int):
    """Take back the last decision: back to that case, to decide it again."""
    try:
        case = case_decision_undo(decision_id=pk, reviewer=request.user)
    except ReviewError as exc:
        messages.error(request, exc.message)
        return redirect("review-queue")
    messages.info(request, _("Your decision on case #%(id)s is undone: decide it again.") % {"id": case.pk})
    return redirect("review-case", pk=case.pk)


@reviewer_or_admin_required
def case_thumbnail(request, pk: int):
    """A small picture of a case for the case list."""
    case = case_visible_in_list(viewer=request.user, case_id=pk)
    name = asset_thumbnail(asset=case.asset) if case is not None else ""
    if not name:
        raise Http404("No thumbnail.")
    return private_file_response(default_storage.open(name, "rb"), "image/jpeg")
