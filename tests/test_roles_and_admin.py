"""Sign-in, the three roles, the user commands and the Django admin."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from detector.models import Submission
from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)


def test_migrate_creates_the_three_role_groups_with_permissions():
    groups = {g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()} for g in Group.objects.all()}
    assert "detector.submit_image" in groups["submitters"]
    assert "reviews.review_case" in groups["reviewers"] and "reviews.review_case" not in groups["submitters"]
    assert "detector.view_all_submissions" in groups["admins"]


def test_sign_in_page_logs_a_submitter_in(client, submitter):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and "Sign in" in page.content.decode()
    response = client.post(reverse("login"), {"username": "sam", "password": "pw-sam"})
    assert response.status_code == 302
    assert "Check this image" in client.get(reverse("home")).content.decode()


def test_wrong_password_is_refused_with_a_message(client, submitter):
    response = client.post(reverse("login"), {"username": "sam", "password": "wrong"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()


def test_add_user_command_creates_users_in_each_role(capsys):
    call_command("add_user", "editor1", role="submitter", password="a-long-passphrase-42")
    call_command("add_user", "checker", role="reviewer", password="a-long-passphrase-42")
    call_command("add_user", "boss", role="admin", password="a-long-passphrase-42")
    from django.contrib.auth import get_user_model

    users = {u.username: u for u in get_user_model().objects.all()}
    assert users["editor1"].has_perm("detector.submit_image") and not users["editor1"].has_perm("reviews.review_case")
    assert users["checker"].has_perm("reviews.review_case")
    assert users["boss"].is_staff and users["boss"].has_perm("detector.view_all_submissions")


def test_add_user_command_rejects_a_weak_password():
    with pytest.raises(CommandError, match="Password refused"):
        call_command("add_user", "weak", role="submitter", password="123")


def test_createsuperuser_works_as_usual(django_user_model):
    call_command("createsuperuser", username="root", email="root@example.org", interactive=False)
    assert django_user_model.objects.get(username="root").is_superuser


def test_seed_demo_prints_passwords_once(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    assert "submitter" in first and "reviewer" in first and "admin" in first
    call_command("seed_demo")
    assert "already exist" in capsys.readouterr().out


def test_admin_sees_submissions_cases_and_audit_in_django_admin(settings, web, submitter, reviewer, site_admin, png):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    web.login_as(submitter).post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=5))})
    submission = Submission.objects.get()
    case = ReviewCase.objects.get()
    client = web.login_as(site_admin)
    for url in [
        reverse("admin:detector_submission_changelist"),
        reverse("admin:detector_submission_change", args=[submission.pk]),
        reverse("admin:detector_imageasset_changelist"),
        reverse("admin:detector_evidence_changelist"),
        reverse("admin:reviews_reviewcase_changelist"),
        reverse("admin:reviews_reviewcase_change", args=[case.pk]),
        reverse("admin:reviews_caseevent_changelist"),
        reverse("admin:detector_submissionevent_changelist"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
    assert submission.model_version in client.get(reverse("admin:detector_submission_changelist")).content.decode()
    # All of a submission's history is visible to admins on the site too.
    assert client.get(reverse("submission-detail", args=[submission.pk])).status_code == 200


def test_admin_cannot_edit_audit_records(web, site_admin):
    client = web.login_as(site_admin)
    assert client.get(reverse("admin:reviews_caseevent_add")).status_code == 403
