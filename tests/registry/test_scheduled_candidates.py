"""Enough new reviewer labels train a candidate in the background; an admin still promotes it."""

from __future__ import annotations

import pytest

from aiornot_site.embedded import embedded_sweep
from registry.models import Job, ModelVersion
from registry.retraining import retrain_when_labels_arrive
from registry.selectors import labels_since_last_candidate
from registry.services import builtin_model_ensure

from .test_retrain_loop import labelled, probe_with_base  # noqa: F401  (labelled: reviewers label real images)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def probe_model(settings, tmp_path):
    """The default kind of model (a probe) and base data, so a retrain can run."""
    base, probe = probe_with_base(settings, tmp_path, {
        "a": (5, 5, "photo"), "b": (5, 0, "painting"), "c": (0, 5, "photo"), "d": (5, 5, "drawing"),
    })
    settings.AIORNOT_BASE_TRAINING_DATA = [str(base)]
    settings.AIORNOT_HOLDOUT_FRACTION = 0.34
    return probe


def test_enough_new_labels_train_a_candidate_that_waits_for_an_admin(settings, probe_model, labelled):
    settings.AIORNOT_RETRAIN_AFTER_LABELS = 6
    original = builtin_model_ensure()
    labelled(ai=3, human=3)
    assert labels_since_last_candidate()[0] == 6

    embedded_sweep()  # the embedded mode's sweeper (celery beat runs the same service with a broker)
    job = Job.objects.get(kind="retrain")
    assert job.trigger == "scheduled" and job.created_by is None
    assert job.status == "done", job.message  # jobs run inline in tests
    candidate = ModelVersion.objects.get(version=job.result["candidate"])
    assert candidate.status == "candidate" and candidate.parent == original
    assert ModelVersion.objects.get(status="active") == original  # never promoted automatically
    assert not candidate.events.filter(action="promoted").exists()
    # The labels it was trained on are used up: nothing new, nothing queued.
    assert labels_since_last_candidate()[0] == 0
    assert retrain_when_labels_arrive() is None
    assert Job.objects.filter(kind="retrain").count() == 1


def test_fewer_labels_than_the_threshold_or_switched_off_train_nothing(settings, probe_model, labelled):
    settings.AIORNOT_RETRAIN_AFTER_LABELS = 10
    builtin_model_ensure()
    labelled(ai=3, human=3)
    assert retrain_when_labels_arrive() is None
    embedded_sweep()
    settings.AIORNOT_RETRAIN_AFTER_LABELS = 0  # off, however many labels there are
    assert retrain_when_labels_arrive() is None
    assert not Job.objects.filter(kind="retrain").exists()
    assert ModelVersion.objects.filter(status="candidate").count() == 0


def test_a_scheduled_retrain_that_failed_waits_for_a_new_batch_of_labels(settings, labelled):
    """With no hold-out the retrain cannot judge its candidate: it fails once, not again on every tick."""
    settings.AIORNOT_RETRAIN_AFTER_LABELS = 2
    settings.AIORNOT_HOLDOUT_FRACTION = 0.0  # nothing frozen into the hold-out: the retrain cannot judge
    builtin_model_ensure()
    labelled(ai=1, human=1)
    job = retrain_when_labels_arrive()
    job.refresh_from_db()
    assert job.status == "failed" and "hold-out" in job.message
    assert retrain_when_labels_arrive() is None  # the same labels do not start it again
    labelled(ai=1, human=1, offset=1)
    assert retrain_when_labels_arrive() is not None


def test_a_probe_without_base_data_queues_no_job_bound_to_fail(settings, probe_model, labelled):
    settings.AIORNOT_RETRAIN_AFTER_LABELS = 6
    settings.AIORNOT_BASE_TRAINING_DATA = []
    builtin_model_ensure()
    labelled(ai=3, human=3)
    assert labels_since_last_candidate()[0] == 6
    assert retrain_when_labels_arrive() is None
    assert not Job.objects.filter(kind="retrain").exists()
