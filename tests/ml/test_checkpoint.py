import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from detector.ml.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    DetectorCheckpoint,
    read_checkpoint,
    save_checkpoint,
)
from detector.ml.digests import file_sha256
from detector.ml.inference import load_detector


def test_round_trip_keeps_every_field(tiny_checkpoint_path, tmp_path):
    original = read_checkpoint(tiny_checkpoint_path)
    original.metrics = {"roc_auc": np.float64(0.75), "per_source": {"x": {"n": np.int64(3)}}, "pair": (1, 2)}
    exact = tmp_path / "exact.pt"
    save_checkpoint(original, exact, half=False)
    loaded = read_checkpoint(exact)
    assert loaded.arch == "efficientnet_lite0"
    assert loaded.model_version == original.model_version
    assert loaded.temperature == 1.5
    assert loaded.thresholds == {"likely_ai": 0.8, "likely_human": 0.2}
    assert loaded.metrics == {"roc_auc": 0.75, "per_source": {"x": {"n": 3}}, "pair": [1, 2]}
    assert type(loaded.metrics["roc_auc"]) is float
    assert loaded.preprocessing == original.preprocessing
    assert loaded.data_summary == original.data_summary
    assert loaded.training_args == original.training_args
    assert loaded.created_at == original.created_at
    assert loaded.state_dict.keys() == original.state_dict.keys()
    for name, tensor in original.state_dict.items():
        assert torch.equal(loaded.state_dict[name], tensor), name


def test_saved_weights_are_half_precision_except_batchnorm_statistics(tiny_checkpoint_path):
    payload = torch.load(tiny_checkpoint_path, weights_only=True)
    assert payload["format"] == CHECKPOINT_FORMAT
    state = payload["state_dict"]
    assert state["conv_stem.weight"].dtype == torch.float16
    assert state["bn1.running_var"].dtype == torch.float32
    assert state["bn1.num_batches_tracked"].dtype == torch.int64


def test_save_is_atomic_and_leaves_no_temporary_files(tiny_checkpoint_path, tmp_path):
    checkpoint = read_checkpoint(tiny_checkpoint_path)
    target = tmp_path / "sub" / "model.pt"
    save_checkpoint(checkpoint, target)
    save_checkpoint(checkpoint, target)  # overwriting goes through os.replace too
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.pt"]
    assert len(file_sha256(target)) == 64


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"does not exist"):
        read_checkpoint(tmp_path / "nope.pt")


def test_directory_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match=r"is a directory"):
        read_checkpoint(tmp_path)


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match=r"is not a detector checkpoint: it is not a PyTorch file"):
        read_checkpoint(path)


def test_png_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "image.pt"
    Image.new("RGB", (16, 16), (10, 20, 30)).save(path, format="PNG")
    with pytest.raises(CheckpointError, match=r"is not a detector checkpoint"):
        read_checkpoint(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"is empty"):
        read_checkpoint(path)


def test_truncated_checkpoint_is_reported_as_corrupt(tiny_checkpoint_path, tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(tiny_checkpoint_path.read_bytes()[:100_000])
    with pytest.raises(CheckpointError, match=r"corrupt or truncated"):
        read_checkpoint(path)


def test_plain_state_dict_is_not_a_detector_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"not an aiornot detector checkpoint \(it has no 'format' field\)"):
        read_checkpoint(path)


def _rewrite(source, target, **changes):
    payload = torch.load(source, weights_only=True)
    payload.update(changes)
    torch.save(payload, target)
    return target


def test_wrong_format_version(tiny_checkpoint_path, tmp_path):
    path = _rewrite(tiny_checkpoint_path, tmp_path / "v2.pt", format="aiornot.detector/2")
    with pytest.raises(CheckpointError, match=r"format version 'aiornot.detector/2'.*reads only 'aiornot.detector/1'"):
        read_checkpoint(path)
    other = _rewrite(tiny_checkpoint_path, tmp_path / "other.pt", format="someone-else/1")
    with pytest.raises(CheckpointError, match=r"not an aiornot detector checkpoint"):
        read_checkpoint(other)


def test_unknown_arch(tiny_checkpoint_path, tmp_path):
    path = _rewrite(tiny_checkpoint_path, tmp_path / "arch.pt", arch="no_such_net_v7")
    with pytest.raises(CheckpointError, match=r"architecture 'no_such_net_v7'.*does not know"):
        read_checkpoint(path)


def test_missing_field_and_bad_threshold_are_corrupt(tiny_checkpoint_path, tmp_path):
    payload = torch.load(tiny_checkpoint_path, weights_only=True)
    del payload["temperature"]
    torch.save(payload, tmp_path / "no_t.pt")
    with pytest.raises(CheckpointError, match=r"corrupt: the field 'temperature' is missing"):
        read_checkpoint(tmp_path / "no_t.pt")
    path = _rewrite(tiny_checkpoint_path, tmp_path / "thr.pt", thresholds={"likely_ai": 1.7, "likely_human": 0.2})
    with pytest.raises(CheckpointError, match=r"threshold 'likely_ai' is 1.7"):
        read_checkpoint(path)


def test_state_dict_mismatch_is_reported_when_loading(tiny_checkpoint_path, tmp_path):
    path = _rewrite(tiny_checkpoint_path, tmp_path / "mismatch.pt", arch="resnet10t")
    read_checkpoint(path)  # the file itself is well-formed
    with pytest.raises(CheckpointError, match=r"does not match the 'resnet10t' architecture"):
        load_detector(path)


def test_checkpoint_dataclass_defaults_are_usable(tmp_path):
    checkpoint = DetectorCheckpoint(
        arch="resnet10t",
        state_dict={"w": torch.ones(1)},
        preprocessing={"input_size": 32},
        model_version="x",
    )
    save_checkpoint(checkpoint, tmp_path / "c.pt")
    buffer = io.BytesIO((tmp_path / "c.pt").read_bytes())
    payload = torch.load(buffer, weights_only=True)
    assert payload["thresholds"] == {"likely_ai": 0.8, "likely_human": 0.2}
    assert payload["created_at"][:2] == "20"
    assert os.stat(tmp_path / "c.pt").st_mode & 0o777 == 0o644
