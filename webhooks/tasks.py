"""Celery tasks: thin interfaces to the webhook services, safe to run twice."""

from celery import shared_task
from django.db import OperationalError

from .services import delivery_attempt


@shared_task(
    bind=True,
    name="webhooks.deliver",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_kwargs={"max_retries": 5},
    max_retries=None,
)
def deliver(self, delivery_id: int) -> str:
    """Make one attempt at a delivery; on failure, retry after the recorded back-off.

    The number of attempts is counted in the database (AIORNOT_WEBHOOK_MAX_ATTEMPTS), not by
    Celery. Without a broker (tasks run inline) nothing could wake a later retry without
    blocking the request, so the due time is only recorded and ``manage.py deliver_webhooks``
    sends it when it comes.
    """
    outcome = delivery_attempt(delivery_id=delivery_id)
    if outcome.retry_in is None or self.request.is_eager:
        return outcome.status
    raise self.retry(countdown=outcome.retry_in)


@shared_task(name="webhooks.send_due")
def send_due() -> int:
    """Run by celery beat: send deliveries whose retry time has come (and any lost task's)."""
    from .services import deliveries_send_due

    return deliveries_send_due()
