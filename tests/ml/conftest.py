"""Fixtures for the detector.ml tests: a tiny checkpoint and small real-data folders."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import torch

# The shared corpus lives beside the repository (CI clones the repo with shared/ next to it).
SHARED_TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "train"
SMALL_INPUT = 64


def require_shared_train() -> Path:
    """The shared training corpus, or skip the test with the reason."""
    if not (SHARED_TRAIN / "MANIFEST.csv").is_file():
        pytest.skip(f"real-data test: the shared training corpus is not at {SHARED_TRAIN}")
    return SHARED_TRAIN


def shared_rows(source: str, label: str, count: int) -> list[dict]:
    """The first `count` manifest rows of one source and label (manifest order is fixed)."""
    root = require_shared_train()
    with open(root / "MANIFEST.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["path"].startswith(f"{source}/") and r["label"] == label]
    return rows[:count]


@pytest.fixture(scope="session")
def real_images_dir(tmp_path_factory) -> Path:
    """real/ and ai/ folders with 10 CIFAKE + 10 hardfaces images per class from the shared corpus."""
    root = require_shared_train()
    target = tmp_path_factory.mktemp("real_images")
    for label in ("real", "ai"):
        for source in ("cifake", "hardfaces"):
            folder = target / label / source
            folder.mkdir(parents=True)
            for row in shared_rows(source, label, 10):
                shutil.copy(root / row["path"], folder / Path(row["path"]).name)
    return target


@pytest.fixture(scope="session")
def tiny_checkpoint_path(tmp_path_factory) -> Path:
    """An untrained efficientnet_lite0 checkpoint with 64 px crops, saved with save_checkpoint."""
    from detector.ml.checkpoint import DetectorCheckpoint, save_checkpoint
    from detector.ml.architectures import create_model
    from detector.ml.preprocessing import Preprocessing

    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", pretrained=False)
    path = tmp_path_factory.mktemp("checkpoints") / "tiny.pt"
    save_checkpoint(
        DetectorCheckpoint(
            arch="efficientnet_lite0",
            state_dict=model.state_dict(),
            preprocessing=Preprocessing(input_size=SMALL_INPUT).to_dict(),
            model_version="efficientnet_lite0-test-00000000",
            temperature=1.5,
            thresholds={"likely_ai": 0.8, "likely_human": 0.2},
            metrics={"roc_auc": 0.5},
            data_summary={"per_class": {"real": 1, "ai": 1}},
            training_args={"seed": 0},
        ),
        path,
    )
    return path
