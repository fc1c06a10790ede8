#!/usr/bin/env python3
"""Experiment (issue 11): more whole views for the probe part: a larger one, and a mirrored one.

    .venv/bin/python scripts/experiments/whole_view_scales.py --train ../shared/data/train var/corpus-train \\
        --wild var/corpus-wild --checkpoint detector/weights/default.pt --sizes 384 --flip

The shipped probe reads five 224-px crops at the file's own resolution and the whole picture shrunk
to 224 px (whole_view_image). Shrinking a 2,048-px picture to 224 px keeps its composition but
loses everything between the two scales. This adds, beside the shipped vectors, the same frozen
backbone's multi-level vector (2,848 numbers) of the whole picture shrunk to S px for each --sizes S
(short side S, centre-cropped to S x S: the network pools globally, so any S works), and with --flip
the 224-px whole view mirrored left-right, averaged with the unmirrored one's vector (the head then
reads a mirror-symmetric view at no cost in features); with --flip-crops, the five crops mirrored
too (their mean vector averaged with the crops'). Rows: the shipped probe part, and each
addition, with the shipped head recipe (original + JPEG q75/half copies, L2 0.1, not trained on
cifake or hardfaces, per-image source weights, 5 folds by source) and Platt scaling out of source;
each probe part is then mixed with the shipped checkpoint's own NPR part exactly as the detector
mixes it (its stored out-of-source NPR logits; in the wild, its five members averaged). Prints AUC
as it is and after JPEG q75 + half size, out of source and in the wild, with paired bootstraps
(1,000 resamples of images) against the shipped probe part. New vectors are cached under
var/feature-cache/lite0-multilevel-whole<S>, -wholeflip224 (the product's own folder for
train_detector --mirror-whole-view) and -cropsflip. Results: docs/model/MODEL_CARD.md. An experiment: nothing in the app
imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

VARIANTS = ("original", "jpeg75_half")


def extra_extractor(sizes, flip, cache_dir, flip_crops=False):
    """A FeatureExtractor whose parts are the extra whole views (each cached in its own folder)."""
    from PIL import Image, ImageOps

    from detector.ml.multilevel import NUM_FEATURES
    from detector.ml.preprocessing import Preprocessing, extract_tiles, to_tensor, whole_view_image
    from detector.ml.architectures import pre_logits
    from detector.ml.probe import FeatureExtractor

    shipped = Preprocessing(input_size=224, max_tiles=5, whole_view=True)
    extractor = FeatureExtractor.imagenet(shipped, arch="efficientnet_lite0_multilevel", cache_dir=cache_dir)
    model = extractor.model

    def view_vector(size, mirror=False):
        preprocessing = Preprocessing(input_size=size, max_tiles=5, whole_view=True)

        def vector(image: Image.Image) -> np.ndarray:
            view = whole_view_image(image, preprocessing)
            if mirror:
                view = ImageOps.mirror(view)
            with torch.inference_mode():
                out = pre_logits(model, to_tensor([view], preprocessing)).float()[0].numpy()
            assert out.shape == (NUM_FEATURES,), out.shape
            return out
        return vector

    def mirrored_crops_vector(image: Image.Image) -> np.ndarray:
        tiles = [ImageOps.mirror(t) for t in extract_tiles(image, shipped).images]
        with torch.inference_mode():
            return pre_logits(model, to_tensor(tiles, shipped)).float().mean(0).numpy()

    parts = [(f"-whole{size}", view_vector(size)) for size in sizes]
    if flip:
        parts.append(("-wholeflip224", view_vector(224, mirror=True)))
    if flip_crops:
        parts.append(("-cropsflip", mirrored_crops_vector))
    extractor._parts = lambda: parts  # the extra views only; the shipped ones come from the product's extractor
    return extractor, [suffix for suffix, _ in parts]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--wild", nargs="+", required=True)
    parser.add_argument("--checkpoint", required=True, help="the shipped efficientnet_lite0_multilevel_npr checkpoint")
    parser.add_argument("--sizes", default="384", help="comma-separated whole-view sizes to add (e.g. 320,448)")
    parser.add_argument("--flip", action="store_true", help="also the mirrored 224-px whole view")
    parser.add_argument("--flip-crops", action="store_true", help="also the five crops mirrored (their mean vector)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--l2", type=float, default=0.1)
    parser.add_argument("--extract-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import django

    django.setup()
    from detector.ml.multilevel import NUM_FEATURES
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, load_images
    from detector.ml.preprocessing import Preprocessing
    from detector.ml.probe import FeatureExtractor, balanced_weights, source_folds, trainable_mask
    from shipped_mix import mixed_row, print_rows, shipped_npr_parts

    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    quiet = lambda *_: None  # noqa: E731
    cache = REPO / "var" / "feature-cache"
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    images, sides = load_images(args.train, max_per_source=300, seed=0, log=quiet)
    wild, wild_sides = load_images(args.wild, max_per_source=None, seed=0, log=quiet)
    shipped = FeatureExtractor.imagenet(Preprocessing(input_size=224, max_tiles=5, whole_view=True),
                                        arch="efficientnet_lite0_multilevel", cache_dir=cache)
    extra, suffixes = extra_extractor(sizes, args.flip, cache, args.flip_crops)
    feats = {}
    for where, items in (("train", images), ("wild", wild)):
        paths = [i.sample.path for i in items]
        for v in VARIANTS:
            more = extra.features(paths, v, log=log)
            for k, suffix in enumerate(suffixes):
                feats[(suffix.lstrip("-"), where, v)] = more[:, k * NUM_FEATURES:(k + 1) * NUM_FEATURES]
    if args.extract_only:
        return 0
    for where, items in (("train", images), ("wild", wild)):
        paths = [i.sample.path for i in items]
        for v in VARIANTS:
            both = shipped.features(paths, v, log=log)
            feats[("tiles", where, v)], feats[("whole224", where, v)] = both[:, :NUM_FEATURES], both[:, NUM_FEATURES:]
    if args.flip:
        for where in ("train", "wild"):
            for v in VARIANTS:
                feats[("whole224tta", where, v)] = 0.5 * (feats[("whole224", where, v)] + feats[("wholeflip224", where, v)])
    if args.flip_crops:
        for where in ("train", "wild"):
            for v in VARIANTS:
                feats[("tilestta", where, v)] = 0.5 * (feats[("tiles", where, v)] + feats[("cropsflip", where, v)])

    y, y_wild = np.array([i.sample.label for i in images]), np.array([i.sample.label for i in wild])
    judged, judged_wild = sides >= MIN_SIDE_JUDGED, wild_sides >= MIN_SIDE_JUDGED
    folds = np.array(source_folds(images, 5, 0))
    trainable = trainable_mask(images, ("cifake", "hardfaces"))
    weights = balanced_weights(images)

    npr = shipped_npr_parts(args.checkpoint, images, wild, cache_dir=cache, variants=VARIANTS, log=log)

    def row(names):
        """(out-of-source mixed logits, wild mixed logits, probe oos, probe wild) per variant for one feature set."""
        x = {(where, v): np.hstack([feats[(n, where, v)] for n in names]) for where in ("train", "wild") for v in VARIANTS}
        return mixed_row(x, y, weights, folds, trainable, judged, npr, variants=VARIANTS, l2=args.l2)

    candidates = {"shipped: crops + whole224": ["tiles", "whole224"]}
    for size in sizes:
        candidates[f"crops + whole224 + whole{size}"] = ["tiles", "whole224", f"whole{size}"]
        candidates[f"crops + whole{size} (instead of 224)"] = ["tiles", f"whole{size}"]
    if args.flip:
        candidates["crops + whole224 mirrored-averaged"] = ["tiles", "whole224tta"]
        for size in sizes:
            candidates[f"crops + whole224 mirrored-averaged + whole{size}"] = ["tiles", "whole224tta", f"whole{size}"]
    if args.flip and args.flip_crops:
        candidates["crops and whole224 both mirrored-averaged"] = ["tilestta", "whole224tta"]
        for size in sizes:
            candidates[f"crops and whole224 both mirrored-averaged + whole{size}"] = ["tilestta", "whole224tta", f"whole{size}"]
    rows = {}
    for label, names in candidates.items():
        rows[label] = row(names)
        log(f"fitted {label}")

    print_rows(rows, y, judged, y_wild, judged_wild, variants=VARIANTS, base_label="shipped: crops + whole224")
    return 0


if __name__ == "__main__":
    sys.exit(main())
