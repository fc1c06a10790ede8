import shutil
from pathlib import Path

import pytest
from PIL import Image

from detector.ml.checkpoint import read_checkpoint
from detector.ml.inference import load_detector
from detector.ml.training import DatasetError, TrainingConfigError, train_detector

from .conftest import require_shared_train

QUICK = dict(input_size=64, epochs=2, batch_size=8, progress=False, log=lambda *_: None)


@pytest.fixture(scope="module")
def trained(real_images_dir, tmp_path_factory):
    """efficientnet_lite0 (offline ImageNet weights) fine-tuned on 40 CIFAKE + hardfaces images,
    plus a broken and a truncated file that must be skipped."""
    data = tmp_path_factory.mktemp("with_bad_files")
    shutil.copytree(real_images_dir, data, dirs_exist_ok=True)
    (data / "ai" / "broken.png").write_bytes(b"not a png at all")
    good = next((data / "real" / "hardfaces").iterdir())
    (data / "real" / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    output = tmp_path_factory.mktemp("out") / "detector.pt"
    messages = []
    result = train_detector(data_dirs=[data], output=output, **{**QUICK, "log": messages.append})
    return result, messages


def test_training_writes_a_complete_checkpoint(trained):
    result, messages = trained
    checkpoint = read_checkpoint(result.checkpoint_path)
    assert checkpoint.arch == "efficientnet_lite0"
    assert checkpoint.model_version.startswith("efficientnet_lite0-20")
    assert checkpoint.temperature > 0
    assert 0.5 <= checkpoint.thresholds["likely_ai"] <= 1.0
    assert 0.0 <= checkpoint.thresholds["likely_human"] <= 0.2
    for key in ("roc_auc", "accuracy", "val_loss", "false_positive_rate_real_at_likely_ai", "history", "per_source"):
        assert key in checkpoint.metrics, key
    assert checkpoint.preprocessing["input_size"] == 64
    assert checkpoint.preprocessing["tiling"] == "native-crops"
    summary = checkpoint.data_summary
    # The broken PNG fails the header check; the truncated JPEG only fails when decoded.
    assert summary["per_class"] == {"real": 21, "ai": 20}
    assert summary["train"]["images"] + summary["val"]["images"] == 41
    assert 1 <= summary["unreadable"] <= 2
    assert checkpoint.training_args["pretrained"] is True and checkpoint.training_args["seed"] == 0
    assert result.epochs_run == checkpoint.metrics["epochs_run"] <= 2
    assert "broken.png" in "\n".join(messages)
    detector = load_detector(result.checkpoint_path)
    hardface = sorted((Path(summary["data_dirs"][0]) / "ai" / "hardfaces").iterdir())[0]
    with Image.open(hardface) as image:
        score = detector.score(image)
    assert 0.0 <= score.p_ai <= 1.0 and score.tiles == 5  # 300x300 image, 64 px native crops


def test_training_is_deterministic_with_a_fixed_seed(tmp_path):
    root = require_shared_train()
    runs = [
        train_detector(
            data_dirs=[root],
            output=tmp_path / f"run{i}.pt",
            arch="resnet10t",
            pretrained=False,
            max_images=40,
            seed=11,
            **QUICK,
        )
        for i in range(2)
    ]
    keys = ["roc_auc", "val_loss", "temperature", "accuracy", "val_images", "per_source"]
    first, second = ({k: r.metrics[k] for k in keys} for r in runs)
    assert first == second
    assert [h["val_loss"] for h in runs[0].history] == [h["val_loss"] for h in runs[1].history]
    assert runs[0].model_version == runs[1].model_version
    summary = read_checkpoint(runs[0].checkpoint_path).data_summary
    assert summary["per_class"] == {"real": 20, "ai": 20}
    assert summary["max_images"] == 40 and summary["found"] > 15000


def _two_class_dir(root):
    for label, colour in (("real", (200, 10, 10)), ("ai", (10, 10, 200))):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), colour).save(root / label / f"{i}.png")
    return root


def test_bad_inputs_fail_before_training(tmp_path):
    data = _two_class_dir(tmp_path / "data")
    out = tmp_path / "out.pt"
    with pytest.raises(DatasetError, match="does not exist"):
        train_detector(data_dirs=[tmp_path / "missing"], output=out, **QUICK)
    (tmp_path / "real_only" / "real").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(tmp_path / "real_only" / "real" / "x.png")
    with pytest.raises(DatasetError, match="has no ai images"):
        train_detector(data_dirs=[tmp_path / "real_only"], output=out, **QUICK)
    with pytest.raises(TrainingConfigError, match="Unknown architecture 'resnet_9000'"):
        train_detector(data_dirs=[data], output=out, arch="resnet_9000", **QUICK)
    with pytest.raises(TrainingConfigError, match="only 'efficientnet_lite0' has them"):
        train_detector(data_dirs=[data], output=out, arch="resnet10t", **QUICK)
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(TrainingConfigError, match="Cannot write the checkpoint"):
        train_detector(data_dirs=[data], output=blocker / "model.pt", **QUICK)
    with pytest.raises(TrainingConfigError, match="is a folder"):
        train_detector(data_dirs=[data], output=tmp_path, **QUICK)
    with pytest.raises(TrainingConfigError, match="epochs must be"):
        train_detector(data_dirs=[data], output=out, **{**QUICK, "epochs": 0})
    assert not out.exists()


def test_a_stop_request_keeps_the_best_finished_epoch(tmp_path):
    """Ctrl-C / SIGTERM or a time budget end training with a usable, calibrated checkpoint."""
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.training import TrainingConfigError, train_detector
    from tests.conftest import _synthetic_training_folder

    data = _synthetic_training_folder(tmp_path / "data")
    batches = {"n": 0}

    def stop_in_second_epoch():
        batches["n"] += 1
        return batches["n"] > 4  # 40 training images / batch 16 = 3 batches per epoch

    result = train_detector(
        data_dirs=[data], output=tmp_path / "m.pt", arch="resnet10t", pretrained=False, input_size=32,
        epochs=5, batch_size=16, seed=0, progress=False, log=lambda *a: None, should_stop=stop_in_second_epoch,
    )
    checkpoint = read_checkpoint(result.checkpoint_path)
    assert result.epochs_run == 1 and checkpoint.metrics["best_epoch"] == 1
    assert "likely_ai" in checkpoint.thresholds and checkpoint.temperature > 0

    with pytest.raises(TrainingConfigError, match="before the first epoch finished"):
        train_detector(
            data_dirs=[data], output=tmp_path / "n.pt", arch="resnet10t", pretrained=False, input_size=32,
            epochs=2, batch_size=16, seed=0, progress=False, log=lambda *a: None, should_stop=lambda: True,
        )
    assert not (tmp_path / "n.pt").exists()
