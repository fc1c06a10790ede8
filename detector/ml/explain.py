"""Where in an image the detector sees AI evidence: Grad-CAM heatmaps composed over crops.

The detector scores an image as up to `max_tiles` native-resolution crops. A heatmap has
to cover the whole image, so here the image is cut into a covering grid of *overlapping*
crops (the same crop size and the same upscaling rule as scoring, but as many crops as it
takes to cover the image with neighbours sharing about `overlap` of a crop, up to
`max_crops`). Each crop gets a Grad-CAM map on the output of the model's last
convolutional stage (timm's `forward_features`; a model's `forward_cam_features` where it
has one, as efficientnet_lite0_multilevel does) for the AI logit.

No tile seams: a crop's map is least reliable at its edges (the network sees zero padding
there) and two neighbouring crops rarely agree exactly, so placing the maps side by side
shows the crop grid as steps. Each crop's map is therefore weighted by a smooth window
(1 in the middle, falling to almost 0 at the crop's edges over `_TAPER` of its side) and
the weighted maps are summed and divided by the summed weights: in the overlap one crop
hands over to the next gradually. Where the crop budget leaves no overlap (very large
images, see `max_crops`), neighbouring crops merely touch, and a light blur of about
half a feature cell is applied to the displayed `grid` so that a step still reads as a
short ramp rather than a line.

What a heatmap means: *where* the detector's AI evidence sits, not *whether* the image
is AI-generated. `grid` is normalised per image (the hottest place is 1.0 even when the
evidence is weak), so show it next to the score, and do not show it unasked when the
score is low; `peak` and `raw` keep the absolute size. Pixels no crop saw (only for images needing more than `max_crops` crops) are 0 in
`grid`, False in `covered`, and drawn uncoloured and grey in the overlay.

Cost: one forward pass per crop plus a backward pass through the classifier head only
(a 1024x768 image with 224 px crops: 35 overlapping crops, against 20 that merely touch);
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
# Neighbouring crops share this fraction of a crop's side where max_crops allows it.
DEFAULT_OVERLAP = 1 / 3
# A crop's weight rises from ~0 at its edge to 1 over this fraction of its side (cosine).
_TAPER = 1 / 3
# Never exactly 0: a pixel seen by a single crop (at the image's border) keeps that crop's value.
_MIN_WEIGHT = 1e-3
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
             heads (efficientnet_lite0 and other timm models) it is in logit units: its mean
             over one crop equals that crop's logit minus the head bias. For
             efficientnet_lite0_multilevel it is the part of the logit that the final pooled
             feature contributes (logit minus bias minus the stage statistics' term).
    covered: bool (h, w), pixels inside at least one crop.
    peak:    max of raw (0 or less means no AI evidence anywhere; grid is then all 0).
    crops:   number of crops computed.
    boxes:   the crops, as (x0, y0, x1, y1) in the image's pixels.
    image:   the RGB image the heatmap was computed on (used by overlay / to_png_bytes).
    """

    grid: np.ndarray
    raw: np.ndarray
    covered: np.ndarray
    peak: float
    crops: int
    image: Image.Image
    boxes: tuple = ()

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
    overlap: float = DEFAULT_OVERLAP,
) -> Heatmap:
    """Grad-CAM heatmap of the detector's AI logit over the whole image.

    `detector` is an inference.Detector (anything with .model, .preprocessing, .device).
    Any Pillow mode is accepted, as for scoring. Thread-safe (one heatmap at a time).
    `overlap` (0 to 0.75) is the share of a crop's side that neighbouring crops have in
    common; it shrinks towards 0 when the overlapping grid would need more than max_crops.
    """
    if int(max_crops) < 1:
        raise ValueError(f"max_crops must be at least 1, got {max_crops}.")
    if int(max_grid_side) < 1:
        raise ValueError(f"max_grid_side must be at least 1, got {max_grid_side}.")
    if not 0.0 <= float(overlap) <= 0.75:
        raise ValueError(f"overlap must be between 0 and 0.75, got {overlap}.")
    prep = detector.preprocessing
    rgb = to_rgb(image, prep.alpha_background)
    if rgb is image:
        rgb = image.copy()  # the Heatmap keeps it for overlay(); the caller may close theirs
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError("Image has no pixels.")
    tiles, boxes = _overlapping_crops(rgb, prep.input_size, int(max_crops), float(overlap))
    if tiles is None:  # even crops that merely touch would be too many: scoring's capped layout
        cut = extract_tiles(rgb, dataclasses.replace(prep, max_tiles=int(max_crops)))
        tiles, boxes = cut.images, cut.boxes
    batch = to_tensor(tiles, prep)
    with _lock:
        cams = torch.cat(
            [
                _grad_cam(detector.model, batch[i : i + _CROPS_PER_FORWARD].to(detector.device))
                for i in range(0, batch.shape[0], _CROPS_PER_FORWARD)
            ]
        )
    return _compose(cams, boxes, rgb, max_grid_side)


def _overlapping_crops(rgb: Image.Image, size: int, max_crops: int, overlap: float):
    """(crops, boxes) of an overlapping grid covering the image, or (None, None) over budget.

    Same crop size and upscaling rule as scoring (preprocessing.extract_tiles): native
    pixels, or a bicubic upscale for an image smaller than a crop.
    """
    width, height = rgb.size
    scale = 1.0
    if min(width, height) < size:
        scale = size / min(width, height)
        span_w, span_h = max(size, round(width * scale)), max(size, round(height * scale))
    else:
        span_w, span_h = width, height
    counts = _grid_counts(span_w, span_h, size, max_crops, overlap)
    if counts is None:
        return None, None
    xs, ys = _evenly_spaced(span_w - size, counts[0]), _evenly_spaced(span_h - size, counts[1])
    if scale == 1.0:
        boxes = [(float(x), float(y), float(x + size), float(y + size)) for y in ys for x in xs]
        return [rgb.crop(tuple(int(v) for v in box)) for box in boxes], boxes
    boxes = [
        (
            max(0.0, x / scale),
            max(0.0, y / scale),
            min(float(width), (x + size) / scale),
            min(float(height), (y + size) / scale),
        )
        for y in ys
        for x in xs
    ]
    return [rgb.resize((size, size), Image.Resampling.BICUBIC, box=box) for box in boxes], boxes


def _grid_counts(width: int, height: int, size: int, max_crops: int, overlap: float):
    """(columns, rows) of crops: neighbours share `overlap` of a crop, within max_crops."""
    touching = (math.ceil(width / size), math.ceil(height / size))
    if touching[0] * touching[1] > max_crops:
        return None
    stride = size * (1.0 - overlap)

    def wanted(span: int, least: int) -> int:
        return max(least, math.ceil((span - size) / stride - 1e-9) + 1) if span > size else 1

    nx, ny = wanted(width, touching[0]), wanted(height, touching[1])
    while nx * ny > max_crops:  # less overlap along the axis that has more crops
        if nx > touching[0] and (nx >= ny or ny == touching[1]):
            nx -= 1
        else:
            ny -= 1
    return nx, ny


def _evenly_spaced(span: int, count: int) -> list[int]:
    if count <= 1:
        return [span // 2]
    return [round(i * span / (count - 1)) for i in range(count)]


def _grad_cam(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """(N, h, w) Grad-CAM maps of the AI logit, scaled by h*w (logit units for pooled heads)."""
    # inference_mode(False): a caller inside inference_mode would otherwise get tensors
    # autograd refuses. Only this call runs with grad enabled.
    with torch.inference_mode(False):
        if hasattr(model, "forward_cam_features") and hasattr(model, "forward_cam_head"):
            # A head on more than the last map (efficientnet_lite0_multilevel): the map is the last
            # convolution's output and explains the logit's part that comes from it; the rest
            # (the earlier stages' statistics) is held constant.
            with torch.no_grad():
                features, rest = model.forward_cam_features(batch)
            features = features.detach().float().requires_grad_(True)
            with torch.enable_grad():
                logits = model.forward_cam_head(features, rest.detach()).float().reshape(features.shape[0], -1)[:, 0]
                (gradients,) = torch.autograd.grad(logits.sum(), features)
        elif hasattr(model, "forward_features") and hasattr(model, "forward_head"):
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


def _window(length: int) -> torch.Tensor:
    """Weights along one side of a crop: ~0 at the edges, rising (cosine) to 1 inside."""
    position = (torch.arange(length, dtype=torch.float32) + 0.5) / length
    edge = torch.minimum(position, 1.0 - position) / _TAPER
    weights = 0.5 - 0.5 * torch.cos(math.pi * edge.clamp(max=1.0))
    return weights.clamp_min(_MIN_WEIGHT)


def _compose(cams: torch.Tensor, boxes, rgb: Image.Image, max_grid_side: int) -> Heatmap:
    width, height = rgb.size
    factor = min(1.0, max_grid_side / max(width, height))
    grid_w, grid_h = max(1, round(width * factor)), max(1, round(height * factor))
    sums = torch.zeros(grid_h, grid_w, dtype=torch.float32)
    weights = torch.zeros(grid_h, grid_w, dtype=torch.float32)
    cams = cams.detach().float().cpu()
    placed = []
    for cam, (x0, y0, x1, y1) in zip(cams, boxes):
        gx0, gy0 = min(grid_w - 1, int(round(x0 * factor))), min(grid_h - 1, int(round(y0 * factor)))
        gx1 = max(gx0 + 1, min(grid_w, int(round(x1 * factor))))
        gy1 = max(gy0 + 1, min(grid_h, int(round(y1 * factor))))
        patch = F.interpolate(cam[None, None], size=(gy1 - gy0, gx1 - gx0), mode="bilinear", align_corners=False)[0, 0]
        weight = _window(gy1 - gy0)[:, None] * _window(gx1 - gx0)[None, :]
        sums[gy0:gy1, gx0:gx1] += patch * weight
        weights[gy0:gy1, gx0:gx1] += weight
        placed.append((gx0, gy0, gx1, gy1, cam.shape[-1]))
    covered = weights > 0
    raw = torch.where(covered, sums / weights.clamp_min(1e-12), torch.zeros_like(sums))
    peak = float(raw.max()) if raw.numel() else 0.0
    shown = _soften_touching_edges(raw, covered, placed)
    grid = shown.clamp_min(0.0) / float(shown.max()) if peak > 0 and float(shown.max()) > 0 else torch.zeros_like(raw)
    grid = torch.where(covered, grid, torch.zeros_like(grid))
    return Heatmap(
        grid=grid.clamp(0.0, 1.0).numpy().astype(np.float32),
        raw=raw.numpy().astype(np.float32),
        covered=covered.numpy(),
        peak=peak,
        crops=len(boxes),
        image=rgb,
        boxes=tuple(tuple(float(v) for v in box) for box in boxes),
    )


def _soften_touching_edges(raw: torch.Tensor, covered: torch.Tensor, placed) -> torch.Tensor:
    """`raw` blurred by half a feature cell, only where the crop budget left crops barely overlapping.

    With crops overlapping by a feature cell or more the windows already blend, and
    nothing is done. Where crops only touch (or overlap by a few pixels), a step between
    two crops would show as a line; the blur turns it into a short ramp.
    """
    if len(placed) < 2:
        return raw
    cell = max(1.0, min((gx1 - gx0) / max(1, cells) for gx0, _, gx1, _, cells in placed))
    if not _barely_overlapping(placed, cell):
        return raw
    sigma = cell / 2.0
    radius = int(math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    # Blur the values and the coverage alike, so uncovered pixels do not drag values down.
    mask = covered.float()
    stacked = torch.stack([raw * mask, mask])[:, None]
    padded = F.pad(stacked, (radius, radius, 0, 0), mode="replicate" if raw.shape[1] > radius else "constant")
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    padded = F.pad(blurred, (0, 0, radius, radius), mode="replicate" if raw.shape[0] > radius else "constant")
    blurred = F.conv2d(padded, kernel.view(1, 1, -1, 1))[:, 0]
    return torch.where(covered, blurred[0] / blurred[1].clamp_min(1e-6), raw)


def _barely_overlapping(placed, cell: float) -> bool:
    """True when two neighbouring crops share less than one feature cell (or leave a gap)."""
    for axis in ((0, 2), (1, 3)):
        spans = sorted({(box[axis[0]], box[axis[1]]) for box in placed})
        for (a0, a1), (b0, _b1) in zip(spans, spans[1:]):
            if b0 > a0 and a1 - b0 < cell:
                return True
    return False
