"""NPR members trained with another seed, and two seeds' members pooled into one detector.

What users rely on: `--npr-seed` gives a different, recorded training of the same recipe; pooling two
checkpoints' members keeps every stored logit out of source (the mean of two out-of-source logits),
records which sources each member never saw, and the app then scores the mean of all the members.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.images import write_manifest_folder
from tests.scripts import load_script

from detector.ml.npr import NPR_ARCH

SIZE = 64


def pixels(rng, label):
    """AI: 2x nearest-neighbour upsampled noise (a decoder's trace); real: plain noise."""
    if label == "ai":
        return rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8).repeat(2, axis=0).repeat(2, axis=1)
    return rng.integers(0, 256, size=(80, 96, 3), dtype=np.uint8)


def train(root, data, name, *extra):
    from django.core.management import call_command

    output = root / f"{name}.pt"
    call_command("train_detector", str(data), "--output", str(output), "--method", "probe", "--arch", NPR_ARCH,
                 "--folds", "2", "--input-size", str(SIZE), "--train-variants", "original", "--npr-epochs", "3",
                 "--npr-draws", "512", "--cache-dir", str(root / "cache"), *extra, stdout=open(root / f"{name}.log", "w"))
    return output


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    root = tmp_path_factory.mktemp("npr-seeds")
    data = write_manifest_folder(root / "data", {"a": (5, 5, "photo"), "b": (5, 5, "painting"), "c": (5, 5, "photo")},
                                 pixels_of=pixels)
    return SimpleNamespace(root=root, data=data, first=train(root, data, "seed0"),
                           second=train(root, data, "seed7", "--npr-seed", "7"))


def npr_state(checkpoint) -> dict:
    return {k: v for k, v in checkpoint.state_dict.items() if k.startswith("npr.")}


def test_another_npr_seed_trains_other_members_on_the_same_folds_and_records_the_seed(seeds):
    from detector.ml.checkpoint import read_checkpoint

    first, second = read_checkpoint(seeds.first), read_checkpoint(seeds.second)
    assert second.training_args["npr"]["seed"] == 7 and "seed" not in first.training_args["npr"]
    assert npr_state(first).keys() == npr_state(second).keys()
    assert any(not torch.equal(v, npr_state(second)[k]) for k, v in npr_state(first).items() if v.is_floating_point())
    assert first.training_args["npr"]["member_held_out_sources"] == second.training_args["npr"]["member_held_out_sources"]


def test_pooled_members_keep_out_of_source_logits_and_the_app_scores_all_of_them(seeds, tmp_path):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector
    from detector.ml.npr import members_logits, native_crops

    pool = load_script("experiments/npr_seed_ensemble.py")
    pooled = tmp_path / "pooled.pt"
    assert pool.main([str(seeds.first), str(seeds.second), "--output", str(pooled)]) == 0
    first, second, merged = (read_checkpoint(p) for p in (seeds.first, seeds.second, pooled))
    npr = merged.training_args["npr"]
    assert npr["members"] == 4 and npr["pooled_from"] == [0, 7]
    a, b = first.training_args["npr"]["out_of_source_logits"], second.training_args["npr"]["out_of_source_logits"]
    assert set(npr["out_of_source_logits"]) == set(a) == set(b)
    digest = next(iter(a))
    assert npr["out_of_source_logits"][digest] == pytest.approx([(x + y) / 2 for x, y in zip(a[digest], b[digest])])
    held = first.training_args["npr"]["member_held_out_sources"]
    assert npr["member_held_out_sources"] == held + held

    # The head, the mix and the thresholds are fitted again on the pooled out-of-source logits.
    refit = train(tmp_path, seeds.data, "refit", "--keep-npr-from", str(pooled))
    checkpoint = read_checkpoint(refit)
    assert {k.split(".")[1] for k in npr_state(checkpoint)} == {"0", "1", "2", "3"}
    assert checkpoint.training_args["npr"]["stored_logits_used"] == 30
    detector = load_detector(refit)
    image = Image.fromarray(pixels(np.random.default_rng(3), "ai"))
    parts = detector.part_logits([image])[0]
    members = [detector.model.npr[k] for k in range(4)]
    assert parts.npr == pytest.approx(float(members_logits(members, native_crops(image)[None])[0]), abs=1e-4)


def test_pooling_reads_off_which_sources_a_member_held_out_when_a_checkpoint_does_not_record_it(seeds, tmp_path):
    from detector.ml.checkpoint import read_checkpoint, save_checkpoint

    pool = load_script("experiments/npr_seed_ensemble.py")
    older = read_checkpoint(seeds.first)
    held = older.training_args["npr"].pop("member_held_out_sources")
    save_checkpoint(older, tmp_path / "older.pt")
    assert pool.main([str(tmp_path / "older.pt"), str(seeds.second), "--output", str(tmp_path / "pooled.pt"),
                      "--data", str(seeds.data), "--cache-dir", str(seeds.root / "cache")]) == 0
    assert read_checkpoint(tmp_path / "pooled.pt").training_args["npr"]["member_held_out_sources"] == held + held


def test_pooling_refuses_members_that_cut_other_crops(seeds, tmp_path):
    from detector.ml.checkpoint import read_checkpoint, save_checkpoint

    pool = load_script("experiments/npr_seed_ensemble.py")
    other = read_checkpoint(seeds.second)
    other.training_args["npr"]["crop_pool"] = 32
    save_checkpoint(other, tmp_path / "pool32.pt")
    with pytest.raises(SystemExit, match="different crops"):
        pool.main([str(seeds.first), str(tmp_path / "pool32.pt"), "--output", str(tmp_path / "x.pt")])
    assert not (tmp_path / "x.pt").exists()


def test_pooling_refuses_a_file_that_is_not_a_checkpoint_with_a_clear_message(seeds, tmp_path):
    pool = load_script("experiments/npr_seed_ensemble.py")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    with pytest.raises(SystemExit, match="Cannot pool these members: .*not a detector checkpoint"):
        pool.main([str(seeds.first), str(tmp_path / "notes.pt"), "--output", str(tmp_path / "x.pt")])
    with pytest.raises(SystemExit, match="Cannot pool these members"):
        pool.main([str(tmp_path / "missing.pt"), str(seeds.first), "--output", str(tmp_path / "x.pt")])
    assert not (tmp_path / "x.pt").exists()


def test_members_that_share_a_fold_each_score_its_images_and_their_mean_is_the_logit():
    from detector.ml.npr import NPRNet, members_logits
    from detector.ml.npr_training import provenance_logits

    torch.manual_seed(0)
    nets = [NPRNet(width=4).eval() for _ in range(3)]
    images = [SimpleNamespace(sample=SimpleNamespace(source=s)) for s in ("a", "a", "b", "new")]
    crops = np.random.default_rng(0).integers(0, 256, size=(4, 2, 8, 16, 16, 3), dtype=np.uint8)
    held = [{"a"}, {"b"}, {"a"}]
    logits = provenance_logits(nets, held, images, crops)
    assert logits[:2] == pytest.approx((members_logits([nets[0]], crops[:2]) + members_logits([nets[2]], crops[:2])) / 2)
    assert logits[2] == pytest.approx(members_logits([nets[1]], crops[2:3])[0])
    assert logits[3] == pytest.approx(members_logits(nets, crops[3:])[0]), "a source no member trained on: every member"


def test_train_detector_refuses_an_npr_seed_it_would_not_use(tmp_path):
    from django.core.management import CommandError, call_command

    base = ["train_detector", str(tmp_path), "--output", str(tmp_path / "x.pt"), "--method", "probe"]
    with pytest.raises(CommandError, match="--npr-seed applies only to"):
        call_command(*base, "--arch", "efficientnet_lite0_multilevel", "--npr-seed", "3")
    with pytest.raises(CommandError, match="--keep-npr-from keeps a checkpoint's members instead"):
        call_command(*base, "--arch", NPR_ARCH, "--npr-seed", "3", "--keep-npr-from", str(tmp_path / "p.pt"))
    with pytest.raises(CommandError, match="--npr-seed must be 0 or more"):
        call_command(*base, "--arch", NPR_ARCH, "--npr-seed", "-1")
    with pytest.raises(CommandError, match="applies only to --method probe"):
        call_command(*base, "--method", "finetune", "--npr-seed", "3")
    assert not (tmp_path / "x.pt").exists()
