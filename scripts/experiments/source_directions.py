#!/usr/bin/env python3
"""Experiment (issue 11): a head that cannot read which source an image came from.

    .venv/bin/python scripts/experiments/source_directions.py ../shared/data/train var/corpus-train \
        --checkpoint detector/weights/default.pt --cache-dir var/feature-cache --directions 0,2,4,8

Within one class, the training sources differ from each other along a few directions of the
feature space: content, camera, format, the look of one prompt set. A linear head can lean on
them, and what it learns there does not carry to a source it never saw. Here the head is fitted
after those directions are projected out: within each class, the mean feature vector of every
source (standardised features, both copies) minus the class's mean of source means; the top R
principal directions of those deviations (orthogonalised against the AI-minus-real direction, so
the class difference itself is kept) are removed, so the head's logit cannot move along them.
The projection folds into the linear head's weights: the served model would be unchanged in
size and speed.

Everything else is the checkpoint's recipe (features, copies, L2, exclusions, folds), Platt-scaled
out of source and mixed with the checkpoint's stored out-of-source NPR logits as `train_detector`
mixes them. It prints, per R, the mixed out-of-source AUC as the files are and after JPEG q75 + half
size, the paired bootstrap against R = 0 (the shipped head), the operating figures at thresholds
chosen by the shipped rules, and the AUC on other draws of the source folds (`--fold-seeds`).
`--resave-direction` also removes, per class, the mean shift from an original to its re-saved copy.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")


def source_directions(xs, labels, groups, count: int, *, copies: int = 1, resave: bool = False,
                      classes=(0, 1)) -> np.ndarray:
    """Orthonormal (d, k) directions along which same-class sources differ (standardised features).

    `xs` holds `copies` stacked copies of the same images (originals first); `groups` names each
    row's source; `classes` whose sources count (0 real, 1 AI). The AI-minus-real direction of the
    source means is projected out of them first.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    deviations, class_means = [], {}
    for label in (0, 1):
        keys = sorted({g for g, l in zip(groups, labels) if l == label})
        means = np.stack([xs[(groups == g) & (labels == label)].mean(0) for g in keys])
        class_means[label] = means.mean(0)
        if label in classes:
            deviations.append(means - class_means[label])
    vectors = np.concatenate(deviations) if count > 0 else np.zeros((0, xs.shape[1]))
    if count > 0:
        _, singular, vt = np.linalg.svd(vectors, full_matrices=False)
        vectors = vt[:count][singular[:count] > 1e-8 * singular[0]]  # never a direction the sources do not span
    if resave and copies > 1:
        n = len(labels) // copies
        shifts = [xs[n:][labels[n:] == label].mean(0) - xs[:n][labels[:n] == label].mean(0) for label in (0, 1)]
        vectors = np.concatenate([vectors, np.stack(shifts)])
    if not len(vectors):
        return np.zeros((xs.shape[1], 0))
    class_direction = class_means[1] - class_means[0]
    class_direction /= np.linalg.norm(class_direction)
    vectors = vectors - np.outer(vectors @ class_direction, class_direction)
    q, r = np.linalg.qr(vectors.T)
    keep = np.abs(np.diag(r)) > 1e-8 * np.abs(np.diag(r)).max()
    return q[:, keep]


def fit_invariant_head(x, y, w, groups, count: int, *, l2: float, copies: int, resave: bool = False, classes=(0, 1)):
    """probe.fit_linear_head on features with the source directions removed, returned on raw features."""
    from detector.ml.probe import LinearHead, fit_linear_head

    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = (x - mean) / std
    basis = source_directions(xs, y, groups, count, copies=copies, resave=resave, classes=classes)
    projected = xs - (xs @ basis) @ basis.T
    head = fit_linear_head(projected, y, w, l2=l2, copies=copies)
    u = head.weight - basis @ (basis.T @ head.weight)
    return LinearHead(u / std, float(head.bias - (mean / std) @ u))


def shipped_inputs(data_dirs, checkpoint_path, cache_dir):
    """What a paired out-of-source comparison with `checkpoint_path` needs: its images, cached features,
    settings and stored out-of-source NPR logits (call after django.setup())."""
    from types import SimpleNamespace

    from detector.ml.checkpoint import CheckpointError, read_checkpoint
    from detector.ml.digests import file_sha256
    from detector.ml.npr_training import NPR_VARIANTS, NPRPart
    from detector.ml.out_of_source import MIN_SIDE_JUDGED, extract, load_images
    from detector.ml.preprocessing import Preprocessing
    from detector.ml.probe import FeatureExtractor, balanced_weights, trainable_mask

    try:
        settings = read_checkpoint(checkpoint_path).training_args or {}
    except (CheckpointError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if not (settings.get("npr") or {}).get("out_of_source_logits"):
        raise SystemExit(f"error: {checkpoint_path} is not a probe + NPR checkpoint with stored out-of-source "
                         "NPR logits (train_detector --arch efficientnet_lite0_multilevel_npr writes one).")
    train_variants = tuple(settings["train_variants"])
    images, sides = load_images(data_dirs, max_per_source=settings["max_per_source"], seed=settings["seed"], log=lambda *_: None)
    preprocessing = Preprocessing(input_size=settings["input_size"], max_tiles=settings["max_tiles"],
                                  whole_view=settings.get("whole_view") is True,
                                  whole_view_mirrored=settings.get("whole_view_mirrored") is True)
    extractor = FeatureExtractor.imagenet(preprocessing, arch="efficientnet_lite0_multilevel", cache_dir=cache_dir,
                                          channel_correlations=settings.get("channel_correlations") is True)
    npr = settings["npr"]
    stored = np.array([npr["out_of_source_logits"][file_sha256(i.sample.path)] for i in images], dtype=np.float64)
    return SimpleNamespace(
        settings=settings, train_variants=train_variants, images=images, sides=sides,
        features=extract(extractor, images, list(dict.fromkeys([*train_variants, "original", "jpeg75_half"])), log=lambda *_: None),
        labels=np.array([i.sample.label for i in images]), sources=np.array([i.sample.source for i in images]),
        weights=balanced_weights(images), trainable=trainable_mask(images, settings["not_trained_on"]),
        judged=sides >= MIN_SIDE_JUDGED, npr_weight=float(npr.get("npr_weight", 0.5)),
        npr_part=NPRPart([], {v: stored[:, n] for n, v in enumerate(NPR_VARIANTS)}, platt=tuple(npr["platt"])))


def mixed_logits(inputs, folds, count: int = 0, *, resave: bool = False, classes=(0, 1)) -> dict:
    """Out-of-source logits per variant of the probe (source directions removed) mixed with the NPR part."""
    from detector.ml.npr_training import mix_logits
    from detector.ml.out_of_source import out_of_source_platt

    folds = np.asarray(folds)
    copies = len(inputs.train_variants)
    probe = {v: np.zeros(len(inputs.images)) for v in inputs.features}
    for fold in sorted(set(folds.tolist())):
        train = (folds != fold) & inputs.trainable
        head = fit_invariant_head(
            np.concatenate([inputs.features[v][train] for v in inputs.train_variants]),
            np.concatenate([inputs.labels[train]] * copies), np.concatenate([inputs.weights[train]] * copies),
            np.concatenate([inputs.sources[train]] * copies), count, l2=inputs.settings["l2"], copies=copies,
            resave=resave, classes=classes)
        for v, features in inputs.features.items():
            probe[v][folds == fold] = head.logits(features[folds == fold])
    slope, intercept = out_of_source_platt(probe, inputs.images, inputs.sides)
    calibrated = {v: slope * l + intercept for v, l in probe.items()}
    return mix_logits(calibrated, inputs.npr_part, (1.0, 0.0), inputs.npr_weight)


def shipped_parser(description: str) -> argparse.ArgumentParser:
    """The arguments shipped_inputs needs: the checkpoint's training folders, the checkpoint, the feature cache."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", nargs="+", help="the checkpoint's training folders")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--cache-dir", required=True)
    return parser


def numbers(text: str) -> list[int]:
    """'0,2,4' -> [0, 2, 4]; argparse turns the ValueError of anything else into a usage error."""
    values = [int(part) for part in text.split(",") if part.strip()]
    if any(value < 0 for value in values):
        raise ValueError(text)
    return values


def main(argv=None) -> int:
    parser = shipped_parser(__doc__)
    parser.add_argument("--directions", type=numbers, default="0,2,4,8",
                        help="comma-separated numbers of source directions removed")
    parser.add_argument("--resave-direction", action="store_true", help="also remove each class's original-to-re-saved shift")
    parser.add_argument("--classes", choices=["both", "real", "ai"], default="both",
                        help="whose sources' differences are removed")
    parser.add_argument("--fold-seeds", type=numbers, default="", help="comma-separated seeds of other fold draws, scored for every row")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from detector.ml.metrics import paired_auc_difference, roc_auc
    from detector.ml.npr_training import NPR_VARIANTS
    from detector.ml.out_of_source import calibrated_figures
    from detector.ml.probe import source_folds

    inputs = shipped_inputs(args.data_dirs, args.checkpoint, args.cache_dir)
    images, sides, labels, judged = inputs.images, inputs.sides, inputs.labels, inputs.judged
    seed, k = inputs.settings["seed"], inputs.settings["folds"]
    classes = {"both": (0, 1), "real": (0,), "ai": (1,)}[args.classes]
    print(f"{len(images)} images ({int(judged.sum())} judged), {len(set(inputs.sources))} sources, "
          f"{inputs.features['original'].shape[1]} features")
    shipped_folds = source_folds(images, k, seed)
    rows = [(count, False) for count in args.directions]
    if args.resave_direction:
        rows += [(c, True) for c, _ in rows]
    baseline = None
    for count, resave in rows:
        logits = mixed_logits(inputs, shipped_folds, count, resave=resave, classes=classes)
        figures = calibrated_figures(logits, images, sides)
        f = figures["figures"]
        name = f"R={count}" + (" + re-save shift" if resave else "")
        clean = roc_auc(labels[judged], logits["original"][judged])
        resaved = roc_auc(labels[judged], logits["jpeg75_half"][judged])
        rate = lambda d: d["rate"]  # noqa: E731
        line = (f"{name}: AUC {clean:.4f} (photos {f['auc_ai_vs_photos']:.4f}, art {f['auc_ai_vs_art']:.4f}), after JPEG "
                f"q75 + half {resaved:.4f} (gap {clean - resaved:.4f}); photos/art likely AI "
                f"{rate(f['photos_likely_ai']):.3f}/{rate(f['art_likely_ai']):.3f}, re-saved "
                f"{rate(f['degraded']['photos_likely_ai']):.3f}/{rate(f['degraded']['art_likely_ai']):.3f}; AI caught "
                f"{rate(f['ai_caught_likely_ai']):.3f}, AI likely human {rate(f['ai_likely_human']):.3f}; thresholds "
                f"{figures['thresholds']['likely_ai']:.4f}/{figures['thresholds']['likely_human']:.4f}")
        if baseline is None:
            baseline = logits
        else:
            for variant in NPR_VARIANTS:
                diff, low, high = paired_auc_difference(labels[judged], baseline[variant][judged], logits[variant][judged])
                line += f"; vs R=0 {variant} {diff:+.4f} ({low:+.4f} to {high:+.4f})"
        print(line, flush=True)
        for fold_seed in args.fold_seeds:
            other = mixed_logits(inputs, source_folds(images, k, fold_seed), count, resave=resave, classes=classes)
            print(f"  {name}, folds drawn with seed {fold_seed}: AUC {roc_auc(labels[judged], other['original'][judged]):.4f}, "
                  f"after JPEG q75 + half {roc_auc(labels[judged], other['jpeg75_half'][judged]):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
