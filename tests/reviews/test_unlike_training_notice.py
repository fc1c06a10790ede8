"""The case page says when an image is unlike anything the model was trained on."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from detector.models import ImageFingerprint
from detector.novelty import asset_novelty, training_embeddings_load
from detector.scoring import active_detector
from detector.services import submission_create
from reviews.services import case_claim_next

from ..images import image_bytes
from tests.images import write_manifest_folder as _write_folder

pytestmark = pytest.mark.django_db(transaction=True)
NOTICE = "unlike anything the model was trained on"


def test_the_command_embeds_the_training_data_with_the_active_model(settings, tmp_path):
    base = _write_folder(tmp_path / "base", {"a": (3, 2, "photo"), "b": (2, 0, "painting")})
    out = tmp_path / "training-embeddings.npz"
    stdout = io.StringIO()
    call_command("index_training_embeddings", str(base), "--out", str(out), stdout=stdout)
    vectors, version = training_embeddings_load(out)
    assert vectors.shape[0] == 7 and "Wrote 7 training embedding(s)" in stdout.getvalue()
    assert version == active_detector().embedding_version
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_case_page_flags_an_image_far_from_every_training_image(settings, web, submitter, reviewer, tmp_path):
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    settings.AIORNOT_HEATMAPS = False
    settings.AIORNOT_NOVEL_SIMILARITY = 0.5
    submission = submission_create(user=submitter, data=image_bytes("PNG", size=(96, 96), seed=31))
    fingerprint = ImageFingerprint.objects.get(asset_id=submission.asset_id)
    dim = np.frombuffer(bytes(fingerprint.embedding), dtype=np.float16).shape[0]
    training = np.eye(dim, dtype=np.float32)[:4]  # four training images along the first axes
    settings.AIORNOT_TRAINING_EMBEDDINGS = tmp_path / "training.npz"
    np.savez(settings.AIORNOT_TRAINING_EMBEDDINGS, vectors=training.astype(np.float16),
             embedding_version=np.array(fingerprint.embedding_model))
    case = case_claim_next(reviewer=reviewer)
    client = web.login_as(reviewer)

    def show(vector):
        ImageFingerprint.objects.filter(pk=fingerprint.pk).update(embedding=np.asarray(vector, np.float16).tobytes())
        return client.get(reverse("review-case", args=[case.pk])).content.decode()

    far = np.zeros(dim)
    far[-1] = 1.0  # orthogonal to every training vector
    assert NOTICE in show(far)
    assert asset_novelty(case.asset).nearest_similarity == pytest.approx(0.0, abs=1e-3)
    near = training[2] + 0.1 * far
    assert NOTICE not in show(near)
    assert asset_novelty(case.asset).nearest_similarity > 0.99
    settings.AIORNOT_TRAINING_EMBEDDINGS = tmp_path / "absent.npz"  # no index: nothing is claimed
    assert NOTICE not in show(far) and asset_novelty(case.asset) is None
