"""Writing an evaluation (the dict from evaluation.py) to disk: JSON, Markdown, CSV and plots.

    REPORT_DIR/report.json                 the dict itself (NaN written as null)
    REPORT_DIR/report.md                   readable summary with tables, for a model card
    REPORT_DIR/scores.csv                  one row per image (to look at the false positives)
    REPORT_DIR/roc_curve.{png,svg}
    REPORT_DIR/reliability_diagram.{png,svg}
    REPORT_DIR/score_histogram.{png,svg}

The plots are drawn by report_plots.py. No Django.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from .report_plots import PLOTS, write_plots

__all__ = ["ReportError", "prepare_output_dir", "write_report", "render_markdown"]


class ReportError(Exception):
    """The report folder cannot be created or written."""


def prepare_output_dir(path) -> Path:
    """Create the report folder (and parents) and check it is writable, before any long work."""
    if path is None or str(path) == "":
        raise ReportError("A report folder (--out) is required.")
    folder = Path(path).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"Report folder {folder} exists and is not a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", suffix=".tmp"):
            pass
    except OSError as exc:
        raise ReportError(f"Cannot write the report to {folder}: {exc.strerror or exc}.") from None
    return folder


def write_report(report: dict, out_dir, *, images=None) -> dict:
    """Write report.json, report.md, scores.csv (if `images`) and the plots; returns {name: Path}."""
    folder = prepare_output_dir(out_dir)
    written = {}
    try:
        written["json"] = _write_text(folder / "report.json", json.dumps(report, indent=2, allow_nan=False) + "\n")
        written["markdown"] = _write_text(folder / "report.md", render_markdown(report))
        if images:
            written["csv"] = _write_csv(folder / "scores.csv", images)
        written.update(write_plots(report, folder))
    except OSError as exc:
        raise ReportError(f"Cannot write the report to {folder}: {exc.strerror or exc}.") from None
    return written


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _write_csv(path: Path, rows) -> Path:
    columns = list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return path


def _csv_value(value):
    if value is None:
        return ""
    return f"{value:.6f}" if isinstance(value, float) else value


# --- Markdown ------------------------------------------------------------------------------------


def _pct(value, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ci(interval) -> str:
    return "n/a" if not interval else f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f}%"


def _table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines + [""]


def _auc_text(entry) -> str:
    if entry.get("roc_auc") is not None:
        return f"{entry['roc_auc']:.4f}"
    reason = (entry.get("undefined") or {}).get("roc_auc")
    return f"n/a ({reason})" if reason else "n/a"


def render_markdown(report: dict) -> str:
    """The report as Markdown: headline tables first, details after."""
    model, data, head = report["model"], report["data"], report["headline"]
    thresholds = report["thresholds"]
    t_ai, t_human = thresholds["likely_ai"], thresholds["likely_human"]
    points = head["operating_points"]
    lines = [
        f"# Detector evaluation: {model['model_version']}",
        "",
        f"> **False-positive warning.** {report['warning']}",
        "",
    ]
    fpr_ai = points["likely_ai"]
    real_n = head["real"]
    if real_n:
        lines += [
            f"**On these {real_n} real images, {fpr_ai['confusion_matrix']['fp']} "
            f"({_pct(fpr_ai['fpr'], 2)}; 95% interval {_ci(fpr_ai['fpr_95ci'])}) were called likely AI** "
            f"(P(AI) >= {t_ai:g}).",
            "",
        ]
        small = head.get("too_small_to_judge") or {}
        alone = head.get("classifier_alone_at_likely_ai")
        if small.get("real") or small.get("ai"):
            lines += [
                f"{small['real']} real and {small['ai']} AI images are under {small['min_side_px']} px on their "
                "short side; the app reads those as uncertain whatever their score, so they are never called "
                "likely AI above. "
                + (
                    f"Scored by the classifier alone, {alone['confusion_matrix']['fp']} real images "
                    f"({_pct(alone['fpr'], 2)}) would be at or above {t_ai:g}."
                    if alone and alone.get("fpr") is not None
                    else ""
                ),
                "",
            ]

    lines += ["## Model", ""]
    lines += _table(
        ["", ""],
        [
            ["version", f"`{model['model_version']}`"],
            ["architecture", f"`{model['arch']}`"],
            ["checkpoint sha256", f"`{model['checkpoint_sha256']}`"],
            ["temperature", _num(model["temperature"], 4)],
            ["thresholds used", f"likely_ai >= {t_ai:g}, likely_human <= {t_human:g} ({thresholds['source']})"],
            [
                "checkpoint thresholds",
                ", ".join(f"{k} {v:g}" for k, v in sorted(model["checkpoint_thresholds"].items())),
            ],
        ],
    )

    lines += ["## Data", ""]
    lines += [f"- Folders: {', '.join(f'`{f}`' for f in data['folders'])}"]
    lines += [
        f"- Images evaluated: **{data['images_evaluated']}** "
        f"({data['per_class']['real']} real, {data['per_class']['ai']} AI); "
        f"{data['skipped']['count']} unreadable file(s) skipped."
    ]
    if data.get("subsample"):
        sub = data["subsample"]
        lines += [
            f"- Class-balanced random sample of {data['images_selected']} of {data['images_found']} images "
            f"(max {sub['max_images']}, seed {sub['seed']})."
        ]
    lines += [""]
    lines += _table(
        ["source", "real", "AI"],
        [[name, c.get("real", 0), c.get("ai", 0)] for name, c in data["per_source"].items()],
    )
    if data["skipped"]["files"]:
        lines += ["Skipped files:", ""]
        lines += [f"- `{s['path']}`: {s['reason']}" for s in data["skipped"]["files"][:20]]
        if len(data["skipped"]["files"]) > 20:
            lines += [f"- ... and {len(data['skipped']['files']) - 20} more (see report.json)"]
        lines += [""]

    lines += ["## Headline", "", f"ROC AUC: **{_auc_text(head)}**", ""]
    half = points["0.5"]
    rows = []
    for label, key, fmt in (
        ("False-positive rate (real called AI)", "fpr", _pct),
        ("True-positive rate / recall (AI caught)", "tpr", _pct),
        ("Accuracy", "accuracy", _pct),
        ("Balanced accuracy", "balanced_accuracy", _pct),
        ("Precision", "precision", _pct),
        ("F1", "f1", _num),
    ):
        rows.append([label, fmt(fpr_ai[key]), fmt(half[key])])
    for label, key in (
        ("Real called real (TN)", "tn"),
        ("Real called AI (FP)", "fp"),
        ("AI called real (FN)", "fn"),
        ("AI called AI (TP)", "tp"),
    ):
        rows.append([label, fpr_ai["confusion_matrix"][key], half["confusion_matrix"][key]])
    lines += _table(["metric", f"at likely_ai (P(AI) >= {t_ai:g})", "at 0.5"], rows)

    lines += ["### Verdicts the app would show", ""]
    lines += _table(
        ["class", "images", "likely_ai", "uncertain", "likely_human", "mean P(AI)"],
        [
            [
                cls,
                v["count"],
                _pct(v["likely_ai"]),
                _pct(v["uncertain"]),
                _pct(v["likely_human"]),
                _num(head["mean_p_ai"][cls]),
            ]
            for cls, v in head["verdicts"].items()
        ],
    )

    lines += ["## False-positive rate on real images by threshold", ""]
    lines += _table(
        ["threshold", "real called AI", "FPR", "FPR 95% interval", "AI caught (TPR)", ""],
        [
            [
                f"{r['threshold']:g}",
                f"{r['false_positives']}/{r['real']}",
                _pct(r["fpr"], 2),
                _ci(r["fpr_95ci"]),
                _pct(r["tpr"]),
                ", ".join(r["marks"]),
            ]
            for r in report["threshold_sweep"]
        ],
    )

    cal = report["calibration"]
    lines += [
        "## Calibration",
        "",
        f"ECE (10 bins): **{_num(cal['ece'])}**; with both classes weighted equally (as the temperature was "
        f"fitted): {_num(cal['ece_class_balanced'])}; largest bin gap {_num(cal['max_calibration_error'])}.",
        "",
    ]
    if cal.get("note"):
        lines += [f"Note: {cal['note']}.", ""]
    lines += _table(
        ["P(AI) bin", "images", "mean P(AI)", "share AI"],
        [
            [f"{b['lower']:.1f}-{b['upper']:.1f}", b["count"], _num(b["mean_p_ai"]), _num(b["fraction_ai"])]
            for b in cal["bins"]
        ],
    )

    for title, key in (("Per source", "per_source"), ("Per generator", "per_generator")):
        groups = report[key]
        lines += [f"## {title}", ""]
        if not groups:
            lines += ["No generator information in this data (it comes from a MANIFEST.csv `generator` column).", ""]
            continue
        lines += _table(
            [
                "",
                "real",
                "AI",
                "ROC AUC",
                "FPR at likely_ai",
                "FPR at 0.5",
                "TPR at likely_ai",
                "TPR at 0.5",
                "mean P(AI)",
            ],
            [
                [
                    name,
                    g["real"],
                    g["ai"],
                    _num(g["roc_auc"], 4),
                    _pct(g["fpr_at_likely_ai"]),
                    _pct(g["fpr_at_0.5"]),
                    _pct(g["tpr_at_likely_ai"]),
                    _pct(g["tpr_at_0.5"]),
                    _num(g["mean_p_ai"]),
                ]
                for name, g in groups.items()
            ],
        )

    lines += ["## Robustness", ""]
    rob = report["robustness"]
    if rob.get("skipped"):
        lines += [f"Not measured: {rob.get('reason', 'disabled')}.", ""]
    else:
        lines += [
            "Every image transformed in memory, then scored again. \"Real newly flagged\" counts real images "
            "that were not likely_ai before the change and are after it.",
            "",
        ]
        lines += _variant_table(head, rob["variants"], t_ai)

    lines += ["## Container-shortcut check", ""]
    cont = report["container_check"]
    if cont.get("skipped"):
        lines += [f"Not measured: {cont.get('reason', 'disabled')}.", ""]
    else:
        lines += _variant_table(head, cont["variants"], t_ai)
        sc = cont["shortcut"]
        lines += _table(
            ["", "mean P(AI)"],
            [
                ["real images saved as PNG", _num(sc["mean_p_ai_real_as_png"])],
                ["real images saved as JPEG q95", _num(sc["mean_p_ai_real_as_jpeg"])],
                ["AI images saved as PNG", _num(sc["mean_p_ai_ai_as_png"])],
                ["AI images saved as JPEG q95", _num(sc["mean_p_ai_ai_as_jpeg"])],
            ],
        )
        lines += [
            f"ROC AUC with real images as PNG and AI images as JPEG: {_num(sc['roc_auc_real_png_vs_ai_jpeg'], 4)}; "
            f"real as JPEG and AI as PNG: {_num(sc['roc_auc_real_jpeg_vs_ai_png'], 4)}; "
            f"original files: {_num(sc['roc_auc_original'], 4)}.",
            "",
            sc["how_to_read"],
            "",
        ]
        rows = [
            [cls, fmt, v["count"], _num(v["mean_p_ai"])]
            for cls, formats in sc["original_containers"].items()
            for fmt, v in formats.items()
        ]
        if rows:
            lines += ["Original files by container:", ""]
            lines += _table(["class", "format", "images", "mean P(AI)"], rows)

    worst = report["worst"]
    if worst["real_highest_p_ai"]:
        lines += ["## Real images scored most AI-like", "", "Look at these first: they are the false positives.", ""]
        lines += _table(
            ["P(AI)", "verdict", "source", "file"],
            [[_num(w["p_ai"]), w["verdict"], w["source"], f"`{w['path']}`"] for w in worst["real_highest_p_ai"]],
        )
    if worst["ai_lowest_p_ai"]:
        lines += ["## AI images scored most human-like", ""]
        lines += _table(
            ["P(AI)", "verdict", "source", "generator", "file"],
            [
                [_num(w["p_ai"]), w["verdict"], w["source"], w["generator"] or "", f"`{w['path']}`"]
                for w in worst["ai_lowest_p_ai"]
            ],
        )

    timing = report["timing"]
    lines += [
        "## Timing",
        "",
        f"{_num(timing['images_per_second'], 1)} images/s scoring the original images on {timing['device']} "
        f"({timing['torch_threads']} threads, batch {timing['batch_size']}); "
        f"{_num(timing['end_to_end_images_per_second'], 2)} images/s end to end with decoding and all "
        f"{timing['variants_per_image']} variants ({_num(timing['wall_seconds'], 1)} s in all).",
        "",
        "## Plots",
        "",
    ]
    lines += [f"![{name}]({name}.png) ([SVG]({name}.svg))" for name in PLOTS]
    lines += [
        "",
        f"_Report format {report['format']}, written {report['created_at']}; per-image scores in scores.csv._",
        "",
    ]
    return "\n".join(lines)


def _variant_table(head, variants, t_ai) -> list[str]:
    op = head["operating_points"]
    rows = [
        [
            "original files",
            _auc_text(head),
            _pct(op["likely_ai"]["fpr"], 2),
            _pct(op["likely_ai"]["tpr"]),
            _pct(op["0.5"]["fpr"], 2),
            _pct(op["0.5"]["tpr"]),
            "",
            "",
            "",
        ]
    ]
    for name, v in variants.items():
        vop, change = v["operating_points"], v["change_vs_original"]
        rows.append(
            [
                f"{name}: {v['description']}",
                _auc_text(v),
                _pct(vop["likely_ai"]["fpr"], 2),
                _pct(vop["likely_ai"]["tpr"]),
                _pct(vop["0.5"]["fpr"], 2),
                _pct(vop["0.5"]["tpr"]),
                _num(change["mean_abs_delta_p"], 4),
                change["real_newly_likely_ai"],
                change["ai_no_longer_likely_ai"],
            ]
        )
    return _table(
        [
            "variant",
            "ROC AUC",
            f"FPR at {t_ai:g}",
            f"TPR at {t_ai:g}",
            "FPR at 0.5",
            "TPR at 0.5",
            "mean abs change in P(AI)",
            "real newly flagged",
            "AI no longer flagged",
        ],
        rows,
    )
