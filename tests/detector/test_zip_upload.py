"""Zip archives of images, through the batch API and the collection upload page: every entry is
judged on its own, and a hostile archive gets a specific 4xx with nothing stored."""

import io
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detector.models import Collection, ImageAsset, Submission
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)
BATCH = "/api/v1/submissions/batch/"


def make_zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """entries: (name, bytes) pairs, or ZipInfo/bytes pairs for hand-made headers."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def post_archive(client, data: bytes, name="entries.zip", **extra):
    return client.post(BATCH, {"archive": SimpleUploadedFile(name, data, "application/zip"), **extra}, format="multipart")


def zip_bomb() -> bytes:
    """A 200 MB entry of zeros that deflates to about 200 KB, written in pieces (never held in memory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("poster.png", "w", force_zip64=True) as entry:
            block = bytes(1024 * 1024)
            for _ in range(200):
                entry.write(block)
    return buffer.getvalue()


def test_zip_of_images_in_folders_is_expanded_entry_by_entry(api_for, submitter, media_files):
    archive = make_zip([
        ("round1/", b""),
        ("round1/sunset.png", image_bytes("PNG", seed=901)),
        ("round1/sketches/cat.jpg", image_bytes("JPEG", seed=902)),
        ("harbour.webp", image_bytes("WEBP", seed=903)),
        ("readme.txt", b"Entries for the spring round, please be kind." * 5),
        ("__MACOSX/round1/._sunset.png", b"\x00\x05\x16\x07" + b"apple double" * 10),
        (".DS_Store", b"\x00\x00\x00\x01Bud1" * 20),
    ])
    response = post_archive(api_for(submitter), archive, note="spring")
    assert response.status_code == 207
    body = response.json()
    assert (body["accepted"], body["refused"]) == (3, 1)
    by_name = {r["name"]: r for r in body["results"]}
    assert set(by_name) == {"round1/sunset.png", "round1/sketches/cat.jpg", "harbour.webp", "readme.txt"}
    assert all(r["archive"] == "entries.zip" for r in body["results"])
    assert by_name["readme.txt"]["error"]["code"] == "not_an_image"
    assert by_name["round1/sketches/cat.jpg"]["submission"]["status"] == "scored"
    assert by_name["round1/sketches/cat.jpg"]["submission"]["original_filename"] == "cat.jpg"
    assert by_name["harbour.webp"]["submission"]["score"]["ai_generated"].startswith("AI-generated: ")
    assert sorted(body["ignored"]) == [".DS_Store", "__MACOSX/round1/._sunset.png"]
    assert Submission.objects.filter(note="spring", status="scored").count() == 3
    assert len(media_files()) == 3


def test_archive_and_loose_files_go_in_one_batch(api_for, submitter):
    client = api_for(submitter)
    loose = SimpleUploadedFile("loose.png", image_bytes("PNG", seed=910))
    archive = SimpleUploadedFile("more.zip", make_zip([("a.png", image_bytes("PNG", seed=911))]))
    response = client.post(BATCH, {"images": [loose], "archive": archive}, format="multipart")
    assert response.status_code == 201
    results = response.json()["results"]
    assert [(r["index"], r["name"], r.get("archive")) for r in results] == [(0, "loose.png", None), (1, "a.png", "more.zip")]


def test_zip_bomb_is_refused_whole_with_413_and_nothing_is_stored(api_for, submitter, media_files):
    bomb = zip_bomb()
    assert len(bomb) < 1_000_000
    archive = make_zip([("fine.png", image_bytes("PNG", seed=920))])
    # The bomb next to a good image: the whole archive is refused, the image too.
    mixed = io.BytesIO(bomb)
    with zipfile.ZipFile(mixed, "a") as z:
        z.writestr("fine.png", image_bytes("PNG", seed=920))
    for data in (bomb, mixed.getvalue()):
        response = post_archive(api_for(submitter), data)
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "archive_bomb"
        assert "zip bomb" in error["message"] and "poster.png" in error["message"]
    assert Submission.objects.count() == 0 and ImageAsset.objects.count() == 0 and media_files() == []
    assert post_archive(api_for(submitter), archive).status_code == 201


def test_archive_expanding_past_the_total_limit_is_refused(api_for, submitter, settings):
    settings.AIORNOT_ZIP_MAX_TOTAL_BYTES = 40_000
    entries = [(f"{i}.bmp", image_bytes("BMP", size=(96, 80), seed=930 + i)) for i in range(3)]  # ~23 KB each
    response = post_archive(api_for(submitter), make_zip(entries))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "archive_too_large"
    assert Submission.objects.count() == 0


def test_archive_with_too_many_files_is_refused(api_for, submitter, settings):
    settings.AIORNOT_ZIP_MAX_FILES = 3
    entries = [(f"{i}.png", image_bytes("PNG", seed=940 + i)) for i in range(4)]
    response = post_archive(api_for(submitter), make_zip(entries))
    assert response.status_code == 413
    body = response.json()["error"]
    assert body["code"] == "archive_too_many_files" and "3" in body["message"]
    assert Submission.objects.count() == 0
    # Folders and macOS metadata do not count towards the limit.
    clutter = entries[:3] + [("__MACOSX/._0.png", b"x" * 50), ("pics/", b""), (".hidden", b"y")]
    assert post_archive(api_for(submitter), make_zip(clutter)).status_code == 201


def test_archive_of_thousands_of_hidden_entries_is_refused(api_for, submitter, settings):
    settings.AIORNOT_ZIP_MAX_FILES = 10
    entries = [(f".meta/{i}", b"") for i in range(200)] + [("a.png", image_bytes("PNG", seed=945))]
    response = post_archive(api_for(submitter), make_zip(entries, zipfile.ZIP_STORED))
    assert response.status_code == 413 and response.json()["error"]["code"] == "archive_too_many_files"


def test_entry_names_are_never_used_as_paths(api_for, submitter, media_files, tmp_path):
    archive = make_zip([
        ("../../etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n" * 4),
        ("../../../../tmp/evil.png", image_bytes("PNG", seed=950)),
        ("/absolute/owned.png", image_bytes("PNG", seed=951)),
        ("..\\..\\windows\\system.png", image_bytes("PNG", seed=952)),
        ("dir/\x07bell\x1b[31m.png", image_bytes("PNG", seed=953)),
    ])
    response = post_archive(api_for(submitter), archive)
    assert response.status_code == 207
    results = response.json()["results"]
    assert results[0]["name"] == "../../etc/passwd" and results[0]["error"]["code"] == "not_an_image"
    filenames = [r["submission"]["original_filename"] for r in results[1:]]
    assert filenames == ["evil.png", "owned.png", "system.png", "bell[31m.png"]
    stored = media_files()
    assert len(stored) == 4
    assert all(p.name == f"{p.stem}.png" and len(p.stem) == 64 for p in stored)  # named by sha256 only
    assert not (tmp_path / "evil.png").exists() and not (tmp_path.parent / "evil.png").exists()
    assert not any(p.name in ("evil.png", "owned.png", "passwd") for p in tmp_path.rglob("*"))


def test_not_a_zip_and_a_broken_zip_get_specific_4xx(api_for, submitter):
    client = api_for(submitter)
    response = post_archive(client, image_bytes("PNG", seed=960), name="photo.zip")
    assert response.status_code == 415 and response.json()["error"]["code"] == "archive_not_zip"
    good = make_zip([("a.png", image_bytes("PNG", seed=961))])
    truncated = good[: len(good) // 2]
    response = post_archive(client, truncated)
    assert response.status_code == 422 and response.json()["error"]["code"] == "archive_corrupt"
    garbage = b"PK\x03\x04" + bytes(range(256)) * 8 + b"PK\x05\x06" + b"\xff" * 18
    response = post_archive(client, garbage)
    assert response.status_code in (413, 422) and response.json()["error"]["code"].startswith("archive_")
    empty = make_zip([("only-a-folder/", b"")])
    response = post_archive(client, empty)
    assert response.status_code == 400 and response.json()["error"]["code"] == "archive_empty"
    assert Submission.objects.count() == 0


def _patch_sizes(data: bytes, name: bytes, new_size: int) -> bytes:
    """Make the local and central headers of entry ``name`` claim ``new_size`` uncompressed bytes."""
    data = bytearray(data)
    local = data.find(b"PK\x03\x04")
    assert data[local + 30 : local + 30 + len(name)] == name
    data[local + 22 : local + 26] = struct.pack("<I", new_size)
    central = data.find(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", new_size)
    return bytes(data)


def test_entry_whose_headers_understate_its_size_never_inflates_past_them(api_for, submitter):
    honest = make_zip([("liar.png", bytes(5_000_000)), ("ok.png", image_bytes("PNG", seed=970))])
    lying = _patch_sizes(honest, b"liar.png", 1000)
    response = post_archive(api_for(submitter), lying)
    assert response.status_code == 207
    results = response.json()["results"]
    assert results[0]["error"]["code"] == "archive_entry_corrupt"
    assert results[1]["submission"]["status"] == "scored"


def _mark_encrypted(data: bytes, name: bytes) -> bytes:
    """Set the 'encrypted' flag of entry ``name`` in its local and central headers."""
    data = bytearray(data)
    for signature, flags_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = data.find(signature)
        while data[at + name_at : at + name_at + len(name)] != name:
            at = data.find(signature, at + 4)
        data[at + flags_at] |= 0x1
    return bytes(data)


def test_oversized_encrypted_and_exotic_entries_are_refused_one_by_one(api_for, submitter, settings):
    settings.AIORNOT_MAX_UPLOAD_BYTES = 60_000
    noisy = image_bytes("BMP", size=(200, 150), seed=980)  # 90 KB, compresses little
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big.bmp", noisy)
        archive.writestr("secret.png", image_bytes("PNG", seed=981))  # marked encrypted below
        archive.writestr("packed.png", image_bytes("PNG", seed=982), compress_type=zipfile.ZIP_BZIP2)
        archive.writestr("nested.zip", make_zip([("x.png", image_bytes("PNG", seed=983))]))
        archive.writestr("good.png", image_bytes("PNG", seed=984))
    response = post_archive(api_for(submitter), _mark_encrypted(buffer.getvalue(), b"secret.png"))
    assert response.status_code == 207
    codes = {r["name"]: (r["error"] or {}).get("code") for r in response.json()["results"]}
    assert codes == {
        "big.bmp": "file_too_large",
        "secret.png": "archive_entry_encrypted",
        "packed.png": "archive_entry_unsupported_compression",
        "nested.zip": "unsupported_format",
        "good.png": None,
    }


def test_only_one_archive_per_batch_request(api_for, submitter):
    one = SimpleUploadedFile("a.zip", make_zip([("a.png", image_bytes("PNG", seed=990))]))
    two = SimpleUploadedFile("b.zip", make_zip([("b.png", image_bytes("PNG", seed=991))]))
    response = api_for(submitter).post(BATCH, {"archive": [one, two]}, format="multipart")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_archive_into_a_closed_collection_is_refused(api_for, submitter, site_admin):
    closed = Collection.objects.create(name="Last year", created_by=site_admin, is_open=False)
    response = post_archive(api_for(submitter), make_zip([("a.png", image_bytes("PNG", seed=995))]), collection=closed.pk)
    assert response.status_code == 409 and response.json()["error"]["code"] == "collection_closed"
    assert Submission.objects.count() == 0


# --- The collection upload page ------------------------------------------------------------------


@pytest.fixture
def contest(site_admin):
    return Collection.objects.create(name="Spring round", policy="art_contest", created_by=site_admin)


def test_zip_bomb_on_the_upload_page_gets_413_never_500(web, submitter, contest):
    client = web.login_as(submitter)
    url = reverse("collection-upload", args=[contest.pk])
    bomb = SimpleUploadedFile("entries.zip", zip_bomb())
    response = client.post(url, {"files": [bomb]}, HTTP_ACCEPT="application/json")
    assert response.status_code == 413
    result = response.json()["results"][0]
    assert result["error"]["code"] == "archive_bomb" and result["archive"] == "entries.zip"
    page = client.post(url, {"files": [SimpleUploadedFile("entries.zip", zip_bomb())]})
    assert page.status_code == 413 and "zip bomb" in page.content.decode()
    assert Submission.objects.count() == 0


def test_zip_on_the_upload_page_reports_every_entry_and_skips_repeats(web, submitter, contest):
    client = web.login_as(submitter)
    url = reverse("collection-upload", args=[contest.pk])
    same = image_bytes("PNG", seed=1001)
    archive = make_zip([("a/one.png", same), ("a/copy-of-one.png", same), ("notes.txt", b"hello there " * 20),
                        ("__MACOSX/a/._one.png", b"meta")])
    response = client.post(url, {"files": [SimpleUploadedFile("round.zip", archive)]}, HTTP_ACCEPT="application/json")
    assert response.status_code == 207
    body = response.json()
    assert [(r["name"], r["ok"], r["already_submitted"]) for r in body["results"]] == [
        ("a/one.png", True, False), ("a/copy-of-one.png", True, True), ("notes.txt", False, False)]
    assert body["ignored"] == ["round.zip: __MACOSX/a/._one.png"]
    assert Submission.objects.filter(collection=contest).count() == 1
