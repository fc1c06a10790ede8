"""Building the timm network behind a detector (one output logit: AI-generated vs not)."""

from __future__ import annotations

import difflib

import timm
import torch

from .pretrained import LITE0_ARCH, load_lite0_pretrained


class UnknownArchitectureError(ValueError):
    """The architecture name is not a timm model, or has no offline weights when they are asked for."""


def check_arch(arch: str, *, pretrained: bool = False) -> None:
    """Raise UnknownArchitectureError unless timm knows `arch` (and, if pretrained, it has offline weights)."""
    if not isinstance(arch, str) or not timm.is_model(arch):
        close = difflib.get_close_matches(str(arch), timm.list_models(), n=3, cutoff=0.75)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownArchitectureError(
            f"Unknown architecture {arch!r}: timm {timm.__version__} has no such model.{hint}"
        )
    if pretrained and arch != LITE0_ARCH:
        raise UnknownArchitectureError(
            f"No offline pretrained weights for {arch!r}: only {LITE0_ARCH!r} has them (weights are never "
            f"downloaded). Use arch={LITE0_ARCH!r} or train {arch!r} from scratch with pretrained=False."
        )


def create_model(arch: str, *, pretrained: bool = False) -> torch.nn.Module:
    """timm model with a single-logit head; `pretrained` loads offline ImageNet weights (lite0 only)."""
    check_arch(arch, pretrained=pretrained)
    # pretrained=False always: timm would otherwise try to download weights.
    model = timm.create_model(arch, pretrained=False, num_classes=1)
    if pretrained:
        load_lite0_pretrained(model)
    _init_head(model)
    return model


def _init_head(model: torch.nn.Module) -> None:
    # Some timm inits (e.g. EfficientNet's uniform(+-1/sqrt(fan_out))) give a one-logit head
    # weights of size ~1, so training would start from confident, arbitrary logits.
    head = model.get_classifier()
    if isinstance(head, torch.nn.Linear):
        torch.nn.init.normal_(head.weight, std=0.01)
        torch.nn.init.zeros_(head.bias)
