"""The batch upload page and the printable report in a real Chromium (Debian's `chromium`, driven
by Playwright): files go one by one, a failed file shows its error, "Retry failed files" sends only
those again, and a report prints on A4 without the site's menus. Skips without Chromium
(AIORNOT_REQUIRE_BROWSER=1 turns the skip into a failure)."""

import io
import re
import zipfile
from pathlib import Path

import pytest

from detector.models import Collection, Submission
from detector.scoring import submission_score
from detector.services import submission_create
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)

# The browser fixtures (`browser`, `sign_in`) are shared: tests/conftest.py.
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "e2e"


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_upload_page_sends_files_one_by_one_and_retries_only_the_failed(
    sign_in, submitter, site_admin, tmp_path
):
    Collection.objects.create(name="Spring round", created_by=site_admin)
    first, second, notes, archive = (tmp_path / n for n in ("first.png", "second.jpg", "notes.png", "more.zip"))
    first.write_bytes(image_bytes("PNG", seed=1))
    second.write_bytes(image_bytes("JPEG", seed=2))
    notes.write_bytes(b"this is a shopping list, not a picture " * 10)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("inside/third.png", image_bytes("PNG", seed=3))
        z.writestr("inside/readme.txt", b"hello " * 20)
    archive.write_bytes(buffer.getvalue())

    page = sign_in(submitter)
    page.click("text=Collections")
    page.click("text=Upload images")
    posts, dropped = [], []

    def flaky_network(route, request):
        posts.append(request.post_data_buffer)
        if b"second.jpg" in (request.post_data_buffer or b"") and not dropped:
            dropped.append(True)
            route.abort()  # the connection drops while the second file is sent
        else:
            route.continue_()

    page.route("**/upload/", flaky_network)
    page.set_input_files("input[type=file][name=files]", [str(first), str(second), str(notes), str(archive)])
    page.click("#batch-upload button[type=submit]")
    expect = pytest.importorskip("playwright.sync_api").expect
    summary = page.locator("#upload-summary")
    expect(summary).to_have_text(re.compile(r"^4 of 4 files sent"), timeout=60_000)  # (the page's CSP forbids eval)
    items = page.locator("#upload-files > li")
    assert items.count() == 4
    assert "Added" in items.nth(0).inner_text()
    assert "connection failed" in items.nth(1).inner_text()
    assert "not an image" in items.nth(2).inner_text()
    assert "1 of 2 files in the archive added" in items.nth(3).inner_text()
    assert "inside/readme.txt" in items.nth(3).inner_text()
    assert summary.inner_text() == "4 of 4 files sent · 2 failed"
    assert page.get_attribute("#upload-overall", "value") == page.get_attribute("#upload-overall", "max")
    screenshot(page, "collection-upload-with-failures")
    assert len(posts) == 4 and Submission.objects.count() == 2

    page.click("#upload-retry")
    expect(summary).to_have_text("4 of 4 files sent · 1 failed", timeout=60_000)
    assert len(posts) == 6  # only the two failed files went again
    assert b"first.png" not in posts[4] + posts[5] and b"more.zip" not in posts[4] + posts[5]
    assert "Added" in items.nth(1).inner_text() and "not an image" in items.nth(2).inner_text()
    assert sorted(Submission.objects.values_list("original_filename", flat=True)) == [
        "first.png", "second.jpg", "third.png"]


def test_printable_report_prints_on_a4_without_navigation(sign_in, live_server, submitter, reviewer, site_admin):
    collection = Collection.objects.create(name="Election week", policy="newsroom", created_by=site_admin)
    entries = []
    for i in range(3):
        s = submission_create(user=submitter, data=image_bytes("JPEG", size=(1200, 800), seed=i),
                              original_filename=f"wire-photo-{i}.jpg", collection=collection, enqueue=False)
        entries.append(submission_score(submission_id=s.pk))
    page = sign_in(reviewer)
    page.goto(f"{live_server.url}/submissions/{entries[0].pk}/report")
    page.wait_for_load_state("networkidle")
    assert page.locator("header.site").is_visible() and page.locator(".report-image img").is_visible()
    screenshot(page, "printable-report-screen")
    page.emulate_media(media="print")
    assert not page.locator("header.site").is_visible() and not page.locator("footer.site").is_visible()
    assert not page.locator(".no-print").first.is_visible()
    for selector in (".report-image img", ".report-heatmap img", ".evidence", ".disclaimer", ".report-facts"):
        assert page.locator(selector).is_visible(), selector
    screenshot(page, "printable-report-print")
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)", pdf)
    assert (round(float(box.group(1))), round(float(box.group(2)))) == (595, 842)  # A4 in points
    assert 1 <= len(pages) <= 2

    page.goto(f"{live_server.url}/collections/{collection.pk}/report/")  # still printing
    page.wait_for_load_state("networkidle")
    assert not page.locator("header.site").is_visible() and page.locator(".report-table").is_visible()
    thumbnails = page.locator("img.thumb")
    assert thumbnails.count() == 3
    screenshot(page, "collection-report-print")
