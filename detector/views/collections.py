"""Web pages for collections: the list, admin edits, the entries with filters, batch upload,
and the collection report (page, CSV, JSON). Thin: validation in forms, work in services."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from aiornot_site.roles import is_submitter

from ..collection_reports import collection_report_entries, collection_status, report_csv, report_entry, report_record
from ..collections import collection_create, collection_update
from ..collections import collection_upload as collection_upload_files
from ..forms import CollectionForm, CollectionUploadForm
from ..models import Submission, Verdict
from ..presentation import DISCLAIMER
from ..selectors import (
    ENTRY_LIST_SORTS,
    ENTRY_LIST_STATES,
    ENTRY_LIST_VERDICTS,
    can_manage_collections,
    collection_entry_list_for,
    collection_get_for_user,
    collection_upload_progress,
    collections_visible_to,
    may_use_model_verdicts,
    sees_every_entry,
)
from ..services import SubmissionRejected

ENTRIES_PER_PAGE = 100


def _collection_or_404(request, pk: int):
    collection = collection_get_for_user(user=request.user, collection_id=pk)
    if collection is None:
        raise Http404("No such collection.")
    return collection


def _manager_required(request):
    if not can_manage_collections(request.user):
        raise PermissionDenied


@login_required
def collection_list(request):
    if not (is_submitter(request.user) or sees_every_entry(request.user)):
        raise PermissionDenied
    return render(
        request,
        "detector/collection_list.html",
        {"collections": collections_visible_to(request.user), "can_manage": can_manage_collections(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def collection_new(request):
    _manager_required(request)
    form = CollectionForm(request.POST) if request.method == "POST" else CollectionForm()
    if request.method == "POST" and form.is_valid():
        collection = collection_create(user=request.user, **form.cleaned_data)
        messages.success(request, _("Collection “%(name)s” created.") % {"name": collection.name})
        return redirect("collection-detail", pk=collection.pk)
    return render(request, "detector/collection_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def collection_edit(request, pk: int):
    _manager_required(request)
    collection = _collection_or_404(request, pk)
    # The form gets a copy: a ModelForm writes cleaned values onto its instance while validating,
    # and the service must compare them with the stored ones.
    copy = _collection_or_404(request, pk)
    form = CollectionForm(request.POST, instance=copy) if request.method == "POST" else CollectionForm(instance=copy)
    if request.method == "POST" and form.is_valid():
        collection_update(collection=collection, user=request.user, **form.cleaned_data)
        messages.success(request, _("Collection saved."))
        return redirect("collection-detail", pk=pk)
    return render(
        request, "detector/collection_form.html", {"form": form, "collection": collection},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def collection_close(request, pk: int):
    _manager_required(request)
    collection = collection_update(collection=_collection_or_404(request, pk), user=request.user, is_open=False)
    messages.success(request, _("“%(name)s” is closed: it accepts no new submissions.") % {"name": collection.name})
    return redirect("collection-detail", pk=pk)


@login_required
def collection_detail(request, pk: int):
    """A collection's status, and its entries with filters, search, sorting and pages."""
    collection = _collection_or_404(request, pk)
    entries = collection_report_entries(user=request.user, collection=collection)
    verdicts_allowed = may_use_model_verdicts(user=request.user, collection=collection)
    sees_all = sees_every_entry(request.user)
    sort = request.GET.get("sort", "newest")
    filters = {
        "state": _choice(request.GET.get("state", ""), ENTRY_LIST_STATES),
        "verdict": _choice(request.GET.get("verdict", ""), ENTRY_LIST_VERDICTS) if verdicts_allowed else "",
        "sort": sort if sort in ENTRY_LIST_SORTS and (sort != "score" or sees_all) else "newest",
        "q": request.GET.get("q", "")[:100],
    }
    listed = collection_entry_list_for(
        user=request.user, collection=collection, state=filters["state"], verdict=filters["verdict"],
        search=filters["q"], sort=filters["sort"],
    )
    page = Paginator(listed, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = [report_entry(submission, request.user) for submission in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "detector/collection_detail.html",
        {
            "collection": collection,
            "status": collection_status(entries),
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "filtered": any(filters[key] for key in ("state", "verdict", "q")),
            "verdict_choices": Verdict.choices if verdicts_allowed else [],
            "can_sort_by_score": sees_all,
            "sees_all": sees_all,
            "can_upload": collection.is_open and is_submitter(request.user),
            "can_manage": can_manage_collections(request.user),
        },
    )


def _choice(value: str, allowed) -> str:
    return value if value in allowed else ""


def _upload_limits() -> dict:
    return {
        "file_mb": round(settings.AIORNOT_MAX_UPLOAD_BYTES / 1e6, 1),
        "request_bytes": settings.AIORNOT_MAX_REQUEST_BYTES,
        "request_mb": round(settings.AIORNOT_MAX_REQUEST_BYTES / 1e6, 1),
        "zip_files": settings.AIORNOT_ZIP_MAX_FILES,
    }


def _upload_messages() -> dict:
    """The upload script's words, translated here."""
    return {
        "queued": _("Waiting"),
        "sending": _("Sending…"),
        "added": _("Added"),
        "failed": _("Failed"),
        "already": _("already in this collection, not added twice"),
        "open_submission": _("submission #{id}"),
        "archive": _("{accepted} of {total} files in the archive added"),
        "ignored": _("{count} hidden or system files skipped"),
        "too_large": _("the file is {size} MB; at most {limit} MB can be sent in one request"),
        "signed_out": _("you are no longer signed in; sign in again in another tab, then retry"),
        "server": _("the server could not take the file (HTTP {status}); retry it"),
        "network": _("the connection failed before the server confirmed the file; retry it"),
        "rate_limited": _("too many uploads in a row; sending again in {seconds} s"),
        "summary": _("{done} of {total} files sent · {failed} failed"),
        # xgettext:no-python-format
        "uploading": _("{percent}% uploaded"),
        "unpacking": _("uploaded; {count} entries added so far"),
        "none": _("Choose at least one file."),
    }


def _upload_result(item, statuses: dict[int, str]) -> dict:
    submission = item.submission
    return {
        "index": item.index,
        "name": item.name,
        "archive": getattr(item, "archive", ""),
        "ok": submission is not None,
        "already_submitted": bool(getattr(item, "already_submitted", False)),
        "submission": None if submission is None else {
            "id": submission.pk,
            "status": statuses.get(submission.pk, submission.status),
            "url": reverse("submission-detail", args=[submission.pk]),
        },
        "error": None if item.error is None else {"code": item.error.code, "message": item.error.message},
    }


def _upload_status(items) -> int:
    if not items:
        return 400
    accepted = sum(1 for item in items if item.submission is not None)
    if accepted == len(items):
        return 201
    if accepted:
        return 207
    return items[0].error.http_status if len(items) == 1 else 400


@login_required
@require_http_methods(["GET", "POST"])
def collection_upload(request, pk: int):
    """Many files or zip archives into one collection. The page's script sends one file per
    request and asks for JSON; without script the form sends them all and gets a result table."""
    if not is_submitter(request.user):
        raise PermissionDenied
    collection = _collection_or_404(request, pk)
    wants_json = "application/json" in request.headers.get("Accept", "")
    form = CollectionUploadForm(request.POST, request.FILES) if request.method == "POST" else CollectionUploadForm()
    context = {"collection": collection, "form": form, "results": None, "ignored": [], "limits": _upload_limits(),
               "upload_messages": _upload_messages()}
    if request.method == "GET":
        return render(request, "detector/collection_upload.html", context, status=200 if collection.is_open else 409)
    if not form.is_valid():
        if wants_json:
            return JsonResponse({"error": {"code": "invalid_request", "message": _("Choose at least one file.")}}, status=400)
        return render(request, "detector/collection_upload.html", context, status=400)
    try:
        items, ignored = collection_upload_files(
            user=request.user, collection=collection, uploads=form.cleaned_data["files"],
            note=form.cleaned_data["note"], channel=Submission.Channel.WEB,
        )
    except SubmissionRejected as exc:
        if wants_json:
            return JsonResponse({"error": {"code": exc.code, "message": exc.message}}, status=exc.http_status)
        form.add_error(None, exc.message)
        return render(request, "detector/collection_upload.html", context, status=exc.http_status)
    # Scoring may have run since (in-process mode): report the statuses as they are now.
    ids = [item.submission.pk for item in items if item.submission is not None]
    statuses = dict(Submission.objects.filter(pk__in=ids).values_list("pk", "status"))
    results = [_upload_result(item, statuses) for item in items]
    status = _upload_status(items)
    accepted = sum(1 for r in results if r["ok"])
    if wants_json:
        body = {"accepted": accepted, "refused": len(results) - accepted, "results": results, "ignored": ignored}
        return JsonResponse(body, status=status)
    context.update(results=results, ignored=ignored, accepted=accepted, form=CollectionUploadForm())
    return render(request, "detector/collection_upload.html", context, status=200 if accepted else status)


@login_required
def collection_upload_status(request, pk: int):
    """This person's entry count in the collection, for the upload page's per-entry progress."""
    if not is_submitter(request.user):
        raise PermissionDenied
    collection = _collection_or_404(request, pk)
    response = JsonResponse(collection_upload_progress(user=request.user, collection=collection))
    response["Cache-Control"] = "private, no-store"
    return response


def _report_link(request, submission) -> str:
    return request.build_absolute_uri(reverse("submission-report", args=[submission.pk]))


@login_required
def collection_report(request, pk: int):
    collection = _collection_or_404(request, pk)
    entries = collection_report_entries(user=request.user, collection=collection)
    return render(
        request,
        "detector/collection_report.html",
        {"collection": collection, "entries": entries, "status": collection_status(entries), "now": timezone.now()},
    )


def _download(response, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _report_records(request, collection) -> list[dict]:
    entries = collection_report_entries(user=request.user, collection=collection)
    with_reviewers = sees_every_entry(request.user)
    return [
        report_record(entry, link=_report_link(request, entry.submission), with_reviewers=with_reviewers)
        for entry in entries
    ]


@login_required
def collection_report_csv(request, pk: int):
    collection = _collection_or_404(request, pk)
    body = "\ufeff" + report_csv(_report_records(request, collection))  # the BOM lets spreadsheets read UTF-8
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    return _download(response, f"collection-{collection.pk}-report.csv")


@login_required
def collection_report_json(request, pk: int):
    collection = _collection_or_404(request, pk)
    body = {
        "collection": {
            "id": collection.pk,
            "name": collection.name,
            "policy": collection.policy,
            "is_open": collection.is_open,
            "deadline": collection.deadline.isoformat() if collection.deadline else None,
        },
        "generated_at": timezone.now().isoformat(),
        "disclaimer": str(DISCLAIMER),
        "entries": _report_records(request, collection),
    }
    response = JsonResponse(body, json_dumps_params={"ensure_ascii": False, "indent": 1})
    return _download(response, f"collection-{collection.pk}-report.json")
