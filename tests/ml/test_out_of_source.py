"""The out-of-source protocol: folds by source, thresholds from out-of-source scores, the probe checkpoint."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.images import write_manifest_folder

from detector.ml.datasets import Sample
from detector.ml.probe import (
    LabelledImage,
    ProbeError,
    balanced_weights,
    fit_linear_head,
    operating_figures,
    out_of_source_logits,
    source_folds,
)
from detector.ml.out_of_source_thresholds import choose_out_of_source_thresholds


def item(source, label, kind="photo", family="", index=0):
    sample = Sample(f"/data/{source}/{label}/{index}.png", label, source, f"{source}/{index}")
    return LabelledImage(sample, "ai" if label else kind, family if label else "")


def corpus(sources):
    """sources: {name: (real, ai, kind)} -> LabelledImage list."""
    images = []
    for name, (real, ai, kind) in sources.items():
        images += [item(name, 0, kind, index=i) for i in range(real)]
        images += [item(name, 1, family=f"fam-{name}", index=100 + i) for i in range(ai)]
    return images


def test_reviewer_labels_and_replayed_human_art_are_weighted_up_and_nothing_else_is():
    images = corpus({"reviewed": (4, 4, "photo"), "paintings": (4, 0, "painting"), "photos": (4, 4, "photo")})
    plain = balanced_weights(images)
    weighted = balanced_weights(images, {"reviewed": 3.0}, human_art_boost=2.0)
    by = {(i.sample.source, i.sample.label): (p, w) for i, p, w in zip(images, plain, weighted)}
    assert by[("reviewed", 0)][1] == pytest.approx(3 * by[("reviewed", 0)][0])
    assert by[("reviewed", 1)][1] == pytest.approx(3 * by[("reviewed", 1)][0])
    assert by[("paintings", 0)][1] == pytest.approx(2 * by[("paintings", 0)][0])  # human art replayed
    assert by[("photos", 0)][1] == pytest.approx(by[("photos", 0)][0])  # photos and AI images as before
    assert by[("photos", 1)][1] == pytest.approx(by[("photos", 1)][0])


def test_no_source_is_in_two_folds_and_every_fold_holds_images():
    images = corpus({f"s{i}": (10 + i, 5 * (i % 3), "photo") for i in range(9)})
    folds = source_folds(images, 3, seed=0)
    fold_of_source = {}
    for image, fold in zip(images, folds):
        assert fold_of_source.setdefault(image.sample.source, fold) == fold
    assert set(folds) == {0, 1, 2}


def test_a_mixed_source_keeps_both_classes_in_one_fold():
    images = corpus({"mixed": (20, 20, "photo"), "a": (10, 0, "photo"), "b": (0, 10, "photo"), "c": (5, 5, "photo")})
    folds = source_folds(images, 2)
    assert len({f for i, f in zip(images, folds) if i.sample.source == "mixed"}) == 1


def test_too_few_sources_for_the_folds_is_refused_with_the_reason():
    with pytest.raises(ProbeError, match="2 sources cannot fill 5"):
        source_folds(corpus({"a": (3, 3, "photo"), "b": (3, 3, "photo")}), 5)


def test_out_of_source_scores_never_come_from_a_head_that_saw_the_source():
    # Each source has its own feature offset: a head that saw a source would "recognise" it.
    rng = np.random.default_rng(0)
    images = corpus({f"s{i}": (20, 20, "photo") for i in range(4)})
    folds = source_folds(images, 4)
    features = []
    for image in images:
        source_index = int(image.sample.source[1:])
        vector = rng.normal(size=8)
        vector[source_index] += 4.0 if image.sample.label else -4.0  # only learnable within the source
        features.append(vector)
    features = np.array(features)
    logits = out_of_source_logits({"original": features, "jpeg75_half": features}, images, folds, train_variants=("original",))
    labels = np.array([i.sample.label for i in images])
    in_source = fit_linear_head(features, labels).logits(features)
    from detector.ml.metrics import roc_auc

    assert roc_auc(labels, in_source) > 0.95  # memorised
    assert roc_auc(labels, logits["original"]) < 0.75  # what an unseen source gets


def _fragile_and_stable_features(n=400, seed=0):
    """Originals and their re-saved copies: feature 0 separates the classes well but a re-save
    erases it; feature 1 separates them less well and survives the re-save."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    sign = 2 * labels - 1
    original = np.stack([sign * 3.0 + rng.normal(0, 1, n), sign * 0.5 + rng.normal(0, 1, n)], axis=1)
    resaved = np.stack([rng.normal(0, 1, n), original[:, 1] + rng.normal(0, 0.1, n)], axis=1)
    return original, resaved, labels


def test_a_consistent_head_scores_an_image_and_its_re_saved_copy_alike():
    from detector.ml.metrics import roc_auc

    original, resaved, labels = _fragile_and_stable_features()
    x, y = np.concatenate([original, resaved]), np.concatenate([labels, labels])
    plain = fit_linear_head(x, y, copies=2)
    consistent = fit_linear_head(x, y, copies=2, consistency=10.0)

    def gap(head):
        return float(np.mean((head.logits(original) - head.logits(resaved)) ** 2))

    assert gap(consistent) < 0.2 * gap(plain)
    # It leans on the feature that survives the re-save, so re-saved copies are ranked better...
    assert abs(consistent.weight[0]) < 0.1 * abs(plain.weight[0])
    assert abs(consistent.weight[0]) < 0.1 * abs(consistent.weight[1])
    fresh_original, fresh_resaved, fresh_labels = _fragile_and_stable_features(seed=1)
    assert roc_auc(fresh_labels, consistent.logits(fresh_resaved)) > roc_auc(fresh_labels, plain.logits(fresh_resaved))
    # ...and without the penalty the copies are just more images: consistency 0 is the plain fit.
    np.testing.assert_allclose(fit_linear_head(x, y, copies=2, consistency=0.0).weight, plain.weight)


def test_copies_that_do_not_line_up_with_the_rows_are_refused():
    original, resaved, labels = _fragile_and_stable_features(n=9)
    with pytest.raises(ProbeError, match="cannot be 2 copies"):
        fit_linear_head(np.concatenate([original, resaved[:-1]]), np.concatenate([labels, labels[:-1]]),
                        copies=2, consistency=1.0)


def test_train_detector_refuses_a_negative_consistency(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--consistency must be 0 or more, got -1.0"):
        call_command("train_detector", str(tmp_path), "--method", "probe", "--output", str(tmp_path / "m.pt"),
                     "--consistency", "-1")


def test_likely_ai_is_the_stricter_of_the_photo_and_art_limits():
    images = corpus({"photos": (200, 0, "photo"), "art": (200, 0, "painting"), "gen": (0, 200, "photo")})
    p = np.concatenate([np.linspace(0.0, 0.7, 200), np.linspace(0.0, 0.9, 200), np.linspace(0.3, 1.0, 200)])
    thresholds, info = choose_out_of_source_thresholds(p, images)
    art = p[200:400]
    photos = p[:200]
    assert (art >= thresholds["likely_ai"]).mean() <= 0.01
    assert (photos >= thresholds["likely_ai"]).mean() <= 0.01
    assert thresholds["likely_ai"] > 0.85  # set by the art, whose scores reach higher
    ai = p[400:]
    assert (ai < thresholds["likely_human"]).mean() <= 0.10
    assert info["likely_ai_target_met"]


def test_likely_ai_also_keeps_re_saved_photos_and_art_at_or_under_one_percent():
    images = corpus({"photos": (200, 0, "photo"), "art": (200, 0, "painting"), "gen": (0, 200, "photo")})
    p = np.concatenate([np.linspace(0.0, 0.7, 200), np.linspace(0.0, 0.7, 200), np.linspace(0.3, 1.0, 200)])
    resaved = p.copy()
    resaved[200:400] = np.linspace(0.0, 0.95, 200)  # re-saved artworks score higher
    plain, _ = choose_out_of_source_thresholds(p, images)
    thresholds, info = choose_out_of_source_thresholds(p, images, resaved=resaved)
    assert plain["likely_ai"] < 0.75
    assert (resaved[200:400] >= thresholds["likely_ai"]).mean() <= 0.01 < (resaved[200:400] >= plain["likely_ai"]).mean()
    assert "after JPEG q75 + half size" in info["likely_ai_rule"]


def test_likely_human_also_lets_through_at_most_ten_percent_of_re_saved_ai_images():
    images = corpus({"photos": (200, 0, "photo"), "art": (200, 0, "painting"), "gen": (0, 200, "photo")})
    p = np.concatenate([np.linspace(0.0, 0.7, 200), np.linspace(0.0, 0.7, 200), np.linspace(0.3, 1.0, 200)])
    resaved = p.copy()
    resaved[400:] = np.linspace(0.1, 0.9, 200)  # a re-save pulls the AI images' scores down
    plain, _ = choose_out_of_source_thresholds(p, images)
    thresholds, info = choose_out_of_source_thresholds(p, images, resaved=resaved)
    assert (resaved[400:] <= plain["likely_human"]).mean() > 0.10  # the plain rule would clear too many
    assert (resaved[400:] <= thresholds["likely_human"]).mean() <= 0.10
    assert (p[400:] <= thresholds["likely_human"]).mean() <= 0.10
    assert thresholds["likely_human"] < plain["likely_human"]
    assert "after JPEG q75 + half size" in info["likely_human_rule"]


def test_likely_ai_keeps_one_percent_for_an_art_source_the_pool_drowns():
    # Four art sources; one small style (40 images) scores high. Pooled, its 4 images at 0.9 are 0.8% of
    # the art, under 1%; averaged over sources they are 2.5%: a contest of that style would see 10%.
    images = corpus({"photos": (300, 0, "photo"), "paintings": (200, 0, "painting"), "manga": (200, 0, "manga"),
                     "wallpapers": (60, 0, "wallpaper"), "new_style": (40, 0, "digital art"), "gen": (0, 300, "photo")})
    style = np.r_[np.linspace(0.0, 0.6, 36), np.full(4, 0.9)]
    p = np.concatenate([np.linspace(0.0, 0.6, 300), np.linspace(0.0, 0.6, 200), np.linspace(0.0, 0.6, 200),
                        np.linspace(0.0, 0.6, 60), style, np.linspace(0.3, 1.0, 300)])
    thresholds, info = choose_out_of_source_thresholds(p, images)
    assert info["likely_ai_pooled_rule"] < 0.9 <= thresholds["likely_ai"]  # the pool alone would call them likely AI
    assert (style >= thresholds["likely_ai"]).mean() == 0
    assert info["source_balanced_likely_ai"]["artworks"] <= 0.01
    assert info["sources"] == {"photos": 1, "artworks": 4}
    assert "averaged over their sources" in info["likely_ai_rule"]
    assert info["likely_ai_target_met"] and not info["notes"]


def test_tiny_sources_count_together_in_the_source_balanced_rate():
    # 30 sources of 5 artworks and one of 300: one high image in a tiny source is 1 of 150 small-source
    # images (0.7%), not 20% of a source, so it does not drag likely_ai above it by itself.
    tiny = {f"tiny{i}": (5, 0, "painting") for i in range(30)}
    images = corpus({"photos": (300, 0, "photo"), "art": (300, 0, "painting"), **tiny, "gen": (0, 300, "photo")})
    small = np.full(150, 0.2)
    small[0] = 0.97
    p = np.concatenate([np.linspace(0.0, 0.6, 300), np.linspace(0.0, 0.6, 300), small, np.linspace(0.3, 1.0, 300)])
    thresholds, info = choose_out_of_source_thresholds(p, images)
    assert info["sources"]["artworks"] == 2
    assert thresholds["likely_ai"] < 0.97
    assert thresholds["likely_ai"] == info["likely_ai_pooled_rule"]


def test_a_source_balanced_rate_that_cannot_be_met_falls_back_to_the_pooled_rule_and_says_so():
    images = corpus({"photos": (300, 0, "photo"), "art": (400, 0, "painting"), "odd": (30, 0, "painting"),
                     "gen": (0, 300, "photo")})
    odd = np.r_[np.full(27, 0.1), np.full(3, 0.9995)]  # 10% of a source above any threshold <= 0.999
    p = np.concatenate([np.linspace(0.0, 0.6, 300), np.linspace(0.0, 0.6, 400), odd, np.linspace(0.3, 1.0, 300)])
    thresholds, info = choose_out_of_source_thresholds(p, images)
    assert thresholds["likely_ai"] == info["likely_ai_pooled_rule"] <= 0.999
    assert any("source-balanced" in note for note in info["notes"])


def test_too_few_artworks_hold_likely_ai_high_and_say_so():
    images = corpus({"photos": (300, 0, "photo"), "art": (20, 0, "painting"), "gen": (0, 100, "photo")})
    p = np.concatenate([np.full(300, 0.1), np.full(20, 0.1), np.full(100, 0.9)])
    thresholds, info = choose_out_of_source_thresholds(p, images)
    assert thresholds["likely_ai"] >= 0.95
    assert any("only 20 out-of-source artworks" in note for note in info["notes"])


def test_operating_figures_report_rates_with_intervals_per_kind_and_family():
    images = corpus({"photos": (100, 0, "photo"), "art": (100, 0, "painting"), "gen": (0, 50, "photo")})
    p = np.concatenate([np.full(100, 0.1), np.r_[np.full(98, 0.1), 0.99, 0.99], np.full(50, 0.95)])
    figures = operating_figures(p, images, {"likely_ai": 0.9, "likely_human": 0.2})
    assert figures["art_likely_ai"]["count"] == 2 and figures["art_likely_ai"]["of"] == 100
    low, high = figures["art_likely_ai"]["interval"]
    assert low < 0.02 < high
    assert figures["photos_likely_ai"]["count"] == 0
    assert figures["per_family"]["fam-gen"]["caught"] == 1.0
    assert set(figures["per_kind"]) == {"photo", "painting"}


def test_probe_training_writes_a_checkpoint_the_app_can_score_with_out_of_source_thresholds(tmp_path):
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.inference import load_detector
    from detector.ml.out_of_source import train_probe_detector

    data = write_manifest_folder(tmp_path / "data", {
        "a": (6, 6, "photo"), "b": (6, 6, "painting"), "c": (6, 0, "photo"), "d": (0, 6, "photo"), "e": (6, 6, "manga"),
    })
    output = tmp_path / "probe.pt"
    result = train_probe_detector([data], output, folds=3, max_per_source=None, input_size=64, max_tiles=1,
                                  cache_dir=tmp_path / "cache", log=lambda *_: None)
    checkpoint = read_checkpoint(output)
    assert checkpoint.training_args["method"] == "probe"
    assert checkpoint.metrics["validation_kind"].startswith("out-of-source")
    # Too few photos and artworks for a 1% rate: the threshold is held high, and the note says why.
    assert checkpoint.thresholds["likely_ai"] >= 0.95
    assert result.metrics["threshold_info"]["notes"]
    detector = load_detector(output)
    bright = Image.fromarray(np.full((80, 96, 3), 160, dtype=np.uint8))
    dark = Image.fromarray(np.full((80, 96, 3), 80, dtype=np.uint8))
    assert detector.score(bright).p_ai > detector.score(dark).p_ai
    assert json.dumps(checkpoint.metrics)  # plain types only


def test_evaluate_detector_out_of_source_writes_its_report(tmp_path):
    from django.core.management import call_command

    data = write_manifest_folder(tmp_path / "data", {"a": (5, 5, "photo"), "b": (5, 0, "painting"), "c": (0, 5, "photo"), "d": (5, 5, "drawing")})
    out = tmp_path / "report"
    call_command("evaluate_detector", str(data), "--out", str(out), "--out-of-source", "2", "--cache-dir", str(tmp_path / "c"),
                 stdout=open(tmp_path / "log.txt", "w"))
    report = json.loads((out / "out-of-source.json").read_text())
    folds = report["protocol"]["sources_per_fold"]
    assert sorted(s for v in folds.values() for s in v) == ["a", "b", "c", "d"]
    assert "Per generator family" in (out / "out-of-source.md").read_text()


def test_evaluate_detector_out_of_source_reports_other_fold_draws(tmp_path):
    from django.core.management import call_command

    data = write_manifest_folder(tmp_path / "data", {"a": (5, 5, "photo"), "b": (5, 0, "painting"), "c": (0, 5, "photo"), "d": (5, 5, "drawing")})
    out = tmp_path / "report"
    call_command("evaluate_detector", str(data), "--out", str(out), "--out-of-source", "2", "--cache-dir", str(tmp_path / "c"),
                 "--fold-draws", "1", stdout=io.StringIO())
    report = json.loads((out / "out-of-source.json").read_text())
    assert [row["seed"] for row in report["fold_draws_out_of_source"]["draws"]] == [0, 1]
    assert report["fold_draws_out_of_source"]["draws"][0]["auc"] == pytest.approx(report["figures"]["auc_ai_vs_all_real"])
    assert "## Other draws of the source folds" in (out / "out-of-source.md").read_text()


def test_evaluate_detector_refuses_negative_fold_draws_and_writes_nothing(tmp_path):
    from django.core.management import CommandError, call_command

    out = tmp_path / "report"
    with pytest.raises(CommandError, match="--fold-draws must be between 0 and 20, got -1"):
        call_command("evaluate_detector", str(tmp_path), "--out", str(out), "--out-of-source", "2", "--fold-draws", "-1")
    assert not out.exists()


def test_train_detector_reports_the_auc_under_other_draws_of_the_source_folds(tmp_path):
    from django.core.management import call_command

    data = write_manifest_folder(tmp_path / "data", {
        "a": (6, 6, "photo"), "b": (6, 6, "painting"), "c": (6, 0, "photo"), "d": (0, 6, "photo"), "e": (6, 6, "manga"),
    })
    out, log = tmp_path / "report", io.StringIO()
    call_command("train_detector", str(data), "--method", "probe", "--output", str(tmp_path / "m.pt"), "--folds", "3",
                 "--input-size", "64", "--cache-dir", str(tmp_path / "c"), "--fold-draws", "2",
                 "--report", str(out), stdout=log)
    report = json.loads((out / "out-of-source.json").read_text())
    draws = report["fold_draws_out_of_source"]
    assert [row["seed"] for row in draws["draws"]] == [0, 1, 2]
    # The first row is the run's own folds: the headline figure.
    assert draws["draws"][0]["auc"] == pytest.approx(report["figures"]["auc_ai_vs_all_real"])
    assert all(0.0 <= row["auc"] <= 1.0 and 0.0 <= row["auc_after_jpeg75_half"] <= 1.0 for row in draws["draws"])
    assert draws["auc_min"] <= draws["auc_mean"] <= draws["auc_max"]
    markdown = (out / "out-of-source.md").read_text()
    assert "## Other draws of the source folds" in markdown
    assert "| 2 |" in markdown
    assert "draws of the source folds: AUC" in log.getvalue()


def test_train_detector_refuses_too_many_fold_draws(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--fold-draws must be between 0 and 20, got 21"):
        call_command("train_detector", str(tmp_path), "--method", "probe", "--output", str(tmp_path / "m.pt"),
                     "--fold-draws", "21")


def test_the_small_copy_is_a_thumbnail_sized_jpeg_and_the_same_every_time():
    from detector.ml.probe import SMALL_SHORT_SIDES, variant_image

    photo = Image.fromarray(np.random.default_rng(3).integers(0, 256, (600, 900, 3), dtype=np.uint8))
    small = variant_image(photo, "jpeg75_small", seed=41)
    assert SMALL_SHORT_SIDES[0] <= min(small.size) <= SMALL_SHORT_SIDES[1]
    assert abs(small.size[0] / small.size[1] - 1.5) < 0.02, "the picture keeps its shape"
    assert small.size == variant_image(photo, "jpeg75_small", seed=41).size, "deterministic per file"
    assert {min(variant_image(photo, "jpeg75_small", seed=s).size) for s in range(20)} != {min(small.size)}
    assert np.asarray(small).std() < np.asarray(photo).std(), "re-saved as JPEG: the noise is smoothed"
    tiny = Image.new("RGB", (80, 60), (10, 20, 30))
    assert variant_image(tiny, "jpeg75_small", seed=1).size == (80, 60), "a picture already smaller is not enlarged"
    with pytest.raises(ProbeError, match="jpeg75_small"):
        variant_image(photo, "jpeg75_tiny", seed=1)
