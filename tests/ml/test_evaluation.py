"""Evaluation report: figures on known scores, and `manage.py evaluate_detector` end to end."""

import csv
import hashlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detector.ml import evaluation as ev

from ..images import image_bytes

pytest.importorskip("django")

from django.conf import settings as django_settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ROBUSTNESS = {"jpeg_q75", "jpeg_q50", "resize_0.5x", "centre_crop_50pct"}
PLOT_NAMES = ("roc_curve", "reliability_diagram", "score_histogram")


def _needs_django():
    if not django_settings.configured:
        pytest.skip("Django settings are not configured (run without -p no:django)")


def _labelled_folder(root: Path, real: int = 8, ai: int = 8, corrupt: bool = True) -> Path:
    """real/ and ai/ folders of small Pillow images, both classes in both containers."""
    for label, count, offset in (("real", real, 0), ("ai", ai, 500)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            fmt = "JPEG" if (i % 2 == 0) == (label == "real") else "PNG"
            size = (64 + 8 * (i % 3), 64 + 8 * ((i + 1) % 2))
            name = f"{label}{i}.{'jpg' if fmt == 'JPEG' else 'png'}"
            (root / label / name).write_bytes(image_bytes(fmt, size=size, seed=offset + i))
    if corrupt:
        (root / "real" / "corrupt.png").write_bytes(b"this is not an image")
    return root


def _manifest_folder(root: Path) -> Path:
    """A MANIFEST.csv folder with two sources and a generator column."""
    rows = []
    for source, label, generators in (
        ("paintings", "real", ["human painting"] * 3),
        ("gens", "ai", ["sdxl", "sdxl", "flux1-dev"]),
    ):
        (root / source / label).mkdir(parents=True)
        for i, generator in enumerate(generators):
            rel = f"{source}/{label}/{i}.png"
            (root / rel).write_bytes(image_bytes("PNG", size=(72, 64), seed=900 + len(rows)))
            rows.append({"path": rel, "label": label, "generator": generator})
    with open(root / "MANIFEST.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "generator"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def _strict_json(path: Path) -> dict:
    def refuse(constant):
        raise AssertionError(f"report.json contains {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def _unit(value) -> bool:
    return value is not None and 0.0 <= value <= 1.0


def _check_operating_point(point: dict, images: int):
    matrix = point["confusion_matrix"]
    assert sum(matrix.values()) == images
    for key in ("accuracy", "fpr", "tpr", "recall"):
        assert point[key] is None or _unit(point[key]), (key, point[key])


# --- Scoring with the real detector -------------------------------------------------------------


def test_max_images_is_a_seeded_class_balanced_sample(tmp_path, detector_checkpoint):
    from detector.ml.inference import load_detector

    data = _labelled_folder(tmp_path / "data", corrupt=False)
    detector = load_detector(detector_checkpoint)

    def run(seed):
        result = ev.evaluate_detector(
            detector, [data], max_images=6, seed=seed, robustness=False, container_check=False, log=lambda *a: None
        )
        return result

    first, again = run(0), run(0)
    assert first.report["data"]["per_class"] == {"real": 3, "ai": 3}
    assert first.report["data"]["images_found"] == 16
    assert [r["path"] for r in first.images] == [r["path"] for r in again.images]
    assert first.report["robustness"]["skipped"] and first.report["container_check"]["skipped"]
    assert first.report["timing"]["variants_per_image"] == 1
    with pytest.raises(ev.EvaluationError, match="batch_size"):
        ev.evaluate_detector(detector, [data], batch_size=0)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, detector_checkpoint):
    """One full run of the command (all variants) on a folder-layout set and a manifest set."""
    _needs_django()
    root = tmp_path_factory.mktemp("evaluation")
    photos = _labelled_folder(root / "photos")
    contest = _manifest_folder(root / "contest")
    out = root / "report"
    stdout = io.StringIO()
    call_command(
        "evaluate_detector",
        str(photos),
        str(contest),
        "--out",
        str(out),
        "--checkpoint",
        str(detector_checkpoint),
        "--batch-size",
        "8",
        stdout=stdout,
    )
    return out, _strict_json(out / "report.json"), stdout.getvalue(), detector_checkpoint


def test_report_json_has_every_section_with_sane_values(evaluated):
    out, report, _, checkpoint = evaluated
    assert set(report) >= {
        "format", "warning", "model", "thresholds", "data", "headline", "threshold_sweep", "calibration",
        "score_histogram", "per_source", "per_generator", "robustness", "container_check", "worst", "timing",
    }
    model = report["model"]
    assert model["checkpoint_sha256"] == hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()
    assert model["arch"] == "resnet10t" and model["model_version"] and model["temperature"] > 0
    assert set(model["checkpoint_thresholds"]) == {"likely_ai", "likely_human"}
    assert report["thresholds"]["likely_ai"] == model["checkpoint_thresholds"]["likely_ai"]

    data = report["data"]
    assert data["per_class"] == {"real": 11, "ai": 11} and data["images_evaluated"] == 22
    assert data["skipped"]["count"] == 1 and data["skipped"]["files"][0]["path"].endswith("corrupt.png")
    assert set(data["per_source"]) == {"photos", "paintings", "gens"}

    head = report["headline"]
    assert _unit(head["roc_auc"]) and head["images"] == 22
    for key in ("likely_ai", "0.5"):
        _check_operating_point(head["operating_points"][key], 22)
    assert head["operating_points"]["likely_ai"]["threshold"] == report["thresholds"]["likely_ai"]
    for cls in ("real", "ai"):
        shares = head["verdicts"][cls]
        assert sum(shares[v] for v in ("likely_ai", "uncertain", "likely_human")) == pytest.approx(1.0)
    assert head["roc_curve"]["fpr"][0] == 0 and head["roc_curve"]["tpr"][-1] == 1

    sweep = report["threshold_sweep"]
    assert {0.3, 0.5, 0.95} <= {row["threshold"] for row in sweep}
    assert all(_unit(row["fpr"]) and _unit(row["tpr"]) for row in sweep)
    assert any("likely_ai" in row["marks"] for row in sweep)

    calibration = report["calibration"]
    assert _unit(calibration["ece"]) and _unit(calibration["ece_class_balanced"])
    assert len(calibration["bins"]) == 10 and sum(b["count"] for b in calibration["bins"]) == 22
    assert sum(report["score_histogram"]["real"]) == 11 and sum(report["score_histogram"]["ai"]) == 11

    per_source = report["per_source"]
    assert _unit(per_source["photos"]["roc_auc"]) and per_source["photos"]["images"] == 16
    assert per_source["paintings"]["roc_auc"] is None and _unit(per_source["paintings"]["fpr_at_likely_ai"])
    assert per_source["paintings"]["tpr_at_likely_ai"] is None
    assert per_source["gens"]["fpr_at_likely_ai"] is None and _unit(per_source["gens"]["tpr_at_likely_ai"])
    per_generator = report["per_generator"]
    assert set(per_generator) == {"(not recorded)", "human painting", "sdxl", "flux1-dev"}
    assert per_generator["sdxl"]["ai"] == 2 and _unit(per_generator["human painting"]["fpr_at_0.5"])

    robustness = report["robustness"]
    assert not robustness["skipped"] and set(robustness["variants"]) == ROBUSTNESS
    for variant in robustness["variants"].values():
        assert variant["images"] == 22 and variant["failed"] == 0 and _unit(variant["roc_auc"])
        _check_operating_point(variant["operating_points"]["likely_ai"], 22)
        assert _unit(variant["change_vs_original"]["mean_abs_delta_p"])

    container = report["container_check"]
    assert set(container["variants"]) == {"png", "jpeg_q95"}
    # Same pixels in a PNG container: a pixel classifier must give the same scores.
    assert container["variants"]["png"]["change_vs_original"]["max_abs_delta_p"] < 1e-5
    assert container["variants"]["png"]["roc_auc"] == pytest.approx(head["roc_auc"])
    shortcut = container["shortcut"]
    for key in ("mean_p_ai_real_as_png", "mean_p_ai_ai_as_jpeg", "roc_auc_real_png_vs_ai_jpeg"):
        assert _unit(shortcut[key]), key
    assert set(shortcut["original_containers"]["real"]) == {"JPEG", "PNG"}

    assert len(report["worst"]["real_highest_p_ai"]) == 10
    timing = report["timing"]
    assert timing["images_per_second"] > 0 and timing["variants_per_image"] == 7


def test_report_markdown_plots_and_csv(evaluated):
    out, report, stdout, _ = evaluated
    markdown = (out / "report.md").read_text()
    assert "## Headline" in markdown and "| metric | at likely_ai (P(AI) >=" in markdown
    assert "False-positive rate (real called AI)" in markdown
    assert "The score is an aid, not a verdict" in markdown
    for section in ("## Robustness", "## Container-shortcut check", "## Per source", "## Calibration"):
        assert section in markdown
    for name in PLOT_NAMES:
        png_path, svg_path = out / f"{name}.png", out / f"{name}.svg"
        assert png_path.stat().st_size > 1000 and svg_path.stat().st_size > 1000
        with Image.open(png_path) as image:
            assert image.format == "PNG" and image.width > 200
        assert "<svg" in svg_path.read_text()[:2000]
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 22 and {"p_ai", "verdict", "p_ai_jpeg_q50", "p_ai_png"} <= set(rows[0])
    assert "Wrote" in stdout and "ROC AUC" in stdout and "1 skipped" in stdout


def test_one_class_folder_reports_false_positive_rate(tmp_path, detector_checkpoint, settings):
    """An all-human-art folder is a valid evaluation; the checkpoint comes from the setting."""
    _needs_django()
    settings.AIORNOT_DETECTOR_CHECKPOINT = detector_checkpoint
    data = _labelled_folder(tmp_path / "human_art", real=6, ai=0, corrupt=False)
    stdout = io.StringIO()
    call_command("evaluate_detector", str(data), "--out", str(tmp_path / "out"), "--no-robustness", stdout=stdout)
    report = _strict_json(tmp_path / "out" / "report.json")
    head = report["headline"]
    assert head["roc_auc"] is None and "no AI images" in head["undefined"]["roc_auc"]
    at = head["operating_points"]["likely_ai"]
    assert _unit(at["fpr"]) and at["tpr"] is None and sum(at["confusion_matrix"].values()) == 6
    assert _unit(report["calibration"]["ece"]) and "only one class" in report["calibration"]["note"]
    assert report["per_source"]["human_art"]["roc_auc"] is None
    assert _unit(report["per_source"]["human_art"]["fpr_at_likely_ai"])
    assert report["robustness"]["skipped"] and not report["container_check"]["skipped"]
    assert report["container_check"]["shortcut"]["roc_auc_real_png_vs_ai_jpeg"] is None
    assert report["model"]["checkpoint_sha256"] == hashlib.sha256(Path(detector_checkpoint).read_bytes()).hexdigest()
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "ROC AUC: **n/a (undefined: there are no AI images" in markdown
    assert "were called likely AI" in markdown
    assert (tmp_path / "out" / "roc_curve.png").stat().st_size > 0
    assert "ROC AUC n/a" in stdout.getvalue()


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t, c: [str(t / "missing"), "--checkpoint", c], "does not exist"),
        (lambda d, t, c: [str(t / "empty"), "--checkpoint", c], "neither a MANIFEST.csv"),
        (lambda d, t, c: [str(t / "empty_classes"), "--checkpoint", c], "contains no image files"),
        (lambda d, t, c: [str(t / "all_corrupt"), "--checkpoint", c], "could be read"),
        (lambda d, t, c: [str(d), "--checkpoint", str(t / "nope.pt")], "Detector checkpoint .*nope.pt does not exist"),
        (lambda d, t, c: [str(d), "--checkpoint", str(t / "garbage.pt")], "not a detector checkpoint"),
        (lambda d, t, c: [str(d), "--checkpoint", c, "--batch-size", "0"], "must be at least 1"),
        (lambda d, t, c: [str(d), "--checkpoint", c, "--max-images", "0"], "must be at least 1"),
    ],
    ids=[
        "missing-folder", "empty-folder", "empty-class-folders", "only-unreadable-files", "missing-checkpoint",
        "corrupt-checkpoint", "batch-size", "max-images",
    ],
)
def test_bad_input_is_a_command_error(tmp_path, detector_checkpoint, make_args, message):
    _needs_django()
    data = _labelled_folder(tmp_path / "data", real=1, ai=1, corrupt=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty_classes" / "real").mkdir(parents=True)
    (tmp_path / "empty_classes" / "ai").mkdir()
    (tmp_path / "all_corrupt" / "real").mkdir(parents=True)
    (tmp_path / "all_corrupt" / "real" / "x.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    out = tmp_path / "out"
    args = make_args(data, tmp_path, str(detector_checkpoint))
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_detector", *args, "--out", str(out), stdout=io.StringIO())
    assert not out.exists()  # a failed run leaves no empty report folder behind


def test_missing_default_checkpoint_names_the_setting(tmp_path, settings):
    _needs_django()
    settings.AIORNOT_DETECTOR_CHECKPOINT = tmp_path / "missing.pt"
    data = _labelled_folder(tmp_path / "data", real=1, ai=1, corrupt=False)
    with pytest.raises(CommandError, match="does not exist.*AIORNOT_DETECTOR_CHECKPOINT"):
        call_command("evaluate_detector", str(data), "--out", str(tmp_path / "out"), stdout=io.StringIO())


def test_report_folder_that_is_a_file_is_a_command_error(tmp_path, detector_checkpoint):
    _needs_django()
    data = _labelled_folder(tmp_path / "data", real=1, ai=1, corrupt=False)
    (tmp_path / "taken").write_text("x")
    with pytest.raises(CommandError, match="not a folder"):
        call_command(
            "evaluate_detector", str(data), "--out", str(tmp_path / "taken"), "--checkpoint", str(detector_checkpoint)
        )


def _run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_modules_stay_light():
    """The ML modules do not import Django; the command module does not import torch."""
    assert _run_python(
        "import sys, detector.ml.evaluation, detector.ml.report; "
        "print(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    ) == "False"
    assert _run_python(
        # manage.py sets Django up before it imports a command module.
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'aiornot_site.settings'); django.setup(); "
        "import detector.management.commands.evaluate_detector as c; "
        "c.Command().create_parser('manage.py', 'evaluate_detector'); print('torch' in sys.modules)"
    ) == "False"


def test_report_is_strict_json_even_with_nan():
    assert ev.plain({"a": float("nan"), "b": np.float32(0.5), "c": (np.int64(2),)}) == {"a": None, "b": 0.5, "c": [2]}
    assert math.isfinite(ev.plain(np.float64(1.0)))
