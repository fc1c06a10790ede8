"""Where in an image the detector sees AI evidence: Grad-CAM heatmaps composed over crops.

The detector scores an image as up to `max_tiles` native-resolution crops. A heatmap has
to cover the whole image, so here the image is cut into a *covering* grid of crops
(the same crop size and the same upscaling rule as scoring, via `extract_tiles`, but as
many crops as it takes to cover the image, up to `max_crops`). Each crop gets a Grad-CAM
map on the output of the model's last convolutional stage (timm's `forward_features`)
for the AI logit; the maps are placed where their crops came from and averaged where
crops overlap.

What a heatmap means: *where* the detector's AI evidence sits, not *whether* the image
is AI-generated. `grid` is normalised per image (the hottest place is 1.0 even when the
evidence is weak), so show it next to the score; `peak` and `raw` keep the absolute
size. Pixels no crop saw (only for images needing more than `max_crops` crops) are 0 in
`grid`, False in `covered`, and drawn uncoloured and grey in the overlay.

Cost: one forward pass per crop plus a backward pass through the classifier head only;
the model stays in eval mode and is never modified (the fallback for non-timm models
registers a forward hook for the duration of the call and always removes it).
"""

from __future__ import annotations

import dataclasses
import io
import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .preprocessing import extract_tiles, to_rgb, to_tensor

DEFAULT_MAX_CROPS = 256  # covers a 4032x3024 phone photo with 224 px crops
DEFAULT_MAX_GRID_SIDE = 2048
# Crops per forward pass: small chunks are faster per crop on CPU (see bench/README.md) and
# bound the feature maps held for the backward pass.
_CROPS_PER_FORWARD = 8

# One heatmap at a time per process: the hook fallback touches the shared model, and two
# concurrent grad-enabled passes would only compete for the same cores anyway.
_lock = threading.Lock()

# "jet": dark blue (no evidence) -> cyan -> yellow -> dark red (strongest AI evidence).
_JET_ANCHORS = (
    (0.0, (0, 0, 128)),
    (0.125, (0, 0, 255)),
    (0.375, (0, 255, 255)),
    (0.625, (255, 255, 0)),
    (0.875, (255, 0, 0)),
    (1.0, (128, 0, 0)),
)


def _colour_table() -> np.ndarray:
    positions = np.array([p for p, _ in _JET_ANCHORS])
    colours = np.array([c for _, c in _JET_ANCHORS], dtype=np.float64)
    x = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(x, positions, colours[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


_LUT = _colour_table()
_LUT_CHANNELS = [[int(v) for v in _LUT[:, k]] for k in range(3)]


@dataclass(frozen=True, eq=False)
class Heatmap:
    """A Grad-CAM heatmap aligned with an image.

    grid:    float32 (h, w) in [0, 1]; grid[y, x] is the image pixel (x / f, y / f) where
             f = w / image width (f = 1 unless the image is larger than max_grid_side).
    raw:     float32 (h, w), signed, before clipping and normalisation. For average-pooled
             heads (both archs used here) it is in logit units: its mean over one crop
             equals that crop's logit minus the head bias.
    covered: bool (h, w), pixels inside at least one crop.
    peak:    max of raw (0 or less means no AI evidence anywhere; grid is then all 0).
    crops:   number of crops computed.
    image:   the RGB image the heatmap was computed on (used by overlay / to_png_bytes).
    """

    grid: np.ndarray
    raw: np.ndarray
    covered: np.ndarray
    peak: float
    crops: int
    image: Image.Image

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image."""
        return self.image.size

    @property
    def coverage(self) -> float:
        """Fraction of the image seen by at least one crop (1.0 unless capped by max_crops)."""
        return float(self.covered.mean()) if self.covered.size else 0.0

    def overlay(self, image: Image.Image | None = None, alpha: float = 0.45) -> Image.Image:
        """RGB image of the image's size: the heatmap in colour blended over the image.

        `image` defaults to the image the heatmap was computed on; another image must have
        the same size (e.g. the EXIF-rotated original before any mode conversion).
        """
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}.")
        base = self.image if image is None else to_rgb(image)
        if base.size != self.size:
            raise ValueError(
                f"The heatmap is for a {self.size[0]}x{self.size[1]} image, not {base.size[0]}x{base.size[1]}."
            )
        # Pillow's C routines throughout: a 12-megapixel overlay needs no large float arrays.
        levels = Image.fromarray(np.clip(np.rint(self.grid * 255.0), 0, 255).astype(np.uint8))
        if levels.size != base.size:
            levels = levels.resize(base.size, Image.Resampling.BILINEAR)
        colours = Image.merge("RGB", [levels.point(_LUT_CHANNELS[k]) for k in range(3)])
        blended = Image.blend(base, colours, float(alpha))
        if self.covered.all():
            return blended
        # Not examined: desaturated and lightened, with no colour that could read as "clean".
        seen = Image.fromarray(self.covered.astype(np.uint8) * 255)
        if seen.size != base.size:
            seen = seen.resize(base.size, Image.Resampling.NEAREST)
        grey = base.convert("L").point(lambda v: int(v * 0.6 + 64)).convert("RGB")
        return Image.composite(blended, grey, seen)

    def to_png_bytes(self, image: Image.Image | None = None, alpha: float = 0.45, max_side: int | None = None) -> bytes:
        """The overlay as PNG bytes, shrunk to at most `max_side` pixels a side if given.

        A full-size PNG of a 12-megapixel photo takes seconds to encode and ~10 MB; for
        display, max_side=1600 or so is plenty.
        """
        overlay = self.overlay(image, alpha=alpha)
        if max_side is not None and max(overlay.size) > int(max_side):
            overlay.thumbnail((int(max_side), int(max_side)), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        overlay.save(buffer, format="PNG")
        return buffer.getvalue()


def heatmap(
    detector,
    image: Image.Image,
    *,
    max_crops: int = DEFAULT_MAX_CROPS,
    max_grid_side: int = DEFAULT_MAX_GRID_SIDE,
) -> Heatmap:
    """Grad-CAM heatmap of the detector's AI logit over the whole image.

    `detector` is an inference.Detector (anything with .model, .preprocessing, .device).
    Any Pillow mode is accepted, as for scoring. Thread-safe (one heatmap at a time).
    """
    if int(max_crops) < 1:
        raise ValueError(f"max_crops must be at least 1, got {max_crops}.")
    if int(max_grid_side) < 1:
        raise ValueError(f"max_grid_side must be at least 1, got {max_grid_side}.")
    prep = detector.preprocessing
    rgb = to_rgb(image, prep.alpha_background)
    if rgb is image:
        rgb = image.copy()  # the Heatmap keeps it for overlay(); the caller may close theirs
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError("Image has no pixels.")
    crops = min(_covering_crop_count(width, height, prep.input_size), int(max_crops))
    tiles = extract_tiles(rgb, dataclasses.replace(prep, max_tiles=crops))
    batch = to_tensor(tiles.images, prep)
    with _lock:
        cams = torch.cat(
            [
                _grad_cam(detector.model, batch[i : i + _CROPS_PER_FORWARD].to(detector.device))
                for i in range(0, batch.shape[0], _CROPS_PER_FORWARD)
            ]
        )
    return _compose(cams, tiles.boxes, rgb, max_grid_side)


def _covering_crop_count(width: int, height: int, size: int) -> int:
    """Crops in the grid that covers the whole image (on the upscaled image if it is small)."""
    if min(width, height) < size:
        scale = size / min(width, height)
        width, height = max(size, round(width * scale)), max(size, round(height * scale))
    return math.ceil(width / size) * math.ceil(height / size)


def _grad_cam(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """(N, h, w) Grad-CAM maps of the AI logit, scaled by h*w (logit units for pooled heads)."""
    # inference_mode(False): a caller inside inference_mode would otherwise get tensors
    # autograd refuses. Only this call runs with grad enabled.
    with torch.inference_mode(False):
        if hasattr(model, "forward_features") and hasattr(model, "forward_head"):
            with torch.no_grad():
                features = model.forward_features(batch)
            features = features.detach().float().requires_grad_(True)
            with torch.enable_grad():
                logits = model.forward_head(features).float().reshape(features.shape[0], -1)[:, 0]
                (gradients,) = torch.autograd.grad(logits.sum(), features)
        else:
            features, gradients = _hooked_features_and_gradients(model, batch)
    if features.dim() != 4:
        raise ValueError(f"Expected a 4-D convolutional feature map, got shape {tuple(features.shape)}.")
    features = features.detach()
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    area = features.shape[2] * features.shape[3]
    return (weights * features).sum(dim=1) * area


def _hooked_features_and_gradients(model: torch.nn.Module, batch: torch.Tensor):
    """Fallback for models without forward_features/forward_head: hook the last Conv2d."""
    last_conv = None
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            last_conv = module
    if last_conv is None:
        raise ValueError(f"{type(model).__name__} has no forward_features/forward_head and no Conv2d layer to explain.")
    captured = []
    owner = threading.get_ident()

    def keep_output(_module, _inputs, output):
        if threading.get_ident() == owner:  # another thread may be scoring with the same model
            captured.append(output)

    handle = last_conv.register_forward_hook(keep_output)
    try:
        with torch.enable_grad():
            inputs = batch.detach().clone().requires_grad_(True)
            logits = model(inputs).float().reshape(batch.shape[0], -1)[:, 0]
            if not captured:
                raise ValueError("The last Conv2d layer was not used in the forward pass.")
            features = captured[-1]
            (gradients,) = torch.autograd.grad(logits.sum(), features)
    finally:
        handle.remove()
    return features.float(), gradients.float()


def _compose(cams: torch.Tensor, boxes, rgb: Image.Image, max_grid_side: int) -> Heatmap:
    width, height = rgb.size
    factor = min(1.0, max_grid_side / max(width, height))
    grid_w, grid_h = max(1, round(width * factor)), max(1, round(height * factor))
    sums = torch.zeros(grid_h, grid_w, dtype=torch.float32)
    counts = torch.zeros(grid_h, grid_w, dtype=torch.float32)
    cams = cams.detach().float().cpu()
    for cam, (x0, y0, x1, y1) in zip(cams, boxes):
        gx0, gy0 = min(grid_w - 1, int(round(x0 * factor))), min(grid_h - 1, int(round(y0 * factor)))
        gx1 = max(gx0 + 1, min(grid_w, int(round(x1 * factor))))
        gy1 = max(gy0 + 1, min(grid_h, int(round(y1 * factor))))
        patch = F.interpolate(cam[None, None], size=(gy1 - gy0, gx1 - gx0), mode="bilinear", align_corners=False)[0, 0]
        sums[gy0:gy1, gx0:gx1] += patch
        counts[gy0:gy1, gx0:gx1] += 1.0
    covered = counts > 0
    raw = torch.where(covered, sums / counts.clamp_min(1.0), torch.zeros_like(sums)).numpy().astype(np.float32)
    peak = float(raw.max()) if raw.size else 0.0
    grid = np.clip(raw, 0.0, None) / peak if peak > 0 else np.zeros_like(raw)
    return Heatmap(
        grid=np.clip(grid, 0.0, 1.0).astype(np.float32),
        raw=raw,
        covered=covered.numpy(),
        peak=peak,
        crops=len(boxes),
        image=rgb,
    )
