"""efficientnet_lite0_multilevel_npr: the multi-level probe averaged with NPR patch models.

What users rely on: the detector reads the upsampling trace a generator's decoder leaves (from
crops at the file's own resolution, never resized), the app scores exactly the mix the thresholds
were chosen for, and a retrain keeps the patch models without training them again.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.images import write_manifest_folder

from detector.ml.npr import CROP_SIZE, CROPS_PER_IMAGE, NPR_ARCH, native_crops

SIZE = 64


def noise(rng, height=80, width=96):
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def upsampled(rng, height=80, width=96):
    """2x nearest-neighbour upsampled noise: the trace a naive decoder leaves, at the same brightness."""
    return noise(rng, height // 2, width // 2).repeat(2, axis=0).repeat(2, axis=1)


def write_folder(root: Path, sources: dict, seed: int = 0) -> Path:
    """root/<source>/<real|ai>/<i>.png with a MANIFEST; AI images are upsampled noise, real ones plain noise."""
    return write_manifest_folder(root, sources, pixels_of=lambda rng, label: upsampled(rng) if label == "ai" else noise(rng),
                                 seed=seed)


def test_native_crops_are_the_files_own_pixels_at_even_offsets_and_always_the_same():
    rng = np.random.default_rng(3)
    pixels = noise(rng, 200, 300)
    image = Image.fromarray(pixels)
    crops = native_crops(image)
    assert crops.shape == (CROPS_PER_IMAGE, CROP_SIZE, CROP_SIZE, 3) and crops.dtype == np.uint8
    for crop in crops:
        found = [(t, l) for t in range(0, 200 - CROP_SIZE + 1, 2) for l in range(0, 300 - CROP_SIZE + 1, 2)
                 if np.array_equal(pixels[t:t + CROP_SIZE, l:l + CROP_SIZE], crop)]
        assert found, "every crop is an unresized window of the file at even offsets"
    assert np.array_equal(native_crops(image), crops), "the same image always gets the same crops"
    small = noise(rng, 40, 50)
    padded = native_crops(Image.fromarray(small))
    assert np.array_equal(padded[0][:40, :50], small), "a small image is padded, never resized"


def test_a_transparent_image_is_composited_like_the_probe_tiles_are():
    rgba = np.zeros((80, 80, 4), dtype=np.uint8)
    crops = native_crops(Image.fromarray(rgba, "RGBA"), background=(255, 255, 255))
    assert (crops == 255).all()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A detector trained by train_detector on images whose AI class carries only an upsampling trace."""
    from django.core.management import call_command

    root = tmp_path_factory.mktemp("npr")
    data = write_folder(root / "data", {"a": (6, 6, "photo"), "b": (6, 6, "painting"), "c": (6, 6, "photo"),
                                        "d": (6, 6, "photo")})
    output = root / "npr.pt"
    call_command("train_detector", str(data), "--output", str(output), "--method", "probe", "--arch", NPR_ARCH,
                 "--folds", "2", "--input-size", str(SIZE), "--train-variants", "original", "--npr-epochs", "4",
                 "--npr-draws", "1024", "--cache-dir", str(root / "cache"), "--report", str(root / "report"),
                 stdout=open(root / "log.txt", "w"))
    return SimpleNamespace(root=root, data=data, output=output)


def test_training_writes_a_checkpoint_with_one_npr_member_per_fold_and_their_out_of_source_logits(trained):
    from detector.ml.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(trained.output)
    assert checkpoint.arch == NPR_ARCH
    assert checkpoint.model_version.startswith(f"{NPR_ARCH}-probe-")
    members = {key.split(".")[1] for key in checkpoint.state_dict if key.startswith("npr.")}
    assert members == {"0", "1"}
    assert checkpoint.state_dict["logit_mix"].dtype == torch.float32, "the mix multiplies whole logits: never fp16"
    npr = checkpoint.training_args["npr"]
    assert len(npr["out_of_source_logits"]) == 48 and npr["members"] == 2 and npr["epochs"] == 4
    assert "probe_part_out_of_source" in checkpoint.metrics and "npr_part" in checkpoint.metrics
    # The NPR part sees the trace out of source; the figures of the whole detector are the mix's.
    assert checkpoint.training_args["npr"]["npr_part_out_of_source_auc"] > 0.9
    assert checkpoint.metrics["out_of_source"]["auc_ai_vs_all_real"] > 0.9
    assert json.dumps(checkpoint.metrics)


def test_training_writes_the_runs_out_of_source_report_with_both_parts(trained):
    report = json.loads((trained.root / "report" / "out-of-source.json").read_text())
    assert report["figures"]["auc_ai_vs_all_real"] > 0.9
    assert "auc_ai_vs_all_real" in report["probe_part_out_of_source"] and report["npr_part"]["members"] == 2
    markdown = (trained.root / "report" / "out-of-source.md").read_text()
    assert f"Out-of-source evaluation of {NPR_ARCH}-probe-" in markdown and "Per generator family" in markdown


def test_the_app_scores_the_upsampling_trace_as_likely_ai_and_plain_pixels_as_not(trained):
    from detector.ml.inference import load_detector

    detector = load_detector(trained.output)
    rng = np.random.default_rng(99)
    ai = [detector.score(Image.fromarray(upsampled(rng, 120, 160))).p_ai for _ in range(4)]
    real = [detector.score(Image.fromarray(noise(rng, 120, 160))).p_ai for _ in range(4)]
    assert min(ai) > max(real)


def test_the_detectors_logit_is_the_stored_mix_of_the_probe_and_the_members(trained):
    from detector.ml.inference import load_detector
    from detector.ml.preprocessing import extract_tiles, to_tensor

    detector = load_detector(trained.output)
    image = Image.fromarray(upsampled(np.random.default_rng(5), 100, 140))
    model = detector.model
    with torch.inference_mode():
        probe = float(model(to_tensor(extract_tiles(image, detector.preprocessing).images, detector.preprocessing)).mean())
        crops = torch.from_numpy(native_crops(image)).permute(0, 3, 1, 2).float() / 255
        npr = float(torch.stack([member(crops) for member in model.npr]).mean())
    a, b, c = model.logit_mix.tolist()
    assert detector.score(image).logit == pytest.approx(a * probe + b * npr + c, abs=1e-4)
    fast = load_detector(trained.output, optimize="torchscript")
    assert fast.score(image).p_ai == pytest.approx(detector.score(image).p_ai, abs=1e-4)


def test_heatmap_and_similarity_embedding_still_work_on_the_probe_part(trained):
    from detector.ml.explain import heatmap
    from detector.ml.inference import load_detector

    detector = load_detector(trained.output)
    image = Image.fromarray(upsampled(np.random.default_rng(6), 100, 140))
    result = heatmap(detector, image)
    assert result.grid.min() >= 0.0 and result.grid.max() <= 1.0
    embedding = detector.embed_batch([image, image])
    assert embedding.shape == (2, 1280)
    assert float(embedding[0] @ embedding[1]) == pytest.approx(1.0, abs=1e-5)


def test_a_retrain_keeps_the_npr_members_and_scores_the_new_labels_with_them(trained, settings, tmp_path):
    from detector.ml.checkpoint import read_checkpoint
    from registry.retraining import _retrain_probe

    settings.AIORNOT_FEATURE_CACHE_DIR = str(trained.root / "cache")
    labels = write_folder(tmp_path / "labels", {"reviewed": (3, 3, "photo")}, seed=7)
    parent = read_checkpoint(trained.output)
    active = SimpleNamespace(version=parent.model_version, arch=NPR_ARCH)
    output = tmp_path / "candidate.pt"
    _retrain_probe([trained.data, labels], output, parent.training_args, active, trained.output, None, 0, lambda *_: None)
    candidate = read_checkpoint(output)
    assert candidate.arch == NPR_ARCH and candidate.training_args["parent_version"] == parent.model_version
    for key, tensor in parent.state_dict.items():
        if key.startswith("npr."):
            assert torch.equal(candidate.state_dict[key], tensor), f"{key} changed: the members are kept"
    npr = candidate.training_args["npr"]
    assert npr["kept_from_parent"] and npr["stored_logits_used"] == 48 and npr["scored_by_members"] == 6
    assert len(npr["out_of_source_logits"]) == 54  # ready for the next retrain


def test_train_detector_refuses_a_non_positive_npr_setting(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--npr-epochs must be at least 1"):
        call_command("train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe",
                     "--arch", NPR_ARCH, "--npr-epochs", "0")


def test_train_detector_refuses_to_keep_npr_members_from_a_file_that_is_not_a_checkpoint(tmp_path):
    from django.core.management import CommandError, call_command

    data = write_folder(tmp_path / "data", {"a": (3, 3, "photo"), "b": (3, 3, "photo")})
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(CommandError, match="not a detector checkpoint"):
        call_command("train_detector", str(data), "--output", str(tmp_path / "x.pt"), "--method", "probe", "--arch",
                     NPR_ARCH, "--folds", "2", "--input-size", str(SIZE), "--keep-npr-from", str(tmp_path / "notes.pt"),
                     stdout=open(tmp_path / "log.txt", "w"))
    with pytest.raises(CommandError, match="--keep-npr-from applies only to"):
        call_command("train_detector", str(data), "--output", str(tmp_path / "x.pt"), "--method", "probe",
                     "--arch", "efficientnet_lite0_multilevel", "--keep-npr-from", str(tmp_path / "notes.pt"))


def test_fine_tuning_refuses_the_npr_architecture_with_a_clear_message(tmp_path):
    from django.core.management import CommandError, call_command

    data = write_folder(tmp_path / "data", {"a": (3, 3, "photo"), "b": (3, 3, "photo")})
    with pytest.raises(CommandError, match="is trained with --method probe"):
        call_command("train_detector", str(data), "--output", str(tmp_path / "x.pt"), "--arch", NPR_ARCH,
                     stdout=open(tmp_path / "log.txt", "w"))
