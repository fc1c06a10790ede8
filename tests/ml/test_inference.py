import os
import shutil
import threading

import numpy as np
import pytest
from PIL import Image

from detector.ml.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from detector.ml.digests import file_sha256
from detector.ml.inference import Detector, DetectorScore, clear_detector_cache, load_detector


@pytest.fixture()
def detector(tiny_checkpoint_path):
    return load_detector(tiny_checkpoint_path)


def _noise(width, height, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


def _images():
    rgba = Image.fromarray(_noise(90, 70, 4), "RGBA")
    palette = Image.fromarray(_noise(80, 80)).convert("P", palette=Image.Palette.ADAPTIVE)
    palette_alpha = palette.copy()
    palette_alpha.info["transparency"] = 0
    grey = Image.fromarray(_noise(100, 65, 1)[..., 0], "L")
    cmyk = Image.fromarray(_noise(70, 70, 4), "CMYK")
    sixteen = Image.fromarray((_noise(75, 66, 1)[..., 0].astype(np.uint16) * 257))
    tiny = Image.fromarray(_noise(8, 8))
    large = Image.fromarray(_noise(1200, 500, seed=3))
    return {
        "RGBA": rgba,
        "P": palette,
        "P+transparency": palette_alpha,
        "L": grey,
        "CMYK": cmyk,
        "I;16": sixteen,
        "tiny 8x8": tiny,
        "large 1200x500": large,
    }


def test_every_kind_of_image_gets_a_probability(detector):
    images = _images()
    assert images["I;16"].mode == "I;16"
    for name, image in images.items():
        score = detector.score(image)
        assert isinstance(score, DetectorScore), name
        assert 0.0 <= score.p_ai <= 1.0, name
        assert np.isfinite(score.logit), name
        assert score.tiles >= 1, name
    assert detector.score(images["tiny 8x8"]).tiles == 1


def test_large_image_is_scored_on_several_native_crops(detector):
    image = Image.fromarray(_noise(1200, 500, seed=3))
    score = detector.score(image)
    assert score.tiles == 5
    # The average of the five native crops, scored one by one, gives the same logit.
    from detector.ml.preprocessing import extract_tiles

    tiles = extract_tiles(image, detector.preprocessing)
    assert tiles.scale == 1.0
    crop_logits = [detector.score(tile).logit for tile in tiles.images]
    assert score.logit == pytest.approx(float(np.mean(crop_logits)), abs=1e-4)


def test_batch_scores_match_single_scores(detector):
    images = list(_images().values())
    batch = detector.score_batch(images)
    assert len(batch) == len(images)
    for image, scored in zip(images, batch):
        single = detector.score(image)
        assert scored.tiles == single.tiles
        assert scored.logit == pytest.approx(single.logit, abs=1e-4)
    assert detector.score_batch([]) == []


def test_probability_uses_the_temperature(detector):
    score = detector.score(Image.new("RGB", (64, 64), (120, 30, 200)))
    assert score.p_ai == pytest.approx(1 / (1 + np.exp(-score.logit / 1.5)))


def test_detector_exposes_checkpoint_identity(detector, tiny_checkpoint_path):
    assert detector.model_version == "efficientnet_lite0-test-00000000"
    assert detector.arch == "efficientnet_lite0"
    assert detector.thresholds == {"likely_ai": 0.8, "likely_human": 0.2}
    assert detector.checkpoint_sha256 == file_sha256(tiny_checkpoint_path)
    assert not detector.model.training


def test_loaded_once_and_reloaded_when_the_file_changes(tiny_checkpoint_path, tmp_path):
    clear_detector_cache()
    path = tmp_path / "model.pt"
    shutil.copy(tiny_checkpoint_path, path)
    first = load_detector(path)
    assert load_detector(path) is first
    assert load_detector(tmp_path / "." / "model.pt") is first  # same resolved path

    checkpoint = read_checkpoint(path)
    checkpoint.model_version = "efficientnet_lite0-test-11111111"
    save_checkpoint(checkpoint, path)
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = load_detector(path)
    assert second is not first
    assert second.model_version == "efficientnet_lite0-test-11111111"
    assert second.checkpoint_sha256 != first.checkpoint_sha256
    assert load_detector(path) is second


def test_concurrent_first_loads_share_one_detector(tiny_checkpoint_path, tmp_path):
    clear_detector_cache()
    path = tmp_path / "shared.pt"
    shutil.copy(tiny_checkpoint_path, path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(load_detector(path))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4 and all(r is results[0] for r in results)
    assert isinstance(results[0], Detector)


def test_bad_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_detector(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    with pytest.raises(CheckpointError, match="not a detector checkpoint"):
        load_detector(junk)
