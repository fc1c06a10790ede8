"""The out-of-source protocol and the probe detector trained by it.

`run_out_of_source` splits the sources of the training folders into k groups, scores each group
with a linear head that never saw any of its sources, and reports what users would meet:
AUC, photos and artworks called likely AI, AI images caught and cleared, per source, per
generator family and per kind of real image, on the original files and after JPEG q75 + half
size. `train_probe_detector` then fits the head on every source, calibrates it and picks the
thresholds on the out-of-source scores (never on images the head was fitted on), and writes an
ordinary detector checkpoint.
"""

from __future__ import annotations

import csv
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import DetectorCheckpoint, save_checkpoint, state_dict_digest, stored_state_dict
from .datasets import MANIFEST_NAME, cap_per_source, collect_samples, readable_samples, require_both_classes, summarise
from .metrics import paired_auc_difference, roc_auc
from .npr import NPR_ARCH
from .out_of_source_report import plain_figures
from .preprocessing import Preprocessing
from .probe import (
    VARIANTS,
    trainable_mask,
    FeatureExtractor,
    ProbeError,
    balanced_weights,
    describe,
    fit_linear_head,
    fit_platt,
    head_state_dict,
    operating_figures,
    out_of_source_logits,
    probabilities_from_logits,
    source_folds,
)
from .out_of_source_thresholds import choose_out_of_source_thresholds

MIN_SIDE_JUDGED = 64  # detector.policy.MIN_SIDE_FOR_VERDICT: smaller images are never judged
DEFAULT_TRAIN_VARIANTS = ("original", "wild", "jpeg75_half")
DEFAULT_L2 = 0.1  # chosen out of source: docs/model/selection/selection.md
DEFAULT_ARCH = "efficientnet_lite0"  # or efficientnet_lite0_multilevel (detector/ml/multilevel.py)


def manifest_rows(data_dirs) -> dict:
    """{resolved file path: manifest row} for every MANIFEST.csv among the folders."""
    rows = {}
    for data_dir in data_dirs:
        manifest = Path(data_dir) / MANIFEST_NAME
        if not manifest.is_file():
            continue
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                if row.get("path"):
                    rows[str((Path(data_dir) / row["path"]).resolve())] = row
    return rows


def short_side(path, row: dict) -> int:
    try:
        return min(int(row["width"]), int(row["height"]))
    except (KeyError, TypeError, ValueError):
        with Image.open(path) as image:
            return min(image.size)


def load_images(data_dirs, *, max_per_source=None, seed=0, log=print):
    """Described samples of the folders (capped per source and class), readable ones only."""
    samples = collect_samples(data_dirs, log=log)
    require_both_classes(samples)
    if max_per_source:
        samples = cap_per_source(samples, max_per_source, seed)
    samples, _skipped = readable_samples(samples, log=log)
    rows = manifest_rows(data_dirs)
    images = describe(samples, rows)
    sides = np.array([short_side(i.sample.path, rows.get(str(Path(i.sample.path).resolve()), {})) for i in images])
    return images, sides


def extract(extractor: FeatureExtractor, images, variants, *, log=print) -> dict:
    paths = [i.sample.path for i in images]
    out = {}
    for variant in variants:
        started = time.monotonic()
        out[variant] = extractor.features(paths, variant, log=log)
        log(f"features {variant}: {len(paths)} images in {time.monotonic() - started:.0f} s")
    return out


def run_out_of_source(
    data_dirs,
    *,
    folds: int = 5,
    max_per_source: int | None = 400,
    seed: int = 0,
    cache_dir=None,
    train_variants=DEFAULT_TRAIN_VARIANTS,
    l2: float = DEFAULT_L2,
    input_size: int = 224,
    max_tiles: int = 5,
    extractor: FeatureExtractor | None = None,
    exclude_sources=(),
    source_boost=None,
    human_art_boost: float = 1.0,
    arch: str = DEFAULT_ARCH,
    whole_view: bool = False,
    whole_view_mirrored: bool = False,
    channel_correlations: bool = False,
    consistency: float = 0.0,
    log=print,
) -> dict:
    """Out-of-source scores and figures for the images of `data_dirs` (see the module docstring).

    The features are those of `arch`'s ImageNet backbone (unless an `extractor` is given); with
    `whole_view`, the whole picture's vector follows the crops' (preprocessing.whole_view_image);
    `whole_view_mirrored` averages it with the mirrored picture's; `channel_correlations` adds the early
    stages' channel correlations to the crops' vector (multilevel.py).
    """
    for variant in train_variants:
        if variant not in VARIANTS:
            raise ProbeError(f"Unknown training variant {variant!r}; known: {', '.join(VARIANTS)}.")
    torch.manual_seed(seed)
    images, sides = load_images(data_dirs, max_per_source=max_per_source, seed=seed, log=log)
    sources = len({i.sample.source for i in images})
    if sources < 2:
        raise ProbeError(f"The out-of-source protocol needs at least 2 sources; the data has {sources}.")
    fold_of = source_folds(images, min(folds, sources), seed)
    preprocessing = Preprocessing(input_size=input_size, max_tiles=max_tiles, whole_view=bool(whole_view),
                                  whole_view_mirrored=bool(whole_view_mirrored))
    extractor = extractor or FeatureExtractor.imagenet(preprocessing, arch=arch, cache_dir=cache_dir,
                                                       channel_correlations=channel_correlations)
    needed = list(dict.fromkeys([*train_variants, "original", "jpeg75_half"]))
    features = extract(extractor, images, needed, log=log)
    logits = out_of_source_logits(features, images, fold_of, train_variants=train_variants, l2=l2,
                                  exclude_sources=exclude_sources, source_boost=source_boost,
                                  human_art_boost=human_art_boost, consistency=consistency, log=log)
    calibration = calibrated_figures(logits, images, sides)
    sources_per_fold = {}
    for image, fold in zip(images, fold_of):
        sources_per_fold.setdefault(fold, set()).add(image.sample.source)
    return {
        "images": images, "sides": sides, "folds": fold_of, "features": features, "logits": logits,
        **calibration, "extractor": extractor, "preprocessing": preprocessing,
        "protocol": {
            "folds": folds, "by": "source (both classes of a source in one fold)",
            "sources_per_fold": {str(k): sorted(v) for k, v in sorted(sources_per_fold.items())},
            "train_variants": list(train_variants), "l2": l2, "max_per_source": max_per_source, "seed": seed,
            "arch": arch,
            **({"whole_view": True} if whole_view else {}),
            **({"whole_view_mirrored": True} if whole_view_mirrored else {}),
            **({"channel_correlations": True} if channel_correlations else {}),
            **({"consistency": consistency} if consistency else {}),
            "not_trained_on": sorted(exclude_sources or ()),
            "source_boost": dict(source_boost or {}),
            "human_art_boost": human_art_boost,
            "judged_images": int((sides >= MIN_SIDE_JUDGED).sum()), "not_judged_under_64px": int((sides < MIN_SIDE_JUDGED).sum()),
        },
    }


def out_of_source_platt(logits: dict, images, sides) -> tuple:
    """Platt scaling (slope, intercept) fitted on the judged (>= 64 px) out-of-source logits of the original files."""
    labels = np.array([i.sample.label for i in images])
    judged = sides >= MIN_SIDE_JUDGED
    judged_images = [images[i] for i in np.flatnonzero(judged)]
    return fit_platt(logits["original"][judged], labels[judged], balanced_weights(judged_images))


def calibrated_figures(logits: dict, images, sides) -> dict:
    """Platt scaling and thresholds chosen on the judged (>= 64 px) out-of-source logits of the
    original files, and the figures they give, also after JPEG q75 + half size."""
    judged = sides >= MIN_SIDE_JUDGED
    judged_images = [images[i] for i in np.flatnonzero(judged)]
    slope, intercept = out_of_source_platt(logits, images, sides)
    p = {v: probabilities_from_logits(l, slope, intercept) for v, l in logits.items()}
    thresholds, threshold_info = choose_out_of_source_thresholds(p["original"][judged], judged_images,
                                                                 resaved=p["jpeg75_half"][judged])
    figures = operating_figures(p["original"][judged], judged_images, thresholds)
    degraded = operating_figures(p["jpeg75_half"][judged], judged_images, thresholds)
    figures["auc_after_jpeg75_half"] = degraded["auc_ai_vs_all_real"]
    figures["degraded"] = {k: degraded[k] for k in ("auc_ai_vs_all_real", "photos_likely_ai", "art_likely_ai", "ai_caught_likely_ai", "ai_likely_human")}
    return {"platt": (slope, intercept), "thresholds": thresholds, "threshold_info": threshold_info, "figures": figures}


def train_probe_detector(
    data_dirs,
    output,
    *,
    folds: int = 5,
    max_per_source: int | None = 400,
    seed: int = 0,
    cache_dir=None,
    train_variants=DEFAULT_TRAIN_VARIANTS,
    l2: float = DEFAULT_L2,
    input_size: int = 224,
    max_tiles: int = 5,
    exclude_sources=(),
    source_boost=None,
    human_art_boost: float = 1.0,
    parent_version: str | None = None,
    arch: str = DEFAULT_ARCH,
    npr_epochs: int | None = None,
    npr_draws: int | None = None,
    keep_npr_from=None,
    npr_extra_variants=(),
    npr_crop_pool: int | None = None,
    npr_seed: int = 0,
    npr_fine_tune_epochs: int = 0,
    npr_fine_tune_lr: float = 5e-4,
    npr_fine_tune_boost=None,
    whole_view: bool = False,
    whole_view_mirrored: bool = False,
    channel_correlations: bool = False,
    npr_weight=None,
    consistency: float = 0.0,
    fold_draws: int = 0,
    log=print,
):
    """Fit the head on every source, calibrate and threshold it out of source, write a checkpoint.

    `arch` is the checkpoint's architecture: efficientnet_lite0 (head on the 1280-d pooled feature),
    efficientnet_lite0_multilevel (head on the 2848-d multi-level feature); the backbone stays ImageNet's.
    efficientnet_lite0_multilevel_npr adds NPR patch-model members, one per fold, trained from scratch
    (`npr_epochs`, `npr_draws` per epoch, on the original, JPEG q75 + half size and `npr_extra_variants`)
    or kept from the checkpoint `keep_npr_from` (a retrain), and mixes the two logits, calibrated and
    thresholded on out-of-source scores (detector/ml/npr.py).
    With `npr_fine_tune_epochs`, kept members other than one train further on the `source_boost`
    sources (the reviewer labels; weighted by `npr_fine_tune_boost` if given) with replay, out of source
    member by member (npr_training.fine_tuned_members).
    `npr_crop_pool`: the members score the flattest 8 of that many crops (npr.native_crops); by default
    the parent's pool when kept, else no pool. `npr_seed`: fold k's new member trains with seed npr_seed + k.
    `whole_view`: the head also reads the whole picture shrunk to one crop (multilevel archs only);
    `whole_view_mirrored`: that view's vector averaged with its left-right mirror's.
    `channel_correlations`: the crops' vector also holds the early stages' channel correlations.
    `npr_weight`: the NPR part's share of the mixed logit (0 to 1); "auto" chooses it on the
    out-of-source logits (npr_training.chosen_npr_weight); by default the kept parent's, else 0.5.
    `consistency`: how much the head pays for scoring an image and its `train_variants` copies
    differently (probe.fit_linear_head); 0 fits it on the copies as independent images.
    `fold_draws`: also score the images under that many other draws of the source folds (seeds after
    `seed`) and record the AUC of each (`fold_draws_out_of_source`): how far the out-of-source AUC moves
    with which sources happen to be held out together. Thresholds and the checkpoint do not change.
    """
    from .training import TrainingResult

    started = time.monotonic()
    result = run_out_of_source(
        data_dirs, folds=folds, max_per_source=max_per_source, seed=seed, cache_dir=cache_dir,
        train_variants=train_variants, l2=l2, input_size=input_size, max_tiles=max_tiles,
        exclude_sources=exclude_sources, source_boost=source_boost, human_art_boost=human_art_boost, arch=arch,
        whole_view=whole_view, whole_view_mirrored=whole_view_mirrored, channel_correlations=channel_correlations,
        consistency=consistency, log=log,
    )
    images = result["images"]
    labels = np.array([i.sample.label for i in images])
    weights = balanced_weights(images, source_boost, human_art_boost=human_art_boost)
    trainable = trainable_mask(images, exclude_sources)
    x = np.concatenate([result["features"][v][trainable] for v in train_variants])
    y = np.concatenate([labels[trainable]] * len(train_variants))
    w = np.concatenate([weights[trainable]] * len(train_variants))
    head = fit_linear_head(x, y, w, l2=l2, copies=len(train_variants), consistency=consistency).scaled(*result["platt"])
    model = result["extractor"].model
    state = head_state_dict(model, head)
    probe_figures = result["figures"]
    npr_args = None
    if arch == NPR_ARCH:
        state, npr_args = _with_npr_part(result, state, exclude_sources, source_boost, human_art_boost,
                                         npr_epochs, npr_draws, keep_npr_from, cache_dir, log, extra_variants=npr_extra_variants,
                                         crop_pool=npr_crop_pool, fine_tune=(npr_fine_tune_epochs, npr_fine_tune_lr, npr_fine_tune_boost),
                                         npr_weight=npr_weight, npr_seed=npr_seed)
    figures = result["figures"]
    draws = None
    if fold_draws > 0:
        draws = other_fold_draws(result, fold_draws, seed=seed, folds=folds, train_variants=train_variants, l2=l2,
                                 exclude_sources=exclude_sources, source_boost=source_boost,
                                 human_art_boost=human_art_boost, consistency=consistency, log=log)
    created = datetime.now().astimezone()
    version = f"{arch}-probe-{created:%Y-%m-%d}-{state_dict_digest(stored_state_dict(state))[:8]}"
    metrics = {
        "method": "frozen ImageNet backbone + linear head, out-of-source calibrated",
        "features": ("pooled backbone features" if arch == DEFAULT_ARCH else "2848-d multi-level (stage means/stds + final pooled)"
                     + (" of the crops, and of the whole picture shrunk to one crop" if whole_view else "")
                     + (" (averaged with its mirror image)" if whole_view_mirrored else "")
                     + ("; the crops' also hold 4832 channel correlations of the stem and stages 0-3"
                        if channel_correlations else "")),
        "out_of_source": plain_figures(figures),
        "protocol": result["protocol"],
        "threshold_info": result["threshold_info"],
        # The fields evaluate/registry code reads from every checkpoint:
        "roc_auc": figures["auc_ai_vs_all_real"],
        "accuracy": float(np.mean((probabilities_from_logits(result["logits"]["original"], *result["platt"]) >= 0.5) == labels)),
        "validation_kind": "out-of-source (group k-fold by source)",
    }
    if npr_args is not None:
        metrics["method"] = ("frozen ImageNet backbone + linear head, averaged with NPR patch models trained from scratch, "
                             "out-of-source calibrated")
        metrics["probe_part_out_of_source"] = plain_figures(probe_figures)
        metrics["npr_part"] = {k: v for k, v in npr_args.items() if k != "out_of_source_logits"}
    if draws is not None:
        metrics["fold_draws_out_of_source"] = draws
    checkpoint = DetectorCheckpoint(
        arch=arch,
        state_dict=state,
        preprocessing=result["preprocessing"].to_dict(),
        model_version=version,
        temperature=1.0,
        thresholds=result["thresholds"],
        metrics=metrics,
        data_summary=summarise([i.sample for i in images]),
        training_args={
            "method": "probe", "arch": arch, "data_dirs": [str(d) for d in data_dirs], "folds": folds,
            "max_per_source": max_per_source, "seed": seed, "train_variants": list(train_variants), "l2": l2,
            "not_trained_on": sorted(exclude_sources or ()),
            "source_boost": dict(source_boost or {}), "human_art_boost": human_art_boost, "parent_version": parent_version,
            "input_size": input_size, "max_tiles": max_tiles, **({"whole_view": True} if whole_view else {}),
            **({"whole_view_mirrored": True} if whole_view_mirrored else {}),
            **({"channel_correlations": True} if channel_correlations else {}),
            **({"consistency": consistency} if consistency else {}),
            **({"npr": npr_args} if npr_args is not None else {}),
        },
        created_at=created.isoformat(timespec="seconds"),
    )
    save_checkpoint(checkpoint, output)
    path = Path(output)
    log(f"wrote {path} in {time.monotonic() - started:.0f} s")
    return TrainingResult(checkpoint_path=str(path), metrics=metrics, epochs_run=1, model_version=version)


def _with_npr_part(result, state, exclude_sources, source_boost, human_art_boost, epochs, draws, keep_from, cache_dir, log,
                   extra_variants=(), crop_pool=None, fine_tune=(0, 5e-4, None), npr_weight=None, npr_seed=0):
    """The probe's state with NPR members and logit_mix added; `result` gets the mixed model's
    out-of-source logits, Platt scaling, thresholds and figures. Returns (state, training_args["npr"])."""
    from .architectures import model_for_state_dict
    from .checkpoint import read_checkpoint
    from . import npr_training

    images, sides = result["images"], result["sides"]
    if keep_from is not None:
        parent = read_checkpoint(keep_from)
        if parent.arch != NPR_ARCH:
            raise ProbeError(f"Cannot keep the NPR part of {keep_from}: it is a {parent.arch!r} model, not {NPR_ARCH!r}.")
        parent_model = model_for_state_dict(parent.arch, parent.state_dict)
        parent_model.load_state_dict(parent.state_dict)
        parent_npr = (parent.training_args or {}).get("npr") or {}
        tune_epochs, tune_lr, tune_boost = fine_tune
        try:
            parent_pool = npr_training.crop_pool_of(parent.training_args)
        except ValueError as exc:
            raise ProbeError(f"Cannot keep the NPR part of {keep_from}: {exc}") from exc
        if crop_pool is not None and crop_pool != parent_pool and tune_epochs > 0:
            raise ProbeError("Change the NPR crop pool of kept members first (without fine-tuning), then fine-tune them.")
        if tune_epochs > 0:
            part = npr_training.fine_tuned_members(
                parent_model, parent_npr, images, label_sources=tuple(source_boost or ()), exclude_sources=exclude_sources,
                source_boost=tune_boost if tune_boost is not None else source_boost, human_art_boost=human_art_boost, epochs=tune_epochs, lr=tune_lr,
                draws=draws or parent_npr.get("draws_per_epoch") or npr_training.DEFAULT_DRAWS, cache_dir=cache_dir, log=log)
        else:
            try:
                part = npr_training.kept_members(parent_model, parent_npr, images, cache_dir=cache_dir, pool=crop_pool, log=log)
            except ValueError as exc:
                raise ProbeError(str(exc)) from exc
    else:
        part = npr_training.train_out_of_source(
            images, result["folds"], exclude_sources=exclude_sources, source_boost=source_boost,
            human_art_boost=human_art_boost, epochs=epochs or npr_training.DEFAULT_EPOCHS,
            draws=draws or npr_training.DEFAULT_DRAWS, extra_variants=extra_variants,
            pool=crop_pool or npr_training.CROPS_PER_IMAGE, seed=npr_seed, cache_dir=cache_dir, log=log)
    labels = np.array([i.sample.label for i in images])
    judged = sides >= MIN_SIDE_JUDGED
    npr_training.calibrate(part, judged, labels, balanced_weights([images[i] for i in np.flatnonzero(judged)]))
    slope, intercept = result["platt"]
    probe_calibrated = {v: slope * l + intercept for v, l in result["logits"].items()}
    weight_choice = None
    if npr_weight == "auto":
        npr_calibrated = part.calibrated()
        weight_choice = npr_training.chosen_npr_weight(
            probe_calibrated["original"][judged], npr_calibrated["original"][judged], labels[judged],
            np.asarray(result["folds"])[judged],
            resaved=(probe_calibrated["jpeg75_half"][judged], npr_calibrated["jpeg75_half"][judged]))
        npr_weight = weight_choice["npr_weight"]
        log(f"NPR share chosen out of source: {npr_weight:g} (AUC by share: "
            + ", ".join(f"{w} {a:.3f}" for w, a in weight_choice["grid"].items())
            + "; after JPEG q75 + half size: "
            + ", ".join(f"{w} {a:.3f}" for w, a in weight_choice["grid_after_jpeg75_half"].items())
            + f"; chosen on the {weight_choice['chosen_on']}); each fold scored with the share chosen on the others:"
            f" AUC {weight_choice['nested_auc']:.3f} vs {weight_choice['default_auc']:.3f} at {npr_training.DEFAULT_NPR_WEIGHT:g},"
            f" after JPEG q75 + half size {weight_choice['nested_auc_after_jpeg75_half']:.3f}"
            f" vs {weight_choice['default_auc_after_jpeg75_half']:.3f}")
    elif npr_weight is None:
        npr_weight = (parent_npr.get("npr_weight") if keep_from is not None else None) or npr_training.DEFAULT_NPR_WEIGHT
    if not 0.0 < float(npr_weight) < 1.0:
        raise ProbeError(f"The NPR part's share of the mixed logit must be between 0 and 1, not {npr_weight!r}.")
    npr_weight = float(npr_weight)
    averaged = npr_training.mix_logits(probe_calibrated, part, (1.0, 0.0), npr_weight)
    calibration = calibrated_figures(averaged, images, sides)
    result.update(calibration, logits=npr_training.mix_logits(probe_calibrated, part, calibration["platt"], npr_weight),
                  platt=(1.0, 0.0))
    result["mix_probe"] = lambda calibrated: npr_training.mix_logits(calibrated, part, (1.0, 0.0), npr_weight)
    npr_figures = calibrated_figures(part.logits, images, sides)["figures"]
    log(f"out of source: probe AUC {probe_auc(probe_calibrated, images, sides):.3f}, NPR part "
        f"{npr_figures['auc_ai_vs_all_real']:.3f}, mixed {calibration['figures']['auc_ai_vs_all_real']:.3f}")
    state = {k: v for k, v in state.items() if not k.startswith("npr.")}
    state.update(npr_training.members_state(part.members))
    state["logit_mix"] = npr_training.logit_mix(part, calibration["platt"], npr_weight)
    difference, low, high = paired_auc_difference(labels[judged], probe_calibrated["original"][judged],
                                                  result["logits"]["original"][judged])
    log(f"out of source: mixed minus probe AUC {difference:+.3f} (95% bootstrap interval over images {low:+.3f} to {high:+.3f})")
    args = dict({k: v for k, v in part.info.items() if k != "npr_weight_choice"}, platt=list(part.platt), mix_platt=list(calibration["platt"]), npr_weight=npr_weight,
                **({"npr_weight_choice": weight_choice} if weight_choice else {}),
                auc_gain_over_probe={"difference": difference, "interval": [low, high], "resamples": 1000},
                npr_part_out_of_source_auc=npr_figures["auc_ai_vs_all_real"],
                npr_part_auc_after_jpeg75_half=npr_figures["auc_after_jpeg75_half"])
    return state, args


def other_fold_draws(result, draws: int, *, seed: int, folds: int, train_variants, l2, exclude_sources=(),
                     source_boost=None, human_art_boost: float = 1.0, consistency: float = 0.0, log=print) -> dict:
    """The out-of-source AUC (as the files are and after JPEG q75 + half size) of the same recipe under
    `draws` other draws of the source folds, beside the run's own. Each draw fits the head afresh on
    the cached features, Platt-scales it out of source and, for an NPR model, mixes in the NPR part's
    out-of-source logits (`result["mix_probe"]`; its members never saw the source of the images they score)."""
    images, sides = result["images"], result["sides"]
    k = min(folds, len({i.sample.source for i in images}))
    mix = result.get("mix_probe")
    rows = [{"seed": seed, "auc": float(result["figures"]["auc_ai_vs_all_real"]),
             "auc_after_jpeg75_half": float(result["figures"]["auc_after_jpeg75_half"])}]
    for draw_seed in range(seed + 1, seed + 1 + draws):
        logits = out_of_source_logits(result["features"], images, source_folds(images, k, draw_seed),
                                      train_variants=train_variants, l2=l2, exclude_sources=exclude_sources,
                                      source_boost=source_boost, human_art_boost=human_art_boost, consistency=consistency)
        slope, intercept = out_of_source_platt(logits, images, sides)
        scored = {v: slope * l + intercept for v, l in logits.items()}
        if mix is not None:
            scored = mix(scored)
        rows.append({"seed": draw_seed, "auc": probe_auc(scored, images, sides),
                     "auc_after_jpeg75_half": probe_auc(scored, images, sides, variant="jpeg75_half")})
    aucs = [r["auc"] for r in rows]
    summary = {"draws": rows, "auc_min": min(aucs), "auc_max": max(aucs), "auc_mean": float(np.mean(aucs))}
    log(f"out of source over {len(rows)} draws of the source folds: AUC {summary['auc_min']:.3f} to {summary['auc_max']:.3f}"
        f" (mean {summary['auc_mean']:.3f}; this run's folds {aucs[0]:.3f})")
    return summary


def probe_auc(logits: dict, images, sides, variant: str = "original") -> float:
    """AUC, AI against all real, of one variant's logits on the judged (>= 64 px) images."""
    judged = sides >= MIN_SIDE_JUDGED
    labels = np.array([i.sample.label for i in images])
    return roc_auc(labels[judged], logits[variant][judged])


def score_folder_as_the_app(detector, data_dirs, *, batch_size: int = 8, variants=("original", "jpeg75_half"), log=print) -> dict:
    """Score labelled folders with a loaded Detector exactly as the app does (its thresholds, the
    64-px rule) on the original files and after JPEG q75 + half size; the figures users would meet."""
    from .datasets import load_image
    from .probe import variant_image

    images, sides = load_images(data_dirs, log=log)
    judged = sides >= MIN_SIDE_JUDGED
    kept = [images[i] for i in np.flatnonzero(judged)]
    scores = {}
    for variant in variants:
        values = []
        for start in range(0, len(kept), batch_size):
            batch = []
            for item in kept[start : start + batch_size]:
                image, _ = load_image(item.sample.path)
                batch.append(variant_image(image, variant, 0))
            values.extend(s.p_ai for s in detector.score_batch(batch))
            if (start // batch_size) % 50 == 0:
                log(f"  scored {variant}: {start + len(batch)}/{len(kept)}")
        scores[variant] = np.array(values)
    thresholds = {"likely_ai": detector.thresholds["likely_ai"], "likely_human": detector.thresholds["likely_human"]}
    figures = operating_figures(scores["original"], kept, thresholds)
    if "jpeg75_half" in scores:
        degraded = operating_figures(scores["jpeg75_half"], kept, thresholds)
        figures["auc_after_jpeg75_half"] = degraded["auc_ai_vs_all_real"]
        figures["degraded"] = {k: degraded[k] for k in ("auc_ai_vs_all_real", "photos_likely_ai", "art_likely_ai", "ai_caught_likely_ai", "ai_likely_human")}
    figures["not_judged_under_64px"] = int((~judged).sum())
    return {"figures": plain_figures(figures), "images": kept, "scores": scores}
