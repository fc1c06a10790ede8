"""Finding labelled images on disk, sampling, splitting, and the torch datasets for training.

A data folder is either
  * a folder with `real/` and `ai/` subfolders (image files at any depth), or
  * a folder with a MANIFEST.csv with at least the columns `path,label` (label `real` or
    `ai`; optional `generator`, `source_repo`, `sha256`), paths relative to the folder.
    The source of an image is the first component of its path (e.g. `cifake/real/x.jpg`).
"""

from __future__ import annotations

import csv
import math
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from .preprocessing import Preprocessing, extract_tiles, to_rgb, to_tensor

LABELS = {"real": 0, "ai": 1}
LABEL_NAMES = {0: "real", 1: "ai"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
MANIFEST_NAME = "MANIFEST.csv"
_LOSSY_FORMATS = {"JPEG", "MPO"}
_MAX_WARNINGS = 20


class DatasetError(ValueError):
    """The training data cannot be used (missing folder, no images, a class missing...)."""


@dataclass(frozen=True)
class Sample:
    """One labelled image file."""

    path: str
    label: int  # 1 = AI-generated, 0 = real
    source: str  # e.g. "cifake"; folder-layout data uses the data folder's name
    group: str  # images sharing a group always land in the same split
    generator: str = ""


class _Warnings:
    """Logs the first few warnings of a kind in full and then only counts them."""

    def __init__(self, log, what: str):
        self.log, self.what, self.count = log, what, 0

    def __call__(self, message: str):
        self.count += 1
        if self.count <= _MAX_WARNINGS:
            self.log(f"warning: {message}")

    def summary(self):
        if self.count > _MAX_WARNINGS:
            self.log(f"warning: {self.count} {self.what} in total ({self.count - _MAX_WARNINGS} not shown).")


def _group(source: str, label: str, parts_below_label) -> str:
    parts = list(parts_below_label)
    # A subfolder below real/ or ai/ is one unit (e.g. one artwork at several sizes).
    unit = parts[0] if len(parts) > 1 else "/".join(parts)
    return f"{source}/{label}/{unit}"


def discover_samples(data_dir, *, log=print) -> list[Sample]:
    """All labelled image files in one data folder (MANIFEST.csv if present, else real/ and ai/)."""
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DatasetError(f"Data folder {root} does not exist.")
    if not root.is_dir():
        raise DatasetError(f"Data path {root} is not a folder.")
    if (root / MANIFEST_NAME).is_file():
        return _from_manifest(root, log)
    label_dirs = sorted(
        (child.name.lower(), child)
        for child in root.iterdir()
        if child.is_dir() and child.name.lower() in LABELS
    )
    if not label_dirs:
        raise DatasetError(f"Data folder {root} has neither a {MANIFEST_NAME} nor 'real/' and 'ai/' subfolders.")
    samples = []
    for label_name, folder in label_dirs:
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.startswith(".") or Path(filename).suffix.lower() not in IMAGE_EXTENSIONS:
                    continue
                path = Path(dirpath) / filename
                below = path.relative_to(folder).parts
                samples.append(
                    Sample(str(path), LABELS[label_name], root.name, _group(root.name, label_name, below))
                )
    return samples


def _from_manifest(root: Path, log) -> list[Sample]:
    manifest = root / MANIFEST_NAME
    warn_label = _Warnings(log, f"rows of {manifest} with an unknown label")
    warn_missing = _Warnings(log, f"files listed in {manifest} that do not exist")
    samples, seen_hashes, duplicates = [], set(), 0
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = {c.strip().lower(): c for c in (reader.fieldnames or [])}
            if "path" not in columns or "label" not in columns:
                raise DatasetError(f"{manifest} must have the columns 'path' and 'label' (found {list(columns)}).")
            for line, row in enumerate(reader, start=2):
                rel = (row.get(columns["path"]) or "").strip()
                label_name = (row.get(columns["label"]) or "").strip().lower()
                if label_name not in LABELS:
                    warn_label(f"{manifest}:{line}: label {label_name!r} is neither 'real' nor 'ai'; row skipped.")
                    continue
                if not rel:
                    warn_missing(f"{manifest}:{line}: empty path; row skipped.")
                    continue
                path = root / rel
                if not path.is_file():
                    warn_missing(f"{manifest}:{line}: {path} does not exist; row skipped.")
                    continue
                digest = (row.get(columns["sha256"]) or "").strip().lower() if "sha256" in columns else ""
                if digest:
                    if digest in seen_hashes:
                        duplicates += 1
                        continue
                    seen_hashes.add(digest)
                parts = PurePosixPath(rel.replace("\\", "/")).parts
                source = parts[0] if len(parts) > 1 else root.name
                below = parts[1:] if len(parts) > 1 else parts
                if len(below) > 1 and below[0].lower() in LABELS:
                    below = below[1:]
                generator = (row.get(columns["generator"]) or "").strip() if "generator" in columns else ""
                group = _group(source, label_name, below)
                samples.append(Sample(str(path), LABELS[label_name], source, group, generator))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"Cannot read {manifest}: {exc}") from exc
    warn_label.summary()
    warn_missing.summary()
    if duplicates:
        log(f"warning: {duplicates} rows of {manifest} repeat an sha256 already listed; skipped.")
    return samples


def collect_samples(data_dirs, *, log=print) -> list[Sample]:
    """Samples from every data folder, each file once; raises DatasetError if a folder has no images."""
    if isinstance(data_dirs, (str, os.PathLike)):
        data_dirs = [data_dirs]
    if not data_dirs:
        raise DatasetError("No data folder given.")
    samples, seen = [], set()
    for data_dir in data_dirs:
        found = discover_samples(data_dir, log=log)
        if not found:
            raise DatasetError(f"Data folder {data_dir} contains no image files.")
        for sample in found:
            key = os.path.realpath(sample.path)
            if key not in seen:
                seen.add(key)
                samples.append(sample)
    return samples


def require_both_classes(samples, where: str = "The training data") -> None:
    """Raise DatasetError unless both real and AI images are present."""
    counts = Counter(s.label for s in samples)
    missing = [LABEL_NAMES[label] for label in (0, 1) if counts[label] == 0]
    if missing:
        raise DatasetError(
            f"{where} has no {' and no '.join(missing)} images; both 'real' and 'ai' images are needed "
            f"(found {counts[0]} real, {counts[1]} ai)."
        )


def balanced_subsample(samples, max_images: int, seed: int) -> list[Sample]:
    """A seeded random sample of at most max_images with (up to) half from each class."""
    rng = random.Random(f"subsample-{seed}")
    quotas = {1: max_images // 2, 0: max_images - max_images // 2}
    chosen = []
    for label in (0, 1):
        of_class = sorted((s for s in samples if s.label == label), key=lambda s: s.path)
        k = min(len(of_class), quotas[label])
        chosen.extend(rng.sample(of_class, k))
    return sorted(chosen, key=lambda s: s.path)


def cap_per_source(samples, max_per_source: int, seed: int) -> list[Sample]:
    """Keep at most max_per_source images of each (source, label), chosen at random with the seed.

    A corpus where one source dwarfs the others (12k CIFAKE thumbnails) would otherwise
    spend most of an epoch on that source.
    """
    rng = random.Random(f"per-source-{seed}")
    by_key: dict[tuple[str, int], list[Sample]] = {}
    for sample in sorted(samples, key=lambda s: s.path):
        by_key.setdefault((sample.source, sample.label), []).append(sample)
    chosen = []
    for key in sorted(by_key):
        group = by_key[key]
        chosen.extend(group if len(group) <= max_per_source else rng.sample(group, max_per_source))
    return sorted(chosen, key=lambda s: s.path)


def readable_samples(samples, *, log=print) -> tuple[list[Sample], list[str]]:
    """Drop files Pillow cannot identify (header check only); returns (kept, skipped paths)."""
    warn = _Warnings(log, "unreadable image files skipped")
    kept, skipped = [], []
    for sample in samples:
        try:
            with Image.open(sample.path) as image:
                width, height = image.size
            if width < 1 or height < 1:
                raise ValueError("image has no pixels")
        except Exception as exc:  # any failure means "skip this file", never abort training
            warn(f"skipping unreadable image {sample.path}: {exc}")
            skipped.append(sample.path)
            continue
        kept.append(sample)
    warn.summary()
    return kept, skipped


def split_samples(samples, val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Seeded train/validation split, stratified by (source, label), never splitting a group."""
    strata = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        strata[(sample.source, sample.label)][sample.group].append(sample)
    rng = random.Random(f"split-{seed}")
    train, val = [], []
    spare = {0: [], 1: []}  # strata that could still give a group to validation
    for stratum in sorted(strata):
        groups = [strata[stratum][g] for g in sorted(strata[stratum])]
        rng.shuffle(groups)
        total = sum(len(g) for g in groups)
        goal = round(val_fraction * total)
        taken = 0
        while len(groups) > 1 and taken < goal:
            group = groups.pop()
            val.extend(group)
            taken += len(group)
        if len(groups) > 1:
            spare[stratum[1]].append(groups)
        for group in groups:
            train.extend(group)
    for label in (0, 1):
        if not any(s.label == label for s in val) and spare[label]:
            # Tiny data: hold out one group of the class so validation can measure both error types.
            groups = max(spare[label], key=len)
            moved = groups.pop()
            moved_paths = {s.path for s in moved}
            train = [s for s in train if s.path not in moved_paths]
            val.extend(moved)
    require_both_classes(val, "The validation split")
    require_both_classes(train, "The training split")
    return sorted(train, key=lambda s: s.path), sorted(val, key=lambda s: s.path)


def source_weights(samples, *, balance: bool = True) -> np.ndarray:
    """Per-image weight 1/sqrt(images of its source and class), so huge sources (CIFAKE) do not dominate."""
    if not balance:
        return np.ones(len(samples), dtype=np.float64)
    counts = Counter((s.source, s.label) for s in samples)
    return np.array([1.0 / math.sqrt(counts[(s.source, s.label)]) for s in samples], dtype=np.float64)


def summarise(samples) -> dict:
    """Counts per class, per source and class, and per generator."""
    per_source = defaultdict(lambda: {"real": 0, "ai": 0})
    for sample in samples:
        per_source[sample.source][LABEL_NAMES[sample.label]] += 1
    counts = Counter(LABEL_NAMES[s.label] for s in samples)
    generators = Counter(s.generator for s in samples if s.generator)
    summary = {
        "images": len(samples),
        "per_class": {"real": counts.get("real", 0), "ai": counts.get("ai", 0)},
        "per_source": {k: dict(v) for k, v in sorted(per_source.items())},
    }
    if generators:
        summary["per_generator"] = dict(sorted(generators.items()))
    return summary


def load_image(path) -> tuple[Image.Image, bool]:
    """Fully decoded RGB image and whether its file was losslessly stored (not JPEG)."""
    with Image.open(path) as image:
        lossless = image.format not in _LOSSY_FORMATS
        image.load()
        rgb = to_rgb(image)
        if rgb is image:
            rgb = image.copy()
    return rgb, lossless


@dataclass(frozen=True)
class LoadFailure:
    """Returned by a dataset instead of raising, so one bad file cannot stop training."""

    index: int
    path: str
    reason: str


class TrainingImages(torch.utils.data.Dataset):
    """Augmented random crops; the randomness depends only on (seed, epoch, index)."""

    def __init__(self, samples, preprocessing: Preprocessing, augmentation, seed: int):
        self.samples = list(samples)
        self.preprocessing = preprocessing
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation stream of the next epoch."""
        self.epoch = epoch

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        sample = self.samples[index]
        rng = random.Random(f"train-{self.seed}-{self.epoch}-{index}")
        try:
            image, lossless = load_image(sample.path)
            crop = self.augmentation(image, self.preprocessing.input_size, rng, lossless_source=lossless)
        except Exception as exc:  # unreadable or truncated file
            return LoadFailure(index, sample.path, f"{type(exc).__name__}: {exc}")
        return to_tensor([crop], self.preprocessing)[0], float(sample.label), index


class ValidationImages(torch.utils.data.Dataset):
    """Every crop of each image exactly as inference makes them (no augmentation)."""

    def __init__(self, samples, preprocessing: Preprocessing):
        self.samples = list(samples)
        self.preprocessing = preprocessing

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        sample = self.samples[index]
        try:
            image, _ = load_image(sample.path)
            tiles = extract_tiles(image, self.preprocessing)
        except Exception as exc:
            return LoadFailure(index, sample.path, f"{type(exc).__name__}: {exc}")
        return to_tensor(tiles.images, self.preprocessing), float(sample.label), index


def collate_training(batch) -> dict:
    """Stack crops, setting aside files that failed to load."""
    ok = [item for item in batch if not isinstance(item, LoadFailure)]
    return {
        "images": torch.stack([item[0] for item in ok]) if ok else None,
        "labels": torch.tensor([item[1] for item in ok], dtype=torch.float32),
        "indices": [item[2] for item in ok],
        "failures": [item for item in batch if isinstance(item, LoadFailure)],
    }


def collate_validation(batch) -> dict:
    """Concatenate the crops of several images, remembering how many belong to each."""
    ok = [item for item in batch if not isinstance(item, LoadFailure)]
    return {
        "tiles": torch.cat([item[0] for item in ok]) if ok else None,
        "counts": [item[0].shape[0] for item in ok],
        "labels": [item[1] for item in ok],
        "indices": [item[2] for item in ok],
        "failures": [item for item in batch if isinstance(item, LoadFailure)],
    }
