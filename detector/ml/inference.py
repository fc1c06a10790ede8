"""Scoring images with a trained detector checkpoint.

`load_detector` loads a checkpoint once per process and hands the same Detector to every
caller until the file changes on disk. A Detector only reads its model, so one instance
can score from several threads at once.

CPU speed (see bench/README.md for the measurements behind these):
- `set_torch_threads(n)`: torch's intra-op thread count is process-wide. On a machine
  whose cores are busy with other work (or with several worker processes) 1 thread per
  process is much faster than one per core; on an idle machine more threads help.
- `optimize="torchscript"` (Detector / load_detector): scoring runs a traced, frozen
  TorchScript copy of the model (batch norm folded, oneDNN-prepacked convolutions).
  Scores match the eager model to ~1e-5 in the logit. Off by default. `Detector.model`
  stays the eager module (heatmaps need it).
- `tiles_per_forward`: crops per forward pass. On CPU, time per crop grows with the
  forward batch once activations outgrow the caches (about 8 crops here), so a batch of
  many images is faster in chunks of 8 than of 32 (the default, kept for memory bounds).
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .architectures import embedding_features, model_for_state_dict
from .checkpoint import CheckpointError, DetectorCheckpoint, checkpoint_from_bytes
from .preprocessing import Preprocessing, extract_tiles, to_rgb, to_tensor, whole_view_image

# Crops per forward pass: bounds memory when a batch holds many large images.
MAX_TILES_PER_FORWARD = 32

OPTIMIZE_NONE = "none"
OPTIMIZE_TORCHSCRIPT = "torchscript"
OPTIMIZATIONS = (OPTIMIZE_NONE, OPTIMIZE_TORCHSCRIPT)


@dataclass(frozen=True)
class DetectorScore:
    """The detector's opinion on one image."""

    p_ai: float  # calibrated probability that the image is AI-generated, 0..1
    logit: float  # raw (uncalibrated) logit, averaged over the crops
    tiles: int  # number of crops scored


@dataclass(frozen=True)
class PartLogits:
    """One image's logits before the mix (`Detector.part_logits`)."""

    probe: float  # the probe's logit: its crops' mean plus the whole view's share
    npr: float | None  # the NPR members' mean logit, None for a model without them
    tiles: int  # number of crops the probe scored


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
        optimize: str = OPTIMIZE_NONE,
        tiles_per_forward: int = MAX_TILES_PER_FORWARD,
    ):
        _check_options(optimize, tiles_per_forward)
        self.tiles_per_forward = int(tiles_per_forward)
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
        model = model_for_state_dict(self.arch, checkpoint.state_dict)
        try:
            model.load_state_dict(checkpoint.state_dict, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"Detector checkpoint {checkpoint_path or ''} does not match the {self.arch!r} architecture: "
                f"{_summarise_load_error(exc)}"
            ) from exc
        if self.preprocessing.whole_view != bool(getattr(model, "whole_view", False)):
            raise CheckpointError(
                f"Detector checkpoint {checkpoint_path or ''} is unusable: its preprocessing "
                f"{'asks for' if self.preprocessing.whole_view else 'has no'} whole view, but its weights "
                f"{'have a' if getattr(model, 'whole_view', False) else 'have no'} whole-view head."
            )
        self.model = model.to(self.device).eval()
        # efficientnet_lite0_multilevel_npr: the patch models score beside `model` (which may be swapped
        # for a traced or benchmarked copy of the probe part); None for every other architecture.
        self.patch_model = self.model if hasattr(self.model, "npr_logits") else None
        # A probe with a whole view (Preprocessing.whole_view): scores the shrunk picture beside `model`.
        self.whole_view_model = self.model if self.preprocessing.whole_view else None
        if self.patch_model is not None:
            from .npr import crop_pool_of

            try:
                self.patch_model.crop_pool = crop_pool_of(checkpoint.training_args)
            except ValueError as exc:
                raise CheckpointError(f"Detector checkpoint {checkpoint_path or ''} is unusable: {exc}") from exc
        self.optimize = optimize
        self._scripted = self._torchscript() if optimize == OPTIMIZE_TORCHSCRIPT else None

    def _torchscript(self):
        """Traced + frozen + inference-optimised copy of the model; the eager model is left alone."""
        size = self.preprocessing.input_size
        example = torch.zeros(2, 3, size, size, device=self.device)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                # torch.jit is deprecated in favour of torch.compile, whose compile time
                # (minutes on 2 cores, again for each new crop count) is too slow here.
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(copy.deepcopy(self.model).eval(), example)
                scripted = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
                scripted(example)
        except Exception as exc:  # an architecture or torch version the tracer cannot handle
            # The eager model gives the same scores, only slower: fall back rather than fail.
            warnings.warn(
                f"Cannot build a TorchScript model for {self.arch!r} ({exc}); scoring with the eager model.",
                RuntimeWarning,
                stacklevel=3,
            )
            self.optimize = OPTIMIZE_NONE
            return None
        return scripted

    def __repr__(self):
        return f"<Detector {self.model_version} ({self.arch}) sha256={self.checkpoint_sha256[:12]}>"

    def score(self, image) -> DetectorScore:
        """Score one PIL image (any mode); apply EXIF orientation before calling if you want it."""
        return self.score_batch([image])[0]

    def score_batch(self, images) -> list[DetectorScore]:
        """Score several PIL images; crops of all images share forward passes."""
        scores = []
        for parts in self.part_logits(images):
            logit = parts.probe
            if parts.npr is not None:  # efficientnet_lite0_multilevel_npr: the probe's and the patch models' logits mixed
                logit = self.patch_model.combine(logit, parts.npr)
            scores.append(DetectorScore(p_ai=calibrated_probability(logit, self.temperature), logit=logit, tiles=parts.tiles))
        return scores

    def part_logits(self, images) -> list[PartLogits]:
        """Each image's logits before the mix: the probe's (crop mean plus whole view) and the NPR members'."""
        images = list(images)
        if not images:
            return []
        batches = [to_tensor(extract_tiles(image, self.preprocessing).images, self.preprocessing) for image in images]
        counts = [b.shape[0] for b in batches]
        tiles = torch.cat(batches)
        forward = self._scripted if self._scripted is not None else self.model
        with torch.inference_mode():
            logits = torch.cat(
                [
                    forward(tiles[i : i + self.tiles_per_forward].to(self.device)).float().reshape(-1).cpu()
                    for i in range(0, tiles.shape[0], self.tiles_per_forward)
                ]
            )
        npr = self.npr_logits(images)
        whole = self._whole_logits(images)
        parts, start = [], 0
        for index, count in enumerate(counts):
            probe = float(logits[start : start + count].mean())
            start += count
            if whole is not None:  # the whole picture's share of the probe's linear head (multilevel.py)
                probe += float(whole[index])
            parts.append(PartLogits(probe=probe, npr=None if npr is None else float(npr[index]), tiles=count))
        return parts

    def _whole_logits(self, images):
        """Each image's whole-view logit, or None for a model without a whole view."""
        if self.whole_view_model is None:
            return None
        views = to_tensor([whole_view_image(image, self.preprocessing) for image in images], self.preprocessing)
        logits = self._whole_view_logits(views)
        if self.preprocessing.whole_view_mirrored:
            # The head is linear: the mean of the two logits is the logit of the two vectors' mean.
            logits = 0.5 * (logits + self._whole_view_logits(torch.flip(views, dims=[3])))
        return logits

    def _whole_view_logits(self, views: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            return torch.cat([
                self.whole_view_model.whole_logits(views[i : i + self.tiles_per_forward].to(self.device)).float().cpu()
                for i in range(0, views.shape[0], self.tiles_per_forward)
            ]).numpy()

    def npr_logits(self, images):
        """Each image's NPR patch-model logit (native-resolution crops), or None for a model without one."""
        if self.patch_model is None:
            return None
        background = tuple(self.preprocessing.alpha_background)
        crops = np.stack([self.patch_model.npr_crops(image, background) for image in images])
        return self.patch_model.npr_logits(crops)

    @property
    def embedding_version(self) -> str:
        """Embeddings of different weights are not comparable: match only within one version."""
        return f"{self.model_version}@{self.checkpoint_sha256[:12]}/{getattr(self.model, 'embedding_tag', 'global-224')}"

    def embed_batch(self, images) -> np.ndarray:
        """L2-normalised pooled features of each whole image (resized, not tiled), float32 (n, d).

        d is 1280 for both lite0 models (`architectures.embedding_features`: the final pooled
        features; indexes compare only within one embedding_version).

        Used to find the same picture again (known-image matching), so it looks at the whole
        frame: a crop or a resize of a labelled image should land next to it.
        """
        images = list(images)
        if not images:
            return np.zeros((0, 0), dtype=np.float32)
        size = self.preprocessing.input_size
        background = tuple(self.preprocessing.alpha_background)
        whole = [to_rgb(image, background).resize((size, size), Image.Resampling.BICUBIC) for image in images]
        tiles = to_tensor(whole, self.preprocessing)
        with torch.inference_mode():
            features = []
            for i in range(0, tiles.shape[0], self.tiles_per_forward):
                features.append(embedding_features(self.model, tiles[i : i + self.tiles_per_forward].to(self.device)).float().cpu())
            pooled = torch.nn.functional.normalize(torch.cat(features).reshape(len(whole), -1), dim=1)
        return pooled.numpy()


def _check_options(optimize: str, tiles_per_forward: int) -> None:
    if optimize not in OPTIMIZATIONS:
        raise ValueError(f"Unknown optimize option {optimize!r}; choose one of {', '.join(OPTIMIZATIONS)}.")
    if int(tiles_per_forward) < 1:
        raise ValueError(f"tiles_per_forward must be at least 1, got {tiles_per_forward}.")


def _summarise_load_error(exc: RuntimeError) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines[1:4]) if len(lines) > 1 else (lines[0] if lines else "")
    return text[:600] + ("..." if len(text) > 600 else "")


_cache_lock = threading.Lock()
_cache: dict[tuple, tuple[tuple, Detector]] = {}


def load_detector(
    path,
    *,
    device: str = "cpu",
    optimize: str = OPTIMIZE_NONE,
    tiles_per_forward: int = MAX_TILES_PER_FORWARD,
) -> Detector:
    """The Detector for a checkpoint file, loaded once per process and reloaded when the file changes.

    The cache key is (resolved path, mtime_ns, size); each (path, device, options) has its
    own slot. Raises CheckpointError for a missing, foreign, corrupt or mismatching file.
    """
    _check_options(optimize, tiles_per_forward)
    resolved = Path(path).expanduser().resolve()
    try:
        stat = os.stat(resolved)
    except FileNotFoundError:
        raise CheckpointError(f"Detector checkpoint {path} does not exist.") from None
    except OSError as exc:
        raise CheckpointError(f"Detector checkpoint {path} cannot be read: {exc.strerror or exc}.") from exc
    slot = (str(resolved), str(device))
    if (optimize, int(tiles_per_forward)) != (OPTIMIZE_NONE, MAX_TILES_PER_FORWARD):
        slot += (optimize, int(tiles_per_forward))
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
            optimize=optimize,
            tiles_per_forward=tiles_per_forward,
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


def resolve_device(device) -> torch.device:
    """The torch device for a name like "cpu" or "cuda:1"; ValueError (clear message) if unusable here."""
    try:
        torch_device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"Unknown device {device!r}: {exc}") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Device {device!r} was requested but CUDA is not available on this machine.")
    if torch_device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"Device {device!r} was requested but MPS is not available on this machine.")
    return torch_device


def set_torch_threads(num_threads: int | None) -> int:
    """Set torch's intra-op thread count for this process; returns the count in force.

    None leaves torch's default (one per core). The setting is process-wide: call it once
    at worker start-up, before scoring. With several worker processes per machine, or
    cores shared with other work, use cores // processes (often 1).
    """
    if num_threads is not None:
        num_threads = int(num_threads)
        if num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, got {num_threads}.")
        if torch.get_num_threads() != num_threads:
            torch.set_num_threads(num_threads)
    return torch.get_num_threads()


def clear_detector_cache() -> None:
    """Forget every loaded detector (tests, or to free memory)."""
    with _cache_lock:
        _cache.clear()
