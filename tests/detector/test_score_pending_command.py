"""An admin fixes a broken model installation and re-runs scoring; nothing was lost."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from detector.models import Submission

pytestmark = pytest.mark.django_db(transaction=True)


def test_failed_submissions_are_scored_after_the_model_is_fixed(web, submitter, png, settings, tmp_path, detector_checkpoint, capsys):
    settings.AIORNOT_DETECTOR_CHECKPOINT = tmp_path / "missing.pt"
    client = web.login_as(submitter)
    for seed in (1, 2):
        client.post(reverse("submit"), {"image": SimpleUploadedFile(f"{seed}.png", png(seed=seed))})
    assert set(Submission.objects.values_list("status", flat=True)) == {"failed"}

    settings.AIORNOT_DETECTOR_CHECKPOINT = detector_checkpoint
    call_command("score_pending")
    assert "Queued 2 submission(s)" in capsys.readouterr().out
    assert set(Submission.objects.values_list("status", flat=True)) == {"scored"}
    submission = Submission.objects.first()
    actions = [e.action for e in submission.events.all()]
    assert actions[:4] == ["submitted", "scoring_failed", "requeued", "scored"]
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "AI-generated:" in page and "Scoring failed." not in page  # (the history still lists the failed attempt)


def test_scoring_twice_keeps_one_result(web, submitter, png):
    from detector.scoring import submission_score

    web.login_as(submitter).post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=5))})
    submission = Submission.objects.get()
    again = submission_score(submission_id=submission.pk)
    assert again.p_ai == submission.p_ai and again.scored_at == submission.scored_at
    assert sorted(submission.asset.evidence.values_list("kind", flat=True)) == ["classifier", "provenance", "visible_mark", "watermark"]
    assert [e.action for e in submission.events.all()].count("scored") == 1


def test_the_beat_sweeper_scores_submissions_left_pending(settings, submitter, png):
    from datetime import timedelta

    from django.utils import timezone

    from detector.services import submission_create
    from detector.tasks import sweep_pending

    settings.AIORNOT_SWEEP_PENDING_AFTER_SECONDS = 60
    stranded = submission_create(user=submitter, data=png(seed=71), enqueue=False)  # as if the broker was down
    fresh = submission_create(user=submitter, data=png(seed=72), enqueue=False)
    Submission.objects.filter(pk=stranded.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert sweep_pending.delay().get() == 1
    stranded.refresh_from_db()
    fresh.refresh_from_db()
    assert stranded.status == "scored" and fresh.status == "pending"
    assert sweep_pending.delay().get() == 0  # nothing left that is old enough; scored ones are not re-scored
