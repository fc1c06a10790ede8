"""Web pages for submitters. Thin: validation in forms, work in services."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from aiornot_site.roles import is_submitter
from reviews.selectors import submission_outcome

from .forms import SubmitImageForm
from .models import Submission
from .selectors import submission_get_for_user, submissions_visible_to, verdict_withheld
from .services import SubmissionRejected, submission_submit


@login_required
def home(request):
    if not is_submitter(request.user):
        return render(request, "detector/home.html", {"form": None, "recent": []})
    recent = submissions_visible_to(request.user).filter(submitted_by=request.user)[:10]
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


@login_required
def submission_list(request):
    submissions = submissions_visible_to(request.user)[:200]
    return render(request, "detector/submission_list.html", {"submissions": submissions})


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
            "outcome": submission_outcome(submission),
            "has_heatmap": bool(heatmap_name_for(submission)),
            "withheld": verdict_withheld(submission, request.user),
            "events": submission.events.select_related("actor").all(),
        },
    )


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


def heatmap_file_response(submission) -> FileResponse:
    name = heatmap_name_for(submission)
    if not name or not default_storage.exists(name):
        raise Http404("No heatmap was stored for this result.")
    return _private_file_response(default_storage.open(name, "rb"), "image/png")


def heatmap_name_for(submission) -> str:
    evidence = submission.classifier_evidence
    return ((evidence.raw or {}).get("heatmap") or "") if evidence is not None else ""


def asset_file_response(asset) -> FileResponse:
    content_type = {
        "JPEG": "image/jpeg",
        "MPO": "image/jpeg",
        "PNG": "image/png",
        "WEBP": "image/webp",
        "GIF": "image/gif",
        "BMP": "image/bmp",
        "TIFF": "image/tiff",
    }.get(asset.format, "application/octet-stream")
    return _private_file_response(asset.file.open("rb"), content_type)


def _private_file_response(handle, content_type: str) -> FileResponse:
    response = FileResponse(handle, content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response
