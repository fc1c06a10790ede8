"""Admin pages for the model registry: versions and their figures, retrain, promote, roll back."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from aiornot_site.roles import can_manage_models, role_required

from .errors import RegistryError
from .models import Job, ModelVersion
from .selectors import active_model_version, jobs_recent, missed_ai_clusters, model_versions_recent
from .services import model_promote, model_rollback, promotion_refusals, retrain_job_start


model_admin_required = role_required(can_manage_models)


def _page(request, status=200, error=None):
    active = active_model_version()
    versions = model_versions_recent()
    for version in versions:
        version.refusals = promotion_refusals(version, active) if version.status == "candidate" else []
    return render(
        request,
        "registry/models.html",
        {
            "active": active,
            "versions": versions,
            "jobs": jobs_recent(),
            "missed_clusters": missed_ai_clusters(),
            "error": error,
        },
        status=status,
    )


@model_admin_required
def models_page(request):
    return _page(request)


@model_admin_required
@require_POST
def retrain_start(request):
    try:
        job = retrain_job_start(actor=request.user)
    except RegistryError as exc:
        return _page(request, exc.http_status, exc.message)
    messages.success(request, _("Retraining queued (job #%(id)s); a worker runs it.") % {"id": job.pk})
    return redirect("registry-job", pk=job.pk)


@model_admin_required
@require_POST
def promote(request, pk: int):
    version = get_object_or_404(ModelVersion, pk=pk)
    try:
        model_promote(version=version.version, actor=request.user)
    except RegistryError as exc:
        return _page(request, exc.http_status, exc.message)
    messages.success(request, _("%(v)s is now the active model; open cases are being rescored.") % {"v": version.version})
    return redirect("registry-models")


@model_admin_required
@require_POST
def rollback(request, pk: int):
    version = get_object_or_404(ModelVersion, pk=pk)
    try:
        model_rollback(version=version.version, actor=request.user)
    except RegistryError as exc:
        return _page(request, exc.http_status, exc.message)
    messages.success(request, _("Rolled back to %(v)s; open cases are being rescored.") % {"v": version.version})
    return redirect("registry-models")


@model_admin_required
def job_detail(request, pk: int):
    return render(request, "registry/job.html", {"job": get_object_or_404(Job, pk=pk)})
