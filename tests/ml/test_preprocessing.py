import random

import numpy as np
import pytest
from PIL import Image

from detector.ml.preprocessing import (
    Preprocessing,
    extract_tiles,
    image_to_tensor,
    random_crop,
    tile_boxes,
    to_rgb,
)


def noise(width, height, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}[mode]
    return Image.fromarray(rng.integers(0, 256, (height, width, channels), dtype=np.uint8), mode=mode)


def test_transparent_pixels_are_composited_on_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    image.putpixel((0, 0), (10, 20, 30, 255))
    rgb = to_rgb(image)
    assert rgb.mode == "RGB"
    assert rgb.getpixel((1, 1)) == (255, 255, 255)
    assert rgb.getpixel((0, 0)) == (10, 20, 30)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("P", (5, 5)),
        Image.new("L", (5, 5), 77),
        Image.new("LA", (5, 5), (77, 128)),
        Image.new("1", (5, 5), 1),
        Image.new("CMYK", (5, 5), (0, 255, 255, 0)),
        Image.new("YCbCr", (5, 5), (128, 128, 128)),
        Image.new("F", (5, 5), 0.5),
        Image.new("I", (5, 5), 40000),
    ],
    ids=lambda im: im.mode,
)
def test_every_mode_becomes_rgb(image):
    rgb = to_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == (5, 5)


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    values = np.array([[0, 257 * 100], [65535, 32896]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    rgb = np.asarray(to_rgb(image))
    assert rgb[..., 0].tolist() == [[0, 100], [255, 128]]


def test_palette_transparency_and_cmyk_colours():
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.info["transparency"] = 1
    assert to_rgb(palette).getpixel((1, 0)) == (255, 255, 255)
    assert to_rgb(palette).getpixel((0, 0)) == (255, 0, 0)
    assert to_rgb(Image.new("CMYK", (1, 1), (0, 255, 255, 0))).getpixel((0, 0)) == (255, 0, 0)


def test_large_image_is_cut_at_native_resolution():
    image = noise(1000, 700)
    settings = Preprocessing(input_size=224, max_tiles=5)
    tiles = extract_tiles(image, settings)
    assert len(tiles.images) == 5 and tiles.scale == 1.0
    for tile, box in zip(tiles.images, tiles.boxes):
        assert tile.size == (224, 224)
        assert np.array_equal(np.asarray(tile), np.asarray(image.crop(tuple(int(v) for v in box))))
    # centre first, then the corners
    assert tiles.boxes[0] == (388.0, 238.0, 612.0, 462.0)
    assert {tiles.boxes[i][:2] for i in range(1, 5)} == {(0.0, 0.0), (776.0, 0.0), (0.0, 476.0), (776.0, 476.0)}


def test_image_a_little_larger_than_a_crop_is_covered_by_a_grid():
    boxes = tile_boxes(300, 224, 224, 5)
    assert sorted(boxes) == [(0, 0, 224, 224), (76, 0, 300, 224)]
    assert tile_boxes(224, 224, 224, 5) == [(0, 0, 224, 224)]
    assert len(tile_boxes(2000, 2000, 224, 16)) == 16
    assert len(tile_boxes(2000, 2000, 224, 1)) == 1


def test_small_image_is_upscaled_to_the_input_size():
    image = noise(8, 8)
    tiles = extract_tiles(image, Preprocessing(input_size=64))
    assert len(tiles.images) == 1 and tiles.images[0].size == (64, 64) and tiles.scale == 8.0
    wide = extract_tiles(noise(40, 10), Preprocessing(input_size=32, max_tiles=5))
    assert all(t.size == (32, 32) for t in wide.images) and len(wide.images) == 4


def test_tensor_is_normalised_with_the_configured_statistics():
    settings = Preprocessing(input_size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    tensor = image_to_tensor(Image.new("RGB", (16, 16), (255, 0, 255)), settings)
    assert tensor.shape == (1, 3, 16, 16)
    assert tensor[0, 0].eq(1).all() and tensor[0, 1].eq(-1).all()


def test_random_crop_keeps_native_pixels():
    image = noise(300, 260)
    crop = random_crop(image, 64, random.Random(1))
    array, full = np.asarray(crop), np.asarray(image)
    hits = [
        (x, y)
        for y in range(260 - 63)
        for x in range(300 - 63)
        if full[y, x, 0] == array[0, 0, 0] and np.array_equal(full[y : y + 64, x : x + 64], array)
    ]
    assert len(hits) == 1


def test_preprocessing_round_trips_and_rejects_unknown_tiling():
    settings = Preprocessing(input_size=128, max_tiles=3)
    assert Preprocessing.from_dict(settings.to_dict()) == settings
    with pytest.raises(ValueError, match="Unknown tiling"):
        Preprocessing.from_dict({**settings.to_dict(), "tiling": "thumbnail"})
