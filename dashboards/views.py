"""Admin dashboards: one overview page with server-drawn charts, and the same figures as JSON.

Thin: the figures come from dashboards.selectors, the pictures from dashboards.charts.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import get_language, gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from aiornot_site.roles import is_site_admin, role_required

from .charts import all_charts
from .filters import DashboardFilters
from .forms import DashboardFilterForm
from .selectors import dashboard_figures, data_watermark

# Figures (and their charts) are kept this long, and recomputed at once when an audit event
# shows that the data changed; only the queue's ages and lease states can be this stale.
CACHE_SECONDS = 60


site_admin_required = role_required(is_site_admin)


def _cached(filters: DashboardFilters, part: str, build):
    key = hashlib.sha256(
        repr((part, filters, get_language(), timezone.localdate(), timezone.get_current_timezone_name(), data_watermark()))
        .encode()
    ).hexdigest()
    key = f"dashboards:{key}"
    value = cache.get(key)
    if value is None:
        value = build()
        cache.set(key, value, CACHE_SECONDS)
    return value


@site_admin_required
@require_GET
@cache_control(private=True, max_age=60)
def overview(request):
    form = DashboardFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "dashboards/overview.html", {"form": form, "figures": None}, status=400)
    filters = form.filters()

    def build():
        figures = dashboard_figures(filters)
        return {"figures": figures, "charts": all_charts(figures)}

    page = _cached(filters, "page", build)
    return render(
        request,
        "dashboards/overview.html",
        {"form": form, "query": request.GET.urlencode(), "min_count": settings.AIORNOT_DASHBOARD_MIN_COUNT, **page},
    )


@site_admin_required
@require_GET
@cache_control(private=True, max_age=60)
def export_json(request):
    form = DashboardFilterForm(request.GET)
    if not form.is_valid():
        return JsonResponse(
            {"error": {"code": "invalid_request", "message": _("The filters are not valid."),
                       "fields": form.errors.get_json_data()}},
            status=400,
        )
    filters = form.filters()
    figures = _cached(filters, "figures", lambda: dashboard_figures(filters))
    return JsonResponse(figures, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2})
