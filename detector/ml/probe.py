"""A detector head on a frozen ImageNet backbone, chosen and calibrated by out-of-source scores.

Fine-tuning the whole network on a few sources taught it those sources (validation AUC 0.987,
0.60 on sources it never saw). Here the backbone stays as ImageNet trained it; only a linear
head is fitted on its pooled features, so the model has far fewer ways to memorise a source.
Every figure used to choose a threshold comes from the out-of-source protocol: the sources are
split into k groups and each group is scored by a head that never saw any of its images.

The shipped model is an ordinary checkpoint (timm efficientnet_lite0 with a one-logit linear
classifier), so the app scores it exactly as it scores a fine-tuned one: the crops' logits are
averaged, which for a linear head equals the head applied to the crops' mean feature.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .architectures import create_model, pre_logits
from .multilevel import CORRELATION_CACHE_SUFFIX, NUM_FEATURES
from .datasets import Sample, load_image
from .metrics import roc_auc, sigmoid, wilson_interval
from .preprocessing import Preprocessing, extract_tiles, to_tensor, whole_view_image

# Cache folder of the whole views' vectors: var/feature-cache/<the crops' tag><this>/<variant>/.
WHOLE_VIEW_CACHE_SUFFIX = "-whole224"
# ... and of the mirrored whole views (Preprocessing.whole_view_mirrored).
MIRRORED_WHOLE_VIEW_CACHE_SUFFIX = "-wholeflip224"

# What a submitted image has often been through: a re-save and a downscale. jpeg75_small: shrunk to
# a thumbnail-sized picture (short side 112-224 px, so the crops are upscaled) and re-saved, as a
# small image is after a messenger halves it.
VARIANTS = ("original", "jpeg75_half", "wild", "jpeg75_small")
SMALL_SHORT_SIDES = (112, 224)
ART_KINDS = {
    "painting", "game art", "digital art", "manga", "drawing", "illustration", "wallpaper",
    "3d render", "clip art", "art",
}
# Kinds of the images of ../shared/data/train and var/art-corpus, whose manifests have no kind column.
KNOWN_SOURCE_KINDS = {
    "cifake": "thumbnail photo", "hardfaces": "portrait photo", "clothing": "phone photo",
    "kodak": "film scan", "pd_vectors": "illustration", "wesnoth-1.16-data": "painting",
    "plasma-workspace-wallpapers": "wallpaper", "gnome-backgrounds": "digital art",
    "mate-backgrounds": "wallpaper", "desktop-base": "digital art",
}


class ProbeError(ValueError):
    """The data cannot support a probe (a class missing, too few sources for k folds...)."""


@dataclass(frozen=True)
class LabelledImage:
    """A sample with what the out-of-source reports group by."""

    sample: Sample
    kind: str  # for real images: photo, painting, ...; "ai" for AI images
    family: str  # for AI images: the generator family; "" for real

    @property
    def is_art(self) -> bool:
        return self.sample.label == 0 and self.kind in ART_KINDS


def describe(samples, manifest_rows: dict) -> list[LabelledImage]:
    """Attach kind and family to samples from their manifest rows (keyed by resolved path)."""
    described = []
    for sample in samples:
        row = manifest_rows.get(str(Path(sample.path).resolve()), {})
        if sample.label == 1:
            kind, family = "ai", row.get("family") or sample.generator or sample.source
        else:
            kind = row.get("kind") or KNOWN_SOURCE_KINDS.get(sample.source, "photo")
            family = ""
        described.append(LabelledImage(sample, kind, family))
    return described


def variant_image(image: Image.Image, variant: str, seed: int) -> Image.Image:
    """The image as the variant describes it (deterministic for a given seed)."""
    if variant == "original":
        return image
    if variant == "jpeg75_half":
        return _jpeg(_scaled(image, 0.5), 75)
    if variant == "wild":
        rng = random.Random(seed)
        return _jpeg(_scaled(image, rng.uniform(0.4, 1.0)), rng.randint(50, 95))
    if variant == "jpeg75_small":
        short = random.Random(seed).randint(*SMALL_SHORT_SIDES)
        return _jpeg(_scaled(image, min(1.0, short / max(1, min(image.size)))), 75)
    raise ProbeError(f"Unknown image variant {variant!r}; known: {', '.join(VARIANTS)}.")


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    width, height = image.size
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return image.resize(size, Image.Resampling.BICUBIC) if size != image.size else image


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        decoded.load()
        return decoded.copy()


def cache_tag(arch: str) -> str:
    """Feature cache folder of an architecture's ImageNet features (features differ per arch)."""
    from .multilevel import FEATURE_CACHE_TAG, MULTILEVEL_ARCH
    from .npr import NPR_ARCH

    # The multilevel vectors were first cached by var/exp/multilevel.py under this name; the NPR
    # detector's probe part reads the same features.
    return FEATURE_CACHE_TAG if arch in (MULTILEVEL_ARCH, NPR_ARCH) else f"{arch}-imagenet"


class FeatureExtractor:
    """Pooled backbone features of an image's crops, averaged (the input of a linear head)."""

    def __init__(self, model: torch.nn.Module, preprocessing: Preprocessing, *, cache_dir=None, tag: str = ""):
        self.model = model.eval()
        self.preprocessing = preprocessing
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.tag = tag
        self._last_crops = None  # (image, vector): both parts of a crops vector come from one forward pass

    @classmethod
    def imagenet(cls, preprocessing: Preprocessing, *, arch: str = "efficientnet_lite0", cache_dir=None,
                 channel_correlations: bool = False):
        """The extractor of `arch` with ImageNet weights (efficientnet_lite0: 1280-d pooled features;
        efficientnet_lite0_multilevel: 2848-d multi-level features, and 4832 channel correlations
        with `channel_correlations`), cached under cache_tag(arch)."""
        model = create_model(arch, pretrained=True, whole_view=preprocessing.whole_view,
                             channel_correlations=channel_correlations)
        return cls(model, preprocessing, cache_dir=cache_dir, tag=cache_tag(arch))

    def features_of_image(self, image: Image.Image) -> np.ndarray:
        """The crops' mean vector, followed by the whole view's vector when preprocessing.whole_view."""
        return self._joined({suffix: part(image) for suffix, part in self._parts()})

    def _parts(self):
        """(cache folder suffix, image -> vector) of each part of the feature vector, in order."""
        if getattr(self.model, "channel_correlations", False):
            # Two parts from one forward pass, cached apart so that models without them share the first.
            parts = [("", lambda image: self._crops_vector(image)[:NUM_FEATURES]),
                     (CORRELATION_CACHE_SUFFIX, lambda image: self._crops_vector(image)[NUM_FEATURES:])]
        else:
            parts = [("", self._crops_vector)]
        if self.preprocessing.whole_view:
            parts.append((WHOLE_VIEW_CACHE_SUFFIX, self._whole_vector))
        if self.preprocessing.whole_view_mirrored:
            parts.append((MIRRORED_WHOLE_VIEW_CACHE_SUFFIX, self._mirrored_whole_vector))
        return parts

    def _joined(self, vectors: dict) -> np.ndarray:
        """The feature vector from its parts' vectors (the mirrored whole view averaged into the whole view's)."""
        if MIRRORED_WHOLE_VIEW_CACHE_SUFFIX in vectors:
            whole = 0.5 * (vectors[WHOLE_VIEW_CACHE_SUFFIX] + vectors[MIRRORED_WHOLE_VIEW_CACHE_SUFFIX])
            return np.concatenate([vectors[""], whole.astype(np.float32)])
        return np.concatenate([vectors[suffix] for suffix, _part in self._parts()])

    def _crops_vector(self, image: Image.Image) -> np.ndarray:
        if self._last_crops is not None and self._last_crops[0] is image:
            return self._last_crops[1]
        tiles = to_tensor(extract_tiles(image, self.preprocessing).images, self.preprocessing)
        with torch.inference_mode():
            pooled = pre_logits(self.model, tiles)  # what the model's classifier sees, per crop
        vector = pooled.float().mean(0).numpy()
        self._last_crops = (image, vector)
        return vector

    def _whole_vector(self, image: Image.Image, mirrored: bool = False) -> np.ndarray:
        view = whole_view_image(image, self.preprocessing)
        if mirrored:
            view = ImageOps.mirror(view)
        tensor = to_tensor([view], self.preprocessing)
        with torch.inference_mode():
            own = getattr(self.model, "whole_view_features", None)  # the whole view has no channel correlations
            vector = own(tensor) if callable(own) else pre_logits(self.model, tensor)
            return vector.float()[0].numpy()

    def _mirrored_whole_vector(self, image: Image.Image) -> np.ndarray:
        return self._whole_vector(image, mirrored=True)

    def features(self, paths, variant: str = "original", *, log=None) -> np.ndarray:
        """(n, d) features of the files, one row per path; cached per file content and variant."""
        rows = []
        for index, path in enumerate(paths):
            rows.append(self._cached(path, variant))
            if log and (index + 1) % 250 == 0:
                log(f"  features ({variant}): {index + 1}/{len(paths)}")
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def _cached(self, path, variant: str) -> np.ndarray:
        """Each part of the vector from its own cache folder (so the crops' vectors are shared with
        models without a whole view), computed for the parts not cached yet."""
        data = Path(path).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        vectors, missing = {}, []
        for suffix, part in self._parts():
            cache = self.cache_dir / f"{self.tag}{suffix}" / variant / f"{digest}.npy" if self.cache_dir is not None else None
            if cache is not None and cache.is_file():
                vectors[suffix] = np.load(cache)
            else:
                missing.append((suffix, part, cache))
        if missing:
            image, _lossless = load_image(io.BytesIO(data))
            varied = variant_image(image, variant, int(digest[:8], 16))
            for suffix, part, cache in missing:
                vectors[suffix] = part(varied).astype(np.float32)
                if cache is not None:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    np.save(cache, vectors[suffix])
        return self._joined(vectors)


@dataclass
class LinearHead:
    """logit = weight . feature + bias (on raw, unstandardised features)."""

    weight: np.ndarray
    bias: float

    def logits(self, features) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.weight.astype(np.float64) + self.bias

    def scaled(self, slope: float, intercept: float) -> "LinearHead":
        """The head followed by logit -> slope * logit + intercept (Platt calibration folded in)."""
        return LinearHead(self.weight * slope, self.bias * slope + intercept)


def fit_linear_head(features, labels, weights=None, *, l2: float = 1e-2, max_iter: int = 300,
                    copies: int = 1, consistency: float = 0.0) -> LinearHead:
    """Weighted, L2-regularised logistic regression (classes balanced), returned on raw features.

    `copies`: the rows are that many stacked copies of the same images (the original first, then
    e.g. its JPEG q75 + half size copy, in the same order). With `consistency` > 0, the loss also
    pays that much per unit of the weighted mean squared difference between an image's logit and
    each of its copies' logits, so the head leans on what a re-save keeps.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if len(set(y.tolist())) < 2:
        raise ProbeError("A head needs both real and AI images.")
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w.copy()
    for label in (0.0, 1.0):  # each class carries half of the total weight
        w[y == label] *= 0.5 / w[y == label].sum()
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = torch.as_tensor((x - mean) / std)
    yt, wt = torch.as_tensor(y), torch.as_tensor(w)
    coef = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    intercept = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    pairs = None
    if consistency > 0 and copies > 1:
        if len(y) % copies:
            raise ProbeError(f"{len(y)} rows cannot be {copies} copies of the same images.")
        n = len(y) // copies
        # Differences between each copy and the original, weighted by the image's share of the original's weight.
        pairs = (xs[n:] - xs[:n].repeat(copies - 1, 1), torch.as_tensor(np.tile(w[:n] / w[:n].sum(), copies - 1) / (copies - 1)))
    optimizer = torch.optim.LBFGS([coef, intercept], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = xs @ coef + intercept
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(logits, yt, reduction="none")).sum()
        loss = loss + 0.5 * l2 * (coef * coef).sum()
        if pairs is not None:
            differences, pair_weights = pairs
            loss = loss + consistency * (pair_weights * (differences @ coef) ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    weight = coef.detach().numpy() / std
    bias = float(intercept.detach().numpy()[0] - (mean / std) @ coef.detach().numpy())
    return LinearHead(weight.astype(np.float64), bias)


def fit_platt(logits, labels, weights=None) -> tuple[float, float]:
    """slope, intercept so that sigmoid(slope * logit + intercept) is calibrated (classes balanced)."""
    head = fit_linear_head(np.asarray(logits, dtype=np.float64).reshape(-1, 1), labels, weights, l2=1e-6)
    return float(head.weight[0]), float(head.bias)


def source_folds(images, k: int, seed: int = 0) -> list[int]:
    """Fold number per image: every source in exactly one fold, folds balanced per class.

    A source is a dataset of origin (its folder); both classes of a mixed source go together, so
    no fold model ever saw a single image of the source it scores.
    """
    sources = defaultdict(lambda: [0, 0])
    for item in images:
        sources[item.sample.source][item.sample.label] += 1
    if len(sources) < k:
        raise ProbeError(f"{len(sources)} sources cannot fill {k} out-of-source folds; use k <= {len(sources)}.")
    rng = random.Random(seed)
    order = sorted(sources, key=lambda s: (-sum(sources[s]), s))
    rng.shuffle(order)
    order.sort(key=lambda s: -max(sources[s]))
    load = [[0, 0] for _ in range(k)]
    fold_of = {}
    for source in order:
        real, ai = sources[source]
        # The fold that this source's larger class burdens least.
        heavier = 1 if ai >= real else 0
        fold = min(range(k), key=lambda f: (load[f][heavier], load[f][1 - heavier], f))
        fold_of[source] = fold
        load[fold][0] += real
        load[fold][1] += ai
    return [fold_of[item.sample.source] for item in images]


def balanced_weights(images, source_boost=None, *, human_art_boost: float = 1.0) -> np.ndarray:
    """1/sqrt(images of the same source and class): big sources count, but do not dominate.

    `source_boost` multiplies the weight of named sources (reviewer labels above the base corpus);
    `human_art_boost` multiplies the weight of every human-made artwork of a source not boosted by
    name (replay of the base corpus's art, so labels cannot teach "illustration means AI").
    """
    counts = Counter((i.sample.source, i.sample.label) for i in images)
    boost = source_boost or {}

    def weight(item) -> float:
        factor = boost.get(item.sample.source)
        if factor is None:
            factor = human_art_boost if item.is_art else 1.0
        return factor / math.sqrt(counts[(item.sample.source, item.sample.label)])

    return np.array([weight(i) for i in images])


def trainable_mask(images, exclude_sources=()) -> np.ndarray:
    """Images a head may be fitted on: not of a source excluded from training (still scored)."""
    excluded = set(exclude_sources or ())
    return np.array([i.sample.source not in excluded for i in images], dtype=bool)


def out_of_source_logits(features_by_variant: dict, images, folds, *, train_variants, l2: float = 1e-2,
                         exclude_sources=(), source_boost=None, human_art_boost: float = 1.0, consistency: float = 0.0,
                         log=None):
    """For every image and variant: the logit of a head trained on the other folds' sources only.

    `exclude_sources` are never trained on (they teach a shortcut) but are scored like the rest.
    """
    labels = np.array([i.sample.label for i in images])
    weights = balanced_weights(images, source_boost, human_art_boost=human_art_boost)
    folds = np.asarray(folds)
    trainable = trainable_mask(images, exclude_sources)
    out = {variant: np.zeros(len(images)) for variant in features_by_variant}
    for fold in sorted(set(folds.tolist())):
        train = (folds != fold) & trainable
        x = np.concatenate([features_by_variant[v][train] for v in train_variants])
        y = np.concatenate([labels[train]] * len(train_variants))
        w = np.concatenate([weights[train]] * len(train_variants))
        head = fit_linear_head(x, y, w, l2=l2, copies=len(train_variants), consistency=consistency)
        scored = folds == fold
        for variant, features in features_by_variant.items():
            out[variant][scored] = head.logits(features[scored])
        if log:
            held = sorted({images[i].sample.source for i in np.flatnonzero(scored)})
            log(f"  fold {fold}: held out {len(held)} sources ({int(scored.sum())} images)")
    return out


def operating_figures(p_ai, images, thresholds) -> dict:
    """The headline table: AUCs, rates at the thresholds with 95% intervals, per kind and family."""
    p = np.asarray(p_ai, dtype=np.float64)
    labels = np.array([i.sample.label for i in images])
    is_art = np.array([i.is_art for i in images])
    photos, art, ai = (labels == 0) & ~is_art, (labels == 0) & is_art, labels == 1
    t_ai, t_h = thresholds["likely_ai"], thresholds["likely_human"]

    def rate(mask, condition):
        n, k = int(mask.sum()), int((mask & condition).sum())
        low, high = wilson_interval(k, n) or (math.nan, math.nan)
        return {"count": k, "of": n, "rate": (k / n) if n else math.nan, "interval": [low, high]}

    figures = {
        "auc_ai_vs_all_real": roc_auc(labels, p),
        "auc_ai_vs_photos": roc_auc(labels[photos | ai], p[photos | ai]),
        "auc_ai_vs_art": roc_auc(labels[art | ai], p[art | ai]),
        "photos_likely_ai": rate(photos, p >= t_ai),
        "art_likely_ai": rate(art, p >= t_ai),
        "ai_caught_likely_ai": rate(ai, p >= t_ai),
        "ai_likely_human": rate(ai, p <= t_h),
        "thresholds": dict(thresholds),
    }
    per_family = {}
    for family in sorted({i.family for i in images if i.sample.label == 1}):
        mask = np.array([i.family == family for i in images]) & ai
        both = mask | (labels == 0)
        per_family[family] = {"images": int(mask.sum()), "auc_vs_all_real": roc_auc(labels[both], p[both]),
                              "caught": rate(mask, p >= t_ai)["rate"], "likely_human": rate(mask, p <= t_h)["rate"]}
    per_kind = {}
    for kind in sorted({i.kind for i in images if i.sample.label == 0}):
        mask = np.array([i.kind == kind for i in images]) & (labels == 0)
        per_kind[kind] = {"images": int(mask.sum()), "likely_ai": rate(mask, p >= t_ai)["rate"],
                          "mean_p_ai": float(p[mask].mean()), "auc_vs_all_ai": roc_auc(labels[mask | ai], p[mask | ai])}
    per_source = {}
    for source in sorted({i.sample.source for i in images}):
        mask = np.array([i.sample.source == source for i in images])
        per_source[source] = {"real": int((mask & (labels == 0)).sum()), "ai": int((mask & ai).sum()),
                              "mean_p_ai": float(p[mask].mean()), "likely_ai": float((p[mask] >= t_ai).mean()),
                              "likely_human": float((p[mask] <= t_h).mean())}
    figures.update(per_family=per_family, per_kind=per_kind, per_source=per_source)
    return figures


def probabilities_from_logits(logits, slope: float = 1.0, intercept: float = 0.0) -> np.ndarray:
    return sigmoid(np.asarray(logits, dtype=np.float64) * slope + intercept)


def head_state_dict(model: torch.nn.Module, head: LinearHead) -> dict:
    """The backbone's state dict with the classifier replaced by the head (with a whole view, the
    head's second half becomes whole_classifier: see multilevel.py)."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    classifier = model.get_classifier()
    names = [k for k in state if k.startswith("classifier.")]
    if not isinstance(classifier, torch.nn.Linear) or sorted(names) != ["classifier.bias", "classifier.weight"]:
        raise ProbeError("The backbone's classifier is not a single linear layer; a probe head cannot replace it.")
    crops_inputs = state["classifier.weight"].shape[1]
    whole_inputs = state["whole_classifier.weight"].shape[1] if "whole_classifier.weight" in state else 0
    if state["classifier.weight"].shape[0] != 1 or crops_inputs + whole_inputs != head.weight.shape[0]:
        raise ProbeError(
            f"The head has {head.weight.shape[0]} inputs but the classifier expects {crops_inputs + whole_inputs}."
        )
    weight = torch.as_tensor(head.weight, dtype=torch.float32).reshape(1, -1)
    state["classifier.weight"] = weight[:, :crops_inputs].clone()
    state["classifier.bias"] = torch.as_tensor([head.bias], dtype=torch.float32)
    if whole_inputs:
        state["whole_classifier.weight"] = weight[:, crops_inputs:].clone()
    return state
