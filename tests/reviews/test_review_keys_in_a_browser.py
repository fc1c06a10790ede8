"""Keyboard shortcuts, zoom and the heatmap overlay on the review screen, in a real Chromium.

Skips where Chromium or Playwright is missing (AIORNOT_REQUIRE_BROWSER=1 makes that a failure).
"""

import pytest
from django.urls import reverse

from reviews.models import ReviewCase

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def review_page(browser, live_server):
    contexts = []

    def open_as(user, path):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", f"pw-{user.username}")
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}{path}")
        return page

    yield open_as
    for context in contexts:
        context.close()


def test_keys_choose_but_never_save_and_do_nothing_while_typing(
    everything_likely_ai, submit_image, submitter, reviewer, review_page
):
    cases = [submit_image(submitter, seed=s) for s in (81, 82)]
    ReviewCase.objects.update(p_ai_at_routing=0.9)
    page = review_page(reviewer, reverse("review-queue"))
    page.keyboard.press("n")  # claim the next case
    page.wait_for_url(f"**{reverse('review-case', args=[cases[0].pk])}")
    page.wait_for_selector("[data-testid=zoom-toggle]", state="visible")

    # Image tools: z zooms, m lays the heatmap over the image, the <details> fallback is hidden.
    assert page.is_hidden("#heatmap-fallback")
    page.keyboard.press("z")
    assert "scale(2.5)" in page.get_attribute("#review-stage", "style")
    page.keyboard.press("z")
    assert "scale(1)" in page.get_attribute("#review-stage", "style")
    page.keyboard.press("m")
    assert page.is_visible("[data-testid=heatmap-overlay]")
    page.keyboard.press("?")
    assert "review-shortcuts-open" in page.get_attribute("#shortcut-help", "class")
    page.keyboard.press("Escape")

    page.keyboard.press("h")  # choose human: selected, note focused, nothing saved
    assert page.is_checked("[data-testid=decision-human]")
    assert page.evaluate("document.activeElement.id") == "decision-note"
    page.keyboard.type("a sketch and a timelapse; s u n z")  # typing keys are just text here
    assert page.is_checked("[data-testid=decision-human]")
    assert page.url.endswith(reverse("review-case", args=[cases[0].pk]))
    assert ReviewCase.objects.get(pk=cases[0].pk).status == "open"
    page.keyboard.press("Escape")
    page.keyboard.press("1")  # the first reason code
    assert page.is_checked("[data-testid=reason-generator_artifacts]")
    page.keyboard.press("2")
    page.keyboard.press("1")
    assert not page.is_checked("[data-testid=reason-generator_artifacts]")
    page.focus("[data-testid=decision-note]")
    page.keyboard.press("Control+Enter")
    page.wait_for_url(f"**{reverse('review-case', args=[cases[1].pk])}")  # saving moves on to the next case
    decided = ReviewCase.objects.get(pk=cases[0].pk)
    assert decided.label == "human"
    assert decided.decisions.get().note == "a sketch and a timelapse; s u n z"
    assert decided.decisions.get().reason_codes == ["provenance_metadata"]

    page.wait_for_selector("[data-testid=zoom-toggle]", state="visible")
    page.keyboard.press("[")  # back to the case just decided
    page.wait_for_url(f"**{reverse('review-case', args=[cases[0].pk])}")
    assert "Decided:" in page.inner_text("[data-testid=case-outcome]")
    page.keyboard.press("n")  # back to the held case
    page.wait_for_url(f"**{reverse('review-case', args=[cases[1].pk])}")
    page.wait_for_selector("[data-testid=zoom-toggle]", state="visible")
    page.keyboard.press("s")  # skip: nothing else waits, so the queue
    page.wait_for_url(f"**{reverse('review-queue')}")
    assert ReviewCase.objects.get(pk=cases[1].pk).events.filter(action="skipped").exists()
