"""Reads about webhooks: who sees which endpoint, and who is told about a case."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from aiornot_site.roles import is_site_admin
from detector.models import Submission

from .models import WebhookDelivery, WebhookEndpoint


def endpoints_visible_to(user) -> QuerySet[WebhookEndpoint]:
    """Your own endpoints; a site admin sees everyone's."""
    qs = WebhookEndpoint.objects.select_related("owner")
    if is_site_admin(user):
        return qs
    return qs.filter(owner=user)


def endpoint_get_for_user(*, user, endpoint_id: int) -> WebhookEndpoint | None:
    return endpoints_visible_to(user).filter(pk=endpoint_id).first()


def deliveries_of_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.all()


def delivery_get_for_endpoint(*, endpoint: WebhookEndpoint, delivery_id: int) -> WebhookDelivery | None:
    return endpoint.deliveries.filter(pk=delivery_id).first()


def endpoints_to_notify(*, event: str, submissions: list[Submission]) -> list[tuple[WebhookEndpoint, list[Submission]]]:
    """Each active endpoint to tell about ``event``, with the submissions it may hear about.

    The submitters' endpoints get their owner's submissions only; an endpoint of a site
    admin with ``all_cases`` gets every submission of the case. Nobody else is told.
    """
    submitter_ids = {s.submitted_by_id for s in submissions}
    candidates = (
        WebhookEndpoint.objects.filter(is_active=True)
        .filter(Q(owner_id__in=submitter_ids) | Q(all_cases=True))
        .select_related("owner")
        .order_by("id")
    )
    result = []
    for endpoint in candidates:
        if not endpoint.subscribes_to(event) or not endpoint.owner.is_active:
            continue
        if endpoint.all_cases and is_site_admin(endpoint.owner):
            told = list(submissions)
        else:
            told = [s for s in submissions if s.submitted_by_id == endpoint.owner_id]
        if told:
            result.append((endpoint, told))
    return result
