"""Admins watch the queue, the reviewers and the model on one page; the headline is the rate of
human-made images the model called likely AI. Data is made the real way: images submitted and
scored by the test model, cases claimed and decided by reviewers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from detector.ml.checkpoint import read_checkpoint, save_checkpoint
from detector.models import Collection, Submission
from detector.services import submission_create
from registry.services import model_register
from reviews.models import ReviewCase
from reviews.services import case_claim_next, case_decide

pytestmark = pytest.mark.django_db(transaction=True)

THRESHOLDS = {"likely_ai": (0.0, 1e-12), "likely_human": (1.0 - 1e-12, 1.0)}


@pytest.fixture
def model_says(settings):
    """Real scores from the test model; only the thresholds move, so the verdict is known."""
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0  # every likely_human image is sampled for people

    def say(verdict: str) -> None:
        settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = THRESHOLDS[verdict]

    return say


def submit(user, data, **kwargs) -> Submission:
    submission = submission_create(user=user, data=data, **kwargs)
    submission.refresh_from_db()
    assert submission.status == "scored", submission.failure_reason
    return submission


def decide_next(reviewer, labels: dict[int, str]) -> ReviewCase:
    """The reviewer claims the next case (whichever the queue offers: its order is the
    reviews app's business) and decides it as ``labels`` says for that case's submission."""
    case = case_claim_next(reviewer=reviewer)
    case_decide(case_id=case.pk, reviewer=reviewer, decision=labels[case.first_submission_id], note="looked closely")
    return case


@pytest.fixture
def reviewed(model_says, submitter, reviewer, reviewer2, png):
    """Two images the model called likely AI (one of them a person's work), one it called
    likely human-made, all three decided; and one more likely-AI image still waiting."""
    model_says("likely_ai")
    painted = submit(submitter, png(seed=1))
    generated = submit(submitter, png(seed=2))
    model_says("likely_human")
    photo = submit(submitter, png(seed=3))
    labels = {painted.pk: "human", generated.pk: "ai", photo.pk: "human"}  # the painting: a false positive
    decided_by = {}
    for person in (reviewer, reviewer, reviewer2):
        decided_by[decide_next(person, labels).first_submission_id] = person.username
    model_says("likely_ai")
    waiting = submit(submitter, png(seed=4))
    assert [s.verdict for s in (painted, generated, photo, waiting)] == ["likely_ai", "likely_ai", "likely_human", "likely_ai"]
    # Per reviewer: decisions, AI, human, unsure, against the model's verdict.
    against = {painted.pk}
    per_reviewer = {
        name: (
            sum(1 for pk in labels if decided_by[pk] == name),
            sum(1 for pk in labels if decided_by[pk] == name and labels[pk] == "ai"),
            sum(1 for pk in labels if decided_by[pk] == name and labels[pk] == "human"),
            0,
            sum(1 for pk in against if decided_by[pk] == name),
        )
        for name in ("rita", "ravi")
    }
    return {"painted": painted, "generated": generated, "photo": photo, "waiting": waiting, "per_reviewer": per_reviewer}


def text_of(html: str) -> str:
    """The page as a person reads it: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_admin_sees_the_false_positive_rate_on_human_labels_on_the_page_and_in_the_export(
    reviewed, web, site_admin, settings
):
    settings.AIORNOT_DASHBOARD_MIN_COUNT = 2  # the rate itself, from the two labels this fixture makes
    client = web.login_as(site_admin)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    page = text_of(response.content.decode())
    assert "False-positive rate on human-labelled images 50.0%" in page
    assert "1 of 2 images that reviewers labelled human-made had been scored likely AI" in page
    assert "95% Wilson interval 9.5% to 90.5%" in page

    figures = client.get(reverse("dashboard-export")).json()
    fpr = figures["false_positive_rate"]
    assert (fpr["human_labelled"], fpr["false_positives"], fpr["rate"]) == (2, 1, 0.5)
    assert fpr["ci95_low"] == pytest.approx(0.0945, abs=1e-3) and fpr["ci95_high"] == pytest.approx(0.9055, abs=1e-3)
    version = reviewed["painted"].model_version
    [row] = figures["model_versions"]
    assert row["version"] == version and row["fpr"]["rate"] == 0.5 and row["scored"] == 4
    assert row["share_likely_ai"] == 0.75 and row["agreement_rate"] == pytest.approx(2 / 3)


def test_agreement_calibration_scores_queue_and_throughput_match_what_reviewers_did(reviewed, web, site_admin):
    figures = web.login_as(site_admin).get(reverse("dashboard-export")).json()

    agreement = figures["agreement"]
    matrix = {row["verdict"]: row["counts"] for row in agreement["matrix"]}
    assert agreement["labels"] == ["ai", "human", "unsure"]
    assert matrix == {"likely_ai": [1, 1, 0], "uncertain": [0, 0, 0], "likely_human": [0, 1, 0]}
    assert agreement["agreement_rate"] == pytest.approx(2 / 3)
    assert agreement["cohen_kappa"] == pytest.approx(0.4)

    calibration = figures["calibration"]
    assert calibration["labelled"] == 3 and sum(b["count"] for b in calibration["bins"]) == 3
    assert sum(b["labelled_ai"] for b in calibration["bins"]) == 1
    assert 0 <= calibration["ece"] <= 1

    histogram = figures["score_histogram"]
    assert histogram["total"] == 4
    assert {g: sum(b[g] for b in histogram["bins"]) for g in histogram["groups"]} == {
        "human": 2, "ai": 1, "unsure": 0, "unlabelled": 1,
    }
    painted_bin = min(int(reviewed["painted"].p_ai * 20), 19)
    assert histogram["bins"][painted_bin]["human"] >= 1

    queue = figures["queue"]
    assert (queue["total"], queue["claimed"]) == (1, 0)
    assert queue["age_buckets"][0] == {"bucket": "under_1h", "label": "under 1 hour", "count": 1}
    assert 0 <= queue["oldest_age_seconds"] < 3600 and queue["median_age_seconds"] <= queue["oldest_age_seconds"]
    today = figures["queue_depth"]["points"][-1]
    assert today["date"] == timezone.localdate().isoformat()
    assert (today["opened"], today["decided"], today["depth"]) == (4, 3, 1)

    throughput = figures["throughput"]
    assert {
        r["reviewer"]: (r["total"], r["ai"], r["human"], r["unsure"], r["against_model"]) for r in throughput["reviewers"]
    } == reviewed["per_reviewer"]
    assert reviewed["per_reviewer"]["rita"][0] == 2 and reviewed["per_reviewer"]["ravi"][0] == 1
    assert throughput["period_totals"][-1] == 3 and throughput["periods"][-1] == timezone.localdate().isoformat()
    weekly = web.get(reverse("dashboard-export"), {"per": "week"}).json()["throughput"]
    assert weekly["per"] == "week" and weekly["period_totals"][-1] == 3


def test_page_draws_every_chart_as_inline_svg_with_a_title_and_a_table_of_the_same_numbers(reviewed, web, site_admin):
    html = web.login_as(site_admin).get(reverse("dashboard")).content.decode()
    charts = re.findall(r'<svg [^>]*class="chart"[^>]*>', html)
    ids = [re.search(r'id="([^"]+)"', tag).group(1) for tag in charts]
    assert set(ids) == {
        "chart-fpr-versions", "chart-queue-age", "chart-queue-depth", "chart-throughput",
        "chart-agreement", "chart-calibration", "chart-score-histogram",
    }
    for chart_id in ids:
        tag = charts[ids.index(chart_id)]
        assert 'role="img"' in tag and f'aria-labelledby="{chart_id}-title {chart_id}-desc"' in tag
        assert re.search(rf'<title id="{chart_id}-title">[^<]+</title><desc id="{chart_id}-desc">[^<]+</desc>', html)
    assert len(re.findall(r"<table ", html)) >= 8 and html.count("<caption>") >= 8
    # Element ids stay unique across the charts, and nothing is fetched from elsewhere or run.
    all_ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(all_ids) == len(set(all_ids))
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    # The table beside the confusion matrix holds the numbers the chart draws.
    page = text_of(html)
    assert "Likely AI-generated 1 1 0 2" in page and "Likely human-made 0 1 0 1" in page
    for name, counts in reviewed["per_reviewer"].items():  # decisions, AI, human, unsure, against the model
        assert f"{name} {' '.join(map(str, counts))}" in page


def test_figures_follow_a_new_decision_at_once(reviewed, web, reviewer2, site_admin):
    client = web.login_as(site_admin)
    before = client.get(reverse("dashboard-export")).json()
    assert before["queue"]["total"] == 1 and client.get(reverse("dashboard")).status_code == 200
    decide_next(reviewer2, {reviewed["waiting"].pk: "human"})  # scored likely AI too: another false positive
    after = client.get(reverse("dashboard-export")).json()
    assert after["queue"]["total"] == 0
    assert (after["false_positive_rate"]["false_positives"], after["false_positive_rate"]["human_labelled"]) == (2, 3)
    assert "66.7%" in text_of(client.get(reverse("dashboard")).content.decode())


def test_dashboard_is_for_site_admins_only(reviewed, web, client, submitter, reviewer, site_admin):
    for url in (reverse("dashboard"), reverse("dashboard-export")):
        anonymous = client.get(url)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
        for user in (submitter, reviewer):
            assert web.login_as(user).get(url).status_code == 403
        client.logout()
    assert "/dashboard/" not in web.login_as(reviewer).get(reverse("review-queue")).content.decode()
    assert f'href="{reverse("dashboard")}"' in web.login_as(site_admin).get(reverse("home")).content.decode()


def test_date_range_selects_labels_but_the_queue_is_always_now(reviewed, web, site_admin):
    client = web.login_as(site_admin)
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    figures = client.get(reverse("dashboard-export"), {"date_from": tomorrow}).json()
    assert figures["false_positive_rate"]["human_labelled"] == 0 and figures["false_positive_rate"]["rate"] is None
    assert figures["score_histogram"]["total"] == 0 and figures["throughput"]["total"] == 0
    assert figures["queue"]["total"] == 1
    page = text_of(client.get(reverse("dashboard"), {"date_from": tomorrow}).content.decode())
    assert "No image has a final human-made label in this selection yet" in page

    today = timezone.localdate().isoformat()
    same = client.get(reverse("dashboard-export"), {"date_from": today, "date_to": today}).json()
    assert same["false_positive_rate"]["rate"] == 0.5 and same["throughput"]["periods"] == [today]

    backwards = client.get(reverse("dashboard-export"), {"date_from": tomorrow, "date_to": today})
    assert backwards.status_code == 400 and backwards.json()["error"]["code"] == "invalid_request"
    assert client.get(reverse("dashboard"), {"date_from": "not a date"}).status_code == 400


def test_collection_filter_counts_only_that_collections_images(
    model_says, web, submitter, reviewer, site_admin, png, settings
):
    settings.AIORNOT_DASHBOARD_MIN_COUNT = 1
    contest = Collection.objects.create(name="Spring salon", created_by=site_admin)
    model_says("likely_ai")
    entry = submit(submitter, png(seed=11), collection=contest)
    other = submit(submitter, png(seed=12))
    labels = {entry.pk: "human", other.pk: "ai"}  # the entry: a person's work the model called likely AI
    decide_next(reviewer, labels)
    decide_next(reviewer, labels)

    client = web.login_as(site_admin)
    everything = client.get(reverse("dashboard-export")).json()
    assert everything["false_positive_rate"]["rate"] == 1.0 and everything["score_histogram"]["total"] == 2
    contest_only = client.get(reverse("dashboard-export"), {"collection": contest.pk}).json()
    assert contest_only["filters"]["collection_name"] == "Spring salon"
    assert contest_only["score_histogram"]["total"] == 1 and contest_only["agreement"]["labelled"] == 1
    assert contest_only["throughput"]["total"] == 1
    page = text_of(client.get(reverse("dashboard"), {"collection": contest.pk}).content.decode())
    assert "100.0% 1 of 1 images" in page
    assert client.get(reverse("dashboard-export"), {"collection": 999999}).status_code == 400


def test_each_model_version_has_its_own_figures_and_the_registry_hold_out(
    settings, model_says, web, submitter, reviewer, site_admin, png, detector_checkpoint, tmp_path
):
    model_says("likely_ai")
    first = submit(submitter, png(seed=21))
    decide_next(reviewer, {first.pk: "ai"})

    checkpoint = read_checkpoint(detector_checkpoint)
    checkpoint.model_version = "dashboard-test-v2"
    save_checkpoint(checkpoint, tmp_path / "v2.pt", half=False)
    model_register(
        path=tmp_path / "v2.pt",
        holdout_evaluation={
            "active_version": first.model_version,
            "candidate": {"images": 40, "human": 20, "ai": 20, "roc_auc": 0.913, "fpr": 0.05,
                          "false_positives": 1, "tpr": 0.8, "ece": 0.041},
        },
    )
    settings.AIORNOT_DETECTOR_CHECKPOINT = str(tmp_path / "v2.pt")
    second = submit(submitter, png(seed=22))
    assert second.model_version == "dashboard-test-v2"
    decide_next(reviewer, {second.pk: "human"})

    client = web.login_as(site_admin)
    versions = {row["version"]: row for row in client.get(reverse("dashboard-export")).json()["model_versions"]}
    original = versions[first.model_version]
    assert (original["fpr"]["human_labelled"], original["fpr"]["rate"], original["agreement_rate"]) == (0, None, 1.0)
    v2 = versions["dashboard-test-v2"]
    assert (v2["registry_status"], v2["scored"], v2["fpr"]["rate"], v2["holdout"]["roc_auc"]) == ("candidate", 1, 1.0, 0.913)

    only_v2 = client.get(reverse("dashboard-export"), {"model_version": "dashboard-test-v2"}).json()
    assert only_v2["false_positive_rate"]["human_labelled"] == 1 and only_v2["score_histogram"]["total"] == 1
    assert [row["version"] for row in only_v2["model_versions"]] == ["dashboard-test-v2"]
    page = text_of(client.get(reverse("dashboard")).content.decode())
    assert "dashboard-test-v2 Candidate 1 100.0% (1) 1 1 100.0% (1/1) 0.0% 0.913 5.0% (1/20) 80.0% 0.041" in page
    assert client.get(reverse("dashboard-export"), {"model_version": "no-such-model"}).status_code == 400


def test_an_empty_site_shows_the_dashboard_without_charts(web, site_admin):
    response = web.login_as(site_admin).get(reverse("dashboard"))
    assert response.status_code == 200
    page = text_of(response.content.decode())
    assert "No image has a final human-made label in this selection yet" in page
    assert "<svg" not in response.content.decode()
    figures = web.get(reverse("dashboard-export")).json()
    assert figures["queue"]["total"] == 0 and figures["calibration"]["ece"] is None
    assert figures["agreement"]["cohen_kappa"] is None
