"""The evaluation report's plots (ROC curve, reliability diagram, score histogram) as PNG and SVG.

matplotlib's object API with the Agg/SVG canvases (no pyplot, no display, no global backend
switch), so this works on a headless server. No Django.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

__all__ = ["PLOTS", "write_plots"]

PLOTS = ("roc_curve", "reliability_diagram", "score_histogram")
_CLASS_COLOURS = {"real": "#1b7837", "ai": "#b2182b"}


def write_plots(report: dict, folder) -> dict:
    """Draw the three plots as PNG and SVG; returns {"roc_curve.png": Path, ...}."""
    folder = Path(folder)
    written = {}
    drawers = {"roc_curve": _draw_roc, "reliability_diagram": _draw_reliability, "score_histogram": _draw_histogram}
    with matplotlib.rc_context({"svg.hashsalt": "aiornot-evaluation", "font.size": 9}):
        for name in PLOTS:
            figure = Figure(figsize=(9, 4.2) if name == "roc_curve" else (6.4, 4.8), dpi=110)
            drawers[name](figure, report)
            figure.tight_layout()
            for ext, metadata in (("png", {"Software": None}), ("svg", {"Date": None})):
                path = folder / f"{name}.{ext}"
                figure.savefig(path, format=ext, metadata=metadata)
                written[f"{name}.{ext}"] = path
    return written


def _subtitle(report) -> str:
    data = report["data"]
    return f"{report['model']['model_version']} - {data['per_class']['real']} real, {data['per_class']['ai']} AI"


def _no_data(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw_roc(figure, report):
    head = report["headline"]
    if head.get("roc_curve") is None:
        _draw_rates_by_threshold(figure, report)
        return
    axes = figure.subplots(1, 2)
    curves = [("original", head.get("roc_curve"), head.get("roc_auc"))]
    for section in ("robustness", "container_check"):
        for name, v in (report.get(section, {}).get("variants") or {}).items():
            if name != "png":  # identical pixels: it would hide the original's curve
                curves.append((name, v.get("roc_curve"), v.get("roc_auc")))
    for ax, limit in zip(axes, (1.0, 0.1)):
        for name, curve, auc in curves:
            if curve is None:
                continue
            style = {"linewidth": 2.0, "color": "black"} if name == "original" else {"linewidth": 1.0, "alpha": 0.8}
            # Straight segments: tied scores give a diagonal step, and the area then equals ROC AUC.
            ax.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC {auc:.3f})" if auc is not None else name, **style)
        for key, marker in (("likely_ai", "o"), ("0.5", "s")):
            point = head["operating_points"][key]
            if point["fpr"] is not None and point["tpr"] is not None:
                ax.plot([point["fpr"]], [point["tpr"]], marker, color="tab:red" if key == "likely_ai" else "tab:blue",
                        label=f"P(AI) >= {point['threshold']:g}" + (" (likely_ai)" if key == "likely_ai" else ""))
        ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=0.8)
        ax.set_xlim(0, limit)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("false-positive rate (real images called AI)")
        ax.set_ylabel("true-positive rate (AI images caught)")
        ax.grid(alpha=0.3)
    axes[0].set_title("ROC")
    axes[1].set_title("low false-positive region (FPR <= 10%)")
    axes[1].legend(loc="lower right", fontsize=7)
    figure.suptitle(f"ROC curve - {_subtitle(report)}")


def _draw_rates_by_threshold(figure, report):
    """One class only: no ROC curve, but the rate that is defined, threshold by threshold."""
    head = report["headline"]
    ax = figure.subplots()
    sweep = report["threshold_sweep"]
    reason = (head.get("undefined") or {}).get("roc_auc", "needs both classes")
    drawn = False
    for key, label, colour in (
        ("fpr", "real images called AI (false-positive rate)", _CLASS_COLOURS["real"]),
        ("tpr", "AI images caught (true-positive rate)", _CLASS_COLOURS["ai"]),
    ):
        rows = [r for r in sweep if r[key] is not None]
        if rows:
            ax.plot([r["threshold"] for r in rows], [r[key] for r in rows], "o-", color=colour, label=label)
            drawn = True
    if not drawn:
        _no_data(ax, f"ROC curve not defined:\n{reason}")
        return
    likely_ai = report["thresholds"]["likely_ai"]
    ax.axvline(likely_ai, linestyle="--", color="black", linewidth=1, label=f"likely_ai >= {likely_ai:g}")
    ax.set_xlim(0.25, 1.0)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("threshold on calibrated P(AI)")
    ax.set_ylabel("share of images at or above the threshold")
    ax.set_title(f"ROC curve not defined ({reason});\nrate by threshold instead - {_subtitle(report)}", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def _draw_reliability(figure, report):
    cal = report["calibration"]
    ax, counts_ax = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    bins = cal["bins"]
    width = bins[0]["upper"] - bins[0]["lower"] if bins else 0.1
    centres = [(b["lower"] + b["upper"]) / 2 for b in bins]
    filled = [(c, b) for c, b in zip(centres, bins) if b["count"]]
    ax.bar([c for c, _ in filled], [b["fraction_ai"] for _, b in filled], width=width * 0.9,
           color="tab:blue", alpha=0.5, edgecolor="tab:blue", label="share of AI images in bin")
    ax.plot([b["mean_p_ai"] for _, b in filled], [b["fraction_ai"] for _, b in filled], "o-", color="black",
            markersize=4, label="(mean P(AI), share AI)")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("share of AI images")
    ece = cal.get("ece")
    ax.set_title(f"Reliability diagram - ECE {ece:.3f}" if ece is not None else "Reliability diagram")
    ax.legend(loc="upper left", fontsize=7)
    ax.grid(alpha=0.3)
    counts_ax.bar(centres, [b["count"] for b in bins], width=width * 0.9, color="grey")
    counts_ax.set_xlabel("calibrated P(AI)")
    counts_ax.set_ylabel("images")
    figure.suptitle(_subtitle(report), fontsize=8, y=0.995)


def _draw_histogram(figure, report):
    hist = report["score_histogram"]
    thresholds = report["thresholds"]
    ax = figure.subplots()
    edges = hist["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    width = edges[1] - edges[0]
    for cls, offset in (("real", -0.2), ("ai", 0.2)):
        counts = hist[cls]
        if sum(counts):
            ax.bar([c + offset * width for c in centres], counts, width=width * 0.4, color=_CLASS_COLOURS[cls],
                   alpha=0.85, label=f"{cls} images ({sum(counts)})")
    for value, label, style in (
        (thresholds["likely_ai"], f"likely_ai >= {thresholds['likely_ai']:g}", "--"),
        (thresholds["likely_human"], f"likely_human <= {thresholds['likely_human']:g}", ":"),
    ):
        ax.axvline(value, linestyle=style, color="black", linewidth=1, label=label)
    ax.set_xlim(0, 1)
    ax.set_xlabel("calibrated P(AI)")
    ax.set_ylabel("images")
    ax.set_title(f"Score histogram per class - {_subtitle(report)}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
