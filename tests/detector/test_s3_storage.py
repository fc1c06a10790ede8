"""Images go to S3-compatible storage through django-storages when it is configured.

A real S3 API server (moto in server mode) runs on loopback for the test.
"""

import socket
import subprocess
import sys
import time

import boto3
import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from detector.models import Submission

pytestmark = pytest.mark.django_db(transaction=True)
BUCKET = "aiornot-test-images"


@pytest.fixture(scope="module")
def s3_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto S3 server did not start")
            time.sleep(0.2)
    yield endpoint
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def s3_storage(s3_server, settings):
    client = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_submission_is_stored_in_s3_scored_and_served_privately(s3_storage, web, submitter, other_submitter, png):
    assert type(storages["default"]).__name__ == "S3Storage"
    data = png(seed=808)
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("s3.png", data)})
    submission = Submission.objects.get()
    assert submission.status == "scored"

    keys = sorted(o["Key"] for o in s3_storage.list_objects_v2(Bucket=BUCKET)["Contents"])
    heatmap_key = submission.classifier_evidence.raw["heatmap"]
    assert keys == sorted([submission.asset.file.name, heatmap_key])
    keys = [submission.asset.file.name]
    assert s3_storage.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read() == data
    grants = s3_storage.get_object_acl(Bucket=BUCKET, Key=keys[0])["Grants"]
    assert not any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)

    image = client.get(reverse("submission-image", args=[submission.pk]))
    assert image.status_code == 200 and b"".join(image.streaming_content) == data
    heatmap = client.get(reverse("submission-heatmap", args=[submission.pk]))
    assert heatmap.status_code == 200 and b"".join(heatmap.streaming_content).startswith(b"\x89PNG")
    assert web.login_as(other_submitter).get(reverse("submission-image", args=[submission.pk])).status_code == 404

    # Identical bytes again: no new object in the bucket, the earlier result reused.
    web.login_as(other_submitter).post(reverse("submit"), {"image": SimpleUploadedFile("again.png", data)})
    assert len(s3_storage.list_objects_v2(Bucket=BUCKET)["Contents"]) == 2
    assert Submission.objects.order_by("-id").first().reused_earlier_result
