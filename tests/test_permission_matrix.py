"""Every page and endpoint, read by every kind of visitor: who gets in, who does not, and that
nobody ever gets a 500. A new URL without a row here fails the completeness test. (Admins see
every case: they settle escalations and re-open decisions. Actions are POST-only: a GET is 405.)"""

from __future__ import annotations

import pytest
from django.urls import get_resolver
from rest_framework.test import APIClient

from detector.models import Collection, Submission
from detector.services import submission_create
from registry.services import builtin_model_ensure
from reviews.models import ReviewCase
from reviews.services import case_claim_next

from .images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

ANON, OWNER, OTHER, REVIEWER, ADMIN = "anonymous", "owner", "other submitter", "reviewer", "admin"
OK = {200}
LOGIN = {302}  # web pages send anonymous visitors to the sign-in page
DENIED = {403, 404}  # pages reveal nothing: forbidden, or "no such thing"
API_ANON = {401, 403}

# route -> expected GET status set per visitor. {pk} etc. are filled from the fixtures.
ROUTES = {
    "": {ANON: OK, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},  # signed out: the landing page
    "submit/": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "submissions/": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "submissions/{submission}/": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "submissions/{submission}/image": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "submissions/{submission}/heatmap": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "submissions/{submission}/report": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "submissions/{submission}/report/image": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "submissions/{submission}/report/heatmap": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "submissions/{submission}/thumbnail": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "submissions/{submission}/status": {ANON: LOGIN, OWNER: OK, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "collections/": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "collections/new/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "collections/{collection}/": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "collections/{collection}/edit/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "collections/{collection}/close/": {ANON: LOGIN, OWNER: {403, 404, 405}, OTHER: {403, 404, 405},
                                        REVIEWER: {403, 404, 405}, ADMIN: {405}},
    "collections/{collection}/upload/": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "collections/{collection}/upload/status": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "collections/{collection}/report/": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "collections/{collection}/report.csv": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "collections/{collection}/report.json": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "review/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "review/claim/": {ANON: LOGIN, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {405}, ADMIN: {405}},
    "review/escalations/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "review/cases/{case}/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "review/cases/{case}/image": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "review/cases/{case}/heatmap": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "review/cases/{case}/thumbnail": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: OK, ADMIN: OK},
    "review/decisions/1/undo/": {ANON: LOGIN, OWNER: {403, 404, 405}, OTHER: {403, 404, 405},
                                 REVIEWER: {403, 404, 405}, ADMIN: {403, 404, 405}},
    "review/cases/{case}/release/": {ANON: LOGIN, OWNER: {403, 404, 405}, OTHER: {403, 404, 405},
                                     REVIEWER: {405}, ADMIN: {403, 404, 405}},
    "review/cases/{case}/skip/": {ANON: LOGIN, OWNER: {403, 404, 405}, OTHER: {403, 404, 405},
                                  REVIEWER: {405}, ADMIN: {403, 404, 405}},
    "review/cases/{case}/requeue/": {ANON: LOGIN, OWNER: {403, 404, 405}, OTHER: {403, 404, 405},
                                     REVIEWER: {403, 404, 405}, ADMIN: {405}},
    "models/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "models/retrain/": {ANON: LOGIN, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {403, 405}, ADMIN: {405}},
    "models/{model}/promote/": {ANON: LOGIN, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {403, 405}, ADMIN: {405}},
    "models/{model}/rollback/": {ANON: LOGIN, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {403, 405}, ADMIN: {405}},
    "models/jobs/{job}/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "dashboard/": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "dashboard/export.json": {ANON: LOGIN, OWNER: DENIED, OTHER: DENIED, REVIEWER: DENIED, ADMIN: OK},
    "accounts/login/": {ANON: OK, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "accounts/api-token/": {ANON: LOGIN, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "accounts/logout/": {ANON: {405}, OWNER: {405}, OTHER: {405}, REVIEWER: {405}, ADMIN: {405}},
    "i18n/setlang/": {ANON: {302, 204}, OWNER: {302, 204}, OTHER: {302, 204}, REVIEWER: {302, 204}, ADMIN: {302, 204}},
    # API (token authentication).
    "api/v1/auth/token/": {ANON: {405}, OWNER: {405}, OTHER: {405}, REVIEWER: {405}, ADMIN: {405}},
    "api/v1/submissions/": {ANON: API_ANON, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "api/v1/submissions/batch/": {ANON: API_ANON, OWNER: {405}, OTHER: {405}, REVIEWER: {405}, ADMIN: {405}},
    "api/v1/submissions/{submission}/": {ANON: API_ANON, OWNER: OK, OTHER: {404}, REVIEWER: {404}, ADMIN: OK},
    "api/v1/submissions/{submission}/image": {ANON: API_ANON, OWNER: OK, OTHER: {404}, REVIEWER: {404}, ADMIN: OK},
    "api/v1/review/queue/": {ANON: API_ANON, OWNER: {403}, OTHER: {403}, REVIEWER: OK, ADMIN: OK},
    "api/v1/review/claim/": {ANON: API_ANON, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {405}, ADMIN: {405}},
    "api/v1/review/cases/{case}/": {ANON: API_ANON, OWNER: {403}, OTHER: {403}, REVIEWER: OK, ADMIN: OK},
    "api/v1/review/cases/{case}/release/": {ANON: API_ANON, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {405}, ADMIN: {405}},
    "api/v1/review/cases/{case}/decision/": {ANON: API_ANON, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {405}, ADMIN: {405}},
    "api/v1/review/cases/{case}/skip/": {ANON: API_ANON, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {405}, ADMIN: {405}},
    "api/v1/review/cases/{case}/requeue/": {ANON: API_ANON, OWNER: {403, 405}, OTHER: {403, 405}, REVIEWER: {403, 405}, ADMIN: {405}},
    "api/v1/review/escalations/": {ANON: API_ANON, OWNER: {403}, OTHER: {403}, REVIEWER: {403}, ADMIN: OK},
    "api/v1/review/escalations/{case}/decision/": {ANON: API_ANON, OWNER: {403, 405}, OTHER: {403, 405},
                                                   REVIEWER: {403, 405}, ADMIN: {405}},
    "api/v1/webhooks/": {ANON: API_ANON, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "api/v1/webhooks/{webhook}/": {ANON: API_ANON, OWNER: OK, OTHER: {404}, REVIEWER: {404}, ADMIN: OK},
    "api/v1/webhooks/{webhook}/deliveries/": {ANON: API_ANON, OWNER: OK, OTHER: {404}, REVIEWER: {404}, ADMIN: OK},
    "api/v1/webhooks/{webhook}/deliveries/1/redeliver/": {ANON: API_ANON, OWNER: {404, 405}, OTHER: {404, 405},
                                                          REVIEWER: {404, 405}, ADMIN: {404, 405}},
    "api/v1/schema/": {ANON: OK, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
    "api/v1/docs/": {ANON: OK, OWNER: OK, OTHER: OK, REVIEWER: OK, ADMIN: OK},
}


def _routes():
    def walk(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern)

    return [r for r in walk(get_resolver().url_patterns) if not r.startswith("admin/")]


def _template(route: str) -> str:
    out = route
    for key, prefix in (("submission", "submissions/"), ("collection", "collections/"), ("case", "cases/"),
                          ("model", "models/"), ("job", "jobs/"), ("webhook", "webhooks/"), ("case", "escalations/")):
        out = out.replace(prefix + "<int:pk>", prefix + "{" + key + "}")
    return out.replace("<int:delivery_pk>", "1").replace("decisions/<int:pk>", "decisions/1")


def test_every_route_has_a_row():
    missing = sorted({_template(r) for r in _routes()} - set(ROUTES))
    assert missing == [], f"add these routes to the permission matrix: {missing}"


@pytest.fixture
def world(settings, submitter, other_submitter, reviewer, site_admin):
    from registry.models import Job
    from webhooks.models import WebhookEndpoint

    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    collection = Collection.objects.create(name="Round 1", policy="art_contest", created_by=site_admin)
    submission = submission_create(user=submitter, data=image_bytes("PNG", size=(128, 96), seed=5), collection=collection)
    case = case_claim_next(reviewer=reviewer)
    assert case is not None and ReviewCase.objects.filter(asset=submission.asset).exists()
    model = builtin_model_ensure()
    job = Job.objects.create(kind="rescore", created_by=site_admin)
    webhook = WebhookEndpoint.objects.create(owner=submitter, url="https://hooks.example.org/x", secret="whsec_x",
                                             events=["case.decided"])
    ids = {"submission": Submission.objects.get(pk=submission.pk).pk, "collection": collection.pk, "case": case.pk,
           "model": model.pk, "job": job.pk, "webhook": webhook.pk}
    users = {OWNER: submitter, OTHER: other_submitter, REVIEWER: reviewer, ADMIN: site_admin}
    return ids, users


@pytest.mark.parametrize("visitor", [ANON, OWNER, OTHER, REVIEWER, ADMIN])
def test_every_route_answers_each_visitor_as_the_matrix_says_and_never_500(world, visitor):
    from rest_framework.authtoken.models import Token

    ids, users = world
    web = APIClient()
    api = APIClient()
    if visitor != ANON:
        web.force_login(users[visitor])
        api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=users[visitor])[0].key}")
    wrong = []
    for route, expected in ROUTES.items():
        url = "/" + route.format(**ids)
        client = api if route.startswith("api/") else web
        status = client.get(url).status_code
        if status >= 500 or status not in expected[visitor]:
            wrong.append(f"GET {url} as {visitor}: {status}, expected {sorted(expected[visitor])}")
    assert wrong == [], "\n".join(wrong)
