"""efficientnet_lite0_multilevel: a linear head on multi-level statistics of a lite0 backbone.

The head of the shipped probe sees only the final pooled 1280-d feature, which mostly encodes
*what* is in the picture. Low-level statistics of the early stages (how textures and noise are
distributed) carry more of *how* it was made, and a linear head on both did better on sources it
never saw (var/exp/multilevel.py: out-of-source AUC 0.729 vs 0.716, in the wild 0.770 vs 0.751).

The feature vector of a crop (2848 values, in this order):

    [mean(stage 0), std(stage 0), mean(stage 1), std(stage 1), ..., mean(stage 6), std(stage 6), final]

where stage k is the output of lite0's k-th block stage (16, 24, 40, 80, 112, 192, 320
channels), mean and std are per channel over the spatial positions (torch's `x.std((2, 3))`,
default correction), and `final` is global_pool(bn2(conv_head(x))), the 1280-d vector of the
plain lite0. The logit is Linear(2848, 1) of it; an image's score averages its crops' logits,
which for a linear head equals the head on the crops' mean vector (what the probe is fitted on).

timm compatibility: `forward_features(x)` returns the (N, 2848) vector (already pooled) and
`forward_head(features, pre_logits=True)` returns it unchanged, so code written for timm's
`forward_head(forward_features(x), pre_logits=True)` (probe features) gets the 2848-d vector.
Image similarity (known-image matching, the missed-AI alert, "unlike the training data") uses
`embedding_features`, the final pooled 1280-d part only: see architectures.embedding_features.
Grad-CAM (explain.py) uses `forward_cam_features` / `forward_cam_head`: the map is on the last
convolution's output (post bn2, as for the plain lite0) and explains the part of the
logit that the final pooled feature contributes; the stage statistics enter as a constant.

With channel correlations (`channel_correlations=True`, train_detector --channel-correlations), each
crop's vector goes on after `final` with 4832 more numbers: the upper triangle of the channel
correlation matrix, over the crop's spatial positions, of the stem's output and of stages 0-3
(32, 16, 24, 40, 80 channels: 496 + 120 + 276 + 780 + 3160): how the early channels vary together,
the texture's "style" (Gram-Net, Liu et al., CVPR 2020), which the means and standard deviations
alone do not carry. They come from the same forward pass. The whole view never has them.

With a whole view (Preprocessing.whole_view), the head reads 2 x 2848 numbers: the crops' mean
vector and the vector of the whole picture shrunk to one crop (preprocessing.whole_view_image).
Being linear, it splits into `classifier` (the crops' half and the bias; `forward` still gives a
crop's share, so crops are scored and averaged as before) and `whole_classifier` (the whole view's
half, no bias; `whole_logits`), whose logit is added once per image. Grad-CAM explains the crops'
part only.
"""

from __future__ import annotations

import timm
import torch

from .pretrained import LITE0_ARCH, load_lite0_pretrained

MULTILEVEL_ARCH = "efficientnet_lite0_multilevel"
STAGE_CHANNELS = (16, 24, 40, 80, 112, 192, 320)
FINAL_FEATURES = 1280
NUM_FEATURES = 2 * sum(STAGE_CHANNELS) + FINAL_FEATURES  # 2848
# The stem's output and stages 0-3: the maps whose channel correlations a model may also read.
CORRELATION_CHANNELS = (32, 16, 24, 40, 80)
CORRELATION_FEATURES = sum(c * (c - 1) // 2 for c in CORRELATION_CHANNELS)  # 4832
# Cache folder suffix of the crops' mean correlation vector (probe.FeatureExtractor).
CORRELATION_CACHE_SUFFIX = "-corr"
# Name of the probe's feature cache folder (var/feature-cache/<tag>/<variant>/<sha256>.npy); the
# vectors cached there by var/exp/multilevel.py are exactly these features.
FEATURE_CACHE_TAG = "lite0-multilevel"


def channel_correlations(feature_map: torch.Tensor) -> torch.Tensor:
    """(N, C*(C-1)/2) upper triangle of each map's channel correlation matrix over its positions.

    Computed in float64: the products of thousands of positions would otherwise cost the last digits
    that make cached and freshly computed vectors agree.
    """
    n, c = feature_map.shape[:2]
    x = feature_map.reshape(n, c, -1).double()
    x = x - x.mean(2, keepdim=True)
    cov = x @ x.transpose(1, 2) / x.shape[2]
    std = cov.diagonal(dim1=1, dim2=2).clamp_min(1e-12).sqrt()
    corr = cov / (std[:, :, None] * std[:, None, :])
    rows, cols = torch.triu_indices(c, c, offset=1)
    return corr[:, rows, cols].to(feature_map.dtype)


def feature_layout() -> list[tuple[str, int, int]]:
    """(name, start, stop) of each part of the feature vector, in order."""
    layout, start = [], 0
    for index, channels in enumerate(STAGE_CHANNELS):
        for stat in ("mean", "std"):
            layout.append((f"{stat}{index}", start, start + channels))
            start += channels
    layout.append(("final", start, start + FINAL_FEATURES))
    return layout


class MultiLevelLite0(torch.nn.Module):
    """timm efficientnet_lite0 backbone (no classifier) + Linear(2848, num_classes) on multi-level stats."""

    arch = MULTILEVEL_ARCH
    feature_cache_tag = FEATURE_CACHE_TAG
    # Detector.embedding_version's suffix: the embeddings were the 2848-d vector until 2026-12-02,
    # so vectors stored before then are never compared with these.
    embedding_tag = "global-224-final"

    def __init__(self, num_classes: int = 1, whole_view: bool = False, channel_correlations: bool = False):
        super().__init__()
        self.backbone = timm.create_model(LITE0_ARCH, pretrained=False, num_classes=0)
        channels = tuple(_out_channels(stage) for stage in self.backbone.blocks)
        if channels != STAGE_CHANNELS or self.backbone.num_features != FINAL_FEATURES:
            raise RuntimeError(
                f"timm {timm.__version__}'s {LITE0_ARCH} has stages of {channels} channels and "
                f"{self.backbone.num_features} final features, not {STAGE_CHANNELS} and {FINAL_FEATURES}."
            )
        self.channel_correlations = bool(channel_correlations)
        self.num_features = NUM_FEATURES + (CORRELATION_FEATURES if self.channel_correlations else 0)
        self.classifier = torch.nn.Linear(self.num_features, num_classes)
        self.whole_view = bool(whole_view)
        self.whole_classifier = torch.nn.Linear(NUM_FEATURES, num_classes, bias=False) if whole_view else None

    # --- features ---------------------------------------------------------------------------

    def _stage_stats_and_map(self, x: torch.Tensor, correlations: bool = False):
        """([mean0, std0, ..., mean6, std6], final feature map after conv_head + bn2, correlations or None)."""
        b = self.backbone
        x = b.bn1(b.conv_stem(x))
        parts, corr = [], [channel_correlations(x)] if correlations else []
        for index, stage in enumerate(b.blocks):
            x = stage(x)
            parts += [x.mean((2, 3)), x.std((2, 3))]
            if correlations and index < len(CORRELATION_CHANNELS) - 1:
                corr.append(channel_correlations(x))
        return parts, b.bn2(b.conv_head(x)), (torch.cat(corr, 1) if correlations else None)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 2848) multi-level feature vector of each crop, or (N, 7680) with channel correlations."""
        parts, final_map, corr = self._stage_stats_and_map(x, self.channel_correlations)
        parts.append(self.backbone.global_pool(final_map).flatten(1))
        if corr is not None:
            parts.append(corr)
        return torch.cat(parts, 1)

    def whole_view_features(self, views: torch.Tensor) -> torch.Tensor:
        """(N, 2848) the vector the whole-view head reads (never with channel correlations)."""
        parts, final_map, _ = self._stage_stats_and_map(views)
        parts.append(self.backbone.global_pool(final_map).flatten(1))
        return torch.cat(parts, 1)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return features if pre_logits else self.classifier(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> torch.nn.Module:
        return self.classifier

    def whole_logits(self, views: torch.Tensor) -> torch.Tensor:
        """(N,) the whole-view part of each image's logit, from its whole_view_image tensor (N, 3, s, s)."""
        if self.whole_classifier is None:
            raise RuntimeError("This model has no whole view.")
        return self.whole_classifier(self.whole_view_features(views)).reshape(-1)

    def embedding_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1280) final pooled features: what image similarity compares (architectures.embedding_features).

        Not the whole 2848-d vector: its stage statistics are large, positive and alike for every
        picture, so the cosine of two unrelated photos is about 0.86 on it (0.26 on the final part).
        """
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)  # no stage statistics

    # --- Grad-CAM (explain.py) ----------------------------------------------------------------

    def forward_cam_features(self, x: torch.Tensor):
        """(final feature map (N, 1280, h, w), the rest of the vector: stage statistics (N, 2848 - 1280),
        followed by the channel correlations when the model reads them)."""
        parts, final_map, corr = self._stage_stats_and_map(x, self.channel_correlations)
        return final_map, torch.cat(parts + ([corr] if corr is not None else []), 1)

    def forward_cam_head(self, final_map: torch.Tensor, constants: torch.Tensor) -> torch.Tensor:
        """The logits from forward_cam_features' outputs (differentiable in final_map)."""
        pooled = self.backbone.global_pool(final_map).flatten(1)
        stats = NUM_FEATURES - FINAL_FEATURES
        constants = constants.to(pooled.dtype)
        return self.classifier(torch.cat([constants[:, :stats], pooled, constants[:, stats:]], 1))


def _out_channels(stage: torch.nn.Module) -> int:
    convs = [m for m in stage.modules() if isinstance(m, torch.nn.Conv2d)]
    return convs[-1].out_channels if convs else -1


def create_multilevel(*, pretrained: bool = False, num_classes: int = 1, whole_view: bool = False,
                      channel_correlations: bool = False) -> MultiLevelLite0:
    """The model; `pretrained` loads the offline ImageNet weights into the backbone (every shape checked)."""
    model = MultiLevelLite0(num_classes=num_classes, whole_view=whole_view, channel_correlations=channel_correlations)
    if pretrained:
        load_lite0_pretrained(model.backbone)
    return model
