"""Webhooks: API clients register a callback URL and are told when a case is decided.

Every change to endpoints and deliveries goes through these functions. Sending is a
Celery task (``webhooks.tasks.deliver``) that calls ``delivery_attempt`` once per try and
retries with exponential back-off; a delivery is created once per (endpoint, event,
case) and, once delivered, never sent again.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from aiornot_site.errors import ServiceError
from aiornot_site.roles import is_site_admin
from detector.models import Submission
from detector.selectors import verdict_withheld
from reviews.models import ReviewCase

from .delivery import CallbackUrlRefused, check_callback_url, post_json, sign, timestamp_now
from .models import CASE_DECIDED, EVENTS, WebhookDelivery, WebhookEndpoint
from .selectors import endpoints_to_notify

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
# The longest wait between two attempts, however many attempts are configured.
MAX_RETRY_DELAY_SECONDS = 6 * 3600
# A worker may run a retry this much before its recorded time (clocks of several hosts).
CLOCK_TOLERANCE = timedelta(seconds=5)
# While one worker sends, the delivery is claimed for the timeout plus this margin.
CLAIM_MARGIN_SECONDS = 60
ATTEMPT_LOG_LIMIT = 50


class WebhookError(ServiceError):
    """A webhook request that cannot be done; ``http_status`` is 4xx."""


@dataclass(frozen=True)
class AttemptOutcome:
    status: str  # the delivery's status afterwards ("missing" if it does not exist)
    retry_in: int | None = None  # seconds until the next attempt, when one is due
    sent: bool = False


# --- endpoints ----------------------------------------------------------------------------


def webhook_endpoint_create(
    *, owner, url: str, events: list[str] | None = None, all_cases: bool = False
) -> tuple[WebhookEndpoint, str]:
    """Register a callback URL; returns the endpoint and its signing secret (shown only now)."""
    events = list(dict.fromkeys(events or [CASE_DECIDED]))
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise WebhookError(
            "webhook_event_unknown", f"Unknown event {unknown[0]!r}; known events: {', '.join(EVENTS)}."
        )
    if all_cases and not is_site_admin(owner):
        raise WebhookError(
            "permission_denied", "Only site administrators may receive every decided case.", 403
        )
    limit = settings.AIORNOT_WEBHOOK_MAX_ENDPOINTS_PER_USER
    if WebhookEndpoint.objects.filter(owner=owner, is_active=True).count() >= limit:
        raise WebhookError(
            "webhook_limit_reached",
            f"You already have {limit} active webhook endpoints; delete one before adding another.",
            409,
        )
    try:
        url = check_callback_url(
            url,
            allowed_networks=settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS,
            timeout=settings.AIORNOT_WEBHOOK_TIMEOUT,
        )
    except CallbackUrlRefused as exc:
        raise WebhookError(exc.code, exc.message) from exc
    if WebhookEndpoint.objects.filter(owner=owner, url=url, is_active=True).exists():
        raise WebhookError(
            "webhook_url_already_registered", "You already have an active endpoint with this URL.", 409
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.create(
        owner=owner, url=url, secret=secret, events=events, all_cases=all_cases
    )
    logger.info("Webhook endpoint %s registered by user %s for %s", endpoint.pk, owner.pk, events)
    return endpoint, secret


def webhook_endpoint_deactivate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Stop sending to the endpoint; its undelivered deliveries fail. Idempotent."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
        endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.FAILED,
            next_attempt_at=None,
            last_error="The endpoint was deactivated before this delivery succeeded.",
        )
    endpoint.refresh_from_db()
    return endpoint


# --- creating deliveries ------------------------------------------------------------------


def case_decided_payload(*, case, submissions: list[Submission], recipient) -> dict:
    """What one recipient is told: the case's label and only the submissions it may see."""
    decided_at = case.labelled_at or timezone.now()
    items = []
    for submission in submissions:
        withheld = verdict_withheld(submission, recipient)
        items.append(
            {
                "id": submission.pk,
                "api_path": reverse("api-submission-detail", args=[submission.pk]),
                "verdict": None if withheld else (submission.verdict or None),
                "p_ai": None if withheld else submission.p_ai,
            }
        )
    return {
        "event": CASE_DECIDED,
        "case_id": case.pk,
        "round": case.round,
        "label": case.label,
        "decided_at": decided_at.isoformat(),
        "submissions": items,
    }


def webhooks_case_finalized(*, case_id: int) -> None:
    """Queue a signed delivery to every active endpoint subscribed to this case's submitters.

    One delivery per (endpoint, event, case, review round): calling this again creates and sends
    nothing; a case an admin re-opened and that is decided again is told again.
    Tasks are queued when the deliveries are committed.
    """
    case = ReviewCase.objects.filter(pk=case_id).first()
    if case is None or not case.label:
        logger.warning("Webhooks for case %s skipped: no such case, or it has no label", case_id)
        return
    submissions = list(
        Submission.objects.filter(asset_id=case.asset_id).select_related("collection").order_by("id")
    )
    created: list[int] = []
    with transaction.atomic():
        for endpoint, told in endpoints_to_notify(event=CASE_DECIDED, submissions=submissions):
            delivery, was_created = WebhookDelivery.objects.get_or_create(
                idempotency_key=WebhookDelivery.key_for(
                    event=CASE_DECIDED, case_id=case.pk, endpoint_id=endpoint.pk, case_round=case.round
                ),
                defaults={
                    "endpoint": endpoint,
                    "event": CASE_DECIDED,
                    "case": case,
                    "case_round": case.round,
                    "payload": case_decided_payload(case=case, submissions=told, recipient=endpoint.owner),
                    "next_attempt_at": timezone.now(),
                },
            )
            if was_created:
                created.append(delivery.pk)
        for delivery_id in created:
            transaction.on_commit(lambda delivery_id=delivery_id: delivery_enqueue(delivery_id=delivery_id))


def delivery_enqueue(*, delivery_id: int) -> bool:
    """Send the delivery task; a broker outage leaves the delivery pending for deliver_webhooks."""
    from .tasks import deliver

    try:
        deliver.delay(delivery_id)
    except Exception:  # kombu raises many connection error types
        logger.exception("Could not queue webhook delivery %s; it stays pending", delivery_id)
        return False
    return True


def deliveries_send_due(*, limit: int = 1000) -> int:
    """Queue every pending delivery whose time has come (retries without a broker, lost tasks)."""
    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        delivery_enqueue(delivery_id=delivery_id)
    return len(due)


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a failed delivery again, with a fresh retry schedule and the same payload and id."""
    if not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, is_active=True).exists():
        raise WebhookError("webhook_endpoint_inactive", "The endpoint is deactivated; nothing can be sent to it.", 409)
    with transaction.atomic():
        requeued = WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookDelivery.Status.FAILED).update(
            status=WebhookDelivery.Status.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        if not requeued:
            delivery.refresh_from_db()
            raise WebhookError(
                "webhook_delivery_not_failed",
                f"Only a failed delivery can be sent again; this one is {delivery.status}.",
                409,
            )
        transaction.on_commit(lambda: delivery_enqueue(delivery_id=delivery.pk))
    delivery.refresh_from_db()
    return delivery


# --- sending ------------------------------------------------------------------------------


def retry_countdown(*, attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: base × 2^(attempts-1)."""
    base = settings.AIORNOT_WEBHOOK_RETRY_BASE_SECONDS
    return min(base * 2 ** max(attempts - 1, 0), MAX_RETRY_DELAY_SECONDS)


def delivery_headers(*, delivery: WebhookDelivery, body: bytes, timestamp: str) -> dict[str, str]:
    return {
        "X-Aiornot-Event": delivery.event,
        "X-Aiornot-Delivery": str(delivery.pk),
        "X-Aiornot-Timestamp": timestamp,
        "X-Aiornot-Signature": sign(secret=delivery.endpoint.secret, timestamp=timestamp, body=body),
    }


def delivery_body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()


def delivery_attempt(*, delivery_id: int) -> AttemptOutcome:
    """Make one attempt, if the delivery is pending and due, and record it.

    The attempt is claimed with a conditional UPDATE, so two workers never send the same
    delivery at once, and a delivered (or failed) one is never sent. Returns how long to
    wait before the next attempt, if there is to be one.
    """
    Status = WebhookDelivery.Status
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return AttemptOutcome("missing")
    if delivery.status == Status.PENDING and not delivery.endpoint.is_active:
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING).update(
            status=Status.FAILED, next_attempt_at=None,
            last_error="The endpoint was deactivated before this delivery succeeded.",
        )
        return AttemptOutcome(Status.FAILED)

    now = timezone.now()
    timeout = settings.AIORNOT_WEBHOOK_TIMEOUT
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + CLOCK_TOLERANCE))
        .update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=timeout + CLAIM_MARGIN_SECONDS))
    )
    if not claimed:
        # Delivered, failed, not due yet, or another worker is sending it right now.
        delivery.refresh_from_db(fields=["status"])
        return AttemptOutcome(delivery.status)

    body = delivery_body(delivery)
    timestamp = timestamp_now()
    started = time.monotonic()
    result = post_json(
        delivery.endpoint.url,
        body=body,
        headers=delivery_headers(delivery=delivery, body=body, timestamp=timestamp),
        timeout=timeout,
        allowed_networks=settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS,
    )
    finished = timezone.now()
    entry = {
        "at": now.isoformat(),
        "status_code": result.status_code,
        "error": result.error,
        "duration_ms": round((time.monotonic() - started) * 1000),
    }

    retry_in = None
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        delivery.attempt_log = (list(delivery.attempt_log or []) + [entry])[-ATTEMPT_LOG_LIMIT:]
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if result.ok:
            delivery.status = Status.DELIVERED
            delivery.delivered_at = finished
            delivery.next_attempt_at = None
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(last_success_at=finished, failure_count=0)
        else:
            WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(failure_count=F("failure_count") + 1)
            if delivery.status == Status.PENDING and delivery.attempts < settings.AIORNOT_WEBHOOK_MAX_ATTEMPTS:
                retry_in = retry_countdown(attempts=delivery.attempts)
                delivery.next_attempt_at = finished + timedelta(seconds=retry_in)
            else:
                delivery.status = Status.FAILED
                delivery.next_attempt_at = None
        delivery.save(
            update_fields=[
                "attempt_log", "last_status_code", "last_error", "status", "delivered_at", "next_attempt_at",
            ]
        )
    log = logger.info if result.ok else logger.warning
    log(
        "Webhook delivery %s attempt %s to endpoint %s: %s",
        delivery.pk, delivery.attempts, delivery.endpoint_id, result.status_code or result.error,
    )
    return AttemptOutcome(delivery.status, retry_in, sent=True)
