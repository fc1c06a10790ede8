"""Collections on the web: who sees which, what an admin can change, the per-collection status
and the batch upload page (with and without JavaScript)."""

import datetime

import pytest
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from detector.models import Collection, Submission
from detector.scoring import submission_score
from detector.services import submission_create
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def scored(user, collection, seed, name="entry.png"):
    submission = submission_create(user=user, data=image_bytes("PNG", seed=seed), original_filename=name,
                                   collection=collection, enqueue=False)
    return submission_score(submission_id=submission.pk)


def decide(reviewer, decision, note="looked at the brush strokes"):
    from reviews.services import case_claim_next, case_decide

    case = case_claim_next(reviewer=reviewer)
    case_decide(case_id=case.pk, reviewer=reviewer, decision=decision, note=note)
    return case


@pytest.fixture
def everything_likely_ai(settings):
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI = None


# --- The list and admin edits ------------------------------------------------------------------


def test_submitters_see_open_collections_with_policy_and_deadline(web, submitter, site_admin):
    due = timezone.now() + datetime.timedelta(days=3)
    Collection.objects.create(name="Spring round", policy="art_contest", deadline=due, created_by=site_admin)
    Collection.objects.create(name="Last year", policy="general", is_open=False, created_by=site_admin)
    page = web.login_as(submitter).get(reverse("collection-list")).content.decode()
    assert "Spring round" in page and "Art contest" in page and due.strftime("%Y-%m-%d") in page
    assert "Last year" not in page
    assert "New collection" not in page and reverse("collection-new") not in page
    assert web.get(reverse("collection-new")).status_code == 403


def test_closed_collection_stays_visible_to_its_entrants(web, submitter, other_submitter, site_admin):
    old = Collection.objects.create(name="Last year", created_by=site_admin)
    scored(submitter, old, seed=1)
    old.is_open = False
    old.save()
    assert "Last year" in web.login_as(submitter).get(reverse("collection-list")).content.decode()
    assert web.get(reverse("collection-detail", args=[old.pk])).status_code == 200
    assert web.login_as(other_submitter).get(reverse("collection-detail", args=[old.pk])).status_code == 404


def test_admin_creates_edits_and_closes_a_collection(web, site_admin, submitter):
    client = web.login_as(site_admin)
    assert "New collection" in client.get(reverse("collection-list")).content.decode()
    response = client.post(reverse("collection-new"), {
        "name": "Newsroom: election week", "policy": "newsroom", "description": "Wire photos",
        "deadline": "2030-05-01T18:00", "second_opinion": "unknown", "is_open": "on",
    })
    collection = Collection.objects.get(name="Newsroom: election week")
    assert response.status_code == 302 and response["Location"] == reverse("collection-detail", args=[collection.pk])
    assert (collection.policy, collection.is_open, collection.second_opinion, collection.created_by) == (
        "newsroom", True, None, site_admin)
    assert collection.deadline.strftime("%Y-%m-%d %H:%M") == "2030-05-01 18:00"

    response = client.post(reverse("collection-edit", args=[collection.pk]), {
        "name": "Newsroom: election week", "policy": "newsroom", "description": "Wire and staff photos",
        "deadline": "2030-05-02T18:00", "second_opinion": "true", "is_open": "on",
    })
    assert response.status_code == 302
    collection.refresh_from_db()
    assert collection.description == "Wire and staff photos" and collection.second_opinion is True

    client.post(reverse("collection-close", args=[collection.pk]))
    collection.refresh_from_db()
    assert collection.is_open is False
    history = [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(collection.pk)).order_by("id")]
    assert history[0] == "Added." and "Description" in history[1] and "Open" in history[2]

    entrant = Client()
    entrant.force_login(submitter)
    assert "election week" not in entrant.get(reverse("collection-list")).content.decode()
    assert entrant.post(reverse("collection-close", args=[collection.pk])).status_code == 403


def test_invalid_collection_form_says_why(web, site_admin):
    response = web.login_as(site_admin).post(reverse("collection-new"), {"name": "", "policy": "lottery"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "This field is required." in page and "Select a valid choice" in page
    assert Collection.objects.count() == 0


# --- The status page ---------------------------------------------------------------------------


def test_status_page_counts_by_status_verdict_and_review_and_lists_own_entries(
    web, submitter, other_submitter, reviewer, site_admin, everything_likely_ai
):
    contest = Collection.objects.create(name="Spring round", policy="general", created_by=site_admin)
    mine = [scored(submitter, contest, seed=10 + i, name=f"mine{i}.png") for i in range(2)]
    theirs = scored(other_submitter, contest, seed=20, name="theirs.png")
    pending = submission_create(user=submitter, data=image_bytes("PNG", seed=30), original_filename="later.png",
                                collection=contest, enqueue=False)
    assert {s.verdict for s in mine + [theirs]} == {"likely_ai"}
    decide(reviewer, "human")

    page = web.login_as(submitter).get(reverse("collection-detail", args=[contest.pk])).content.decode()
    assert "You have 3 entries in this collection." in page
    assert "mine0.png" in page and "later.png" in page and "theirs.png" not in page
    assert '<progress id="scoring-progress" value="2" max="3">' in page
    assert "<dt>Scoring</dt><dd>1</dd>" in page and "<dt>Scored</dt><dd>2</dd>" in page
    assert "<dt>Likely AI-generated</dt><dd>2</dd>" in page
    assert 'http-equiv="refresh"' in page  # one is still scoring

    page = web.login_as(reviewer).get(reverse("collection-detail", args=[contest.pk])).content.decode()
    assert "4 entries in this collection." in page and "theirs.png" in page and "olga" in page
    assert "<dt>Decided: Human-made</dt><dd>1</dd>" in page and "<dt>Waiting for a reviewer</dt><dd>2</dd>" in page
    assert '<progress id="review-progress" value="1" max="3">' in page
    assert pending.pk  # listed above as "later.png"


def test_art_contest_entrant_status_never_counts_likely_ai_before_review(
    web, submitter, site_admin, reviewer, everything_likely_ai
):
    contest = Collection.objects.create(name="Spring round", policy="art_contest", second_opinion=False,
                                        created_by=site_admin)
    entry = scored(submitter, contest, seed=40, name="my-painting.png")
    assert entry.verdict == "likely_ai"
    url = reverse("collection-detail", args=[contest.pk])
    page = web.login_as(submitter).get(url).content.decode()
    assert "<dt>Under review</dt><dd>1</dd>" in page and "<dt>Likely AI-generated</dt><dd>0</dd>" in page
    assert "AI-generated: " not in page
    reviewer_page = web.login_as(reviewer).get(url).content.decode()
    assert "<dt>Likely AI-generated</dt><dd>1</dd>" in reviewer_page
    decide(reviewer, "ai")
    page = web.login_as(submitter).get(url).content.decode()
    assert "<dt>Likely AI-generated</dt><dd>1</dd>" in page and "Decided by a reviewer: AI-generated" in page


def test_people_without_a_role_get_no_collections(web, no_role_user, site_admin):
    collection = Collection.objects.create(name="Spring round", created_by=site_admin)
    client = web.login_as(no_role_user)
    assert client.get(reverse("collection-list")).status_code == 403
    assert client.get(reverse("collection-detail", args=[collection.pk])).status_code == 404
    assert 'href="/collections/"' not in client.get(reverse("home")).content.decode()


def test_navigation_and_submission_page_link_the_new_pages(web, submitter, site_admin):
    collection = Collection.objects.create(name="Spring round", created_by=site_admin)
    submission = scored(submitter, collection, seed=50)
    client = web.login_as(submitter)
    assert 'href="/collections/"' in client.get(reverse("home")).content.decode()
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "Printable report" in page and reverse("submission-report", args=[submission.pk]) in page
    assert reverse("collection-detail", args=[collection.pk]) in page


# --- The upload page ---------------------------------------------------------------------------


@pytest.fixture
def open_collection(site_admin):
    return Collection.objects.create(name="Spring round", created_by=site_admin)


def test_upload_page_has_the_script_a_progress_bar_and_a_plain_form(web, submitter, open_collection):
    page = web.login_as(submitter).get(reverse("collection-upload", args=[open_collection.pk])).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="files"' in page and "multiple" in page
    assert "<progress" in page and "Retry failed files" in page and "js/upload.js" in page
    assert 'id="upload-messages"' in page


def test_without_javascript_many_files_post_at_once_and_get_a_result_table(web, submitter, open_collection):
    from tests.detector.test_zip_upload import make_zip

    files = [
        SimpleUploadedFile("one.png", image_bytes("PNG", seed=60)),
        SimpleUploadedFile("two.jpg", image_bytes("JPEG", seed=61)),
        SimpleUploadedFile("letter.pdf", b"%PDF-1.4 not a picture" * 10),
        SimpleUploadedFile("more.zip", make_zip([("inside/three.png", image_bytes("PNG", seed=62))])),
    ]
    response = web.login_as(submitter).post(reverse("collection-upload", args=[open_collection.pk]),
                                            {"files": files, "note": "painted in oils"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "3 files added" in page and "4 files sent" in page
    assert "one.png" in page and "inside/three.png" in page
    assert "PDF document files are not supported" in page and "unsupported_format" in page
    added = Submission.objects.filter(collection=open_collection)
    assert sorted(s.original_filename for s in added) == ["one.png", "three.png", "two.jpg"]
    assert {s.status for s in added} == {"scored"} and {s.note for s in added} == {"painted in oils"}


def test_script_uploads_one_file_at_a_time_and_a_retry_never_duplicates(web, submitter, open_collection):
    client = web.login_as(submitter)
    url = reverse("collection-upload", args=[open_collection.pk])
    good = image_bytes("PNG", seed=70)
    response = client.post(url, {"files": [SimpleUploadedFile("a.png", good)]}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    first = response.json()["results"][0]
    assert first["ok"] and not first["already_submitted"] and first["submission"]["status"] == "scored"

    bad = client.post(url, {"files": [SimpleUploadedFile("b.png", good[:200])]}, HTTP_ACCEPT="application/json")
    assert bad.status_code == 422
    assert bad.json()["results"][0]["error"]["code"] == "image_corrupt"

    again = client.post(url, {"files": [SimpleUploadedFile("a-renamed.png", good)]}, HTTP_ACCEPT="application/json")
    assert again.status_code == 201
    result = again.json()["results"][0]
    assert result["already_submitted"] and result["submission"]["id"] == first["submission"]["id"]
    assert Submission.objects.filter(collection=open_collection).count() == 1


def test_uploads_into_a_closed_collection_are_refused_with_409(web, submitter, other_submitter, open_collection):
    scored(submitter, open_collection, seed=79)  # an entrant of the round can still see it after closing
    open_collection.is_open = False
    open_collection.save()
    url = reverse("collection-upload", args=[open_collection.pk])
    assert web.login_as(other_submitter).get(url).status_code == 404
    client = web.login_as(submitter)
    assert client.get(url).status_code == 409
    response = client.post(url, {"files": [SimpleUploadedFile("a.png", image_bytes("PNG", seed=80))]},
                           HTTP_ACCEPT="application/json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "collection_closed"
    assert client.post(url, {"files": [SimpleUploadedFile("a.png", image_bytes("PNG", seed=80))]}).status_code == 409
    assert Submission.objects.count() == 1


def test_uploading_needs_the_submitter_role_and_at_least_one_file(web, submitter, no_role_user, open_collection):
    url = reverse("collection-upload", args=[open_collection.pk])
    assert web.login_as(no_role_user).post(url, {}).status_code == 403
    response = web.login_as(submitter).post(url, {}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    assert web.post(url, {}).status_code == 400
