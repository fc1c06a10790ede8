"""efficientnet_lite0_multilevel_npr: the multi-level probe averaged with NPR patch models.

What users rely on: the detector reads the upsampling trace a generator's decoder leaves (from
crops at the file's own resolution, never resized), the app scores exactly the mix the thresholds
were chosen for, and a retrain trains the patch models further on the reviewer labels (or keeps
them) without ever scoring an image with a member that trained on its source.
"""

from __future__ import annotations

import io
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
    parts = detector.part_logits([image])[0]
    assert (parts.probe, parts.npr) == (pytest.approx(probe, abs=1e-4), pytest.approx(npr, abs=1e-4)), \
        "the parts before the mix are the probe's and the members' own logits"


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


def retrain_from(checkpoint_path, data_dirs, output, settings, *, npr_epochs: int):
    from detector.ml.checkpoint import read_checkpoint
    from registry.retraining import _retrain_probe

    settings.AIORNOT_RETRAIN_NPR_EPOCHS = npr_epochs
    parent = read_checkpoint(checkpoint_path)
    active = SimpleNamespace(version=parent.model_version, arch=NPR_ARCH)
    _retrain_probe(data_dirs, output, parent.training_args, active, checkpoint_path, None, 0, lambda *_: None)
    return parent, read_checkpoint(output)


def members_of(checkpoint):
    from detector.ml.architectures import model_for_state_dict

    model = model_for_state_dict(checkpoint.arch, checkpoint.state_dict)
    model.load_state_dict(checkpoint.state_dict)
    return list(model.npr)


def changed_members(parent, candidate) -> set[int]:
    return {int(key.split(".")[1]) for key, tensor in parent.state_dict.items()
            if key.startswith("npr.") and not torch.equal(candidate.state_dict[key], tensor)}


def test_a_retrain_with_npr_fine_tuning_off_keeps_the_members_and_scores_the_new_labels_with_them(trained, settings, tmp_path):
    settings.AIORNOT_FEATURE_CACHE_DIR = str(trained.root / "cache")
    labels = write_folder(tmp_path / "labels", {"reviewed": (3, 3, "photo")}, seed=7)
    parent, candidate = retrain_from(trained.output, [trained.data, labels], tmp_path / "candidate.pt", settings, npr_epochs=0)
    assert candidate.arch == NPR_ARCH and candidate.training_args["parent_version"] == parent.model_version
    assert changed_members(parent, candidate) == set(), "the members are kept"
    npr = candidate.training_args["npr"]
    assert npr["kept_from_parent"] and npr["stored_logits_used"] == 48 and npr["scored_by_members"] == 6
    assert len(npr["out_of_source_logits"]) == 54  # ready for the next retrain


def test_training_records_the_sources_each_npr_member_never_saw(trained):
    from detector.ml.checkpoint import read_checkpoint

    held = read_checkpoint(trained.output).training_args["npr"]["member_held_out_sources"]
    assert len(held) == 2 and sorted(held[0] + held[1]) == ["a", "b", "c", "d"] and not set(held[0]) & set(held[1])


def test_which_sources_a_member_held_out_is_read_off_its_stored_logits_when_not_recorded(trained):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.npr_training import held_out_by_member, image_crops
    from detector.ml.out_of_source import load_images

    parent = read_checkpoint(trained.output)
    args = dict(parent.training_args["npr"])
    recorded = [set(h) for h in args.pop("member_held_out_sources")]
    images, _ = load_images([str(trained.data)], log=lambda *_: None)
    crops, digests = image_crops(images, cache_dir=trained.root / "cache", log=lambda *_: None)
    members = members_of(parent)
    assert held_out_by_member(members, args, images, crops, digests, log=lambda *_: None) == recorded
    wrong = dict(args, out_of_source_logits={d: [v[0] + 1.0, v[1]] for d, v in args["out_of_source_logits"].items()})
    assert held_out_by_member(members, wrong, images, crops, digests, log=lambda *_: None) is None, \
        "logits no member gives are not these members' out-of-source logits"


def test_a_retrain_fine_tunes_every_npr_member_but_the_one_that_scores_the_labels_out_of_source(trained, settings, tmp_path):
    from detector.ml.npr import members_logits
    from detector.ml.npr_training import image_crops
    from detector.ml.out_of_source import load_images

    settings.AIORNOT_FEATURE_CACHE_DIR = str(trained.root / "cache")
    settings.AIORNOT_RETRAIN_NPR_LABEL_WEIGHT = 8.0
    labels = write_folder(tmp_path / "labels", {"reviewed": (3, 3, "painting")}, seed=8)
    parent, candidate = retrain_from(trained.output, [trained.data, labels], tmp_path / "candidate.pt", settings, npr_epochs=1)
    npr = candidate.training_args["npr"]
    keeper = npr["labels_held_out_by"]
    held = [set(h) for h in npr["member_held_out_sources"]]
    assert "reviewed" in held[keeper] and not any("reviewed" in h for k, h in enumerate(held) if k != keeper)
    assert sorted(held[0] | held[1]) == ["a", "b", "c", "d", "reviewed"] and not held[0] & held[1]
    assert changed_members(parent, candidate) == {1 - keeper}, "every member but the labels' scorer trains on them"
    assert npr["fine_tuned"]["epochs"] == 1 and npr["fine_tuned"]["label_sources"] == ["reviewed"]
    assert npr["fine_tuned"]["label_weight"] == {"reviewed": 8.0}
    # Every stored logit is the score of the member that never trained on the image's source.
    images, _ = load_images([str(trained.data), str(labels)], log=lambda *_: None)
    crops, digests = image_crops(images, cache_dir=trained.root / "cache", log=lambda *_: None)
    members = members_of(candidate)
    own = np.stack([members_logits([net], crops[:, 0]) for net in members], axis=1)
    stored = np.array([npr["out_of_source_logits"][d][0] for d in digests])
    scorer = np.array([next(k for k, h in enumerate(held) if i.sample.source in h) for i in images])
    assert np.abs(own[np.arange(len(images)), scorer] - stored).max() < 0.02
    assert len(npr["out_of_source_logits"]) == 54
    # The next retrain keeps the same member out of the labels, so its label scores stay out of sample.
    more = write_folder(tmp_path / "more", {"reviewed": (2, 2, "photo")}, seed=9)
    _, child = retrain_from(tmp_path / "candidate.pt", [trained.data, labels, more], tmp_path / "child.pt", settings, npr_epochs=1)
    assert child.training_args["npr"]["labels_held_out_by"] == keeper
    assert changed_members(candidate, child) == {1 - keeper}
    # Kept without more tuning, new labels are still scored only by the member that never trained on labels.
    newer = write_folder(tmp_path / "newer", {"reviewed": (2, 2, "photo")}, seed=10)
    _, kept = retrain_from(tmp_path / "child.pt", [trained.data, labels, more, newer], tmp_path / "kept.pt", settings, npr_epochs=0)
    assert changed_members(child, kept) == set()
    new_images, _ = load_images([str(newer)], log=lambda *_: None)
    new_crops, new_digests = image_crops(new_images, cache_dir=trained.root / "cache", log=lambda *_: None)
    keeper_scores = members_logits([members_of(child)[keeper]], new_crops[:, 0])
    stored = np.array([kept.training_args["npr"]["out_of_source_logits"][d][0] for d in new_digests])
    assert np.abs(keeper_scores - stored).max() < 0.02


def test_npr_members_can_also_train_on_random_resaves_and_are_still_scored_on_the_two_report_variants(trained, tmp_path):
    from detector.ml.npr_training import NPR_VARIANTS, image_crops, train_out_of_source
    from detector.ml.out_of_source import load_images

    images, _ = load_images([str(trained.data)], log=lambda *_: None)
    folds = np.array([0 if i.sample.source in ("a", "b") else 1 for i in images])
    part = train_out_of_source(images, folds, extra_variants=("wild",), epochs=2, draws=256, cache_dir=tmp_path,
                               log=lambda *_: None)
    assert part.info["trained_on_variants"] == [*NPR_VARIANTS, "wild"]
    assert set(part.logits) == set(NPR_VARIANTS)
    assert all(len(v) == len(NPR_VARIANTS) for v in part.info["out_of_source_logits"].values())
    wild, _ = image_crops(images, cache_dir=tmp_path, variants=("wild",), log=lambda *_: None)
    plain, _ = image_crops(images, cache_dir=tmp_path, log=lambda *_: None)
    assert wild.shape[1] == 1 and not np.array_equal(wild[:, 0], plain[:, 0]), "the re-saved copy is other pixels"


def test_train_detector_refuses_an_unknown_or_misplaced_npr_extra_variant(tmp_path):
    from django.core.management import CommandError, call_command

    base = ["train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe"]
    with pytest.raises(CommandError, match="Unknown --npr-extra-variants sepia"):
        call_command(*base, "--arch", NPR_ARCH, "--npr-extra-variants", "wild,sepia")
    with pytest.raises(CommandError, match="applies only to"):
        call_command(*base, "--arch", "efficientnet_lite0_multilevel", "--npr-extra-variants", "wild")
    with pytest.raises(CommandError, match="cannot be combined with --keep-npr-from"):
        call_command(*base, "--arch", NPR_ARCH, "--npr-extra-variants", "wild", "--keep-npr-from", str(tmp_path / "p.pt"))


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


def test_a_crop_pool_keeps_the_flattest_crops_of_the_same_seeded_draw():
    from detector.ml.npr import residual_energy

    rng = np.random.default_rng(11)
    pixels = noise(rng, 300, 400)
    pixels[:, :200] = 128  # the left half is flat: no residual there
    image = Image.fromarray(pixels)
    pooled = native_crops(image, pool=32)
    assert pooled.shape == (CROPS_PER_IMAGE, CROP_SIZE, CROP_SIZE, 3)
    drawn = native_crops(image, count=32)
    assert np.array_equal(drawn[:CROPS_PER_IMAGE], native_crops(image)), "a pool extends the unpooled draw"
    energy = residual_energy(drawn)
    kept = sorted(float(e) for e in residual_energy(pooled))
    assert kept == sorted(float(e) for e in energy)[:CROPS_PER_IMAGE], "the flattest of the pool are kept"
    assert np.array_equal(native_crops(image, pool=32), pooled), "always the same crops"
    assert np.array_equal(native_crops(image, pool=CROPS_PER_IMAGE), native_crops(image)), "a pool of 8 is no pool"


def test_changing_the_crop_pool_of_kept_members_rescores_every_image_out_of_source_and_the_app_uses_it(trained, settings, tmp_path):
    from django.core.management import call_command

    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector
    from detector.ml.npr_training import image_crops
    from detector.ml.out_of_source import load_images

    output = tmp_path / "pooled.pt"
    call_command("train_detector", str(trained.data), "--output", str(output), "--method", "probe", "--arch", NPR_ARCH,
                 "--folds", "2", "--input-size", str(SIZE), "--train-variants", "original",
                 "--cache-dir", str(trained.root / "cache"), "--keep-npr-from", str(trained.output), "--npr-crop-pool", "16",
                 stdout=open(tmp_path / "log.txt", "w"))
    parent, pooled = read_checkpoint(trained.output), read_checkpoint(output)
    assert changed_members(parent, pooled) == set(), "the members are kept"
    npr = pooled.training_args["npr"]
    assert npr["crop_pool"] == 16
    held = [set(h) for h in npr["member_held_out_sources"]]
    images, _ = load_images([str(trained.data)], log=lambda *_: None)
    crops, digests = image_crops(images, cache_dir=trained.root / "cache", pool=16, log=lambda *_: None)
    members = members_of(pooled)
    own = np.stack([members_logits_of(net, crops[:, 0]) for net in members], axis=1)
    scorer = np.array([next(k for k, h in enumerate(held) if i.sample.source in h) for i in images])
    stored = np.array([npr["out_of_source_logits"][d][0] for d in digests])
    assert np.abs(own[np.arange(len(images)), scorer] - stored).max() < 0.02, "each image scored by the member that never saw its source"
    assert pooled.metrics["out_of_source"]["auc_ai_vs_all_real"] > 0.9
    detector = load_detector(output)
    assert detector.patch_model.crop_pool == 16
    image = Image.fromarray(upsampled(np.random.default_rng(5), 200, 240))
    assert np.array_equal(detector.patch_model.npr_crops(image), native_crops(image, pool=16))
    assert load_detector(trained.output).patch_model.crop_pool == CROPS_PER_IMAGE, "older checkpoints score as before"
    # A retrain fine-tunes the members on the crops they are scored on.
    settings.AIORNOT_FEATURE_CACHE_DIR = str(trained.root / "cache")
    labels = write_folder(tmp_path / "labels", {"reviewed": (3, 3, "photo")}, seed=12)
    _, child = retrain_from(output, [trained.data, labels], tmp_path / "child.pt", settings, npr_epochs=1)
    child_npr = child.training_args["npr"]
    assert child_npr["crop_pool"] == 16 and child_npr["fine_tuned"]["label_sources"] == ["reviewed"]
    keeper = members_of(child)[child_npr["labels_held_out_by"]]
    label_images, _ = load_images([str(labels)], log=lambda *_: None)
    label_crops, label_digests = image_crops(label_images, cache_dir=trained.root / "cache", pool=16, log=lambda *_: None)
    stored = np.array([child_npr["out_of_source_logits"][d][0] for d in label_digests])
    assert np.abs(members_logits_of(keeper, label_crops[:, 0]) - stored).max() < 0.02


def members_logits_of(net, crops):
    from detector.ml.npr import members_logits

    return members_logits([net], crops)


def test_train_detector_refuses_a_crop_pool_out_of_range_or_without_npr(tmp_path):
    from django.core.management import CommandError, call_command

    base = ["train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe"]
    with pytest.raises(CommandError, match="--npr-crop-pool must be a whole number from 8"):
        call_command(*base, "--arch", NPR_ARCH, "--npr-crop-pool", "4")
    with pytest.raises(CommandError, match="--npr-crop-pool must be a whole number from 8"):
        call_command(*base, "--arch", NPR_ARCH, "--npr-crop-pool", "100000")
    with pytest.raises(CommandError, match="applies only to"):
        call_command(*base, "--arch", "efficientnet_lite0_multilevel", "--npr-crop-pool", "32")


def test_a_checkpoint_with_an_unusable_crop_pool_is_refused_with_a_clear_error(trained, tmp_path):
    from detector.ml.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
    from detector.ml.inference import load_detector

    checkpoint = read_checkpoint(trained.output)
    checkpoint.training_args["npr"]["crop_pool"] = 10 ** 9
    path = tmp_path / "hostile.pt"
    save_checkpoint(checkpoint, path)
    with pytest.raises(CheckpointError, match="crop pool must be a whole number"):
        load_detector(path)


def test_the_npr_share_is_chosen_where_the_out_of_source_auc_is_highest_with_a_nested_estimate():
    from detector.ml.npr_training import DEFAULT_NPR_WEIGHT, NPR_WEIGHT_GRID, chosen_npr_weight

    rng = np.random.default_rng(3)
    labels = np.repeat([0, 1], 200)
    folds = np.tile(np.arange(4), 100)
    signal = labels * 2.0 + rng.normal(size=400)
    useless = rng.normal(size=400)
    probe_good = chosen_npr_weight(signal, useless, labels, folds)
    assert probe_good["npr_weight"] == min(NPR_WEIGHT_GRID)
    assert probe_good["nested_auc"] > probe_good["default_auc"], "a share chosen on the other folds still helps here"
    assert set(probe_good["chosen_per_fold_on_the_others"]) == {0, 1, 2, 3}
    npr_good = chosen_npr_weight(useless, signal, labels, folds)
    assert npr_good["npr_weight"] == max(NPR_WEIGHT_GRID)
    assert npr_good["grid"][f"{DEFAULT_NPR_WEIGHT:g}"] == pytest.approx(npr_good["default_auc"])


def test_with_re_saved_logits_the_npr_share_is_chosen_on_clean_and_re_saved_auc_together():
    from detector.ml.npr_training import NPR_WEIGHT_GRID, chosen_npr_weight

    rng = np.random.default_rng(5)
    labels = np.repeat([0, 1], 300)
    folds = np.tile(np.arange(5), 120)
    probe, npr = labels * 1.0 + rng.normal(size=600), labels * 1.2 + rng.normal(size=600)
    clean_only = chosen_npr_weight(probe, npr, labels, folds)
    # a re-save erases the NPR part's trace and leaves the probe's
    both = chosen_npr_weight(probe, npr, labels, folds,
                             resaved=(probe + rng.normal(scale=0.1, size=600), rng.normal(size=600)))
    assert clean_only["npr_weight"] > 0.5 > both["npr_weight"] >= min(NPR_WEIGHT_GRID)
    assert both["chosen_on"] == "mean of the clean and the re-saved AUC"
    assert both["grid_after_jpeg75_half"]["0.2"] > both["grid_after_jpeg75_half"]["0.6"]
    assert both["nested_auc_after_jpeg75_half"] > both["default_auc_after_jpeg75_half"]


def test_an_auto_npr_share_is_stored_in_the_mix_the_app_scores_and_a_retrain_keeps_it(trained, settings, tmp_path):
    from django.core.management import call_command

    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.npr_training import NPR_WEIGHT_GRID

    output = tmp_path / "auto.pt"
    log = io.StringIO()
    call_command("train_detector", str(trained.data), "--output", str(output), "--method", "probe", "--arch", NPR_ARCH,
                 "--folds", "2", "--input-size", str(SIZE), "--train-variants", "original", "--cache-dir",
                 str(trained.root / "cache"), "--keep-npr-from", str(trained.output), "--npr-weight", "auto",
                 stdout=log)
    assert "NPR share chosen out of source" in log.getvalue()
    checkpoint = read_checkpoint(output)
    npr = checkpoint.training_args["npr"]
    share = npr["npr_weight"]
    assert share in NPR_WEIGHT_GRID and set(npr["npr_weight_choice"]["grid"]) == {f"{w:g}" for w in NPR_WEIGHT_GRID}
    assert set(npr["npr_weight_choice"]["grid_after_jpeg75_half"]) == set(npr["npr_weight_choice"]["grid"])
    a, b, _ = checkpoint.state_dict["logit_mix"].tolist()
    assert b / a == pytest.approx(share / (1 - share) * npr["platt"][0], rel=1e-4), "the app mixes with the chosen share"
    _, candidate = retrain_from(output, [trained.data], tmp_path / "candidate.pt", settings, npr_epochs=0)
    assert candidate.training_args["npr"]["npr_weight"] == share and "npr_weight_choice" not in candidate.training_args["npr"]


@pytest.mark.parametrize("value, message", [
    ("half", "must be a number between 0 and 1 or 'auto'"), ("0", "between 0 and 1"), ("1.5", "between 0 and 1"),
    ("nan", "between 0 and 1"),
])
def test_train_detector_refuses_an_npr_share_that_is_not_a_fraction(tmp_path, value, message):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command("train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe",
                     "--arch", NPR_ARCH, "--npr-weight", value)
    with pytest.raises(CommandError, match="--npr-weight applies only to"):
        call_command("train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe",
                     "--arch", "efficientnet_lite0_multilevel", "--npr-weight", "0.3")
