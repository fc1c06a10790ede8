"""The whole contest round in a real browser: a submitter uploads a zip to an art-contest
collection, two reviewers decide with keyboard shortcuts (the second one blind), the admin
reads the dashboard, and the submitter downloads the report. Screenshots: test-artifacts/e2e/."""

import csv
import io
import re
import zipfile

import pytest

from detector.models import Collection, Submission
from reviews.models import ReviewCase

from ..images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def _claim_and_decide_by_keyboard(page, live_server, decision_key: str, note: str = ""):
    """From the queue: claim the next case, tick a reason and choose with keys, save with Ctrl+Enter."""
    page.goto(f"{live_server.url}/review/")
    # After a save the reviewer already holds the next case (auto-advance): continue it.
    page.click("[data-testid=claim-next], [data-testid=continue-case]")
    page.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")
    case_url = page.url
    page.keyboard.press(decision_key)
    assert page.is_checked(f"[data-testid=decision-{ {'a': 'ai', 'h': 'human', 'u': 'unsure'}[decision_key] }]")
    assert page.url == case_url  # a key only chooses; nothing is saved yet
    if note:  # the key moved the focus to the note, which a disagreement with the model requires
        page.keyboard.type(note)
    page.keyboard.press("Escape")
    page.keyboard.press("6" if decision_key == "h" else "1")  # a reason code
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert "Decision saved" in page.inner_text("main")
    return int(re.search(r"/cases/(\d+)/", case_url).group(1))


def test_a_contest_round_from_zip_upload_to_report(
    settings, sign_in, live_server, screenshot, submitter, reviewer, reviewer2, site_admin, tmp_path
):
    # The model calls every entry likely AI, so every entry needs people (and, in a contest, two).
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI = None
    contest = Collection.objects.create(name="Spring painting contest", policy="art_contest", created_by=site_admin)
    archive = tmp_path / "entries.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("entries/lake.png", image_bytes("PNG", size=(320, 240), seed=41))
        z.writestr("entries/portrait.jpg", image_bytes("JPEG", size=(240, 320), seed=42))

    # 1. The submitter uploads the zip to the contest.
    entrant = sign_in(submitter)
    entrant.click("text=Collections")
    entrant.click(f"text={contest.name}")
    entrant.click("text=Upload images")
    entrant.set_input_files("input[type=file][name=files]", str(archive))
    entrant.click("#batch-upload button[type=submit]")
    expect = pytest.importorskip("playwright.sync_api").expect  # (the CSP forbids eval-based waits)
    expect(entrant.locator("#upload-summary")).to_have_text(re.compile(r"^1 of 1 files sent"), timeout=60_000)
    assert "2 of 2 files in the archive added" in entrant.inner_text("#upload-files")
    screenshot(entrant, "1-entrant-uploaded-zip")
    entries = list(Submission.objects.filter(collection=contest))
    assert len(entries) == 2 and all(s.status == "scored" and s.verdict == "likely_ai" for s in entries)
    entrant.goto(f"{live_server.url}/submissions/{entries[0].pk}/")
    assert "Under review" in entrant.inner_text("main") and "Likely AI" not in entrant.inner_text("main")

    # 2. The first reviewer decides both with the keyboard: one AI, one human-made.
    first = sign_in(reviewer)
    decided_by_first = {}
    for key, note in (("a", ""), ("h", "The entrant sent layered source files and sketches.")):
        case_id = _claim_and_decide_by_keyboard(first, live_server, key, note)
        decided_by_first[case_id] = key
    screenshot(first, "2-first-reviewer-done")
    ai_case = next(c for c, k in decided_by_first.items() if k == "a")
    human_case = next(c for c, k in decided_by_first.items() if k == "h")
    assert ReviewCase.objects.get(pk=human_case).label == "human"  # a human label is final at once
    assert ReviewCase.objects.get(pk=ai_case).status == "awaiting_second"

    # 3. A second reviewer confirms the AI call blind: the first decision is not on the page.
    second = sign_in(reviewer2)
    second.goto(f"{live_server.url}/review/")
    second.click("[data-testid=claim-next]")
    second.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")
    assert f"/cases/{ai_case}/" in second.url
    assert second.locator("[data-testid=case-decisions]").count() == 0
    screenshot(second, "3-second-reviewer-blind")
    second.keyboard.press("a")
    second.keyboard.press("Escape")
    with second.expect_navigation():
        second.keyboard.press("Control+Enter")
    assert "Decision saved" in second.inner_text("main")
    assert ReviewCase.objects.get(pk=ai_case).label == "ai"

    # 4. The admin reads the dashboard.
    admin = sign_in(site_admin)
    admin.click("text=Dashboard")
    dashboard = admin.inner_text("main")
    assert "false-positive" in dashboard.lower()
    assert admin.locator("main svg").count() >= 3
    screenshot(admin, "4-admin-dashboard")

    # 5. The submitter now sees the outcomes and downloads the report.
    entrant.goto(f"{live_server.url}/collections/{contest.pk}/")
    with entrant.expect_download() as download:
        entrant.click("text=CSV")
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert sorted(r["filename"] for r in rows) == ["lake.png", "portrait.jpg"]
    outcomes = " ".join(str(r) for r in rows)
    assert "ai" in outcomes and "human" in outcomes
    entrant.click("text=Report")
    screenshot(entrant, "5-entrant-report")
    assert "lake.png" in entrant.inner_text("main")
