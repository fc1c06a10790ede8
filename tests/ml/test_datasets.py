from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from detector.ml.augmentation import WildAugmentation
from detector.ml.datasets import (
    DatasetError,
    TrainingImages,
    balanced_subsample,
    collate_training,
    collect_samples,
    discover_samples,
    readable_samples,
    split_samples,
    summarise,
)
from detector.ml.preprocessing import Preprocessing

from .conftest import require_shared_train


def _save(path, colour=(1, 2, 3), size=(40, 30), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


def test_folder_layout_finds_images_recursively_and_groups_subfolders(tmp_path):
    root = tmp_path / "art"
    _save(root / "real" / "a.jpg")
    _save(root / "real" / "wallpaper" / "1920x1080.png")
    _save(root / "real" / "wallpaper" / "1280x720.png")
    _save(root / "AI" / "b.webp")
    (root / "real" / "notes.txt").write_text("not an image")
    (root / "real" / ".hidden.jpg").write_bytes(b"")
    samples = discover_samples(root)
    assert Counter(s.label for s in samples) == {0: 3, 1: 1}
    assert {s.source for s in samples} == {"art"}
    groups = {s.path.rsplit("/", 1)[-1]: s.group for s in samples}
    assert groups["1920x1080.png"] == groups["1280x720.png"] == "art/real/wallpaper"
    assert groups["a.jpg"] != groups["1920x1080.png"]


def test_manifest_layout_skips_bad_rows_with_warnings(tmp_path):
    root = tmp_path / "corpus"
    _save(root / "srcA" / "real" / "x.jpg")
    _save(root / "srcA" / "ai" / "y.png")
    _save(root / "srcB" / "ai" / "z.png")
    (root / "MANIFEST.csv").write_text(
        "path,label,generator,sha256\n"
        "srcA/real/x.jpg,real,camera,aa\n"
        "srcA/ai/y.png,ai,sd1.5,bb\n"
        "srcB/ai/z.png,AI,flux,cc\n"
        "srcB/ai/z.png,ai,flux,cc\n"
        "srcA/real/missing.jpg,real,camera,dd\n"
        "srcA/real/x.jpg,maybe,,ee\n"
    )
    messages = []
    samples = discover_samples(root, log=messages.append)
    assert [(s.source, s.label, s.generator) for s in samples] == [
        ("srcA", 0, "camera"),
        ("srcA", 1, "sd1.5"),
        ("srcB", 1, "flux"),
    ]
    text = "\n".join(messages)
    assert "missing.jpg does not exist" in text and "'maybe'" in text and "repeat an sha256" in text


def test_bad_folders_raise_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        collect_samples([tmp_path / "nowhere"])
    (tmp_path / "empty" / "real").mkdir(parents=True)
    with pytest.raises(DatasetError, match="contains no image files"):
        collect_samples([tmp_path / "empty"])
    (tmp_path / "flat").mkdir()
    _save(tmp_path / "flat" / "x.png")
    with pytest.raises(DatasetError, match="neither a MANIFEST.csv nor 'real/' and 'ai/'"):
        collect_samples([tmp_path / "flat"])


def test_unreadable_files_are_skipped(tmp_path):
    root = tmp_path / "d"
    _save(root / "real" / "ok.png")
    (root / "real" / "broken.jpg").write_bytes(b"this is not a jpeg")
    messages = []
    kept, skipped = readable_samples(discover_samples(root), log=messages.append)
    assert [s.path.rsplit("/", 1)[-1] for s in kept] == ["ok.png"]
    assert skipped[0].endswith("broken.jpg") and "broken.jpg" in messages[0]


def test_truncated_file_yields_a_load_failure_not_an_exception(tmp_path):
    root = tmp_path / "d"
    good = root / "real" / "good.jpg"
    good.parent.mkdir(parents=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 90, 3), dtype=np.uint8)).save(good)
    truncated = root / "ai" / "truncated.jpg"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    samples = discover_samples(root)
    kept, _ = readable_samples(samples)  # the header is intact, so it passes this check
    assert len(kept) == 2
    dataset = TrainingImages(kept, Preprocessing(input_size=32), WildAugmentation(), seed=0)
    batch = collate_training([dataset[0], dataset[1]])
    assert batch["images"].shape == (1, 3, 32, 32)
    assert [f.path.rsplit("/", 1)[-1] for f in batch["failures"]] == ["truncated.jpg"]


def test_training_crops_depend_only_on_seed_epoch_and_index(tmp_path):
    root = tmp_path / "d"
    rng = np.random.default_rng(0)
    path = root / "ai" / "n.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)).save(path)
    samples = discover_samples(root)
    make = lambda: TrainingImages(samples, Preprocessing(input_size=48), WildAugmentation(), seed=5)  # noqa: E731
    first, second = make(), make()
    assert torch.equal(first[0][0], second[0][0])
    second.set_epoch(1)
    assert not torch.equal(first[0][0], second[0][0])


def test_split_is_seeded_stratified_and_keeps_groups_together():
    samples = []
    for source, label, n in [("a", 0, 40), ("a", 1, 40), ("b", 1, 20), ("c", 0, 3)]:
        for i in range(n):
            unit = f"work{i // 4}" if source == "a" else f"f{i}"  # source a: 4 sizes of each artwork
            samples.append(_sample(f"/{source}/{label}/{i}.png", label, source, f"{source}/{label}/{unit}"))
    train, val = split_samples(samples, 0.25, seed=3)
    assert [s.path for s in split_samples(samples, 0.25, seed=3)[1]] == [s.path for s in val]
    assert len(train) + len(val) == len(samples)
    assert not {s.group for s in train} & {s.group for s in val}
    by_stratum = Counter((s.source, s.label) for s in val)
    assert by_stratum[("a", 0)] == 12 and by_stratum[("a", 1)] == 12 and by_stratum[("b", 1)] == 5
    assert by_stratum[("c", 0)] == 1
    assert [s.path for s in split_samples(samples, 0.25, seed=4)[1]] != [s.path for s in val]


def _sample(path, label, source, group):
    from detector.ml.datasets import Sample

    return Sample(path, label, source, group)


def test_tiny_data_still_gets_both_classes_in_validation():
    samples = [_sample(f"/x/{i}.png", i % 2, "x", f"x/{i}") for i in range(6)]
    train, val = split_samples(samples, 0.1, seed=0)
    assert {s.label for s in val} == {0, 1} and {s.label for s in train} == {0, 1}


def test_balanced_subsample_of_the_shared_corpus():
    root = require_shared_train()
    samples = collect_samples([root], log=lambda *_: None)
    assert len(samples) > 15000
    subset = balanced_subsample(samples, 40, seed=7)
    assert Counter(s.label for s in subset) == {0: 20, 1: 20}
    assert subset == balanced_subsample(samples, 40, seed=7)
    assert subset != balanced_subsample(samples, 40, seed=8)
    summary = summarise(samples)
    assert summary["per_source"]["cifake"] == {"real": 6000, "ai": 5991}
