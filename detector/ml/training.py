"""Fine-tuning a timm network into a real-vs-AI detector and writing its checkpoint."""

from __future__ import annotations

import math
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .architectures import UnknownArchitectureError, check_arch, create_model
from .augmentation import WildAugmentation
from .calibration import calibrated_nll, choose_thresholds, fit_temperature, probabilities
from .checkpoint import CheckpointError, DetectorCheckpoint, read_checkpoint, save_checkpoint, state_dict_digest, stored_state_dict
from .datasets import (
    DatasetError,
    TrainingImages,
    ValidationImages,
    balanced_subsample,
    cap_per_source,
    collate_training,
    collate_validation,
    collect_samples,
    readable_samples,
    require_both_classes,
    source_weights,
    split_samples,
    summarise,
)
from .inference import resolve_device
from .metrics import balanced_mean, binary_log_loss, roc_auc, weighted_rate
from .preprocessing import Preprocessing
from .pretrained import PretrainedWeightsError

__all__ = ["TrainingConfigError", "TrainingResult", "DatasetError", "train_detector"]


class TrainingConfigError(ValueError):
    """An argument of train_detector cannot work (unknown arch, unwritable output, bad number...)."""


@dataclass
class TrainingResult:
    """What train_detector produced."""

    checkpoint_path: str
    metrics: dict
    epochs_run: int
    model_version: str = ""
    history: list = field(default_factory=list)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def train_detector(
    *,
    data_dirs: list,
    output,
    arch: str = "efficientnet_lite0",
    pretrained: bool = True,
    input_size: int = 224,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 3e-4,
    seed: int = 0,
    val_fraction: float = 0.15,
    patience: int = 3,
    max_images: int | None = None,
    device: str = "cpu",
    num_workers: int = 0,
    progress: bool = True,
    log=print,
    weight_decay: float = 0.01,
    max_tiles: int = 5,
    source_balance: bool = True,
    max_per_source: int | None = None,
    max_minutes: float | None = None,
    should_stop=None,
    augmentation: WildAugmentation | None = None,
    init_from=None,
) -> TrainingResult:
    """Train, calibrate and save a detector; returns where it went and its validation metrics.

    `init_from`: a detector checkpoint (path) of the same architecture to fine-tune from,
    instead of the ImageNet weights (the retrain loop starts from the active model).

    Raises DatasetError for unusable data and TrainingConfigError for unusable arguments,
    before any training starts.
    """
    started = time.monotonic()
    data_dirs = [data_dirs] if isinstance(data_dirs, (str, os.PathLike)) else list(data_dirs)
    _check_numbers(input_size, epochs, batch_size, lr, val_fraction, patience, max_images, num_workers, max_tiles)
    torch_device = _check_device(device)
    try:
        check_arch(arch, pretrained=pretrained and init_from is None)
    except UnknownArchitectureError as exc:
        raise TrainingConfigError(str(exc)) from None
    from .npr import NPR_ARCH

    if arch == NPR_ARCH:
        raise TrainingConfigError(
            f"{NPR_ARCH} is trained with --method probe (its NPR patch models are trained out of source there); "
            f"fine-tuning would leave them untrained."
        )
    output = _check_output(output)
    augmentation = augmentation or WildAugmentation()
    preprocessing = Preprocessing(input_size=input_size, max_tiles=max_tiles)

    seed_everything(seed)
    samples = collect_samples(data_dirs, log=log)
    require_both_classes(samples)
    found = len(samples)
    if max_per_source is not None:
        if max_per_source < 1:
            raise TrainingConfigError(f"max_per_source must be at least 1, got {max_per_source}.")
        samples = cap_per_source(samples, max_per_source, seed)
    if max_images is not None and max_images < found:
        samples = balanced_subsample(samples, max_images, seed)
    samples, skipped = readable_samples(samples, log=log)
    require_both_classes(samples, "The readable training data")
    train, val = split_samples(samples, val_fraction, seed)
    summary = summarise(samples)
    log(
        f"data: {summary['per_class']['real']} real + {summary['per_class']['ai']} ai images "
        f"from {len(summary['per_source'])} source(s) ({found} found, {len(skipped)} unreadable); "
        f"train {len(train)}, validation {len(val)}"
    )

    parent_version = None
    if init_from is not None:
        try:
            parent = read_checkpoint(init_from)
        except CheckpointError as exc:
            raise TrainingConfigError(f"Cannot fine-tune from {init_from}: {exc}") from exc
        if parent.arch != arch:
            raise TrainingConfigError(
                f"Cannot fine-tune from {init_from}: it is a {parent.arch!r} model, not {arch!r}."
            )
        model = create_model(arch, pretrained=False)
        model.load_state_dict({k: v.float() for k, v in parent.state_dict.items()}, strict=True)
        model = model.to(torch_device)
        parent_version = parent.model_version
        log(f"fine-tuning from {parent_version} ({init_from})")
    else:
        try:
            model = create_model(arch, pretrained=pretrained).to(torch_device)
        except PretrainedWeightsError as exc:
            raise TrainingConfigError(str(exc)) from exc

    train_weights = source_weights(train, balance=source_balance)
    train_labels = np.array([s.label for s in train])
    # pos_weight equalises the classes' total contribution under the sampler's weights.
    pos_weight = float(train_weights[train_labels == 0].sum() / train_weights[train_labels == 1].sum())
    val_labels = np.array([s.label for s in val])
    val_weights = source_weights(val, balance=source_balance)

    generator = torch.Generator().manual_seed(seed)
    if source_balance:
        sampler = torch.utils.data.WeightedRandomSampler(
            torch.as_tensor(train_weights), num_samples=len(train), replacement=True, generator=generator
        )
    else:
        sampler = torch.utils.data.RandomSampler(train, generator=generator)
    train_set = TrainingImages(train, preprocessing, augmentation, seed)
    train_loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_training,
        drop_last=len(train) > batch_size,
    )
    val_loader = torch.utils.data.DataLoader(
        ValidationImages(val, preprocessing),
        batch_size=max(1, batch_size // max(1, max_tiles)),
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate_validation,
    )

    criterion = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight], device=torch_device))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs * len(train_loader)))

    failed_paths: set[str] = set()

    def note_failures(failures):
        for failure in failures:
            if failure.path not in failed_paths:
                failed_paths.add(failure.path)
                log(f"warning: skipping unreadable image {failure.path}: {failure.reason}")

    history, best_loss, best_state, best_epoch, stale = [], math.inf, None, 0, 0
    epochs_run = 0
    stop_requested = should_stop or (lambda: False)
    stopped_early = False
    for epoch in range(1, epochs + 1):
        epoch_start = time.monotonic()
        if history and max_minutes is not None:
            last = history[-1]["train_seconds"] + history[-1]["val_seconds"]
            if (epoch_start - started + last) / 60 > max_minutes:
                log(f"time budget: another epoch (~{last / 60:.0f} min) would pass --max-minutes {max_minutes}; stopping")
                break
        train_set.set_epoch(epoch)
        model.train()
        seen, loss_sum = 0, 0.0
        bar = tqdm(train_loader, desc=f"epoch {epoch}/{epochs}", unit="batch", disable=not progress, leave=False)
        for batch in bar:
            if stop_requested():
                break
            note_failures(batch["failures"])
            if batch["images"] is None:
                continue
            images = batch["images"].to(torch_device)
            labels = batch["labels"].to(torch_device)
            loss = criterion(model(images).reshape(-1), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += len(labels)
            loss_sum += float(loss.detach()) * len(labels)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        train_seconds = time.monotonic() - epoch_start
        if stop_requested():
            # A half-finished epoch is discarded: the best completed one is kept.
            log(f"stop requested during epoch {epoch}; finishing with the best completed epoch")
            stopped_early = True
            break
        logits = _validation_logits(model, val_loader, len(val), torch_device, progress, note_failures)
        ok = ~np.isnan(logits)
        val_loss = balanced_mean(binary_log_loss(logits[ok], val_labels[ok]), val_labels[ok], val_weights[ok])
        val_auc = roc_auc(val_labels[ok], logits[ok])
        epochs_run = epoch
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / seen if seen else float("nan"),
            "val_loss": val_loss,
            "val_roc_auc": val_auc,
            "train_seconds": round(train_seconds, 2),
            "val_seconds": round(time.monotonic() - epoch_start - train_seconds, 2),
            "train_images_per_second": round(seen / train_seconds, 2) if train_seconds > 0 else None,
        }
        history.append(record)
        log(
            f"epoch {epoch}/{epochs}: train loss {record['train_loss']:.4f}, val loss {val_loss:.4f}, "
            f"val ROC AUC {val_auc:.4f} ({train_seconds:.0f}s train, {record['val_seconds']:.0f}s validation, "
            f"{record['train_images_per_second']} img/s)"
        )
        if math.isfinite(val_loss) and val_loss < best_loss - 1e-6:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= patience:
                log(f"early stopping: validation loss has not improved for {patience} epoch(s)")
                break

    if best_state is None:
        if stopped_early:
            raise TrainingConfigError("Training was stopped before the first epoch finished; no checkpoint was written.")
        best_state, best_epoch = {k: v.detach().clone() for k, v in model.state_dict().items()}, epochs_run
    # Evaluate exactly the weights that are saved (fp16), so the calibration fits the file.
    stored = stored_state_dict(best_state, half=True)
    model.load_state_dict(stored)
    logits = _validation_logits(model, val_loader, len(val), torch_device, progress, note_failures)
    metrics = _final_metrics(logits, val, val_labels, val_weights, source_balance)
    metrics.update(
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        history=history,
        train_seconds_total=round(time.monotonic() - started, 1),
    )

    created = datetime.now().astimezone()
    model_version = f"{arch}-{created:%Y-%m-%d}-{state_dict_digest(stored)[:8]}"
    training_args = {
        "data_dirs": [str(Path(d).expanduser().resolve()) for d in data_dirs],
        "output": str(output),
        "arch": arch,
        "pretrained": bool(pretrained),
        "input_size": input_size,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "seed": seed,
        "val_fraction": val_fraction,
        "patience": patience,
        "max_images": max_images,
        "device": str(torch_device),
        "num_workers": num_workers,
        "max_tiles": max_tiles,
        "source_balance": source_balance,
        "max_per_source": max_per_source,
        "max_minutes": max_minutes,
        "pos_weight": pos_weight,
        "optimizer": "AdamW",
        "loss": "BCEWithLogitsLoss(pos_weight)",
        "lr_schedule": "cosine per step",
        "augmentation": augmentation.to_dict(),
        "torch_threads": torch.get_num_threads(),
        "init_from": str(init_from) if init_from is not None else None,
        "parent_version": parent_version,
    }
    data_summary = {
        **summary,
        "data_dirs": training_args["data_dirs"],
        "found": found,
        "max_images": max_images,
        "unreadable": len(skipped) + len(failed_paths),
        "unreadable_examples": sorted(set(skipped) | failed_paths)[:50],
        "train": summarise(train),
        "val": summarise(val),
        "split": f"seeded, stratified by source and label, groups kept together, val_fraction={val_fraction}",
    }
    checkpoint = DetectorCheckpoint(
        arch=arch,
        state_dict=stored,
        preprocessing=preprocessing.to_dict(),
        model_version=model_version,
        temperature=metrics["temperature"],
        thresholds=metrics.pop("thresholds"),
        metrics=metrics,
        data_summary=data_summary,
        training_args=training_args,
        created_at=created.isoformat(timespec="seconds"),
    )
    try:
        save_checkpoint(checkpoint, output, half=True)
    except OSError as exc:
        raise TrainingConfigError(f"Cannot write the checkpoint to {output}: {exc.strerror or exc}.") from exc
    log(
        f"saved {model_version} to {output}: val ROC AUC {metrics['roc_auc']:.4f}, accuracy {metrics['accuracy']:.4f}, "
        f"temperature {metrics['temperature']:.3f}, likely_ai >= {checkpoint.thresholds['likely_ai']}, "
        f"likely_human < {checkpoint.thresholds['likely_human']}"
    )
    return TrainingResult(str(output), metrics, epochs_run, model_version, history)


def _validation_logits(model, loader, count, device, progress, note_failures) -> np.ndarray:
    """Mean logit over each validation image's crops; NaN for images that failed to load."""
    model.eval()
    logits = np.full(count, np.nan, dtype=np.float64)
    with torch.inference_mode():
        for batch in tqdm(loader, desc="validation", unit="batch", disable=not progress, leave=False):
            note_failures(batch["failures"])
            if batch["tiles"] is None:
                continue
            out = model(batch["tiles"].to(device)).float().reshape(-1).cpu()
            start = 0
            for index, n in zip(batch["indices"], batch["counts"]):
                logits[index] = float(out[start : start + n].mean())
                start += n
    return logits


def _final_metrics(logits, val, labels, weights, source_balance) -> dict:
    ok = ~np.isnan(logits)
    if len(set(labels[ok].tolist())) < 2:
        raise DatasetError(
            "Too few validation images could be read to measure both classes; see the warnings above."
        )
    logits, labels, weights = logits[ok], labels[ok], weights[ok]
    kept = [s for s, keep in zip(val, ok) if keep]
    temperature = fit_temperature(logits, labels, weights)
    p_ai = probabilities(logits, temperature)
    thresholds, info = choose_thresholds(p_ai, labels, weights)
    real, ai = labels == 0, labels == 1
    predicted_ai = p_ai >= 0.5
    flagged = p_ai >= thresholds["likely_ai"]
    cleared = p_ai < thresholds["likely_human"]
    per_source = {}
    for source in sorted({s.source for s in kept}):
        mask = np.array([s.source == source for s in kept])
        per_source[source] = {
            "real": int((mask & real).sum()),
            "ai": int((mask & ai).sum()),
            "accuracy": float((predicted_ai[mask] == ai[mask]).mean()),
            "likely_ai_rate": float(flagged[mask].mean()),
            "likely_human_rate": float(cleared[mask].mean()),
            "mean_p_ai": float(p_ai[mask].mean()),
        }
    return {
        "val_images": int(ok.sum()),
        "val_real": int(real.sum()),
        "val_ai": int(ai.sum()),
        "val_unreadable": int((~ok).sum()),
        "roc_auc": roc_auc(labels, logits),
        "accuracy": float((predicted_ai == ai).mean()),
        "balanced_accuracy": float(np.mean([(~predicted_ai[real]).mean(), predicted_ai[ai].mean()])),
        "val_loss": balanced_mean(binary_log_loss(logits, labels), labels, weights),
        "val_nll_calibrated": calibrated_nll(logits, labels, temperature, weights),
        "temperature": temperature,
        "thresholds": thresholds,
        "threshold_rules": info,
        "false_positive_rate_real_at_likely_ai": weighted_rate(flagged, real, weights),
        "false_positive_rate_real_at_likely_ai_unweighted": weighted_rate(flagged, real),
        "false_positive_rate_real_at_0_5": weighted_rate(predicted_ai, real, weights),
        "true_positive_rate_ai_at_likely_ai": weighted_rate(flagged, ai, weights),
        "ai_below_likely_human_rate": weighted_rate(cleared, ai, weights),
        "real_below_likely_human_rate": weighted_rate(cleared, real, weights),
        "rates_weighting": (
            "per image 1/sqrt(images of its source and class), classes weighted equally"
            if source_balance
            else "unweighted; classes weighted equally in losses"
        ),
        "per_source": per_source,
    }


def _check_numbers(input_size, epochs, batch_size, lr, val_fraction, patience, max_images, num_workers, max_tiles):
    checks = [
        (isinstance(input_size, int) and input_size >= 16, f"input_size must be an integer >= 16, got {input_size!r}"),
        (isinstance(epochs, int) and epochs >= 1, f"epochs must be an integer >= 1, got {epochs!r}"),
        (isinstance(batch_size, int) and batch_size >= 1, f"batch_size must be an integer >= 1, got {batch_size!r}"),
        (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0, f"lr must be a positive number, got {lr!r}"),
        (
            isinstance(val_fraction, (int, float)) and 0 < val_fraction < 1,
            f"val_fraction must be between 0 and 1, got {val_fraction!r}",
        ),
        (isinstance(patience, int) and patience >= 1, f"patience must be an integer >= 1, got {patience!r}"),
        (
            max_images is None or (isinstance(max_images, int) and max_images >= 4),
            f"max_images must be at least 4 (or None for all images), got {max_images!r}",
        ),
        (isinstance(num_workers, int) and num_workers >= 0, f"num_workers must be >= 0, got {num_workers!r}"),
        (isinstance(max_tiles, int) and max_tiles >= 1, f"max_tiles must be >= 1, got {max_tiles!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise TrainingConfigError(message + ".")


def _check_device(device) -> torch.device:
    try:
        return resolve_device(device)
    except ValueError as exc:
        raise TrainingConfigError(str(exc)) from None


def _check_output(output) -> Path:
    """Fail before training, not after hours of it, if the checkpoint cannot be written."""
    if output is None or str(output) == "":
        raise TrainingConfigError("An output path for the checkpoint is required.")
    path = Path(output).expanduser().absolute()
    if path.is_dir():
        raise TrainingConfigError(f"Output {path} is a folder; give the path of the checkpoint file to write.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise TrainingConfigError(f"Cannot write the checkpoint to {path}: {exc.strerror or exc}.") from None
    if path.exists() and not os.access(path, os.W_OK):
        # os.replace would still succeed, but a read-only file signals it should not be overwritten.
        raise TrainingConfigError(f"Cannot write the checkpoint to {path}: the existing file is read-only.")
    return path

