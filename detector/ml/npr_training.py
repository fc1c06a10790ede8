"""Training the NPR part of efficientnet_lite0_multilevel_npr by the out-of-source protocol.

The probe's folds (sources split into k groups) are reused: for each fold an NPRNet is trained on
the other folds' sources and scores the fold's images, so every NPR logit used for calibration
and thresholds comes from a network that never saw that image's source. The k fold networks are
the shipped members (detector/ml/npr.py).

A retrain starts from a parent's members (`keep_from`): training them again from scratch costs
tens of minutes on a CPU. Kept as they are, their out-of-source logits on the images they were
trained with are stored in the parent checkpoint (training_args["npr"]["out_of_source_logits"], by
sha256) and any other image (reviewer labels) is scored by the members, which never saw it.

Fine-tuned on the reviewer labels (`fine_tuned_members`), the protocol still holds, member by
member: each member knows the sources it never trained on (training_args["npr"]
["member_held_out_sources"]). One member holds the reviewer labels out and is not tuned; every other
member trains further on the labels plus a replay of the base sources it had already trained on,
and scores only the sources it held out. So every logit that calibrates the model and chooses its
thresholds, the reviewer labels' included, still comes from a network that never saw that source.
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .datasets import load_image
from .npr import CROP_SIZE, CROPS_PER_IMAGE, DEFAULT_DRAWS, DEFAULT_EPOCHS, crop_pool_of, fine_tune_npr, members_logits, native_crops, train_npr  # noqa: F401  (DEFAULT_* used by out_of_source)
from .probe import balanced_weights, fit_platt, trainable_mask, variant_image

NPR_VARIANTS = ("original", "jpeg75_half")  # what the members train on and what the reports need
CROP_CACHE_TAG = f"npr-crops-{CROP_SIZE}x{CROPS_PER_IMAGE}"
PROVENANCE_IMAGES_PER_SOURCE = 8  # images per source that tell which member scored it


def crop_cache_tag(pool: int = CROPS_PER_IMAGE) -> str:
    """The crop cache's folder name for a crop pool (the flattest CROPS_PER_IMAGE of `pool`)."""
    return CROP_CACHE_TAG if pool == CROPS_PER_IMAGE else f"{CROP_CACHE_TAG}-flattest-of-{pool}"


@dataclass
class NPRPart:
    """The NPR members and their out-of-source logits (per variant), with their Platt scaling."""

    members: list
    logits: dict  # variant -> (n,) out-of-source logits
    platt: tuple = (1.0, 0.0)
    info: dict = field(default_factory=dict)

    def calibrated(self) -> dict:
        slope, intercept = self.platt
        return {v: slope * l + intercept for v, l in self.logits.items()}


def image_crops(images, *, cache_dir=None, variants=NPR_VARIANTS, pool: int = CROPS_PER_IMAGE, log=print) -> tuple[np.ndarray, list[str]]:
    """(n, variants, crops, s, s, 3) uint8 native crops of every image and variant, and each file's sha256.

    With `pool`, the flattest CROPS_PER_IMAGE of `pool` crops (native_crops). Cached per file content
    under cache_dir/crop_cache_tag(pool)/<variant>/<sha256>.npy.
    """
    out, digests = [], []
    started = time.monotonic()
    for index, item in enumerate(images):
        data = Path(item.sample.path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        digests.append(digest)
        per_variant, image = [], None
        for variant in variants:
            cache = Path(cache_dir) / crop_cache_tag(pool) / variant / f"{digest}.npy" if cache_dir else None
            if cache is not None and cache.is_file():
                per_variant.append(np.load(cache))
                continue
            if image is None:
                image, _lossless = load_image(io.BytesIO(data))
            crops = native_crops(variant_image(image, variant, int(digest[:8], 16)), pool=pool)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.save(cache, crops)
            per_variant.append(crops)
        out.append(np.stack(per_variant))
        if (index + 1) % 500 == 0:
            log(f"  NPR crops: {index + 1}/{len(images)}")
    log(f"NPR crops: {len(images)} images in {time.monotonic() - started:.0f} s")
    return np.stack(out), digests


def train_out_of_source(images, folds, *, exclude_sources=(), source_boost=None, human_art_boost: float = 1.0,
                        epochs: int = DEFAULT_EPOCHS, draws: int = DEFAULT_DRAWS, extra_variants=(), pool: int = CROPS_PER_IMAGE,
                        seed: int = 0, cache_dir=None, log=print) -> NPRPart:
    """One NPRNet per fold, trained on the other folds' sources; each image scored by the one that never saw its source.

    The members train on NPR_VARIANTS plus `extra_variants` (e.g. "wild", a random re-save and downscale),
    drawn uniformly; they are scored on NPR_VARIANTS only. Fold k's member trains with seed `seed` + k.
    """
    extra = tuple(v for v in extra_variants if v not in NPR_VARIANTS)
    crops, digests = image_crops(images, cache_dir=cache_dir, variants=NPR_VARIANTS + extra, pool=pool, log=log)
    labels = np.array([i.sample.label for i in images])
    weights = balanced_weights(images, source_boost, human_art_boost=human_art_boost)
    trainable = trainable_mask(images, exclude_sources)
    folds = np.asarray(folds)
    logits = np.zeros((len(images), len(NPR_VARIANTS)))
    members, held_out = [], []
    started = time.monotonic()
    for fold in sorted(set(folds.tolist())):
        held_out.append(sorted({images[i].sample.source for i in np.flatnonzero(folds == fold)}))
        train = np.flatnonzero((folds != fold) & trainable)
        log(f"  NPR fold {fold}: training on {len(train)} images")
        net = train_npr(crops[train], labels[train], weights[train], epochs=epochs, draws=draws, seed=seed + fold, log=log)
        scored = folds == fold
        logits[scored] = members_logits([net], crops[scored, :len(NPR_VARIANTS)])
        members.append(net)
        log(f"  NPR fold {fold} done at {time.monotonic() - started:.0f} s")
    part = NPRPart(members, {v: logits[:, k] for k, v in enumerate(NPR_VARIANTS)})
    part.info = {"members": len(members), **({"seed": seed} if seed else {}), "epochs": epochs, "draws_per_epoch": draws, "crop": CROP_SIZE,
                 "crops_per_image": CROPS_PER_IMAGE, "crop_pool": pool, "trained_on_variants": list(NPR_VARIANTS + extra),
                 "member_held_out_sources": held_out,
                 "out_of_source_logits": {d: [float(logits[i, 0]), float(logits[i, 1])] for i, d in enumerate(digests)}}
    return part


def kept_members(parent_model, parent_npr_args: dict, images, *, cache_dir=None, crops_and_digests=None, pool: int | None = None,
                 log=print) -> NPRPart:
    """A parent's members, with their stored out-of-source logits where it has them and their scores elsewhere.

    With a `pool` other than the parent's, no stored logit fits the new crops: every image is scored
    again by the member that never trained on its source (read off the parent's stored logits).
    """
    parent_pool = crop_pool_of({"npr": parent_npr_args})
    pool = parent_pool if pool is None else pool
    if pool != parent_pool:
        return _kept_with_new_pool(parent_model, parent_npr_args, images, pool, parent_pool, cache_dir=cache_dir, log=log)
    crops, digests = crops_and_digests or image_crops(images, cache_dir=cache_dir, pool=pool, log=log)
    members = list(parent_model.npr)
    stored = parent_npr_args.get("out_of_source_logits") or {}
    missing = np.array([d not in stored for d in digests], dtype=bool)
    logits = np.array([stored.get(d, [0.0] * len(NPR_VARIANTS)) for d in digests], dtype=np.float64).reshape(len(digests), -1)
    if missing.any():
        held = parent_npr_args.get("member_held_out_sources")
        if held is not None and len(held) == len(members):  # fine-tuned members: only the one that never trained on a source scores it
            logits[missing] = provenance_logits(members, [set(h) for h in held], [images[i] for i in np.flatnonzero(missing)],
                                                crops[missing])
        else:
            logits[missing] = members_logits(members, crops[missing])  # (missing, variants)
    from_table = int((~missing).sum())
    log(f"NPR part kept from the parent: {from_table} images' out-of-source logits stored, {len(digests) - from_table} scored by its members")
    part = NPRPart(members, {v: logits[:, k] for k, v in enumerate(NPR_VARIANTS)})
    info = {k: v for k, v in parent_npr_args.items() if k != "out_of_source_logits"}
    # The kept members never saw the new images: their scores are out of sample and are stored for the next retrain.
    info.update(kept_from_parent=True, stored_logits_used=from_table, scored_by_members=len(digests) - from_table,
                out_of_source_logits={**stored, **{d: [float(logits[i, 0]), float(logits[i, 1])] for i, d in enumerate(digests)}})
    part.info = info
    return part


def _kept_with_new_pool(parent_model, parent_npr_args: dict, images, pool: int, parent_pool: int, *, cache_dir=None,
                        log=print) -> NPRPart:
    members = list(parent_model.npr)
    parent_crops, digests = image_crops(images, cache_dir=cache_dir, pool=parent_pool, log=log)
    held = held_out_by_member(members, parent_npr_args, images, parent_crops, digests, log=log)
    if held is None:
        raise ValueError("Cannot change the NPR crop pool of these members: which sources each one never trained on "
                         "is neither stored nor readable off its stored logits, so no score would be out of source.")
    del parent_crops
    crops, _ = image_crops(images, cache_dir=cache_dir, pool=pool, log=log)
    logits = provenance_logits(members, held, images, crops)
    log(f"NPR part kept from the parent, crops re-cut (the flattest {CROPS_PER_IMAGE} of {pool}): "
        f"{len(digests)} images scored by the member that never trained on their source")
    part = NPRPart(members, {v: logits[:, k] for k, v in enumerate(NPR_VARIANTS)})
    info = {k: v for k, v in parent_npr_args.items() if k not in ("out_of_source_logits", "stored_logits_used", "scored_by_members")}
    info.update(kept_from_parent=True, crop_pool=pool, member_held_out_sources=[sorted(h) for h in held],
                out_of_source_logits={d: [float(logits[i, 0]), float(logits[i, 1])] for i, d in enumerate(digests)})
    part.info = info
    return part


def held_out_by_member(members, parent_npr_args: dict, images, crops, digests, *, log=print) -> list[set] | None:
    """The sources each member never trained on: stored by the training that made them, or else read
    off the stored out-of-source logits (the member whose own logit of an image equals the stored one
    scored it, so held its source out). None when neither can tell, source by source."""
    stored = parent_npr_args.get("member_held_out_sources")
    if stored is not None:
        return [set(sources) for sources in stored] if len(stored) == len(members) else None
    table = parent_npr_args.get("out_of_source_logits") or {}
    by_source: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        if d in table and len(by_source.setdefault(images[i].sample.source, [])) < PROVENANCE_IMAGES_PER_SOURCE:
            by_source[images[i].sample.source].append(i)
    if not by_source:
        return None
    sample = [i for ids in by_source.values() for i in ids]
    own = np.stack([members_logits([net], crops[sample][:, 0]) for net in members], axis=1)  # (sample, members)
    distance = np.abs(own - np.array([table[digests[i]][0] for i in sample])[:, None])
    held = [set() for _ in members]
    row = 0
    for source, ids in by_source.items():
        # Stored weights are fp16, so the scorer's own logit is off by up to about 0.01; another member's, by far more.
        mean = distance[row:row + len(ids)].mean(axis=0)
        row += len(ids)
        first, second = np.sort(mean)[:2] if len(members) > 1 else (mean[0], np.inf)
        if first > 0.02 or second < 5 * first:
            return None
        held[int(mean.argmin())].add(source)
    log(f"NPR members' held-out sources read off their stored logits: {[len(h) for h in held]} sources per member")
    return held


def provenance_logits(members, held: list[set], images, crops) -> np.ndarray:
    """(images, variants) logits (crops.shape without its last four axes): each image scored by the
    members that held its source out (their mean, where several seeds share a fold), or by every
    member where none trained on it."""
    sources = np.array([i.sample.source for i in images])
    total = np.zeros(crops.shape[:-4])
    scorers = np.zeros(len(images))
    for k, net in enumerate(members):
        mine = np.isin(sources, sorted(held[k]))
        if mine.any():
            total[mine] += members_logits([net], crops[mine])
        scorers += mine
    logits = total / np.maximum(scorers, 1).reshape(-1, *([1] * (total.ndim - 1)))
    if (scorers == 0).any():
        logits[scorers == 0] = members_logits(members, crops[scorers == 0])
    return logits


def fine_tuned_members(parent_model, parent_npr_args: dict, images, *, label_sources, exclude_sources=(), source_boost=None,
                       human_art_boost: float = 1.0, epochs: int, lr: float, draws: int = DEFAULT_DRAWS, cache_dir=None,
                       log=print) -> NPRPart:
    """The parent's members trained further on the reviewer labels (sources `label_sources`), out of source member by member.

    One member (the one that held the labels out before, or else the one holding out the fewest
    images) never sees the labels and scores them; each other member trains `epochs` more epochs at
    `lr` on the labels plus the base sources it had trained on, and scores the sources it held out.
    Falls back to the kept members, untouched, when no labels are present or the members' held-out
    sources are unknown.
    """
    crops, digests = image_crops(images, cache_dir=cache_dir, pool=crop_pool_of({"npr": parent_npr_args}), log=log)
    members = list(parent_model.npr)
    present = {i.sample.source for i in images}
    labels_here = present & set(label_sources)
    held = held_out_by_member(members, parent_npr_args, images, crops, digests, log=log) if labels_here and epochs > 0 else None
    if held is None:
        why = ("no reviewer labels" if not labels_here else "fine-tuning is off" if epochs <= 0
               else "the parent's members do not say which sources each held out")
        log(f"NPR members kept unchanged: {why}")
        return kept_members(parent_model, parent_npr_args, images, crops_and_digests=(crops, digests), log=log)
    sources = np.array([i.sample.source for i in images])
    already = [k for k, h in enumerate(held) if h & labels_here]
    keeper = already[0] if already else min(range(len(members)), key=lambda k: (int(np.isin(sources, sorted(held[k])).sum()), k))
    held = [set(h) - labels_here for h in held]
    held[keeper] |= labels_here
    known = set().union(*held)
    labels = np.array([i.sample.label for i in images])
    weights = balanced_weights(images, source_boost, human_art_boost=human_art_boost)
    trainable = trainable_mask(images, exclude_sources)
    started = time.monotonic()
    tuned, trained_on = [], {}
    for k, net in enumerate(members):
        if k == keeper:
            tuned.append(net)
            continue
        mine = trainable & np.isin(sources, sorted(known - held[k]))
        if len(set(labels[mine].tolist())) < 2:
            tuned.append(net)
            continue
        tuned.append(fine_tune_npr(net, crops[mine], labels[mine], weights[mine], epochs=epochs, lr=lr, draws=draws, seed=k + 1))
        trained_on[str(k)] = int(mine.sum())
        log(f"  NPR member {k} fine-tuned on {int(mine.sum())} images ({time.monotonic() - started:.0f} s)")
    logits = provenance_logits(tuned, held, images, crops)
    part = NPRPart(tuned, {v: logits[:, k] for k, v in enumerate(NPR_VARIANTS)})
    info = {k: v for k, v in parent_npr_args.items() if k not in ("out_of_source_logits", "kept_from_parent", "stored_logits_used", "scored_by_members")}
    info.update(member_held_out_sources=[sorted(h) for h in held], labels_held_out_by=keeper,
                fine_tuned={"epochs": epochs, "lr": lr, "draws_per_epoch": draws, "images_per_member": trained_on,
                            "label_sources": sorted(labels_here),
                            "label_weight": {k: float(v) for k, v in (source_boost or {}).items() if k in labels_here}},
                out_of_source_logits={d: [float(logits[i, 0]), float(logits[i, 1])] for i, d in enumerate(digests)})
    part.info = info
    return part


# The NPR part's share of the mixed logit unless a run chooses another (train_probe_detector's npr_weight).
DEFAULT_NPR_WEIGHT = 0.5
# The shares `npr_weight="auto"` chooses among.
NPR_WEIGHT_GRID = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def mix_logits(probe_calibrated: dict, part: NPRPart, final_platt: tuple, npr_weight: float = DEFAULT_NPR_WEIGHT) -> dict:
    """The detector's logit per variant: the Platt scaling of the weighted mean of the two calibrated
    logits (the NPR part's share `npr_weight`)."""
    slope, intercept = final_platt
    npr = part.calibrated()
    return {v: slope * ((1 - npr_weight) * probe_calibrated[v] + npr_weight * npr[v]) + intercept
            for v in probe_calibrated if v in npr}


def logit_mix(part: NPRPart, final_platt: tuple, npr_weight: float = DEFAULT_NPR_WEIGHT) -> torch.Tensor:
    """MultiLevelNPR.logit_mix for a probe head that already outputs its calibrated logit."""
    slope, intercept = final_platt
    a, b = part.platt
    return torch.tensor([slope * (1 - npr_weight), slope * npr_weight * a, slope * npr_weight * b + intercept],
                        dtype=torch.float32)


def chosen_npr_weight(probe_calibrated: np.ndarray, npr_calibrated: np.ndarray, labels, folds, grid=NPR_WEIGHT_GRID,
                      resaved: tuple | None = None) -> dict:
    """The NPR share with the highest AUC over all images (out-of-source logits of the judged
    originals), and an honest estimate of what choosing it is worth: each source fold scored with
    the share chosen on the other folds only (the `nested` AUC, to compare with the fixed default's).

    `resaved`: the two parts' logits of the JPEG q75 + half size copies. When given, the share is
    chosen on the mean of the clean and the re-saved AUC (a submitted image has usually been
    re-saved, and the two parts lose different amounts to it), and both are reported, nested too.
    """
    from .metrics import roc_auc

    labels, folds = np.asarray(labels), np.asarray(folds)
    copies = [(probe_calibrated, npr_calibrated)] + ([tuple(resaved)] if resaved is not None else [])

    def mixed(copy, w, mask):
        p, n = copy
        return (1 - w) * p[mask] + w * n[mask]

    def auc_by_share(mask):
        return np.array([[roc_auc(labels[mask], mixed(c, w, mask)) for w in grid] for c in copies])

    def best(mask):
        table = auc_by_share(mask)
        return grid[int(np.nanargmax(table.mean(axis=0)))], table

    everything = np.ones(len(labels), bool)
    weight, table = best(everything)
    nested = [np.empty(len(labels)) for _ in copies]
    per_fold = {}
    for fold in np.unique(folds):
        inside = folds == fold
        w, _ = best(~inside)
        per_fold[int(fold)] = w
        for out, copy in zip(nested, copies):
            out[inside] = mixed(copy, w, inside)
    fixed = [roc_auc(labels, mixed(c, DEFAULT_NPR_WEIGHT, everything)) for c in copies]
    choice = {"npr_weight": float(weight), "chosen_on": "AUC" if resaved is None else "mean of the clean and the re-saved AUC",
              "grid": {f"{w:g}": float(a) for w, a in zip(grid, table[0])},
              "chosen_per_fold_on_the_others": per_fold, "nested_auc": roc_auc(labels, nested[0]),
              "default_auc": fixed[0]}
    if resaved is not None:
        choice.update(grid_after_jpeg75_half={f"{w:g}": float(a) for w, a in zip(grid, table[1])},
                      nested_auc_after_jpeg75_half=roc_auc(labels, nested[1]), default_auc_after_jpeg75_half=fixed[1])
    return choice


def calibrate(part: NPRPart, judged, labels, judged_weights) -> None:
    """Fit the NPR part's Platt scaling on its judged out-of-source logits of the original files."""
    part.platt = fit_platt(part.logits["original"][judged], np.asarray(labels)[judged], judged_weights)


def members_state(members) -> dict:
    """State dict entries npr.<k>.<name> of the members."""
    state = {}
    for k, net in enumerate(members):
        for name, tensor in net.state_dict().items():
            state[f"npr.{k}.{name}"] = tensor.detach().clone()
    return state

