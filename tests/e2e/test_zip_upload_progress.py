"""A zip archive sent from a collection's upload page in a real Chromium (issue 15): the bar used
to sit at 0 until the server answered. Now it moves with the bytes sent, and once the archive is
up the file's line counts the entries the server has added so far. The upload is throttled in the
browser so the archive takes seconds to send."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from detector.models import Collection, Submission

from .test_workspace import open_page  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

RECORD = """() => { window.seen = []; window.setInterval(() => {
  const bar = document.getElementById('upload-overall');
  window.seen.push({value: bar.value, max: bar.max, line: document.getElementById('upload-files').innerText});
}, 50); }"""


def archive(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for i in range(count):
            from PIL import Image

            image = Image.frombytes("RGB", (300, 300), os.urandom(300 * 300 * 3))  # incompressible
            data = io.BytesIO()
            image.save(data, format="PNG")
            zf.writestr(f"photos/entry-{i}.png", data.getvalue())
    return buffer.getvalue()


def test_zip_upload_shows_byte_progress_then_entries_added(submitter, site_admin, open_page, tmp_path):  # noqa: F811
    collection = Collection.objects.create(name="Desk photos", policy="newsroom", created_by=site_admin)
    path = tmp_path / "photos.zip"
    path.write_bytes(archive(6))  # about 1.6 MB
    page = open_page(submitter, f"/collections/{collection.pk}/upload/")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions",
             {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 500_000})
    page.evaluate(RECORD)
    page.set_input_files("#batch-upload input[type=file]", str(path))
    page.click("#batch-upload button[type=submit]")
    page.wait_for_selector("#upload-files li.upload-ok", timeout=60_000)

    seen = page.evaluate("window.seen")
    while_sending = [s for s in seen if 0 < s["value"] < s["max"]]
    assert while_sending, "the bar never moved before the server answered"
    assert len({s["value"] for s in while_sending}) >= 2, "the bar jumped instead of following the bytes"
    assert any("% uploaded" in s["line"] for s in seen)
    assert any("entries added so far" in s["line"] for s in seen)
    assert "6 of 6 files in the archive added" in page.inner_text("#upload-files")
    assert Submission.objects.filter(collection=collection, submitted_by=submitter).count() == 6
