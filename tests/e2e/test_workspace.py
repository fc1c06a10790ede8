"""The reviewers' and editors' workspace in a real Chromium (issue 15): the heatmap overlay really
hides, saving moves on to the next case with an undo, lists filter, the dashboard does not state a
rate from too few images, and no main page is wider than a 390 px phone. Every main page is saved
as a full-page screenshot at 1366 and 390 px in test-artifacts/e2e/."""

from __future__ import annotations

import re

import pytest

from detector.models import Collection, Submission
from detector.services import submission_create
from registry.models import ModelVersion
from reviews.models import ReviewCase, ReviewDecision
from reviews.services import case_claim_next, case_decide, case_skip

from ..images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
# The innermost elements sticking out on the right, to say what makes a page too wide.
WIDER_THAN_VIEWPORT = """() => Array.from(document.querySelectorAll('body *'))
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(el => { for (let a = el.parentElement; a; a = a.parentElement) { if (getComputedStyle(a).overflowX !== 'visible') return false; } return true; })
  .slice(-5).map(el => el.tagName.toLowerCase() + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))"""
# Content hidden in a sideways-scrolling box inside the page (a table squeezed into a scroller is
# still a table too wide for the phone: on a phone tables become cards instead).
SIDEWAYS_SCROLLERS = """() => Array.from(document.querySelectorAll('main *'))
  .filter(el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth + 1)
  .map(el => el.tagName.toLowerCase() + '.' + el.className + ' ' + el.scrollWidth + '>' + el.clientWidth)"""
# On a phone, a table.cards shows each row as a card: rows are blocks, the header row is hidden.
# A table of four or more columns shown as a table is too cramped there (two-column lists may stay).
TABLES_NOT_AS_CARDS = """() => Array.from(document.querySelectorAll('main table'))
  .filter(t => t.getBoundingClientRect().width > 0 && t.querySelectorAll('thead th').length >= 4)
  .filter(t => { const row = Array.from(t.querySelectorAll('tbody tr')).find(r => getComputedStyle(r).display !== 'none');
                 return row && !['block', 'flex'].includes(getComputedStyle(row).display); })
  .map(t => (t.dataset.testid || t.className) + ' ' + t.querySelectorAll('thead th').length + ' columns')"""


@pytest.fixture
def everything_likely_ai(settings):
    """Real scores from the test model; these thresholds make every verdict likely_ai."""
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI = None


def submit(user, seed: int, *, collection=None, name="", size=(320, 240)) -> Submission:
    submission = submission_create(
        user=user, data=image_bytes("PNG", size=size, seed=seed), collection=collection, original_filename=name
    )
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED, submission.failure_reason
    return submission


def claim_case(reviewer, case: ReviewCase) -> ReviewCase:
    """Claim this very case for the reviewer (skipping the ones the queue offers first)."""
    for _ in range(20):
        offered = case_claim_next(reviewer=reviewer)
        assert offered is not None
        if offered.pk == case.pk:
            return offered
        case_skip(case_id=offered.pk, reviewer=reviewer)
    raise AssertionError(f"case #{case.pk} was never offered to {reviewer}")


def open_next_case(page) -> None:
    """Click "claim next" and wait until the case page is listening for keyboard shortcuts."""
    page.click("[data-testid=claim-next], [data-testid=continue-case]")
    page.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")


@pytest.fixture
def open_page(browser, live_server):
    """open_page(user, path, viewport) -> a signed-in page at that path (user None: signed out)."""
    contexts = []

    def open_(user, path, viewport=DESKTOP):
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        if user is not None:
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", user.username)
            page.fill("input[name=password]", f"pw-{user.username}")
            page.click("button[type=submit]")
            page.wait_for_load_state()
        page.goto(f"{live_server.url}{path}")
        return page

    yield open_
    for context in contexts:
        context.close()


def overlay_display(page) -> str:
    return page.locator("[data-testid=heatmap-overlay]").evaluate("el => getComputedStyle(el).display")


def test_heatmap_overlay_toggles_and_is_really_hidden(everything_likely_ai, submitter, reviewer, open_page):
    case = ReviewCase.objects.get(asset_id=submit(submitter, 1).asset_id)
    page = open_page(reviewer, "/review/")
    page.click("[data-testid=claim-next]")
    page.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")
    assert f"/cases/{case.pk}/" in page.url
    page.wait_for_selector("[data-testid=heatmap-overlay]", state="attached")
    assert overlay_display(page) == "none"  # off at first: the image is judged without a tint
    legend = page.locator("[data-testid=review-screen] [data-testid=heatmap-legend]")
    assert not legend.is_visible()  # no colour scale while no colours are shown
    page.keyboard.press("m")
    assert overlay_display(page) == "block"
    assert page.get_attribute("[data-testid=heatmap-toggle]", "aria-pressed") == "true"
    assert legend.is_visible() and "most influence towards AI" in legend.inner_text()
    page.locator("[data-testid=heatmap-opacity]").evaluate(
        "el => { el.value = '30'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    assert page.locator("[data-testid=heatmap-overlay]").evaluate("el => getComputedStyle(el).opacity") == "0.3"
    page.click("[data-testid=heatmap-toggle]")
    assert overlay_display(page) == "none"
    assert not legend.is_visible()
    # The canvas takes most of the screen, and 1:1 shows image pixels at screen pixels.
    width = page.locator("[data-testid=image-viewport]").bounding_box()["width"]
    assert width > 700, width
    page.click("[data-testid=actual-pixels]")
    shown = page.locator("#case-image").bounding_box()["width"]
    assert abs(shown - 320) <= 2, shown
    page.keyboard.press("l")
    assert page.locator("[data-testid=loupe]").is_visible()
    context = page.inner_text("[data-testid=case-context]")
    assert "Why in review" in context and "blind" in context


def test_saving_moves_to_the_next_case_and_the_last_decision_can_be_undone(
    everything_likely_ai, submitter, reviewer, open_page, screenshot
):
    first, second = (ReviewCase.objects.get(asset_id=submit(submitter, seed).asset_id) for seed in (2, 3))
    page = open_page(reviewer, "/review/")
    open_next_case(page)
    held = first if f"/cases/{first.pk}/" in page.url else second
    other = second if held is first else first
    page.keyboard.press("a")
    page.keyboard.press("Escape")
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    assert f"/cases/{other.pk}/" in page.url  # straight on to the next case
    assert "Decision saved" in page.inner_text("main")
    assert page.locator("[data-testid=undo-bar]").is_visible()
    screenshot(page, "review-after-save-1366")
    with page.expect_navigation():
        page.click("[data-testid=undo-decision]")
    assert f"/cases/{held.pk}/" in page.url  # back to the undone case, to decide again
    held.refresh_from_db()
    other.refresh_from_db()
    assert held.status == "open" and held.label == "" and held.claimed_by_id == reviewer.pk
    assert other.claimed_by_id is None  # nobody holds two cases
    assert not ReviewDecision.objects.filter(case=held).exists()
    assert held.events.filter(action="decision_undone").count() == 1


def test_case_list_and_submission_list_filter(everything_likely_ai, submitter, reviewer, site_admin, open_page):
    contest = Collection.objects.create(name="Spring salon", policy="art_contest", created_by=site_admin)
    in_contest = submit(submitter, 4, collection=contest, name="salon-entry.png")
    elsewhere = submit(submitter, 5, name="desk-photo.png")
    cases = {s.pk: ReviewCase.objects.get(asset_id=s.asset_id) for s in (in_contest, elsewhere)}

    page = open_page(reviewer, "/review/")
    rows = page.locator("[data-testid=case-list] tbody tr[data-testid^=case-row]")
    assert rows.count() == 2
    page.select_option("select[name=collection]", str(contest.pk))
    page.click("[data-testid=apply-filters]")
    assert rows.count() == 1
    assert page.locator(f"[data-testid=case-row-{cases[in_contest.pk].pk}]").is_visible()
    assert "Spring salon" in rows.first.inner_text()
    page.fill("input[name=q]", "desk")
    page.select_option("select[name=collection]", "")
    page.click("[data-testid=apply-filters]")
    assert rows.count() == 1 and page.locator(f"[data-testid=case-row-{cases[elsewhere.pk].pk}]").is_visible()

    mine = open_page(submitter, "/submissions/")
    listed = mine.locator("[data-testid=submission-list] tbody tr[data-testid^=submission-row]")
    assert listed.count() == 2
    assert "Waiting for a reviewer" in mine.inner_text("[data-testid=submission-list]")  # the review's status
    mine.fill("input[name=q]", "salon")
    mine.click("[data-testid=apply-filters]")
    assert listed.count() == 1 and mine.locator(f"[data-testid=submission-row-{in_contest.pk}]").is_visible()
    mine.fill("input[name=q]", "")
    mine.select_option("select[name=state]", "decided_human")
    mine.click("[data-testid=apply-filters]")
    assert listed.count() == 0


def test_dashboard_says_not_enough_data_below_the_minimum(
    everything_likely_ai, settings, submitter, reviewer, site_admin, open_page
):
    settings.AIORNOT_DASHBOARD_MIN_COUNT = 10
    case = ReviewCase.objects.get(asset_id=submit(submitter, 6).asset_id)
    page = open_page(reviewer, "/review/")
    open_next_case(page)
    page.keyboard.press("h")
    assert page.is_checked("[data-testid=decision-human]")
    page.keyboard.type("The artist sent the layered file.")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    case.refresh_from_db()
    assert case.label == "human"  # one human-labelled image the model called likely AI: a rate of 100%
    dashboard = open_page(site_admin, "/dashboard/")
    assert dashboard.locator("[data-testid=fpr-not-enough]").inner_text() == "Not enough data yet"
    assert dashboard.locator("[data-testid=ece-not-enough]").is_visible()
    keys = dashboard.inner_text("[data-testid=key-figures]")
    assert "100.0%" not in keys and "0.0%" not in keys
    settings.AIORNOT_DASHBOARD_MIN_COUNT = 1
    dashboard.reload()
    assert "100.0%" in dashboard.inner_text("[data-testid=key-figures]")


def test_every_main_page_fits_a_phone_and_is_captured(
    everything_likely_ai, submitter, reviewer, reviewer2, site_admin, open_page, screenshot, live_server
):
    contest = Collection.objects.create(name="Spring painting contest with a long name", policy="art_contest",
                                        created_by=site_admin)
    entries = [submit(submitter, 10 + i, collection=contest, name=f"entry-with-a-rather-long-file-name-{i}.png")
               for i in range(3)]
    photo = submit(submitter, 20, name="newsroom-photo.png", size=(640, 480))
    # One escalated and one decided case, so those pages have content.
    escalated = ReviewCase.objects.get(asset_id=entries[1].asset_id)
    case_decide(case_id=claim_case(reviewer, escalated).pk, reviewer=reviewer, decision="ai", reason_codes=["generator_artifacts"])
    case_decide(case_id=claim_case(reviewer2, escalated).pk, reviewer=reviewer2, decision="human",
                note="Sketches and layers were sent.")
    escalated.refresh_from_db()
    assert escalated.status == ReviewCase.Status.ESCALATED
    decider = open_page(reviewer, "/review/")
    open_next_case(decider)
    decider.keyboard.press("u")
    assert decider.is_checked("[data-testid=decision-unsure]")
    decider.keyboard.type("Cannot tell from this file.")
    with decider.expect_navigation():
        decider.keyboard.press("Control+Enter")
    case = ReviewCase.objects.get(asset_id=photo.asset_id)
    for n, status in enumerate(("retired", "candidate")):  # the models page with rows in its table
        ModelVersion.objects.create(
            version=f"efficientnet_lite0-2026-12-0{n + 1}-4c72226b{n}", file=f"models/v{n}.pt", sha256=f"{n}" * 64, size_bytes=7_012_975,
            arch="efficientnet_lite0", status=status,
            holdout_evaluation={"active_version": "", "candidate": {"roc_auc": 0.91, "human": 40, "ai": 40,
                                                                    "false_positives": 1, "fpr": 0.025, "tpr": 0.8}},
        )

    pages = {
        None: [("landing", "/"), ("sign-in", "/accounts/login/")],
        submitter: [
            ("home", "/"), ("check-an-image", "/submit/"), ("submissions", "/submissions/"),
            ("result", f"/submissions/{photo.pk}/"), ("result-contest-entry", f"/submissions/{entries[0].pk}/"),
            ("collections", "/collections/"), ("collection", f"/collections/{contest.pk}/"),
            ("collection-upload", f"/collections/{contest.pk}/upload/"),
            ("collection-report", f"/collections/{contest.pk}/report/"),
            ("submission-report", f"/submissions/{photo.pk}/report"), ("api-token", "/accounts/api-token/"),
        ],
        reviewer: [("review-queue", "/review/"), ("review-case", "/review/")],
        site_admin: [
            ("admin-queue", "/review/?state=all"), ("admin-case", f"/review/cases/{case.pk}/"),
            ("escalations", "/review/escalations/"), ("escalated-case", f"/review/cases/{escalated.pk}/"),
            ("dashboard", "/dashboard/"), ("models", "/models/"), ("admin-collection", f"/collections/{contest.pk}/"),
            ("admin-collection-report", f"/collections/{contest.pk}/report/"),
        ],
    }
    too_wide = []
    for user, visits in pages.items():
        for viewport_name, viewport in (("1366", DESKTOP), ("390", PHONE)):
            page = None
            for name, path in visits:
                if page is None:
                    page = open_page(user, path, viewport)
                else:
                    page.goto(f"{live_server.url}{path}")
                if name == "review-case":
                    claim = page.locator("[data-testid=claim-next], [data-testid=continue-case]")
                    if claim.count():
                        claim.first.click()
                    page.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")
                page.wait_for_load_state("load")
                widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if widths[0] > widths[1]:
                    culprits = page.evaluate(WIDER_THAN_VIEWPORT)
                    too_wide.append(f"{name} at {viewport_name}: {widths[0]} px ({culprits})")
                if viewport_name == "390":
                    scrollers = page.evaluate(SIDEWAYS_SCROLLERS)
                    if scrollers:
                        too_wide.append(f"{name} at 390: scrolls sideways inside ({scrollers})")
                    tables = page.evaluate(TABLES_NOT_AS_CARDS)
                    if tables:
                        too_wide.append(f"{name} at 390: tables not shown as cards ({tables})")
                    nav = page.locator("header.site nav")
                    if nav.count():
                        assert nav.bounding_box()["height"] < 60, f"{name}: the navigation wraps"
                shot = screenshot(page, f"page-{name}-{viewport_name}")
                if name == "review-case" and viewport_name == "390":  # what the phone shows: the bar at the bottom
                    page.screenshot(path=str(shot.with_name("page-review-case-390-screen.png")))
    assert not too_wide, too_wide
    landing = open_page(None, "/")
    assert "AI-generated" in landing.inner_text("[data-testid=landing]")
    assert re.search(r"reviewer", landing.inner_text("main"))


def test_on_a_phone_the_case_image_comes_first_and_the_keyboard_help_is_left_out(
    everything_likely_ai, submitter, reviewer, open_page, screenshot
):
    for seed in (7, 8):
        submit(submitter, seed)
    page = open_page(reviewer, "/review/", PHONE)
    page.click("[data-testid=claim-next]")
    page.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")
    page.click("label[for=decision-ai]")  # a decision by touch, so the next case shows the undo bar
    page.fill("[data-testid=decision-note]", "Tiles repeat at the edges.")
    with page.expect_navigation():
        page.click("[data-testid=save-decision]")
    assert page.locator("[data-testid=undo-bar]").is_visible()

    screen = page.viewport_size["height"]
    image = page.locator("[data-testid=case-image]").bounding_box()
    viewer = page.locator("[data-testid=image-viewport]").bounding_box()
    assert 0 <= image["y"] < screen / 2, image  # the image is on the first screen, in its upper half
    bar = page.locator(".review-decide-bar").bounding_box()
    assert bar["y"] + bar["height"] <= screen + 1 and bar["y"] > viewer["y"]  # the decision bar is at hand
    for details in ("[data-testid=case-context]", "[data-testid=undo-bar]"):
        assert page.locator(details).bounding_box()["y"] > viewer["y"] + viewer["height"] - 1, details
    assert not page.locator("[data-testid=shortcut-help]").is_visible()
    assert page.inner_text("[data-testid=save-decision]").strip() == "Save decision"  # no "Ctrl+Enter" on a phone
    assert page.locator("[data-testid=review-screen] kbd").evaluate_all(
        "keys => keys.filter(k => k.getBoundingClientRect().width > 0).length") == 0
    shot = screenshot(page, "review-case-phone")
    page.screenshot(path=str(shot.with_name("review-case-phone-first-screen.png")))  # what the phone shows
    # Scrolled to the end, the decision bar is still on the screen.
    page.mouse.wheel(0, 5000)
    page.wait_for_function("() => window.scrollY > 0")
    bar = page.locator(".review-decide-bar").bounding_box()
    assert bar["y"] >= 0 and bar["y"] + bar["height"] <= screen + 1
    # On a desktop the keyboard help is there.
    wide = open_page(reviewer, "/review/", DESKTOP)
    wide.click("[data-testid=claim-next], [data-testid=continue-case]")
    wide.wait_for_selector("html[data-shortcuts-ready] [data-testid=review-screen]")
    assert wide.locator("[data-testid=shortcut-help]").is_visible()
