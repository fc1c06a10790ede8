"""Issue 15 in a real Chromium, for the points the other browser tests leave out: the admin's badge
for new escalations, the API token page, the collection CSV's columns, a result page written for an
editor (headline, a bar and a sentence per layer, stable/unstable, why it is in review, a heatmap
with a legend and an opacity slider that is unfolded only for a high score), a printed collection
report with every thumbnail, and what a signed-out visitor is told."""

from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request

import pytest
from PIL import PngImagePlugin

from detector.models import Collection, Submission
from reviews.models import ReviewCase
from reviews.services import case_claim_next, case_decide

from ..images import image_bytes
from .test_workspace import DESKTOP, everything_likely_ai, open_page, submit  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

A1111 = (
    "a castle on a hill at sunset, highly detailed\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0"
)


def set_range(slider, value: int) -> None:
    """Move a range input as a person dragging it would (it fires "input")."""
    slider.evaluate("(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', {bubbles: true})); }", value)


def escalate(entry: Submission, first, second) -> ReviewCase:
    """First reviewer says AI, the blind second says human: the case goes to an admin."""
    case = case_claim_next(reviewer=first)
    assert case is not None and case.asset_id == entry.asset_id
    case_decide(case_id=case.pk, reviewer=first, decision="ai", reason_codes=["generator_artifacts"])
    again = case_claim_next(reviewer=second)
    assert again is not None and again.pk == case.pk
    case_decide(case_id=case.pk, reviewer=second, decision="human", note="The artist showed the sketches.",
                reason_codes=["artist_process_evidence"])
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.ESCALATED
    return case


def test_admins_get_a_badge_for_new_escalations_until_they_settle_them(
    everything_likely_ai, submitter, reviewer, reviewer2, site_admin, open_page, live_server  # noqa: F811
):
    contest = Collection.objects.create(name="Spring salon", policy="art_contest", created_by=site_admin)
    entry = submit(submitter, 30, collection=contest, name="salon.png")
    reviewers_view = open_page(reviewer, "/review/")
    admin = open_page(site_admin, "/")
    assert admin.locator("[data-testid=escalation-badge]").count() == 0  # nothing escalated yet

    case = escalate(entry, reviewer, reviewer2)
    admin.reload()
    badge = admin.locator("header.site [data-testid=escalation-badge]")
    assert badge.is_visible()
    assert badge.locator(".nav-badge").inner_text() == "1"
    assert badge.locator(".nav-badge").get_attribute("aria-label") == "1 case waits for you"
    reviewers_view.reload()
    assert reviewers_view.locator("[data-testid=escalation-badge]").count() == 0  # admins only

    badge.click()
    admin.wait_for_url("**/review/escalations/")
    admin.click(f"[data-testid=escalation-{case.pk}] a")
    admin.wait_for_selector("[data-testid=escalated-banner]")
    admin.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")
    admin.keyboard.press("h")
    admin.keyboard.type("Process files are convincing.")
    with admin.expect_navigation():
        admin.keyboard.press("Control+Enter")
    case.refresh_from_db()
    assert case.status == ReviewCase.Status.DECIDED and case.label == "human"
    admin.goto(f"{live_server.url}/")
    assert admin.locator("[data-testid=escalation-badge]").count() == 0


def test_admins_read_an_escalated_entry_as_escalated_everywhere_they_list_it(
    everything_likely_ai, submitter, reviewer, reviewer2, site_admin, open_page  # noqa: F811
):
    contest = Collection.objects.create(name="Winter salon", policy="art_contest", created_by=site_admin)
    entry = submit(submitter, 33, collection=contest, name="frost.png")
    escalate(entry, reviewer, reviewer2)
    escalated = "Escalated to an admin: the reviewers disagreed"

    admin = open_page(site_admin, f"/collections/{contest.pk}/")
    row = admin.inner_text(f"[data-testid=entry-row-{entry.pk}]")
    assert escalated in row and "Waiting for a reviewer" not in row
    assert escalated in admin.inner_text(".collection-counts")  # the review counts name it too
    admin.goto(admin.url.split("/collections/")[0] + f"/collections/{contest.pk}/report/")
    report = admin.inner_text("main table.report-table")
    assert escalated in report and "Waiting for a reviewer" not in report
    assert escalated in admin.inner_text(".collection-counts")
    admin.goto(admin.url.split("/collections/")[0] + "/submissions/")
    assert admin.inner_text(f"[data-testid=submission-row-{entry.pk}] [data-testid=review-status]") == escalated
    admin.goto(admin.url.split("/submissions/")[0] + f"/submissions/{entry.pk}/")
    outcome = admin.locator("[data-testid=outcome-escalated]")
    assert "an admin makes the final decision" in outcome.inner_text()
    outcome.locator("a").click()
    admin.wait_for_url("**/review/escalations/")

    # The entrant is not told that the reviewers disagreed: for them it is still with the reviewers.
    entrant = open_page(submitter, f"/collections/{contest.pk}/")
    assert "Waiting for a reviewer" in entrant.inner_text(f"[data-testid=entry-row-{entry.pk}]")
    assert "Escalated" not in entrant.inner_text("main") and "disagreed" not in entrant.inner_text("main")


def _api_status(url: str, key: str) -> int:
    """The API's answer to a program holding only this token (no browser session)."""
    request = urllib.request.Request(url, headers={"Authorization": f"Token {key}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_api_token_page_makes_a_token_shows_it_once_and_revokes_it(submitter, open_page, live_server):  # noqa: F811
    page = open_page(submitter, "/")
    page.click("header.site nav >> text=API")
    page.wait_for_url("**/accounts/api-token/")
    assert page.inner_text("[data-testid=token-state]") == "You have no API token."
    docs = page.locator("main a", has_text="Read the API documentation")
    assert docs.get_attribute("href") == "/api/v1/docs/"
    assert page.locator("footer.site a", has_text="API documentation").get_attribute("href") == "/api/v1/docs/"

    with page.expect_navigation():
        page.click("[data-testid=create-token]")
    key = page.inner_text("[data-testid=token-key]").strip()
    assert len(key) == 40
    assert "not shown again" in page.inner_text("[data-testid=new-token]")
    api = f"{live_server.url}/api/v1/submissions/"
    assert _api_status(api, key) == 200

    page.goto(f"{live_server.url}/accounts/api-token/")  # seen once: not on the next visit
    assert page.locator("[data-testid=token-key]").count() == 0 and key not in page.content()
    assert page.inner_text("[data-testid=token-state]").startswith("You have a token, made on")

    with page.expect_navigation():
        page.click("[data-testid=revoke-token]")
    assert "revoked" in page.inner_text(".messages")
    assert page.inner_text("[data-testid=token-state]") == "You have no API token."
    assert _api_status(api, key) == 401

    response = page.goto(f"{live_server.url}/api/v1/docs/")
    assert response.ok
    page.wait_for_load_state("load")
    assert "aiornot API" in page.title()


def test_collection_csv_has_the_hash_model_version_and_the_reviewers_decisions_reasons_and_notes(
    everything_likely_ai, submitter, reviewer, site_admin, open_page  # noqa: F811
):
    desk = Collection.objects.create(name="Photo desk", policy="newsroom", created_by=site_admin)
    entry = submit(submitter, 31, collection=desk, name="harbour.png")
    case = case_claim_next(reviewer=reviewer)
    case_decide(case_id=case.pk, reviewer=reviewer, decision="human", note="Camera original from the agency.",
                reason_codes=["camera_original", "reverse_image_search"])

    def download(user) -> dict:
        page = open_page(user, f"/collections/{desk.pk}/")
        with page.expect_download() as info:
            page.click("main .actions a:text-is('CSV')")
        text = info.value.path().read_text(encoding="utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 1
        return rows[0]

    row = download(site_admin)
    for column in ("sha256", "model_version", "review_decisions", "review_reasons", "review_notes"):
        assert column in row, column
    assert row["sha256"] == entry.asset.sha256 and len(row["sha256"]) == 64
    assert row["model_version"] == entry.model_version != ""
    assert row["review_label"] == "human"
    assert "human" in row["review_decisions"] and reviewer.username in row["review_decisions"]
    assert "Camera original" in row["review_reasons"] and "Reverse image search" in row["review_reasons"]
    assert row["review_notes"] == "Camera original from the agency."
    # The submitter gets the decision, reasons and note, but not who the reviewer was.
    own = download(submitter)
    assert own["review_notes"] == "Camera original from the agency."
    assert "Camera original" in own["review_reasons"] and reviewer.username not in own["review_decisions"]


def test_the_result_page_speaks_to_an_editor(everything_likely_ai, submitter, site_admin, open_page, live_server):  # noqa: F811
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    from detector.services import submission_create

    submission = submission_create(
        user=submitter, data=image_bytes("PNG", size=(480, 360), seed=32, pnginfo=info), original_filename="castle.png"
    )
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED
    page = open_page(submitter, f"/submissions/{submission.pk}/")
    assert "<" not in page.title()

    headline = page.inner_text("[data-testid=headline]")
    assert headline.endswith(".") and "%" not in headline and "classifier" not in headline.lower()
    bars = page.locator("[data-testid=contributions] li")
    assert bars.count() >= 2  # the classifier and the generator parameters in the file
    sentences = [bars.nth(i).inner_text() for i in range(bars.count())]
    assert any(s.startswith("Learned classifier:") for s in sentences), sentences
    metadata = next(i for i, s in enumerate(sentences) if "towards AI-generated" in s)
    assert bars.nth(metadata).locator(".contribution-bar .contribution-ai").bounding_box()["width"] > 5
    for i in range(bars.count()):
        assert bars.nth(i).locator(".contribution-bar").is_visible()
    stability = page.inner_text("[data-testid=stability]")
    assert stability.startswith("Stability: stable") or stability.startswith("Stability: unstable")
    assert "slightly altered copy of the image" in stability
    main = page.inner_text("main")
    for engineer_words in ("re-saved", "JPEG 90", "90% size", "copy scored"):
        assert engineer_words not in main, engineer_words
    assert main.count("Stability:") == 1  # said once, above; the evidence list does not repeat it
    # Reviewers read the same words in the case's evidence list.
    case = ReviewCase.objects.get(asset_id=submission.asset_id)
    review = open_page(site_admin, f"/review/cases/{case.pk}/")
    assert review.inner_text("[data-testid=evidence-stability]") == stability
    assert "re-saved" not in review.inner_text("main")
    assert "Why a person looks at it:" in page.inner_text("main")
    assert page.inner_text("[data-testid=sha256]") == submission.asset.sha256  # whole, not truncated

    # A high score: the heatmap is unfolded, with its legend and a working opacity slider.
    Submission.objects.filter(pk=submission.pk).update(p_ai=0.93)
    page.reload()
    heatmap = page.locator("[data-testid=heatmap]")
    assert heatmap.get_attribute("open") is not None
    assert page.locator("[data-testid=heatmap] [data-testid=heatmap-legend]").is_visible()
    page.locator("#heatmap-layer").evaluate("img => img.decode()")
    assert page.locator("#heatmap-layer").evaluate("el => getComputedStyle(el).filter") == "none"
    set_range(page.locator("[data-testid=heatmap-opacity]"), 20)
    assert page.locator("#heatmap-layer").evaluate("el => getComputedStyle(el).opacity") == "0.2"
    # A low score: folded away, so no red hotspot reads as "the AI part is here".
    Submission.objects.filter(pk=submission.pk).update(p_ai=0.07)
    page.reload()
    assert heatmap.get_attribute("open") is None
    assert not page.locator("#heatmap-layer").is_visible()
    assert "folded away because the score is low" in page.inner_text("[data-testid=heatmap-folded]")


def test_a_printed_collection_report_shows_every_thumbnail(
    everything_likely_ai, submitter, site_admin, open_page, screenshot, live_server  # noqa: F811
):
    contest = Collection.objects.create(name="Autumn salon", policy="art_contest", created_by=site_admin)
    for i in range(8):  # more rows than fit on one screen: thumbnails far below the fold
        submit(submitter, 40 + i, collection=contest, name=f"entry-{i}.png", size=(200, 150))
    page = open_page(site_admin, "/", DESKTOP)
    page.emulate_media(media="print")
    page.goto(f"{live_server.url}/collections/{contest.pk}/report/")
    page.wait_for_load_state("load")
    thumbs = page.locator("main img.thumb")
    assert thumbs.count() == 8
    states = thumbs.evaluate_all(
        "imgs => imgs.map(i => ({lazy: i.loading === 'lazy', loaded: i.complete && i.naturalWidth > 0,"
        " shown: getComputedStyle(i).display !== 'none' && i.getBoundingClientRect().width > 0}))"
    )
    assert all(not s["lazy"] and s["loaded"] and s["shown"] for s in states), states
    assert page.locator("header.site").evaluate("el => getComputedStyle(el).display") == "none"
    screenshot(page, "print-collection-report")


def test_a_signed_out_visitor_is_told_what_the_product_does(open_page, live_server):  # noqa: F811
    page = open_page(None, "/")
    landing = page.inner_text("[data-testid=landing]")
    assert "AI-generated" in landing and "human reviewer" in landing
    assert page.locator("[data-testid=landing] .landing-points .card").count() >= 3
    # Sent to sign in from a link to a page: the sign-in page says what this is too.
    page.goto(f"{live_server.url}/submissions/")
    page.wait_for_url("**/accounts/login/**")
    about = page.locator("[data-testid=sign-in-about]")
    assert "AI-generated" in about.inner_text() and "human reviewer" in about.inner_text()
    about.locator("a").click()
    page.wait_for_selector("[data-testid=landing]")
