"""Every response carries a Content Security Policy; sign-in and submissions are rate limited."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_pages_and_api_docs_carry_a_content_security_policy_without_inline_scripts(client):
    page = client.get(reverse("login"))
    policy = page["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    docs = client.get("/api/v1/docs/").content.decode()
    assert "<script>" not in docs  # the Swagger UI set-up script is served as a file, so the CSP allows it


def test_password_guessing_is_slowed_down_with_429_and_retry_after(settings, client, submitter):
    settings.AIORNOT_RATE_LIMIT_LOGIN = "3/m"
    for _ in range(3):
        assert client.post(reverse("login"), {"username": "sam", "password": "wrong"}).status_code == 200
    refused = client.post(reverse("login"), {"username": "sam", "password": "pw-sam"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many requests" in refused.content.decode()
    api = client.post("/api/v1/auth/token/", {"username": "sam", "password": "pw-sam"})
    assert api.status_code == 429 and api.json()["error"]["code"] == "rate_limited"


def test_submissions_are_limited_per_user_and_other_users_are_unaffected(settings, api_for, submitter, other_submitter, png):
    settings.AIORNOT_RATE_LIMIT_SUBMIT = "2/m"
    client = api_for(submitter)
    for seed in range(2):
        assert client.post("/api/v1/submissions/", {"image": SimpleUploadedFile("a.png", png(seed=seed))}).status_code == 201
    refused = client.post("/api/v1/submissions/", {"image": SimpleUploadedFile("a.png", png(seed=9))})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    other = api_for(other_submitter).post("/api/v1/submissions/", {"image": SimpleUploadedFile("b.png", png(seed=10))})
    assert other.status_code == 201


def test_check_deploy_passes_with_production_settings(tmp_path):
    import os
    import secrets
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aiornot_site.settings",
        "AIORNOT_DATA_DIR": str(tmp_path),
        "AIORNOT_HTTPS": "1",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_ALLOWED_HOSTS": "aiornot.example.org",
        "DJANGO_DEBUG": "0",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_forms_and_session_api_calls_without_a_csrf_token_are_refused(submitter, png):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(submitter)
    forged = browser.post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=3))})
    assert forged.status_code == 403
    api = browser.post("/api/v1/submissions/", {"image": SimpleUploadedFile("a.png", png(seed=3))})
    assert api.status_code == 403  # session-authenticated API calls need the token too
    page = browser.get(reverse("submit"))
    token = page.cookies["csrftoken"].value
    accepted = browser.post(reverse("submit"), {"image": SimpleUploadedFile("a.png", png(seed=3)),
                                                "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
