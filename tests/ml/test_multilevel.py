"""efficientnet_lite0_multilevel: a linear head on lite0's stage statistics and final pooled feature."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.images import write_manifest_folder

from detector.ml.architectures import UnknownArchitectureError, check_arch, create_model, is_known_arch, pre_logits
from detector.ml.multilevel import (
    FEATURE_CACHE_TAG,
    FINAL_FEATURES,
    MULTILEVEL_ARCH,
    NUM_FEATURES,
    STAGE_CHANNELS,
    MultiLevelLite0,
    feature_layout,
)

SIZE = 64


@pytest.fixture(scope="module")
def pretrained_model():
    return create_model(MULTILEVEL_ARCH, pretrained=True).eval()


def _batch(n=2, size=SIZE, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator)


def test_the_arch_is_known_and_has_offline_weights():
    assert is_known_arch(MULTILEVEL_ARCH) and not is_known_arch("efficientnet_lite0_multilevels")
    check_arch(MULTILEVEL_ARCH, pretrained=True)
    with pytest.raises(UnknownArchitectureError, match="Did you mean efficientnet_lite0_multilevel"):
        create_model("efficientnet_lite0_multilevels")


def test_forward_gives_one_logit_and_features_are_2848(pretrained_model):
    assert NUM_FEATURES == 2 * (16 + 24 + 40 + 80 + 112 + 192 + 320) + 1280 == 2848
    head = pretrained_model.get_classifier()
    assert isinstance(head, torch.nn.Linear) and (head.in_features, head.out_features) == (2848, 1)
    x = _batch(3)
    with torch.inference_mode():
        assert pretrained_model(x).shape == (3, 1)
        features = pre_logits(pretrained_model, x)
        assert features.shape == (3, 2848)
        assert torch.allclose(pretrained_model(x), head(features), atol=1e-5)


def test_feature_vector_is_stage_means_and_stds_then_the_final_pooled_feature(pretrained_model):
    """Recomputed by hand from the backbone, in the order [mean0, std0, ..., mean6, std6, final]."""
    m = pretrained_model.backbone
    x = _batch(2, seed=1)
    with torch.inference_mode():
        features = pretrained_model.forward_features(x)
        h = m.bn1(m.conv_stem(x))
        expected = []
        for stage in m.blocks:
            h = stage(h)
            expected += [h.mean((2, 3)), h.std((2, 3))]
        h = m.bn2(m.conv_head(h))
        expected.append(h.mean((2, 3)))
    layout = feature_layout()
    assert [name for name, _, _ in layout] == [f"{s}{i}" for i in range(7) for s in ("mean", "std")] + ["final"]
    assert [stop - start for _, start, stop in layout] == [c for c in STAGE_CHANNELS for _ in (0, 1)] + [1280]
    assert layout[-1][2] == NUM_FEATURES
    for (name, start, stop), part in zip(layout, expected):
        assert torch.allclose(features[:, start:stop], part, atol=1e-5), name
    # The final part is exactly what the plain lite0 probe sees.
    plain = create_model("efficientnet_lite0", pretrained=True).eval()
    with torch.inference_mode():
        assert torch.allclose(features[:, -1280:], pre_logits(plain, x), atol=1e-5)


def test_pretrained_backbone_holds_the_shipped_weights_every_shape_checked(pretrained_model):
    from detector.ml.pretrained import LITE0_TENSOR_COUNT, load_lite0_source_state_dict, map_lite0_state_dict

    source = load_lite0_source_state_dict()
    state = pretrained_model.state_dict()
    backbone = {k: v for k, v in state.items() if k.startswith("backbone.")}
    assert sorted(set(state) - set(backbone)) == ["classifier.bias", "classifier.weight"]
    mapped = map_lite0_state_dict(source, pretrained_model.backbone.state_dict())
    assert len(mapped) == LITE0_TENSOR_COUNT == len(backbone)
    for name, tensor in mapped.items():
        assert tensor.shape == state[f"backbone.{name}"].shape
        assert torch.equal(state[f"backbone.{name}"], tensor), name
    assert torch.equal(state["backbone.blocks.6.0.conv_pw.weight"], source["_blocks.15._expand_conv.weight"])


def test_a_misshapen_weights_file_is_refused(tmp_path):
    from detector.ml.multilevel import create_multilevel
    from detector.ml.pretrained import PretrainedWeightsError, load_lite0_pretrained, load_lite0_source_state_dict

    broken = dict(load_lite0_source_state_dict())
    broken["_blocks.3._depthwise_conv.weight"] = torch.zeros(7, 1, 3, 3)
    path = tmp_path / "broken.pth"
    torch.save(broken, path)
    model = create_multilevel(pretrained=False)
    with pytest.raises(PretrainedWeightsError, match="shape mismatch"):
        load_lite0_pretrained(model.backbone, path)


def _tiny_probe_checkpoint(path, model):
    from detector.ml.checkpoint import DetectorCheckpoint, save_checkpoint
    from detector.ml.preprocessing import Preprocessing

    save_checkpoint(
        DetectorCheckpoint(
            arch=MULTILEVEL_ARCH, state_dict=model.state_dict(),
            preprocessing=Preprocessing(input_size=SIZE, max_tiles=2).to_dict(),
            model_version="efficientnet_lite0_multilevel-test-00000000", thresholds={"likely_ai": 0.8, "likely_human": 0.2},
        ),
        path,
    )
    return path


@pytest.fixture(scope="module")
def tiny_probe(tmp_path_factory, pretrained_model):
    """A multilevel probe whose head weighs the first stage's mean (brighter -> more AI)."""
    from detector.ml.probe import LinearHead, head_state_dict

    weight = np.zeros(NUM_FEATURES)
    weight[:16] = 1.0
    model = create_model(MULTILEVEL_ARCH, pretrained=True).eval()
    model.load_state_dict(head_state_dict(model, LinearHead(weight, -0.5)))
    return _tiny_probe_checkpoint(tmp_path_factory.mktemp("multilevel") / "probe.pt", model)


def _image(value, seed=0, size=(96, 80)):
    rng = np.random.default_rng(seed)
    pixels = np.clip(rng.normal(value, 20, size=(size[1], size[0], 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def test_checkpoint_round_trip_and_scoring(tiny_probe):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import Detector, clear_detector_cache, load_detector

    checkpoint = read_checkpoint(tiny_probe)
    assert checkpoint.arch == MULTILEVEL_ARCH
    assert checkpoint.state_dict["classifier.weight"].shape == (1, NUM_FEATURES)
    clear_detector_cache()
    detector = load_detector(tiny_probe)
    assert isinstance(detector.model, MultiLevelLite0) and detector.arch == MULTILEVEL_ARCH
    image = _image(120)
    score = detector.score(image)
    assert score.tiles == 2 and 0.0 <= score.p_ai <= 1.0
    # The crops' logits averaged = the head on the crops' mean feature (what the probe is fitted on).
    from detector.ml.preprocessing import extract_tiles, to_tensor

    tiles = to_tensor(extract_tiles(image, detector.preprocessing).images, detector.preprocessing)
    with torch.inference_mode():
        mean_feature = pre_logits(detector.model, tiles).mean(0)
        head = detector.model.get_classifier()
        assert float(head(mean_feature)) == pytest.approx(score.logit, abs=1e-4)
    # TorchScript scoring agrees with the eager model.
    scripted = Detector(checkpoint, optimize="torchscript")
    assert scripted.optimize == "torchscript"
    assert scripted.score(image).logit == pytest.approx(score.logit, abs=1e-3)
    # Embeddings for similarity / novelty: the unit-length final pooled 1280-d part of the vector.
    embedded = detector.embed_batch([image, _image(60, seed=1)])
    assert embedded.shape == (2, FINAL_FEATURES) and embedded.dtype == np.float32
    assert np.allclose(np.linalg.norm(embedded, axis=1), 1.0, atol=1e-5)
    assert detector.embedding_version.endswith("/global-224-final")


def test_a_lite0_state_dict_does_not_load_as_multilevel(tmp_path):
    from detector.ml.checkpoint import CheckpointError, DetectorCheckpoint, read_checkpoint, save_checkpoint
    from detector.ml.inference import Detector
    from detector.ml.preprocessing import Preprocessing

    plain = create_model("efficientnet_lite0")
    path = tmp_path / "mislabelled.pt"
    save_checkpoint(DetectorCheckpoint(arch=MULTILEVEL_ARCH, state_dict=plain.state_dict(),
                                       preprocessing=Preprocessing(input_size=SIZE).to_dict(), model_version="x"), path)
    with pytest.raises(CheckpointError, match="does not match"):
        Detector(read_checkpoint(path))


def test_heatmap_runs_and_explains_the_final_features_part_of_the_logit(tiny_probe):
    from detector.ml.explain import heatmap
    from detector.ml.inference import load_detector

    detector = load_detector(tiny_probe)
    with torch.no_grad():  # a head that also looks at the final features, so the map is not empty
        detector.model.get_classifier().weight[0, -1280:] = 0.01
    try:
        image = _image(130, seed=3, size=(SIZE, SIZE))
        result = heatmap(detector, image)
        assert result.crops == 1 and result.grid.shape == (SIZE, SIZE)
        assert result.grid.min() >= 0.0 and result.grid.max() <= 1.0
        # Its mean is the logit minus the bias and minus the stage statistics' term.
        from detector.ml.preprocessing import to_tensor

        head = detector.model.get_classifier()
        with torch.inference_mode():
            _, stats = detector.model.forward_cam_features(to_tensor([image], detector.preprocessing))
            stage_term = float(stats[0] @ head.weight[0, : NUM_FEATURES - 1280])
        expected = detector.score(image).logit - float(head.bias.detach()) - stage_term
        assert float(result.raw.mean()) == pytest.approx(expected, abs=1e-3)
        assert result.peak > 0
        big = heatmap(detector, _image(130, seed=4, size=(150, 90)))
        assert big.covered.all() and big.crops > 1
    finally:
        with torch.no_grad():
            detector.model.get_classifier().weight[0, -1280:] = 0.0


def test_probe_training_with_the_multilevel_arch(tmp_path):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector
    from detector.ml.out_of_source import train_probe_detector

    data = write_manifest_folder(tmp_path / "data", {
        "a": (5, 5, "photo"), "b": (5, 5, "painting"), "c": (5, 0, "photo"), "d": (0, 5, "photo"),
    })
    output = tmp_path / "probe.pt"
    cache = tmp_path / "cache"
    result = train_probe_detector([data], output, folds=2, max_per_source=None, input_size=SIZE, max_tiles=1,
                                  cache_dir=cache, train_variants=("original",), arch=MULTILEVEL_ARCH,
                                  log=lambda *_: None)
    checkpoint = read_checkpoint(output)
    assert checkpoint.arch == MULTILEVEL_ARCH
    assert checkpoint.training_args["method"] == "probe" and checkpoint.training_args["arch"] == MULTILEVEL_ARCH
    assert result.model_version.startswith(f"{MULTILEVEL_ARCH}-probe-")
    assert checkpoint.state_dict["classifier.weight"].shape == (1, NUM_FEATURES)
    # Features are cached per arch, under the tag the experiment's cache used.
    cached = list((cache / FEATURE_CACHE_TAG / "original").glob("*.npy"))
    assert len(cached) == 30 and np.load(cached[0]).shape == (NUM_FEATURES,)
    assert not (cache / "efficientnet_lite0-imagenet").exists()
    detector = load_detector(output)
    assert detector.score(_image(160)).p_ai > detector.score(_image(80)).p_ai
    assert json.dumps(checkpoint.metrics)


def test_evaluate_detector_out_of_source_with_the_multilevel_arch(tmp_path):
    from django.core.management import call_command

    data = write_manifest_folder(tmp_path / "data", {"a": (4, 4, "photo"), "b": (4, 0, "painting"), "c": (0, 4, "photo")})
    out = tmp_path / "report"
    call_command("evaluate_detector", str(data), "--out", str(out), "--out-of-source", "2", "--cache-dir",
                 str(tmp_path / "c"), "--arch", MULTILEVEL_ARCH, "--train-variants", "original",
                 stdout=open(tmp_path / "log.txt", "w"))
    report = json.loads((out / "out-of-source.json").read_text())
    assert report["protocol"]["arch"] == MULTILEVEL_ARCH
    assert (tmp_path / "c" / FEATURE_CACHE_TAG / "original").is_dir()


def test_train_detector_probe_refuses_an_arch_without_offline_weights(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="No offline pretrained weights"):
        call_command("train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe",
                     "--arch", "resnet10t")


def test_probe_retrain_keeps_the_active_models_arch(settings, tmp_path):
    from types import SimpleNamespace

    from detector.ml.checkpoint import read_checkpoint
    from registry.retraining import _retrain_probe

    settings.AIORNOT_FEATURE_CACHE_DIR = str(tmp_path / "cache")
    data = write_manifest_folder(tmp_path / "data", {"a": (4, 4, "photo"), "b": (4, 4, "painting"), "c": (4, 4, "photo")})
    active = SimpleNamespace(version="efficientnet_lite0_multilevel-probe-parent", arch=MULTILEVEL_ARCH)
    parent_args = {"method": "probe", "folds": 2, "train_variants": ["original"], "l2": 0.1, "input_size": SIZE,
                   "max_tiles": 1}
    output = tmp_path / "candidate.pt"
    _retrain_probe([data], output, parent_args, active, None, None, 0, lambda *_: None)
    checkpoint = read_checkpoint(output)
    assert checkpoint.arch == MULTILEVEL_ARCH and checkpoint.training_args["parent_version"] == active.version
    assert (tmp_path / "cache" / FEATURE_CACHE_TAG).is_dir()


def test_the_shipped_model_does_not_find_two_different_photos_alike():
    """Known-image matching shows "looks like" at EMBEDDING_MATCH_SIMILARITY and upgrades a PDQ
    match at CORROBORATING_SIMILARITY. On the whole 2848-d vector two unrelated Kodak photos
    measured 0.94 and the median pair 0.86, so an artist's photo could "look like" a labelled AI
    image; on the embedding the app uses, unrelated photos stay far below both thresholds while a
    resized copy stays above them."""
    from detector.known_images import CORROBORATING_SIMILARITY, EMBEDDING_MATCH_SIMILARITY
    from detector.ml.inference import load_detector
    from tests.conftest import SHARED_TRAIN

    kodak = sorted((SHARED_TRAIN / "kodak" / "real").glob("*.png"))
    if len(kodak) < 10:
        pytest.skip("../shared/data/train/kodak is not here")
    detector = load_detector(Path(__file__).resolve().parents[2] / "detector" / "weights" / "default.pt")
    photos = [Image.open(path).convert("RGB") for path in kodak[:12]]
    embedded = detector.embed_batch(photos)
    similarity = embedded @ embedded.T
    np.fill_diagonal(similarity, -1.0)
    assert similarity.max() < min(EMBEDDING_MATCH_SIMILARITY, CORROBORATING_SIMILARITY) - 0.1
    width, height = photos[0].size
    resized = detector.embed_batch([photos[0].resize((width // 2, height // 2))])[0]
    assert float(resized @ embedded[0]) >= EMBEDDING_MATCH_SIMILARITY
