"""A new-generator alert: AI images reviewers caught but the model missed, grouped by embedding."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from detector.models import ImageFingerprint
from detector.services import submission_create
from registry.models import Job
from registry.selectors import greedy_cosine_clusters, missed_ai_clusters
from reviews.services import case_claim_next, case_decide

from ..images import image_bytes


def _around(direction, count, rng, spread=0.05):
    return [direction + spread * rng.standard_normal(direction.shape) for _ in range(count)]


def test_look_alike_vectors_are_grouped_and_strangers_stay_alone():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    strangers = [rng.standard_normal(64) for _ in range(3)]
    vectors = [*_around(a, 5, rng), strangers[0], *_around(b, 3, rng), strangers[1], *_around(a, 2, rng), strangers[2]]
    groups = greedy_cosine_clusters(vectors, threshold=0.8)
    assert groups[0] == [0, 1, 2, 3, 4, 10, 11]  # the a-family, including its late arrivals
    assert groups[1] == [6, 7, 8]
    assert sorted(len(g) for g in groups[2:]) == [1, 1, 1]
    assert sorted(i for g in groups for i in g) == list(range(len(vectors)))  # each vector once
    assert greedy_cosine_clusters([], threshold=0.8) == []
    # A threshold nothing reaches leaves every vector on its own.
    assert len(greedy_cosine_clusters(vectors, threshold=1.01)) == len(vectors)


@pytest.mark.django_db(transaction=True)
def test_admins_see_a_cluster_of_missed_ai_images_with_a_retrain_button(settings, web, site_admin, submitter, reviewer):
    settings.AIORNOT_LIKELY_AI_THRESHOLD, settings.AIORNOT_LIKELY_HUMAN_THRESHOLD = 1.0, 0.0  # the model misses all
    settings.AIORNOT_MISSED_AI_SIMILARITY, settings.AIORNOT_MISSED_AI_MIN_CLUSTER = 0.8, 3
    settings.AIORNOT_HEATMAPS = False
    rng = np.random.default_rng(1)
    family, other = rng.standard_normal(32), rng.standard_normal(32)
    planned = [*_around(family, 4, rng), other, *_around(other, 1, rng)]  # 4 alike, and a pair (too few)
    labels = ["ai"] * 6
    planned.append(family)  # alike, but labelled human: not a missed AI image
    labels.append("human")
    assets = []
    for i, (vector, label) in enumerate(zip(planned, labels)):
        submission = submission_create(user=submitter, data=image_bytes("PNG", size=(96, 96), seed=900 + i))
        assets.append((submission.asset_id, vector, label))
    for asset_id, vector, _ in assets:  # the test's vectors stand in for the classifier's embeddings
        ImageFingerprint.objects.filter(asset_id=asset_id).update(
            embedding=(vector / np.linalg.norm(vector)).astype(np.float16).tobytes(), embedding_model="test-embedding"
        )
    truth = {asset_id: label for asset_id, _, label in assets}
    while (case := case_claim_next(reviewer=reviewer)) is not None:
        case_decide(case_id=case.pk, reviewer=reviewer, decision=truth[case.asset_id], note="known generator")

    clusters = missed_ai_clusters()
    assert [c.size for c in clusters] == [4]
    assert {c.asset_id for c in clusters[0].cases} == {a for a, _, _ in assets[:4]}

    assert web.login_as(reviewer).get(reverse("registry-models")).status_code == 403
    client = web.login_as(site_admin)
    page = client.get(reverse("registry-models")).content.decode()
    since = clusters[0].since.strftime("%Y-%m-%d")
    assert f"A cluster of 4 missed AI images since {since}" in page and "Retrain with these labels" in page
    client.post(reverse("registry-retrain"))
    assert Job.objects.filter(kind="retrain", created_by=site_admin).exists()


@pytest.mark.django_db
def test_no_alert_without_missed_ai_images(web, site_admin):
    page = web.login_as(site_admin).get(reverse("registry-models")).content.decode()
    assert "missed AI image" not in page and missed_ai_clusters() == []
