"""The NPR patch model and the detector that averages it with the multi-level probe.

NPR (Tan et al., CVPR 2024) reads the neighbouring-pixel residual x - up2(down2(x)): zero wherever a
2x nearest-neighbour upsampling left four equal pixels, and carrying the local correlations that
most generators' upsampling decoders leave. `NPRNet` is a small CNN (0.28 M weights at width 16)
trained from scratch on that residual of 64-px crops cut at the file's own resolution (never
resized: resizing is what erases the trace), at even offsets so the 2x2 grid stays aligned.

`efficientnet_lite0_multilevel_npr` (`MultiLevelNPR`) is the multi-level probe with NPR members
beside it. The probe part is unchanged (224-px tiles, frozen ImageNet backbone, a linear head on
multi-level statistics, its own Platt scaling folded in), so Grad-CAM, image similarity and
TorchScript all see an ordinary multi-level model: `forward` is the probe's calibrated logit. The
detector's logit is

    logit = mix[0] * probe_logit + mix[1] * npr_logit + mix[2]

where npr_logit is the mean over the members and over `CROPS_PER_IMAGE` native crops (cut at fixed
positions for a given image size, `native_crops`). A checkpoint made with a crop pool
(training_args["npr"]["crop_pool"], e.g. 32; `train_detector --npr-crop-pool`) cuts that many
crops and scores the `CROPS_PER_IMAGE` flattest of them (lowest residual energy); see the model
card for what that did out of source and in the wild. `mix` folds in the NPR part's Platt scaling,
the average of the two calibrated logits and the Platt scaling of that average, all fitted on
out-of-source scores (detector/ml/out_of_source.py). The members are the out-of-source fold
models: the in-the-wild figures of the model card are of exactly these weights.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from PIL import Image

from .multilevel import MultiLevelLite0
from .pretrained import load_lite0_pretrained
from .preprocessing import DEFAULT_ALPHA_BACKGROUND, to_rgb

NPR_ARCH = "efficientnet_lite0_multilevel_npr"
CROP_SIZE = 64
CROPS_PER_IMAGE = 8
CROP_SEED = 0  # crop positions depend only on the image's size: the same image always gets the same crops
MAX_CROP_POOL = 64
NPR_WIDTH = 16
DEFAULT_MEMBERS = 5
DEFAULT_EPOCHS = 16  # chosen out of source (docs/model/MODEL_CARD.md: 8 epochs gained nothing, 16 did)
DEFAULT_DRAWS = 6144  # crops drawn per epoch


def npr_residual(x: torch.Tensor) -> torch.Tensor:
    """x minus its 2x nearest-neighbour down-and-up-sampled self (NPR's neighbouring-pixel residual)."""
    height, width = x.shape[-2:]
    down = x[..., ::2, ::2]
    up = down.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    return x - up[..., :height, :width]


class NPRNet(torch.nn.Module):
    """A small CNN on the NPR residual of an RGB crop (values 0-1); one logit per crop."""

    def __init__(self, width: int = NPR_WIDTH, dropout: float = 0.2):
        super().__init__()
        plan = [(3, width, 1), (width, 2 * width, 2), (2 * width, 4 * width, 2),
                (4 * width, 4 * width, 1), (4 * width, 8 * width, 2), (8 * width, 8 * width, 1)]
        layers = []
        for cin, cout, stride in plan:
            layers += [torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False), torch.nn.BatchNorm2d(cout), torch.nn.ReLU(inplace=True)]
        self.features = torch.nn.Sequential(*layers)
        self.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Dropout(dropout), torch.nn.Linear(8 * width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The residual of 8-bit pixels is a few hundredths: scaled so the first batch norm starts sane.
        r = npr_residual(x) * 10.0
        return self.head(torch.nn.functional.adaptive_avg_pool2d(self.features(r), 1)).squeeze(1)


def native_crops(image: Image.Image, *, size: int = CROP_SIZE, count: int = CROPS_PER_IMAGE, seed: int = CROP_SEED,
                 background=DEFAULT_ALPHA_BACKGROUND, pool: int | None = None) -> np.ndarray:
    """(count, size, size, 3) uint8 crops at the image's own resolution, at even offsets.

    Positions are drawn from a generator seeded with `seed`, so they depend only on the image's size.
    With `pool` > count, `pool` positions are drawn (the first `count` are the ones drawn without a
    pool) and the `count` crops with the least NPR residual energy are kept, in drawing order.
    A side under `size` is reflect-padded, never resized. Only the crops are converted to RGB, so a
    large image is never copied whole.
    """
    draws = max(count, int(pool or count))
    width, height = image.size
    if width < size or height < size:
        pixels = np.asarray(to_rgb(image, background))
        pad = ((0, max(0, size - height)), (0, max(0, size - width)), (0, 0))
        pixels = np.pad(pixels, pad, mode="reflect" if min(height, width) > 1 else "edge")  # numpy reflects repeatedly
        image = Image.fromarray(np.ascontiguousarray(pixels))
        width, height = image.size
    rng = np.random.default_rng(seed)
    crops = np.empty((draws, size, size, 3), dtype=np.uint8)
    for k in range(draws):
        top = 2 * int(rng.integers(0, (height - size) // 2 + 1))
        left = 2 * int(rng.integers(0, (width - size) // 2 + 1))
        crops[k] = np.asarray(to_rgb(image.crop((left, top, left + size, top + size)), background))
    if draws == count:
        return crops
    keep = np.sort(np.argsort(residual_energy(crops), kind="stable")[:count])
    return crops[keep]


def residual_energy(crops: np.ndarray) -> np.ndarray:
    """Mean |NPR residual| of each uint8 crop (..., s, s, 3) -> (...): how much fine texture it holds."""
    x = crops.astype(np.int16)
    up = x[..., ::2, ::2, :].repeat(2, axis=-3).repeat(2, axis=-2)[..., : x.shape[-3], : x.shape[-2], :]
    return np.abs(x - up).mean(axis=(-3, -2, -1))


def crop_pool_of(training_args) -> int:
    """The crop pool an NPR checkpoint was trained and calibrated with (CROPS_PER_IMAGE: no pool); ValueError if unusable."""
    return check_crop_pool((((training_args or {}).get("npr") or {}).get("crop_pool")) or CROPS_PER_IMAGE)


def check_crop_pool(pool: int, name: str = "The NPR crop pool") -> int:
    """`pool` as an int between CROPS_PER_IMAGE and MAX_CROP_POOL, or ValueError saying (as `name`) why not."""
    if isinstance(pool, bool) or not isinstance(pool, int) or not CROPS_PER_IMAGE <= pool <= MAX_CROP_POOL:
        raise ValueError(f"{name} must be a whole number from {CROPS_PER_IMAGE} (no pool) to {MAX_CROP_POOL}, not {pool!r}.")
    return pool


def crops_to_tensor(crops: np.ndarray) -> torch.Tensor:
    """(n, 3, s, s) float tensor, values 0-1, of uint8 (n, s, s, 3) crops."""
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float().div_(255.0)


def class_balanced(weights, labels) -> np.ndarray:
    """Per-image draw probabilities: `weights` within each class, each class half the total."""
    labels = np.asarray(labels)
    w = np.asarray(weights, dtype=np.float64).copy()
    for label in (0, 1):
        w[labels == label] *= 0.5 / w[labels == label].sum()
    return w


def draw_batch(crops, labels, p, rng, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of `batch` draws: an image by the probabilities `p`, then a random variant and crop of it, half flipped."""
    idx = rng.choice(len(labels), size=batch, p=p)
    variant = rng.integers(0, crops.shape[1], size=batch)
    crop = rng.integers(0, crops.shape[2], size=batch)
    x = crops_to_tensor(crops[idx, variant, crop])
    flip = torch.from_numpy(rng.random(batch) < 0.5)
    x[flip] = x[flip].flip(-1)
    return x, torch.as_tensor(np.asarray(labels)[idx], dtype=torch.float32)


def _both_classes(labels) -> np.ndarray:
    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        raise ValueError("The NPR model needs both real and AI images to train on.")
    return labels


def _train_steps(net, opt, crops, labels, p, rng, *, batch: int, steps: int, schedule=None) -> float:
    """`steps` optimiser steps on draw_batch draws; the mean loss."""
    total = 0.0
    for _ in range(steps):
        x, y = draw_batch(crops, labels, p, rng, batch)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()
        total += float(loss.detach())
    return total / steps


def train_npr(crops: np.ndarray, labels, weights, *, epochs: int = DEFAULT_EPOCHS, draws: int = DEFAULT_DRAWS,
              batch: int = 64, lr: float = 2e-3, width: int = NPR_WIDTH, seed: int = 0, log=print) -> NPRNet:
    """Fit an NPRNet on weighted draws of (image, variant, crop), classes balanced, with flips.

    `crops` is (images, variants, crops, s, s, 3) uint8; `weights` per image (e.g. probe.balanced_weights).
    """
    labels = _both_classes(labels)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    w = class_balanced(weights, labels)
    net = NPRNet(width)
    per_epoch = max(1, draws // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * per_epoch, pct_start=0.15)
    net.train()
    for epoch in range(epochs):
        started = time.monotonic()
        loss = _train_steps(net, opt, crops, labels, w, rng, batch=batch, steps=per_epoch, schedule=schedule)
        log(f"    NPR epoch {epoch + 1}/{epochs}: loss {loss:.3f} ({time.monotonic() - started:.0f} s)")
    return net.eval()


def fine_tune_npr(net: NPRNet, crops: np.ndarray, labels, weights, *, epochs: int, lr: float, draws: int = DEFAULT_DRAWS,
                  batch: int = 64, seed: int = 1) -> NPRNet:
    """A copy of `net` trained further at a constant learning rate on train_npr's draws (classes balanced, flips)."""
    labels = _both_classes(labels)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    p = class_balanced(weights, labels)
    net = copy.deepcopy(net).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    _train_steps(net, opt, crops, labels, p, rng, batch=batch, steps=epochs * max(1, draws // batch))
    return net.eval()


def members_logits(members, crops: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """Mean logit over the members and over the last crop axis: crops (..., count, s, s, 3) -> (...)."""
    members = list(members)
    lead = crops.shape[:-4]
    count = crops.shape[-4]
    flat = crops.reshape(-1, *crops.shape[-3:])
    total = np.zeros(len(flat), dtype=np.float64)
    with torch.inference_mode():
        for net in members:
            net.eval()
            device = next(net.parameters()).device
            for start in range(0, len(flat), batch):
                x = crops_to_tensor(flat[start:start + batch]).to(device)
                total[start:start + batch] += net(x).double().cpu().numpy()
    return (total / max(1, len(members))).reshape(*lead, count).mean(axis=-1)


class MultiLevelNPR(MultiLevelLite0):
    """The multi-level probe (forward = its calibrated logit) with NPR members and the mixing rule."""

    arch = NPR_ARCH

    def __init__(self, members: int = DEFAULT_MEMBERS, width: int = NPR_WIDTH, num_classes: int = 1, whole_view: bool = False,
                 channel_correlations: bool = False):
        super().__init__(num_classes=num_classes, whole_view=whole_view, channel_correlations=channel_correlations)
        self.npr = torch.nn.ModuleList(NPRNet(width) for _ in range(members))
        # logit = mix[0] * probe_logit + mix[1] * npr_logit + mix[2]; kept in fp32 in checkpoints.
        self.register_buffer("logit_mix", torch.tensor([1.0, 0.0, 0.0]))
        self.crop_pool = CROPS_PER_IMAGE  # set from the checkpoint's training_args (crop_pool_of) when loaded

    def npr_crops(self, image: Image.Image, background=DEFAULT_ALPHA_BACKGROUND) -> np.ndarray:
        """The crops this model's NPR members score for one image."""
        return native_crops(image, background=background, pool=self.crop_pool)

    def npr_logits(self, crops: np.ndarray) -> np.ndarray:
        """Mean NPR logit of each image: crops (images, count, s, s, 3) -> (images,)."""
        return members_logits(self.npr, crops)

    def combine(self, probe_logit: float, npr_logit: float) -> float:
        a, b, c = (float(v) for v in self.logit_mix)
        return a * float(probe_logit) + b * float(npr_logit) + c


def members_in_state_dict(state_dict: dict) -> int:
    """How many NPR members a MultiLevelNPR state dict holds."""
    return len({key.split(".")[1] for key in state_dict if key.startswith("npr.")})


def create_multilevel_npr(*, pretrained: bool = False, members: int = DEFAULT_MEMBERS, num_classes: int = 1,
                          whole_view: bool = False, channel_correlations: bool = False) -> MultiLevelNPR:
    """The model; `pretrained` loads the offline ImageNet weights into the probe's backbone (NPR members start random)."""
    model = MultiLevelNPR(members=members, num_classes=num_classes, whole_view=whole_view,
                          channel_correlations=channel_correlations)
    if pretrained:
        load_lite0_pretrained(model.backbone)
    return model
