"""The out-of-source report: figures as plain types, as JSON and as Markdown (out_of_source.py computes them)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def plain_figures(figures: dict) -> dict:
    """The figures with numpy numbers made plain and NaN made None, ready for JSON."""
    def plain(value):
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, (np.floating, float)):
            return None if math.isnan(float(value)) else float(value)
        if isinstance(value, np.integer):
            return int(value)
        return value

    return plain(figures)


def write_out_of_source_report(out_dir, figures, protocol, thresholds, threshold_info, *, command: str = "",
                               title: str = "Out-of-source evaluation (group k-fold by source)", extra: dict | None = None) -> dict:
    """out-of-source.json and out-of-source.md in out_dir; returns the figures as plain types."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = plain_figures(figures)
    payload = {"protocol": protocol, "thresholds": thresholds, "threshold_info": threshold_info, "figures": figures,
               **(extra or {})}
    (out_dir / "out-of-source.json").write_text(json.dumps(plain_figures(payload), indent=2))
    markdown = figures_markdown(figures, title, command=command)
    draws = (extra or {}).get("fold_draws_out_of_source")
    if draws:
        markdown += ("\n## Other draws of the source folds\n\nThe same recipe scored with other groups of sources held out"
                     " together (the first row is this run's own folds):\n\n"
                     "| folds drawn with seed | AUC | AUC after JPEG q75 + half size |\n|---|---|---|\n"
                     + "".join(f"| {r['seed']} | {r['auc']:.3f} | {r['auc_after_jpeg75_half']:.3f} |\n" for r in draws["draws"])
                     + f"\nAUC {draws['auc_min']:.3f} to {draws['auc_max']:.3f} (mean {draws['auc_mean']:.3f}).\n")
    markdown += "\n## Protocol\n\n" + "\n".join(
        f"- fold {k}: {', '.join(v)}" for k, v in protocol["sources_per_fold"].items()
    ) + "\n" + "".join(f"\n- note: {n}" for n in threshold_info["notes"]) + "\n"
    (out_dir / "out-of-source.md").write_text(markdown)
    return figures


def _pct(entry) -> str:
    if not entry or entry.get("of", 0) == 0:
        return "n/a"
    low, high = entry["interval"]
    return f"{100 * entry['rate']:.1f}% ({entry['count']}/{entry['of']}; 95% CI {100 * low:.1f}-{100 * high:.1f}%)"


def _num(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def figures_markdown(figures: dict, title: str, *, command: str = "") -> str:
    """The headline table, then per family, kind and source, as Markdown."""
    f = figures
    lines = [f"# {title}", ""]
    if command:
        lines += ["```bash", command, "```", ""]
    t = f["thresholds"]
    lines += [
        f"Thresholds: likely_ai at P(AI) >= {t['likely_ai']:.4f}, likely_human at P(AI) <= {t['likely_human']:.4f}.", "",
        "| | value |", "|---|---|",
        f"| ROC AUC, AI vs all real | **{_num(f['auc_ai_vs_all_real'])}** (vs photos {_num(f['auc_ai_vs_photos'])}, vs art {_num(f['auc_ai_vs_art'])}) |",
        f"| real photos called likely_ai | {_pct(f['photos_likely_ai'])} |",
        f"| human art called likely_ai | {_pct(f['art_likely_ai'])} |",
        f"| AI images caught at likely_ai | {_pct(f['ai_caught_likely_ai'])} |",
        f"| AI images called likely_human | {_pct(f['ai_likely_human'])} |",
    ]
    if "auc_after_jpeg75_half" in f:
        d = f["degraded"]
        lines += [
            f"| ROC AUC after JPEG q75 + half size | {_num(f['auc_after_jpeg75_half'])} |",
            f"| after JPEG q75 + half size: photos / art called likely_ai | {_pct(d['photos_likely_ai'])} / {_pct(d['art_likely_ai'])} |",
            f"| after JPEG q75 + half size: AI caught / AI called likely_human | {_pct(d['ai_caught_likely_ai'])} / {_pct(d['ai_likely_human'])} |",
        ]
    lines += ["", "## Per generator family (AUC against all real images)", "", "| family | images | AUC | caught at likely_ai | likely_human |", "|---|---|---|---|---|"]
    for family, v in f["per_family"].items():
        lines.append(f"| {family} | {v['images']} | {_num(v['auc_vs_all_real'])} | {100 * v['caught']:.1f}% | {100 * v['likely_human']:.1f}% |")
    lines += ["", "## Per kind of real image", "", "| kind | images | called likely_ai | mean P(AI) | AUC vs all AI |", "|---|---|---|---|---|"]
    for kind, v in f["per_kind"].items():
        lines.append(f"| {kind} | {v['images']} | {100 * v['likely_ai']:.1f}% | {v['mean_p_ai']:.3f} | {_num(v['auc_vs_all_ai'])} |")
    lines += ["", "## Per source", "", "| source | real | AI | mean P(AI) | likely_ai | likely_human |", "|---|---|---|---|---|---|"]
    for source, v in f["per_source"].items():
        lines.append(f"| {source} | {v['real']} | {v['ai']} | {v['mean_p_ai']:.3f} | {100 * v['likely_ai']:.1f}% | {100 * v['likely_human']:.1f}% |")
    return "\n".join(lines) + "\n"
