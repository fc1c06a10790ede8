import io
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from detector.ml.explain import Heatmap, heatmap
from detector.ml.inference import load_detector
from detector.ml.preprocessing import Preprocessing


@pytest.fixture(scope="module")
def detector(detector_checkpoint):
    return load_detector(detector_checkpoint)


def _noise(width, height, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (height, width, channels) if channels > 1 else (height, width)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _rgb(width, height, seed=0):
    return Image.fromarray(_noise(width, height, seed=seed))


def _hooks(model):
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


def test_grid_is_image_aligned_and_in_range(detector):
    result = heatmap(detector, _rgb(100, 80))
    assert isinstance(result, Heatmap)
    assert result.grid.shape == (80, 100) and result.grid.dtype == np.float32
    assert result.grid.min() >= 0.0 and result.grid.max() <= 1.0
    assert result.raw.shape == result.covered.shape == (80, 100)
    assert result.covered.all() and result.coverage == 1.0
    assert result.size == (100, 80)
    if result.peak > 0:
        assert result.grid.max() == pytest.approx(1.0)


def test_large_non_square_image_is_covered_by_more_crops_than_scoring_uses(detector):
    image = _rgb(300, 130, seed=1)  # 64 px crops: 5 x 3 would merely cover it, scoring uses 5 crops
    result = heatmap(detector, image)
    assert detector.score(image).tiles == 5
    assert result.crops == 7 * 3 == len(result.boxes)  # neighbours share a third of a crop
    assert result.grid.shape == (130, 300)
    assert result.covered.all()
    xs = sorted({box[0] for box in result.boxes})
    assert all(b - a <= 64 * 2 / 3 + 1 for a, b in zip(xs, xs[1:]))
    assert heatmap(detector, image, overlap=0.0).crops == 15
    assert heatmap(detector, image, max_crops=17).crops <= 17
    # Every region of the image carries a value, not only the centre and the corners.
    assert np.count_nonzero(result.raw) / result.raw.size > 0.99
    for x0, x1 in ((0, 64), (118, 182), (236, 300)):
        assert np.abs(result.raw[60:70, x0:x1]).max() > 0


def test_raw_map_is_the_ai_logit_spread_over_the_crop(detector):
    # One crop, average-pooled head: the mean of the Grad-CAM map is the logit minus the bias.
    image = _rgb(64, 64, seed=2)
    result = heatmap(detector, image)
    bias = float(detector.model.get_classifier().bias.detach())
    assert result.crops == 1
    assert float(result.raw.mean()) == pytest.approx(detector.score(image).logit - bias, abs=1e-4)


def _jumps_at_and_between_crop_edges(result):
    """Largest step between neighbouring pixels across a crop's edge, and anywhere else."""
    values = result.raw.astype(np.float64)
    height, width = values.shape
    at_edges, elsewhere = [], []
    for axis, size, starts, ends in ((1, width, 0, 2), (0, height, 1, 3)):
        steps = np.abs(np.diff(values, axis=axis))  # steps[k] is between pixels k and k + 1
        edges = {round(box[starts]) - 1 for box in result.boxes} | {round(box[ends]) - 1 for box in result.boxes}
        edges = sorted(e for e in edges if 0 <= e < size - 1)
        near = sorted({k for e in edges for k in (e - 1, e, e + 1) if 0 <= k < size - 1})
        if edges:
            at_edges.append(np.take(steps, edges, axis=axis).max())
        elsewhere.append(np.delete(steps, near, axis=axis).max())
    return max(at_edges), max(elsewhere)


@pytest.mark.parametrize("max_crops", [256, 20], ids=["overlapping", "crops-that-only-touch"])
@pytest.mark.parametrize("kind", ["uniform", "noise"])
def test_no_step_at_crop_boundaries(detector, kind, max_crops):
    # A uniform image has nothing to show, so anything along the crop grid is a seam; on noise
    # neighbouring crops disagree. Across a crop's edge the map may change no faster than inside.
    image = Image.new("RGB", (300, 200), (128, 140, 150)) if kind == "uniform" else _rgb(300, 200, seed=11)
    result = heatmap(detector, image, max_crops=max_crops)
    assert result.covered.all() and result.crops <= max_crops
    at_edges, elsewhere = _jumps_at_and_between_crop_edges(result)
    assert at_edges <= 1.5 * elsewhere + 1e-6, (at_edges, elsewhere)
    if kind == "noise" and result.peak > 0:
        grid_steps = max(np.abs(np.diff(result.grid, axis=a)).max() for a in (0, 1))
        assert grid_steps < 0.1  # the displayed map is smooth too (a seam is a jump of 0.1-1)


def test_overlay_and_png(detector):
    image = _rgb(150, 90, seed=3)
    result = heatmap(detector, image)
    overlay = result.overlay(image)
    assert overlay.size == image.size and overlay.mode == "RGB"
    assert result.overlay().size == image.size
    assert np.array_equal(np.asarray(result.overlay(alpha=0.0)), np.asarray(image))
    assert not np.array_equal(np.asarray(overlay), np.asarray(image))
    decoded = Image.open(io.BytesIO(result.to_png_bytes()))
    assert decoded.format == "PNG" and decoded.size == image.size
    assert Image.open(io.BytesIO(result.to_png_bytes(max_side=75))).size == (75, 45)
    with pytest.raises(ValueError):
        result.overlay(alpha=1.5)
    with pytest.raises(ValueError, match="150x90"):
        result.overlay(_rgb(90, 150))


def test_model_is_left_as_it_was(detector):
    images = [_rgb(120, 70, seed=4), _rgb(40, 40, seed=5)]
    before = [s.logit for s in detector.score_batch(images)]
    hooks_before = _hooks(detector.model)
    for image in images:
        heatmap(detector, image)
    assert [s.logit for s in detector.score_batch(images)] == before
    assert _hooks(detector.model) == hooks_before == 0
    assert not detector.model.training
    assert all(p.grad is None for p in detector.model.parameters())
    assert torch.is_grad_enabled()


def test_works_inside_inference_mode(detector):
    with torch.inference_mode():
        result = heatmap(detector, _rgb(70, 70, seed=6))
    assert result.grid.shape == (70, 70)


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(_noise(90, 70, 4), "RGBA"),
        Image.fromarray(_noise(80, 66, 1), "L"),
        Image.fromarray(_noise(80, 80)).convert("P", palette=Image.Palette.ADAPTIVE),
        Image.fromarray(_noise(75, 66, 1).astype(np.uint16) * 257),
    ],
    ids=["RGBA", "L", "P", "I;16"],
)
def test_any_image_mode(detector, image):
    result = heatmap(detector, image)
    assert result.grid.shape == (image.height, image.width)
    assert np.isfinite(result.raw).all()
    overlay = result.overlay(image)
    assert overlay.mode == "RGB" and overlay.size == image.size


def test_crop_cap_leaves_uncovered_pixels_marked(detector):
    result = heatmap(detector, _rgb(400, 100, seed=7), max_crops=2)
    assert result.crops == 2
    assert 0.0 < result.coverage < 1.0
    assert (result.grid[~result.covered] == 0).all()
    assert result.overlay().size == (400, 100)


def test_concurrent_heatmaps_agree(detector):
    image = _rgb(130, 100, seed=8)
    expected = heatmap(detector, image).raw
    results = []
    threads = [threading.Thread(target=lambda: results.append(heatmap(detector, image).raw)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and all(np.allclose(r, expected, atol=1e-5) for r in results)


class _PlainNet(torch.nn.Module):
    """No forward_features/forward_head: exercises the hook fallback."""

    def __init__(self, fail=False):
        super().__init__()
        self.fail = fail
        self.conv1 = torch.nn.Conv2d(3, 4, 3, stride=4)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, stride=4)
        self.fc = torch.nn.Linear(6, 1)

    def forward(self, x):
        x = self.conv2(torch.relu(self.conv1(x)))
        if self.fail:
            raise RuntimeError("boom")
        return self.fc(torch.relu(x).mean(dim=(2, 3)))


def test_hook_fallback_removes_its_hook_even_on_errors():
    torch.manual_seed(0)
    model = _PlainNet().eval()
    plain = SimpleNamespace(model=model, preprocessing=Preprocessing(input_size=32), device=torch.device("cpu"))
    image = _rgb(32, 32, seed=9)
    result = heatmap(plain, image)
    assert result.grid.shape == (32, 32) and _hooks(model) == 0
    assert all(p.grad is None for p in model.parameters())
    model.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        heatmap(plain, image)
    assert _hooks(model) == 0
