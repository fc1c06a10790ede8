"""A decided case is POSTed, signed, to the right endpoints; failures are retried with back-off."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from detector.models import Submission
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import retry_countdown, webhooks_case_finalized

pytestmark = pytest.mark.django_db(transaction=True)


def verify(secret: str, headers: dict, body: bytes) -> bool:
    """What a receiver does (docs/webhooks.md)."""
    signed = headers["X-Aiornot-Timestamp"].encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Aiornot-Signature"])


def make_due(delivery: WebhookDelivery) -> None:
    """Let the clock reach the delivery's next attempt."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_decided_case_is_posted_signed_to_the_submitters_endpoint(register, decide_case, submitter, receiver):
    endpoint = register(submitter, receiver.url)
    case = decide_case(submitter)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request.path == "/hooks/aiornot?source=test"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Aiornot-Event"] == "case.decided"
    assert verify(endpoint["secret"], request.headers, request.body)
    assert not verify(endpoint["secret"], request.headers, request.body + b" ")
    assert abs(int(request.headers["X-Aiornot-Timestamp"]) - timezone.now().timestamp()) < 60

    submission = Submission.objects.get(submitted_by=submitter)
    assert json.loads(request.body) == {
        "event": "case.decided",
        "case_id": case.pk,
        "round": 1,
        "label": "human",
        "decided_at": case.labelled_at.isoformat(),
        "submissions": [
            {
                "id": submission.pk,
                "api_path": f"/api/v1/submissions/{submission.pk}/",
                "verdict": submission.verdict,
                "p_ai": submission.p_ai,
            }
        ],
    }
    delivery = WebhookDelivery.objects.get()
    assert request.headers["X-Aiornot-Delivery"] == str(delivery.pk)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at and delivery.next_attempt_at is None
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).last_success_at is not None


def test_a_server_error_is_retried_after_back_off_then_delivered(
    register, decide_case, submitter, receiver, api_for, settings
):
    settings.AIORNOT_WEBHOOK_RETRY_BASE_SECONDS = 30
    endpoint = register(submitter, receiver.url)
    receiver.statuses = [500]
    decide_case(submitter)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert "500" in delivery.last_error
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 25 < wait <= 30
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).failure_count == 1

    call_command("deliver_webhooks")  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    make_due(delivery)
    call_command("deliver_webhooks")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert [entry["status_code"] for entry in delivery.attempt_log] == [500, 200]
    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.body == second.body and first.headers["X-Aiornot-Delivery"] == second.headers["X-Aiornot-Delivery"]
    assert verify(endpoint["secret"], second.headers, second.body)
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).failure_count == 0

    listed = api_for(submitter).get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/").json()["results"]
    assert [(item["id"], item["status"], item["attempts"]) for item in listed] == [(delivery.pk, "delivered", 2)]

    call_command("deliver_webhooks")  # a delivered delivery is never sent again
    assert len(receiver.requests) == 2


def test_retry_waits_double_each_time():
    assert [retry_countdown(attempts=n) for n in range(1, 8)] == [30, 60, 120, 240, 480, 960, 1920]


def test_delivery_fails_after_the_last_attempt_and_can_be_redelivered(
    register, decide_case, submitter, receiver, api_for, settings
):
    settings.AIORNOT_WEBHOOK_MAX_ATTEMPTS = 3
    settings.AIORNOT_WEBHOOK_RETRY_BASE_SECONDS = 0
    endpoint = register(submitter, receiver.url)
    receiver.default_status = 503
    decide_case(submitter)
    for _ in range(4):
        call_command("deliver_webhooks")

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 503)
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == 3
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).failure_count == 3

    api = api_for(submitter)
    receiver.default_status = 204
    path = f"/api/v1/webhooks/{endpoint['id']}/deliveries/{delivery.pk}/redeliver/"
    response = api.post(path)
    assert response.status_code == 202 and response.json()["status"] == "delivered"
    assert len(receiver.requests) == 4
    assert verify(endpoint["secret"], receiver.requests[-1].headers, receiver.requests[-1].body)

    response = api.post(path)  # only a failed delivery can be sent again
    assert response.status_code == 409 and response.json()["error"]["code"] == "webhook_delivery_not_failed"
    assert len(receiver.requests) == 4


def test_finalising_a_case_twice_sends_once(register, decide_case, submitter, receiver):
    register(submitter, receiver.url)
    case = decide_case(submitter)
    webhooks_case_finalized(case_id=case.pk)
    webhooks_case_finalized(case_id=case.pk)
    call_command("deliver_webhooks")
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.count() == 1


def test_each_submitter_hears_only_about_their_own_submission(
    register, decide_case, submitter, other_submitter, receiver
):
    mine = register(submitter, receiver.url)
    theirs = register(other_submitter, receiver.url.replace("source=test", "source=other"))

    decide_case(submitter, seed=1)  # only the submitter's image
    assert [r.path for r in receiver.requests] == ["/hooks/aiornot?source=test"]
    assert verify(mine["secret"], receiver.requests[0].headers, receiver.requests[0].body)

    receiver.requests.clear()
    case = decide_case(submitter, other_submitter, seed=2)  # both sent the same image: one case
    by_path = {r.path: r for r in receiver.requests}
    assert set(by_path) == {"/hooks/aiornot?source=test", "/hooks/aiornot?source=other"}
    for path, user, endpoint in (
        ("/hooks/aiornot?source=test", submitter, mine),
        ("/hooks/aiornot?source=other", other_submitter, theirs),
    ):
        request = by_path[path]
        assert verify(endpoint["secret"], request.headers, request.body)
        own = Submission.objects.get(asset_id=case.asset_id, submitted_by=user)
        assert [item["id"] for item in json.loads(request.body)["submissions"]] == [own.pk]
    mine_request = by_path["/hooks/aiornot?source=test"]
    assert not verify(theirs["secret"], mine_request.headers, mine_request.body)


def test_a_site_admin_endpoint_for_all_cases_hears_every_submission(
    register, decide_case, submitter, other_submitter, site_admin, receiver
):
    register(site_admin, receiver.url, all_cases=True)
    case = decide_case(submitter, other_submitter, seed=3)
    assert len(receiver.requests) == 1
    told = sorted(item["id"] for item in json.loads(receiver.requests[0].body)["submissions"])
    assert told == sorted(Submission.objects.filter(asset_id=case.asset_id).values_list("id", flat=True))
    assert len(told) == 2


def test_delivery_time_check_refuses_an_address_no_longer_allowed(register, decide_case, submitter, receiver, settings):
    register(submitter, receiver.url)
    settings.AIORNOT_URL_FETCH_ALLOWED_NETWORKS = []  # the administrator withdrew the exception
    decide_case(submitter)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code is None
    assert delivery.last_error.startswith("url_host_not_public")


def test_a_receiver_that_does_not_answer_in_time_counts_as_a_failed_attempt(
    register, decide_case, submitter, receiver, settings
):
    settings.AIORNOT_WEBHOOK_TIMEOUT = 0.5
    receiver.delay_seconds = 2
    register(submitter, receiver.url)
    decide_case(submitter)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_error.startswith("url_timeout")
    assert delivery.attempt_log[0]["duration_ms"] < 1500


def test_a_deactivated_endpoint_is_not_told(register, decide_case, submitter, receiver, api_for):
    endpoint = register(submitter, receiver.url)
    receiver.statuses = [500]
    decide_case(submitter, seed=4)
    assert api_for(submitter).delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 204
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "deactivated" in delivery.last_error
    make_due(delivery)
    call_command("deliver_webhooks")
    decide_case(submitter, seed=5)
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.count() == 1


def test_on_a_worker_a_failed_attempt_is_retried_by_celery_with_the_back_off(
    register, decide_case, submitter, receiver, settings, monkeypatch
):
    from celery.exceptions import Retry

    from webhooks.tasks import deliver

    register(submitter, receiver.url)
    receiver.default_status = 502
    decide_case(submitter)
    delivery = WebhookDelivery.objects.get()
    make_due(delivery)

    task = deliver._get_current_object() if hasattr(deliver, "_get_current_object") else deliver
    countdowns = []

    def fake_retry(countdown=None, **kwargs):
        countdowns.append(countdown)
        return Retry("retry", when=countdown)

    monkeypatch.setattr(task, "retry", fake_retry)
    task.push_request(is_eager=False, retries=0, id="test-task")
    try:
        with pytest.raises(Retry):
            task.run(delivery.pk)
    finally:
        task.pop_request()
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and countdowns == [retry_countdown(attempts=2)] == [60]


def test_a_case_reopened_and_decided_again_is_told_again(settings, submitter, reviewer, site_admin, png):
    """An admin's correction is news: the second final label gets its own delivery."""
    from reviews.services import case_claim_next, case_decide, case_requeue
    from webhooks.models import WebhookDelivery, WebhookEndpoint
    from webhooks.services import webhooks_case_finalized

    from detector.services import submission_create

    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    WebhookEndpoint.objects.create(
        owner=submitter, url="https://hooks.example.org/aiornot", secret="whsec_test", events=["case.decided"]
    )
    submission_create(user=submitter, data=png(seed=808))
    case = case_claim_next(reviewer=reviewer)
    case_decide(case_id=case.pk, reviewer=reviewer, decision="human", note="artist's sketches")
    webhooks_case_finalized(case_id=case.pk)
    case_requeue(case_id=case.pk, admin=site_admin, reason="the artist's sketches were traced from a generated image")
    again = case_claim_next(reviewer=reviewer)
    assert again.pk == case.pk
    case_decide(case_id=case.pk, reviewer=reviewer, decision="unsure", note="cannot tell any more")
    webhooks_case_finalized(case_id=case.pk)
    rounds = sorted(WebhookDelivery.objects.filter(case_id=case.pk).values_list("case_round", "payload__label"))
    assert rounds == [(1, "human"), (2, "unsure")]
