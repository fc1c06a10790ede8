"""A collection's entry list in a real Chromium (issue 15): people filter it by the people's
decision, the model's verdict and file name, sort it and page through it, and an art-contest
entrant can neither filter nor sort by what the model said (it would tell them which entries it
called likely AI before people decided)."""

from __future__ import annotations

import pytest

from detector.views import collections as collection_views
from detector.models import Collection
from reviews.models import ReviewCase
from reviews.services import case_claim_next, case_decide

from .test_workspace import everything_likely_ai, open_page, submit  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = "[data-testid=entry-list] tbody tr[data-testid^=entry-row]"


def listed_names(page) -> list[str]:
    return [row.locator("td").nth(1).inner_text() for row in page.locator(ROWS).all()]


def test_collection_entries_filter_search_sort_and_page(
    everything_likely_ai, submitter, reviewer, site_admin, open_page, monkeypatch  # noqa: F811
):
    contest = Collection.objects.create(name="Spring salon", policy="art_contest", created_by=site_admin)
    entries = {name: submit(submitter, seed, collection=contest, name=name)
               for seed, name in enumerate(["b-sunset.png", "a-portrait.png", "c-still-life.png"], start=11)}
    case = case_claim_next(reviewer=reviewer)
    decided = next(s for s in entries.values() if s.asset_id == case.asset_id)
    case_decide(case_id=case.pk, reviewer=reviewer, decision="human", note="brush strokes under magnification")
    assert ReviewCase.objects.get(pk=case.pk).status == ReviewCase.Status.DECIDED

    # The entrant: people's decision, search and name order, but nothing by the model's verdict.
    mine = open_page(submitter, f"/collections/{contest.pk}/")
    rows = mine.locator(ROWS)
    assert rows.count() == 3
    assert mine.locator("[data-testid=entry-filters] select[name=verdict]").count() == 0
    assert mine.locator("select[name=sort] option[value=score]").count() == 0
    mine.select_option("select[name=sort]", "name")
    mine.click("[data-testid=apply-filters]")
    assert listed_names(mine) == ["a-portrait.png", "b-sunset.png", "c-still-life.png"]
    mine.fill("[data-testid=entry-filters] input[name=q]", "portrait")
    mine.click("[data-testid=apply-filters]")
    assert listed_names(mine) == ["a-portrait.png"]
    mine.fill("[data-testid=entry-filters] input[name=q]", "")
    mine.select_option("select[name=state]", "decided_human")
    mine.click("[data-testid=apply-filters]")
    assert rows.count() == 1 and mine.locator(f"[data-testid=entry-row-{decided.pk}]").is_visible()
    mine.select_option("select[name=state]", "in_review")
    mine.click("[data-testid=apply-filters]")
    assert rows.count() == 2
    # Typed into the address bar, a verdict filter is ignored and a score order falls back to newest.
    mine.goto(f"{mine.url.split('?')[0]}?verdict=likely_human&sort=score")
    assert listed_names(mine) == ["c-still-life.png", "a-portrait.png", "b-sunset.png"]

    # An admin filters by the model's verdict, sorts by score, and pages with the filters kept.
    monkeypatch.setattr(collection_views, "ENTRIES_PER_PAGE", 2)
    admin = open_page(site_admin, f"/collections/{contest.pk}/")
    admin.select_option("select[name=verdict]", "likely_human")
    admin.click("[data-testid=apply-filters]")
    assert admin.locator(ROWS).count() == 0 and "No entries match." in admin.inner_text("[data-testid=entry-list]")
    admin.select_option("select[name=verdict]", "likely_ai")
    admin.select_option("select[name=sort]", "score")
    admin.click("[data-testid=apply-filters]")
    assert admin.locator(ROWS).count() == 2
    first_page = listed_names(admin)
    admin.click("[data-testid=next-page]")
    admin.wait_for_load_state()
    assert "verdict=likely_ai" in admin.url and "sort=score" in admin.url
    assert admin.locator(ROWS).count() == 1 and listed_names(admin)[0] not in first_page
    assert "Page 2 of 2" in admin.inner_text("nav.pages")
