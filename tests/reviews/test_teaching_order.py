"""After contest deadlines, the queue puts forward the labels that teach the model most: among
comparably uncertain cases, the image unlike anything in the training data comes first."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from reviews.models import ReviewCase
from reviews.services import case_claim_next, case_decide

from tests.images import write_manifest_folder as _write_folder

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def training_data(tmp_path):
    """Real Pillow images (noise photos and brighter "AI" ones) as the base training data."""
    return _write_folder(tmp_path / "base", {"photos": (3, 3, "photo")})


@pytest.fixture
def training_index(settings, training_data):
    """The training embeddings of that data, written by the command to the index the app reads."""
    call_command("index_training_embeddings", str(training_data), stdout=io.StringIO())
    assert settings.AIORNOT_TRAINING_EMBEDDINGS.exists()
    return training_data


@pytest.fixture
def cases(training_index, everything_likely_ai, collection_for, submit_image, submitter, png):
    """A deadline case, a familiar case (a copy of a training image, the oldest) and an unfamiliar
    one (a drawn pattern), all routed with the index in place; then the model's reading is pinned
    (the tiny test model's own scores are arbitrary) so that the two without deadline are equally uncertain."""
    familiar = submit_image(submitter, seed=0, data=(training_index / "photos/real/0.png").read_bytes())
    unlike = submit_image(submitter, seed=41, data=png(seed=41, size=(96, 96)))
    due = collection_for("general", deadline=timezone.now() + timedelta(days=1))
    deadline = submit_image(submitter, seed=0, collection=due, data=(training_index / "photos/ai/1.png").read_bytes())
    for case, p_ai in [(familiar, 0.6), (unlike, 0.6), (deadline, 0.95)]:
        ReviewCase.objects.filter(pk=case.pk).update(p_ai_at_routing=p_ai, verdict_at_routing="uncertain")
    for case in (familiar, unlike, deadline):
        case.refresh_from_db()
    return familiar, unlike, deadline


def _claim_all(reviewer) -> list[int]:
    offered = []
    while (case := case_claim_next(reviewer=reviewer)) is not None:
        offered.append(case.pk)
        case_decide(case_id=case.pk, reviewer=reviewer, decision="unsure")
    return offered


def test_routing_records_how_close_the_image_is_to_the_training_data(cases):
    familiar, unlike, deadline = cases
    assert familiar.nearest_training_similarity == pytest.approx(1.0, abs=2e-3)  # a copy of a training image
    assert deadline.nearest_training_similarity == pytest.approx(1.0, abs=2e-3)
    assert unlike.nearest_training_similarity < familiar.nearest_training_similarity - 0.01
    opened = unlike.events.get(action="opened")
    assert opened.data["nearest_training_similarity"] == pytest.approx(unlike.nearest_training_similarity)


def test_the_image_unlike_the_training_data_is_claimed_first_after_the_deadline_case(settings, cases, reviewer):
    familiar, unlike, deadline = cases
    assert settings.AIORNOT_QUEUE_TEACHING_ORDER is True  # on by default
    assert _claim_all(reviewer) == [deadline.pk, unlike.pk, familiar.pk]


def test_uncertainty_still_comes_before_novelty(cases, reviewer):
    familiar, unlike, deadline = cases
    ReviewCase.objects.filter(pk=familiar.pk).update(p_ai_at_routing=0.51)  # far more uncertain than 0.6
    assert _claim_all(reviewer) == [deadline.pk, familiar.pk, unlike.pk]


def test_with_the_teaching_order_off_age_decides(settings, cases, reviewer):
    familiar, unlike, deadline = cases
    settings.AIORNOT_QUEUE_TEACHING_ORDER = False
    assert _claim_all(reviewer) == [deadline.pk, familiar.pk, unlike.pk]


def test_without_an_index_nothing_is_measured_and_the_command_measures_the_open_cases(
    settings, training_data, everything_likely_ai, submit_image, submitter, reviewer
):
    older = submit_image(submitter, seed=0, data=(training_data / "photos/real/2.png").read_bytes())
    newer = submit_image(submitter, seed=5)
    assert older.nearest_training_similarity is None and newer.nearest_training_similarity is None
    ReviewCase.objects.update(p_ai_at_routing=0.6, verdict_at_routing="uncertain")
    first = case_claim_next(reviewer=reviewer)
    assert first.pk == older.pk  # unknown novelty: uncertainty then age, as before
    stdout = io.StringIO()
    call_command("index_training_embeddings", str(training_data), stdout=stdout)
    assert "re-measured" in stdout.getvalue()
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.nearest_training_similarity == pytest.approx(1.0, abs=2e-3)
    assert newer.nearest_training_similarity < older.nearest_training_similarity


def test_the_case_list_marks_images_unlike_the_training_data(settings, cases, web, reviewer):
    familiar, unlike, _ = cases
    settings.AIORNOT_NOVEL_SIMILARITY = (familiar.nearest_training_similarity + unlike.nearest_training_similarity) / 2
    html = web.login_as(reviewer).get(reverse("review-queue")).content.decode()
    assert f'data-testid="unlike-training-{unlike.pk}"' in html and "unlike training data" in html
    assert f'data-testid="unlike-training-{familiar.pk}"' not in html
