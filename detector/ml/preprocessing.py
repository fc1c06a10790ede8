"""Image -> model input, shared by training and inference.

Generated and captured images differ mostly in fine pixel statistics (demosaicing and
sensor noise against upsampling and denoising traces), and those vanish when a large
image is shrunk to a thumbnail. So images are never downscaled here: a large image is
cut into input_size x input_size crops at its native resolution and the logits of the
crops are averaged; only an image smaller than a crop is upscaled (bicubic).

With `whole_view`, the probe also sees the whole picture once, shrunk so that its short side is
input_size and centre-cropped (`whole_view_image`): the composition, lighting and rendering style
that a person sees and that the native-resolution crops of a large image miss (issue 11: out of
source the two views together ranked unseen generators' images far better than the crops alone).
With `whole_view_mirrored` as well, the whole view is read twice, as it is and mirrored left-right,
and the two vectors are averaged: a picture and its mirror image then get the same whole-view
share (a small out-of-source gain, docs/model/MODEL_CARD.md).

EXIF orientation is not applied here; rotating the pixels is the caller's job and
does not change the pixel statistics anyway.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TILING_NATIVE_CROPS = "native-crops"
UPSCALE_BICUBIC = "bicubic"
# Transparent pixels are shown on white by browsers and most viewers.
DEFAULT_ALPHA_BACKGROUND = (255, 255, 255)

_ALPHA_MODES = {"RGBA", "LA", "La", "RGBa", "PA"}
_HIGH_BIT_DEPTH_MODES = {"I", "F", "I;16", "I;16L", "I;16B", "I;16N"}

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a batch of normalised crops; stored in every checkpoint."""

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    tiling: str = TILING_NATIVE_CROPS
    max_tiles: int = 5
    upscale: str = UPSCALE_BICUBIC
    alpha_background: tuple[int, int, int] = field(default=DEFAULT_ALPHA_BACKGROUND)
    whole_view: bool = False  # the probe also reads whole_view_image (one more forward pass)
    # The whole view's vector is the mean of the view's and its left-right mirror's (one more pass).
    whole_view_mirrored: bool = False

    def __post_init__(self):
        if int(self.input_size) < 8:
            raise ValueError(f"input_size must be at least 8 pixels, got {self.input_size}.")
        if int(self.max_tiles) < 1:
            raise ValueError(f"max_tiles must be at least 1, got {self.max_tiles}.")
        if self.tiling != TILING_NATIVE_CROPS:
            raise ValueError(f"Unknown tiling {self.tiling!r}; this code knows only {TILING_NATIVE_CROPS!r}.")
        if self.upscale != UPSCALE_BICUBIC:
            raise ValueError(f"Unknown upscale method {self.upscale!r}; this code knows only {UPSCALE_BICUBIC!r}.")
        if len(self.mean) != 3 or len(self.std) != 3 or any(float(s) <= 0 for s in self.std):
            raise ValueError("mean and std must hold three numbers each, and std must be positive.")
        if len(self.alpha_background) != 3:
            raise ValueError("alpha_background must be an RGB triple.")
        if not isinstance(self.whole_view, bool):
            raise ValueError(f"whole_view must be true or false, got {self.whole_view!r}.")
        if not isinstance(self.whole_view_mirrored, bool):
            raise ValueError(f"whole_view_mirrored must be true or false, got {self.whole_view_mirrored!r}.")
        if self.whole_view_mirrored and not self.whole_view:
            raise ValueError("whole_view_mirrored needs whole_view.")

    def to_dict(self) -> dict:
        """Plain-type form stored in the checkpoint."""
        return {
            "input_size": int(self.input_size),
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "tiling": self.tiling,
            "max_tiles": int(self.max_tiles),
            "upscale": self.upscale,
            "alpha_background": [int(v) for v in self.alpha_background],
            # Only when set, so that the dicts of checkpoints made before it existed stay as they were.
            **({"whole_view": True} if self.whole_view else {}),
            **({"whole_view_mirrored": True} if self.whole_view_mirrored else {}),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Preprocessing":
        """Inverse of to_dict; raises ValueError on a malformed or unknown configuration."""
        if not isinstance(data, dict):
            raise ValueError("preprocessing must be a dict.")
        try:
            return cls(
                input_size=int(data["input_size"]),
                mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
                std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
                tiling=str(data.get("tiling", TILING_NATIVE_CROPS)),
                max_tiles=int(data.get("max_tiles", 5)),
                upscale=str(data.get("upscale", UPSCALE_BICUBIC)),
                alpha_background=tuple(int(v) for v in data.get("alpha_background", DEFAULT_ALPHA_BACKGROUND)),
                whole_view=data.get("whole_view", False),
                whole_view_mirrored=data.get("whole_view_mirrored", False),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"preprocessing is malformed ({exc!r}).") from exc


@dataclass
class Tiles:
    """Crops cut from one image, with where they came from in the image's own pixels."""

    images: list  # PIL RGB images, input_size x input_size
    boxes: list[Box]
    scale: float  # 1.0 = native pixels; > 1 = the image was smaller than a crop and was upscaled


def to_rgb(image: Image.Image, background: tuple[int, int, int] = DEFAULT_ALPHA_BACKGROUND) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on `background`."""
    image.load()
    if image.mode == "RGB":
        return image
    if image.mode in _HIGH_BIT_DEPTH_MODES:
        image = _high_bit_depth_to_l(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode in _ALPHA_MODES and image.mode != "RGBA":
        image = image.convert("RGBA")
    elif image.mode == "L" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        backdrop = Image.new("RGBA", image.size, tuple(background) + (255,))
        return Image.alpha_composite(backdrop, image).convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as exc:
        raise ValueError(f"Cannot convert an image in mode {image.mode!r} to RGB.") from exc


def _high_bit_depth_to_l(image: Image.Image) -> Image.Image:
    values = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16"):
        values = values / 257.0
    elif image.mode == "I":
        # Pillow opens 16-bit greyscale PNGs as "I"; plain 8-bit data stays as it is.
        if values.size and values.max() > 255:
            values = np.clip(values, 0, 65535) / 257.0
    elif image.mode == "F":
        if values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
    values = np.nan_to_num(values, nan=0.0)
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


def _spaced(span: int, count: int) -> list[int]:
    if count <= 1:
        return [span // 2]
    return [round(i * span / (count - 1)) for i in range(count)]


def tile_boxes(width: int, height: int, size: int, max_tiles: int) -> list[tuple[int, int, int, int]]:
    """Crop boxes for an image at least `size` on both sides, centre first.

    If an evenly spaced grid covering the whole image needs at most `max_tiles` crops it
    is used; otherwise centre + four corners (or, for max_tiles >= 9, a coarser grid).
    """
    if width < size or height < size:
        raise ValueError(f"Image {width}x{height} is smaller than a {size}x{size} crop.")
    nx, ny = math.ceil(width / size), math.ceil(height / size)
    if nx * ny > max_tiles:
        if max_tiles >= 9:
            while nx * ny > max_tiles:
                if nx >= ny:
                    nx -= 1
                else:
                    ny -= 1
        else:
            right, bottom = width - size, height - size
            corners = [
                (right // 2, bottom // 2),
                (0, 0),
                (right, bottom),
                (right, 0),
                (0, bottom),
            ]
            return _boxes(_unique(corners)[:max_tiles], size)
    xs, ys = _spaced(width - size, nx), _spaced(height - size, ny)
    cx, cy = (width - size) // 2, (height - size) // 2
    points = sorted(((x, y) for y in ys for x in xs), key=lambda p: abs(p[0] - cx) + abs(p[1] - cy))
    return _boxes(_unique(points)[:max_tiles], size)


def _unique(points):
    seen, out = set(), []
    for p in points:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _boxes(points, size):
    return [(x, y, x + size, y + size) for x, y in points]


def _upscaled_geometry(width: int, height: int, size: int) -> tuple[float, int, int]:
    scale = size / min(width, height)
    return scale, max(size, round(width * scale)), max(size, round(height * scale))


def _box_in_source(box, scale: float, width: int, height: int) -> Box:
    x0, y0, x1, y1 = (v / scale for v in box)
    return (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))


def extract_tiles(image: Image.Image, preprocessing: Preprocessing) -> Tiles:
    """Cut an image into up to max_tiles crops (native pixels unless the image is too small)."""
    rgb = to_rgb(image, preprocessing.alpha_background)
    size = preprocessing.input_size
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError("Image has no pixels.")
    if min(width, height) >= size:
        boxes = tile_boxes(width, height, size, preprocessing.max_tiles)
        return Tiles([rgb.crop(b) for b in boxes], [tuple(float(v) for v in b) for b in boxes], 1.0)
    scale, virtual_w, virtual_h = _upscaled_geometry(width, height, size)
    boxes = [
        _box_in_source(b, scale, width, height)
        for b in tile_boxes(virtual_w, virtual_h, size, preprocessing.max_tiles)
    ]
    tiles = [rgb.resize((size, size), Image.Resampling.BICUBIC, box=b) for b in boxes]
    return Tiles(tiles, boxes, scale)


# A panorama or banner is cut to this aspect ratio around its centre before the whole view is
# shrunk, so that a 60-megapixel strip never becomes a huge resized copy (the view keeps only the
# centre square anyway).
WHOLE_VIEW_MAX_ASPECT = 4


def whole_view_image(image: Image.Image, preprocessing: Preprocessing) -> Image.Image:
    """The whole picture as one input_size square: short side scaled to input_size (a box
    reduction, then bicubic: Pillow's reducing_gap 3), centre-cropped. Small images are enlarged."""
    rgb = to_rgb(image, preprocessing.alpha_background)
    size = preprocessing.input_size
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ValueError("Image has no pixels.")
    short = min(width, height)
    if max(width, height) > WHOLE_VIEW_MAX_ASPECT * short:
        keep_w, keep_h = min(width, WHOLE_VIEW_MAX_ASPECT * short), min(height, WHOLE_VIEW_MAX_ASPECT * short)
        left, top = (width - keep_w) // 2, (height - keep_h) // 2
        rgb = rgb.crop((left, top, left + keep_w, top + keep_h))
        width, height = rgb.size
    scale = size / short
    resized = rgb.resize((max(size, round(width * scale)), max(size, round(height * scale))),
                         Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (resized.width - size) // 2, (resized.height - size) // 2
    return resized.crop((left, top, left + size, top + size))


def random_crop(image: Image.Image, size: int, rng: random.Random) -> Image.Image:
    """Training counterpart of extract_tiles: one random crop, native unless too small."""
    width, height = image.size
    if min(width, height) >= size:
        x, y = rng.randint(0, width - size), rng.randint(0, height - size)
        return image.crop((x, y, x + size, y + size))
    scale, virtual_w, virtual_h = _upscaled_geometry(width, height, size)
    x, y = rng.randint(0, virtual_w - size), rng.randint(0, virtual_h - size)
    box = _box_in_source((x, y, x + size, y + size), scale, width, height)
    return image.resize((size, size), Image.Resampling.BICUBIC, box=box)


def to_tensor(tiles, preprocessing: Preprocessing) -> torch.Tensor:
    """Stack RGB crops into a normalised float tensor of shape (N, 3, H, W)."""
    array = np.stack([np.asarray(t.convert("RGB") if t.mode != "RGB" else t, dtype=np.uint8) for t in tiles])
    tensor = torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std, dtype=torch.float32).view(1, 3, 1, 1)
    return (tensor - mean) / std


def image_to_tensor(image: Image.Image, preprocessing: Preprocessing) -> torch.Tensor:
    """All crops of one image as a normalised tensor (N, 3, H, W), N = number of tiles."""
    return to_tensor(extract_tiles(image, preprocessing).images, preprocessing)
