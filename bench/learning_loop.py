#!/usr/bin/env python3
"""The learning loop's own benchmark: how many reviewer labels does it take to catch a new generator?

    .venv/bin/python bench/learning_loop.py \\
        --family var/corpus-train/nano_banana_pro/ai \\
        --real var/corpus-train/photos_denoising_sets/real var/corpus-train/photos_photoprism/real \\
        --photos var/corpus-train/photos_denoising_sets/real var/corpus-train/photos_photoprism/real \\
        --art var/corpus-train/art_manga109/real var/corpus-train/deb_wesnoth/real var/corpus-train/deb_krita/real \\
        --other-ai var/corpus-train/midjourney_react19/ai var/corpus-train/ideogram4/ai var/corpus-train/imagen3_artai/ai \\
            var/corpus-train/imagen3_dogao/ai var/corpus-train/imagen3_smarthome/ai \\
            var/corpus-train/flux_kontext_comfy/ai var/corpus-train/kolors_results/ai \\
        --base ../shared/data/train var/corpus-train --labels 50,100,200 --max-scored 150 --png docs/learning_loop.png

What it does, end to end through the app (never the dev database):

1. The base data is every source folder of the --base folders except those that hold any image
   the benchmark labels or scores (the family, the real labels, the photos, art and other-AI
   sets): a new generator and the test images must be new to the model. A starting probe is
   fitted on that base with the shipped model's recipe (or --start-checkpoint is used). Its NPR
   members train for --start-npr-epochs (4) rather than the recipe's 16: on 2 CPU cores 16 would
   cost about 27 minutes before the first label. The retrains keep those members, as in the app.
2. A scratch SQLite database (a temporary folder, its own settings through the environment) is
   migrated; a submitter uploads label images with `submission_create` (scored by the app), and a
   reviewer claims them with `case_claim_next` and decides each one truthfully with `case_decide`.
   With --real-art, every other real label is a human-made artwork entered into an art-contest
   collection, as a contest's screeners would clear it (its label is exported as kind "art").
3. For each N (cumulative: the first 50 labels are among the first 100), N labels (half the family,
   half real) are in the database, and `retrain` runs exactly as `manage.py retrain` does (the
   frozen hold-out fraction of the labels is not trained on, as in the app).
4. The old model and each candidate score, with `Detector.score_batch` and the checkpoint's
   thresholds, the family images that were never labels, other generators, photos and art that
   were never labels (compared by sha256, so a copy of a label image is never scored).

Features are cached by sha256 in AIORNOT_FEATURE_CACHE_DIR (--cache-dir), so a second run is quick.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import django
import matplotlib

matplotlib.use("Agg")  # before pyplot loads: no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from detector.ml.checkpoint import read_checkpoint  # noqa: E402
from detector.ml.digests import file_sha256  # noqa: E402  (after the path is set)
from detector.ml.inference import load_detector  # noqa: E402
from detector.ml.metrics import roc_auc  # noqa: E402
from detector.ml.out_of_source import train_probe_detector  # noqa: E402

START_NPR_EPOCHS = 4  # the starting model's NPR members; the retrains keep them, as retrain does in the app
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


# --- Bookkeeping: which images become labels and which are scored ------------------------------


def image_files(folders) -> list[Path]:
    """Every image file under the folders (recursively), sorted, each real path once."""
    seen, out = set(), []
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                key = os.path.realpath(path)
                if key not in seen:
                    seen.add(key)
                    out.append(path)
    return out


def _unique_by_content(paths, taken: set[str]) -> list[tuple[Path, str]]:
    """Paths whose bytes are not in `taken` and not repeated (the first copy wins); adds them to `taken`."""
    out = []
    for path in paths:
        digest = file_sha256(path)
        if digest not in taken:
            taken.add(digest)
            out.append((path, digest))
    return out


@dataclass
class Plan:
    """Which images are labels (cumulative prefixes per N) and which are scored, each image once."""

    counts: list[int]  # the N that can be run (half family, half real each)
    skipped: list[int]  # the N asked for that the folders are too small for
    label_family: list[tuple[Path, str]]  # in order: the first N/2 are the family labels of N
    label_real: list[tuple[Path, str]]
    scored: dict[str, list[tuple[Path, str]]] = field(default_factory=dict)  # set name -> images
    label_art: set[str] = field(default_factory=set)  # sha256 of the real labels that are art-contest entries

    def labels_for(self, n: int) -> list[tuple[str, Path, str]]:
        half = n // 2
        return [("ai", p, d) for p, d in self.label_family[:half]] + [("human", p, d) for p, d in self.label_real[: n - half]]

    def label_sha256(self) -> set[str]:
        return {d for _, d in self.label_family} | {d for _, d in self.label_real}


def plan_split(
    *, family, real, photos=(), art=(), other_ai=(), real_art=(), counts=(50, 100, 200, 400), max_scored: int = 200,
    min_scored_family: int = 20, seed: int = 0,
) -> Plan:
    """Choose label images and scored images.

    Label images are drawn at random (seeded) from the family and real folders; the largest N
    that leaves at least `min_scored_family` family images unseen is the last one run. With
    `real_art` folders, every other real label is a human-made artwork from them (entered as an art
    contest's entry). Scored sets never hold a label image or one another's images (by sha256), and
    are capped at `max_scored`.
    """
    rng = random.Random(seed)
    taken: set[str] = set()
    family_files, real_files = image_files(family), image_files(real)
    rng.shuffle(family_files)
    rng.shuffle(real_files)
    family_all = _unique_by_content(family_files, taken)
    real_all = _unique_by_content(real_files, set())  # may overlap --photos; those are excluded below
    art_files = image_files(real_art)
    random.Random(f"real-art-{seed}").shuffle(art_files)  # its own draw: the other sets are drawn as without it
    art_all = _unique_by_content(art_files, {d for _, d in real_all})
    if art_all:  # photo, artwork, photo, artwork... then the rest of the longer list
        mixed = [item for pair in zip(real_all, art_all) for item in pair]
        shorter = min(len(real_all), len(art_all))
        real_all = mixed + real_all[shorter:] + art_all[shorter:]
    counts = sorted({int(n) for n in counts if int(n) > 0})
    runnable = [n for n in counts if n // 2 <= len(family_all) - min_scored_family and n - n // 2 <= len(real_all)]
    reserve = max(runnable) if runnable else 0
    label_family = family_all[: reserve // 2]
    label_real = real_all[: reserve - reserve // 2]
    label_hashes = {d for _, d in label_family} | {d for _, d in label_real}
    taken |= label_hashes
    scored = {"family": family_all[reserve // 2 :][:max_scored]}
    for name, folders in (("photos", photos), ("art", art), ("other_ai", other_ai)):
        files = image_files(folders)
        rng.shuffle(files)
        scored[name] = _unique_by_content(files, taken)[:max_scored]
    label_art = {d for _, d in art_all} & {d for _, d in label_real}
    return Plan(counts=runnable, skipped=[n for n in counts if n not in runnable],
                label_family=label_family, label_real=label_real, scored=scored, label_art=label_art)


def base_view(base_dirs, exclude_folders, out: Path) -> tuple[list[Path], list[str]]:
    """A copy of the base folders (symlinks) without any source folder that holds an excluded folder.

    Returns the new base folders and the names of the sources left out.
    """
    excluded = [Path(f).resolve() for f in exclude_folders]
    dropped, views = [], []
    for base in base_dirs:
        base = Path(base).resolve()
        view = out / base.name
        view.mkdir(parents=True, exist_ok=True)
        kept = set()
        for source in sorted(p for p in base.iterdir() if p.is_dir()):
            if any(folder == source or source in folder.parents for folder in excluded):
                dropped.append(source.name)
                continue
            (view / source.name).symlink_to(source, target_is_directory=True)
            kept.add(source.name)
        manifest = base / "MANIFEST.csv"
        if manifest.is_file():
            with open(manifest, newline="", encoding="utf-8-sig") as src, open(view / "MANIFEST.csv", "w", newline="") as dst:
                reader = csv.DictReader(src)
                writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
                writer.writeheader()
                for row in reader:
                    if row["path"].replace("\\", "/").split("/")[0] in kept:
                        writer.writerow(row)
        views.append(view)
    return views, sorted(set(dropped))


# --- Through the app: labels as reviewer decisions, retrain, scoring ----------------------------


def labels_enter(*, labels, submitter, reviewer, contest=None, contest_sha256=frozenset()) -> dict[str, int]:
    """Upload each image and have the reviewer decide it truthfully; returns {sha256: case id}.

    Images whose sha256 is in `contest_sha256` are entered into the `contest` collection (an art
    contest's human-made entries). Images already in the database (from a smaller N) are not entered again.
    """
    # The app's modules load after django.setup() on the scratch database (main).
    from detector.models import ImageAsset
    from detector.services import submission_create
    from reviews.models import ReviewCase
    from reviews.services import case_claim_next, case_decide

    known = set(ImageAsset.objects.values_list("sha256", flat=True))
    truth = {}
    for label, path, digest in labels:
        if digest in known:
            continue
        submission_create(user=submitter, data=Path(path).read_bytes(), original_filename=Path(path).name,
                          collection=contest if digest in contest_sha256 else None)
        truth[digest] = label
        known.add(digest)
    while (case := case_claim_next(reviewer=reviewer)) is not None:
        label = truth.get(case.asset.sha256)
        if label is None:  # not ours: leave it undecided rather than invent a label
            break
        case_decide(case_id=case.pk, reviewer=reviewer, decision=label, note="benchmark label: known source")
    return dict(
        ReviewCase.objects.filter(status=ReviewCase.Status.DECIDED, label__in=["ai", "human"])
        .values_list("asset__sha256", "id")
    )


def score_sets(checkpoint_path, scored: dict, *, batch: int = 8) -> dict:
    """P(AI) of every scored image with a model, and its likely_ai / likely_human thresholds."""
    from detector.scoring import thresholds_for  # after django.setup() on the scratch database (main)

    detector = load_detector(checkpoint_path)
    thresholds = thresholds_for(detector)
    threshold_info = (detector.metrics or {}).get("threshold_info") or {}
    out = {"likely_ai": thresholds.likely_ai, "likely_human": thresholds.likely_human, "p": {},
           "likely_ai_pooled_rule": threshold_info.get("likely_ai_pooled_rule")}
    for name, items in scored.items():
        values = []
        for start in range(0, len(items), batch):
            images = []
            for path, _ in items[start : start + batch]:
                with Image.open(path) as image:
                    images.append(ImageOps.exif_transpose(image).convert("RGB"))
            values.extend(s.p_ai for s in detector.score_batch(images))
        out["p"][name] = np.array(values, dtype=float)
    return out


def figures(scores: dict, cut: float | None = None) -> dict:
    """AUCs, recall at likely_ai (or at `cut`) and false-positive rates from one model's scores."""
    p, cut = scores["p"], scores["likely_ai"] if cut is None else cut
    real = np.r_[p.get("photos", []), p.get("art", [])]

    def auc(ai):
        if len(ai) == 0 or len(real) == 0:
            return None
        return float(roc_auc(np.r_[np.ones(len(ai)), np.zeros(len(real))], np.r_[ai, real]))

    def rate(values):
        return float(np.mean(values >= cut)) if len(values) else None

    return {
        "family_auc": auc(p["family"]), "family_recall": rate(p["family"]),
        "other_auc": auc(p.get("other_ai", [])), "other_recall": rate(p.get("other_ai", [])),
        "photos_fpr": rate(p.get("photos", [])), "art_fpr": rate(p.get("art", [])),
        "likely_ai": cut,
    }


def pooled_rule_figures(scores: dict) -> dict | None:
    """The figures at the likely_ai the pooled rule alone chose (before the source-balanced rule, 2026-12-06)."""
    cut = scores.get("likely_ai_pooled_rule")
    return figures(scores, float(cut)) if cut is not None else None


def _scratch_environment(work: Path, checkpoint: Path, cache_dir: Path, recipe_env: dict | None = None) -> None:
    """Settings for a throwaway instance of the app: its own SQLite file, media, caches; no broker."""
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "aiornot_site.settings",
        "AIORNOT_DATA_DIR": str(work),
        "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
        "AIORNOT_MEDIA_ROOT": str(work / "media"),
        "AIORNOT_MODEL_CACHE_DIR": str(work / "model-cache"),
        "AIORNOT_DETECTOR_CHECKPOINT": str(checkpoint),
        "AIORNOT_FEATURE_CACHE_DIR": str(cache_dir),
        "AIORNOT_JOBS_IN_THREAD": "0",
        "AIORNOT_SCORING_IN_THREAD": "0",
        "AIORNOT_HEATMAPS": "0",
        "AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN": "1",  # every upload reaches the reviewer
        "AIORNOT_RETRAIN_AFTER_LABELS": "0",  # no scheduled candidate in the middle of the benchmark
        **(recipe_env or {}),
    })


def _fmt(value, percent=False):
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if percent else f"{value:.3f}"


def draw_curve(rows, path: Path, family_name: str) -> None:
    ns = [r["n"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(ns, [r["family_auc"] for r in rows], "o-", label=f"{family_name} AUC vs real")
    left.plot(ns, [r["other_auc"] for r in rows], "s--", label="other generators AUC vs real")
    left.set_xlabel("reviewer labels (half the family, half real)")
    left.set_ylabel("ROC AUC")
    left.set_ylim(0.4, 1.0)
    left.grid(alpha=0.3)
    left.legend(loc="lower right", fontsize=8)
    right.plot(ns, [100 * (r["family_recall"] or 0) for r in rows], "o-", label=f"{family_name} at likely_ai")
    right.plot(ns, [100 * (r["photos_fpr"] or 0) for r in rows], "^-", label="photos at likely_ai (FP)")
    right.plot(ns, [100 * (r["art_fpr"] or 0) for r in rows], "v-", label="art at likely_ai (FP)")
    right.set_xlabel("reviewer labels")
    right.set_ylabel("% of images")
    right.grid(alpha=0.3)
    right.legend(loc="upper left", fontsize=8)
    fig.suptitle("Labels needed to catch a new generator (learning-loop benchmark)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", nargs="+", required=True, help="folder(s) of the new generator family's images")
    parser.add_argument("--real", nargs="+", required=True, help="folder(s) of real images that may become labels")
    parser.add_argument("--real-art", nargs="*", default=[],
                        help="folder(s) of human-made art: every other real label is one, entered as an art contest's entry")
    parser.add_argument("--photos", nargs="*", default=[], help="real photos to measure false positives on")
    parser.add_argument("--art", nargs="*", default=[], help="human art to measure false positives on")
    parser.add_argument("--other-ai", nargs="*", default=[], help="other generators' images (AUC on other families)")
    parser.add_argument("--base", nargs="*", default=[], help="base training folders (sources holding test images are left out)")
    parser.add_argument("--labels", default="50,100,200,400", help="label counts N, half family, half real")
    parser.add_argument("--max-scored", type=int, default=200, help="cap on each scored set")
    parser.add_argument("--max-per-source", type=int, default=300, help="as `retrain --max-per-source`")
    parser.add_argument("--start-checkpoint", help="the old model; default: a probe fitted on the base with the shipped recipe")
    parser.add_argument("--save-start", help="also copy the fitted starting model here, for --start-checkpoint next time")
    parser.add_argument("--recipe-checkpoint", default=str(REPO / "detector" / "weights" / "default.pt"))
    parser.add_argument("--start-npr-epochs", type=int, default=START_NPR_EPOCHS,
                        help="epochs of the starting model's NPR members when the recipe has them (the shipped recipe's "
                             "16 take about 27 minutes on 2 cores; 0: the recipe's own)")
    parser.add_argument("--cache-dir", default=str(REPO / "var" / "feature-cache"))
    parser.add_argument("--png", default="learning_loop.png")
    parser.add_argument("--holdout-fraction", type=float, help="share of new labels frozen into the hold-out (default: the app's)")
    parser.add_argument("--label-weight", type=float, help="AIORNOT_RETRAIN_LABEL_WEIGHT for the retrains (default: the app's)")
    parser.add_argument("--human-art-weight", type=float, help="AIORNOT_RETRAIN_HUMAN_ART_WEIGHT (default: the app's)")
    parser.add_argument("--compare-recipes", default="",
                        help="after the largest N, retrain again with each LABEL_WEIGHT:HUMAN_ART_WEIGHT pair "
                             "(e.g. 4:1,4:4,16:16) on the same labels and print a recipe table")
    parser.add_argument("--scores-json", help="also write each model's P(AI) of every scored image here (JSON)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.monotonic()

    def say(message):
        print(f"[{time.monotonic() - started:6.0f} s] {message}", flush=True)

    torch.set_num_threads(args.threads)
    try:
        recipes = [tuple(float(x) for x in pair.split(":")) for pair in args.compare_recipes.split(",") if pair.strip()]
        if any(len(r) != 2 or min(r) <= 0 for r in recipes):
            raise ValueError
    except ValueError:
        parser.error("--compare-recipes takes positive LABEL_WEIGHT:HUMAN_ART_WEIGHT pairs, e.g. 4:1,4:4")
    if args.scores_json and (Path(args.scores_json).is_dir() or not Path(args.scores_json).resolve().parent.is_dir()):
        parser.error(f"--scores-json {args.scores_json}: give a file in an existing folder (checked now, not after the run)")
    if args.start_npr_epochs < 0:
        parser.error("--start-npr-epochs takes 0 (the recipe's own) or a positive number of epochs")
    recipe_rows = []
    plan = plan_split(family=args.family, real=args.real, photos=args.photos, art=args.art, other_ai=args.other_ai,
                      real_art=args.real_art, counts=[int(n) for n in args.labels.split(",")], max_scored=args.max_scored, seed=args.seed)
    if plan.skipped:
        say(f"skipped N = {plan.skipped}: the family folder is too small to leave images unseen")
    if not plan.counts:
        print("Nothing to run.")
        return 1
    say(f"labels reserved: {len(plan.label_family)} family, {len(plan.label_real)} real "
        f"({len(plan.label_art)} of them art-contest entries); scored: "
        + ", ".join(f"{k} {len(v)}" for k, v in plan.scored.items()))

    with tempfile.TemporaryDirectory(prefix="aiornot-learning-loop-") as work:
        work = Path(work)
        tested = [*args.family, *args.real, *args.real_art, *args.photos, *args.art, *args.other_ai]
        base, dropped = base_view(args.base, tested, work / "base")
        say(f"base data without the tested sources ({', '.join(dropped) or 'none dropped'})")
        start = Path(args.start_checkpoint) if args.start_checkpoint else work / "start.pt"
        if not args.start_checkpoint:
            recipe = read_checkpoint(args.recipe_checkpoint).training_args or {}
            train_probe_detector(
                [str(b) for b in base], start, folds=int(recipe.get("folds") or 5), max_per_source=args.max_per_source,
                seed=args.seed, cache_dir=args.cache_dir,
                train_variants=tuple(recipe.get("train_variants") or ("original", "wild", "jpeg75_half")),
                l2=float(recipe.get("l2") or 0.1), consistency=float(recipe.get("consistency") or 0.0),
                input_size=int(recipe.get("input_size") or 224),
                max_tiles=int(recipe.get("max_tiles") or 5), exclude_sources=tuple(recipe.get("not_trained_on") or ()),
                arch=recipe.get("arch") or "efficientnet_lite0", npr_epochs=args.start_npr_epochs or (recipe.get("npr") or {}).get("epochs"),
                npr_draws=(recipe.get("npr") or {}).get("draws_per_epoch"),
                npr_crop_pool=(recipe.get("npr") or {}).get("crop_pool"), whole_view=recipe.get("whole_view") is True,
                whole_view_mirrored=recipe.get("whole_view_mirrored") is True,
                channel_correlations=recipe.get("channel_correlations") is True,
                npr_weight=(recipe.get("npr") or {}).get("npr_weight"),
                log=lambda *_: None,
            )
            say(f"starting probe fitted on the base ({start})")
            if args.save_start:
                shutil.copyfile(start, args.save_start)
        recipe_env = {name: str(value) for name, value in (
            ("AIORNOT_RETRAIN_LABEL_WEIGHT", args.label_weight), ("AIORNOT_RETRAIN_HUMAN_ART_WEIGHT", args.human_art_weight),
        ) if value is not None}
        _scratch_environment(work, start, Path(args.cache_dir), recipe_env)
        django.setup()
        # The app's modules load only now, on the scratch database.
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.core.management import call_command

        from aiornot_site.roles import REVIEWERS, SUBMITTERS
        from registry.checkpoints import checkpoint_local_path
        from registry.retraining import retrain
        from registry.services import builtin_model_ensure

        from django.conf import settings

        call_command("migrate", verbosity=0)
        say(f"recipe: reviewer labels weigh {settings.AIORNOT_RETRAIN_LABEL_WEIGHT:g}x a base image, "
            f"the base data's human art {settings.AIORNOT_RETRAIN_HUMAN_ART_WEIGHT:g}x")
        users = get_user_model().objects
        submitter = users.create_user(username="bench-submitter", password="x")
        submitter.groups.add(Group.objects.get(name=SUBMITTERS))
        reviewer = users.create_user(username="bench-reviewer", password="x")
        reviewer.groups.add(Group.objects.get(name=REVIEWERS))
        from detector.models import Collection

        contest = Collection.objects.create(name="Benchmark art contest", policy=Collection.Policy.ART_CONTEST,
                                            created_by=reviewer) if plan.label_art else None
        old = checkpoint_local_path(builtin_model_ensure())
        scores = score_sets(old, plan.scored)
        rows = [{"n": 0, **figures(scores)}]
        scored_p = {"0": {k: v.tolist() for k, v in scores["p"].items()}}
        say(f"old model scored: {rows[0]}")
        for n in plan.counts:
            cases = labels_enter(labels=plan.labels_for(n), submitter=submitter, reviewer=reviewer,
                                 contest=contest, contest_sha256=plan.label_art)
            candidate = retrain(base_data=base, max_per_source=args.max_per_source, seed=args.seed,
                                holdout_fraction=args.holdout_fraction, log=lambda *_: None)
            evaluation = candidate.holdout_evaluation
            scores = score_sets(checkpoint_local_path(candidate), plan.scored)
            row = {"n": n, "labels_in_db": len(cases), "trained_on": evaluation.get("training_label_images"),
                   **figures(scores), "pooled_rule": pooled_rule_figures(scores)}
            rows.append(row)
            scored_p[str(n)] = {k: v.tolist() for k, v in scores["p"].items()}
            say(f"N={n}: {row}")
        if args.scores_json:
            Path(args.scores_json).write_text(json.dumps({"rows": rows, "p_ai": scored_p}))
            say(f"every scored image's P(AI) written to {args.scores_json}")

        for label_weight, art_weight in recipes:
            settings.AIORNOT_RETRAIN_LABEL_WEIGHT, settings.AIORNOT_RETRAIN_HUMAN_ART_WEIGHT = label_weight, art_weight
            candidate = retrain(base_data=base, max_per_source=args.max_per_source, seed=args.seed,
                                holdout_fraction=args.holdout_fraction, log=lambda *_: None)
            row = {"recipe": f"{label_weight:g}:{art_weight:g}",
                   **figures(score_sets(checkpoint_local_path(candidate), plan.scored))}
            recipe_rows.append(row)
            say(f"recipe {row['recipe']} at N={plan.counts[-1]}: {row}")

    names = {"family": "family", "photos": "photos", "art": "art", "other_ai": "other AI"}
    print()
    print("scored images (never labels): " + ", ".join(f"{names[k]} {len(v)}" for k, v in plan.scored.items()))
    print("| labels | trained on | family AUC | family at likely_ai | other AUC | photos likely AI | art likely AI | likely_ai threshold |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']} | {r.get('trained_on', 0)} | {_fmt(r['family_auc'])} | {_fmt(r['family_recall'], True)} | "
              f"{_fmt(r['other_auc'])} | {_fmt(r['photos_fpr'], True)} | {_fmt(r['art_fpr'], True)} | {r['likely_ai']:.3f} |")
    pooled = [r for r in rows if r.get("pooled_rule")]
    if pooled:
        print()
        print("the same candidates at the likely_ai the pooled rule alone would choose (no source-balanced limit):")
        print("| labels | family at likely_ai | photos likely AI | art likely AI | likely_ai threshold |")
        print("|---|---|---|---|---|")
        for r in pooled:
            f = r["pooled_rule"]
            print(f"| {r['n']} | {_fmt(f['family_recall'], True)} | {_fmt(f['photos_fpr'], True)} | "
                  f"{_fmt(f['art_fpr'], True)} | {f['likely_ai']:.3f} |")
    if recipe_rows:
        print()
        print(f"recipes at N = {plan.counts[-1]} (label weight : human-art replay weight), same labels:")
        print("| recipe | family AUC | family at likely_ai | other AUC | photos likely AI | art likely AI | likely_ai threshold |")
        print("|---|---|---|---|---|---|---|")
        for r in recipe_rows:
            print(f"| {r['recipe']} | {_fmt(r['family_auc'])} | {_fmt(r['family_recall'], True)} | {_fmt(r['other_auc'])} | "
                  f"{_fmt(r['photos_fpr'], True)} | {_fmt(r['art_fpr'], True)} | {r['likely_ai']:.3f} |")
    draw_curve(rows, Path(args.png), Path(args.family[0]).parent.name if Path(args.family[0]).name in ("ai", "real") else Path(args.family[0]).name)
    say(f"curve written to {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
