"""The probe's whole view: the picture shrunk to one crop, read by the head beside the native crops."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.images import write_manifest_folder

from detector.ml.multilevel import MULTILEVEL_ARCH, NUM_FEATURES
from detector.ml.npr import NPR_ARCH
from detector.ml.preprocessing import WHOLE_VIEW_MAX_ASPECT, Preprocessing, whole_view_image

SIZE = 64
# (real, AI, kind of real image) per source: two sources with both classes, one of each class alone.
FOUR_SOURCES = {"a": (5, 5, "photo"), "b": (5, 5, "painting"), "c": (5, 0, "photo"), "d": (0, 5, "photo")}


def _framed(width, height, centre=(0, 0, 255), edge=(255, 0, 0)) -> Image.Image:
    """Red left and right margins around a blue centre square."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:] = edge
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    pixels[top:top + side, left:left + side] = centre
    return Image.fromarray(pixels)


def test_the_whole_view_is_the_centre_square_of_the_picture_shrunk_to_one_crop():
    preprocessing = Preprocessing(input_size=SIZE, whole_view=True)
    view = np.asarray(whole_view_image(_framed(400, 200), preprocessing))
    assert view.shape == (SIZE, SIZE, 3)
    assert (view[4:-4, 4:-4] == (0, 0, 255)).all(), "the centre square fills the view; the margins are cut"
    small = whole_view_image(_framed(30, 20), preprocessing)
    assert small.size == (SIZE, SIZE), "a small picture is enlarged to one crop"
    strip = whole_view_image(Image.new("RGB", (20_000, 50), (10, 200, 30)), preprocessing)
    assert strip.size == (SIZE, SIZE) and np.asarray(strip)[SIZE // 2, SIZE // 2].tolist() == [10, 200, 30]
    assert WHOLE_VIEW_MAX_ASPECT == 4
    rgba = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    assert (np.asarray(whole_view_image(rgba, preprocessing)) == 255).all(), "transparency on white, as the crops"


def test_the_whole_view_setting_is_stored_only_when_set_and_a_malformed_one_is_refused():
    assert "whole_view" not in Preprocessing().to_dict(), "older checkpoints' preprocessing stays as it was"
    stored = Preprocessing(whole_view=True).to_dict()
    assert stored["whole_view"] is True and Preprocessing.from_dict(stored).whole_view is True
    assert Preprocessing.from_dict(Preprocessing().to_dict()).whole_view is False
    with pytest.raises(ValueError, match="whole_view must be true or false"):
        Preprocessing.from_dict({**stored, "whole_view": "yes"})


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """A multi-level probe with a whole view, trained by train_probe_detector on real files."""
    from detector.ml.out_of_source import train_probe_detector

    root = tmp_path_factory.mktemp("whole")
    data = write_manifest_folder(root / "data", FOUR_SOURCES)
    output = root / "probe.pt"
    train_probe_detector([data], output, folds=2, max_per_source=None, input_size=SIZE, max_tiles=1,
                         cache_dir=root / "cache", train_variants=("original",), arch=MULTILEVEL_ARCH, whole_view=True,
                         log=lambda *_: None)
    return SimpleNamespace(root=root, data=data, output=output)


def test_a_whole_view_probe_stores_both_halves_of_its_head_and_says_so(probe):
    from detector.ml.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(probe.output)
    assert checkpoint.state_dict["classifier.weight"].shape == (1, NUM_FEATURES)
    assert checkpoint.state_dict["whole_classifier.weight"].shape == (1, NUM_FEATURES)
    assert checkpoint.preprocessing["whole_view"] is True and checkpoint.training_args["whole_view"] is True
    assert "whole picture" in checkpoint.metrics["features"]
    # The crops' vectors share their cache with models without a whole view; the views have their own.
    crops = list((probe.root / "cache" / "lite0-multilevel" / "original").glob("*.npy"))
    views = list((probe.root / "cache" / "lite0-multilevel-whole224" / "original").glob("*.npy"))
    assert len(crops) == len(views) == 30 and np.load(views[0]).shape == (NUM_FEATURES,)


def test_the_app_scores_a_whole_view_probe_with_the_features_it_was_trained_on(probe):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector
    from detector.ml.probe import FeatureExtractor

    checkpoint = read_checkpoint(probe.output)
    detector = load_detector(probe.output)
    image = Image.fromarray(np.random.default_rng(4).integers(0, 256, (90, 150, 3), dtype=np.uint8))
    features = FeatureExtractor(detector.model, detector.preprocessing).features_of_image(image)
    assert features.shape == (2 * NUM_FEATURES,)
    weight = torch.cat([checkpoint.state_dict["classifier.weight"], checkpoint.state_dict["whole_classifier.weight"]], 1)
    expected = float(weight[0].double() @ torch.from_numpy(features).double()) + float(checkpoint.state_dict["classifier.bias"])
    assert detector.score(image).logit == pytest.approx(expected, abs=1e-3)
    assert load_detector(probe.output, optimize="torchscript").score(image).logit == pytest.approx(expected, abs=1e-3)
    parts = detector.part_logits([image])[0]
    assert parts.probe == pytest.approx(expected, abs=1e-3) and parts.npr is None, "no NPR part: the probe's logit is all"
    brighter = Image.fromarray(np.full((80, 96, 3), 170, dtype=np.uint8))
    darker = Image.fromarray(np.full((80, 96, 3), 70, dtype=np.uint8))
    assert detector.score(brighter).p_ai > detector.score(darker).p_ai, "the fixture's AI images are the brighter ones"


def test_heatmap_and_similarity_still_work_with_a_whole_view(probe):
    from detector.ml.explain import heatmap
    from detector.ml.inference import load_detector

    detector = load_detector(probe.output)
    image = Image.fromarray(np.random.default_rng(6).integers(0, 256, (90, 150, 3), dtype=np.uint8))
    assert heatmap(detector, image).grid.shape[0] > 0
    assert detector.embed_batch([image]).shape == (1, 1280)


@pytest.mark.django_db(transaction=True)
def test_a_whole_view_score_is_recorded_and_its_heatmap_legend_says_the_whole_view_has_no_map(probe, settings, web, submitter, png):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from detector.models import Submission

    settings.AIORNOT_DETECTOR_CHECKPOINT = probe.output
    settings.AIORNOT_LIKELY_HUMAN_THRESHOLD, settings.AIORNOT_LIKELY_AI_THRESHOLD = 0.0, 1e-12
    client = web.login_as(submitter)
    client.post(reverse("submit"), {"image": SimpleUploadedFile("w.png", png(seed=34, size=(300, 200)))})
    submission = Submission.objects.get()
    assert submission.classifier_evidence.raw["whole_view"] is True
    page = client.get(reverse("submission-detail", args=[submission.pk])).content.decode()
    assert "the look at the whole picture at once has no map" in page and "pixel-trace" not in page


def test_a_checkpoint_whose_preprocessing_and_weights_disagree_about_the_whole_view_is_refused(probe, tmp_path):
    from detector.ml.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
    from detector.ml.inference import load_detector

    checkpoint = read_checkpoint(probe.output)
    del checkpoint.preprocessing["whole_view"]
    path = tmp_path / "mismatch.pt"
    save_checkpoint(checkpoint, path)
    with pytest.raises(CheckpointError, match="has no whole view, but its weights have"):
        load_detector(path)


def _retrained(trained, settings, tmp_path):
    """(parent, child) checkpoints: `trained` retrained as the app retrains a probe, on a few reviewer labels."""
    from detector.ml.checkpoint import read_checkpoint
    from registry.retraining import _retrain_probe

    settings.AIORNOT_FEATURE_CACHE_DIR = str(trained.root / "cache")
    parent = read_checkpoint(trained.output)
    labels = write_manifest_folder(tmp_path / "labels", {"reviewed": (3, 3, "photo")}, seed=9)
    active = SimpleNamespace(version=parent.model_version, arch=MULTILEVEL_ARCH)
    output = tmp_path / "candidate.pt"
    _retrain_probe([trained.data, labels], output, parent.training_args, active, trained.output, None, 0, lambda *_: None)
    return parent, read_checkpoint(output), output


def test_a_retrain_keeps_the_parents_whole_view(probe, settings, tmp_path):
    from detector.ml.inference import load_detector

    parent, child, output = _retrained(probe, settings, tmp_path)
    assert child.preprocessing["whole_view"] is True and "whole_classifier.weight" in child.state_dict
    assert child.training_args["parent_version"] == parent.model_version
    assert load_detector(output).preprocessing.whole_view


def test_npr_members_kept_under_a_new_whole_view_probe(tmp_path):
    """The shipped recipe: a whole-view probe fitted again, mixed with NPR members kept from a checkpoint."""
    from django.core.management import call_command

    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector

    data = write_manifest_folder(tmp_path / "data", {"a": (4, 4, "photo"), "b": (4, 4, "painting"), "c": (4, 4, "photo")})
    common = ["--method", "probe", "--arch", NPR_ARCH, "--folds", "2", "--input-size", str(SIZE),
              "--train-variants", "original", "--cache-dir", str(tmp_path / "cache")]
    first = tmp_path / "npr.pt"
    call_command("train_detector", str(data), "--output", str(first), *common, "--npr-epochs", "1", "--npr-draws", "128",
                 stdout=open(tmp_path / "log1.txt", "w"))
    output = tmp_path / "whole.pt"
    call_command("train_detector", str(data), "--output", str(output), *common, "--keep-npr-from", str(first), "--whole-view",
                 stdout=open(tmp_path / "log2.txt", "w"))
    parent, child = read_checkpoint(first), read_checkpoint(output)
    assert child.preprocessing["whole_view"] is True and "whole_classifier.weight" in child.state_dict
    for key, value in parent.state_dict.items():
        if key.startswith("npr."):
            assert torch.equal(value, child.state_dict[key]), "the NPR members are kept"
    detector = load_detector(output)
    assert 0.0 <= detector.score(Image.new("RGB", (120, 90), (30, 60, 90))).p_ai <= 1.0


# (flag, the protocol's record of it, the cache folder of its extra features): options of the multi-level models only.
MULTILEVEL_OPTIONS = [("--whole-view", "whole_view", "lite0-multilevel-whole224"),
                      ("--channel-correlations", "channel_correlations", "lite0-multilevel-corr")]


@pytest.mark.parametrize("flag", [option[0] for option in MULTILEVEL_OPTIONS])
def test_train_detector_refuses_a_multilevel_option_for_an_arch_without_it(tmp_path, flag):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=f"{flag} applies only to"):
        call_command("train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe",
                     "--arch", "efficientnet_lite0", flag)


@pytest.mark.parametrize("flag,protocol_key,cache_folder", MULTILEVEL_OPTIONS)
def test_evaluate_detector_runs_the_out_of_source_protocol_with_a_multilevel_option(tmp_path, flag, protocol_key,
                                                                                   cache_folder):
    import json

    from django.core.management import CommandError, call_command

    data = write_manifest_folder(tmp_path / "data", {"a": (4, 4, "photo"), "b": (4, 0, "painting"), "c": (0, 4, "photo")})
    out = tmp_path / "report"
    call_command("evaluate_detector", str(data), "--out", str(out), "--out-of-source", "2", "--cache-dir",
                 str(tmp_path / "c"), "--arch", MULTILEVEL_ARCH, "--train-variants", "original", flag,
                 stdout=open(tmp_path / "log.txt", "w"))
    report = json.loads((out / "out-of-source.json").read_text())
    assert report["protocol"][protocol_key] is True
    assert len(list((tmp_path / "c" / cache_folder / "original").glob("*.npy"))) == 16
    with pytest.raises(CommandError, match=f"{flag} applies only to"):
        call_command("evaluate_detector", str(data), "--out", str(tmp_path / "r2"), "--out-of-source", "2",
                     flag, stdout=open(tmp_path / "log2.txt", "w"))


# --- the mirrored whole view (Preprocessing.whole_view_mirrored) ------------------------------


def test_the_mirrored_whole_view_setting_is_stored_only_when_set_and_needs_a_whole_view():
    assert "whole_view_mirrored" not in Preprocessing(whole_view=True).to_dict(), "the shipped checkpoints' dicts stay"
    stored = Preprocessing(whole_view=True, whole_view_mirrored=True).to_dict()
    assert stored["whole_view_mirrored"] is True and Preprocessing.from_dict(stored).whole_view_mirrored is True
    with pytest.raises(ValueError, match="whole_view_mirrored needs whole_view"):
        Preprocessing.from_dict({**stored, "whole_view": False})
    with pytest.raises(ValueError, match="whole_view_mirrored must be true or false"):
        Preprocessing.from_dict({**stored, "whole_view_mirrored": 1})


@pytest.fixture(scope="module")
def mirrored_probe(tmp_path_factory):
    """A whole-view probe whose whole view is averaged with its mirror image, trained by train_detector."""
    from django.core.management import call_command

    root = tmp_path_factory.mktemp("mirrored")
    data = write_manifest_folder(root / "data", FOUR_SOURCES)
    output = root / "mirrored.pt"
    call_command("train_detector", str(data), "--output", str(output), "--method", "probe", "--arch", MULTILEVEL_ARCH,
                 "--folds", "2", "--input-size", str(SIZE), "--train-variants", "original", "--cache-dir",
                 str(root / "cache"), "--whole-view", "--mirror-whole-view", stdout=open(root / "log.txt", "w"))
    return SimpleNamespace(root=root, data=data, output=output)


def _asymmetric(seed: int) -> Image.Image:
    """A square picture whose left and right halves differ (so its mirror image is another picture)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    pixels[:, :48] //= 4
    return Image.fromarray(pixels)


def test_a_mirrored_whole_view_gives_a_picture_and_its_mirror_image_the_same_whole_view_share(mirrored_probe):
    from PIL import ImageOps

    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector

    checkpoint = read_checkpoint(mirrored_probe.output)
    assert checkpoint.preprocessing["whole_view_mirrored"] is True
    assert checkpoint.training_args["whole_view_mirrored"] is True and "mirror image" in checkpoint.metrics["features"]
    detector = load_detector(mirrored_probe.output)
    image = _asymmetric(8)
    whole, mirrored = detector._whole_logits([image, ImageOps.mirror(image)])
    assert whole == pytest.approx(mirrored, abs=1e-4)
    plain = load_detector(mirrored_probe.output)
    plain.preprocessing = Preprocessing(input_size=SIZE, max_tiles=5, whole_view=True)
    one, other = plain._whole_logits([image, ImageOps.mirror(image)])
    assert abs(one - other) > 1e-3, "without the mirror the two pictures' whole views differ (the test can fail)"


def test_the_app_scores_a_mirrored_whole_view_probe_with_the_features_it_was_trained_on(mirrored_probe):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector
    from detector.ml.probe import FeatureExtractor

    checkpoint = read_checkpoint(mirrored_probe.output)
    detector = load_detector(mirrored_probe.output)
    image = _asymmetric(9)
    features = FeatureExtractor(detector.model, detector.preprocessing).features_of_image(image)
    assert features.shape == (2 * NUM_FEATURES,)
    weight = torch.cat([checkpoint.state_dict["classifier.weight"], checkpoint.state_dict["whole_classifier.weight"]], 1)
    expected = float(weight[0].double() @ torch.from_numpy(features).double()) + float(checkpoint.state_dict["classifier.bias"])
    assert detector.score(image).logit == pytest.approx(expected, abs=1e-3)
    # Training cached the two whole views apart, so a model without the mirror reuses the unmirrored vectors.
    flipped = list((mirrored_probe.root / "cache" / "lite0-multilevel-wholeflip224" / "original").glob("*.npy"))
    assert len(flipped) == 30


def test_a_retrain_keeps_the_parents_mirrored_whole_view(mirrored_probe, settings, tmp_path):
    _parent, child, _output = _retrained(mirrored_probe, settings, tmp_path)
    assert child.preprocessing["whole_view_mirrored"] is True and child.training_args["whole_view_mirrored"] is True


def test_train_detector_refuses_a_mirrored_whole_view_without_a_whole_view(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--mirror-whole-view needs --whole-view"):
        call_command("train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe",
                     "--arch", MULTILEVEL_ARCH, "--mirror-whole-view")
