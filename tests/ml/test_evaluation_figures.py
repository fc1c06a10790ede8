"""Evaluation figures on known scores (no model): operating points, ROC, calibration, sweep,
and the verdict rule the report shares with the app."""

import numpy as np
import pytest

from detector.ml import evaluation_figures as figures
from detector.ml.metrics import roc_auc, wilson_interval

THRESHOLDS = {"likely_ai": 0.8, "likely_human": 0.2}


def test_operating_point_counts_and_rates():
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    p_ai = np.array([0.05, 0.1, 0.3, 0.6, 0.85, 0.4, 0.7, 0.81, 0.9, 0.99])
    at = figures.operating_point(labels, p_ai, 0.8)
    assert at["confusion_matrix"] == {"tn": 4, "fp": 1, "fn": 2, "tp": 3}
    assert at["fpr"] == pytest.approx(0.2) and at["tpr"] == pytest.approx(0.6)
    assert at["precision"] == pytest.approx(0.75) and at["accuracy"] == pytest.approx(0.7)
    assert at["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    low, high = at["fpr_95ci"]
    assert low < 0.2 < high
    summary = figures.score_summary(labels, p_ai, np.log(p_ai / (1 - p_ai)), THRESHOLDS)
    assert summary["roc_auc"] == pytest.approx(roc_auc(labels, p_ai))
    assert summary["verdicts"]["real"]["likely_ai"] == pytest.approx(0.2)
    assert summary["verdicts"]["real"]["likely_human"] == pytest.approx(0.4)
    assert summary["verdicts"]["ai"]["uncertain"] == pytest.approx(0.4)
    assert "undefined" not in summary


def test_one_class_scores_report_fpr_and_mark_auc_undefined():
    labels = np.zeros(6, dtype=int)
    p_ai = np.array([0.01, 0.1, 0.2, 0.5, 0.7, 0.95])
    summary = figures.score_summary(labels, p_ai, np.log(p_ai / (1 - p_ai)), THRESHOLDS)
    assert summary["roc_auc"] is None
    assert "no AI images" in summary["undefined"]["roc_auc"]
    at = summary["operating_points"]["likely_ai"]
    assert at["fpr"] == pytest.approx(1 / 6) and at["tpr"] is None and at["precision"] == 0.0
    assert "tpr" in at["undefined"] and "fpr" not in at["undefined"]
    assert figures.roc_curve(labels, p_ai) is None
    assert figures.operating_point(labels, np.zeros(6), 0.8)["precision"] is None


def test_roc_curve_area_equals_roc_auc_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: many ties
    curve = figures.roc_curve(labels, scores)
    assert curve["fpr"][0] == 0 and curve["tpr"][0] == 0 and curve["fpr"][-1] == 1 and curve["tpr"][-1] == 1
    area = float(np.sum(np.diff(curve["fpr"]) * (np.array(curve["tpr"][1:]) + curve["tpr"][:-1]) / 2))
    assert area == pytest.approx(roc_auc(labels, scores))


def test_calibration_and_sweep():
    labels = np.array([1] * 9 + [0] * 1 + [0] * 10)
    p_ai = np.array([0.9] * 10 + [0.05] * 10)
    calibration = figures.calibration_summary(labels, p_ai)
    assert calibration["ece"] == pytest.approx(0.5 * 0.05)  # half the images, 0.05 from their share AI (0)
    assert sum(b["count"] for b in calibration["bins"]) == 20 and len(calibration["bins"]) == 10
    assert figures.calibration_summary(np.zeros(4, dtype=int), np.full(4, 0.8))["ece"] == pytest.approx(0.8)
    sweep = figures.threshold_sweep(labels, p_ai, {"likely_ai": 0.87, "likely_human": 0.2})
    thresholds = [row["threshold"] for row in sweep]
    assert thresholds[0] == 0.3 and thresholds[-1] == 0.95 and 0.87 in thresholds
    row = next(r for r in sweep if r["threshold"] == 0.87)
    assert row["marks"] == ["likely_ai"] and row["false_positives"] == 1 and row["fpr"] == pytest.approx(1 / 11)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.15 < high < 0.17  # 0 of 20 still allows a false-positive rate of ~16%


def test_verdict_rule_is_the_apps():
    from detector.policy import Thresholds, verdict_for

    thresholds = Thresholds(likely_ai=0.8, likely_human=0.2)
    for p in (0.0, 0.19, 0.2, 0.21, 0.5, 0.79, 0.8, 0.81, 1.0):
        assert figures.verdict(p, 0.8, 0.2) == verdict_for(p, thresholds)


def test_images_too_small_to_judge_are_never_called_ai_or_human_as_in_the_app():
    from detector.evidence.fusion import ClassifierReading, fuse
    from detector.policy import MIN_SIDE_FOR_VERDICT, Thresholds

    labels = np.array([0, 0, 1, 1])
    p_ai = np.array([0.95, 0.05, 0.95, 0.05])
    judged = np.array([False, True, False, True])
    summary = figures.score_summary(labels, p_ai, np.log(p_ai / (1 - p_ai)), THRESHOLDS, judged)
    assert summary["operating_points"]["likely_ai"]["confusion_matrix"] == {"tn": 2, "fp": 0, "fn": 2, "tp": 0}
    assert summary["classifier_alone_at_likely_ai"]["fpr"] == pytest.approx(0.5)
    assert summary["too_small_to_judge"] == {"min_side_px": MIN_SIDE_FOR_VERDICT, "real": 1, "ai": 1}
    assert summary["verdicts"]["real"]["uncertain_count"] == 1 and summary["verdicts"]["real"]["likely_human_count"] == 1
    app = fuse(classifier=ClassifierReading(0.95, None, 32, 32), findings=[], thresholds=Thresholds(0.8, 0.2))
    assert app.verdict == figures.verdict(0.95, 0.8, 0.2, judged=False) == "uncertain" and app.too_small
    big = fuse(classifier=ClassifierReading(0.95, None, 64, 900), findings=[], thresholds=Thresholds(0.8, 0.2))
    assert big.verdict == figures.verdict(0.95, 0.8, 0.2) == "likely_ai"
