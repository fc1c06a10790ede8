"""Scoring images with a trained detector checkpoint.

`load_detector` loads a checkpoint once per process and hands the same Detector to every
caller until the file changes on disk. A Detector only reads its model, so one instance
can score from several threads at once.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from .architectures import create_model
from .checkpoint import CheckpointError, DetectorCheckpoint, checkpoint_from_bytes
from .preprocessing import Preprocessing, extract_tiles, to_tensor

# Crops per forward pass: bounds memory when a batch holds many large images.
MAX_TILES_PER_FORWARD = 32


@dataclass(frozen=True)
class DetectorScore:
    """The detector's opinion on one image."""

    p_ai: float  # calibrated probability that the image is AI-generated, 0..1
    logit: float  # raw (uncalibrated) logit, averaged over the crops
    tiles: int  # number of crops scored


def calibrated_probability(logit: float, temperature: float) -> float:
    """sigmoid(logit / temperature), computed without overflow."""
    z = logit / temperature
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class Detector:
    """A loaded checkpoint ready to score PIL images."""

    def __init__(
        self,
        checkpoint: DetectorCheckpoint,
        *,
        checkpoint_path: str = "",
        checkpoint_sha256: str = "",
        device: str = "cpu",
    ):
        self.arch = checkpoint.arch
        self.model_version = checkpoint.model_version
        self.thresholds = dict(checkpoint.thresholds)
        self.temperature = float(checkpoint.temperature)
        self.metrics = checkpoint.metrics
        self.created_at = checkpoint.created_at
        self.checkpoint_path = checkpoint_path
        self.checkpoint_sha256 = checkpoint_sha256
        self.device = torch.device(device)
        try:
            self.preprocessing = Preprocessing.from_dict(checkpoint.preprocessing)
        except ValueError as exc:
            raise CheckpointError(f"Detector checkpoint {checkpoint_path} has unusable preprocessing: {exc}") from exc
        model = create_model(self.arch, pretrained=False)
        try:
            model.load_state_dict(checkpoint.state_dict, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"Detector checkpoint {checkpoint_path or ''} does not match the {self.arch!r} architecture: "
                f"{_summarise_load_error(exc)}"
            ) from exc
        self.model = model.to(self.device).eval()

    def __repr__(self):
        return f"<Detector {self.model_version} ({self.arch}) sha256={self.checkpoint_sha256[:12]}>"

    def score(self, image) -> DetectorScore:
        """Score one PIL image (any mode); apply EXIF orientation before calling if you want it."""
        return self.score_batch([image])[0]

    def score_batch(self, images) -> list[DetectorScore]:
        """Score several PIL images; crops of all images share forward passes."""
        images = list(images)
        if not images:
            return []
        batches = [to_tensor(extract_tiles(image, self.preprocessing).images, self.preprocessing) for image in images]
        counts = [b.shape[0] for b in batches]
        tiles = torch.cat(batches)
        with torch.inference_mode():
            logits = torch.cat(
                [
                    self.model(tiles[i : i + MAX_TILES_PER_FORWARD].to(self.device)).float().reshape(-1).cpu()
                    for i in range(0, tiles.shape[0], MAX_TILES_PER_FORWARD)
                ]
            )
        scores, start = [], 0
        for count in counts:
            logit = float(logits[start : start + count].mean())
            start += count
            scores.append(DetectorScore(p_ai=calibrated_probability(logit, self.temperature), logit=logit, tiles=count))
        return scores


def _summarise_load_error(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[1:4]) if len(lines) > 1 else (lines[0] if lines else "")
    return text[:600] + ("..." if len(text) > 600 else "")


_cache_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[tuple, Detector]] = {}


def load_detector(path, *, device: str = "cpu") -> Detector:
    """The Detector for a checkpoint file, loaded once per process and reloaded when the file changes.

    The cache key is (resolved path, mtime_ns, size). Raises CheckpointError for a missing,
    foreign, corrupt or mismatching file.
    """
    resolved = Path(path).expanduser().resolve()
    try:
        stat = os.stat(resolved)
    except FileNotFoundError:
        raise CheckpointError(f"Detector checkpoint {path} does not exist.") from None
    except OSError as exc:
        raise CheckpointError(f"Detector checkpoint {path} cannot be read: {exc.strerror or exc}.") from exc
    slot = (str(resolved), str(device))
    key = (str(resolved), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(slot)
        if cached is not None and cached[0] == key:
            return cached[1]
        key, data = _read_with_key(resolved, path)
        checkpoint = checkpoint_from_bytes(data, path)
        detector = Detector(
            checkpoint,
            checkpoint_path=str(resolved),
            checkpoint_sha256=hashlib.sha256(data).hexdigest(),
            device=device,
        )
        _cache[slot] = (key, detector)
        return detector


def _read_with_key(resolved: Path, shown) -> tuple[tuple, bytes]:
    # Stat the open file, so the cache key always describes the bytes actually read
    # even if the checkpoint is replaced meanwhile.
    try:
        with open(resolved, "rb") as handle:
            stat = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        raise CheckpointError(f"Detector checkpoint {shown} does not exist.") from None
    except IsADirectoryError:
        raise CheckpointError(f"Detector checkpoint {shown} is a directory, not a checkpoint file.") from None
    except OSError as exc:
        raise CheckpointError(f"Detector checkpoint {shown} cannot be read: {exc.strerror or exc}.") from exc
    return (str(resolved), stat.st_mtime_ns, stat.st_size), data


def clear_detector_cache() -> None:
    """Forget every loaded detector (tests, or to free memory)."""
    with _cache_lock:
        _cache.clear()
